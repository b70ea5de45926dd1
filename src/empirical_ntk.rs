//! Finite-width empirical NTK of DAG networks by explicit backpropagation (PAPER.md
//! sections 8 and 9), the referee for [`crate::kernel::ntk`].
//!
//! The network is the one the closed form describes ([`crate::model`]), at width `m`:
//! every linear edge `e = (s -> t)` adds
//!
//! ```text
//! phi_e(h_e),   h_e = sqrt(sw2_e / m) W_e X^s + sqrt(sb2_e) b_e
//! ```
//!
//! to its target node (activation and variances from [`crate::Edge::params`]), skip edges
//! add `X^s`, a node is the sum of its incoming edges; the lift is
//! `X^0 = h_0 = sqrt(sw2 / d) W0 x + sqrt(sb2) b0` (dense) or `phi(h_0)` (stem), with the
//! variances and activation of a [`LiftParams`]; the readout is `u = v . X^H / sqrt(m)`.
//! All weights and biases are iid `N(0, 1)` and all are trained. The paper's network is
//! the default: edges `sqrt(2) relu(W_e X^s / sqrt(m))`, lift `W0 x / sqrt(d)` (dense) or
//! `sqrt(2) relu(W0 x / sqrt(d))` (the authors' ReLU stem), no biases; for it the
//! results are bit-identical to the ReLU-only implementation this module started as.
//!
//! Backward signals `delta^t = sqrt(m) du/dX^t` start at `delta^H = v` and flow back
//! through skip edges unchanged and through linear edges as `W_e^T g_e / sqrt(m)` with
//! the weight signal `g_e = sqrt(sw2_e) phi_e'(h_e) * delta^t`; the bias signal is
//! `gb_e = sqrt(sb2_e) phi_e'(h_e) * delta^t`. Each weight's gradient for input `i` is
//! rank one, `g_i x_i^T / m`, and each bias's is `gb_i / sqrt(m)`, so the NTK needs no
//! Jacobian:
//!
//! ```text
//! Theta_ij = (1/m) <X^H_i, X^H_j>                                              readout
//!          + sum_e [(1/m) <X^s_i, X^s_j>] [(1/m) <g_e,i, g_e,j>] + (1/m) <gb_e,i, gb_e,j>
//!          + [x_i . x_j / d] [(1/m) <g_0,i, g_0,j>] + (1/m) <gb_0,i, gb_0,j>      lift
//! ```
//!
//! At infinite width the edge term tends to `E[phi'(u) phi'(v)] (sw2 K^s + sb2) * P^t`,
//! the exact per-edge term of [`crate::kernel::ntk`] (PAPER.md section 9), with errors
//! of order `m^-1/2`.
//!
//! [`Network`] holds one such network; [`Network::ntk`] gives its empirical NTK term by
//! term and [`Network::gd_step`] takes a full-batch gradient-descent step on
//! `L = 1/2 sum_i (u_i - y_i)^2` (gradients from the same backward pass). The forward and
//! backward passes share one [`Plan`] per call, each node visiting only its own
//! non-zero in-edges (in edge order): the traversal costs `O(nodes + edges)` besides
//! the one GEMM per linear edge.
//!
//! ```
//! use archconv::{Dag, Inputs, Lift, empirical_ntk::empirical_ntk, kernel::ntk::NtkVariant};
//! let x = Inputs::gaussian(4, 3, 0);
//! let emp = empirical_ntk(&Dag::dag3(), x.view(), Lift::Dense, 256, 7).unwrap();
//! let theta = emp.theta(NtkVariant::Full);
//! assert_eq!(theta.dim(), (4, 4));
//! ```
//!
//! Any activation and variances, with trained biases, and any lift:
//!
//! ```
//! use archconv::{Dag, Inputs, activation::Activation, empirical_ntk::empirical_ntk};
//! use archconv::model::{EdgeParams, LiftParams};
//! let p = EdgeParams::new(Activation::Relu, 1.5, 0.1).unwrap();
//! let dag = Dag::dag3().with_all_params(&p);
//! let lift = LiftParams::dense_with(1.0, 0.2).unwrap();
//! let x = Inputs::gaussian(4, 3, 0);
//! let emp = empirical_ntk(&dag, x.view(), lift, 128, 7).unwrap();
//! let t = emp.theta(archconv::kernel::ntk::NtkVariant::Full);
//! assert_eq!(t.dim(), (4, 4));
//! assert!(t.diag().iter().all(|&v| v > 0.0));
//! ```

