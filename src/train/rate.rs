//! Beyond the paper: does the convergence rate of Thm 3.1 show up in training?
//!
//! Full-batch gradient descent with a fixed small step on MSE, real points (an MNIST
//! subset), DAG#1/#2/#3 at large width and several seeds. Measured: the per-step
//! contraction of the squared residual `||y - u(k)||^2`, as the geometric mean
//! `rho = (||r_K||^2 / ||r_0||^2)^(1/K)` over all `K` steps and over the last half.
//! Predicted (Thm 3.1): `1 - eta' lambda_min(K^H) / 2` for each closed-form kernel
//! (path-sum, independent-branch, exact) on the same points with the authors' ReLU stem
//! (`Inputs::from_data(x, Lift::ReluStem)`).
//!
//! **Scale convention.** The network is trained in PyTorch's standard parameterisation
//! (weights `N(0, 2/fan_in)`) on the mean-reduced MSE `L = (1/(N C)) ||U - Y||_F^2` with
//! step `eta`. Its readout alone contributes `X^H (X^H)^T = m K^H` (`K^H` in the kernel
//! convention: node features with O(1) coordinates, inputs normalised to
//! `||x_i||^2 = d` so `K^0_ii = 1`), so the residual evolves as
//! `r <- r - (2 eta / (N C)) Theta r` with `Theta >= m K^H` (the other layers add positive
//! semi-definite terms). The theorem's step on `(1/2) ||r||^2` in the kernel convention
//! is therefore `eta' = 2 eta m / (N C)`; each class column of `r` evolves with the same
//! kernel. We choose `eta` so that `eta' lambda_max(K^H_exact) = step_fraction` for the
//! DAG with the largest `lambda_max` (the same `eta` for all three DAGs: a fixed learning
//! rate, the paper's setting). Because `Theta >= m K^H`, the measured contraction should
//! be at least as fast as the readout-only linearised prediction, which the report
//! checks.

use super::fig4::mean_std;
use super::loss::{loss_and_grad, Loss};
use super::model::DagMlp;
use super::TrainError;
use crate::data::{self, Dataset, Split};
use crate::kernel::{Inputs, KernelError, KernelKind, Lift};
use crate::spectrum::{lambda_max, lambda_min, SpectrumError};
use crate::Dag;
use ndarray::{Array2, ArrayView2};
use serde::Serialize;
use std::path::Path;

