//! Report sections and figures of the NAS studies ([`crate::nas`]): markdown, the JSON
//! numbers behind them, and the Fig. 5 bubble data.

use super::{md_table, Section};
use crate::nas::groups::{Fits, GroupStat};
use crate::nas::proxy::PROXIES;
use crate::nas::{DartsSpace, Dataset, NasError, Nb201Study};
use crate::plot::{BubbleData, BubblePanel, BubblePoint};
use std::path::Path;

fn section(id: &str, title: &str, markdown: String, data: serde_json::Value) -> Section {
    Section {
        id: id.into(),
        title: title.into(),
        markdown,
        data,
        files: vec![],
    }
}

fn opt(x: Option<f64>, digits: usize) -> String {
    x.map_or("-".into(), |v| format!("{v:.digits$}"))
}

fn pval(p: Option<f64>) -> String {
    match p {
        None => "-".into(),
        Some(p) if p < 1e-300 => "< 1e-300".into(),
        Some(p) => format!("{p:.2e}"),
    }
}

fn fit_cells(f: &Fits) -> Vec<String> {
    let one = |r: &Option<crate::nas::stats::Regression>| match r {
        Some(r) => vec![format!("{:.4}", r.r), r.n.to_string(), pval(r.p_value)],
        None => vec!["-".into(), "-".into(), "-".into()],
    };
    let mut v = one(&f.linear);
    v.extend(one(&f.quadratic));
    v
}

fn group_row(g: &GroupStat) -> String {
    format!(
        "({}, {}) n={} mean {:.2}",
        g.depth_exact, g.width_exact, g.count, g.mean
    )
}