use crate::activation::Activation;
use crate::dag::{Dag, Role};
use crate::kernel::exact::Rule;
use crate::kernel::ntk::Ntk;
use crate::kernel::{Inputs, KernelError};
use crate::linalg::gemm;
use crate::model::{EdgeParams, LiftParams};
use crate::plan::{Plan, Step};
use ndarray::{Array1, Array2, ArrayView2, Zip};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

/// Errors of the finite-width simulation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EmpiricalError {
    /// Width zero.
    #[error("width must be at least 1, got 0")]
    ZeroWidth,
    /// Data of the wrong dimension for this network.
    #[error("expected {expected} values, got {got}")]
    Dimension {
        /// Expected size.
        expected: usize,
        /// Given size.
        got: usize,
    },
    /// Bad data.
    #[error(transparent)]
    Data(#[from] KernelError),
}

/// First random stream of the biases (weights use streams `0 ..= edges` and
/// `u64::MAX`); the lift bias uses `BIAS_STREAM`, edge `i`'s bias `BIAS_STREAM + 1 + i`.
const BIAS_STREAM: u64 = 1 << 40;

fn gaussian(rows: usize, cols: usize, seed: u64, stream: u64) -> Array2<f64> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    Array2::from_shape_simple_fn((rows, cols), || StandardNormal.sample(&mut rng))
}

/// `(1/m) A^T B` for `m x N` feature matrices.
fn gram(a: &Array2<f64>, b: &Array2<f64>) -> Array2<f64> {
    let m = a.nrows() as f64;
    gemm(a, true, b) / m
}

/// A width-`m` DAG network in NTK parameterisation (module docs), weights and biases iid
/// `N(0, 1)`.
#[derive(Debug, Clone)]
pub struct Network {
    dag: Dag,
    lift: LiftParams,
    m: usize,
    d: usize,
    w0: Array2<f64>,
    /// Lift bias (only when the lift's `sb2 > 0`).
    b0: Option<Array1<f64>>,
    /// Weight per edge index (linear edges only).
    w: Vec<Option<Array2<f64>>>,
    /// Bias per edge index (linear edges with `sb2 > 0` only).
    b: Vec<Option<Array1<f64>>>,
    v: Array1<f64>,
}

/// Cached forward pass.
struct Forward {
    /// Lift pre-activation (`W0 x / sqrt(d)` on the paper's lifts, `h_0` otherwise).
    z0: Array2<f64>,
    feats: Vec<Array2<f64>>,
    /// Edge pre-activation (`W_e X^s / sqrt(m)` on the paper's edge, `h_e` otherwise).
    z: Vec<Option<Array2<f64>>>,
}

/// Backward signals of one forward pass (`delta^H = v` for every input).
struct Backward {
    delta: Vec<Array2<f64>>,
    /// Weight signal `g_e = sqrt(sw2) phi'(h_e) * delta^t` per linear edge.
    g: Vec<Option<Array2<f64>>>,
    /// Bias signal `gb_e = sqrt(sb2) phi'(h_e) * delta^t` per linear edge with `sb2 > 0`.
    gb: Vec<Option<Array2<f64>>>,
    /// Lift weight signal (`delta^0` summed over inputs, times `sqrt(sw2) phi'(h_0)` for
    /// a stem, `sqrt(sw2)` for a dense lift).
    g0: Array2<f64>,
    /// Lift bias signal (same with `sqrt(sb2)`), when the lift's `sb2 > 0`.
    gb0: Option<Array2<f64>>,
}

