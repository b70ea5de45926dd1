//! Width sweeps: Monte Carlo error against each closed-form kernel as `m` grows, and the
//! least-squares slope of `ln(error)` against `ln(m)`.

use super::{
    check_path, fit_loglog, memory, run_with, Backend, ClosedForms, McError, McInputs, McParams,
    ScalarStats, SlopeFit,
};
use crate::dag::Dag;
use crate::kernel::KernelKind;
use serde::Serialize;

/// Options of [`width_sweep`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepParams {
    /// Widths to sample (at least two distinct).
    pub widths: Vec<usize>,
    /// Everything else (`width` is ignored).
    pub base: McParams,
}

impl SweepParams {
    /// Widths `2^lo, 2^(lo+1), ..., 2^hi` (the CLI's default is `2^6 ..= 2^16`).
    ///
    /// # Panics
    /// If `hi >= usize::BITS`: `2^hi` is not a `usize` (it used to be dropped without a
    /// word, issue 17; the CLI bounds its exponents to 62).
    #[track_caller]
    pub fn powers_of_two(lo: u32, hi: u32, base: McParams) -> SweepParams {
        assert!(
            hi < usize::BITS,
            "sweep exponent {hi} does not fit: widths are at most 2^{}",
            usize::BITS - 1
        );
        SweepParams {
            widths: (lo..=hi).map(|p| 1usize << p).collect(),
            base,
        }
    }
}

/// One width of a sweep.
#[derive(Debug, Clone, Serialize)]
pub struct SweepPoint {
    /// Width `m`.
    pub width: usize,
    /// Per-network relative Frobenius error of the output Gram against each kernel
    /// (path-sum, independent-branch, exact).
    pub errors: Vec<(KernelKind, ScalarStats)>,
    /// Mean-network `lambda_min` of the output Gram.
    pub lambda_min: ScalarStats,
}

/// Result of [`width_sweep`].
#[derive(Debug, Clone, Serialize)]
pub struct Sweep {
    /// The widths, ascending.
    pub points: Vec<SweepPoint>,
    /// Per kernel, the fit of `ln(mean error) = a + slope ln(m)` (`None` when undefined,
    /// e.g. a zero error).
    pub slopes: Vec<(KernelKind, Option<SlopeFit>)>,
}

impl Sweep {
    /// The fit against kernel `kind`.
    pub fn slope(&self, kind: KernelKind) -> Option<&SlopeFit> {
        self.slopes
            .iter()
            .find(|(k, _)| *k == kind)
            .and_then(|(_, f)| f.as_ref())
    }
}

/// Runs [`run`](super::run) at every width (ascending) and fits the error slopes; the
/// closed-form kernels and their `lambda_min` are computed once for all widths. The
/// largest width's memory is checked before the first network is sampled. `progress` is
/// called once per finished network.
///
/// ```
/// use archconv::{Dag, KernelKind, Lift};
/// use archconv::montecarlo::{width_sweep, McInputs, McParams, SweepParams};
/// let x = archconv::Inputs::gaussian(5, 8, 2);
/// let inp = McInputs::from_data(x.view(), Lift::Dense)?;
/// let base = McParams { seeds: 8, ..McParams::default() };
/// let sw = width_sweep(&Dag::dag3(), &inp, &SweepParams::powers_of_two(8, 12, base), &|| {})?;
/// let exact = sw.slope(KernelKind::Exact).unwrap().slope;
/// let pathsum = sw.slope(KernelKind::PathSum).unwrap().slope;
/// assert!(exact < -0.3 && pathsum > -0.1);
/// # Ok::<(), archconv::montecarlo::McError>(())
/// ```
pub fn width_sweep(
    dag: &Dag,
    inputs: &McInputs,
    params: &SweepParams,
    progress: &(dyn Fn() + Sync),
) -> Result<Sweep, McError> {
    let mut widths = params.widths.clone();
    widths.sort_unstable();
    widths.dedup();
    if widths.len() < 2 || widths[0] == 0 {
        return Err(McError::BadSweep {
            widths: params.widths.clone(),
        });
    }
    let base = &params.base;
    if base.seeds == 0 {
        return Err(McError::ZeroSeeds);
    }
    let top = *widths.last().expect("two widths");
    if base.backend == Backend::Cpu {
        let limit = base.memory_limit.unwrap_or_else(crate::budget::limit);
        let per = memory::network_bytes(
            dag,
            inputs.len(),
            inputs.dim(),
            top,
            base.sampler,
            base.precision,
            rayon::current_num_threads(),
        );
        memory::plan_concurrency(
            per,
            memory::run_bytes(dag, inputs.len(), inputs.dim()),
            limit,
            1,
            1,
            top,
            inputs.len(),
        )?;
    }
    // The closed forms do not depend on the width: computed once, after the checks `run`
    // would make first.
    McParams {
        width: top,
        ..base.clone()
    }
    .validate()?;
    check_path(dag)?;
    let closed = ClosedForms::of(dag, inputs)?;
    let mut points = Vec::new();
    for &width in &widths {
        let p = McParams {
            width,
            ..base.clone()
        };
        let r = run_with(dag, inputs, &p, progress, Some(&closed))?;
        points.push(SweepPoint {
            width,
            errors: r
                .comparisons
                .iter()
                .map(|c| (c.kind, c.rel_frobenius.clone()))
                .collect(),
            lambda_min: r.lambda_min,
        });
    }
    let ws: Vec<f64> = widths.iter().map(|&w| w as f64).collect();
    let slopes = KernelKind::ALL
        .iter()
        .map(|&kind| {
            let stats: Vec<&ScalarStats> = points
                .iter()
                .filter_map(|p| p.errors.iter().find(|(k, _)| *k == kind).map(|(_, s)| s))
                .collect();
            let errs: Vec<f64> = stats.iter().map(|s| s.mean).collect();
            let ses: Option<Vec<f64>> = stats.iter().map(|s| s.se).collect();
            (kind, fit_loglog(&ws, &errs, ses.as_deref()))
        })
        .collect();
    Ok(Sweep { points, slopes })
}
