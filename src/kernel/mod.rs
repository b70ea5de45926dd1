//! Closed-form infinite-width (NNGP) kernels of DAG networks (PAPER.md sections 2, 4, 7).
//!
//! Three kernels, side by side ([`KernelKind`]):
//!
//! 1. **path-sum** (paper Eq. 12): `K^H = sum_p f^{d_p}(K^0) = sum_d n(d) f^d(K^0)`, with
//!    `n(d)` the depth histogram of [`crate::paths`]; every node gets its own histogram.
//! 2. **independent-branch**: `K^t = sum_{linear s->t} f(K^s) + sum_{skip s->t} K^s`
//!    (cross terms between branches dropped).
//! 3. **exact**: the post-ReLU recursion of PAPER.md section 7 with node means `mu^t`,
//!    cross-node Grams `S^{t,u}` and branch cross terms:
//!
//! ```text
//! a_e = mu^s (skip) or sqrt(diag K^s / pi) (linear);      mu^t = sum_e a_e
//! K^t = sum_{e,e'} C(e,e'),  C(e,e) = f(K^s) (linear),  C(e,e') = a_e a_e'^T (e != e', one linear),
//!       C(e,e') = S^{s,s'} (both skip, e = e' included)
//! S^{t,u} = sum_{skip s->t} S^{s,u} + sum_{linear e} a_e (mu^u)^T   (u < t)
//! ```
//!
//! The exact and independent-branch kernels share one traversal ([`exact`]); they differ
//! only in whether the pair terms are kept. The input lift ([`Lift`]) turns data into
//! `(K^0, mu^0)`: dense `K^0 = X X^T / d, mu^0 = 0`, or ReLU stem `K^0 = f(X X^T/d),
//! mu^0 = sqrt(diag/pi)`.
//!
//! ```
//! use archconv::{Dag, kernel::{Inputs, KernelKind, Lift}};
//! let x = Inputs::gaussian(8, 16, 7);                      // 8 points in R^16, seeded
//! let inp = Inputs::from_data(x.view(), Lift::Dense).unwrap();
//! let chain = Dag::chain(3);
//! let ps = inp.kernel(&chain, KernelKind::PathSum).unwrap();
//! let ex = inp.kernel(&chain, KernelKind::Exact).unwrap();
//! // On a chain all three kernels agree.
//! let diff = (&ps.output().gram - &ex.output().gram).mapv(f64::abs).fold(0.0f64, |a, &b| a.max(b));
//! assert!(diff < 1e-12);
//! ```

pub mod exact;
pub mod function;
pub mod npy;
pub mod ntk;
pub mod pathsum;
pub mod relu;
pub mod standard;
pub mod stream;
pub mod tiles;

use crate::dag::Dag;
use crate::model::LiftParams;
pub use function::{CrossState, KernelFn};
use ndarray::{Array1, Array2, ArrayView2};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use serde::Serialize;
pub use standard::StandardParams;
use std::fmt;

/// Which closed-form kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum KernelKind {
    /// The paper's Eq. 12: sum over paths of iterated `f`.
    PathSum,
    /// Branch kernels added, cross terms dropped.
    IndependentBranch,
    /// The exact post-ReLU recursion (section 7).
    Exact,
}

impl KernelKind {
    /// All three, in the order path-sum, independent-branch, exact.
    pub const ALL: [KernelKind; 3] = [
        KernelKind::PathSum,
        KernelKind::IndependentBranch,
        KernelKind::Exact,
    ];

    /// Short name (`path-sum`, `independent-branch`, `exact`).
    pub fn name(self) -> &'static str {
        match self {
            KernelKind::PathSum => "path-sum",
            KernelKind::IndependentBranch => "independent-branch",
            KernelKind::Exact => "exact",
        }
    }
}

impl fmt::Display for KernelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How data enter the DAG's node 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Lift {
    /// A plain dense first layer: `K^0 = X X^T / d`, `mu^0 = 0` (the paper's theory).
    #[default]
    Dense,
    /// The authors' MLP stem `Linear + ReLU`: `K^0 = f(X X^T / d)`, `mu^0 = sqrt(diag/pi)`.
    ReluStem,
}

