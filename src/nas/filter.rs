//! The paper's NAS filter on NAS-Bench-201 with real accuracies, and a simulated random
//! search with and without it.
//!
//! The filter ([`crate::space::Filter`]) comes from the **space** (all 15,625 cells),
//! not from the data: center `c = (max + min)/2`, radius `r = (max - min)/2` of
//! `(dbar, mbar)`; a cell is kept at radius factor `phi` when
//! `|dbar - c_d| <= phi r_d` and `|mbar - c_m| <= phi r_m`. Cells with undefined depth
//! or width are never kept.
//!
//! **Random search.** With budget `B`, draw `B` distinct cells uniformly from a
//! population (all cells, or the filter's kept cells), "train" them (look up their true
//! accuracy) and keep the best. Repeated over `T` seeded trials (trial `t` of budget `B`
//! has its own ChaCha8 stream, so results do not depend on thread count). When `B`
//! exceeds the population, the whole population is evaluated. The expected best also
//! has a closed form, used for the savings: with the population's accuracies sorted
//! `v_(1) <= ... <= v_(n)`,
//!
//! ```text
//! E[max of B draws without replacement] = sum_{i >= B} v_(i) C(i-1, B-1) / C(n, B)
//! ```
//!
//! **Savings.** For each unfiltered budget `B`, the smallest filtered budget `B'` with
//! `E_filtered(B') >= E_unfiltered(B)` (binary search: the expectation increases with
//! `B'`); saved fraction `1 - B'/B`. `None` when the filtered population never reaches it.
//!
//! This is the project's data-driven stand-in for the paper's Tables 2-3, which ran
//! NAS-WOT and TE-NAS (training-free scores we cannot compute here) inside the filter.

use super::stats::Summary;
use super::table::{Dataset, Nb201Table};
use crate::space::{CellPoint, Filter, RADIUS_FACTORS};
use rand::SeedableRng;
use rayon::prelude::*;
use serde::Serialize;

/// Options of the filter study.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchOptions {
    /// Budgets `B` (evaluations per search).
    pub budgets: Vec<usize>,
    /// Trials per budget.
    pub trials: usize,
    /// Base seed.
    pub seed: u64,
    /// Radius factors studied.
    pub factors: Vec<f64>,
}

impl Default for SearchOptions {
    /// Budgets 10, 20, 50, 100, 200, 500, 1000; 1,000 trials; seed 0; factors 1, 3/4,
    /// 1/2, 1/4.
    fn default() -> Self {
        SearchOptions {
            budgets: vec![10, 20, 50, 100, 200, 500, 1000],
            trials: 1000,
            seed: 0,
            factors: RADIUS_FACTORS.to_vec(),
        }
    }
}

/// Accuracy distribution of kept and dropped cells on one dataset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeptDropped {
    /// The dataset.
    pub dataset: Dataset,
    /// Kept cells' accuracies.
    pub kept: Option<Summary>,
    /// Dropped cells' accuracies (undefined cells included).
    pub dropped: Option<Summary>,
}

/// The filter at one radius factor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FactorStudy {
    /// Radius factor `phi`.
    pub factor: f64,
    /// Cells of the table kept.
    pub kept: usize,
    /// Cells dropped.
    pub dropped: usize,
    /// Per dataset.
    pub accuracy: Vec<KeptDropped>,
}

/// Expected best accuracy at one budget.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchPoint {
    /// Budget `B`.
    pub budget: usize,
    /// Mean best accuracy over the trials.
    pub simulated: f64,
    /// Its standard error (`std / sqrt(T)`).
    pub sem: f64,
    /// The closed-form expectation.
    pub exact: f64,
}

/// Random search on one dataset, unfiltered (`factor = None`) or filtered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchCurve {
    /// The dataset.
    pub dataset: Dataset,
    /// Radius factor, `None` for the unfiltered search.
    pub factor: Option<f64>,
    /// Population size.
    pub population: usize,
    /// Best accuracy in the population.
    pub population_best: f64,
    /// One point per budget.
    pub points: Vec<SearchPoint>,
}

