//! NAS-Bench-201 networks at initialisation on the CPU, written for the zero-cost proxies
//! (NASWOT, FLOPs, parameter counts): a forward pass over a batch in `f32`, with every
//! ReLU's input handed to a hook.
//!
//! The benchmark's macro skeleton for CIFAR (Dong and Yang, ICLR 2020):
//!
//! ```text
//! stem: conv 3x3 (3 -> C, no bias) + BN
//! stage 1: N cells at C          (32 x 32)
//! reduction: residual block C -> 2C, stride 2
//! stage 2: N cells at 2C         (16 x 16)
//! reduction: residual block 2C -> 4C, stride 2
//! stage 3: N cells at 4C         (8 x 8)
//! head: BN + ReLU, global average pooling, linear 4C -> classes
//! ```
//!
//! with `C = 16`, `N = 5`. A cell has nodes 0..3; node `j = sum_{i < j} op_ij(node i)` and
//! node 3 is the output. Cell operations ([`CellOp`]): `none` (zero), `skip_connect`
//! (identity), `nor_conv_1x1` / `nor_conv_3x3` (ReLU, convolution without bias, BN),
//! `avg_pool_3x3` (stride 1, padding 1, averaging over the window's entries inside the
//! image). The residual block is `ReLU-Conv3x3(stride 2)-BN, ReLU-Conv3x3-BN` plus a
//! shortcut `AvgPool2x2(stride 2), Conv1x1`. Batch norm is in training mode (the batch's
//! own mean and biased variance, `eps = 1e-5`), as the zero-cost proxies use it.
//!
//! Initialisation is PyTorch's default, which the benchmark's networks keep: every
//! convolution weight `U(-1/sqrt(fan_in), 1/sqrt(fan_in))` with `fan_in = C_in k^2`, the
//! linear head's weight and bias `U(-1/sqrt(4C), 1/sqrt(4C))`, BN scale 1 and shift 0.
//! Weights are drawn from one seeded ChaCha8 stream in construction order, so a seed gives
//! the same network on every machine (and the same weights as the candle reference
//! network of `nas::net`, feature `nas-cnn`, which the tests compare against).
//!
//! Why hand-written rather than a tensor library: the proxies need only the forward pass
//! at initialisation, and on 2 cores candle's CPU convolution (NCHW, tiled im2col with
//! scalar gathers) scores the all-3x3 cell in about 6 s; here activations are kept
//! channels-last with a zero border ([`Maps`]), so a 3x3 convolution is three matrix
//! products over overlapping row views of the input (no im2col copy), done by faer's
//! `f32` kernels, and the same cell takes a fraction of a second (`benches/nas_cnn.rs`).
//!
//! * [`maps`] — feature maps (batch, height, width, channels) with a zero border.
//! * [`conv`] — convolutions 1x1 and 3x3 (stride 1 and 2) and their weights.
//! * [`norm`] — training-mode batch norm.
//! * [`pool`] — 3x3 average pooling (stride 1) and 2x2 (stride 2).
//! * [`network`] — the skeleton, its forward pass, parameters and FLOPs.
//! * [`grad`] — the backward pass and the empirical NTK (TE-NAS).
//!
//! ```
//! use archconv::dag::format::Nb201Arch;
//! use archconv::nas::cnn::{Nb201Network, NetConfig};
//! let cell = Nb201Arch::from_ops(["nor_conv_3x3"; 6]);
//! let net = Nb201Network::new(&cell, &NetConfig::cifar10(), 0)?;
//! assert_eq!(net.num_params(), 1_531_546); // the benchmark's largest CIFAR-10 network
//! # Ok::<(), archconv::nas::cnn::CnnError>(())
//! ```

pub mod conv;
pub mod grad;
pub mod maps;
pub mod network;
pub mod norm;
pub mod pool;

pub use maps::Maps;
pub use network::Nb201Network;

use crate::dag::format::{Nb201Arch, ParseError};

