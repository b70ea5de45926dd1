//! The report section of the NTK step-size study ([`crate::stepsize`]).

use super::{md_table, Section};
use crate::plot::{save_bars_png, save_bars_svg, BarData, BarGroup, PlotError};
use crate::stepsize::StepSizeStudy;
use crate::Dag;
use std::path::Path;

/// The figure data of a [`StepSizeStudy`]: `1 -` per-step contraction (higher is
/// faster) of DAG#1-#3, one group per step setting (`fixed`, `tuned`) and source
/// (measured, exact-NTK prediction).
pub fn bars(study: &StepSizeStudy) -> BarData {
    let mut bars = BarData {
        title: "NTK step-size study: 1 - per-step contraction of ||y - u||^2 (higher is faster)"
            .into(),
        x_label: "DAG".into(),
        y_label: "1 - contraction per step".into(),
        categories: Dag::paper_dags()
            .iter()
            .map(|(n, _)| n.to_string())
            .collect(),
        groups: vec![],
    };
    for setting in ["fixed", "tuned"] {
        for (what, measured) in [("measured", true), ("exact-NTK prediction", false)] {
            bars.groups.push(BarGroup {
                name: format!("{setting} step, {what}"),
                values: study
                    .rows
                    .iter()
                    .filter(|r| r.setting == setting)
                    .map(|r| {
                        1.0 - if measured {
                            r.measured_rate
                        } else {
                            r.predicted_rate
                        }
                    })
                    .collect(),
            });
        }
    }
    bars
}

/// The `ntk-stepsize` section of `study` on inputs described by `desc`, with its figure
/// written to `dir` as `ntk_stepsize.svg` and `ntk_stepsize.png` ([`bars`]).
pub fn section(study: &StepSizeStudy, desc: &str, dir: &Path) -> Result<Section, PlotError> {
    let rows: Vec<Vec<String>> = study
        .rows
        .iter()
        .map(|r| {
            vec![
                r.dag.clone(),
                r.setting.clone(),
                format!("{:.3e}", r.eta),
                format!("{:.4}", r.lambda_min),
                format!("{:.4}", r.normalized_lambda_min),
                format!("{:.5} +- {:.5}", r.measured_rate, r.measured_rate_se),
                format!("{:.5}", r.predicted_rate),
                format!("{:.5}", r.worst_case_rate),
            ]
        })
        .collect();
    let mut verdict = String::new();
    for v in &study.verdicts {
        let raw_ok = v.measured_order == v.raw_order;
        let norm_ok = v.measured_order == v.normalized_order;
        verdict.push_str(&format!(
            "- **{} step**: measured fastest to slowest {}{}; raw lambda_min predicts {} ({}), normalised predicts {} ({}).\n",
            v.setting,
            v.measured_order.join(" < "),
            if v.resolved { "" } else { " (not resolved: adjacent rates within 2 standard errors)" },
            v.raw_order.join(", "),
            if raw_ok { "matches" } else { "does not match" },
            v.normalized_order.join(", "),
            if norm_ok { "matches" } else { "does not match" },
        ));
    }
    let markdown = format!(
        "{desc}; {}. Step (a) `fixed`: one step for all DAGs, 1 / max lambda_max(Theta); (b) `tuned`: 1 / lambda_max(Theta) \
         of each network. Rates are per-step contractions of ||y - u||^2 (smaller is faster); `predicted` runs the \
         exact NTK's linearised dynamics from the same initial residual; `worst case` is (1 - eta lambda_min)^2.\n\n{}\n{verdict}",
        study.setup,
        md_table(&["DAG", "step", "eta", "lambda_min(Theta)", "normalised", "measured rate", "predicted", "worst case"], &rows)
    );
    let figure = bars(study);
    save_bars_svg(dir.join("ntk_stepsize.svg"), &figure)?;
    save_bars_png(dir.join("ntk_stepsize.png"), &figure)?;
    Ok(Section {
        id: "ntk-stepsize".into(),
        title: "NTK step-size study (Sec. 8)".into(),
        markdown,
        data: serde_json::to_value(study).unwrap_or_default(),
        files: vec!["ntk_stepsize.svg".into(), "ntk_stepsize.png".into()],
    })
}
