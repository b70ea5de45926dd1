//! Finite-width Monte Carlo of DAG networks (PAPER.md sections 1, 2, 6, 7): sample
//! networks of width `m` with Kaiming-normal weights, measure every node's empirical
//! Gram `(1/m) X^T X` and mean `(1/m) sum_k X_k`, and compare them with the closed-form
//! kernels of [`crate::kernel`] node by node.
//!
//! # The networks
//!
//! The same networks as the closed forms: a linear edge maps the source features
//! `X^s` (`m x N`, one column per input) to `sqrt(2) relu(W X^s / sqrt(m))` with its own
//! `W` (`m x m`, iid N(0, 1)); a skip edge is the identity; a node sums its incoming edges.
//! The data `x` (`N x d`, rows scaled to `||x_i||^2 = d` as in
//! [`crate::kernel::Inputs::from_data`]) is lifted by `W0` (`m x d`, iid N(0, 1)):
//! [`Lift::Dense`] gives `X^0 = W0 x^T / sqrt(d)` (so `(1/m) X^{0T} X^0 -> K^0 = x x^T / d`),
//! [`Lift::ReluStem`] gives `X^0 = sqrt(2) relu(W0 x^T / sqrt(d))`. Every input node
//! receives the same lifted features.
//!
//! Those are the paper's defaults. Any edge may carry its own
//! [`EdgeParams`](crate::model::EdgeParams) and the lift its own
//! [`LiftParams`] (PAPER.md section 9): edge `e = (s -> t)` then adds
//! `phi(z)`, `z = sqrt(sw2 / m) W X^s + sqrt(sb2) b 1^T` with `b` (`m`, iid N(0, 1)) one
//! bias per unit, shared by the `N` inputs and drawn per edge; the dense lift is
//! `sqrt(sw2 / d) W0 x^T + sqrt(sb2) b0 1^T` and a stem `phi` of that
//! ([`McInputs::from_data_with`]). The paper's edge keeps its own pass
//! (`sqrt(2) max(z, 0)`, vectorised) and its random streams, so its numbers are
//! bit-identical to those of the ReLU-only sampler; other edges evaluate
//! [`Activation::phi`](crate::activation::Activation::phi) per entry.
//!
//! # Two samplers ([`Sampler`])
//!
//! * [`Sampler::Explicit`]: forms every `m x m` weight matrix and multiplies
//!   (`O(m^2 N)` per edge; GEMMs in `f32` by default, see [`Precision`]).
//! * [`Sampler::Conditional`]: given `X^s`, the rows of `W X^s / sqrt(m)` are iid
//!   `N(0, G)`, `G = (1/m) X^{sT} X^s`, so it draws them as `E F^T` with `F F^T = G`
//!   (Cholesky, or a rank-`r` pivoted Cholesky root when `G` is singular; `O(m N r)` per
//!   edge, no `m x m` matrix). Exact in distribution (section 6).
//!
//! Both build each node in one pass over fixed row chunks (sample, ReLU, sum incoming
//! edges, accumulate the Gram while the block is in cache) in [`Precision::F32`] by
//! default.
//!
//! # Reproducibility
//!
//! Seed `s` of a run with base seed `b` samples network `b + s`. Each block of random
//! numbers has its own stream keyed by (network, sampler, edge, block) (xoshiro256++
//! seeded through ChaCha8, see the `rng` module), blocks have fixed sizes and partial sums
//! are combined in a fixed order, so the same seed gives bit-identical numbers for any
//! number of threads. Networks are sampled in parallel
//! (rayon), as many at once as the memory cap allows.
//!
//! # Statistics
//!
//! [`run`] returns per-entry means and standard errors of every node's Gram and mean,
//! `lambda_min` of the output Gram per network with a Student-t interval, and the
//! relative Frobenius distance `||K_MC - K||_F / ||K||_F` to the path-sum,
//! independent-branch and exact kernels (of the mean Gram and per network).
//! [`width_sweep`] repeats this over widths and fits the slope of `ln(error)` against
//! `ln(m)`: about `-1/2` for the kernel the networks converge to (the exact one), about
//! `0` for the others.
//!
//! ```
//! use archconv::{Dag, KernelKind, Lift};
//! use archconv::montecarlo::{run, McInputs, McParams, Sampler};
//! let x = archconv::Inputs::gaussian(6, 8, 3);
//! let inp = McInputs::from_data(x.view(), Lift::Dense)?;
//! let params = McParams { width: 512, seeds: 4, sampler: Sampler::Conditional, ..McParams::default() };
//! let res = run(&Dag::dag2(), &inp, &params, &|| {})?;
//! let exact = res.comparison(KernelKind::Exact).unwrap();
//! let pathsum = res.comparison(KernelKind::PathSum).unwrap();
//! // The finite networks are close to the exact kernel, far from the paper's path sum.
//! assert!(exact.rel_frobenius_of_mean < 0.1 && pathsum.rel_frobenius_of_mean > 0.3);
//! # Ok::<(), archconv::montecarlo::McError>(())
//! ```

mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
mod features;
pub mod memory;
pub mod paper;
mod rng;
mod stats;
mod sweep;

pub use stats::{fit_loglog, rel_frobenius, ScalarStats, SlopeFit};
pub use sweep::{width_sweep, Sweep, SweepParams, SweepPoint};

use crate::dag::Dag;
use crate::kernel::{Inputs, Kernel, KernelError, KernelKind, Lift, NodeState};
use crate::model::LiftParams;
use crate::paths::DepthHistograms;
use crate::plan::Plan;
use ndarray::{Array1, Array2, ArrayView2, Axis};
use rayon::prelude::*;
use serde::Serialize;
use stats::Welford2;
use std::fmt;
use std::sync::OnceLock;

/// How a linear edge is sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Sampler {
    /// Materialise the `m x m` weights and multiply: `O(m^2 N)` per edge.
    Explicit,
    /// Draw pre-activations from their conditional Gaussian law: `O(m N r)` per edge (`r <= N` the rank of the source Gram).
    #[default]
    Conditional,
}

impl fmt::Display for Sampler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Sampler::Explicit => "explicit",
            Sampler::Conditional => "conditional",
        })
    }
}

/// Where networks are sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// Rayon threads on the CPU.
    #[default]
    Cpu,
    /// An NVIDIA GPU through CUDA (feature `cuda`; errors without a usable GPU).
    Cuda,
}

impl Precision {
    /// Bytes of one element: 4 (`f32`) or 8 (`f64`).
    ///
    /// ```
    /// use archconv::montecarlo::Precision;
    /// assert_eq!((Precision::F32.bytes(), Precision::F64.bytes()), (4, 8));
    /// ```
    pub fn bytes(self) -> u64 {
        match self {
            Precision::F32 => 4,
            Precision::F64 => 8,
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Cpu => "cpu",
            Backend::Cuda => "cuda",
        })
    }
}

/// Floating-point precision of the sampled features and the large products.
///
/// `f32` halves memory traffic and about doubles GEMM throughput, and its rounding
/// (relative `6e-8` per product, `~1e-5` at most after the `<= 2^15` accumulations of a
/// Gram chunk) is far below the Monte Carlo noise `~m^{-1/2}`; the Grams and means
/// returned are always summed across chunks and kept in `f64`. Both CPU samplers and
/// the CUDA backend run in this precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Precision {
    /// Single precision (default).
    #[default]
    F32,
    /// Double precision.
    F64,
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Precision::F32 => "f32",
            Precision::F64 => "f64",
        })
    }
}

