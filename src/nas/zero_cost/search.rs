//! The authors' training-free search on NAS-Bench-201 (the paper's Tables 1-3, PAPER.md
//! section 10): `runs` searches, each drawing `per_run` distinct cells uniformly from the
//! scored pool; a cell outside the filter's box gets score `-1` without building its
//! network, the others their NASWOT score; the best-scored cell (first on ties) is chosen
//! and its benchmark accuracy recorded. Every filter sees the same draws in run `r`
//! (ChaCha8 seeded with `seed`, stream `r`), so differences come from the filter alone.
//!
//! Cost: a run's time is the sum of the cached NASWOT seconds of the cells it scored;
//! "saved" is `1 - time / time without the filter`, and "scored" the fraction of drawn
//! cells that were scored.
//!
//! Filters ([`SearchFilter`]): none; a fixed box (the authors' code: depth in
//! `[0.99, 2.51]`, width in `[0.99, 3.01]`); or the space's box at radius factor `phi`
//! ([`crate::space::Filter`]; the text's filter is `phi = 1/2`, Table 3 ablates
//! `phi = 1, 3/4, 1/2, 1/4`). Cells with undefined depth or width (no path, or skip-only
//! paths) are outside every box, as the authors' code puts them.
//!
//! The pool is the scored sample, not necessarily the whole space: with 1,000 cells, 100
//! draws are a tenth of it (the authors draw from all 15,625).

use super::CellScore;
use crate::nas::stats::mean_std;
use crate::nas::table::{Dataset, Nb201Table};
use crate::space::CellPoint;
use rand::SeedableRng;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::HashMap;

/// The authors' NAS-Bench-201 box (depth, width), from their `search.py`.
pub const AUTHORS_BOX: ((f64, f64), (f64, f64)) = ((0.99, 2.51), (0.99, 3.01));

/// Which cells are scored.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum SearchFilter {
    /// Every cell.
    None,
    /// `depth in [d0, d1]` and `width in [w0, w1]`.
    Box {
        /// Depth range.
        depth: (f64, f64),
        /// Width range.
        width: (f64, f64),
    },
    /// The space's filter at radius factor `phi`.
    Radius(f64),
}

/// The score a search ranks the scored cells of a run by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SearchProxy {
    /// NASWOT, highest first (the authors' `search.py`).
    Naswot,
    /// TE-NAS: the sum of the ranks by NTK condition number (ascending) and by linear
    /// regions (descending) among the run's scored cells, lowest first
    /// ([`crate::nas::tenas::rank_combination`]). TE-NAS itself prunes a supernet; this is
    /// its ranking applied to the same sampled-cell protocol.
    TeNas,
}

impl SearchProxy {
    /// Its name in tables.
    pub fn name(self) -> &'static str {
        match self {
            SearchProxy::Naswot => "NASWOT",
            SearchProxy::TeNas => "TE-NAS",
        }
    }
}

/// Which filter box a convention means (`--convention`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Convention {
    /// The paper's text: the space's box at half radius.
    PaperText,
    /// The authors' released code: depth `[0.99, 2.51]`, width `[0.99, 3.01]`.
    AuthorsCode,
}

impl Convention {
    /// The NAS-Bench-201 filter of this convention.
    pub fn nb201_filter(self) -> SearchFilter {
        match self {
            Convention::PaperText => SearchFilter::Radius(0.5),
            Convention::AuthorsCode => SearchFilter::Box {
                depth: AUTHORS_BOX.0,
                width: AUTHORS_BOX.1,
            },
        }
    }
}

impl SearchFilter {
    /// A short description.
    pub fn describe(&self) -> String {
        match self {
            SearchFilter::None => "no filter".into(),
            SearchFilter::Box { depth, width } => format!(
                "box depth [{}, {}], width [{}, {}]",
                depth.0, depth.1, width.0, width.1
            ),
            SearchFilter::Radius(phi) => format!("space box, radius factor {phi}"),
        }
    }

