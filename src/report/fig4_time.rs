//! The report section and figures of [`crate::train::fig4_time`] (issue 14, study 4b).

use super::{md_table, Section};
use crate::plot::{
    save_training_png, save_training_svg, PlotError, TrainingCurve, TrainingData, TrainingPanel,
};
use crate::train::fig4_time::Fig4TimeStudy;
use std::path::Path;

/// The collapse figure: one panel per rung, each DAG's mean training loss against `t` at
/// the rung's two learning rates.
pub fn collapse_figure(study: &Fig4TimeStudy) -> TrainingData {
    let mut fig = TrainingData::new();
    fig.title = "Training loss against time t = lr x steps: each rung, two learning rates".into();
    fig.x_label = "t = lr x steps".into();
    fig.y_label = "training cross-entropy (mean over seeds)".into();
    for r in &study.rungs {
        let mut curves = vec![];
        for (dag, small, large) in &r.curves {
            curves.push(TrainingCurve {
                name: format!("{dag} lr {:e}", r.lr_small),
                epochs: r.t.clone(),
                mean: small.clone(),
                std: None,
            });
            let keep: Vec<usize> = (0..large.len()).filter(|&i| large[i].is_finite()).collect();
            curves.push(TrainingCurve {
                name: format!("{dag} lr {:e}", r.lr_large),
                epochs: keep.iter().map(|&i| r.t[i]).collect(),
                mean: keep.iter().map(|&i| large[i]).collect(),
                std: None,
            });
        }
        fig.panels.push(TrainingPanel {
            dataset: format!(
                "lr {:e} vs {:e}: {}",
                r.lr_small,
                r.lr_large,
                if r.collapses {
                    "collapse"
                } else if r.diverged {
                    "diverges"
                } else {
                    "no collapse"
                }
            ),
            curves,
        });
    }
    fig
}

/// Fig. 4 against time: measured training accuracy (mean ± std over seeds) of DAG#1-#3
/// at `lr*`, and the exact NTK's prediction from the same initial logits.
pub fn figure(study: &Fig4TimeStudy) -> TrainingData {
    let mut fig = TrainingData::new();
    fig.title = format!(
        "Fig. 4 against time: MNIST, SGD at lr {:e}, width {}, {} seeds",
        study.lr_star, study.budget.width, study.budget.seeds
    );
    fig.x_label = "t = lr x steps".into();
    fig.y_label = "training accuracy (%)".into();
    let pct = |v: &[f64]| v.iter().map(|x| 100.0 * x).collect::<Vec<_>>();
    let measured = study
        .dags
        .iter()
        .map(|d| TrainingCurve {
            name: d.dag.clone(),
            epochs: d.t.clone(),
            mean: pct(&d.acc_mean),
            std: Some(pct(&d.acc_std)),
        })
        .collect();
    let predicted = study
        .dags
        .iter()
        .map(|d| TrainingCurve {
            name: d.dag.clone(),
            epochs: d.t.clone(),
            mean: pct(&d.pred_acc_mean),
            std: Some(pct(&d.pred_acc_std)),
        })
        .collect();
    fig.panels.push(TrainingPanel {
        dataset: "measured (finite-width SGD)".into(),
        curves: measured,
    });
    fig.panels.push(TrainingPanel {
        dataset: "predicted (exact SP NTK, linearised)".into(),
        curves: predicted,
    });
    fig
}

fn lr(v: f64) -> String {
    format!("{v:e}")
}

