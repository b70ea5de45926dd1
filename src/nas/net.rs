//! NAS-Bench-201 networks at initialisation (feature `nas-cnn`), on candle's CPU tensors.
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
//! node 3 is the output. Cell operations: `none` (zero), `skip_connect` (identity),
//! `nor_conv_1x1` / `nor_conv_3x3` (ReLU, convolution without bias, BN), `avg_pool_3x3`
//! (stride 1, padding 1, averaging over the window's entries inside the image). The
//! residual block is `ReLU-Conv3x3(stride 2)-BN, ReLU-Conv3x3-BN` plus a shortcut
//! `AvgPool2x2(stride 2), Conv1x1`. Batch norm is in training mode (the batch's own mean
//! and biased variance, `eps = 1e-5`), as the zero-cost proxies use it.
//!
//! Initialisation is PyTorch's default, which the benchmark's networks keep: every
//! convolution weight `U(-1/sqrt(fan_in), 1/sqrt(fan_in))` with `fan_in = C_in k^2`, the
//! linear head's weight and bias `U(-1/sqrt(4C), 1/sqrt(4C))`, BN scale 1 and shift 0.
//! Weights are drawn from one seeded ChaCha8 stream in construction order, so a seed gives
//! the same network on every machine.
//!
//! ```
//! use archconv::dag::format::Nb201Arch;
//! use archconv::nas::net::{Nb201Net, NetConfig};
//! let cell = Nb201Arch::parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|").unwrap();
//! let net = Nb201Net::new(&cell, &NetConfig::cifar10(), 0).unwrap();
//! assert_eq!(net.num_params(), 1_531_546); // the benchmark's largest CIFAR-10 network
//! ```

use crate::dag::format::{Nb201Arch, ParseError};
use candle_core::{DType, Device, Tensor, D};
use rand::{Rng, SeedableRng};

/// What can go wrong building or running a network.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
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
    #[error("input batch has shape {shape:?}; the network takes (batch, 3, 32, 32)")]
    BadInput {
        /// The shape given.
        shape: Vec<usize>,
    },
    /// The eigensolver behind a log-determinant did not converge.
    #[error("the eigensolver did not converge on the {n} x {n} NASWOT kernel")]
    NoConvergence {
        /// Order of the matrix.
        n: usize,
    },
    /// A tensor operation failed.
    #[error("tensor operation failed in {during}: {source}")]
    Tensor {
        /// Where.
        during: &'static str,
        /// candle's error.
        source: candle_core::Error,
    },
}

fn terr(during: &'static str) -> impl Fn(candle_core::Error) -> NetError {
    move |source| NetError::Tensor { during, source }
}

type R<T> = Result<T, NetError>;

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
    /// Output classes (10 for CIFAR-10, 100 for CIFAR-100).
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
}

/// A convolution (no bias) followed by training-mode BN.
#[derive(Debug)]
struct ConvBn {
    w: Tensor,
    gamma: Tensor,
    beta: Tensor,
    stride: usize,
    pad: usize,
}

/// PyTorch's default (kaiming-uniform with `a = sqrt 5`) bound `1 / sqrt(fan_in)`.
fn uniform(rng: &mut rand_chacha::ChaCha8Rng, shape: &[usize], fan_in: usize) -> R<Tensor> {
    let b = 1.0 / (fan_in as f64).sqrt();
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.random_range(-b..b) as f32).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).map_err(terr("initialising weights"))
}

impl ConvBn {
    fn new(
        rng: &mut rand_chacha::ChaCha8Rng,
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        pad: usize,
    ) -> R<ConvBn> {
        Ok(ConvBn {
            w: uniform(rng, &[cout, cin, k, k], cin * k * k)?,
            gamma: Tensor::ones(cout, DType::F32, &Device::Cpu).map_err(terr("BN"))?,
            beta: Tensor::zeros(cout, DType::F32, &Device::Cpu).map_err(terr("BN"))?,
            stride,
            pad,
        })
    }

    fn params(&self) -> usize {
        self.w.elem_count() + self.gamma.elem_count() + self.beta.elem_count()
    }

    fn forward(&self, x: &Tensor) -> R<Tensor> {
        let y = x
            .conv2d(&self.w, self.pad, self.stride, 1, 1)
            .map_err(terr("convolution"))?;
        batch_norm(&y, &self.gamma, &self.beta)
    }
}