fn relu_grad_mask(g: &mut Array2<f64>, z: &Array2<f64>) {
    Zip::from(g).and(z).for_each(|gv, &zz| {
        *gv *= if zz > 0.0 {
            std::f64::consts::SQRT_2
        } else {
            0.0
        }
    });
}

/// `h = sqrt(sw2) z + sqrt(sb2) b` (bias per row), in place.
fn affine(z: &mut Array2<f64>, sw2: f64, bias: Option<(&Array1<f64>, f64)>) {
    let sw = sw2.sqrt();
    match bias {
        Some((b, sb2)) => {
            let sb = sb2.sqrt();
            for (mut row, &bk) in z.rows_mut().into_iter().zip(b.iter()) {
                row.mapv_inplace(|v| sw * v + sb * bk);
            }
        }
        None => z.mapv_inplace(|v| sw * v),
    }
}

/// Weight and bias signals of a parameterized map at pre-activation `h` with incoming
/// signal `delta`: `(sqrt(sw2) phi'(h) * delta, sqrt(sb2) phi'(h) * delta)` (no bias
/// signal when `sb2 = 0`); `phi = None` is the identity (dense lift).
fn signals(
    delta: &Array2<f64>,
    h: &Array2<f64>,
    phi: Option<&Activation>,
    sw2: f64,
    sb2: f64,
) -> (Array2<f64>, Option<Array2<f64>>) {
    let q = match phi {
        Some(a) => Zip::from(delta)
            .and(h)
            .map_collect(|&dl, &hh| a.dphi(hh) * dl),
        None => delta.clone(),
    };
    let gb = (sb2 > 0.0).then(|| {
        let sb = sb2.sqrt();
        q.mapv(|v| sb * v)
    });
    let sw = sw2.sqrt();
    (q.mapv(|v| sw * v), gb)
}

/// Whether the lift is one of the paper's (dense with `sw2 = 1, sb2 = 0`, or the ReLU stem
/// with `sw2 = 2, sb2 = 0`), computed exactly as before general lifts existed.
fn is_paper_lift(lift: &LiftParams) -> bool {
    match lift.stem_params() {
        None => lift.variances() == (1.0, 0.0),
        Some(p) => p.is_paper_relu(),
    }
}

impl Network {
    /// Draws a network for inputs of dimension `d` from `seed` (one independent stream per
    /// weight matrix and bias vector, so results do not depend on thread count). `lift`
    /// is a [`crate::Lift`] (the paper's dense lift or the authors' ReLU stem) or any
    /// [`LiftParams`]; the edges' activations and variances come from
    /// [`crate::Edge::params`]. Biases are drawn only where `sb2 > 0` (elsewhere they
    /// would have no effect), so the paper's network draws exactly the weights it always
    /// did.
    ///
    /// ```
    /// use archconv::{Dag, Lift, empirical_ntk::Network, model::LiftParams};
    /// let a = Network::new(&Dag::dag2(), 3, Lift::ReluStem, 32, 1).unwrap();
    /// let b = Network::new(&Dag::dag2(), 3, LiftParams::relu_stem(), 32, 1).unwrap();
    /// let x = archconv::Inputs::gaussian(3, 3, 0);
    /// assert_eq!(a.outputs(x.view()).unwrap(), b.outputs(x.view()).unwrap());
    /// ```
    pub fn new(
        dag: &Dag,
        d: usize,
        lift: impl Into<LiftParams>,
        width: usize,
        seed: u64,
    ) -> Result<Network, EmpiricalError> {
        if width == 0 {
            return Err(EmpiricalError::ZeroWidth);
        }
        let lift = lift.into();
        let m = width;
        let w = dag
            .edges()
            .iter()
            .enumerate()
            .map(|(ei, e)| match e.role() {
                Role::Layer { .. } => Some(gaussian(m, m, seed, 1 + ei as u64)),
                Role::Identity { .. } | Role::Absent => None,
            })
            .collect();
        let bias = |stream: u64| gaussian(m, 1, seed, stream).column(0).to_owned();
        let b = dag
            .edges()
            .iter()
            .enumerate()
            .map(|(ei, e)| match e.role() {
                Role::Layer { params, .. } => {
                    (params.sb2() > 0.0).then(|| bias(BIAS_STREAM + 1 + ei as u64))
                }
                Role::Identity { .. } | Role::Absent => None,
            })
            .collect();
        let b0 = (lift.variances().1 > 0.0).then(|| bias(BIAS_STREAM));
        Ok(Network {
            dag: dag.clone(),
            lift,
            m,
            d,
            w0: gaussian(m, d, seed, 0),
            b0,
            w,
            b,
            v: gaussian(m, 1, seed, u64::MAX).column(0).to_owned(),
        })
    }