/// Evaluations the filter saves at one unfiltered budget.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Saving {
    /// The dataset.
    pub dataset: Dataset,
    /// Radius factor.
    pub factor: f64,
    /// Unfiltered budget `B`.
    pub budget: usize,
    /// Unfiltered expected best at `B` (closed form).
    pub target: f64,
    /// Filtered expected best at the same `B` (closed form).
    pub filtered_at_budget: f64,
    /// Smallest filtered budget reaching `target`.
    pub budget_needed: Option<usize>,
    /// `1 - budget_needed / B`.
    pub saved_fraction: Option<f64>,
}

/// The whole filter study.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FilterStudy {
    /// The space's filter.
    pub filter: Filter,
    /// Options used.
    pub options: SearchOptions,
    /// Per radius factor.
    pub factors: Vec<FactorStudy>,
    /// Unfiltered and filtered search curves.
    pub curves: Vec<SearchCurve>,
    /// Savings per dataset, factor and budget.
    pub savings: Vec<Saving>,
}

/// Closed-form expected maximum of `b` draws without replacement from `values` (see the
/// module docs); `b` is capped at `n`. `None` for an empty population or `b = 0`.
///
/// ```
/// use archconv::nas::filter::expected_best;
/// // {1, 2, 3}, two draws: pairs {1,2}, {1,3}, {2,3} -> (2 + 3 + 3) / 3.
/// assert!((expected_best(&[3.0, 1.0, 2.0], 2).unwrap() - 8.0 / 3.0).abs() < 1e-15);
/// ```
pub fn expected_best(values: &[f64], b: usize) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    expected_best_sorted(&v, b)
}

fn expected_best_sorted(v: &[f64], b: usize) -> Option<f64> {
    let n = v.len();
    if n == 0 || b == 0 {
        return None;
    }
    let b = b.min(n);
    // w_i = C(i-1, b-1) / C(n, b) for the 1-based order statistic i; w_n = b / n and
    // w_{i-1} = w_i (i - b) / (i - 1).
    let mut w = b as f64 / n as f64;
    let mut sum = 0.0;
    let mut i = n;
    while i >= b {
        sum += w * v[i - 1];
        if i == b || i == 1 {
            break;
        }
        w *= (i - b) as f64 / (i - 1) as f64;
        i -= 1;
    }
    Some(sum)
}