/// Training-mode batch norm over (batch, height, width) per channel, `eps = 1e-5`.
fn batch_norm(x: &Tensor, gamma: &Tensor, beta: &Tensor) -> R<Tensor> {
    let e = terr("batch norm");
    let mean = x.mean_keepdim((0, 2, 3)).map_err(&e)?;
    let centred = x.broadcast_sub(&mean).map_err(&e)?;
    let var = centred
        .sqr()
        .map_err(&e)?
        .mean_keepdim((0, 2, 3))
        .map_err(&e)?;
    let inv = (var + 1e-5)
        .map_err(&e)?
        .sqrt()
        .map_err(&e)?
        .recip()
        .map_err(&e)?;
    let c = gamma.elem_count();
    let g = gamma.reshape((1, c, 1, 1)).map_err(&e)?;
    let b = beta.reshape((1, c, 1, 1)).map_err(&e)?;
    centred
        .broadcast_mul(&inv)
        .and_then(|t| t.broadcast_mul(&g))
        .and_then(|t| t.broadcast_add(&b))
        .map_err(e)
}

/// A hook called with every ReLU's input (batch first), in forward order.
pub type ReluHook<'a> = &'a mut dyn FnMut(&Tensor) -> R<()>;

fn relu(x: &Tensor, hook: &mut dyn FnMut(&Tensor) -> R<()>) -> R<Tensor> {
    hook(x)?;
    x.relu().map_err(terr("ReLU"))
}

/// 3x3 average pooling, stride 1, padding 1, dividing by the entries inside the image
/// (PyTorch's `count_include_pad=False`).
fn avg_pool3(x: &Tensor) -> R<Tensor> {
    let e = terr("average pooling");
    let (_, _, h, w) = x.dims4().map_err(&e)?;
    let padded = x
        .pad_with_zeros(D::Minus1, 1, 1)
        .and_then(|t| t.pad_with_zeros(D::Minus2, 1, 1))
        .map_err(&e)?;
    let sums = padded
        .avg_pool2d_with_stride((3, 3), (1, 1))
        .and_then(|t| t.affine(9.0, 0.0))
        .map_err(&e)?;
    // Entries of each window inside the image: (rows in) x (columns in).
    let count = |i: usize, n: usize| (3 - usize::from(i == 0) - usize::from(i + 1 == n)) as f32;
    let counts: Vec<f32> = (0..h)
        .flat_map(|i| (0..w).map(move |j| 1.0 / (count(i, h) * count(j, w))))
        .collect();
    let inv = Tensor::from_vec(counts, (1, 1, h, w), &Device::Cpu).map_err(&e)?;
    sums.broadcast_mul(&inv).map_err(e)
}

/// One cell edge, with its parameters.
#[derive(Debug)]
enum Edge {
    None,
    Skip,
    Conv(ConvBn),
    Pool,
}

impl Edge {
    fn forward(&self, x: &Tensor, hook: &mut dyn FnMut(&Tensor) -> R<()>) -> R<Option<Tensor>> {
        Ok(match self {
            Edge::None => None,
            Edge::Skip => Some(x.clone()),
            Edge::Conv(c) => Some(c.forward(&relu(x, hook)?)?),
            Edge::Pool => Some(avg_pool3(x)?),
        })
    }

    fn params(&self) -> usize {
        match self {
            Edge::Conv(c) => c.params(),
            Edge::None | Edge::Skip | Edge::Pool => 0,
        }
    }
}

/// The six edges `0->1, 0->2, 1->2, 0->3, 1->3, 2->3` of a cell at `c` channels.
#[derive(Debug)]
struct Cell {
    edges: Vec<(usize, usize, Edge)>,
}

impl Cell {
    fn new(rng: &mut rand_chacha::ChaCha8Rng, ops: &[(usize, usize, CellOp)], c: usize) -> R<Cell> {
        let mut edges = Vec::with_capacity(ops.len());
        for &(from, to, op) in ops {
            let e = match op {
                CellOp::None => Edge::None,
                CellOp::Skip => Edge::Skip,
                CellOp::Conv1x1 => Edge::Conv(ConvBn::new(rng, c, c, 1, 1, 0)?),
                CellOp::Conv3x3 => Edge::Conv(ConvBn::new(rng, c, c, 3, 1, 1)?),
                CellOp::AvgPool3x3 => Edge::Pool,
            };
            edges.push((from, to, e));
        }
        Ok(Cell { edges })
    }

    fn forward(&self, x: &Tensor, hook: &mut dyn FnMut(&Tensor) -> R<()>) -> R<Tensor> {
        let mut nodes: Vec<Tensor> = vec![x.clone()];
        for t in 1..=3 {
            let mut acc: Option<Tensor> = None;
            for (from, to, e) in &self.edges {
                if *to != t {
                    continue;
                }
                if let Some(y) = e.forward(&nodes[*from], hook)? {
                    acc = Some(match acc {
                        None => y,
                        Some(a) => (a + y).map_err(terr("adding a cell edge"))?,
                    });
                }
            }
            // A node with only `none` inputs carries zeros.
            let node = match acc {
                Some(a) => a,
                None => x.zeros_like().map_err(terr("a zero node"))?,
            };
            nodes.push(node);
        }
        Ok(nodes.pop().expect("node 3"))
    }