impl fmt::Display for Lift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Lift::Dense => "dense",
            Lift::ReluStem => "relu-stem",
        })
    }
}

/// Bad data or a bad input Gram.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum KernelError {
    /// A data entry or Gram entry is NaN or infinite.
    #[error("non-finite value {value} at row {row}, column {col} of the {what}")]
    NonFinite {
        /// "data matrix" or "input Gram".
        what: &'static str,
        /// Row (0-based).
        row: usize,
        /// Column (0-based).
        col: usize,
        /// The value.
        value: f64,
    },
    /// Kernels need at least two points.
    #[error("need at least 2 input points, got {n}")]
    TooFewPoints {
        /// Number of points given.
        n: usize,
    },
    /// The data matrix has no features.
    #[error("the data matrix has {n} rows but 0 columns")]
    NoFeatures {
        /// Rows.
        n: usize,
    },
    /// A given Gram is not square.
    #[error("input Gram must be square, got {rows} x {cols}")]
    NotSquare {
        /// Rows.
        rows: usize,
        /// Columns.
        cols: usize,
    },
    /// A given Gram is not symmetric.
    #[error("input Gram is not symmetric: K[{i},{j}] = {a} but K[{j},{i}] = {b}")]
    NotSymmetric {
        /// Row.
        i: usize,
        /// Column.
        j: usize,
        /// `K[i,j]`.
        a: f64,
        /// `K[j,i]`.
        b: f64,
    },
    /// A diagonal entry is negative, or an entry violates `|K_ij| <= sqrt(K_ii K_jj)`.
    #[error("input Gram is not a Gram matrix at ({i},{j}): {why}")]
    NotGram {
        /// Row.
        i: usize,
        /// Column.
        j: usize,
        /// What fails.
        why: String,
    },
    /// Every data point is zero (or, unnormalised, so small that the Gram underflows to
    /// zero): every kernel is identically zero, so no spectrum or ratio is defined.
    #[error("degenerate data: all {n} points (dimension {d}) are zero, or so small that X X^T / d underflows to zero; every kernel would be identically zero")]
    ZeroData {
        /// Points.
        n: usize,
        /// Dimension.
        d: usize,
    },
    /// Without row normalisation, the data Gram `X X^T / d` overflows.
    #[error("the data Gram X X^T / d is {value} at row {row}, column {col}: the data (largest |x| = {largest:e}) are too large to use unnormalised; normalise the rows (drop --no-normalize) or rescale the data")]
    GramOverflow {
        /// Row (0-based).
        row: usize,
        /// Column (0-based).
        col: usize,
        /// The non-finite entry.
        value: f64,
        /// The largest absolute data entry.
        largest: f64,
    },
    /// Path counts overflow `u128` at a node (the path-sum kernel needs them).
    #[error("path counts overflow 128-bit integers at node {node}")]
    PathOverflow {
        /// The node.
        node: usize,
    },
    /// The path-sum rule (Eq. 12) composes one edge map along every path; this DAG's
    /// linear edges compute different maps.
    #[error("the path-sum kernel needs every linear edge to compute the same map, but edges compute {first} and {other} (edge {from} -> {to}); use the exact or independent-branch kernel")]
    PathSumMixedEdges {
        /// The first parameter set.
        first: String,
        /// Another one.
        other: String,
        /// Source of an edge with `other`.
        from: usize,
        /// Its target.
        to: usize,
    },
    /// The computation would not fit in the memory budget.
    #[error(transparent)]
    Memory(#[from] crate::budget::BudgetError),
    /// A node's kernel is past f64's range and its out-edges' activation is not
    /// positively homogeneous, so its maps cannot be evaluated in scaled form
    /// ([`stream`]).
    #[error("node {node}'s kernel is about 10^{log10_scale:.0}, past f64's range, and its edges' activation {activation} is not positively homogeneous (only relu, leaky_relu/abrelu, abs and identity can be evaluated in scaled form); lower the weight variances or use fewer paths")]
    ScaleOutOfRange {
        /// The node.
        node: usize,
        /// Base-10 logarithm of the node's largest diagonal entry.
        log10_scale: f64,
        /// The activation.
        activation: String,
    },
    /// A node's kernel came out NaN or infinite (an activation evaluated past f64's range).
    #[error("node {node}'s kernel is not finite: an activation was evaluated past f64's range; lower the weight variances or use fewer paths")]
    NonFiniteKernel {
        /// The node.
        node: usize,
    },
    /// Two point sets of different dimensions.
    #[error("the two point sets have different dimensions: x1 has {d1} columns, x2 has {d2}")]
    DimensionMismatch {
        /// Columns of `x1`.
        d1: usize,
        /// Columns of `x2`.
        d2: usize,
    },
    /// An NTK was asked of a rule that defines none.
    #[error("the {rule} rule defines no NTK; use the exact or independent-branch rule")]
    NoNtkRule {
        /// The rule's name.
        rule: &'static str,
    },
    /// A kernel asked for unscaled is past f64's range.
    #[error("node {node}'s kernel is about 10^{log10_scale:.0}, past f64's range; Inputs::output_kernel keeps it in scaled form")]
    OutOfRange {
        /// The node.
        node: usize,
        /// Base-10 logarithm of its scale.
        log10_scale: f64,
    },
    /// A network size or variance is out of range ([`standard::StandardParams`]).
    #[error("{what} = {value} is out of range: {why}")]
    BadParameter {
        /// Which parameter.
        what: &'static str,
        /// Its value.
        value: f64,
        /// What is required.
        why: &'static str,
    },
    /// A streamed kernel (tiles, per-point terms) was asked of the path-sum rule.
    #[error("the {rule} rule has no streamed form (tiles, per-point terms); use the exact or independent-branch rule")]
    NotStreamed {
        /// The rule's name.
        rule: &'static str,
    },
    /// Per-point terms that do not belong with the rows or the kernel function given.
    #[error("the per-point terms `{argument}` do not fit: {why}")]
    TermsMismatch {
        /// Which argument.
        argument: &'static str,
        /// What does not fit.
        why: String,
    },
    /// Per-point terms rebuilt from inconsistent parts, or an invalid selection of them.
    #[error("invalid per-point terms: {why}")]
    BadTerms {
        /// What is wrong.
        why: String,
    },
    /// The DAG has no path from an input to the output, so its output Gram is zero.
    #[error("the DAG has no path from its input to node {node}; its kernel is identically zero")]
    NoPath {
        /// The node.
        node: usize,
    },
}