/// The three NAS-Bench-201 sections (`nb201-fig5`, `nb201-filter`, `nb201-proxy`) of a
/// computed study.
pub fn study_sections(s: &Nb201Study) -> Vec<Section> {
    let info = format!(
        "Data: `{}`: {} distinct cells, {} duplicated rows ignored, {} cells of the space missing.",
        s.table.file.display(),
        s.table.cells,
        s.table.duplicates,
        s.table.missing
    );
    // Fig. 5
    let mut rows = Vec::new();
    for p in &s.fig5.panels {
        let mut r = vec![p.dataset.to_string(), "cells".into()];
        r.extend(fit_cells(&p.over_cells));
        rows.push(r);
        let mut r = vec![p.dataset.to_string(), "group means".into()];
        r.extend(fit_cells(&p.over_groups));
        rows.push(r);
    }
    let rtable = md_table(
        &[
            "dataset",
            "over",
            "R linear",
            "n",
            "p",
            "R quadratic",
            "n",
            "p",
        ],
        &rows,
    );
    let mut wb = Vec::new();
    for p in &s.fig5.panels {
        for i in 0..p.worst.len().max(p.best.len()) {
            wb.push(vec![
                p.dataset.to_string(),
                (i + 1).to_string(),
                p.worst.get(i).map_or("-".into(), group_row),
                p.best.get(i).map_or("-".into(), group_row),
            ]);
        }
    }
    let wbtable = md_table(
        &[
            "dataset",
            "rank",
            "worst group (dbar, mbar)",
            "best group (dbar, mbar)",
        ],
        &wb,
    );
    let mut und = Vec::new();
    for p in &s.fig5.panels {
        for u in &p.undefined {
            und.push(vec![
                p.dataset.to_string(),
                format!("{:?}", u.reason),
                u.count.to_string(),
                opt(u.mean, 2),
                opt(u.std, 2),
            ]);
        }
    }
    let undtable = md_table(
        &["dataset", "undefined because", "cells", "mean", "std"],
        &und,
    );
    let fig5_md = format!(
        "{info}\n\nCells are grouped by exact effective depth and width; {} of {} cells have both defined. \
         R is the multiple correlation of a least-squares fit of test accuracy on (dbar, mbar) (linear) and on \
         (d, m, d^2, m^2, d m) (quadratic), over cells and over the unweighted group means (one point per dot of \
         the bubble plot); p from the F-test.\n\n{rtable}\nWorst and best groups (at least {} cells):\n\n{wbtable}\n\
         Cells left out of the fits:\n\n{undtable}",
        s.fig5.defined,
        s.fig5.cells,
        crate::nas::Fig5::MIN_WORST_BEST
    );
    // Filter.
    let f = &s.filter;
    let mut kd = Vec::new();
    for fs in &f.factors {
        for a in &fs.accuracy {
            let sum = |x: &Option<crate::nas::stats::Summary>| match x {
                Some(x) => format!(
                    "{:.2} +- {} (q10 {:.2}, median {:.2}, q90 {:.2}, max {:.2})",
                    x.mean,
                    opt(x.std, 2),
                    x.q10,
                    x.median,
                    x.q90,
                    x.max
                ),
                None => "-".into(),
            };
            kd.push(vec![
                fs.factor.to_string(),
                a.dataset.to_string(),
                fs.kept.to_string(),
                sum(&a.kept),
                sum(&a.dropped),
            ]);
        }
    }
    let kdtable = md_table(
        &[
            "factor",
            "dataset",
            "kept",
            "kept accuracy",
            "dropped accuracy",
        ],
        &kd,
    );
    let mut sv = Vec::new();
    for d in Dataset::ALL {
        for sav in f.savings.iter().filter(|x| x.dataset == d) {
            let sim = |factor: Option<f64>| {
                f.curves
                    .iter()
                    .find(|c| c.dataset == d && c.factor == factor)
                    .and_then(|c| c.points.iter().find(|p| p.budget == sav.budget))
                    .map_or("-".into(), |p| format!("{:.2}", p.simulated))
            };
            sv.push(vec![
                d.to_string(),
                sav.factor.to_string(),
                sav.budget.to_string(),
                sim(None),
                sim(Some(sav.factor)),
                format!("{:.3}", sav.target),
                format!("{:.3}", sav.filtered_at_budget),
                sav.budget_needed.map_or("never".into(), |b| b.to_string()),
                sav.saved_fraction
                    .map_or("-".into(), |x| format!("{:.0}%", 100.0 * x)),
            ]);
        }
    }
    let svtable = md_table(
        &[
            "dataset",
            "factor",
            "B",
            "best, no filter (sim.)",
            "best, filter (sim.)",
            "E best, no filter",
            "E best, filter",
            "B' to match",
            "saved",
        ],
        &sv,
    );
    let filter_md = format!(
        "{info}\n\nThe filter comes from the space (all 15,625 cells): center ({:.4}, {:.4}), radius ({:.4}, {:.4}); a cell \
         is kept at factor phi when |dbar - c_d| <= phi r_d and |mbar - c_m| <= phi r_m (undefined cells are dropped).\n\n\
         {kdtable}\nRandom search: B cells drawn uniformly without replacement, best true test accuracy kept; \
         {} seeded trials per budget (seed {}). \"sim.\" = simulated mean; \"E\" = closed-form expectation; \
         B' = smallest filtered budget whose expected best reaches the unfiltered search's expected best at B. \
         This is the project's data-driven stand-in for the paper's Tables 2-3, which ran NAS-WOT and TE-NAS \
         inside the filter (`archconv nas search` runs both on the real networks).\n\n{svtable}",
        f.filter.center.0, f.filter.center.1, f.filter.radius.0, f.filter.radius.1, f.options.trials, f.options.seed
    );
    // Proxy.
    let p = &s.proxy;
    let mut pr = Vec::new();
    for name in PROXIES {
        let mut r = vec![name.to_string()];
        for d in Dataset::ALL {
            let c = p.get(name, d);
            r.push(opt(c.and_then(|c| c.kendall_tau_b), 3));
            r.push(opt(c.and_then(|c| c.spearman_rho), 3));
        }
        pr.push(r);
    }
    let prtable = md_table(
        &[
            "score",
            "C10 tau-b",
            "C10 rho",
            "C100 tau-b",
            "C100 rho",
            "IN16 tau-b",
            "IN16 rho",
        ],
        &pr,
    );
    let best_of = |names: &[&'static str], d: Dataset| {
        names
            .iter()
            .filter_map(|n| {
                p.get(n, d)
                    .and_then(|c| c.kendall_tau_b)
                    .map(|t| (t.abs(), *n))
            })
            .fold((0.0, ""), |a, b| if b.0 > a.0 { b } else { a })
    };
    let verdict: Vec<String> = Dataset::ALL
        .iter()
        .map(|&d| {
            let (ke, kn) = best_of(&PROXIES[..2], d);
            let (pe, pn) = best_of(&PROXIES[6..], d);
            format!(
                "{d}: best exact-kernel score `{kn}` |tau-b| = {ke:.3} vs best paper quantity `{pn}` |tau-b| = {pe:.3} -> {}",
                if ke > pe { "exact kernel ranks better" } else { "paper's quantities rank better" }
            )
        })
        .collect();
    let proxy_md = format!(
        "{info}\n\nScores of every cell on N = {} seeded Gaussian points in R^{} (seed {}, rows normalised, dense lift); \
         convolutions as linear edges, pooling as skip, none removed; {} distinct op-class graphs computed once each. \
         Rank correlations with test accuracy over the {} cells with defined depth and width. Distance to the filter \
         center is max(|d - c_d|/r_d, |m - c_m|/r_m) (smaller = more central; a negative correlation means central \
         cells are better).\n\n{prtable}\n{}\n",
        p.options.n,
        p.options.dim,
        p.options.seed,
        p.classes,
        p.cells,
        verdict.iter().map(|v| format!("- {v}")).collect::<Vec<_>>().join("\n")
    );
    vec![
        section(
            "nb201-fig5",
            "NAS-Bench-201: accuracy by effective depth and width (Fig. 5)",
            fig5_md,
            serde_json::to_value(&s.fig5).unwrap_or_default(),
        ),
        section(
            "nb201-filter",
            "NAS-Bench-201: the filter and random search (stand-in for Tables 2-3)",
            filter_md,
            serde_json::to_value(&s.filter).unwrap_or_default(),
        ),
        section(
            "nb201-proxy",
            "NAS-Bench-201: exact-kernel lambda_min as an accuracy proxy",
            proxy_md,
            serde_json::to_value(&s.proxy).unwrap_or_default(),
        ),
    ]
}

