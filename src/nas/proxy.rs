//! An exact-kernel accuracy proxy for NAS-Bench-201 (beyond the paper).
//!
//! For every cell (convolutions as linear edges, pooling as skip, `none` removed: the
//! [`crate::Op::from_name`] mapping) compute, on one fixed seeded input set,
//! `lambda_min(K^H)` and the normalised `lambda_min(K^H) / (tr K^H / N)` of the three
//! closed-form kernels (path-sum, independent-branch, exact; PAPER.md sections 4, 7).
//! Cells are grouped by their op-class graph (`3^6 = 729` classes for 15,625 cells) and
//! each class is computed once, in parallel (rayon).
//!
//! Inputs ([`ProxyOptions`]): `N` standard Gaussian points in `R^d` (ChaCha8, `seed`),
//! rows normalised to `K^0_ii = 1`, dense lift (`K^0 = X X^T / d`, `mu^0 = 0`). With the
//! defaults `N = 32`, `d = 16`, input correlations spread over about `+-0.5`.
//!
//! Each score is then rank-correlated (Kendall tau-b, Spearman rho) with the test
//! accuracy per dataset, next to the paper's quantities: effective depth, effective width,
//! distance to the filter center (in radius units, `max(|d - c_d|/r_d, |m - c_m|/r_m)`:
//! the filter keeps distance `<= phi`) and the keep/drop indicator at `phi = 1/2`. All
//! scores are compared on the same cells: those with defined depth and width.

use super::stats::{kendall_tau_b, spearman_rho};
use super::table::{Dataset, Nb201Table};
use super::NasError;
use crate::dag::format::Nb201Arch;
use crate::kernel::{Inputs, KernelError, KernelKind, Lift};
use crate::space::{CellPoint, Filter};
use crate::spectrum::SpectrumSummary;
use crate::Op;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::HashMap;

/// Input set of the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ProxyOptions {
    /// Number of points `N`.
    pub n: usize,
    /// Input dimension `d`.
    pub dim: usize,
    /// Seed of the Gaussian points.
    pub seed: u64,
}

impl Default for ProxyOptions {
    /// `N = 32`, `d = 16`, seed 0.
    fn default() -> Self {
        ProxyOptions {
            n: 32,
            dim: 16,
            seed: 0,
        }
    }
}

/// `lambda_min` and its normalised value for one kernel.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct KernelScore {
    /// `lambda_min(K^H)`.
    pub lambda_min: f64,
    /// `lambda_min / (tr K^H / N)`.
    pub normalized: f64,
}

/// Scores of every cell of the space, by space index ([`Nb201Arch::all`] order).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProxyScores {
    /// Options used.
    pub options: ProxyOptions,
    /// Distinct op-class graphs evaluated.
    pub classes: usize,
    /// `scores[cell][kind]` for kinds in [`KernelKind::ALL`] order; `None` when the cell
    /// has no input-output path (its kernel is identically zero).
    pub scores: Vec<Option<[KernelScore; 3]>>,
}

/// The op classes of the six edges of a cell.
fn op_classes(a: &Nb201Arch) -> [Op; 6] {
    let dag = a.dag();
    let mut ops = [Op::Zero; 6];
    for (slot, e) in ops.iter_mut().zip(dag.edges()) {
        *slot = e.op;
    }
    ops
}

impl ProxyScores {
    /// Computes all 15,625 cells' scores (729 kernel evaluations of each kind).
    pub fn compute(options: ProxyOptions) -> Result<ProxyScores, NasError> {
        let x = Inputs::gaussian(options.n, options.dim, options.seed);
        let inputs = Inputs::from_data(x.view(), Lift::Dense)?;
        let cells: Vec<Nb201Arch> = Nb201Arch::all().collect();
        let classes: Vec<[Op; 6]> = cells.iter().map(op_classes).collect();
        let mut index: HashMap<[Op; 6], usize> = HashMap::new();
        let mut reps: Vec<usize> = Vec::new();
        for (i, c) in classes.iter().enumerate() {
            index.entry(*c).or_insert_with(|| {
                reps.push(i);
                reps.len() - 1
            });
        }
        let per_class: Vec<Option<[KernelScore; 3]>> = reps
            .par_iter()
            .map(|&i| class_scores(&inputs, &cells[i]))
            .collect::<Result<_, NasError>>()?;
        let scores = classes.iter().map(|c| per_class[index[c]]).collect();
        Ok(ProxyScores {
            options,
            classes: reps.len(),
            scores,
        })
    }
}