/// The lifted input: `K^0` and `mu^0` fed to every input node.
#[derive(Debug, Clone)]
pub struct Inputs {
    k0: Array2<f64>,
    mu0: Array1<f64>,
    lift: Lift,
    lift_params: LiftParams,
    /// The data Gram `X X^T / d` before the lift (needed by the NTK's lift term); `None`
    /// for the dense lift, where it is `k0` itself.
    data_gram: Option<Array2<f64>>,
}

/// One node's infinite-width state: Gram `K^t` and mean vector `mu^t`.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeState {
    /// `K^t_ij = lim (1/m) <X^t_i, X^t_j>`.
    pub gram: Array2<f64>,
    /// `mu^t_i = lim (1/m) sum_k X^t_ik`.
    pub mean: Array1<f64>,
}

/// A kernel evaluated at every node of a DAG.
#[derive(Debug, Clone)]
pub struct Kernel {
    kind: KernelKind,
    nodes: Vec<NodeState>,
}

impl Kernel {
    /// Which kernel this is.
    pub fn kind(&self) -> KernelKind {
        self.kind
    }

    /// The output node's state (`K^H`, `mu^H`).
    pub fn output(&self) -> &NodeState {
        self.nodes.last().expect("at least one node")
    }

    /// Node `t`'s state.
    pub fn node(&self, t: usize) -> &NodeState {
        &self.nodes[t]
    }

    /// All nodes' states, index = node.
    pub fn nodes(&self) -> &[NodeState] {
        &self.nodes
    }

    /// Consumes the result, returning the output Gram.
    pub fn into_output_gram(mut self) -> Array2<f64> {
        self.nodes.pop().expect("at least one node").gram
    }
}

