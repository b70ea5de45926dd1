//! The report section and figure of [`crate::train::linearised`] (issue 14, study 4a).

use super::{md_table, Section};
use crate::plot::{
    save_training_png, save_training_svg, PlotError, TrainingCurve, TrainingData, TrainingPanel,
};
use crate::train::linearised::LinearisedStudy;
use std::path::Path;

fn opt(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| format!("{x:.3}"))
}

/// The figure data: per DAG, the measured loss (mean ± std over seeds) at each width and
/// the exact NTK's expected curve, all divided by the expected initial loss.
pub fn figure(study: &LinearisedStudy) -> TrainingData {
    let mut fig = TrainingData::new();
    fig.title = "Exact-NTK prediction against finite-width gradient descent (MNIST subset)".into();
    fig.x_label = "gradient-descent step".into();
    fig.y_label = "training loss / expected initial loss".into();
    for d in &study.dags {
        let l0 = d
            .expected
            .first()
            .copied()
            .filter(|v| *v > 0.0)
            .unwrap_or(1.0);
        let steps: Vec<f64> = (0..d.expected.len()).map(|s| s as f64).collect();
        let mut curves = vec![TrainingCurve {
            name: "exact NTK (expected)".into(),
            epochs: steps.clone(),
            mean: d.expected.iter().map(|v| v / l0).collect(),
            std: None,
        }];
        for w in &d.widths {
            curves.push(TrainingCurve {
                name: format!("width {}", w.width),
                epochs: steps.clone(),
                mean: w.measured_mean.iter().map(|v| v / l0).collect(),
                std: Some(w.measured_std.iter().map(|v| v / l0).collect()),
            });
        }
        fig.panels.push(TrainingPanel {
            dataset: d.dag.clone(),
            curves,
        });
    }
    fig
}

/// The section and, when any DAG ran, the figure `linearised.{svg,png}` in `dir`.
pub fn section(study: &LinearisedStudy, dir: &Path) -> Result<Section, PlotError> {
    let mut rows = Vec::new();
    for d in &study.dags {
        for w in &d.widths {
            rows.push(vec![
                d.dag.clone(),
                w.width.to_string(),
                format!("{:.4}", w.gap_mean),
                w.gaps
                    .iter()
                    .map(|g| format!("{g:.4}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                format!(
                    "{:.4e}",
                    w.measured_mean.last().copied().unwrap_or(f64::NAN)
                ),
                format!("{:.4e}", d.expected.last().copied().unwrap_or(f64::NAN)),
            ]);
        }
    }
    let slopes: Vec<Vec<String>> = study
        .dags
        .iter()
        .map(|d| {
            vec![
                d.dag.clone(),
                format!("{:.4e}", d.lambda_min),
                format!("{:.4e}", d.lambda_max),
                format!("{:.4e}", d.lr),
                opt(d.slope),
                opt(d.slope_se),
            ]
        })
        .collect();
    let b = &study.budget;
    let md = format!(
        "Beyond the paper. The width-m network in NTK parameterisation (every parameter trained, \
         the authors' ReLU stem) trained by full-batch gradient descent on `L = 1/2 ||u - y||^2`, \
         {}; {} steps of `eta = {} / lambda_max(Theta)`, {} seeds per width, budget `{}`. The gap is \
         `max_k |L_k - L_k^pred| / L_0` against the exact NTK's prediction conditional on each \
         network's own initial outputs, `L_k^pred = 1/2 ||(I - eta Theta)^k (y - u_0)||^2`; the \
         figure also draws the prediction expected over initialisations. Finite-width \
         corrections are O(m^-1/2), so a slope near -1/2 is expected.\n\n{}\n\nSlope of \
         `ln gap` on `ln m` (least squares over widths):\n\n{}\n",
        study.target,
        b.steps,
        b.lr_fraction,
        b.seeds,
        b.name,
        md_table(
            &["DAG", "width", "gap (mean)", "gap per seed", "final loss (mean)", "final loss (expected)"],
            &rows
        ),
        md_table(
            &["DAG", "lambda_min", "lambda_max", "eta", "slope", "std error"],
            &slopes
        ),
    );
    let mut files = Vec::new();
    if !study.dags.is_empty() {
        let fig = figure(study);
        save_training_svg(dir.join("linearised.svg"), &fig)?;
        save_training_png(dir.join("linearised.png"), &fig)?;
        files = vec!["linearised.svg".into(), "linearised.png".into()];
    }
    Ok(Section {
        id: "linearised".into(),
        title: "Exact-NTK predicted training against finite-width gradient descent".into(),
        markdown: md,
        data: serde_json::to_value(study).unwrap_or(serde_json::Value::Null),
        files,
    })
}