/// What can go wrong in a Monte Carlo run. Checked before anything large is allocated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum McError {
    /// Width `m = 0`.
    #[error("network width must be at least 1, got 0")]
    ZeroWidth,
    /// No seeds requested.
    #[error("number of seeds must be at least 1, got 0")]
    ZeroSeeds,
    /// A confidence level outside `(0, 1)`.
    #[error("confidence level must lie strictly between 0 and 1, got {level}")]
    BadLevel {
        /// The level given.
        level: f64,
    },
    /// A width sweep needs at least two distinct widths to fit a slope.
    #[error("a width sweep needs at least 2 distinct positive widths, got {widths:?}")]
    BadSweep {
        /// The widths given.
        widths: Vec<usize>,
    },
    /// The closed-form inputs for this many points would not fit in memory.
    #[error("{points} points need about {} for their N x N Grams but the cap is {}", fmt_bytes(*needed), fmt_bytes(Some(*limit)))]
    TooManyPoints {
        /// Points `N`.
        points: usize,
        /// Estimated bytes (`None`: beyond `u64`).
        needed: Option<u64>,
        /// The cap in bytes.
        limit: u64,
    },
    /// The estimated memory exceeds the cap.
    #[error("width {width} with {points} points needs about {} but the cap is {} (set a larger memory limit, or lower the width or N)", fmt_bytes(*needed), fmt_bytes(Some(*limit)))]
    TooLarge {
        /// Estimated bytes (`None`: beyond `u64`).
        needed: Option<u64>,
        /// The cap in bytes.
        limit: u64,
        /// Width `m`.
        width: usize,
        /// Points `N`.
        points: usize,
    },
    /// The input data or closed-form kernels failed.
    #[error(transparent)]
    Kernel(#[from] KernelError),
    /// The output node has no path from an input: every network outputs zero.
    #[error("the DAG has no path from an input to node {node}; its features are identically zero")]
    NoPath {
        /// The output node.
        node: usize,
    },
    /// The square root of a node's empirical Gram could not be computed.
    #[error("cannot factor the empirical Gram of node {node} (network seed {seed})")]
    Factorization {
        /// Node.
        node: usize,
        /// Network seed.
        seed: u64,
    },
    /// A NaN or infinity appeared in a node's Gram or mean.
    #[error("non-finite Gram or mean at node {node} (network seed {seed})")]
    NonFinite {
        /// Node.
        node: usize,
        /// Network seed.
        seed: u64,
    },
    /// A spectrum could not be computed.
    #[error(transparent)]
    Spectrum(#[from] crate::spectrum::SpectrumError),
    /// CUDA was requested but cannot be used (no feature, no driver, no device, ...).
    #[error("CUDA backend unavailable: {reason}")]
    CudaUnavailable {
        /// Why.
        reason: String,
    },
    /// A size beyond what cuBLAS and cuSOLVER take (32-bit `int` dimensions).
    #[error("{what} = {value} exceeds the 32-bit limit (2147483647) of cuBLAS and cuSOLVER; lower the width or the number of points")]
    CudaDimension {
        /// Which dimension.
        what: &'static str,
        /// Its value.
        value: u64,
    },
    /// A size beyond the process-wide memory budget ([`crate::budget`]).
    #[error(transparent)]
    Memory(#[from] crate::budget::BudgetError),
    /// The CUDA backend has no device code for an activation (a user-supplied
    /// [`crate::activation::Activation::Custom`]); the CPU backend evaluates any.
    #[error("the CUDA backend cannot evaluate activation `{activation}` of {}; user-supplied activations run on the CPU backend only", fmt_place(*edge))]
    UnsupportedActivation {
        /// The activation's name.
        activation: String,
        /// Index of the edge in [`Dag::edges`] (`None`: the input lift's stem).
        edge: Option<usize>,
    },
    /// A CUDA call failed.
    #[error("CUDA error in {during}: {message}")]
    Cuda {
        /// The step that failed.
        during: &'static str,
        /// The driver's message.
        message: String,
    },
}

fn fmt_place(edge: Option<usize>) -> String {
    match edge {
        Some(i) => format!("edge {i}"),
        None => "the input lift".to_string(),
    }
}

fn fmt_bytes(b: Option<u64>) -> String {
    match b {
        None => "more than 16 EiB".to_string(),
        Some(b) if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        Some(b) => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
    }
}

fn check_points(points: usize, limit: u64) -> Result<(), McError> {
    let needed = (points as u64)
        .checked_mul(points as u64)
        .and_then(|v| v.checked_mul(24));
    match needed {
        Some(b) if b <= limit => Ok(()),
        _ => Err(McError::TooManyPoints {
            points,
            needed,
            limit,
        }),
    }
}

/// Data prepared for sampling: the row-normalised points, the lift, and the closed-form
/// [`Inputs`] built from the same data.
#[derive(Debug)]
pub struct McInputs {
    x: Array2<f64>,
    lift: LiftParams,
    inputs: Inputs,
    factor: OnceLock<Option<features::Factor>>,
}

impl McInputs {
    /// Points `x` (`N x d`, one per row), each scaled to `||x_i||^2 = d` (zero rows stay
    /// zero) exactly as [`Inputs::from_data`] does.
    ///
    /// ```
    /// use archconv::{Lift, montecarlo::McInputs};
    /// let x = ndarray::array![[3.0, 4.0], [1.0, 0.0]];
    /// let inp = McInputs::from_data(x.view(), Lift::Dense).unwrap();
    /// assert!((inp.data()[[0, 0]] - 0.6 * 2f64.sqrt()).abs() < 1e-15);
    /// assert_eq!(inp.inputs().k0()[[1, 1]], 1.0);
    /// ```
    pub fn from_data(x: ArrayView2<'_, f64>, lift: Lift) -> Result<McInputs, McError> {
        McInputs::from_data_capped(x, lift, memory::default_limit())
    }

    /// Like [`McInputs::from_data`] with any lift ([`LiftParams`], PAPER.md section 9): a
    /// dense lift `X^0 = sqrt(sw2 / d) W0 x^T + sqrt(sb2) b0 1^T` (so
    /// `K^0 = sw2 x x^T / d + sb2`) or a stem `X^0 = phi(...)` of the same pre-activation.
    /// The closed-form side is [`Inputs::from_data_with`] on the same data.
    ///
    /// ```
    /// use archconv::{activation::Activation, model::LiftParams, montecarlo::McInputs};
    /// let x = archconv::Inputs::gaussian(4, 6, 0);
    /// let lift = LiftParams::dense_with(2.0, 0.5).unwrap();
    /// let inp = McInputs::from_data_with(x.view(), &lift).unwrap();
    /// assert_eq!(inp.lift_params(), &lift);
    /// assert!((inp.inputs().k0()[[0, 0]] - 2.5).abs() < 1e-15); // sw2 * 1 + sb2
    /// ```
    pub fn from_data_with(x: ArrayView2<'_, f64>, lift: &LiftParams) -> Result<McInputs, McError> {
        McInputs::from_data_capped_with(x, lift, memory::default_limit())
    }

    /// Like [`McInputs::from_data`] with an explicit memory cap in bytes: errors with
    /// [`McError::TooManyPoints`] before allocating when the `N x N` input Grams
    /// (`3 N^2` f64) exceed it.
    pub fn from_data_capped(
        x: ArrayView2<'_, f64>,
        lift: Lift,
        limit: u64,
    ) -> Result<McInputs, McError> {
        McInputs::from_data_capped_with(x, &lift.into(), limit)
    }

    /// [`McInputs::from_data_with`] with an explicit memory cap in bytes (as
    /// [`McInputs::from_data_capped`]).
    pub fn from_data_capped_with(
        x: ArrayView2<'_, f64>,
        lift: &LiftParams,
        limit: u64,
    ) -> Result<McInputs, McError> {
        check_points(x.nrows(), limit)?;
        let inputs = Inputs::from_data_with(x, lift)?;
        // Scale-invariant (issue 17): each row is divided by its largest entry before any
        // square is formed, so data of magnitude 1e-170 or 1e200 sample as at magnitude 1.
        let xn = Inputs::normalize_rows(x);
        Ok(McInputs {
            x: xn,
            lift: lift.clone(),
            inputs,
            factor: OnceLock::new(),
        })
    }

    /// Like [`McInputs::from_data`] keeping the data's scale (`K^0 = x x^T / d`).
    pub fn from_data_unnormalized(x: ArrayView2<'_, f64>, lift: Lift) -> Result<McInputs, McError> {
        McInputs::from_data_unnormalized_with(x, &lift.into())
    }

    /// [`McInputs::from_data_with`] keeping the data's scale
    /// (`K^0 = sw2 x x^T / d + sb2` for a dense lift).
    pub fn from_data_unnormalized_with(
        x: ArrayView2<'_, f64>,
        lift: &LiftParams,
    ) -> Result<McInputs, McError> {
        check_points(x.nrows(), memory::default_limit())?;
        let inputs = Inputs::from_data_unnormalized_with(x, lift)?;
        Ok(McInputs {
            x: x.to_owned(),
            lift: lift.clone(),
            inputs,
            factor: OnceLock::new(),
        })
    }

    /// Number of points `N`.
    pub fn len(&self) -> usize {
        self.x.nrows()
    }

    /// Always false (at least two points).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Data dimension `d`.
    pub fn dim(&self) -> usize {
        self.x.ncols()
    }

    /// The (normalised) points, `N x d`.
    pub fn data(&self) -> &Array2<f64> {
        &self.x
    }

    /// The lift's kind ([`Lift::Dense`], or [`Lift::ReluStem`] for a stem of any
    /// activation; [`McInputs::lift_params`] has its activation and variances).
    pub fn lift(&self) -> Lift {
        self.lift.kind()
    }

    /// The lift's activation and variances (PAPER.md section 9).
    pub fn lift_params(&self) -> &LiftParams {
        &self.lift
    }

    /// The closed-form inputs for the same data.
    pub fn inputs(&self) -> &Inputs {
        &self.inputs
    }

    /// A square-root factor of the pre-lift Gram `x x^T / d` (computed once).
    pub(crate) fn data_factor(&self) -> Option<&features::Factor> {
        self.factor
            .get_or_init(|| {
                let g = crate::linalg::gram_rows(self.x.view()).mapv(|v| v / self.dim() as f64);
                features::root_factor(&g, f64::EPSILON)
            })
            .as_ref()
    }
}

/// Options of a Monte Carlo run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct McParams {
    /// Width `m` of every node (default 1024).
    pub width: usize,
    /// Number of independent networks (default 16).
    pub seeds: usize,
    /// Base seed `b`: networks `b, b + 1, ...` (default 0).
    pub seed: u64,
    /// Sampler (default conditional).
    pub sampler: Sampler,
    /// Precision of the large products (default `f32`, see [`Precision`]).
    pub precision: Precision,
    /// CPU or CUDA (default CPU).
    pub backend: Backend,
    /// Memory cap in bytes; `None` = the process-wide budget ([`crate::budget::limit`]:
    /// `--memory`, by default [`memory::default_limit`]).
    pub memory_limit: Option<u64>,
    /// Confidence level of the Student-t intervals (default 0.95).
    pub level: f64,
}

impl Default for McParams {
    fn default() -> McParams {
        McParams {
            width: 1024,
            seeds: 16,
            seed: 0,
            sampler: Sampler::Conditional,
            precision: Precision::F32,
            backend: Backend::Cpu,
            memory_limit: None,
            level: 0.95,
        }
    }
}

impl McParams {
    fn validate(&self) -> Result<(), McError> {
        if self.width == 0 {
            return Err(McError::ZeroWidth);
        }
        if self.seeds == 0 {
            return Err(McError::ZeroSeeds);
        }
        if !(self.level > 0.0 && self.level < 1.0) {
            return Err(McError::BadLevel { level: self.level });
        }
        Ok(())
    }

    /// The network seed of seed index `s`.
    pub fn network_seed(&self, s: usize) -> u64 {
        self.seed.wrapping_add(s as u64)
    }
}

fn check_path(dag: &Dag) -> Result<(), McError> {
    let out = dag.output();
    if let Ok(h) = DepthHistograms::of(dag) {
        if h.node(out).iter().all(|&c| c == 0) {
            return Err(McError::NoPath { node: out });
        }
    }
    Ok(())
}

/// Samples one network of width `m` on the CPU and returns every node's empirical Gram
/// `(1/m) X^{tT} X^t` and mean `(1/m) sum_k X^t_k`, index = node, comparable with
/// [`Kernel::node`]. `network_seed` selects the network; the result is bit-identical for
/// any number of rayon threads. Memory is checked against `memory_limit`
/// (`None` = the process-wide budget, [`crate::budget::limit`]) before allocating.
///
/// ```
/// use archconv::{Dag, Lift, montecarlo::{sample_network, McInputs, Precision, Sampler}};
/// let x = archconv::Inputs::gaussian(4, 8, 1);
/// let inp = McInputs::from_data(x.view(), Lift::Dense).unwrap();
/// let nodes = sample_network(&Dag::chain(2), &inp, 256, Sampler::Explicit, Precision::F64, 7, None).unwrap();
/// assert_eq!(nodes.len(), 3);
/// // The dense lift preserves squared norms on average: K^0_ii is near 1.
/// assert!((nodes[0].gram[[0, 0]] - 1.0).abs() < 0.5);
/// ```
pub fn sample_network(
    dag: &Dag,
    inputs: &McInputs,
    width: usize,
    sampler: Sampler,
    precision: Precision,
    network_seed: u64,
    memory_limit: Option<u64>,
) -> Result<Vec<NodeState>, McError> {
    if width == 0 {
        return Err(McError::ZeroWidth);
    }
    check_path(dag)?;
    let limit = memory_limit.unwrap_or_else(crate::budget::limit);
    let plan = Plan::of(dag);
    let per = memory::network_bytes_of(
        &plan,
        inputs.len(),
        inputs.dim(),
        width,
        sampler,
        precision,
        rayon::current_num_threads(),
    );
    memory::plan_concurrency(per, Some(0), limit, 1, 1, width, inputs.len())?;
    cpu::simulate(&plan, inputs, width, sampler, precision, network_seed)
}

/// Per-entry statistics of one node across networks.
#[derive(Debug, Clone)]
pub struct NodeStats {
    /// Mean over networks of the empirical Gram.
    pub gram: Array2<f64>,
    /// Standard error of each entry of `gram` (`None` with one network).
    pub gram_se: Option<Array2<f64>>,
    /// Mean over networks of the empirical mean vector.
    pub mean: Array1<f64>,
    /// Standard error of each entry of `mean`.
    pub mean_se: Option<Array1<f64>>,
}

/// The Monte Carlo output Gram against one closed-form kernel.
#[derive(Debug, Clone, Serialize)]
pub struct KernelComparison {
    /// Which kernel.
    pub kind: KernelKind,
    /// `||mean_s K_MC(s) - K||_F / ||K||_F` (output node).
    pub rel_frobenius_of_mean: f64,
    /// `||K_MC(s) - K||_F / ||K||_F` per network, summarised.
    pub rel_frobenius: ScalarStats,
    /// `lambda_min` of the closed-form output Gram.
    pub kernel_lambda_min: f64,
}

/// Result of [`run`].
#[derive(Debug, Clone, Serialize)]
pub struct McResult {
    /// The options used.
    pub params: McParams,
    /// Number of points `N`.
    pub points: usize,
    /// How many networks were sampled at once.
    pub concurrency: usize,
    /// Estimated peak bytes (all concurrent networks plus the fixed part).
    pub estimated_bytes: u64,
    /// Per-node statistics, index = node.
    #[serde(skip)]
    pub nodes: Vec<NodeStats>,
    /// The three closed-form kernels (path-sum, independent-branch, exact).
    #[serde(skip)]
    pub kernels: Vec<Kernel>,
    /// `lambda_min` of each network's output Gram, summarised with a Student-t interval.
    pub lambda_min: ScalarStats,
    /// `lambda_min` of the mean output Gram.
    pub lambda_min_of_mean: f64,
    /// Mean wall-clock seconds spent sampling one network (excluding spectra and
    /// statistics; concurrent networks overlap).
    pub seconds_per_network: f64,
    /// Distances to the three closed-form kernels.
    pub comparisons: Vec<KernelComparison>,
    /// What the GPU used (CUDA backend only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu: Option<GpuUsage>,
}

/// What a CUDA run used, from the sampler's own counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct GpuUsage {
    /// cuBLAS GEMM flops of one network (`2 m n k` per call; every network runs the
    /// same products).
    pub gemm_flops_per_network: u64,
    /// Peak device bytes held through the sampler's own allocations, over all networks.
    pub peak_device_bytes: u64,
    /// The bound the run was admitted under (`cuda::device_bytes`).
    pub estimated_device_bytes: u64,
    /// Grams factored on the device (cuSOLVER Cholesky), over all networks.
    pub roots_on_device: u64,
    /// Grams factored on the host (rank-deficient, or no cuSOLVER), over all networks.
    pub roots_on_host: u64,
}

