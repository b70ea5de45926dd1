//! The step-size question (PAPER.md section 8): does the raw or the normalised
//! `lambda_min` of the NTK predict how fast gradient descent trains a DAG network?
//!
//! For each DAG, finite-width networks ([`crate::empirical_ntk::Network`], all parameters
//! trained, NTK parameterisation) are trained by full-batch gradient descent on
//! `L = 1/2 ||u - y||^2` with
//!
//! * (a) one fixed step for all DAGs, `eta = 1 / max_DAG lambda_max(Theta)` (the paper's
//!   setting: the same learning rate everywhere), and
//! * (b) a step tuned to each network, `eta = 1 / lambda_max(Theta)`.
//!
//! The measured per-step contraction is `rho = (||r_K||^2 / ||r_0||^2)^(1/K)`. Two
//! predictions from the exact NTK `Theta` (closed form, [`crate::kernel::ntk`]): the
//! linearised dynamics from the same initial residual,
//! `r_K = (I - eta Theta)^K r_0 = sum_k (1 - eta lambda_k)^K (q_k . r_0) q_k`, and the
//! worst-case rate `(1 - eta lambda_min)^2` of the slowest eigendirection (the paper's
//! Thm 3.1 writes `1 - eta lambda_min / 2` for its own normalisation).
//!
//! ```
//! use archconv::stepsize::{step_size_study, StepSizeOptions};
//! use archconv::Inputs;
//! let x = Inputs::gaussian(8, 6, 0);
//! let y = ndarray::Array1::from_iter((0..8).map(|i| if i % 2 == 0 { 1.0 } else { -1.0 }));
//! let opts = StepSizeOptions { width: 64, steps: 5, seeds: 1, ..Default::default() };
//! let study = step_size_study(x.view(), &y, &opts).unwrap();
//! assert_eq!(study.rows.len(), 6);                       // 3 DAGs x 2 settings
//! ```

use crate::empirical_ntk::{EmpiricalError, Network};
use crate::kernel::exact::Rule;
use crate::kernel::ntk::NtkVariant;
use crate::kernel::KernelError;
use crate::kernel::{Inputs, Lift};
use crate::spectrum::SpectrumError;
use crate::spectrum::SpectrumSummary;
use crate::Dag;
use ndarray::{Array1, Array2, ArrayView2};
use rayon::prelude::*;
use serde::Serialize;

/// Options of the study.
#[derive(Debug, Clone)]
pub struct StepSizeOptions {
    /// Network width `m`.
    pub width: usize,
    /// Gradient-descent steps `K`.
    pub steps: usize,
    /// Independent networks per DAG and setting.
    pub seeds: u64,
    /// Input lift.
    pub lift: Lift,
}

impl Default for StepSizeOptions {
    fn default() -> Self {
        StepSizeOptions {
            width: 1024,
            steps: 100,
            seeds: 3,
            lift: Lift::ReluStem,
        }
    }
}

/// One DAG under one step-size setting.
#[derive(Debug, Clone, Serialize)]
pub struct StepSizeRow {
    /// DAG name.
    pub dag: String,
    /// `fixed` or `tuned`.
    pub setting: String,
    /// Step used.
    pub eta: f64,
    /// `lambda_min(Theta)` (exact NTK).
    pub lambda_min: f64,
    /// `lambda_min / mean diagonal`.
    pub normalized_lambda_min: f64,
    /// `lambda_max(Theta)`.
    pub lambda_max: f64,
    /// Measured per-step contraction of `||y - u||^2`, mean over seeds.
    pub measured_rate: f64,
    /// Its standard error over seeds.
    pub measured_rate_se: f64,
    /// The linearised exact-NTK dynamics' rate from the same initial residuals.
    pub predicted_rate: f64,
    /// `(1 - eta lambda_min)^2`.
    pub worst_case_rate: f64,
}

/// The study's table and its verdict.
#[derive(Debug, Clone, Serialize)]
pub struct StepSizeStudy {
    /// Points, width, steps, seeds.
    pub setup: String,
    /// One row per DAG and setting.
    pub rows: Vec<StepSizeRow>,
    /// Per setting: DAG names from fastest to slowest (measured), and whether raw and
    /// normalised `lambda_min` predict that order.
    pub verdicts: Vec<Verdict>,
}

