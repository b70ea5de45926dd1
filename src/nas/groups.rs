//! Fig. 5 of the paper: NAS-Bench-201 cells grouped by exact effective depth and width,
//! with the accuracy per group and the multiple correlation `R` of accuracy on
//! `(dbar, mbar)`.
//!
//! Cells are grouped by the exact rationals `(dbar, mbar)` of [`crate::PathStats`]
//! (31 groups in the full space). Per group and dataset: count, mean and sample standard
//! deviation of the test accuracy. `R` is the multiple correlation of a least-squares
//! fit ([`super::stats::multiple_regression`]) of accuracy on
//!
//! * **linear**: `(d, m)`;
//! * **quadratic**: `(d, m, d^2, m^2, d m)`, which can express "extremes are bad";
//!
//! each computed two ways: over **cells** (one observation per cell; what "R between
//! accuracy and (dbar, mbar)" means for the data) and over **group means** (one
//! observation per dot, unweighted, matching the per-group dots of the paper's legend).
//! Cells whose depth/width is undefined (no path, or skip-only) are left out of the fits
//! and summarised separately.

use super::stats::{mean_std, multiple_regression, Regression};
use super::table::{Dataset, Nb201Table};
use super::NasError;
use crate::paths::{Ratio, Undefined};
use crate::space::CellPoint;
use serde::Serialize;
use std::collections::BTreeMap;

/// One `(dbar, mbar)` group's accuracy on one dataset: a dot of the bubble plot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupStat {
    /// Effective depth `dbar`.
    pub depth: f64,
    /// Effective width `mbar`.
    pub width: f64,
    /// `dbar` exactly.
    pub depth_exact: Ratio,
    /// `mbar` exactly.
    pub width_exact: Ratio,
    /// Cells in the group (present in the table).
    pub count: usize,
    /// Mean test accuracy (percent).
    pub mean: f64,
    /// Sample standard deviation (`None` for a single cell).
    pub std: Option<f64>,
}

/// Accuracy of the cells whose depth/width is undefined.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UndefinedStat {
    /// Why undefined.
    pub reason: Undefined,
    /// Cells.
    pub count: usize,
    /// Mean accuracy (`None` when there is no such cell).
    pub mean: Option<f64>,
    /// Sample standard deviation.
    pub std: Option<f64>,
}

/// Linear and quadratic fits.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fits {
    /// Accuracy on `(d, m)`.
    pub linear: Option<Regression>,
    /// Accuracy on `(d, m, d^2, m^2, d m)`.
    pub quadratic: Option<Regression>,
}

/// One panel of Fig. 5.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Panel {
    /// The dataset.
    pub dataset: Dataset,
    /// Groups sorted by `(dbar, mbar)`.
    pub groups: Vec<GroupStat>,
    /// `R` over cells.
    pub over_cells: Fits,
    /// `R` over group means (one observation per group, unweighted).
    pub over_groups: Fits,
    /// Groups with at least [`Fig5::MIN_WORST_BEST`] cells, worst mean first (up to 5).
    pub worst: Vec<GroupStat>,
    /// The same, best mean first (up to 5).
    pub best: Vec<GroupStat>,
    /// Cells left out because depth/width is undefined.
    pub undefined: Vec<UndefinedStat>,
}

/// Fig. 5's data: three panels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fig5 {
    /// Cells in the table.
    pub cells: usize,
    /// Cells with defined depth and width (used in the fits).
    pub defined: usize,
    /// CIFAR-10, CIFAR-100, ImageNet16-120.
    pub panels: Vec<Panel>,
}

impl Fig5 {
    /// Smallest group size listed among the worst/best groups.
    pub const MIN_WORST_BEST: usize = 8;