impl GpuUsage {
    /// Adds one network's counts.
    fn add(&mut self, net: GpuUsage) {
        self.gemm_flops_per_network = net.gemm_flops_per_network;
        self.estimated_device_bytes = net.estimated_device_bytes;
        self.peak_device_bytes = self.peak_device_bytes.max(net.peak_device_bytes);
        self.roots_on_device += net.roots_on_device;
        self.roots_on_host += net.roots_on_host;
    }
}

impl McResult {
    /// The comparison with kernel `kind`.
    pub fn comparison(&self, kind: KernelKind) -> Option<&KernelComparison> {
        self.comparisons.iter().find(|c| c.kind == kind)
    }

    /// The closed-form kernel `kind`.
    pub fn kernel(&self, kind: KernelKind) -> Option<&Kernel> {
        self.kernels.iter().find(|k| k.kind() == kind)
    }

    /// The output node's statistics.
    pub fn output(&self) -> &NodeStats {
        self.nodes.last().expect("at least one node")
    }
}

/// Samples `params.seeds` networks and summarises them against the closed-form kernels;
/// `progress` is called once per finished network (from worker threads).
///
/// Validates the options, checks the DAG has a path, and estimates memory
/// ([`memory::network_bytes`], [`memory::run_bytes`]) before allocating anything large.
pub fn run(
    dag: &Dag,
    inputs: &McInputs,
    params: &McParams,
    progress: &(dyn Fn() + Sync),
) -> Result<McResult, McError> {
    run_with(dag, inputs, params, progress, None)
}

