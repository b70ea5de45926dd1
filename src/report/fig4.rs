//! The Fig. 4 report section and figure of [`crate::train::fig4`]: train accuracy of the
//! DAG#1-#3 MLPs against epoch on MNIST and CIFAR-10.

use super::{md_table, Section, SectionOutcome};
use crate::plot::{
    save_training_png, save_training_svg, PlotError, TrainingCurve, TrainingData, TrainingPanel,
};
use crate::train::fig4::{fig4, Curve, Fig4Budget, Fig4Error, Fig4Panel};
use std::path::Path;

/// The report section for Fig. 4: per panel a table of train accuracy (mean +- std over
/// seeds) at each epoch and the observed ordering; `data` holds every curve
/// (`panels[].curves[]` with `metric`, `epochs`, `mean`, `std`) for plotting.
pub fn fig4_section(
    data_dir: Option<&Path>,
    budget: &Fig4Budget,
    progress: &mut dyn FnMut(&str),
) -> Result<SectionOutcome, Fig4Error> {
    let (panels, skipped) = fig4(data_dir, budget, progress)?;
    Ok(fig4_section_from(&panels, skipped, budget))
}

/// The Fig. 4 report section of already trained panels (see [`fig4`]); `section` is
/// `None` when no panel ran.
pub fn fig4_section_from(
    panels: &[Fig4Panel],
    skipped: Vec<String>,
    budget: &Fig4Budget,
) -> SectionOutcome {
    if panels.is_empty() {
        return SectionOutcome {
            section: None,
            skipped,
        };
    }
    let mut md = format!(
        "DAG#1 `2_02_002`, DAG#2 `1_01_222`, DAG#3 `2_21_112` MLPs (ReLU stem, Kaiming-normal, zero biases), width {}, \
         SGD batch {}, fixed lr, cross-entropy, no momentum / weight decay / augmentation, {} seeds, budget `{}`. \
         Train accuracy is the running accuracy over each epoch's minibatches (epoch 0: evaluated at initialisation). \
         The paper reports DAG#3 rising fastest and DAG#2 above DAG#1 (on CIFAR-10 DAG#1 ends slightly above DAG#2).\n\n",
        budget.width, budget.batch, budget.seeds, budget.name
    );
    for p in panels {
        md.push_str(&format!(
            "**{} — {}** (lr {:e}; {})\n\n",
            p.label, p.setting, p.lr, p.source
        ));
        let curves: Vec<&Curve> = p.train_acc().collect();
        let mut rows = Vec::new();
        if let Some(c0) = curves.first() {
            for (k, e) in c0.epochs.iter().enumerate() {
                let mut row = vec![e.to_string()];
                for c in &curves {
                    row.push(format!("{:.4} ± {:.4}", c.mean[k], c.std[k]));
                }
                rows.push(row);
            }
        }
        let header: Vec<String> = std::iter::once("epoch".to_string())
            .chain(curves.iter().map(|c| format!("{} train acc", c.dag)))
            .collect();
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        md.push_str(&md_table(&header, &rows));
        let ord = p.ordering();
        let gains: Vec<String> = curves
            .iter()
            .map(|c| {
                format!(
                    "{} {:+.4}",
                    c.dag,
                    c.mean.last().copied().unwrap_or(f64::NAN)
                        - c.mean.first().copied().unwrap_or(f64::NAN)
                )
            })
            .collect();
        md.push_str(&format!(
            "\nObserved ordering (mean train accuracy over epochs 1..E, slowest first): {}. \
             Gain from initialisation to the last epoch: {}.\n\n",
            ord.iter()
                .map(|(n, v)| format!("{n} ({v:.4})"))
                .collect::<Vec<_>>()
                .join(" < "),
            gains.join(", ")
        ));
    }
    let data = serde_json::json!({
        "budget": budget,
        "panels": panels.iter().map(|p| serde_json::json!({
            "dataset": p.dataset, "label": p.label, "source": p.source, "lr": p.lr, "setting": p.setting,
            "train_n": p.train_n, "test_n": p.test_n, "curves": p.curves,
            "ordering": p.ordering(),
            "runs": p.runs,
        })).collect::<Vec<_>>(),
    });
    SectionOutcome {
        section: Some(Section {
            id: "fig4".into(),
            title: "Fig. 4: training DAG-MLPs (train accuracy vs epoch)".into(),
            markdown: md,
            data,
            files: vec![],
        }),
        skipped,
    }
}

/// A panel title short enough for a 4-panel row: dataset, sizes, learning rate.
pub fn short_panel_title(p: &Fig4Panel) -> String {
    let name = if p.dataset == "mnist" {
        "MNIST"
    } else {
        "CIFAR-10"
    };
    let paper = if (p.lr - 1e-5).abs() < 1e-12 {
        " (paper)"
    } else {
        ""
    };
    format!("{name} {}/{}, lr {:e}{paper}", p.train_n, p.test_n, p.lr)
}

/// The Fig. 4 figure data: one panel per dataset and learning rate
/// ([`short_panel_title`]), one curve per DAG of train accuracy, mean +- std over seeds.
pub fn figure(panels: &[Fig4Panel]) -> TrainingData {
    let mut fig = TrainingData::new();
    fig.title = "Fig. 4: train accuracy of DAG-MLPs (mean +- std over seeds)".into();
    fig.y_label = "train accuracy".into();
    for p in panels {
        fig.panels.push(TrainingPanel {
            dataset: short_panel_title(p),
            curves: p
                .train_acc()
                .map(|c| TrainingCurve {
                    name: c.dag.clone(),
                    epochs: c.epochs.iter().map(|&e| e as f64).collect(),
                    mean: c.mean.clone(),
                    std: Some(c.std.clone()),
                })
                .collect(),
        });
    }
    fig
}

/// [`fig4_section_from`] with, when any panel ran, the figure ([`figure`]) written as
/// `fig4_training.{svg,png}` in `dir`.
pub fn fig4_section_with_figure(
    panels: &[Fig4Panel],
    skipped: Vec<String>,
    budget: &Fig4Budget,
    dir: &Path,
) -> Result<SectionOutcome, PlotError> {
    let mut outcome = fig4_section_from(panels, skipped, budget);
    if let Some(section) = outcome.section.as_mut() {
        let fig = figure(panels);
        save_training_svg(dir.join("fig4_training.svg"), &fig)?;
        save_training_png(dir.join("fig4_training.png"), &fig)?;
        section.files.push("fig4_training.svg".into());
        section.files.push("fig4_training.png".into());
    }
    Ok(outcome)
}