pub(crate) fn check_finite(x: ArrayView2<'_, f64>, what: &'static str) -> Result<(), KernelError> {
    for ((row, col), &value) in x.indexed_iter() {
        if !value.is_finite() {
            return Err(KernelError::NonFinite {
                what,
                row,
                col,
                value,
            });
        }
    }
    Ok(())
}

impl Inputs {
    /// Lifts a data matrix `X` (`N x d`, one point per row). Rows are first scaled to
    /// `||x_i||^2 = d`, so `K^0_ii = 1` as in the paper (zero rows stay zero); use
    /// [`Inputs::from_data_unnormalized`] to keep the scale.
    pub fn from_data(x: ArrayView2<'_, f64>, lift: Lift) -> Result<Inputs, KernelError> {
        Inputs::from_data_opts(x, &lift.into(), true)
    }

    /// Like [`Inputs::from_data`] with any lift ([`LiftParams`]: a dense lift with its own
    /// variances, `K^0 = sw2 X X^T / d + sb2`, or a stem with any activation,
    /// `K^0 = F(X X^T / d)`, `mu^0 = a(X X^T / d)`; PAPER.md section 9).
    ///
    /// ```
    /// use archconv::{Inputs, model::LiftParams, activation::Activation};
    /// let x = Inputs::gaussian(4, 3, 0);
    /// let lift = LiftParams::dense_with(2.0, 0.5).unwrap();
    /// let inp = Inputs::from_data_with(x.view(), &lift).unwrap();
    /// assert!((inp.k0()[[0, 0]] - 2.5).abs() < 1e-15);        // sw2 * 1 + sb2
    /// ```
    pub fn from_data_with(
        x: ArrayView2<'_, f64>,
        lift: &LiftParams,
    ) -> Result<Inputs, KernelError> {
        Inputs::from_data_opts(x, lift, true)
    }

    /// [`Inputs::from_data_with`] without row normalisation.
    pub fn from_data_unnormalized_with(
        x: ArrayView2<'_, f64>,
        lift: &LiftParams,
    ) -> Result<Inputs, KernelError> {
        Inputs::from_data_opts(x, lift, false)
    }

    /// Like [`Inputs::from_data`] without row normalisation: `K^0 = X X^T / d`.
    pub fn from_data_unnormalized(
        x: ArrayView2<'_, f64>,
        lift: Lift,
    ) -> Result<Inputs, KernelError> {
        Inputs::from_data_opts(x, &lift.into(), false)
    }

    fn from_data_opts(
        x: ArrayView2<'_, f64>,
        lift: &LiftParams,
        normalize: bool,
    ) -> Result<Inputs, KernelError> {
        let (n, d) = x.dim();
        if n < 2 {
            return Err(KernelError::TooFewPoints { n });
        }
        if d == 0 {
            return Err(KernelError::NoFeatures { n });
        }
        check_finite(x, "data matrix")?;
        // The Gram, its lift and the normalised copy of the data.
        crate::budget::check(
            format!("the input Gram of N = {n} points (d = {d})"),
            crate::budget::bytes(n, n).and_then(|nn| {
                nn.checked_mul(8 * 3)?
                    .checked_add(crate::budget::bytes(n, d)?.checked_mul(8)?)
            }),
        )?;
        let k = if normalize {
            let xn = Inputs::normalize_rows(x);
            if xn.iter().all(|&v| v == 0.0) {
                return Err(KernelError::ZeroData { n, d });
            }
            let mut k = crate::linalg::gram_rows(xn.view());
            k.mapv_inplace(|v| v / d as f64);
            for (i, row) in xn.rows().into_iter().enumerate() {
                // Rows have ||x_i||^2 = d up to rounding; make K0_ii = 1 exact.
                if row.iter().any(|&v| v != 0.0) {
                    k[[i, i]] = 1.0;
                }
            }
            k
        } else {
            let mut k = crate::linalg::gram_rows(x);
            k.mapv_inplace(|v| v / d as f64);
            if let Some(((row, col), &value)) = k.indexed_iter().find(|(_, v)| !v.is_finite()) {
                let largest = x.iter().fold(0.0f64, |a, &v| a.max(v.abs()));
                return Err(KernelError::GramOverflow {
                    row,
                    col,
                    value,
                    largest,
                });
            }
            if k.diag().iter().all(|&v| v == 0.0) {
                return Err(KernelError::ZeroData { n, d });
            }
            k
        };
        Ok(Inputs::lift_gram(k, lift))
    }