/// The Fig. 5 bubble data of a computed study: per dataset, one bubble per `(dbar, mbar)`
/// group (mean test accuracy, std as the spread) and the quadratic multiple correlation
/// over group means as the legend's `R`.
pub fn fig5_bubbles(s: &Nb201Study) -> BubbleData {
    let mut bubbles = BubbleData::new();
    bubbles.title = "Fig. 5: NAS-Bench-201 accuracy over effective depth and width".into();
    bubbles.spread_label = "std of test accuracy (%)".into();
    bubbles.accuracy_label = "mean test accuracy (%)".into();
    for panel in &s.fig5.panels {
        bubbles.panels.push(BubblePanel {
            dataset: panel.dataset.to_string(),
            points: panel
                .groups
                .iter()
                .map(|g| BubblePoint {
                    depth: g.depth,
                    width: g.width,
                    mean: g.mean,
                    spread: g.std.unwrap_or(0.0),
                })
                .collect(),
            correlation: panel.over_groups.quadratic.as_ref().map(|r| r.r),
        });
    }
    bubbles
}

/// Loads `<data_dir>/nats-bench-tss/nats_bench_tss_200ep.csv`, runs every NAS-Bench-201
/// study ([`crate::nas::nb201_study`]; `quick`: 200 search trials instead of 1,000) and
/// returns its three sections. A missing file is [`crate::data::DataError::Missing`]
/// (inside [`NasError::Data`]).
pub fn nb201_sections(data_dir: &Path, quick: bool) -> Result<Vec<Section>, NasError> {
    Ok(study_sections(&crate::nas::nb201_study(data_dir, quick)?))
}