    /// Width `m`.
    pub fn width(&self) -> usize {
        self.m
    }

    /// The lift this network was drawn with.
    pub fn lift_params(&self) -> &LiftParams {
        &self.lift
    }

    /// Forward pass over `plan` (the plan of `self.dag`): node `t` sums its in-edges in
    /// edge order.
    fn forward(&self, plan: &Plan<'_>, xn: &Array2<f64>) -> Forward {
        let (n, m) = (xn.nrows(), self.m);
        let sm = (m as f64).sqrt();
        let mut z0 = gemm(&self.w0, false, &xn.t().to_owned()) / (self.d as f64).sqrt();
        let x0 = if is_paper_lift(&self.lift) {
            match self.lift.stem_params() {
                None => z0.clone(),
                Some(_) => z0.mapv(|v| std::f64::consts::SQRT_2 * v.max(0.0)),
            }
        } else {
            let (sw2, sb2) = self.lift.variances();
            affine(&mut z0, sw2, self.b0.as_ref().map(|b| (b, sb2)));
            match self.lift.stem_params() {
                None => z0.clone(),
                Some(p) => {
                    let a = p.activation();
                    z0.mapv(|v| a.phi(v))
                }
            }
        };
        let nodes = self.dag.num_nodes();
        let mut feats: Vec<Array2<f64>> = Vec::with_capacity(nodes);
        let mut z: Vec<Option<Array2<f64>>> = vec![None; self.dag.edges().len()];
        for t in 0..nodes {
            if self.dag.is_input(t) {
                feats.push(x0.clone());
                continue;
            }
            let mut acc = Array2::<f64>::zeros((m, n));
            for &ei in plan.in_edges(t) {
                match plan.step(ei) {
                    Step::Identity { from } => acc += &feats[from],
                    Step::Layer { from, pid } => {
                        let w = self.w[ei].as_ref().expect("linear edge weight");
                        let mut ze = gemm(w, false, &feats[from]) / sm;
                        let p = plan.params(pid);
                        if p.is_paper_relu() {
                            Zip::from(&mut acc)
                                .and(&ze)
                                .for_each(|a, &zz| *a += std::f64::consts::SQRT_2 * zz.max(0.0));
                        } else {
                            affine(&mut ze, p.sw2(), self.b[ei].as_ref().map(|b| (b, p.sb2())));
                            let act = p.activation();
                            Zip::from(&mut acc)
                                .and(&ze)
                                .for_each(|a, &hh| *a += act.phi(hh));
                        }
                        z[ei] = Some(ze);
                    }
                }
            }
            feats.push(acc);
        }
        Forward { z0, feats, z }
    }