/// What can go wrong building or running a network.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CnnError {
    /// The cell string does not parse.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A cell that is not the benchmark's 4-node, 6-edge cell.
    #[error("cell {cell} is not a NAS-Bench-201 cell: it needs nodes 1, 2, 3 with 1, 2, 3 inputs")]
    NotNb201 {
        /// The cell string.
        cell: String,
    },
    /// An operation name outside the benchmark's five.
    #[error("cell operation '{op}' is not one of none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3")]
    UnknownOp {
        /// The name.
        op: String,
    },
    /// Images of the wrong shape.
    #[error("input batch has shape {shape:?}; the network takes (batch >= 1, {channels}, H, W) with H and W positive multiples of 4")]
    BadInput {
        /// The shape given (batch, channels, height, width) or (rows, columns) of a dataset.
        shape: Vec<usize>,
        /// Input channels the network takes.
        channels: usize,
    },
    /// A skeleton size of zero.
    #[error("network configuration {what} must be at least 1")]
    BadConfig {
        /// Which size.
        what: &'static str,
    },
    /// The activations would not fit in memory.
    #[error(transparent)]
    Budget(#[from] crate::budget::BudgetError),
    /// The eigensolver behind a log-determinant did not converge.
    #[error("the eigensolver did not converge on the {n} x {n} NASWOT kernel")]
    NoConvergence {
        /// Order of the matrix.
        n: usize,
    },
}

/// The benchmark's five cell operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CellOp {
    /// `none`: the edge carries zeros.
    None,
    /// `skip_connect`: identity.
    Skip,
    /// `nor_conv_1x1`: ReLU, 1x1 convolution, BN.
    Conv1x1,
    /// `nor_conv_3x3`: ReLU, 3x3 convolution (padding 1), BN.
    Conv3x3,
    /// `avg_pool_3x3`: 3x3 average pooling, stride 1, padding 1, padding not counted.
    AvgPool3x3,
}

impl CellOp {
    /// The operation named `name` in the benchmark's arch strings.
    pub fn from_name(name: &str) -> Option<CellOp> {
        Some(match name {
            "none" => CellOp::None,
            "skip_connect" => CellOp::Skip,
            "nor_conv_1x1" => CellOp::Conv1x1,
            "nor_conv_3x3" => CellOp::Conv3x3,
            "avg_pool_3x3" => CellOp::AvgPool3x3,
            _ => return None,
        })
    }
}

/// Sizes of the skeleton.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetConfig {
    /// Channels of the first stage `C` (16).
    pub channels: usize,
    /// Cells per stage `N` (5).
    pub cells_per_stage: usize,
    /// Output classes (10 for CIFAR-10, 100 for CIFAR-100, 120 for ImageNet16-120).
    pub classes: usize,
}

impl NetConfig {
    /// The benchmark's CIFAR-10 network: `C = 16`, `N = 5`, 10 classes.
    pub fn cifar10() -> NetConfig {
        NetConfig {
            channels: 16,
            cells_per_stage: 5,
            classes: 10,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), CnnError> {
        for (v, what) in [
            (self.channels, "channels"),
            (self.cells_per_stage, "cells_per_stage"),
            (self.classes, "classes"),
        ] {
            if v == 0 {
                return Err(CnnError::BadConfig { what });
            }
        }
        Ok(())
    }
}

/// The six `(from, to, op)` edges of a benchmark cell, in the arch string's order
/// (`0->1, 0->2, 1->2, 0->3, 1->3, 2->3`).
///
/// ```
/// use archconv::dag::format::Nb201Arch;
/// use archconv::nas::cnn::{cell_ops, CellOp, CnnError};
/// let ops = cell_ops(&Nb201Arch::from_ops(["skip_connect"; 6]))?;
/// assert_eq!(ops[2], (1, 2, CellOp::Skip));
/// let two = Nb201Arch::parse("|nor_conv_3x3~0|+|skip_connect~0|none~1|")?;
/// assert!(matches!(cell_ops(&two), Err(CnnError::NotNb201 { .. })));
/// # Ok::<(), CnnError>(())
/// ```
pub fn cell_ops(cell: &Nb201Arch) -> Result<Vec<(usize, usize, CellOp)>, CnnError> {
    let not_nb201 = || CnnError::NotNb201 {
        cell: cell.to_string(),
    };
    let nodes = cell.nodes();
    // Node t (1..=3) reads sources 0..t, each once, in order.
    if nodes.len() != 3
        || nodes
            .iter()
            .enumerate()
            .any(|(i, g)| !g.iter().map(|(_, s)| *s).eq(0..=i))
    {
        return Err(not_nb201());
    }
    let mut ops = Vec::with_capacity(6);
    for (i, group) in nodes.iter().enumerate() {
        for (name, from) in group {
            let op =
                CellOp::from_name(name).ok_or_else(|| CnnError::UnknownOp { op: name.clone() })?;
            ops.push((*from, i + 1, op));
        }
    }
    Ok(ops)
}