/// Which ordering appeared in one setting.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// `fixed` or `tuned`.
    pub setting: String,
    /// DAGs from fastest (smallest rate) to slowest, measured.
    pub measured_order: Vec<String>,
    /// Ordered by decreasing raw `lambda_min`.
    pub raw_order: Vec<String>,
    /// Ordered by decreasing normalised `lambda_min`.
    pub normalized_order: Vec<String>,
    /// Whether every adjacent pair of the measured order differs by more than two
    /// combined standard errors (otherwise the order is not resolved by these seeds).
    pub resolved: bool,
}

fn order_by(names: &[String], keys: &[f64], descending: bool) -> Vec<String> {
    let mut idx: Vec<usize> = (0..names.len()).collect();
    idx.sort_by(|&a, &b| {
        if descending {
            keys[b].total_cmp(&keys[a])
        } else {
            keys[a].total_cmp(&keys[b])
        }
    });
    idx.into_iter().map(|i| names[i].clone()).collect()
}

/// `||(I - eta Theta)^K r0||^2 / ||r0||^2` from the eigendecomposition of `Theta`.
fn linearised_ratio(theta: &Array2<f64>, r0: &Array1<f64>, eta: f64, k: usize) -> f64 {
    let n = theta.nrows();
    let t = nalgebra::DMatrix::from_fn(n, n, |i, j| theta[[i, j]]);
    let eig = nalgebra::SymmetricEigen::new(t);
    let r = nalgebra::DVector::from_iterator(n, r0.iter().copied());
    let mut num = 0.0;
    for (idx, &lam) in eig.eigenvalues.iter().enumerate() {
        let c = eig.eigenvectors.column(idx).dot(&r);
        num += (1.0 - eta * lam).powi(2 * k as i32) * c * c;
    }
    num / r.dot(&r)
}

/// Why [`step_size_study`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StepSizeError {
    /// The inputs could not be prepared (e.g. no rows, or a non-finite entry).
    #[error("step-size study inputs: {0}")]
    Inputs(#[from] KernelError),
    /// The exact NTK of one DAG failed.
    #[error("exact NTK of {dag}: {source}")]
    Ntk {
        /// `DAG#1`, `DAG#2` or `DAG#3`.
        dag: String,
        /// The kernel error.
        source: KernelError,
    },
    /// The spectrum of one DAG's exact NTK failed.
    #[error("spectrum of the exact NTK of {dag}: {source}")]
    Spectrum {
        /// `DAG#1`, `DAG#2` or `DAG#3`.
        dag: String,
        /// The spectrum error.
        source: SpectrumError,
    },
    /// Building or training one finite-width network failed.
    #[error("{dag}, {setting} step, seed {seed}: {source}")]
    Network {
        /// `DAG#1`, `DAG#2` or `DAG#3`.
        dag: String,
        /// `fixed` or `tuned`.
        setting: String,
        /// The run's seed index (`0..seeds`).
        seed: u64,
        /// The network error.
        source: Box<EmpiricalError>,
    },
}