    /// Whether the filter scores cell `p`; `space` is the space's filter (for
    /// [`SearchFilter::Radius`]).
    pub fn keeps(&self, p: &CellPoint, space: &crate::space::Filter) -> bool {
        if *self == SearchFilter::None {
            return true;
        }
        let (Some(d), Some(m)) = (p.depth, p.width) else {
            return false;
        };
        let (d, m) = (d.to_f64(), m.to_f64());
        match self {
            SearchFilter::None => true,
            SearchFilter::Box { depth, width } => {
                (depth.0..=depth.1).contains(&d) && (width.0..=width.1).contains(&m)
            }
            SearchFilter::Radius(phi) => space.keeps(d, m, *phi),
        }
    }
}

/// Search options.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SearchOptions {
    /// Searches (the authors: 500).
    pub runs: usize,
    /// Cells drawn per search (the authors: 100).
    pub per_run: usize,
    /// Seed.
    pub seed: u64,
}

impl Default for SearchOptions {
    /// 500 runs of 100 cells, seed 0.
    fn default() -> Self {
        SearchOptions {
            runs: 500,
            per_run: 100,
            seed: 0,
        }
    }
}

/// Mean and standard deviation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MeanStd {
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (`None` for one run).
    pub std: Option<f64>,
}

/// The outcome under one filter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchRow {
    /// The filter.
    pub filter: SearchFilter,
    /// Accuracy of the chosen cell per dataset ([`Dataset::ALL`] order), percent.
    pub accuracy: [MeanStd; 3],
    /// Mean fraction of drawn cells that were scored.
    pub scored: f64,
    /// Mean seconds of scoring per search.
    pub seconds: f64,
    /// `1 - seconds / seconds without the filter`.
    pub saved: f64,
    /// The paper's CIFAR-100 accuracy for this setting (Table 3, NASWOT), when it has one.
    pub paper_cifar100: Option<f64>,
}

/// Searches under several filters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchStudy {
    /// The score ranked by.
    pub proxy: SearchProxy,
    /// Options.
    pub options: SearchOptions,
    /// Cells in the pool (scored, with accuracies).
    pub pool: usize,
    /// One row per filter, the unfiltered one first.
    pub rows: Vec<SearchRow>,
}

/// The paper's Table 3 (NASWOT, CIFAR-100) at radius factor `phi`.
fn paper_table3(phi: f64) -> Option<f64> {
    [(1.0, 69.48), (0.75, 69.51), (0.5, 69.86), (0.25, 69.97)]
        .iter()
        .find(|(p, _)| (p - phi).abs() < 1e-12)
        .map(|(_, a)| *a)
}

