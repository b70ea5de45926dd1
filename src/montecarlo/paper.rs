//! The Monte Carlo study of `archconv reproduce`: DAG#1-#3 against the three closed-form
//! kernels, and a width sweep on DAG#3. [`crate::report::montecarlo`] turns it into a
//! report section and a figure.

use super::{run, width_sweep, McError, McInputs, McParams, McResult, Sampler, Sweep, SweepParams};
use crate::dag::Dag;
use crate::kernel::Lift;
use serde::Serialize;

/// One paper DAG's Monte Carlo run.
#[derive(Debug, Clone, Serialize)]
pub struct PaperRun {
    /// `DAG#1`, `DAG#2`, `DAG#3`.
    pub name: String,
    /// The DAG's code (`2_21_112`).
    pub code: String,
    /// The run.
    pub result: McResult,
}

/// The results of [`paper_study`].
#[derive(Debug, Clone, Serialize)]
pub struct PaperStudy {
    /// DAG#1-#3, in order.
    pub runs: Vec<PaperRun>,
    /// The width sweep on DAG#3.
    pub sweep: Sweep,
}

/// Monte Carlo of DAG#1-#3 (N = 32 seeded Gaussian points in R^32, dense lift,
/// conditional sampler, width 4096 and 32 networks; `quick`: 1024 and 8) against the
/// three kernels, and a width sweep on DAG#3 (`2^8..2^14`, 16 networks; `quick`:
/// `2^8..2^12`, 8 networks) with the fitted slopes.
pub fn paper_study(quick: bool) -> Result<PaperStudy, McError> {
    let x = crate::kernel::Inputs::gaussian(32, 32, 0);
    let inp = McInputs::from_data(x.view(), Lift::Dense)?;
    let (width, seeds, hi) = if quick { (1024, 8, 12) } else { (4096, 32, 14) };
    let params = McParams {
        width,
        seeds,
        sampler: Sampler::Conditional,
        ..McParams::default()
    };
    let mut runs = Vec::new();
    for (name, dag) in Dag::paper_dags() {
        let result = run(&dag, &inp, &params, &|| {})?;
        runs.push(PaperRun {
            name: name.to_string(),
            code: dag.describe(),
            result,
        });
    }
    let sp = SweepParams::powers_of_two(
        8,
        hi,
        McParams {
            seeds: if quick { 8 } else { 16 },
            ..params
        },
    );
    let sweep = width_sweep(&Dag::dag3(), &inp, &sp, &|| {})?;
    Ok(PaperStudy { runs, sweep })
}
