//! Finite-width empirical NTK of DAG networks by explicit backpropagation (PAPER.md
//! section 8), the referee for [`crate::kernel::ntk`].
//!
//! The network is the one the closed form describes, at width `m`: lift
//! `X^0 = W0 x / sqrt(d)` (dense) or `sqrt(2) relu(W0 x / sqrt(d))` (ReLU stem), linear
//! edges `sqrt(2) relu(W_e X^s / sqrt(m))`, skip edges `X^s`, node = sum of incoming
//! edges, readout `u = v . X^H / sqrt(m)`; all weights iid `N(0, 1)`. Backward signals
//! `delta^t = sqrt(m) du/dX^t` start at `delta^H = v` and flow back through skip edges
//! unchanged and through linear edges as `W_e^T (g_e) / sqrt(m)` with
//! `g_e = sqrt(2) relu'(Z_e) * delta^t`. Each weight's gradient for input `i` is rank one,
//! `g_i x_i^T / m`, so the NTK needs no Jacobian:
//!
//! ```text
//! Theta_ij = (1/m) <X^H_i, X^H_j>                                   readout
//!          + sum_e [(1/m) <X^s_i, X^s_j>] [(1/m) <g_e,i, g_e,j>]    linear edges
//!          + [x_i . x_j / d] [(1/m) <g_0,i, g_0,j>]                  lift
//! ```
//!
//! [`Network`] holds one such network; [`Network::ntk`] gives its empirical NTK term by
//! term and [`Network::gd_step`] takes a full-batch gradient-descent step on
//! `L = 1/2 sum_i (u_i - y_i)^2` (gradients from the same backward pass).
//!
//! ```
//! use archconv::{Dag, Inputs, Lift, empirical_ntk::empirical_ntk, kernel::ntk::NtkVariant};
//! let x = Inputs::gaussian(4, 3, 0);
//! let emp = empirical_ntk(&Dag::dag3(), x.view(), Lift::Dense, 256, 7).unwrap();
//! let theta = emp.theta(NtkVariant::Full);
//! assert_eq!(theta.dim(), (4, 4));
//! ```

use crate::dag::{Dag, Op};
use crate::kernel::exact::Rule;
use crate::kernel::ntk::Ntk;
use crate::kernel::{Inputs, KernelError, Lift};
use crate::linalg::gemm;
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

/// A width-`m` DAG network in NTK parameterisation (module docs), weights iid `N(0, 1)`.
#[derive(Debug, Clone)]
pub struct Network {
    dag: Dag,
    lift: Lift,
    m: usize,
    d: usize,
    w0: Array2<f64>,
    /// Weight per edge index (linear edges only).
    w: Vec<Option<Array2<f64>>>,
    v: Array1<f64>,
}

/// Cached forward pass.
struct Forward {
    z0: Array2<f64>,
    feats: Vec<Array2<f64>>,
    z: Vec<Option<Array2<f64>>>,
}

/// Backward signals of one forward pass (`delta^H = v` for every input).
struct Backward {
    delta: Vec<Array2<f64>>,
    /// `g_e = sqrt(2) relu'(Z_e) * delta^t` per linear edge.
    g: Vec<Option<Array2<f64>>>,
    /// Lift signal (`delta^0` summed over inputs, times `sqrt(2) relu'` for the stem).
    g0: Array2<f64>,
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

impl Network {
    /// Draws a network for inputs of dimension `d` from `seed` (one independent stream per
    /// weight matrix, so results do not depend on thread count).
    pub fn new(
        dag: &Dag,
        d: usize,
        lift: Lift,
        width: usize,
        seed: u64,
    ) -> Result<Network, EmpiricalError> {
        if width == 0 {
            return Err(EmpiricalError::ZeroWidth);
        }
        let m = width;
        let w = dag
            .edges()
            .iter()
            .enumerate()
            .map(|(ei, e)| (e.op == Op::Linear).then(|| gaussian(m, m, seed, 1 + ei as u64)))
            .collect();
        Ok(Network {
            dag: dag.clone(),
            lift,
            m,
            d,
            w0: gaussian(m, d, seed, 0),
            w,
            v: gaussian(m, 1, seed, u64::MAX).column(0).to_owned(),
        })
    }

    /// Width `m`.
    pub fn width(&self) -> usize {
        self.m
    }

    fn forward(&self, xn: &Array2<f64>) -> Forward {
        let (n, m) = (xn.nrows(), self.m);
        let sm = (m as f64).sqrt();
        let z0 = gemm(&self.w0, false, &xn.t().to_owned()) / (self.d as f64).sqrt();
        let x0 = match self.lift {
            Lift::Dense => z0.clone(),
            Lift::ReluStem => z0.mapv(|v| std::f64::consts::SQRT_2 * v.max(0.0)),
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
            for (ei, e) in self
                .dag
                .edges()
                .iter()
                .enumerate()
                .filter(|(_, e)| e.to == t)
            {
                match e.op {
                    Op::Skip => acc += &feats[e.from],
                    Op::Linear => {
                        let w = self.w[ei].as_ref().expect("linear edge weight");
                        let ze = gemm(w, false, &feats[e.from]) / sm;
                        Zip::from(&mut acc)
                            .and(&ze)
                            .for_each(|a, &zz| *a += std::f64::consts::SQRT_2 * zz.max(0.0));
                        z[ei] = Some(ze);
                    }
                    Op::Zero => {}
                }
            }
            feats.push(acc);
        }
        Forward { z0, feats, z }
    }

