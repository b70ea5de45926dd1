//! Rank correlations of the zero-cost proxies with the benchmark's accuracies, over the
//! scored cells, beside the published values.
//!
//! Each proxy orders cells "higher is better"; Kendall tau-b and Spearman rho
//! ([`crate::nas::stats`]) are taken between the proxy's average ranks and the accuracy
//! on each dataset (ranks, so a singular NASWOT kernel, `-inf`, is simply the lowest).
//! The rank combination is `rank(lambda_min) + rank(#params)`. The exact-kernel
//! `lambda_min` comes from [`crate::nas::ProxyScores`] (the closed-form exact NNGP
//! kernel of the cell's DAG; a cell without an input-output path has the zero kernel,
//! `lambda_min = 0`).
//!
//! Published Kendall tau (as issue 16 quotes them, over CIFAR-10 / CIFAR-100 /
//! ImageNet16-120): NASWOT 0.56-0.58, #params 0.52-0.58, TE-NAS 0.49-0.54, SynFlow
//! 0.56-0.57. SynFlow is [`crate::nas::cnn::Nb201Network::synflow`] (no BN, `|w|`, one
//! all-ones image). TE-NAS ([`crate::nas::tenas`]) has three rows: `-kappa` (the NTK's
//! condition number, lower is better; a singular NTK ranks last), the linear regions,
//! and TE-NAS's own ranking, `-(rank(kappa) + rank(regions))`, which the published value
//! refers to.

use super::CellScore;
use crate::kernel::KernelKind;
use crate::nas::stats::{average_ranks, kendall_tau_b, spearman_rho};
use crate::nas::table::{Dataset, Nb201Table};
use crate::nas::ProxyScores;
use serde::Serialize;
use std::collections::HashMap;

/// A proxy's name, scores (`None`: not computed) and published tau range.
type Column<'a> = (&'a str, Option<Vec<f64>>, Option<(f64, f64)>);

/// One proxy's correlations.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProxyRow {
    /// Name.
    pub proxy: String,
    /// Kendall tau-b per dataset ([`Dataset::ALL`] order); `None` when not computed or
    /// undefined (constant scores).
    pub tau: [Option<f64>; 3],
    /// Spearman rho per dataset.
    pub rho: [Option<f64>; 3],
    /// The published Kendall tau range over the three datasets, when there is one.
    pub published_tau: Option<(f64, f64)>,
    /// Whether this build computed the proxy.
    pub computed: bool,
}

/// The correlation table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ZeroCostStudy {
    /// Cells with scores and accuracies.
    pub cells: usize,
    /// Cells in the sample.
    pub sample: usize,
    /// Cells whose NASWOT kernel was singular.
    pub singular: usize,
    /// Mean seconds of one NASWOT evaluation.
    pub mean_seconds: f64,
    /// One row per proxy.
    pub rows: Vec<ProxyRow>,
}