    /// Computes the panels for every cell of `table` (geometry from `points`, indexed by
    /// [`super::Nb201Record::space_index`]).
    pub fn compute(table: &Nb201Table, points: &[CellPoint]) -> Result<Fig5, NasError> {
        let mut panels = Vec::new();
        let mut defined = 0;
        for dataset in Dataset::ALL {
            let mut groups: BTreeMap<(Ratio, Ratio), Vec<f64>> = BTreeMap::new();
            let mut undefined: BTreeMap<&'static str, (Undefined, Vec<f64>)> = BTreeMap::new();
            let (mut d, mut m, mut y) = (Vec::new(), Vec::new(), Vec::new());
            for r in table.records() {
                let p = &points[r.space_index];
                let acc = r.accuracy(dataset);
                match (p.depth, p.width) {
                    (Some(dd), Some(mm)) => {
                        groups.entry((dd, mm)).or_default().push(acc);
                        d.push(dd.to_f64());
                        m.push(mm.to_f64());
                        y.push(acc);
                    }
                    _ => {
                        let reason = p.undefined.unwrap_or(Undefined::NoPath);
                        let key = match reason {
                            Undefined::NoPath => "no-path",
                            Undefined::ZeroDepth => "zero-depth",
                        };
                        undefined
                            .entry(key)
                            .or_insert((reason, Vec::new()))
                            .1
                            .push(acc);
                    }
                }
            }
            defined = y.len();
            let mut groups: Vec<GroupStat> = groups
                .into_iter()
                .map(|((dd, mm), accs)| {
                    let (mean, std) = mean_std(&accs);
                    GroupStat {
                        depth: dd.to_f64(),
                        width: mm.to_f64(),
                        depth_exact: dd,
                        width_exact: mm,
                        count: accs.len(),
                        mean,
                        std,
                    }
                })
                .collect();
            groups.sort_by(|a, b| {
                a.depth
                    .total_cmp(&b.depth)
                    .then(a.width.total_cmp(&b.width))
            });
            let over_cells = fits(&d, &m, &y);
            let gd: Vec<f64> = groups.iter().map(|g| g.depth).collect();
            let gm: Vec<f64> = groups.iter().map(|g| g.width).collect();
            let gy: Vec<f64> = groups.iter().map(|g| g.mean).collect();
            let over_groups = fits(&gd, &gm, &gy);
            let mut ranked: Vec<GroupStat> = groups
                .iter()
                .filter(|g| g.count >= Fig5::MIN_WORST_BEST)
                .cloned()
                .collect();
            ranked.sort_by(|a, b| a.mean.total_cmp(&b.mean));
            let worst = ranked.iter().take(5).cloned().collect();
            let best = ranked.iter().rev().take(5).cloned().collect();
            let undefined = [Undefined::NoPath, Undefined::ZeroDepth]
                .into_iter()
                .map(|reason| {
                    let key = match reason {
                        Undefined::NoPath => "no-path",
                        Undefined::ZeroDepth => "zero-depth",
                    };
                    let accs = undefined.get(key).map(|v| v.1.clone()).unwrap_or_default();
                    let (mean, std) = if accs.is_empty() {
                        (None, None)
                    } else {
                        let (a, b) = mean_std(&accs);
                        (Some(a), b)
                    };
                    UndefinedStat {
                        reason,
                        count: accs.len(),
                        mean,
                        std,
                    }
                })
                .collect();
            panels.push(Panel {
                dataset,
                groups,
                over_cells,
                over_groups,
                worst,
                best,
                undefined,
            });
        }
        Ok(Fig5 {
            cells: table.len(),
            defined,
            panels,
        })
    }
}

/// Linear and quadratic fits of `y` on `(d, m)`; a fit that cannot be computed (too few
/// observations, constant response) is `None`.
pub fn fits(d: &[f64], m: &[f64], y: &[f64]) -> Fits {
    let lin = vec![d.to_vec(), m.to_vec()];
    let sq = |v: &[f64]| v.iter().map(|x| x * x).collect::<Vec<f64>>();
    let dm: Vec<f64> = d.iter().zip(m).map(|(a, b)| a * b).collect();
    let quad = vec![d.to_vec(), m.to_vec(), sq(d), sq(m), dm];
    Fits {
        linear: multiple_regression(&lin, y).ok(),
        quadratic: multiple_regression(&quad, y).ok(),
    }
}