/// The closed-form side of a run, which depends only on the DAG and the inputs: the three
/// kernels and their output `lambda_min`. A width sweep computes it once for all widths.
pub(crate) struct ClosedForms {
    kernels: Vec<Kernel>,
    lambda_min: Vec<f64>,
}

impl ClosedForms {
    pub(crate) fn of(dag: &Dag, inputs: &McInputs) -> Result<ClosedForms, McError> {
        let kernels = Self::kernels(dag, inputs)?;
        let lambda_min = Self::lambda_mins(&kernels)?;
        Ok(ClosedForms {
            kernels,
            lambda_min,
        })
    }

    /// The three closed-form kernels, in [`KernelKind::ALL`] order.
    fn kernels(dag: &Dag, inputs: &McInputs) -> Result<Vec<Kernel>, McError> {
        KernelKind::ALL
            .iter()
            .map(|&k| Ok(inputs.inputs().kernel(dag, k)?))
            .collect()
    }

    /// `lambda_min` of each kernel's output Gram.
    fn lambda_mins(kernels: &[Kernel]) -> Result<Vec<f64>, McError> {
        kernels
            .iter()
            .map(|k| Ok(crate::spectrum::lambda_min(&k.output().gram)?))
            .collect()
    }
}

/// [`run`], with the closed forms given (`Some`) or computed here (`None`; their
/// `lambda_min` then runs beside the sampling).
pub(crate) fn run_with(
    dag: &Dag,
    inputs: &McInputs,
    params: &McParams,
    progress: &(dyn Fn() + Sync),
    closed: Option<&ClosedForms>,
) -> Result<McResult, McError> {
    params.validate()?;
    // The per-network results (lambda_min, one distance per kernel, timings) are sized by
    // the seed count before anything else is checked.
    crate::budget::check(
        format!("{} networks' results", params.seeds),
        crate::budget::bytes(params.seeds, 8 * (KernelKind::ALL.len() + 2)),
    )?;
    check_path(dag)?;
    let (n, d, m) = (inputs.len(), inputs.dim(), params.width);
    let limit = params.memory_limit.unwrap_or_else(crate::budget::limit);
    let threads = rayon::current_num_threads();
    // One traversal plan for the estimate and every network of the run.
    let plan = Plan::of(dag);
    let (sampler, precision) = (params.sampler, params.precision);
    let per = match params.backend {
        Backend::Cpu => memory::network_bytes_of(&plan, n, d, m, sampler, precision, threads),
        // GPU networks run one at a time; host memory holds the node states only.
        Backend::Cuda => memory::network_bytes_of(&plan, n, d, 1, sampler, precision, 1),
    };
    let fixed = memory::run_bytes(dag, n, d);
    let concurrency = match params.backend {
        Backend::Cpu => memory::plan_concurrency(per, fixed, limit, params.seeds, threads, m, n)?,
        Backend::Cuda => memory::plan_concurrency(per, fixed, limit, 1, 1, m, n)?,
    };
    let estimated_bytes = per.unwrap_or(0) * concurrency as u64 + fixed.unwrap_or(0);
    #[cfg(feature = "cuda")]
    let gpu = match params.backend {
        Backend::Cuda => Some(cuda::GpuSampler::new(dag, inputs, params)?),
        Backend::Cpu => None,
    };
    #[cfg(not(feature = "cuda"))]
    if params.backend == Backend::Cuda {
        return Err(McError::CudaUnavailable {
            reason: "this build of archconv lacks the `cuda` feature".into(),
        });
    }

    let kernels: Vec<Kernel> = match closed {
        Some(c) => c.kernels.clone(),
        None => ClosedForms::kernels(dag, inputs)?,
    };
    let refs: Vec<&Array2<f64>> = kernels.iter().map(|k| &k.output().gram).collect();
    let nodes = dag.num_nodes();
    let mut grams: Vec<Welford2> = (0..nodes).map(|_| Welford2::new(n, n)).collect();
    let mut means: Vec<Welford2> = (0..nodes).map(|_| Welford2::new(n, 1)).collect();
    let mut lmins = Vec::with_capacity(params.seeds);
    let mut dists: Vec<Vec<f64>> = vec![Vec::with_capacity(params.seeds); refs.len()];
    type PerSeed = (Vec<NodeState>, f64, Vec<f64>, f64, Option<GpuUsage>);
    let per_seed = |s: usize| -> Result<PerSeed, McError> {
        let seed = params.network_seed(s);
        let start = std::time::Instant::now();
        #[cfg(feature = "cuda")]
        let (states, usage) = match &gpu {
            Some(g) => {
                let states = g.simulate(seed)?;
                (states, Some(g.last_network()))
            }
            None => (
                cpu::simulate(&plan, inputs, m, sampler, precision, seed)?,
                None,
            ),
        };
        #[cfg(not(feature = "cuda"))]
        let (states, usage): (_, Option<GpuUsage>) = (
            cpu::simulate(&plan, inputs, m, sampler, precision, seed)?,
            None,
        );
        let secs = start.elapsed().as_secs_f64();
        let out = &states.last().expect("at least one node").gram;
        let lmin = crate::spectrum::lambda_min(out)?;
        let ds = refs
            .iter()
            .map(|r| rel_frobenius(out, r).ok_or(McError::NoPath { node: dag.output() }))
            .collect::<Result<Vec<_>, _>>()?;
        progress();
        Ok((states, lmin, ds, secs, usage))
    };
    let seeds: Vec<usize> = (0..params.seeds).collect();
    let mut sampling = 0.0;
    let mut gpu_usage: Option<GpuUsage> = None;
    // The closed-form kernels' lambda_min do not depend on the networks: computed on the
    // side while the networks are sampled.
    let (kernel_lmins, sampled) = rayon::join(
        || match closed {
            Some(c) => Ok(c.lambda_min.clone()),
            None => ClosedForms::lambda_mins(&kernels),
        },
        || -> Result<(), McError> {
            for batch in seeds.chunks(concurrency) {
                let results: Vec<_> = if concurrency > 1 {
                    batch.par_iter().map(|&s| per_seed(s)).collect()
                } else {
                    batch.iter().map(|&s| per_seed(s)).collect()
                };
                for r in results {
                    let (states, lmin, ds, secs, usage) = r?;
                    sampling += secs;
                    if let Some(u) = usage {
                        gpu_usage.get_or_insert_with(GpuUsage::default).add(u);
                    }
                    for (t, st) in states.iter().enumerate() {
                        grams[t].push(&st.gram);
                        means[t].push(&st.mean.clone().insert_axis(Axis(1)));
                    }
                    lmins.push(lmin);
                    for (k, v) in ds.into_iter().enumerate() {
                        dists[k].push(v);
                    }
                }
            }
            Ok(())
        },
    );
    sampled?;
    let kernel_lmins = kernel_lmins?;
    let node_stats: Vec<NodeStats> = grams
        .into_iter()
        .zip(means)
        .map(|(g, mu)| NodeStats {
            gram_se: g.se(),
            gram: g.mean,
            mean_se: mu.se().map(|a| a.column(0).to_owned()),
            mean: mu.mean.column(0).to_owned(),
        })
        .collect();
    let out_mean = &node_stats.last().expect("at least one node").gram;
    let mut comparisons = Vec::new();
    for (k, kernel) in kernels.iter().enumerate() {
        comparisons.push(KernelComparison {
            kind: kernel.kind(),
            rel_frobenius_of_mean: rel_frobenius(out_mean, refs[k])
                .ok_or(McError::NoPath { node: dag.output() })?,
            rel_frobenius: ScalarStats::of(&dists[k], params.level),
            kernel_lambda_min: kernel_lmins[k],
        });
    }
    Ok(McResult {
        params: params.clone(),
        points: n,
        concurrency,
        estimated_bytes,
        lambda_min_of_mean: crate::spectrum::lambda_min(out_mean)?,
        seconds_per_network: sampling / params.seeds as f64,
        lambda_min: ScalarStats::of(&lmins, params.level),
        nodes: node_stats,
        kernels,
        comparisons,
        gpu: gpu_usage,
    })
}
