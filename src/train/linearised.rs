//! Beyond the paper: the exact NTK's predicted training curve against finite-width
//! gradient descent (issue 14, study 4a).
//!
//! The network is the one the closed form describes, [`crate::empirical_ntk::Network`]
//! (NTK parameterisation, every parameter trained, the authors' ReLU stem), trained by
//! full-batch gradient descent with step `eta` on `L = 1/2 ||u - y||^2`. At infinite
//! width it is its linearisation, whose residual after `k` steps is
//! `r_k = (I - eta Theta)^k r_0` with the exact NTK `Theta` (Jacot et al. 2018; Lee et
//! al. 2019). Two predictions are drawn from it:
//!
//! * **expected** over initialisations ([`crate::predict::NtkDynamics::expected_train_loss`]):
//!   `E L_k = 1/2 ||(I - eta Theta)^k y||^2 + 1/2 tr((I - eta Theta)^k K (I - eta Theta)^k)`,
//!   `K` the NNGP (the covariance of the initial outputs);
//! * **conditional** on each network's measured initial outputs `u_0`:
//!   `L_k = 1/2 ||(I - eta Theta)^k (y - u_0)||^2`. The initial outputs are an `O(1)`
//!   Gaussian draw at every width, so only this prediction's gap can shrink with width.
//!
//! Measured per width `m` and seed: the gap `max_k |L_k^meas - L_k^pred| / L_0^meas`; per
//! DAG, the least-squares slope of `log gap` against `log m` (finite-width corrections to
//! the NTK and its drift during training are `O(m^-1/2)`, so about `-1/2` is expected).
//! The step is `eta = lr_fraction / lambda_max(Theta)` (the same fraction for every DAG).

use super::fig4::mean_std;
use crate::data::{self, Split};
use crate::empirical_ntk::{EmpiricalError, Network};
use crate::kernel::ntk::NtkVariant;
use crate::kernel::{KernelFn, KernelKind, Lift};
use crate::predict::{NtkDynamics, PredictError, Time};
use crate::Dag;
use ndarray::{Array1, Array2, ArrayView2};
use serde::Serialize;
use std::path::Path;