    fn params(&self) -> usize {
        self.edges.iter().map(|(_, _, e)| e.params()).sum()
    }
}

/// The residual reduction block `cin -> cout`, stride 2.
#[derive(Debug)]
struct Reduction {
    a: ConvBn,
    b: ConvBn,
    shortcut: Tensor,
}

impl Reduction {
    fn new(rng: &mut rand_chacha::ChaCha8Rng, cin: usize, cout: usize) -> R<Reduction> {
        Ok(Reduction {
            a: ConvBn::new(rng, cin, cout, 3, 2, 1)?,
            b: ConvBn::new(rng, cout, cout, 3, 1, 1)?,
            shortcut: uniform(rng, &[cout, cin, 1, 1], cin)?,
        })
    }

    fn forward(&self, x: &Tensor, hook: &mut dyn FnMut(&Tensor) -> R<()>) -> R<Tensor> {
        let y = self.a.forward(&relu(x, hook)?)?;
        let y = self.b.forward(&relu(&y, hook)?)?;
        let s = x
            .avg_pool2d_with_stride((2, 2), (2, 2))
            .and_then(|t| t.conv2d(&self.shortcut, 0, 1, 1, 1))
            .map_err(terr("reduction shortcut"))?;
        (y + s).map_err(terr("reduction sum"))
    }

    fn params(&self) -> usize {
        self.a.params() + self.b.params() + self.shortcut.elem_count()
    }
}

/// A NAS-Bench-201 network at initialisation.
#[derive(Debug)]
pub struct Nb201Net {
    cell: String,
    stem: ConvBn,
    stages: Vec<(Option<Reduction>, Vec<Cell>)>,
    head_gamma: Tensor,
    head_beta: Tensor,
    head_w: Tensor,
    head_b: Tensor,
}

/// The six `(from, to, op)` edges of a benchmark cell.
pub fn cell_ops(cell: &Nb201Arch) -> Result<Vec<(usize, usize, CellOp)>, NetError> {
    let not_nb201 = || NetError::NotNb201 {
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
                CellOp::from_name(name).ok_or_else(|| NetError::UnknownOp { op: name.clone() })?;
            ops.push((*from, i + 1, op));
        }
    }
    Ok(ops)
}

impl Nb201Net {
    /// Builds the network of `cell` with weights from `seed` (see the module docs).
    pub fn new(cell: &Nb201Arch, cfg: &NetConfig, seed: u64) -> Result<Nb201Net, NetError> {
        let ops = cell_ops(cell)?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let c = cfg.channels;
        let stem = ConvBn::new(&mut rng, 3, c, 3, 1, 1)?;
        let mut stages = Vec::new();
        for (s, width) in [c, 2 * c, 4 * c].into_iter().enumerate() {
            let red = if s == 0 {
                None
            } else {
                Some(Reduction::new(&mut rng, width / 2, width)?)
            };
            let cells = (0..cfg.cells_per_stage)
                .map(|_| Cell::new(&mut rng, &ops, width))
                .collect::<R<Vec<_>>>()?;
            stages.push((red, cells));
        }
        let last = 4 * c;
        let dev = &Device::Cpu;
        Ok(Nb201Net {
            cell: cell.to_string(),
            stem,
            stages,
            head_gamma: Tensor::ones(last, DType::F32, dev).map_err(terr("BN"))?,
            head_beta: Tensor::zeros(last, DType::F32, dev).map_err(terr("BN"))?,
            head_w: uniform(&mut rng, &[cfg.classes, last], last)?,
            head_b: uniform(&mut rng, &[cfg.classes], last)?,
        })
    }

    /// The cell's arch string.
    pub fn cell(&self) -> &str {
        &self.cell
    }

    /// Trainable parameters (convolution and linear weights, biases, BN scales and shifts;
    /// not BN's running statistics), as the benchmark counts them.
    pub fn num_params(&self) -> usize {
        let stages: usize = self
            .stages
            .iter()
            .map(|(r, cells)| {
                r.as_ref().map_or(0, Reduction::params)
                    + cells.iter().map(Cell::params).sum::<usize>()
            })
            .sum();
        self.stem.params()
            + stages
            + self.head_gamma.elem_count()
            + self.head_beta.elem_count()
            + self.head_w.elem_count()
            + self.head_b.elem_count()
    }