/// The section and the figures `fig4_time_collapse.{svg,png}` and `fig4_time.{svg,png}`
/// in `dir`.
pub fn section(study: &Fig4TimeStudy, dir: &Path) -> Result<Section, PlotError> {
    let b = &study.budget;
    let mut md = format!(
        "DAG#1-#3 MLPs (ReLU stem, Kaiming-normal, zero biases; width {}), SGD batch {}, mean cross-entropy, \
         on {} ({} images), budget `{}`. The paper trained 1000 epochs at lr 1e-5, time t = lr x steps = {:.2}; \
         at small steps SGD follows the gradient flow, so curves at different rates should coincide against t.\n\n\
         **Collapse ladder** ({} seeds; each rung trains the same networks {} steps at the smaller rate and over the \
         same time at the larger one; gap = largest difference of the mean training loss at common times, divided by \
         the loss's change over the rung; a rung collapses when every DAG's gap is at most {}):\n\n",
        b.width,
        b.batch,
        study.source,
        b.train_n,
        b.name,
        crate::train::fig4_time::PAPER_TIME,
        b.ladder_seeds,
        b.rung_steps,
        b.collapse_tol
    );
    let mut rows = vec![];
    for r in &study.rungs {
        let mut row = vec![
            format!("{} -> {}", lr(r.lr_small), lr(r.lr_large)),
            format!("{:.3e}", r.horizon),
        ];
        for (_, g) in &r.gaps {
            row.push(if g.is_finite() {
                format!("{g:.3}")
            } else {
                "diverged".into()
            });
        }
        row.push(if r.collapses { "yes" } else { "no" }.into());
        rows.push(row);
    }
    let mut header = vec!["rates".to_string(), "horizon T".to_string()];
    if let Some(r) = study.rungs.first() {
        header.extend(r.gaps.iter().map(|(d, _)| format!("{d} gap")));
    }
    header.push("collapses".into());
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    md.push_str(&md_table(&header, &rows));
    md.push_str(&format!(
        "\nThe curves collapse up to lr {}{}.\n\n",
        lr(study.lr_star),
        match study.breaks_at {
            Some(b) => format!(" and no longer at lr {}", lr(b)),
            None => " (every rung of the ladder)".into(),
        }
    ));
    md.push_str(&format!(
        "**Fig. 4 against t** at lr {} ({} steps to t = {}; {} seeds): training accuracy on the whole training subset \
         (mean ± std over seeds), and the exact standard-parameterisation NTK's prediction (the network's linearisation \
         trained by full-batch gradient descent at the same step, from each seed's own initial logits):\n\n",
        lr(study.lr_star),
        study.steps,
        b.time,
        b.seeds
    ));
    let mut rows = vec![];
    if let Some(d0) = study.dags.first() {
        let n = d0.t.len();
        let every = (n / 8).max(1);
        for k in (0..n).filter(|k| k % every == 0 || *k == n - 1) {
            let mut row = vec![format!("{:.3}", d0.t[k])];
            for d in &study.dags {
                row.push(format!(
                    "{:.4} ± {:.4} ({:.4})",
                    d.acc_mean[k], d.acc_std[k], d.pred_acc_mean[k]
                ));
            }
            rows.push(row);
        }
    }
    let mut header = vec!["t".to_string()];
    header.extend(
        study
            .dags
            .iter()
            .map(|d| format!("{} measured (predicted)", d.dag)),
    );
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    md.push_str(&md_table(&header, &rows));
    let areas: Vec<String> = study
        .dags
        .iter()
        .map(|d| {
            format!(
                "{} {:.4} (predicted {:.4}; largest measured-predicted gap {:.4})",
                d.dag, d.acc_area, d.pred_acc_area, d.max_acc_gap
            )
        })
        .collect();
    md.push_str(&format!(
        "\nMean training accuracy over the run: {}. Measured ordering, slowest first: {}; predicted: {}. \
         The paper's ordering (DAG#1 < DAG#2 < DAG#3) {}.\n",
        areas.join("; "),
        study.ordering.join(" < "),
        study.predicted_ordering.join(" < "),
        if study.paper_ordering_holds {
            "holds"
        } else {
            "does not hold here"
        }
    ));
    let mut files = vec![];
    if !study.rungs.is_empty() {
        let fig = collapse_figure(study);
        save_training_svg(dir.join("fig4_time_collapse.svg"), &fig)?;
        save_training_png(dir.join("fig4_time_collapse.png"), &fig)?;
        files.extend([
            "fig4_time_collapse.svg".into(),
            "fig4_time_collapse.png".into(),
        ]);
    }
    if !study.dags.is_empty() {
        let fig = figure(study);
        save_training_svg(dir.join("fig4_time.svg"), &fig)?;
        save_training_png(dir.join("fig4_time.png"), &fig)?;
        files.extend(["fig4_time.svg".into(), "fig4_time.png".into()]);
    }
    Ok(Section {
        id: "fig4-time".into(),
        title: "Fig. 4 against time t = lr x steps, beside the exact NTK's prediction".into(),
        markdown: md,
        data: serde_json::to_value(study).unwrap_or(serde_json::Value::Null),
        files,
    })
}