fn class_scores(inputs: &Inputs, cell: &Nb201Arch) -> Result<Option<[KernelScore; 3]>, NasError> {
    let dag = cell.dag();
    let mut out = [KernelScore {
        lambda_min: 0.0,
        normalized: 0.0,
    }; 3];
    for (slot, kind) in out.iter_mut().zip(KernelKind::ALL) {
        let k = match inputs.kernel(&dag, kind) {
            Ok(k) => k,
            Err(KernelError::NoPath { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let s = SpectrumSummary::of(&k.output().gram)?;
        *slot = KernelScore {
            lambda_min: s.lambda_min,
            normalized: s.normalized_lambda_min.unwrap_or(0.0),
        };
    }
    Ok(Some(out))
}

/// Rank correlations of one score with one dataset's accuracy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Correlation {
    /// The score's name.
    pub proxy: String,
    /// The dataset.
    pub dataset: Dataset,
    /// Cells used.
    pub n: usize,
    /// Kendall's tau-b (`None` if undefined, e.g. a constant score).
    pub kendall_tau_b: Option<f64>,
    /// Spearman's rho.
    pub spearman_rho: Option<f64>,
}

/// The proxy study: scores' rank correlations with accuracy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProxyStudy {
    /// Input set.
    pub options: ProxyOptions,
    /// Op-class graphs evaluated.
    pub classes: usize,
    /// Cells used (in the table, depth and width defined).
    pub cells: usize,
    /// One entry per (score, dataset).
    pub correlations: Vec<Correlation>,
}

/// Names of the scores, in report order.
pub const PROXIES: [&str; 10] = [
    "lambda_min exact",
    "normalised lambda_min exact",
    "lambda_min independent-branch",
    "normalised lambda_min independent-branch",
    "lambda_min path-sum",
    "normalised lambda_min path-sum",
    "effective depth",
    "effective width",
    "distance to filter center",
    "kept by filter (phi = 1/2)",
];

impl ProxyStudy {
    /// Correlates `scores` with the accuracies of `table`.
    pub fn compute(
        table: &Nb201Table,
        points: &[CellPoint],
        filter: Filter,
        scores: &ProxyScores,
    ) -> ProxyStudy {
        // Cells in the table with defined depth/width (then the kernels exist too).
        let used: Vec<(usize, [f64; 10])> = table
            .records()
            .iter()
            .enumerate()
            .filter_map(|(ri, r)| {
                let p = &points[r.space_index];
                let (d, m) = (p.depth?.to_f64(), p.width?.to_f64());
                let k = scores.scores[r.space_index]?;
                // KernelKind::ALL = path-sum, independent-branch, exact.
                let (ps, ib, ex) = (k[0], k[1], k[2]);
                let dist = ((d - filter.center.0).abs() / filter.radius.0)
                    .max((m - filter.center.1).abs() / filter.radius.1);
                let kept = f64::from(u8::from(filter.keeps(d, m, 0.5)));
                Some((
                    ri,
                    [
                        ex.lambda_min,
                        ex.normalized,
                        ib.lambda_min,
                        ib.normalized,
                        ps.lambda_min,
                        ps.normalized,
                        d,
                        m,
                        dist,
                        kept,
                    ],
                ))
            })
            .collect();
        let mut correlations = Vec::new();
        for (pi, name) in PROXIES.iter().enumerate() {
            let x: Vec<f64> = used.iter().map(|u| u.1[pi]).collect();
            for dataset in Dataset::ALL {
                let y: Vec<f64> = used
                    .iter()
                    .map(|u| table.records()[u.0].accuracy(dataset))
                    .collect();
                correlations.push(Correlation {
                    proxy: name.to_string(),
                    dataset,
                    n: x.len(),
                    kendall_tau_b: kendall_tau_b(&x, &y),
                    spearman_rho: spearman_rho(&x, &y),
                });
            }
        }
        ProxyStudy {
            options: scores.options,
            classes: scores.classes,
            cells: used.len(),
            correlations,
        }
    }

    /// The correlation of `proxy` with `dataset`'s accuracy.
    pub fn get(&self, proxy: &str, dataset: Dataset) -> Option<&Correlation> {
        self.correlations
            .iter()
            .find(|c| c.proxy == proxy && c.dataset == dataset)
    }
}