    /// Logits (`batch x classes`) of images `x` (`batch x 3 x 32 x 32`, `f32`), calling
    /// `hook` with the input of every ReLU in forward order (each cell convolution's, each
    /// reduction block's two, and the head's).
    pub fn forward(&self, x: &Tensor, hook: ReluHook<'_>) -> Result<Tensor, NetError> {
        let dims = x.dims().to_vec();
        if dims.len() != 4 || dims[1] != 3 || dims[2] != 32 || dims[3] != 32 || dims[0] == 0 {
            return Err(NetError::BadInput { shape: dims });
        }
        let mut h = self.stem.forward(x)?;
        for (red, cells) in &self.stages {
            if let Some(r) = red {
                h = r.forward(&h, hook)?;
            }
            for c in cells {
                h = c.forward(&h, hook)?;
            }
        }
        let h = batch_norm(&h, &self.head_gamma, &self.head_beta)?;
        let h = relu(&h, hook)?;
        let pooled = h.mean((2, 3)).map_err(terr("global pooling"))?;
        pooled
            .matmul(&self.head_w.t().map_err(terr("head"))?)
            .and_then(|t| t.broadcast_add(&self.head_b))
            .map_err(terr("head"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t4(v: Vec<f32>, shape: (usize, usize, usize, usize)) -> Tensor {
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    #[test]
    fn avg_pool_divides_by_the_entries_inside_the_image() {
        let (b, c, h, w) = (2, 3, 5, 4);
        let v: Vec<f32> = (0..b * c * h * w)
            .map(|i| ((i * 37) % 11) as f32 - 5.0)
            .collect();
        let got: Vec<f32> = avg_pool3(&t4(v.clone(), (b, c, h, w)))
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        for p in 0..b * c {
            for i in 0..h {
                for j in 0..w {
                    let (mut s, mut k) = (0.0f32, 0);
                    for di in -1i64..=1 {
                        for dj in -1i64..=1 {
                            let (r, q) = (i as i64 + di, j as i64 + dj);
                            if r >= 0 && q >= 0 && (r as usize) < h && (q as usize) < w {
                                s += v[p * h * w + r as usize * w + q as usize];
                                k += 1;
                            }
                        }
                    }
                    let want = s / k as f32;
                    let g = got[p * h * w + i * w + j];
                    // Sums of at most 9 small integers and one division: a few ulps.
                    assert!(
                        (g - want).abs() <= 4.0 * f32::EPSILON * want.abs().max(1.0),
                        "({p}, {i}, {j}): {g} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn batch_norm_gives_each_channel_zero_mean_and_unit_variance() {
        let (b, c, h, w) = (4, 3, 2, 2);
        let v: Vec<f32> = (0..b * c * h * w)
            .map(|i| (i as f32 * 0.7).sin() * (1.0 + (i % 3) as f32))
            .collect();
        let x = t4(v, (b, c, h, w));
        let g = Tensor::ones(c, DType::F32, &Device::Cpu).unwrap();
        let z = Tensor::zeros(c, DType::F32, &Device::Cpu).unwrap();
        let y = batch_norm(&x, &g, &z).unwrap();
        let mean: Vec<f32> = y.mean((0, 2, 3)).unwrap().to_vec1().unwrap();
        let var: Vec<f32> = y.sqr().unwrap().mean((0, 2, 3)).unwrap().to_vec1().unwrap();
        for ch in 0..c {
            // 16 entries per channel in f32; eps = 1e-5 shrinks the variance by var / (var + eps).
            assert!(mean[ch].abs() < 1e-5, "channel {ch} mean {}", mean[ch]);
            assert!(
                (var[ch] - 1.0).abs() < 1e-3,
                "channel {ch} variance {}",
                var[ch]
            );
        }
    }

    #[test]
    fn cells_outside_the_space_are_typed_errors() {
        let two = Nb201Arch::parse("|nor_conv_3x3~0|+|skip_connect~0|none~1|").unwrap();
        assert!(matches!(cell_ops(&two), Err(NetError::NotNb201 { .. })));
        let x = Tensor::zeros((1, 3, 16, 16), DType::F32, &Device::Cpu).unwrap();
        let cell = Nb201Arch::from_ops(["skip_connect"; 6]);
        let net = Nb201Net::new(
            &cell,
            &NetConfig {
                channels: 4,
                cells_per_stage: 1,
                classes: 3,
            },
            1,
        )
        .unwrap();
        assert!(matches!(
            net.forward(&x, &mut |_| Ok(())),
            Err(NetError::BadInput { .. })
        ));
    }
}
