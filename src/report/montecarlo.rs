//! The report section and figure of the Monte Carlo study
//! ([`crate::montecarlo::paper`]): DAG#1-#3 against the three closed-form kernels, and a
//! width sweep on DAG#3.

use super::{md_table, Section};
use crate::kernel::KernelKind;
use crate::montecarlo::paper::PaperStudy;
use crate::montecarlo::{McResult, Sweep};
use crate::plot::{save_mc_error_png, save_mc_error_svg, McErrorData, McSeries, PlotError};
use std::path::Path;

/// `mean ± se`, or `mean ± n/a (one network)` when the standard error is undefined (a
/// single sample has no spread to estimate; printing 0 would claim an exact value).
fn mean_se(mean: f64, se: Option<f64>) -> String {
    match se {
        Some(se) => format!("{mean:.4} ± {se:.4}"),
        None => format!("{mean:.4} ± n/a (one network)"),
    }
}

/// Markdown table of a run: one row per closed-form kernel.
pub fn comparison_table(r: &McResult) -> String {
    let mut rows = Vec::new();
    for c in &r.comparisons {
        rows.push(vec![
            c.kind.to_string(),
            format!("{:.4}", c.rel_frobenius_of_mean),
            mean_se(c.rel_frobenius.mean, c.rel_frobenius.se),
            format!("{:.4}", c.kernel_lambda_min),
        ]);
    }
    let ci = match r.lambda_min.ci {
        Some((lo, hi)) => format!("[{lo:.4}, {hi:.4}]"),
        None => "— (one network)".to_string(),
    };
    rows.push(vec![
        format!(
            "Monte Carlo (m = {}, {} networks)",
            r.params.width, r.params.seeds
        ),
        "—".into(),
        "—".into(),
        format!(
            "{:.4} (per network; {:.0}% CI {ci}); mean Gram {:.4}",
            r.lambda_min.mean,
            100.0 * r.lambda_min.level,
            r.lambda_min_of_mean
        ),
    ]);
    md_table(
        &[
            "kernel",
            "rel. Frobenius (mean Gram)",
            "rel. Frobenius (per network ± se)",
            "lambda_min",
        ],
        &rows,
    )
}

/// Markdown table of a sweep: errors per width and the fitted slopes.
pub fn sweep_table(s: &Sweep) -> String {
    let mut rows = Vec::new();
    for p in &s.points {
        let mut row = vec![p.width.to_string()];
        for (_, e) in &p.errors {
            row.push(mean_se(e.mean, e.se));
        }
        rows.push(row);
    }
    let mut row = vec!["slope".to_string()];
    for (_, f) in &s.slopes {
        row.push(match f {
            Some(f) => match f.slope_se {
                Some(se) => format!("{:.3} ± {:.3}", f.slope, se),
                None => format!("{:.3}", f.slope),
            },
            None => "undefined".into(),
        });
    }
    rows.push(row);
    let header: Vec<String> = std::iter::once("width m".to_string())
        .chain(KernelKind::ALL.iter().map(|k| format!("error vs {k}")))
        .collect();
    let h: Vec<&str> = header.iter().map(String::as_str).collect();
    md_table(&h, &rows)
}

/// The error-against-width figure of a sweep: per kernel (the exact one first, so the
/// `m^-1/2` guide goes through its first point), the relative Frobenius error of the
/// per-network Grams, mean +- std over seeds.
pub fn error_figure(sweep: &Sweep) -> McErrorData {
    let mut fig = McErrorData::new();
    fig.title = "Monte Carlo Gram error vs width, DAG#3 (mean +- std over seeds)".into();
    fig.y_label = "relative Frobenius error to the kernel".into();
    for kind in KernelKind::ALL {
        let mut widths = Vec::new();
        let mut error = Vec::new();
        let mut sd = Vec::new();
        for p in &sweep.points {
            if let Some((_, st)) = p.errors.iter().find(|(k, _)| *k == kind) {
                widths.push(p.width as f64);
                error.push(st.mean);
                sd.push(st.sd.unwrap_or(0.0));
            }
        }
        fig.series.push(McSeries {
            name: kind.name().to_string(),
            widths,
            error,
            error_std: Some(sd),
        });
    }
    // The m^-1/2 guide goes through the first series' first point: put the exact kernel first.
    fig.series.rotate_right(1);
    fig
}

/// The `montecarlo` section of the reproduction report (no files; see
/// [`section_with_figure`]).
pub fn section(study: &PaperStudy) -> Section {
    let mut md = String::from(
        "Finite-width networks (conditional sampler, dense lift, N = 32) against the closed-form kernels. \
         The exact recursion is the limit; the path-sum kernel misses the post-ReLU mean cross terms.\n\n",
    );
    let mut data = serde_json::Map::new();
    for r in &study.runs {
        md.push_str(&format!(
            "### {} (`{}`)\n\n{}\n",
            r.name,
            r.code,
            comparison_table(&r.result)
        ));
        data.insert(
            r.name.clone(),
            serde_json::to_value(&r.result).unwrap_or_default(),
        );
    }
    md.push_str(&format!(
        "### Width sweep, DAG#3\n\n{}\n",
        sweep_table(&study.sweep)
    ));
    data.insert(
        "sweep_dag3".into(),
        serde_json::to_value(&study.sweep).unwrap_or_default(),
    );
    Section {
        id: "montecarlo".into(),
        title: "Finite-width Monte Carlo versus the closed-form kernels".into(),
        markdown: md,
        data: serde_json::Value::Object(data),
        files: vec![],
    }
}

/// [`section`] with the error-against-width figure ([`error_figure`]) written as
/// `mc_error_vs_width.{svg,png}` in `dir`.
pub fn section_with_figure(study: &PaperStudy, dir: &Path) -> Result<Section, PlotError> {
    let mut sec = section(study);
    let fig = error_figure(&study.sweep);
    save_mc_error_svg(dir.join("mc_error_vs_width.svg"), &fig)?;
    save_mc_error_png(dir.join("mc_error_vs_width.png"), &fig)?;
    sec.files.push("mc_error_vs_width.svg".into());
    sec.files.push("mc_error_vs_width.png".into());
    Ok(sec)
}