impl SearchStudy {
    /// Runs the search with no filter and with each of `filters`, over the `records` that
    /// have accuracies in `table`. `None` when the pool is smaller than `per_run` or an
    /// option is zero.
    pub fn compute(
        table: &Nb201Table,
        records: &[CellScore],
        filters: &[SearchFilter],
        options: SearchOptions,
        proxy: SearchProxy,
    ) -> Option<SearchStudy> {
        let acc: HashMap<usize, [f64; 3]> = super::accuracies(table);
        let pool: Vec<(&CellScore, [f64; 3])> = records
            .iter()
            .filter_map(|r| Some((r, *acc.get(&r.index)?)))
            .collect();
        if options.runs == 0 || options.per_run == 0 || pool.len() < options.per_run {
            return None;
        }
        let points = crate::space::nb201_points();
        let space = crate::space::summarize(&points).filter;
        let mut all = vec![SearchFilter::None];
        all.extend(filters.iter().copied().filter(|f| *f != SearchFilter::None));
        let keep: Vec<Vec<bool>> = all
            .iter()
            .map(|f| {
                pool.iter()
                    .map(|(r, _)| f.keeps(&points[r.index], &space))
                    .collect()
            })
            .collect();
        // Per run and filter: (chosen pool position, cells scored, seconds).
        let runs: Vec<Vec<(usize, usize, f64)>> = (0..options.runs)
            .into_par_iter()
            .map(|run| {
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(options.seed);
                rng.set_stream(run as u64);
                let drawn =
                    rand::seq::index::sample(&mut rng, pool.len(), options.per_run).into_vec();
                keep.iter()
                    .map(|k| {
                        let scored: Vec<usize> = drawn.iter().copied().filter(|p| k[*p]).collect();
                        let best = match proxy {
                            SearchProxy::Naswot => {
                                // Unscored cells score -1 (first best on ties).
                                let (mut best, mut best_score) = (drawn[0], f64::NAN);
                                for &p in &drawn {
                                    let s = if k[p] { pool[p].0.naswot_value() } else { -1.0 };
                                    if best_score.is_nan() || s > best_score {
                                        best = p;
                                        best_score = s;
                                    }
                                }
                                best
                            }
                            SearchProxy::TeNas => {
                                let kappa: Vec<Option<f64>> =
                                    scored.iter().map(|p| pool[*p].0.ntk_condition).collect();
                                let regions: Vec<usize> =
                                    scored.iter().map(|p| pool[*p].0.regions).collect();
                                let r = crate::nas::tenas::rank_combination(&kappa, &regions);
                                let mut best = None::<(usize, f64)>;
                                for (p, v) in scored.iter().zip(r) {
                                    if best.is_none_or(|(_, b)| v < b) {
                                        best = Some((*p, v));
                                    }
                                }
                                best.map_or(drawn[0], |(p, _)| p)
                            }
                        };
                        let secs: f64 = scored
                            .iter()
                            .map(|p| match proxy {
                                SearchProxy::Naswot => pool[*p].0.seconds,
                                SearchProxy::TeNas => pool[*p].0.tenas_seconds,
                            })
                            .sum();
                        (best, scored.len(), secs)
                    })
                    .collect()
            })
            .collect();
        let base_secs = runs.iter().map(|r| r[0].2).sum::<f64>() / options.runs as f64;
        let rows = all
            .iter()
            .enumerate()
            .map(|(f, filter)| {
                let ms = |d: usize| {
                    let v: Vec<f64> = runs.iter().map(|r| pool[r[f].0].1[d]).collect();
                    let (mean, std) = mean_std(&v);
                    MeanStd { mean, std }
                };
                let seconds = runs.iter().map(|r| r[f].2).sum::<f64>() / options.runs as f64;
                SearchRow {
                    filter: *filter,
                    accuracy: [ms(0), ms(1), ms(2)],
                    scored: runs.iter().map(|r| r[f].1 as f64).sum::<f64>()
                        / (options.runs * options.per_run) as f64,
                    seconds,
                    saved: if base_secs > 0.0 {
                        1.0 - seconds / base_secs
                    } else {
                        0.0
                    },
                    paper_cifar100: match (filter, proxy) {
                        (SearchFilter::Radius(phi), SearchProxy::Naswot) => paper_table3(*phi),
                        _ => None,
                    },
                }
            })
            .collect();
        Some(SearchStudy {
            proxy,
            options,
            pool: pool.len(),
            rows,
        })
    }

    /// The table as Markdown.
    pub fn markdown(&self) -> String {
        let f = |m: &MeanStd| match m.std {
            Some(s) => format!("{:.2} ± {:.2}", m.mean, s),
            None => format!("{:.2}", m.mean),
        };
        let mut s =
            format!(
            "{} search: {} runs of {} cells drawn from a pool of {} scored cells (seed {}).\n\n",
            self.proxy.name(),
            self.options.runs, self.options.per_run, self.pool, self.options.seed
        );
        s.push_str(&format!(
            "| filter | {} | {} | {} | scored | time saved | paper C100 |\n|---|---|---|---|---|---|---|\n",
            Dataset::ALL[0].name(),
            Dataset::ALL[1].name(),
            Dataset::ALL[2].name()
        ));
        for r in &self.rows {
            s.push_str(&format!(
                "| {} | {} | {} | {} | {:.0}% | {:.0}% | {} |\n",
                r.filter.describe(),
                f(&r.accuracy[0]),
                f(&r.accuracy[1]),
                f(&r.accuracy[2]),
                100.0 * r.scored,
                100.0 * r.saved,
                r.paper_cifar100.map_or("—".into(), |a| format!("{a:.2}"))
            ));
        }
        s
    }
}