    /// Backward pass over `plan` (the one `fw` was computed with), nodes in reverse
    /// order, each sending its signal back through its own in-edges.
    fn backward(&self, plan: &Plan<'_>, fw: &Forward) -> Backward {
        let (m, n) = (self.m, fw.z0.ncols());
        let sm = (m as f64).sqrt();
        let nodes = self.dag.num_nodes();
        let h = self.dag.output();
        let mut delta: Vec<Array2<f64>> = vec![Array2::zeros((m, n)); nodes];
        for i in 0..n {
            delta[h].column_mut(i).assign(&self.v);
        }
        let edges = self.dag.edges().len();
        let mut g: Vec<Option<Array2<f64>>> = vec![None; edges];
        let mut gb: Vec<Option<Array2<f64>>> = vec![None; edges];
        for t in (0..nodes).rev() {
            for &ei in plan.in_edges(t) {
                match plan.step(ei) {
                    Step::Identity { from } => {
                        // `from < t`: the source's signal lies below the target's.
                        let (below, from_t) = delta.split_at_mut(t);
                        below[from] += &from_t[0];
                    }
                    Step::Layer { from, pid } => {
                        let ze = fw.z[ei].as_ref().expect("forward");
                        let p: &EdgeParams = plan.params(pid);
                        let ge = if p.is_paper_relu() {
                            let mut ge = delta[t].clone();
                            relu_grad_mask(&mut ge, ze);
                            ge
                        } else {
                            let (ge, gbe) =
                                signals(&delta[t], ze, Some(p.activation()), p.sw2(), p.sb2());
                            gb[ei] = gbe;
                            ge
                        };
                        let back = gemm(self.w[ei].as_ref().expect("weight"), true, &ge) / sm;
                        delta[from] += &back;
                        g[ei] = Some(ge);
                    }
                }
            }
        }
        let mut d0 = Array2::<f64>::zeros((m, n));
        for &i in self.dag.inputs() {
            d0 += &delta[i];
        }
        let (g0, gb0) = if is_paper_lift(&self.lift) {
            if self.lift.stem_params().is_some() {
                relu_grad_mask(&mut d0, &fw.z0);
            }
            (d0, None)
        } else {
            let (sw2, sb2) = self.lift.variances();
            let phi = self.lift.stem_params().map(EdgeParams::activation);
            signals(&d0, &fw.z0, phi, sw2, sb2)
        };
        Backward {
            delta,
            g,
            gb,
            g0,
            gb0,
        }
    }

    fn prepare(&self, x: ArrayView2<'_, f64>) -> Result<Array2<f64>, EmpiricalError> {
        // Validation only (shape, finiteness, non-zero data): the coarse lift kind needs
        // no activation dual.
        Inputs::from_data(x, self.lift.kind())?;
        if x.ncols() != self.d {
            return Err(EmpiricalError::Dimension {
                expected: self.d,
                got: x.ncols(),
            });
        }
        Ok(Inputs::normalize_rows(x))
    }

    /// Outputs `u_i = v . X^H_i / sqrt(m)`.
    pub fn outputs(&self, x: ArrayView2<'_, f64>) -> Result<Array1<f64>, EmpiricalError> {
        let xn = self.prepare(x)?;
        let fw = self.forward(&Plan::of(&self.dag), &xn);
        Ok(fw.feats[self.dag.output()].t().dot(&self.v) / (self.m as f64).sqrt())
    }

    /// The empirical NTK, term by term (module docs): each edge term holds the edge's
    /// weights and bias, the lift term the lift's weights and bias.
    pub fn ntk(&self, x: ArrayView2<'_, f64>) -> Result<Ntk, EmpiricalError> {
        let xn = self.prepare(x)?;
        let plan = Plan::of(&self.dag);
        let fw = self.forward(&plan, &xn);
        let bw = self.backward(&plan, &fw);
        let h = self.dag.output();
        let readout = gram(&fw.feats[h], &fw.feats[h]);
        let mut edges = Vec::new();
        for (ei, e) in self.dag.edges().iter().enumerate() {
            if let Some(g) = &bw.g[ei] {
                let mut term = gram(&fw.feats[e.from], &fw.feats[e.from]) * gram(g, g);
                if let Some(gb) = &bw.gb[ei] {
                    term += &gram(gb, gb);
                }
                edges.push((e.clone(), term));
            }
        }
        let xt = xn.t().to_owned();
        let kd = gemm(&xt, true, &xt) / self.d as f64;
        let mut lift_term = kd * gram(&bw.g0, &bw.g0);
        if let Some(gb0) = &bw.gb0 {
            lift_term += &gram(gb0, gb0);
        }
        let backward = bw.delta.iter().map(|dl| gram(dl, dl)).collect();
        // P^lift: the Gram of the summed backward signal of the input nodes.
        let inputs = self.dag.inputs();
        let mut din = bw.delta[inputs[0]].clone();
        for &i in &inputs[1..] {
            din += &bw.delta[i];
        }
        let plift = gram(&din, &din);
        Ok(Ntk::from_parts(
            Rule::Exact,
            self.lift.kind(),
            readout,
            edges,
            lift_term,
            backward,
            plift,
        ))
    }