    fn backward(&self, fw: &Forward) -> Backward {
        let (m, n) = (self.m, fw.z0.ncols());
        let sm = (m as f64).sqrt();
        let nodes = self.dag.num_nodes();
        let h = self.dag.output();
        let mut delta: Vec<Array2<f64>> = vec![Array2::zeros((m, n)); nodes];
        for i in 0..n {
            delta[h].column_mut(i).assign(&self.v);
        }
        let mut g: Vec<Option<Array2<f64>>> = vec![None; self.dag.edges().len()];
        for t in (0..nodes).rev() {
            for (ei, e) in self
                .dag
                .edges()
                .iter()
                .enumerate()
                .filter(|(_, e)| e.to == t)
            {
                match e.op {
                    Op::Skip => {
                        let dt = delta[t].clone();
                        delta[e.from] += &dt;
                    }
                    Op::Linear => {
                        let mut ge = delta[t].clone();
                        relu_grad_mask(&mut ge, fw.z[ei].as_ref().expect("forward"));
                        let back = gemm(self.w[ei].as_ref().expect("weight"), true, &ge) / sm;
                        delta[e.from] += &back;
                        g[ei] = Some(ge);
                    }
                    Op::Zero => {}
                }
            }
        }
        let mut g0 = Array2::<f64>::zeros((m, n));
        for &i in self.dag.inputs() {
            g0 += &delta[i];
        }
        if self.lift == Lift::ReluStem {
            relu_grad_mask(&mut g0, &fw.z0);
        }
        Backward { delta, g, g0 }
    }

    fn prepare(&self, x: ArrayView2<'_, f64>) -> Result<Array2<f64>, EmpiricalError> {
        Inputs::from_data(x, self.lift)?;
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
        let fw = self.forward(&xn);
        Ok(fw.feats[self.dag.output()].t().dot(&self.v) / (self.m as f64).sqrt())
    }

    /// The empirical NTK, term by term (module docs).
    pub fn ntk(&self, x: ArrayView2<'_, f64>) -> Result<Ntk, EmpiricalError> {
        let xn = self.prepare(x)?;
        let fw = self.forward(&xn);
        let bw = self.backward(&fw);
        let h = self.dag.output();
        let readout = gram(&fw.feats[h], &fw.feats[h]);
        let mut edges = Vec::new();
        for (ei, e) in self.dag.edges().iter().enumerate() {
            if let Some(g) = &bw.g[ei] {
                edges.push((
                    e.clone(),
                    gram(&fw.feats[e.from], &fw.feats[e.from]) * gram(g, g),
                ));
            }
        }
        let xt = xn.t().to_owned();
        let kd = gemm(&xt, true, &xt) / self.d as f64;
        let lift_term = kd * gram(&bw.g0, &bw.g0);
        let backward = bw.delta.iter().map(|dl| gram(dl, dl)).collect();
        Ok(Ntk::from_parts(
            Rule::Exact,
            self.lift,
            readout,
            edges,
            lift_term,
            backward,
        ))
    }

    /// One full-batch gradient-descent step with step `eta` on
    /// `L = 1/2 sum_i (u_i - y_i)^2`, every parameter trained; returns the loss before
    /// the step. The gradient of `u_i` w.r.t. a weight is rank one (module docs), so
    /// `dL/dW_e = (g_e diag(r)) (X^s)^T / m`, `dL/dv = X^H r / sqrt(m)`,
    /// `dL/dW0 = (g_0 diag(r)) X / sqrt(m d)`, with residual `r = u - y`.
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
        let fw = self.forward(&xn);
        let bw = self.backward(&fw);
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
        }
        let grad0 = gemm(&scale_cols(&bw.g0), false, &xn) / (self.m as f64 * self.d as f64).sqrt();
        self.w0.scaled_add(-eta, &grad0);
        self.v.scaled_add(-eta, &gv);
        Ok(loss)
    }
}

/// The empirical NTK of one width-`m` network with weights drawn from `seed`, term by
/// term (same layout as the closed form; use [`Ntk::theta`]). `x` is `N x d`, rows are
/// normalised like [`Inputs::from_data`]. The result's [`Ntk::backward`] holds the
/// empirical `(1/m) <delta^t_i, delta^t_j>`.
pub fn empirical_ntk(
    dag: &Dag,
    x: ArrayView2<'_, f64>,
    lift: Lift,
    width: usize,
    seed: u64,
) -> Result<Ntk, EmpiricalError> {
    Network::new(dag, x.ncols(), lift, width, seed)?.ntk(x)
}
