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
use ndarray::{Array2, ArrayView2, Zip};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

/// Errors of the finite-width simulation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EmpiricalError {
    /// Width zero.
    #[error("width must be at least 1, got 0")]
    ZeroWidth,
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
    if width == 0 {
        return Err(EmpiricalError::ZeroWidth);
    }
    // Validate through the closed-form constructor (finite, >= 2 points, >= 1 feature).
    Inputs::from_data(x, lift)?;
    let xn = Inputs::normalize_rows(x);
    let (n, d) = xn.dim();
    let m = width;
    let sm = (m as f64).sqrt();
    // Lift: pre-activation Z0 = W0 x^T / sqrt(d)  (m x N).
    let w0 = gaussian(m, d, seed, 0);
    let z0 = gemm(&w0, false, &xn.t().to_owned()) / (d as f64).sqrt();
    let x0 = match lift {
        Lift::Dense => z0.clone(),
        Lift::ReluStem => z0.mapv(|v| std::f64::consts::SQRT_2 * v.max(0.0)),
    };
    let nodes = dag.num_nodes();
    let mut feats: Vec<Array2<f64>> = Vec::with_capacity(nodes);
    // Per linear edge: (edge index, weight, pre-activation).
    let mut lin: Vec<(usize, Array2<f64>, Array2<f64>)> = Vec::new();
    for t in 0..nodes {
        if dag.is_input(t) {
            feats.push(x0.clone());
            continue;
        }
        let mut acc = Array2::<f64>::zeros((m, n));
        for (ei, e) in dag.edges().iter().enumerate().filter(|(_, e)| e.to == t) {
            match e.op {
                Op::Skip => acc += &feats[e.from],
                Op::Linear => {
                    let w = gaussian(m, m, seed, 1 + ei as u64);
                    let z = gemm(&w, false, &feats[e.from]) / sm;
                    Zip::from(&mut acc)
                        .and(&z)
                        .for_each(|a, &zz| *a += std::f64::consts::SQRT_2 * zz.max(0.0));
                    lin.push((ei, w, z));
                }
                Op::Zero => {}
            }
        }
        feats.push(acc);
    }
    let h = dag.output();
    // Backward: delta^H = v for every input (columns identical).
    let v = gaussian(m, 1, seed, u64::MAX);
    let mut delta: Vec<Array2<f64>> = vec![Array2::zeros((m, n)); nodes];
    for i in 0..n {
        delta[h].column_mut(i).assign(&v.column(0));
    }
    let mut g_edges: Vec<Option<Array2<f64>>> = vec![None; dag.edges().len()];
    for t in (0..nodes).rev() {
        for (ei, e) in dag.edges().iter().enumerate().filter(|(_, e)| e.to == t) {
            match e.op {
                Op::Skip => {
                    let dt = delta[t].clone();
                    delta[e.from] += &dt;
                }
                Op::Linear => {
                    let (_, w, z) = lin.iter().find(|(i, _, _)| *i == ei).expect("recorded");
                    let mut g = delta[t].clone();
                    Zip::from(&mut g).and(z).for_each(|gv, &zz| {
                        *gv *= if zz > 0.0 {
                            std::f64::consts::SQRT_2
                        } else {
                            0.0
                        }
                    });
                    let back = gemm(w, true, &g) / sm;
                    delta[e.from] += &back;
                    g_edges[ei] = Some(g);
                }
                Op::Zero => {}
            }
        }
    }
    let readout = gram(&feats[h], &feats[h]);
    let mut edges = Vec::new();
    for (ei, e) in dag.edges().iter().enumerate() {
        if let Some(g) = &g_edges[ei] {
            edges.push((e.clone(), gram(&feats[e.from], &feats[e.from]) * gram(g, g)));
        }
    }
    // Lift: the inputs share W0, so its signal is the sum of the input nodes' deltas.
    let mut d0 = Array2::<f64>::zeros((m, n));
    for &i in dag.inputs() {
        d0 += &delta[i];
    }
    if lift == Lift::ReluStem {
        Zip::from(&mut d0).and(&z0).for_each(|gv, &zz| {
            *gv *= if zz > 0.0 {
                std::f64::consts::SQRT_2
            } else {
                0.0
            }
        });
    }
    let kd = gemm(&xn.t().to_owned(), true, &xn.t().to_owned()) / d as f64;
    let lift_term = kd * gram(&d0, &d0);
    let backward = delta.iter().map(|dl| gram(dl, dl)).collect();
    Ok(Ntk::from_parts(
        Rule::Exact,
        lift,
        readout,
        edges,
        lift_term,
        backward,
    ))
}