/// Why the rate test could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RateError {
    /// Reading MNIST failed (a missing file names the expected path and how to obtain it).
    #[error(transparent)]
    Data(#[from] data::DataError),
    /// Building or training a network failed (for instance the loss diverged).
    #[error(transparent)]
    Train(#[from] TrainError),
    /// The points cannot be normalised or their kernel computed.
    #[error(transparent)]
    Kernel(#[from] KernelError),
    /// An eigenvalue of a kernel could not be computed.
    #[error(transparent)]
    Spectrum(#[from] SpectrumError),
}

/// Sizes of the rate test.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RateBudget {
    /// Name (`quick`, `default`, `full`).
    pub name: String,
    /// Number of points `N`.
    pub n: usize,
    /// Width `m`.
    pub width: usize,
    /// Gradient-descent steps.
    pub steps: usize,
    /// Seeds per DAG.
    pub seeds: usize,
    /// `eta' lambda_max(K^H_exact)` of the DAG with the largest `lambda_max`.
    pub step_fraction: f64,
}

impl RateBudget {
    /// Seconds on 2 cores: N = 128, width 512, 10 steps, 2 seeds.
    pub fn quick() -> RateBudget {
        RateBudget {
            name: "quick".into(),
            n: 128,
            width: 512,
            steps: 10,
            seeds: 2,
            step_fraction: 0.25,
        }
    }

    /// A few minutes on 2 cores: N = 256, width 2048, 20 steps, 3 seeds.
    pub fn default_budget() -> RateBudget {
        RateBudget {
            name: "default".into(),
            n: 256,
            width: 2048,
            steps: 20,
            seeds: 3,
            step_fraction: 0.25,
        }
    }

    /// N = 512, width 8192, 100 steps, 5 seeds (hours on 2 cores).
    pub fn full() -> RateBudget {
        RateBudget {
            name: "full".into(),
            n: 512,
            width: 8192,
            steps: 100,
            seeds: 5,
            step_fraction: 0.25,
        }
    }
}

/// One kernel's prediction for one DAG.
#[derive(Debug, Clone, Serialize)]
pub struct KernelPrediction {
    /// `path-sum`, `independent-branch`, `exact`.
    pub kernel: String,
    /// `lambda_min(K^H)`.
    pub lambda_min: f64,
    /// `lambda_min / mean diagonal`.
    pub normalized_lambda_min: f64,
    /// `1 - eta' lambda_min / 2`.
    pub predicted_rate: f64,
}

/// Results for one DAG.
#[derive(Debug, Clone, Serialize)]
pub struct RateRow {
    /// `DAG#1` ...
    pub dag: String,
    /// MLP code.
    pub code: String,
    /// One prediction per kernel.
    pub predictions: Vec<KernelPrediction>,
    /// `lambda_max(K^H_exact)`.
    pub lambda_max_exact: f64,
    /// Per-seed measured rate over all steps.
    pub measured: Vec<f64>,
    /// Mean and std of `measured`.
    pub measured_mean: f64,
    /// Std across seeds.
    pub measured_std: f64,
    /// Mean over seeds of the rate over the last half of the steps.
    pub late_mean: f64,
    /// Std across seeds of the late rate.
    pub late_std: f64,
    /// Rate of the readout-only linearised dynamics `r <- (I - eta' K^H_exact) r` from
    /// each seed's actual `r(0)`, mean over seeds.
    pub readout_linearized_rate: f64,
    /// `||r_k||^2 / ||r_0||^2`, mean over seeds, `k = 0..=K`.
    pub residual_curve: Vec<f64>,
    /// Std across seeds of the same.
    pub residual_curve_std: Vec<f64>,
}

/// The rate test's results.
#[derive(Debug, Clone, Serialize)]
pub struct RateReport {
    /// Budget.
    pub budget: RateBudget,
    /// Data description.
    pub source: String,
    /// Input dimension.
    pub d: usize,
    /// Classes (output columns).
    pub classes: usize,
    /// The network's learning rate `eta`.
    pub lr: f64,
    /// The kernel-convention step `eta' = 2 eta m / (N C)`.
    pub eta_kernel: f64,
    /// Rows for DAG#1, #2, #3.
    pub rows: Vec<RateRow>,
    /// For each kernel: DAG names by predicted `lambda_min`, ascending (slowest first).
    pub predicted_order: Vec<(String, Vec<String>)>,
    /// DAG names by measured rate, slowest (largest rho) first.
    pub measured_order: Vec<String>,
}

fn order_by(rows: &[RateRow], key: impl Fn(&RateRow) -> f64) -> Vec<String> {
    let mut v: Vec<(String, f64)> = rows.iter().map(|r| (r.dag.clone(), key(r))).collect();
    v.sort_by(|a, b| a.1.total_cmp(&b.1));
    v.into_iter().map(|(n, _)| n).collect()
}

/// One full-batch GD run: squared residuals `||Y - U(k)||_F^2`, `k = 0..=steps`, and the
/// initial residual `R(0) = U(0) - Y`.
#[allow(clippy::too_many_arguments)]
pub fn gd_residuals(
    dag: &Dag,
    x: ArrayView2<'_, f32>,
    y: &[u8],
    classes: usize,
    width: usize,
    lr: f64,
    steps: usize,
    seed: u64,
) -> Result<(Vec<f64>, Array2<f64>), TrainError> {
    let mut net = DagMlp::<f32>::new(dag, x.ncols(), width, classes, seed)?;
    let mut res = Vec::with_capacity(steps + 1);
    let mut r0 = Array2::zeros((0, 0));
    for k in 0..=steps {
        let f = net.forward(x)?;
        let out = loss_and_grad(Loss::Mse, f.logits.view(), y);
        if !out.loss.is_finite() {
            return Err(TrainError::Diverged {
                epoch: k,
                step: k,
                loss: out.loss,
            });
        }
        res.push(out.residual_sq);
        if k == 0 {
            r0 = Array2::from_shape_fn(f.logits.dim(), |(i, c)| {
                f64::from(f.logits[[i, c]]) - if usize::from(y[i]) == c { 1.0 } else { 0.0 }
            });
        }
        if k == steps {
            break;
        }
        let g = net.backward(x, &f, out.grad.view())?;
        drop(f);
        net.sgd_step(&g, lr);
    }
    Ok((res, r0))
}

fn rate(r: &[f64], from: usize) -> f64 {
    let k = r.len() - 1 - from;
    (r[r.len() - 1] / r[from]).powf(1.0 / k.max(1) as f64)
}

/// Runs the rate test on points `x` (`N x d`, any scale; rows are normalised to
/// `||x_i||^2 = d`) with labels `y` (one-hot MSE targets).
pub fn rate_test(
    x: &Array2<f64>,
    y: &[u8],
    classes: usize,
    budget: &RateBudget,
    source: &str,
    progress: &mut dyn FnMut(&str),
) -> Result<RateReport, RateError> {
    let (n, d) = x.dim();
    let mut xn = x.clone();
    for (i, mut row) in xn.rows_mut().into_iter().enumerate() {
        let s = row.dot(&row);
        if s <= 0.0 {
            return Err(KernelError::NotGram {
                i,
                j: i,
                why: "zero data row cannot be normalised".into(),
            }
            .into());
        }
        row.mapv_inplace(|v| v * (d as f64 / s).sqrt());
    }
    let inputs = Inputs::from_data(xn.view(), Lift::ReluStem)?;
    let mut kernels = Vec::new();
    let mut lmax_all: f64 = 0.0;
    for (name, dag) in Dag::paper_dags() {
        let mut preds = Vec::new();
        let mut exact_gram = None;
        for kind in KernelKind::ALL {
            let g = inputs.kernel(&dag, kind)?.into_output_gram();
            let lmin = lambda_min(&g)?;
            let mean_diag = g.diag().mean().unwrap_or(f64::NAN);
            preds.push((kind, lmin, lmin / mean_diag));
            if kind == KernelKind::Exact {
                exact_gram = Some(g);
            }
        }
        let g = exact_gram.expect("exact kernel computed");
        let lmax = lambda_max(&g)?;
        lmax_all = lmax_all.max(lmax);
        kernels.push((name, dag, preds, g, lmax));
    }
    let eta_kernel = budget.step_fraction / lmax_all;
    let lr = eta_kernel * (n * classes) as f64 / (2.0 * budget.width as f64);
    let xf = xn.mapv(|v| v as f32);
    let mut rows = Vec::new();
    for (name, dag, preds, g, lmax) in kernels {
        let mut measured = Vec::new();
        let mut late = Vec::new();
        let mut curves = Vec::new();
        let mut lin = Vec::new();
        for seed in 0..budget.seeds as u64 {
            let t0 = std::time::Instant::now();
            let (res, r0) = gd_residuals(
                &dag,
                xf.view(),
                y,
                classes,
                budget.width,
                lr,
                budget.steps,
                seed,
            )?;
            measured.push(rate(&res, 0));
            late.push(rate(&res, budget.steps / 2));
            curves.push(res.iter().map(|v| v / res[0]).collect::<Vec<f64>>());
            // Readout-only linearised dynamics from the same r(0).
            let mut r = r0;
            let s0: f64 = r.iter().map(|v| v * v).sum();
            for _ in 0..budget.steps {
                r = &r - &(g.dot(&r) * eta_kernel);
            }
            let sk: f64 = r.iter().map(|v| v * v).sum();
            lin.push((sk / s0).powf(1.0 / budget.steps.max(1) as f64));
            progress(&format!(
                "  rate {name} seed {seed}: rho = {:.6} over {} steps ({:.1} s)",
                measured.last().expect("pushed"),
                budget.steps,
                t0.elapsed().as_secs_f64()
            ));
        }
        let (mm, ms) = mean_std(&measured);
        let (lm, ls) = mean_std(&late);
        let mut cm = Vec::new();
        let mut cs = Vec::new();
        for k in 0..=budget.steps {
            let v: Vec<f64> = curves.iter().map(|c| c[k]).collect();
            let (a, b) = mean_std(&v);
            cm.push(a);
            cs.push(b);
        }
        rows.push(RateRow {
            dag: name.into(),
            code: dag.describe(),
            predictions: preds
                .into_iter()
                .map(|(kind, l, nl)| KernelPrediction {
                    kernel: kind.name().into(),
                    lambda_min: l,
                    normalized_lambda_min: nl,
                    predicted_rate: 1.0 - eta_kernel * l / 2.0,
                })
                .collect(),
            lambda_max_exact: lmax,
            measured,
            measured_mean: mm,
            measured_std: ms,
            late_mean: lm,
            late_std: ls,
            readout_linearized_rate: mean_std(&lin).0,
            residual_curve: cm,
            residual_curve_std: cs,
        });
    }
    let predicted_order = KernelKind::ALL
        .iter()
        .enumerate()
        .map(|(k, kind)| {
            (
                kind.name().to_string(),
                order_by(&rows, |r| r.predictions[k].lambda_min),
            )
        })
        .collect();
    let measured_order = order_by(&rows, |r| -r.measured_mean);
    Ok(RateReport {
        budget: budget.clone(),
        source: source.into(),
        d,
        classes,
        lr,
        eta_kernel,
        rows,
        predicted_order,
        measured_order,
    })
}

/// The first `budget.n` MNIST training images (pixels in `[0, 1]`).
pub fn mnist_points(dir: &Path, n: usize) -> Result<Dataset, RateError> {
    Ok(data::load_mnist(dir, Split::Train)?.head(n))
}