impl ZeroCostStudy {
    /// Correlations over the `records` that have accuracies in `table`; `synflow`, when
    /// given, holds `ln SynFlow` of each record (same order).
    ///
    /// # Panics
    /// When `synflow` is not as long as `records`.
    pub fn compute(
        table: &Nb201Table,
        records: &[CellScore],
        synflow: Option<&[f64]>,
        sample: usize,
        kernel: &ProxyScores,
    ) -> ZeroCostStudy {
        if let Some(s) = synflow {
            assert_eq!(s.len(), records.len(), "one SynFlow score per record");
        }
        let acc: HashMap<usize, [f64; 3]> = super::accuracies(table);
        let used: Vec<(usize, &CellScore, [f64; 3])> = records
            .iter()
            .enumerate()
            .filter_map(|(i, r)| Some((i, r, *acc.get(&r.index)?)))
            .collect();
        let synflow: Option<Vec<f64>> =
            synflow.map(|s| used.iter().map(|(i, _, _)| s[*i]).collect());
        let used: Vec<(&CellScore, [f64; 3])> = used.into_iter().map(|(_, r, a)| (r, a)).collect();
        let exact = KernelKind::ALL
            .iter()
            .position(|k| *k == KernelKind::Exact)
            .expect("exact kernel");
        let lambda: Vec<f64> = used
            .iter()
            .map(|(r, _)| {
                kernel
                    .scores
                    .get(r.index)
                    .copied()
                    .flatten()
                    .map_or(0.0, |s| s[exact].lambda_min)
            })
            .collect();
        let params: Vec<f64> = used.iter().map(|(r, _)| r.params as f64).collect();
        let combo: Vec<f64> = average_ranks(&lambda)
            .iter()
            .zip(average_ranks(&params))
            .map(|(a, b)| a + b)
            .collect();
        let kappa: Vec<Option<f64>> = used.iter().map(|(r, _)| r.ntk_condition).collect();
        let regions: Vec<usize> = used.iter().map(|(r, _)| r.regions).collect();
        let columns: Vec<Column<'_>> = vec![
            (
                "NASWOT",
                Some(used.iter().map(|(r, _)| r.naswot_value()).collect()),
                Some((0.56, 0.58)),
            ),
            ("#params", Some(params), Some((0.52, 0.58))),
            (
                "FLOPs",
                Some(used.iter().map(|(r, _)| r.flops as f64).collect()),
                None,
            ),
            ("exact-kernel lambda_min", Some(lambda), None),
            ("rank(lambda_min) + rank(#params)", Some(combo), None),
            ("SynFlow", synflow, Some((0.56, 0.57))),
            (
                "TE-NAS -kappa (NTK condition number)",
                Some(
                    kappa
                        .iter()
                        .map(|k| k.map_or(f64::NEG_INFINITY, |v| -v))
                        .collect(),
                ),
                None,
            ),
            (
                "TE-NAS linear regions",
                Some(used.iter().map(|(r, _)| r.regions as f64).collect()),
                None,
            ),
            (
                "TE-NAS -(rank(kappa) + rank(regions))",
                Some(
                    crate::nas::tenas::rank_combination(&kappa, &regions)
                        .into_iter()
                        .map(|v| -v)
                        .collect(),
                ),
                Some((0.49, 0.54)),
            ),
        ];
        let accs: Vec<Vec<f64>> = Dataset::ALL
            .iter()
            .enumerate()
            .map(|(d, _)| used.iter().map(|(_, a)| a[d]).collect())
            .collect();
        let rows = columns
            .into_iter()
            .map(|(name, scores, published)| {
                let mut row = ProxyRow {
                    proxy: name.into(),
                    tau: [None; 3],
                    rho: [None; 3],
                    published_tau: published,
                    computed: scores.is_some(),
                };
                if let Some(s) = scores {
                    let ranks = average_ranks(&s);
                    for (d, acc) in accs.iter().enumerate() {
                        row.tau[d] = kendall_tau_b(&ranks, acc);
                        row.rho[d] = spearman_rho(&ranks, acc);
                    }
                }
                row
            })
            .collect();
        let n = used.len();
        ZeroCostStudy {
            cells: n,
            sample,
            singular: used.iter().filter(|(r, _)| r.naswot.is_none()).count(),
            mean_seconds: used.iter().map(|(r, _)| r.seconds).sum::<f64>() / n.max(1) as f64,
            rows,
        }
    }

    /// The table as Markdown.
    pub fn markdown(&self) -> String {
        let f = |v: Option<f64>| v.map_or("—".to_string(), |x| format!("{x:.3}"));
        let mut s = format!(
            "Rank correlations with the 200-epoch test accuracy over {} of {} sampled cells (NASWOT singular on {}; {:.3} s per NASWOT evaluation on average).\n\n",
            self.cells, self.sample, self.singular, self.mean_seconds
        );
        s.push_str("| proxy | tau C10 | tau C100 | tau IN16 | rho C10 | rho C100 | rho IN16 | published tau |\n|---|---|---|---|---|---|---|---|\n");
        for r in &self.rows {
            let p = r
                .published_tau
                .map_or("—".to_string(), |(a, b)| format!("{a:.2}-{b:.2}"));
            if r.computed {
                s.push_str(&format!(
                    "| {} | {} | {} | {} | {} | {} | {} | {p} |\n",
                    r.proxy,
                    f(r.tau[0]),
                    f(r.tau[1]),
                    f(r.tau[2]),
                    f(r.rho[0]),
                    f(r.rho[1]),
                    f(r.rho[2])
                ));
            } else {
                s.push_str(&format!("| {} | not computed | | | | | | {p} |\n", r.proxy));
            }
        }
        s
    }
}
