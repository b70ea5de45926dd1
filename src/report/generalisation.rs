//! The report section and figure of [`crate::generalisation`] (issue study 4c).

use super::{md_table, Section};
use crate::generalisation::{GenCorrelation, GenStudy};
use crate::plot::{
    save_scatter_png, save_scatter_svg, PlotError, ScatterData, ScatterPanel, ScatterSeries,
};
use std::path::Path;

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |x| format!("{x:.digits$}"))
}

/// A plain-words reading of one correlation.
fn reading(c: &GenCorrelation) -> &'static str {
    match c.spearman {
        None => "undefined (a constant side)",
        Some(r) if r.abs() < 0.3 => "weak or none",
        Some(r) if r >= 0.7 => "strong, positive",
        Some(r) if r > 0.0 => "moderate, positive",
        Some(r) if r <= -0.7 => "strong, negative",
        Some(_) => "moderate, negative",
    }
}

/// The scatter data: per training set, accuracy against `log10` of the normalised
/// `lambda_min` (NNGP: of `K`, NTK: of `Theta`).
pub fn scatter(study: &GenStudy) -> ScatterData {
    let mut panels: Vec<ScatterPanel> = Vec::new();
    for r in &study.rows {
        let title = r.dataset.clone();
        if panels.last().map(|p| &p.title) != Some(&title) {
            panels.push(ScatterPanel {
                title,
                series: vec![
                    ScatterSeries {
                        name: "NNGP".into(),
                        x: vec![],
                        y: vec![],
                    },
                    ScatterSeries {
                        name: "NTK".into(),
                        x: vec![],
                        y: vec![],
                    },
                ],
            });
        }
        let p = panels.last_mut().expect("pushed above");
        if let Some(v) = r.nngp_spectrum.normalized_lambda_min.filter(|v| *v > 0.0) {
            p.series[0].x.push(v.log10());
            p.series[0].y.push(100.0 * r.nngp_accuracy);
        }
        if let Some(v) = r.ntk_normalized_lambda_min.filter(|v| *v > 0.0) {
            p.series[1].x.push(v.log10());
            p.series[1].y.push(100.0 * r.ntk_accuracy);
        }
    }
    ScatterData {
        title: "Kernel-regime test accuracy against normalised lambda_min".into(),
        x_label: "log10 lambda_min / mean diagonal (K or Theta)".into(),
        y_label: "test accuracy (%)".into(),
        panels,
    }
}

/// The section (markdown and JSON) and, when any row exists, the figure
/// `generalisation.{svg,png}` in `dir`.
pub fn section(study: &GenStudy, dir: &Path) -> Result<Section, PlotError> {
    let rows: Vec<Vec<String>> = study
        .rows
        .iter()
        .map(|r| {
            vec![
                r.dataset.clone(),
                format!("`{}`", r.arch.replace('|', "\\|")),
                opt(r.depth, 3),
                format!("{:.4}", r.nngp_accuracy),
                format!("{:.3e}", r.nngp_spectrum.lambda_min),
                opt(r.nngp_spectrum.normalized_lambda_min, 5),
                format!("{:.4}", r.ntk_accuracy),
                format!("{:.3e}", r.ntk_lambda_min),
                opt(r.ntk_normalized_lambda_min, 5),
            ]
        })
        .collect();
    let corr: Vec<Vec<String>> = study
        .correlations
        .iter()
        .map(|c| {
            vec![
                c.dataset.clone(),
                c.what.clone(),
                c.count.to_string(),
                opt(c.spearman, 3),
                opt(c.kendall, 3),
                reading(c).into(),
            ]
        })
        .collect();
    let mut spread = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for r in &study.rows {
        if seen.contains(&r.dataset.as_str()) {
            continue;
        }
        seen.push(&r.dataset);
        let part: Vec<_> = study
            .rows
            .iter()
            .filter(|x| x.dataset == r.dataset)
            .collect();
        let range = |f: &dyn Fn(&&crate::generalisation::GenRow) -> f64| {
            part.iter()
                .map(f)
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                    (a.min(v), b.max(v))
                })
        };
        let (g0, g1) = range(&|x| x.nngp_accuracy);
        let (t0, t1) = range(&|x| x.ntk_accuracy);
        // Binomial standard error of one accuracy near the mean, sqrt(p (1 - p) / n_test);
        // the difference of two independent ones has sqrt(2) times that.
        let p = part.iter().map(|x| x.nngp_accuracy).sum::<f64>() / part.len() as f64;
        let se = (p * (1.0 - p) / r.n_test as f64).sqrt();
        let verdict = if (g1 - g0).max(t1 - t0) <= 2.0 * std::f64::consts::SQRT_2 * se {
            "within test-set noise: these accuracies do not tell the architectures apart, so the rank correlations below are noise"
        } else {
            "beyond test-set noise"
        };
        spread.push(vec![
            r.dataset.clone(),
            r.n_test.to_string(),
            format!("{g0:.4} - {g1:.4}"),
            format!("{t0:.4} - {t1:.4}"),
            format!("{se:.4}"),
            verdict.to_string(),
        ]);
    }
    let mut md = format!(
        "Beyond the paper. DAG#1-#3 and {} NAS-Bench-201 cells (seed {}, uniform over the cells \
         with an input-output path), the authors' ReLU stem, exact rule. NNGP: posterior mean of \
         one-hot regression (noise 0 plus the reported jitter); NTK: converged gradient flow on MSE. \
         Both scored by arg-max on the test set. `lambda_min` is of the training kernel, raw and \
         over its mean diagonal. Budget `{}`.\n\n{}\n\nSpread of accuracy across architectures against the \
         binomial standard error of one accuracy (two accuracies differ beyond noise when they are \
         more than 2 sqrt(2) SE apart):\n\n{}\n\nRank correlations across architectures \
         (Spearman rho, Kendall tau-b):\n\n{}\n",
        study.budget.cells,
        study.budget.seed,
        study.budget.name,
        md_table(
            &["data", "architecture", "depth", "NNGP acc", "lambda_min K", "normalised", "NTK acc", "lambda_min Theta", "normalised"],
            &rows
        ),
        md_table(
            &["data", "test points", "NNGP acc range", "NTK acc range", "SE", "reading"],
            &spread
        ),
        md_table(&["data", "pair", "archs", "rho", "tau", "reading"], &corr)
    );
    for s in &study.skipped {
        md.push_str(&format!("\nSkipped: {s}\n"));
    }
    let mut files = Vec::new();
    if !study.rows.is_empty() {
        let fig = scatter(study);
        save_scatter_svg(dir.join("generalisation.svg"), &fig)?;
        save_scatter_png(dir.join("generalisation.png"), &fig)?;
        files = vec!["generalisation.svg".into(), "generalisation.png".into()];
    }
    Ok(Section {
        id: "generalisation".into(),
        title: "Connectivity and generalisation in the kernel regime".into(),
        markdown: md,
        data: serde_json::to_value(study).unwrap_or(serde_json::Value::Null),
        files,
    })
}