/// Smallest budget `b` with `expected_best(b) >= target` (ascending-sorted `v`).
fn budget_needed(v: &[f64], target: f64) -> Option<usize> {
    let n = v.len();
    let ok = |b: usize| expected_best_sorted(v, b).is_some_and(|e| e >= target - 1e-12);
    if n == 0 || !ok(n) {
        return None;
    }
    let (mut lo, mut hi) = (1, n);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if ok(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Some(lo)
}

fn stream_seed(seed: u64, budget: usize, trial: usize, salt: u64) -> u64 {
    // SplitMix64 finaliser over the combined key: distinct, well-mixed seeds per trial.
    let mut z = seed
        ^ (budget as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (trial as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9)
        ^ salt.wrapping_mul(0x94D0_49BB_1331_11EB);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Simulated random search: mean and standard error of the best of `budget` uniform draws
/// without replacement over `trials` seeded trials (rayon-parallel, thread-count
/// independent). `salt` separates populations sharing a seed.
pub fn simulate_search(
    values: &[f64],
    budget: usize,
    trials: usize,
    seed: u64,
    salt: u64,
) -> (f64, f64) {
    let n = values.len();
    let b = budget.min(n);
    let bests: Vec<f64> = (0..trials)
        .into_par_iter()
        .map(|t| {
            let mut rng =
                rand_chacha::ChaCha8Rng::seed_from_u64(stream_seed(seed, budget, t, salt));
            rand::seq::index::sample(&mut rng, n, b)
                .into_iter()
                .map(|i| values[i])
                .fold(f64::NEG_INFINITY, f64::max)
        })
        .collect();
    let (mean, std) = super::stats::mean_std(&bests);
    (mean, std.unwrap_or(0.0) / (trials as f64).sqrt())
}

impl FilterStudy {
    /// Runs the study on `table` with the space's `points` (indexed by space index) and
    /// `filter`.
    pub fn compute(
        table: &Nb201Table,
        points: &[CellPoint],
        filter: Filter,
        options: &SearchOptions,
    ) -> FilterStudy {
        let keeps = |space_index: usize, phi: f64| {
            let p = &points[space_index];
            match (p.depth, p.width) {
                (Some(d), Some(m)) => filter.keeps(d.to_f64(), m.to_f64(), phi),
                _ => false,
            }
        };
        let mut factors = Vec::new();
        for &phi in &options.factors {
            let kept_mask: Vec<bool> = table
                .records()
                .iter()
                .map(|r| keeps(r.space_index, phi))
                .collect();
            let kept = kept_mask.iter().filter(|&&k| k).count();
            let accuracy = Dataset::ALL
                .into_iter()
                .map(|dataset| {
                    let (mut k, mut d) = (Vec::new(), Vec::new());
                    for (r, &keep) in table.records().iter().zip(&kept_mask) {
                        if keep { &mut k } else { &mut d }.push(r.accuracy(dataset));
                    }
                    KeptDropped {
                        dataset,
                        kept: Summary::of(&k),
                        dropped: Summary::of(&d),
                    }
                })
                .collect();
            factors.push(FactorStudy {
                factor: phi,
                kept,
                dropped: table.len() - kept,
                accuracy,
            });
        }
        let mut curves = Vec::new();
        let mut savings = Vec::new();
        for (di, dataset) in Dataset::ALL.into_iter().enumerate() {
            let all: Vec<f64> = table
                .records()
                .iter()
                .map(|r| r.accuracy(dataset))
                .collect();
            let mut all_sorted = all.clone();
            all_sorted.sort_by(f64::total_cmp);
            let populations =
                std::iter::once((None, all.clone())).chain(options.factors.iter().map(|&phi| {
                    let v: Vec<f64> = table
                        .records()
                        .iter()
                        .filter(|r| keeps(r.space_index, phi))
                        .map(|r| r.accuracy(dataset))
                        .collect();
                    (Some(phi), v)
                }));
            for (pi, (factor, values)) in populations.enumerate() {
                if values.is_empty() {
                    continue;
                }
                let mut sorted = values.clone();
                sorted.sort_by(f64::total_cmp);
                let salt = (di * 64 + pi) as u64;
                let points = options
                    .budgets
                    .iter()
                    .map(|&b| {
                        let (simulated, sem) =
                            simulate_search(&values, b, options.trials, options.seed, salt);
                        SearchPoint {
                            budget: b,
                            simulated,
                            sem,
                            exact: expected_best_sorted(&sorted, b).unwrap_or(f64::NAN),
                        }
                    })
                    .collect();
                if let Some(phi) = factor {
                    for &b in &options.budgets {
                        let Some(target) = expected_best_sorted(&all_sorted, b) else {
                            continue;
                        };
                        let needed = budget_needed(&sorted, target);
                        savings.push(Saving {
                            dataset,
                            factor: phi,
                            budget: b,
                            target,
                            filtered_at_budget: expected_best_sorted(&sorted, b)
                                .unwrap_or(f64::NAN),
                            budget_needed: needed,
                            saved_fraction: needed.map(|bn| 1.0 - bn as f64 / b as f64),
                        });
                    }
                }
                curves.push(SearchCurve {
                    dataset,
                    factor,
                    population: values.len(),
                    population_best: sorted[sorted.len() - 1],
                    points,
                });
            }
        }
        FilterStudy {
            filter,
            options: options.clone(),
            factors,
            curves,
            savings,
        }
    }
}