    /// The rows of `x` scaled to `||x_i||^2 = d` (zero rows stay zero): the data that
    /// [`Inputs::from_data`] uses, for finite-width simulations of the same network.
    ///
    /// Scale-invariant: each row is first divided by its largest absolute entry, so no
    /// square of a raw entry is formed, and data of magnitude `1e-170` or `1e200` give
    /// the same rows (to rounding) as the same data of magnitude 1.
    ///
    /// ```
    /// use archconv::Inputs;
    /// let x = ndarray::array![[3.0, 4.0], [0.0, 0.0]];
    /// let tiny = Inputs::normalize_rows((&x * 1e-170).view());
    /// let huge = Inputs::normalize_rows((&x * 1e200).view());
    /// let one = Inputs::normalize_rows(x.view());
    /// for (a, b) in one.iter().zip(tiny.iter().chain(huge.iter())) {
    ///     assert!((a - b).abs() <= 4.0 * f64::EPSILON);
    /// }
    /// ```
    pub fn normalize_rows(x: ArrayView2<'_, f64>) -> Array2<f64> {
        let d = x.ncols() as f64;
        let mut out = x.to_owned();
        for mut row in out.rows_mut() {
            let largest = row.iter().fold(0.0f64, |a, &v| a.max(v.abs()));
            if largest > 0.0 && largest.is_finite() {
                row.mapv_inplace(|v| v / largest);
                // Entries now in [-1, 1] with one of modulus 1: 1 <= nrm2 <= d.
                let nrm2 = row.dot(&row);
                let s = (d / nrm2).sqrt();
                row.mapv_inplace(|v| v * s);
            }
        }
        out
    }

    /// Uses a given input Gram `K^0` (validated: square, symmetric, finite, a Gram).
    pub fn from_gram(k0: Array2<f64>, lift: Lift) -> Result<Inputs, KernelError> {
        Inputs::from_gram_with(k0, &lift.into())
    }

    /// [`Inputs::from_gram`] with any lift ([`LiftParams`]).
    pub fn from_gram_with(k0: Array2<f64>, lift: &LiftParams) -> Result<Inputs, KernelError> {
        let (rows, cols) = k0.dim();
        if rows != cols {
            return Err(KernelError::NotSquare { rows, cols });
        }
        if rows < 2 {
            return Err(KernelError::TooFewPoints { n: rows });
        }
        check_finite(k0.view(), "input Gram")?;
        for i in 0..rows {
            if k0[[i, i]] < 0.0 {
                return Err(KernelError::NotGram {
                    i,
                    j: i,
                    why: format!("negative diagonal {}", k0[[i, i]]),
                });
            }
            for j in 0..i {
                let (a, b) = (k0[[i, j]], k0[[j, i]]);
                let tol = 1e-12 * (a.abs() + b.abs() + 1e-300);
                if (a - b).abs() > tol {
                    return Err(KernelError::NotSymmetric { i, j, a, b });
                }
                let bound = (k0[[i, i]] * k0[[j, j]]).sqrt();
                if a.abs() > bound * (1.0 + 1e-10) + 1e-300 {
                    return Err(KernelError::NotGram {
                        i,
                        j,
                        why: format!("|K_ij| = {} exceeds sqrt(K_ii K_jj) = {bound}", a.abs()),
                    });
                }
            }
        }
        Ok(Inputs::lift_gram(k0, lift))
    }

