//! The report section of DAG#1-#3's path statistics and kernel spectra
//! ([`crate::analysis::analyze`]).

use super::{md_table, Section};
use crate::analysis::Analysis;

/// The `dags` section: one table row per DAG and kernel (path count, effective depth and
/// width, `lambda_min`, its normalised value and the condition number), for the analyses
/// of DAG#1-#3 (`(name, analysis)` in order) on `n` seeded Gaussian inputs of dimension 32.
pub fn section(analyses: &[(&str, Analysis)], n: usize) -> Section {
    let mut rows = Vec::new();
    let mut data = Vec::new();
    for (name, a) in analyses {
        for k in &a.kernels {
            rows.push(vec![
                name.to_string(),
                a.dag.clone(),
                a.paths.num_paths.to_string(),
                format!("{:.4}", a.paths.effective_depth.unwrap_or(f64::NAN)),
                format!("{:.4}", a.paths.effective_width.unwrap_or(f64::NAN)),
                k.kind.to_string(),
                format!("{:.6}", k.spectrum.lambda_min),
                format!(
                    "{:.6}",
                    k.spectrum.normalized_lambda_min.unwrap_or(f64::NAN)
                ),
                k.spectrum
                    .condition
                    .map_or("inf".into(), |c| format!("{c:.3}")),
            ]);
        }
        data.push(serde_json::json!({"name": name, "analysis": a}));
    }
    let markdown = format!(
        "Seeded Gaussian inputs, N = {n}, d = 32, rows normalised to K0_ii = 1, dense lift.\n\n{}",
        md_table(
            &[
                "DAG",
                "code",
                "P",
                "depth",
                "width",
                "kernel",
                "lambda_min",
                "normalised",
                "condition"
            ],
            &rows
        )
    );
    Section {
        id: "dags".into(),
        title: "DAG#1-#3: paths and kernel spectra".into(),
        markdown,
        data: serde_json::Value::Array(data),
        files: vec![],
    }
}
