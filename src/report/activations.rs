//! The report section of the activation study ([`crate::activation_study`]).

use super::{md_table, Section};
use crate::activation_study::{ActivationStudy, StudyKernel};
use crate::plot::{save_bars_png, save_bars_svg, BarData, BarGroup, PlotError};
use std::path::Path;

/// `lambda_min` (or its normalised value) of one row of `study`; NaN when absent.
fn value(
    study: &ActivationStudy,
    kernel: StudyKernel,
    activation: &str,
    dag: &str,
    normalized: bool,
) -> f64 {
    study
        .rows
        .iter()
        .find(|r| r.kernel == kernel && r.activation == activation && r.dag == dag)
        .map_or(f64::NAN, |r| {
            if normalized {
                r.normalized_lambda_min
            } else {
                r.lambda_min
            }
        })
}

/// The figure data of `study` for `kernel`: grouped bars of `lambda_min` (divided by
/// the mean diagonal if `normalized`), one cluster per activation, one bar per DAG.
pub fn bars(study: &ActivationStudy, kernel: StudyKernel, normalized: bool) -> BarData {
    let mut categories: Vec<String> = Vec::new();
    for r in study.rows.iter().filter(|r| r.kernel == kernel) {
        if !categories.contains(&r.activation) {
            categories.push(r.activation.clone());
        }
    }
    let groups = ["DAG#1", "DAG#2", "DAG#3"]
        .iter()
        .map(|d| BarGroup {
            name: d.to_string(),
            values: categories
                .iter()
                .map(|a| value(study, kernel, a, d, normalized))
                .collect(),
        })
        .collect();
    BarData {
        title: format!(
            "{} lambda_min of the exact {} by activation (N = {}, d = {})",
            if normalized { "Normalised" } else { "Raw" },
            kernel.name().to_uppercase(),
            study.points,
            study.dim
        ),
        x_label: "activation (sw2 = 1 / E[phi(z)^2], no bias)".into(),
        y_label: if normalized {
            "lambda_min / mean diagonal".into()
        } else {
            "lambda_min".into()
        },
        categories,
        groups,
    }
}

/// The figure data of one activation of `study`: grouped bars of `lambda_min` (divided by
/// the mean diagonal if `normalized`), one cluster per DAG, one bar per kernel (NNGP, NTK).
/// `None` when the study did not compute `activation` (its spec string, e.g. `relu`).
///
/// ```
/// use archconv::activation::Activation;
/// use archconv::activation_study::{activation_study, StudyOptions};
/// use archconv::report::activations::kernel_bars;
/// let s = activation_study(&StudyOptions { points: 8, dim: 4, seed: 0,
///     activations: vec![Activation::Relu] })?;
/// let b = kernel_bars(&s, "relu", true).expect("computed");
/// assert_eq!(b.categories, ["DAG#1", "DAG#2", "DAG#3"]);
/// assert_eq!(b.groups.len(), 2);                      // NNGP and NTK
/// assert!(b.groups.iter().all(|g| g.values.iter().all(|v| v.is_finite())));
/// assert!(kernel_bars(&s, "tanh", true).is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn kernel_bars(study: &ActivationStudy, activation: &str, normalized: bool) -> Option<BarData> {
    let dags = ["DAG#1", "DAG#2", "DAG#3"];
    if !study.rows.iter().any(|r| r.activation == activation) {
        return None;
    }
    let groups = StudyKernel::ALL
        .iter()
        .map(|&kernel| BarGroup {
            name: format!(
                "{}{}",
                kernel.name().to_uppercase(),
                if normalized { " / mean diagonal" } else { "" }
            ),
            values: dags
                .iter()
                .map(|d| value(study, kernel, activation, d, normalized))
                .collect(),
        })
        .collect();
    Some(BarData {
        title: format!(
            "NNGP and NTK lambda_min, {} ({activation}, N = {})",
            if normalized { "normalised" } else { "raw" },
            study.points
        ),
        x_label: "DAG".into(),
        y_label: "lambda_min".into(),
        categories: dags.iter().map(|d| d.to_string()).collect(),
        groups,
    })
}

/// The `activations` section of `study`: the table of raw and normalised `lambda_min`
/// per activation, kernel and DAG with the study's summary, and three figures written to
/// `dir` (`activations_nngp`, `activations_ntk`, `activations_nngp_normalised`, each as
/// `.svg` and `.png`, from [`bars`]).
pub fn section(study: &ActivationStudy, dir: &Path) -> Result<Section, PlotError> {
    let rows: Vec<Vec<String>> = study
        .rows
        .iter()
        .map(|r| {
            vec![
                r.activation.clone(),
                format!("{:.4}", r.sw2),
                r.kernel.name().to_uppercase(),
                r.dag.clone(),
                format!("{:.6}", r.lambda_min),
                format!("{:.6}", r.normalized_lambda_min),
            ]
        })
        .collect();
    let markdown =
        format!(
        "Seeded Gaussian inputs, N = {}, d = {}, rows normalised, dense lift; every linear edge \
         `phi(sqrt(sw2/m) W x)` with the variance-preserving `sw2 = 1 / E[phi(z)^2]` (ReLU: 2, \
         the paper's) and no bias. Exact NNGP and exact NTK (all parameters trained).\n\n{}\n\n{}",
        study.points,
        study.dim,
        study.summary(),
        md_table(
            &["activation", "sw2", "kernel", "DAG", "lambda_min", "normalised"],
            &rows
        )
    );
    let mut files = Vec::new();
    for (kernel, normalized, stem) in [
        (StudyKernel::Nngp, false, "activations_nngp"),
        (StudyKernel::Ntk, false, "activations_ntk"),
        (StudyKernel::Nngp, true, "activations_nngp_normalised"),
    ] {
        let bars = bars(study, kernel, normalized);
        save_bars_svg(dir.join(format!("{stem}.svg")), &bars)?;
        save_bars_png(dir.join(format!("{stem}.png")), &bars)?;
        files.push(format!("{stem}.svg"));
        files.push(format!("{stem}.png"));
    }
    Ok(Section {
        id: "activations".into(),
        title: "The paper's ordering for other activations".into(),
        markdown,
        data: serde_json::to_value(study).expect("serialisable"),
        files,
    })
}