/// The `darts-space` section text of a computed DARTS space.
pub fn darts_markdown(s: &DartsSpace) -> String {
    let kept: Vec<Vec<String>> = s
        .kept
        .iter()
        .map(|(phi, k)| vec![phi.to_string(), k.to_string()])
        .collect();
    format!(
        "DARTS normal cell, op classes only: {} intermediate nodes, each with two distinct inputs among the earlier \
         nodes and each edge parameterized (convolution) or not (skip/pooling); output = concatenation of all \
         intermediates (skip edges). {} labelled cells, {} distinct structures up to relabelling the intermediate \
         nodes; {} structures are skip-only (undefined). Paths from c_(k-2) and c_(k-1) counted separately and pooled \
         (P from {} to {}).\n\n\
         | | effective depth | effective width |\n|---|---|---|\n\
         | range (exact) | [{}, {}] | [{}, {}] |\n\
         | center | {:.4} | {:.4} |\n\
         | half-radius r/2 | {:.4} | {:.4} |\n\
         | paper center | {} | {} |\n\
         | paper half-radius | {} | {} |\n\n\
         Paper's box: depth [{:.1}, {:.1}], width [{:.1}, {:.1}]. {} distinct (dbar, mbar) groups.\n\n{}\n{}",
        s.intermediate,
        s.labelled,
        s.structures,
        s.zero_depth,
        s.paths_range.0,
        s.paths_range.1,
        s.depth_range_exact.0,
        s.depth_range_exact.1,
        s.width_range_exact.0,
        s.width_range_exact.1,
        s.filter.center.0,
        s.filter.center.1,
        s.half_radius.0,
        s.half_radius.1,
        s.paper_center.0,
        s.paper_center.1,
        s.paper_half_radius.0,
        s.paper_half_radius.1,
        s.paper_center.0 - 2.0 * s.paper_half_radius.0,
        s.paper_center.0 + 2.0 * s.paper_half_radius.0,
        s.paper_center.1 - 2.0 * s.paper_half_radius.1,
        s.paper_center.1 + 2.0 * s.paper_half_radius.1,
        s.groups.len(),
        md_table(&["radius factor", "structures kept"], &kept),
        darts_difference(s)
    ) + &darts_boxes(s)
}

/// The three boxes (`--convention paper-text | authors-code` and the space's own).
fn darts_boxes(s: &DartsSpace) -> String {
    let rows: Vec<Vec<String>> = s
        .boxes()
        .iter()
        .map(|b| {
            vec![
                b.name.clone(),
                format!("[{:.3}, {:.3}]", b.depth.0, b.depth.1),
                format!("[{:.3}, {:.3}]", b.width.0, b.width.1),
                format!("({:+.3}, {:+.3})", b.center_offset.0, b.center_offset.1),
                b.structures.to_string(),
            ]
        })
        .collect();
    format!(
        "\nFilter boxes by convention (both count paths from the two cell inputs, pooled, with convolutions 1 and skip/pooling 0; they differ in the box):\n\n{}",
        md_table(&["box", "depth", "width", "center minus this space's", "structures inside"], &rows)
    )
}

/// Why the computed box differs from the paper's (text for the report).
fn darts_difference(s: &DartsSpace) -> String {
    let (pc, ph) = (s.paper_center, s.paper_half_radius);
    format!(
        "Difference from the paper: center off by ({:+.3}, {:+.3}), half-radius off by ({:+.3}, {:+.3}). The paper's box \
         was taken over the union of the NASNet, AmoebaNet, PNAS, ENAS and DARTS spaces, and all but DARTS have five \
         intermediate nodes: with five (`archconv nas darts --nodes 5`) the depth range widens and its center and \
         half-radius come close to the paper's depth values. The width axis is not reproduced: here every \
         intermediate reads two inputs and feeds the output, so P >= {} and the width is at least {}, while the \
         paper's lower width edge ({:.1}) needs cells with fewer parameterized paths than their effective depth. \
         That points to a different convention or space in the authors' computation (for instance NASNet-style cells \
         that concatenate only the nodes no other node reads, or path counts not pooled over both inputs), which \
         this study does not model.",
        s.filter.center.0 - pc.0,
        s.filter.center.1 - pc.1,
        s.half_radius.0 - ph.0,
        s.half_radius.1 - ph.1,
        s.paths_range.0,
        s.width_range_exact.0,
        pc.1 - 2.0 * ph.1
    )
}

/// The `darts-space` section of a computed DARTS space (the report uses
/// `DartsSpace::compute(4)`).
pub fn darts_section(s: &DartsSpace) -> Section {
    section(
        "darts-space",
        "DARTS: effective depth and width of the normal-cell space",
        darts_markdown(s),
        serde_json::to_value(s).unwrap_or_default(),
    )
}

/// Every NAS section: the three NAS-Bench-201 sections followed by `darts-space` (four
/// intermediate nodes). Errors when the NAS-Bench-201 file is missing (call
/// [`darts_section`] alone then).
pub fn report_sections(data_dir: &Path, quick: bool) -> Result<Vec<Section>, NasError> {
    let mut v = nb201_sections(data_dir, quick)?;
    v.push(darts_section(&DartsSpace::compute(4)));
    Ok(v)
}
