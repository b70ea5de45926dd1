//! The report section of the convergence-rate test ([`crate::train::rate`]).

use super::{md_table, Section, SectionOutcome};
use crate::data;
use crate::train::rate::{mnist_points, rate_test, RateBudget, RateError, RateReport};
use std::path::Path;

/// Markdown for a [`RateReport`].
pub fn rate_markdown(r: &RateReport) -> String {
    let mut rows = Vec::new();
    for row in &r.rows {
        let p = |k: usize| &row.predictions[k];
        rows.push(vec![
            row.dag.clone(),
            format!("{:.5}", p(0).lambda_min),
            format!("{:.5}", p(1).lambda_min),
            format!("{:.5}", p(2).lambda_min),
            format!("{:.5}", p(2).normalized_lambda_min),
            format!("{:.7}", p(2).predicted_rate),
            format!("{:.5}", row.readout_linearized_rate),
            format!("{:.5} ± {:.5}", row.measured_mean, row.measured_std),
            format!("{:.5} ± {:.5}", row.late_mean, row.late_std),
        ]);
    }
    let agree = |o: &[String]| {
        if o == r.measured_order.as_slice() {
            "agrees"
        } else {
            "differs"
        }
    };
    let mut s = format!(
        "{} points from {}, rows normalised to ||x||^2 = d = {}, one-hot MSE targets ({} outputs), full-batch GD, width {}, \
         {} steps, {} seeds, lr eta = {:.4e} (kernel-convention step eta' = 2 eta m / (N C) = {:.4e}, chosen so that \
         eta' lambda_max(K^H_exact) = {} for the largest of the three). Predicted rate = 1 - eta' lambda_min / 2 (Thm 3.1, exact kernel shown); \
         readout-only = the rate of r <- (I - eta' K^H_exact) r from each run's r(0); measured = geometric-mean per-step contraction \
         of ||y - u(k)||^2 over all steps, late = over the last half.\n\n",
        r.budget.n, r.source, r.d, r.classes, r.budget.width, r.budget.steps, r.budget.seeds, r.lr, r.eta_kernel, r.budget.step_fraction
    );
    s.push_str(&md_table(
        &[
            "DAG",
            "λmin path-sum",
            "λmin indep.",
            "λmin exact",
            "λmin/diag exact",
            "predicted ρ (exact)",
            "readout-only ρ",
            "measured ρ",
            "late ρ",
        ],
        &rows,
    ));
    s.push_str("\nOrderings (slowest first):\n\n");
    for (k, o) in &r.predicted_order {
        s.push_str(&format!(
            "- predicted by {k} lambda_min: {} ({} with the measured order)\n",
            o.join(" < "),
            agree(o)
        ));
    }
    s.push_str(&format!(
        "- measured: {}\n",
        r.measured_order.join(" slower than ")
    ));
    for w in r.measured_order.windows(2) {
        let a = r.rows.iter().find(|x| x.dag == w[0]).expect("row");
        let b = r.rows.iter().find(|x| x.dag == w[1]).expect("row");
        let diff = a.measured_mean - b.measured_mean;
        let sd = (a.measured_std.powi(2) + b.measured_std.powi(2)).sqrt();
        s.push_str(&format!(
            "  - {} vs {}: Δρ = {:.5}, seed spread sqrt(s1² + s2²) = {:.5} ({})\n",
            w[0],
            w[1],
            diff,
            sd,
            if diff > 2.0 * sd {
                "separated"
            } else {
                "within seed noise"
            }
        ));
    }
    let bound_ok = r.rows.iter().all(|row| {
        row.measured
            .iter()
            .all(|&m| m <= row.predictions[2].predicted_rate)
    });
    s.push_str(&format!(
        "\nThm 3.1's bound (measured ρ ≤ predicted ρ for every run, exact kernel): {}.\n",
        if bound_ok {
            "holds"
        } else {
            "violated in at least one run"
        }
    ));
    s
}

/// The report section of the rate test on the first `budget.n` MNIST training images;
/// skipped (with the missing file and how to get it) without MNIST.
pub fn rate_section(
    data_dir: Option<&Path>,
    budget: &RateBudget,
    progress: &mut dyn FnMut(&str),
) -> Result<SectionOutcome, RateError> {
    let Some(dir) = data_dir else {
        return Ok(SectionOutcome {
            section: None,
            skipped: vec![format!(
                "rate test: no data directory; {}",
                data::MNIST_HINT
            )],
        });
    };
    let d = match mnist_points(dir, budget.n) {
        Ok(d) => d,
        Err(RateError::Data(e @ data::DataError::Missing { .. })) => {
            return Ok(SectionOutcome {
                section: None,
                skipped: vec![format!("rate test: {e}")],
            })
        }
        Err(e) => return Err(e),
    };
    let report = rate_test(
        &d.x_f64(),
        &d.y,
        d.classes,
        budget,
        &format!("MNIST training images 0..{}", d.len()),
        progress,
    )?;
    Ok(SectionOutcome {
        section: Some(Section {
            id: "rate".into(),
            title: "Convergence rate under full-batch GD vs Thm 3.1 (beyond the paper)".into(),
            markdown: rate_markdown(&report),
            data: serde_json::to_value(&report).unwrap_or_default(),
            files: vec![],
        }),
        skipped: vec![],
    })
}