    fn lift_gram(k: Array2<f64>, lift: &LiftParams) -> Inputs {
        let n = k.nrows();
        match lift.stem_params() {
            None => {
                let (sw2, sb2) = lift.variances();
                if sw2 == 1.0 && sb2 == 0.0 {
                    Inputs {
                        k0: k,
                        mu0: Array1::zeros(n),
                        lift: Lift::Dense,
                        lift_params: lift.clone(),
                        data_gram: None,
                    }
                } else {
                    Inputs {
                        k0: k.mapv(|v| sw2 * v + sb2),
                        mu0: Array1::zeros(n),
                        lift: Lift::Dense,
                        lift_params: lift.clone(),
                        data_gram: Some(k),
                    }
                }
            }
            Some(p) => Inputs {
                k0: p.nngp_map(k.view()),
                mu0: p.mean(&k),
                lift: Lift::ReluStem,
                lift_params: lift.clone(),
                data_gram: Some(k),
            },
        }
    }

    /// The data Gram `X X^T / d` (after row normalisation) before the lift.
    pub fn data_gram(&self) -> &Array2<f64> {
        self.data_gram.as_ref().unwrap_or(&self.k0)
    }

    /// A seeded standard Gaussian data matrix (`n x d`), the CLI's default input.
    pub fn gaussian(n: usize, d: usize, seed: u64) -> Array2<f64> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        Array2::from_shape_simple_fn((n, d), || StandardNormal.sample(&mut rng))
    }

    /// Number of points `N`.
    pub fn len(&self) -> usize {
        self.k0.nrows()
    }

    /// Always false: at least two points are required.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The lifted input Gram `K^0`.
    pub fn k0(&self) -> &Array2<f64> {
        &self.k0
    }

    /// The lifted input mean `mu^0`.
    pub fn mu0(&self) -> &Array1<f64> {
        &self.mu0
    }

    /// The lift's kind (dense, or a stem: [`Lift::ReluStem`] for a stem of any activation).
    pub fn lift(&self) -> Lift {
        self.lift
    }

    /// The lift's activation and variances.
    pub fn lift_params(&self) -> &LiftParams {
        &self.lift_params
    }

    /// Evaluates one kernel at every node of `dag`. Errors when the output has no path
    /// from an input (its Gram would be identically zero).
    ///
    /// Every node's `N x N` Gram is kept, so `2 x nodes x N^2` doubles (states and working
    /// copies) are checked against the memory budget ([`crate::budget`]) first, and refused with
    /// [`KernelError::Memory`] when they do not fit.
    pub fn kernel(&self, dag: &Dag, kind: KernelKind) -> Result<Kernel, KernelError> {
        // Node states plus the recursion's working copies (measured: about twice the
        // states at their peak).
        self.check_states(dag, kind.name(), 2)?;
        let plan = crate::plan::Plan::of(dag);
        let nodes = match kind {
            KernelKind::PathSum => pathsum::path_sum(&plan, self)?,
            KernelKind::IndependentBranch => {
                exact::recursion(&plan, self, exact::Rule::IndependentBranch)?
            }
            KernelKind::Exact => exact::recursion(&plan, self, exact::Rule::Exact)?,
        };
        Ok(Kernel { kind, nodes })
    }
}

impl Inputs {
    /// Checks `copies` per-node states (`N x N` Gram and mean of `N`, f64) of every node
    /// of `dag` against the memory budget.
    pub(crate) fn check_states(
        &self,
        dag: &Dag,
        what: &str,
        copies: u64,
    ) -> Result<(), crate::budget::BudgetError> {
        let n = self.len();
        let per_node = crate::budget::bytes(n, n + 1).and_then(|b| b.checked_mul(8));
        crate::budget::check(
            format!(
                "the {what} kernel ({} nodes x N^2 with N = {n})",
                dag.num_nodes()
            ),
            per_node
                .and_then(|b| b.checked_mul(dag.num_nodes() as u64))
                .and_then(|b| b.checked_mul(copies)),
        )
    }
}

/// Mean of `sqrt(2) relu(g)` for `g ~ N(0, K_ii)`: `sqrt(K_ii / pi)` (PAPER.md section 7).
pub fn relu_mean(k: &Array2<f64>) -> Array1<f64> {
    k.diag()
        .mapv(|v| (v.max(0.0) / std::f64::consts::PI).sqrt())
}