/// Why the study could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LinearisedError {
    /// A data file is missing or corrupt.
    #[error(transparent)]
    Data(#[from] data::DataError),
    /// A kernel could not be computed.
    #[error(transparent)]
    Kernel(#[from] crate::kernel::KernelError),
    /// A prediction failed.
    #[error(transparent)]
    Predict(#[from] PredictError),
    /// A finite-width network failed.
    #[error(transparent)]
    Empirical(#[from] EmpiricalError),
    /// The budget cannot give a slope or a curve.
    #[error("invalid budget: {0}")]
    Budget(String),
}

/// Sizes of the study.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinearisedBudget {
    /// Name (`quick`, `default`, `full`).
    pub name: String,
    /// Training points (first MNIST training images).
    pub n: usize,
    /// Widths `m`.
    pub widths: Vec<usize>,
    /// Seeds per width.
    pub seeds: usize,
    /// Gradient-descent steps.
    pub steps: usize,
    /// `eta lambda_max(Theta)`.
    pub lr_fraction: f64,
}

impl LinearisedBudget {
    /// Seconds: N = 32, widths 64-256, 2 seeds, 10 steps.
    pub fn quick() -> LinearisedBudget {
        LinearisedBudget {
            name: "quick".into(),
            n: 32,
            widths: vec![64, 128, 256],
            seeds: 2,
            steps: 10,
            lr_fraction: 1.0,
        }
    }

    /// Several minutes on 2 cores: N = 128, widths 256-4096, 2 seeds, 30 steps.
    pub fn default_budget() -> LinearisedBudget {
        LinearisedBudget {
            name: "default".into(),
            n: 128,
            widths: vec![256, 512, 1024, 2048, 4096],
            seeds: 2,
            steps: 30,
            lr_fraction: 1.0,
        }
    }

    /// N = 256, widths 256-4096, 4 seeds, 100 steps (an hour or more on 2 cores).
    pub fn full() -> LinearisedBudget {
        LinearisedBudget {
            name: "full".into(),
            n: 256,
            widths: vec![256, 512, 1024, 2048, 4096],
            seeds: 4,
            steps: 100,
            lr_fraction: 1.0,
        }
    }
}

/// One width of one DAG.
#[derive(Debug, Clone, Serialize)]
pub struct WidthResult {
    /// Width `m`.
    pub width: usize,
    /// Measured loss per step `0..=steps`, mean over seeds.
    pub measured_mean: Vec<f64>,
    /// Its standard deviation over seeds.
    pub measured_std: Vec<f64>,
    /// Relative gap to the conditional prediction, per seed.
    pub gaps: Vec<f64>,
    /// Mean gap over seeds.
    pub gap_mean: f64,
}

/// One DAG's results.
#[derive(Debug, Clone, Serialize)]
pub struct DagLinearised {
    /// `DAG#1`..`DAG#3` or a code.
    pub dag: String,
    /// `lambda_max` of the exact NTK on the training points.
    pub lambda_max: f64,
    /// `lambda_min` of the exact NTK.
    pub lambda_min: f64,
    /// The step `eta`.
    pub lr: f64,
    /// The expected loss per step (over initialisations).
    pub expected: Vec<f64>,
    /// Per width.
    pub widths: Vec<WidthResult>,
    /// Least-squares slope of `ln gap_mean` on `ln m` (`None` below two widths).
    pub slope: Option<f64>,
    /// Its standard error (`None` below three widths).
    pub slope_se: Option<f64>,
}

/// The study's results.
#[derive(Debug, Clone, Serialize)]
pub struct LinearisedStudy {
    /// The budget.
    pub budget: LinearisedBudget,
    /// What the targets are.
    pub target: String,
    /// Per DAG.
    pub dags: Vec<DagLinearised>,
}

/// The first `n` MNIST training images (standardised as the authors do) with the scalar
/// target `+1` for digits 0-4 and `-1` for 5-9.
pub fn mnist_halves(dir: &Path, n: usize) -> Result<(Array2<f64>, Array1<f64>), data::DataError> {
    let mut d = data::load_mnist(dir, Split::Train)?.head(n);
    let (m, s) = data::MNIST_NORMALIZE;
    d.standardize(&m, &s);
    let y =
        d.y.iter()
            .map(|&c| if c < 5 { 1.0 } else { -1.0 })
            .collect();
    Ok((d.x_f64(), y))
}

/// `(slope, standard error)` of the least-squares line of `y` on `x`.
pub fn ls_slope(x: &[f64], y: &[f64]) -> (Option<f64>, Option<f64>) {
    let n = x.len();
    if n < 2 || y.len() != n {
        return (None, None);
    }
    let mx = x.iter().sum::<f64>() / n as f64;
    let my = y.iter().sum::<f64>() / n as f64;
    let sxx: f64 = x.iter().map(|v| (v - mx).powi(2)).sum();
    if sxx <= 0.0 {
        return (None, None);
    }
    let b = x
        .iter()
        .zip(y)
        .map(|(u, v)| (u - mx) * (v - my))
        .sum::<f64>()
        / sxx;
    let se = (n > 2).then(|| {
        let rss: f64 = x
            .iter()
            .zip(y)
            .map(|(u, v)| (v - my - b * (u - mx)).powi(2))
            .sum();
        (rss / (n - 2) as f64 / sxx).sqrt()
    });
    (Some(b), se)
}

/// Runs one DAG (module docs) on points `x` (`N x d`) with scalar targets `y`.
pub fn linearised_dag(
    name: &str,
    dag: &Dag,
    x: ArrayView2<'_, f64>,
    y: &Array1<f64>,
    budget: &LinearisedBudget,
    progress: &mut dyn FnMut(&str),
) -> Result<DagLinearised, LinearisedError> {
    if budget.widths.is_empty() || budget.seeds == 0 || budget.steps == 0 {
        return Err(LinearisedError::Budget(
            "needs at least one width, one seed and one step".into(),
        ));
    }
    if !(budget.lr_fraction > 0.0 && budget.lr_fraction < 2.0) {
        return Err(LinearisedError::Budget(format!(
            "lr_fraction {} must lie in (0, 2) for gradient descent to converge",
            budget.lr_fraction
        )));
    }
    let kf = KernelFn::new(dag, Lift::ReluStem, KernelKind::Exact);
    let theta = kf.ntk(x, None, NtkVariant::Full)?;
    let k = kf.nngp(x, None)?;
    let ycol = y.clone().insert_axis(ndarray::Axis(1));
    let exp = NtkDynamics::new(&theta, &ycol)?;
    let lambda_max = exp.lambda_max();
    let lambda_min = exp
        .eigenvalues()
        .iter()
        .fold(f64::INFINITY, |a, &b| a.min(b));
    let lr = budget.lr_fraction / lambda_max;
    let at = |s: usize| Time::Steps {
        lr,
        steps: s as u64,
    };
    let expected = (0..=budget.steps)
        .map(|s| exp.expected_train_loss(&k, at(s)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut widths = Vec::new();
    for &m in &budget.widths {
        let mut curves = Vec::new();
        let mut gaps = Vec::new();
        for seed in 0..budget.seeds as u64 {
            progress(&format!("  {name} width {m} seed {seed}"));
            let mut net = Network::new(dag, x.ncols(), Lift::ReluStem, m, seed)?;
            let u0 = net.outputs(x)?;
            let cond = NtkDynamics::new(&theta, &(y - &u0).insert_axis(ndarray::Axis(1)))?;
            let mut meas = Vec::with_capacity(budget.steps + 1);
            for _ in 0..budget.steps {
                meas.push(net.gd_step(x, y, lr)?);
            }
            let r = &net.outputs(x)? - y;
            meas.push(0.5 * r.dot(&r));
            let mut gap = 0.0f64;
            for (s, &l) in meas.iter().enumerate() {
                gap = gap.max((l - cond.train_loss(at(s))?).abs());
            }
            gaps.push(gap / meas[0]);
            curves.push(meas);
        }
        let (mut mean, mut std) = (Vec::new(), Vec::new());
        for s in 0..=budget.steps {
            let col: Vec<f64> = curves.iter().map(|c| c[s]).collect();
            let (a, b) = mean_std(&col);
            mean.push(a);
            std.push(b);
        }
        let gap_mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        widths.push(WidthResult {
            width: m,
            measured_mean: mean,
            measured_std: std,
            gaps,
            gap_mean,
        });
    }
    let lx: Vec<f64> = widths.iter().map(|w| (w.width as f64).ln()).collect();
    let ly: Vec<f64> = widths.iter().map(|w| w.gap_mean.ln()).collect();
    let (slope, slope_se) = ls_slope(&lx, &ly);
    Ok(DagLinearised {
        dag: name.to_string(),
        lambda_max,
        lambda_min,
        lr,
        expected,
        widths,
        slope,
        slope_se,
    })
}

/// Runs DAG#1-#3 on the MNIST images in `dir` (module docs).
pub fn linearised(
    dir: &Path,
    budget: &LinearisedBudget,
    progress: &mut dyn FnMut(&str),
) -> Result<LinearisedStudy, LinearisedError> {
    let (x, y) = mnist_halves(dir, budget.n)?;
    let mut dags = Vec::new();
    for (name, dag) in Dag::paper_dags() {
        dags.push(linearised_dag(name, &dag, x.view(), &y, budget, progress)?);
    }
    Ok(LinearisedStudy {
        budget: budget.clone(),
        target: format!(
            "first {} MNIST training images, y = +1 for digits 0-4 and -1 for 5-9",
            x.nrows()
        ),
        dags,
    })
}
