//! The report section of the section-3 bounds against the input correlation
//! ([`crate::spectrum::paper_bounds`]).

use super::{md_table, Section};
use crate::kernel::relu::h_iter;
use crate::spectrum::{PairKernels, PaperBounds};

/// The correlations of the `bounds` section: `-0.9, -0.8, ..., 1.0`, then `0.95, 0.99`.
pub fn correlations() -> Vec<f64> {
    (0..=19)
        .map(|i| -0.9 + 0.1 * i as f64)
        .chain([0.95, 0.99])
        .collect()
}

/// The `bounds` section's data, one JSON row per correlation of
/// [`crate::spectrum::paper_pair_table`]: `{"c", "DAG#k": {"pathsum_bound", "<kernel>":
/// {"lambda_min", "normalised"}}}`.
pub fn kernel_table(table: &[(f64, Vec<PairKernels>)]) -> Vec<serde_json::Value> {
    table
        .iter()
        .map(|(c, dags)| {
            let mut row = serde_json::json!({ "c": c });
            for d in dags {
                let mut entry = serde_json::json!({ "pathsum_bound": d.pathsum_bound });
                for (kind, lmin, normalised) in &d.kernels {
                    entry[kind.name()] =
                        serde_json::json!({ "lambda_min": lmin, "normalised": normalised });
                }
                row[d.dag.as_str()] = entry;
            }
            row
        })
        .collect()
}

/// The `bounds` section: the path-sum bounds of DAG#1-#3 beside the exact kernel's 2x2
/// `lambda_min` at every correlation of `bounds.c`; `bounds` is
/// [`crate::spectrum::paper_bounds`]`(cs, cs)`, so the `i`-th exact value belongs to the
/// `i`-th correlation. `data` ([`kernel_table`] at the same correlations) is the
/// section's numbers.
pub fn section(bounds: &PaperBounds, data: Vec<serde_json::Value>) -> Section {
    let rows: Vec<Vec<String>> = bounds
        .c
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut row = vec![format!("{c:.2}")];
            for d in &bounds.dags {
                row.push(format!("{:.5}", d.bound[i]));
                row.push(format!("{:.5}", d.exact.get(i).map_or(f64::NAN, |e| e.1)));
            }
            row
        })
        .collect();
    let c = 0.5;
    let markdown = format!(
        "lambda_1 = 1 - f^3(c), lambda_2 = 3 (1 - f(c)), lambda_3 = 4 - (c + f(c) + 2 f^2(c)) are the path-sum bounds \
         (Eq. 12) for two unit-norm inputs with correlation c; beside each, the exact kernel's 2x2 lambda_min. \
         At c = {c}: lambda_1 = {:.5}, lambda_2 = {:.5}, lambda_3 = {:.5}.\n\n{}",
        1.0 - h_iter(c, 3),
        3.0 * (1.0 - h_iter(c, 1)),
        4.0 - (c + h_iter(c, 1) + 2.0 * h_iter(c, 2)),
        md_table(&["c", "DAG#1 bound", "DAG#1 exact", "DAG#2 bound", "DAG#2 exact", "DAG#3 bound", "DAG#3 exact"], &rows)
    );
    Section {
        id: "bounds".into(),
        title: "Eigenvalue bounds versus input correlation (Sec. 3.3)".into(),
        markdown,
        data: serde_json::Value::Array(data),
        files: vec![],
    }
}
