//! Report section for `archconv reproduce`: Monte Carlo of DAG#1-#3 against the three
//! closed-form kernels, and a width sweep on DAG#3.

use super::{run, width_sweep, McError, McInputs, McParams, McResult, Sampler, Sweep, SweepParams};
use crate::dag::Dag;
use crate::kernel::{KernelKind, Lift};
use crate::report::{md_table, Section};

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

/// The `montecarlo` section of the reproduction report: DAG#1-#3 (N = 32 seeded Gaussian
/// points in R^32, dense lift, conditional sampler, width 4096 and 32 networks; `quick`:
/// 1024 and 8) against the three kernels, and a width sweep on DAG#3 (`2^8..2^14`;
/// `quick`: `2^8..2^12`) with the fitted slopes.
pub fn section(quick: bool) -> Result<Section, McError> {
    section_with_sweep(quick).map(|(s, _)| s)
}

/// Like [`section`], also returning the DAG#3 width sweep (for the error-vs-width figure).
pub fn section_with_sweep(quick: bool) -> Result<(Section, Sweep), McError> {
    let x = crate::kernel::Inputs::gaussian(32, 32, 0);
    let inp = McInputs::from_data(x.view(), Lift::Dense)?;
    let (width, seeds, hi) = if quick { (1024, 8, 12) } else { (4096, 32, 14) };
    let params = McParams {
        width,
        seeds,
        sampler: Sampler::Conditional,
        ..McParams::default()
    };
    let mut md = String::from(
        "Finite-width networks (conditional sampler, dense lift, N = 32) against the closed-form kernels. \
         The exact recursion is the limit; the path-sum kernel misses the post-ReLU mean cross terms.\n\n",
    );
    let mut data = serde_json::Map::new();
    for (name, dag) in Dag::paper_dags() {
        let r = run(&dag, &inp, &params, &|| {})?;
        md.push_str(&format!(
            "### {name} (`{}`)\n\n{}\n",
            dag.describe(),
            comparison_table(&r)
        ));
        data.insert(
            name.to_string(),
            serde_json::to_value(&r).unwrap_or_default(),
        );
    }
    let sp = SweepParams::powers_of_two(
        8,
        hi,
        McParams {
            seeds: if quick { 8 } else { 16 },
            ..params
        },
    );
    let sw = width_sweep(&Dag::dag3(), &inp, &sp, &|| {})?;
    md.push_str(&format!("### Width sweep, DAG#3\n\n{}\n", sweep_table(&sw)));
    data.insert(
        "sweep_dag3".into(),
        serde_json::to_value(&sw).unwrap_or_default(),
    );
    Ok((
        Section {
            id: "montecarlo".into(),
            title: "Finite-width Monte Carlo versus the closed-form kernels".into(),
            markdown: md,
            data: serde_json::Value::Object(data),
            files: vec![],
        },
        sw,
    ))
}