/// Runs the study on `x` (`N x d`) with targets `y` for DAG#1-#3.
pub fn step_size_study(
    x: ArrayView2<'_, f64>,
    y: &Array1<f64>,
    opts: &StepSizeOptions,
) -> Result<StepSizeStudy, StepSizeError> {
    let inputs = Inputs::from_data(x, opts.lift)?;
    let dags = Dag::paper_dags();
    let names: Vec<String> = dags.iter().map(|(n, _)| n.to_string()).collect();
    let thetas: Vec<Array2<f64>> = dags
        .iter()
        .map(|(name, d)| {
            inputs
                .ntk(d, Rule::Exact)
                .map(|n| n.theta(NtkVariant::Full))
                .map_err(|source| StepSizeError::Ntk {
                    dag: name.to_string(),
                    source,
                })
        })
        .collect::<Result<_, _>>()?;
    let specs: Vec<SpectrumSummary> = thetas
        .iter()
        .zip(&names)
        .map(|(t, name)| {
            SpectrumSummary::of(t).map_err(|source| StepSizeError::Spectrum {
                dag: name.clone(),
                source,
            })
        })
        .collect::<Result<_, _>>()?;
    let eta_fixed = 1.0 / specs.iter().map(|s| s.lambda_max).fold(0.0, f64::max);
    let mut rows = Vec::new();
    let mut verdicts = Vec::new();
    for setting in ["fixed", "tuned"] {
        let mut rates = Vec::new();
        let mut ses = Vec::new();
        for (i, (name, dag)) in dags.iter().enumerate() {
            let eta = if setting == "fixed" {
                eta_fixed
            } else {
                1.0 / specs[i].lambda_max
            };
            let runs: Vec<Result<(f64, f64), StepSizeError>> = (0..opts.seeds)
                .into_par_iter()
                .map(|seed| {
                    let run = || -> Result<(f64, f64), EmpiricalError> {
                        let mut net =
                            Network::new(dag, x.ncols(), opts.lift, opts.width, 7_000 + seed)?;
                        let r0 = &net.outputs(x)? - y;
                        for _ in 0..opts.steps {
                            net.gd_step(x, y, eta)?;
                        }
                        let rk = &net.outputs(x)? - y;
                        let measured = (rk.dot(&rk) / r0.dot(&r0)).powf(1.0 / opts.steps as f64);
                        let predicted = linearised_ratio(&thetas[i], &r0, eta, opts.steps)
                            .powf(1.0 / opts.steps as f64);
                        Ok((measured, predicted))
                    };
                    run().map_err(|source| StepSizeError::Network {
                        dag: name.to_string(),
                        setting: setting.into(),
                        seed,
                        source: Box::new(source),
                    })
                })
                .collect();
            let runs: Vec<(f64, f64)> = runs.into_iter().collect::<Result<_, _>>()?;
            let s = runs.len() as f64;
            let mean = runs.iter().map(|r| r.0).sum::<f64>() / s;
            let se = if runs.len() > 1 {
                (runs.iter().map(|r| (r.0 - mean).powi(2)).sum::<f64>() / (s - 1.0) / s).sqrt()
            } else {
                f64::NAN
            };
            let spec = &specs[i];
            rows.push(StepSizeRow {
                dag: name.to_string(),
                setting: setting.into(),
                eta,
                lambda_min: spec.lambda_min,
                normalized_lambda_min: spec.normalized_lambda_min.unwrap_or(f64::NAN),
                lambda_max: spec.lambda_max,
                measured_rate: mean,
                measured_rate_se: se,
                predicted_rate: runs.iter().map(|r| r.1).sum::<f64>() / s,
                worst_case_rate: (1.0 - eta * spec.lambda_min).powi(2),
            });
            rates.push(mean);
            ses.push(se);
        }
        let mut idx: Vec<usize> = (0..rates.len()).collect();
        idx.sort_by(|&a, &b| rates[a].total_cmp(&rates[b]));
        let resolved = idx
            .windows(2)
            .all(|w| rates[w[1]] - rates[w[0]] > 2.0 * ses[w[0]].hypot(ses[w[1]]));
        let raw: Vec<f64> = specs.iter().map(|s| s.lambda_min).collect();
        let norm: Vec<f64> = specs
            .iter()
            .map(|s| s.normalized_lambda_min.unwrap_or(f64::NAN))
            .collect();
        verdicts.push(Verdict {
            setting: setting.into(),
            measured_order: order_by(&names, &rates, false),
            raw_order: order_by(&names, &raw, true),
            normalized_order: order_by(&names, &norm, true),
            resolved,
        });
    }
    Ok(StepSizeStudy {
        setup: format!(
            "N = {}, d = {}, width {}, {} full-batch GD steps, {} seeds, {} lift",
            x.nrows(),
            x.ncols(),
            opts.width,
            opts.steps,
            opts.seeds,
            opts.lift
        ),
        rows,
        verdicts,
    })
}