    /// One full-batch gradient-descent step with step `eta` on
    /// `L = 1/2 sum_i (u_i - y_i)^2`, every parameter trained; returns the loss before
    /// the step. The gradient of `u_i` w.r.t. a weight is rank one (module docs), so
    /// `dL/dW_e = (g_e diag(r)) (X^s)^T / m`, `dL/db_e = gb_e r / sqrt(m)`,
    /// `dL/dv = X^H r / sqrt(m)`, `dL/dW0 = (g_0 diag(r)) X / sqrt(m d)`,
    /// `dL/db0 = gb_0 r / sqrt(m)`, with residual `r = u - y`.
    pub fn gd_step(
        &mut self,
        x: ArrayView2<'_, f64>,
        y: &Array1<f64>,
        eta: f64,
    ) -> Result<f64, EmpiricalError> {
        let xn = self.prepare(x)?;
        if y.len() != xn.nrows() {
            return Err(EmpiricalError::Dimension {
                expected: xn.nrows(),
                got: y.len(),
            });
        }
        let plan = Plan::of(&self.dag);
        let fw = self.forward(&plan, &xn);
        let bw = self.backward(&plan, &fw);
        let sm = (self.m as f64).sqrt();
        let h = self.dag.output();
        let u = fw.feats[h].t().dot(&self.v) / sm;
        let r = &u - y;
        let loss = 0.5 * r.dot(&r);
        let scale_cols = |a: &Array2<f64>| {
            let mut b = a.clone();
            for (mut col, &ri) in b.columns_mut().into_iter().zip(r.iter()) {
                col.mapv_inplace(|v| v * ri);
            }
            b
        };
        let gv = fw.feats[h].dot(&r) / sm;
        for (ei, e) in self.dag.edges().iter().enumerate() {
            if let Some(g) = &bw.g[ei] {
                let grad =
                    gemm(&scale_cols(g), false, &fw.feats[e.from].t().to_owned()) / self.m as f64;
                self.w[ei].as_mut().expect("weight").scaled_add(-eta, &grad);
            }
            if let (Some(gb), Some(b)) = (&bw.gb[ei], self.b[ei].as_mut()) {
                b.scaled_add(-eta / sm, &gb.dot(&r));
            }
        }
        let grad0 = gemm(&scale_cols(&bw.g0), false, &xn) / (self.m as f64 * self.d as f64).sqrt();
        self.w0.scaled_add(-eta, &grad0);
        if let (Some(gb0), Some(b0)) = (&bw.gb0, self.b0.as_mut()) {
            b0.scaled_add(-eta / sm, &gb0.dot(&r));
        }
        self.v.scaled_add(-eta, &gv);
        Ok(loss)
    }
}

/// The empirical NTK of one width-`m` network with weights (and, where `sb2 > 0`, biases)
/// drawn from `seed`, term by term (same layout as the closed form; use [`Ntk::theta`]).
/// `x` is `N x d`, rows are normalised like [`Inputs::from_data`]; `lift` is a
/// [`crate::Lift`] or any [`LiftParams`] (see [`Network::new`]). The result's
/// [`Ntk::backward`] holds the empirical `(1/m) <delta^t_i, delta^t_j>`.
pub fn empirical_ntk(
    dag: &Dag,
    x: ArrayView2<'_, f64>,
    lift: impl Into<LiftParams>,
    width: usize,
    seed: u64,
) -> Result<Ntk, EmpiricalError> {
    Network::new(dag, x.ncols(), lift, width, seed)?.ntk(x)
}
