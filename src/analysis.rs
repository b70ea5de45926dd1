//! One-call analysis of a DAG: path statistics plus, per closed-form kernel, the spectrum
//! summary and the 2x2 bound. This is what `archconv analyze` prints; notebooks get the
//! same numbers from [`analyze`].
//!
//! ```
//! use archconv::{analyze, AnalyzeOptions, Dag, Inputs, Lift};
//! let x = Inputs::gaussian(16, 8, 0);
//! let inputs = Inputs::from_data(x.view(), Lift::Dense).unwrap();
//! let a = analyze(&Dag::dag3(), &inputs, &AnalyzeOptions::default()).unwrap();
//! assert_eq!(a.paths.num_paths, 4);
//! assert_eq!(a.kernels.len(), 3);
//! println!("{a}");
//! ```

use crate::kernel::exact::Rule;
use crate::kernel::ntk::NtkVariant;
use crate::kernel::{Inputs, KernelKind, Lift};
use crate::paths::PathStats;
use crate::spectrum::{pair_bound, PairBound, SpectrumSummary};
use crate::{Dag, Error};
use serde::Serialize;
use std::fmt;

/// Options for [`analyze`].
#[derive(Debug, Clone)]
pub struct AnalyzeOptions {
    /// Kernels to evaluate (default: all three).
    pub kinds: Vec<KernelKind>,
    /// Also the exact and independent-branch NTKs (all parameters trained; default true).
    pub ntk: bool,
}

impl Default for AnalyzeOptions {
    fn default() -> Self {
        AnalyzeOptions {
            kinds: KernelKind::ALL.to_vec(),
            ntk: true,
        }
    }
}

/// One NTK's spectral summary (PAPER.md section 8).
#[derive(Debug, Clone, Serialize)]
pub struct NtkReport {
    /// `exact` or `independent-branch`.
    pub rule: String,
    /// Eigenvalue summary of `Theta` (readout, every linear edge and the lift trained).
    pub spectrum: SpectrumSummary,
}

/// Path statistics in report form. In JSON every count is a number when it fits in
/// `u64` and a decimal string above (`"num_paths": "295147905179352825856"`), so counts
/// of any size are written exactly.
#[derive(Debug, Clone, Serialize)]
pub struct PathReport {
    /// `P`.
    #[serde(serialize_with = "crate::paths::ser_count")]
    pub num_paths: u128,
    /// `n(d)` by depth.
    #[serde(serialize_with = "crate::paths::ser_counts")]
    pub depth_histogram: Vec<u128>,
    /// `sum_p d_p`.
    #[serde(serialize_with = "crate::paths::ser_count")]
    pub depth_sum: u128,
    /// `#{d_p > 0}`.
    #[serde(serialize_with = "crate::paths::ser_count")]
    pub parameterized_paths: u128,
    /// Effective depth, if defined.
    pub effective_depth: Option<f64>,
    /// Effective width, if defined.
    pub effective_width: Option<f64>,
    /// Exact effective depth as `num/den`.
    pub effective_depth_exact: Option<String>,
    /// Exact effective width as `num/den`.
    pub effective_width_exact: Option<String>,
    /// Why depth/width are undefined, if they are.
    pub undefined_reason: Option<String>,
}

impl From<&PathStats> for PathReport {
    fn from(s: &PathStats) -> Self {
        PathReport {
            num_paths: s.num_paths(),
            depth_histogram: s.histogram().to_vec(),
            depth_sum: s.depth_sum(),
            parameterized_paths: s.num_parameterized_paths(),
            effective_depth: s.effective_depth(),
            effective_width: s.effective_width(),
            effective_depth_exact: s.effective_depth_exact().map(|r| r.to_string()),
            effective_width_exact: s.effective_width_exact().map(|r| r.to_string()),
            undefined_reason: s.undefined().map(|u| u.to_string()),
        }
    }
}

/// One kernel's spectral summary.
#[derive(Debug, Clone, Serialize)]
pub struct KernelReport {
    /// Which kernel.
    pub kind: KernelKind,
    /// Eigenvalue summary of the output Gram.
    pub spectrum: SpectrumSummary,
    /// Lemma 3.3's 2x2 bound.
    pub pair_bound: Option<PairBound>,
}

/// Everything `archconv analyze` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    /// The DAG (MLP code or JSON edge list).
    pub dag: String,
    /// Number of input points.
    pub points: usize,
    /// Input lift.
    pub lift: Lift,
    /// Path statistics.
    pub paths: PathReport,
    /// Per-kernel spectra (empty when the DAG has no input-output path).
    pub kernels: Vec<KernelReport>,
    /// NTK spectra (empty when not requested or no path).
    pub ntk: Vec<NtkReport>,
}

/// Path statistics and kernel spectra of `dag` on `inputs`.
///
/// The largest step's memory (the NTK's, or a kernel's when `opts.ntk` is off) is checked
/// against the memory budget ([`crate::budget`]) before anything is computed.
pub fn analyze(dag: &Dag, inputs: &Inputs, opts: &AnalyzeOptions) -> Result<Analysis, Error> {
    let stats = PathStats::of(dag)?;
    if stats.num_paths() > 0 {
        let (what, copies) = if opts.ntk {
            ("NTK", 4)
        } else {
            ("closed-form", 2)
        };
        inputs.check_states(dag, what, copies)?;
    }
    let mut kernels = Vec::new();
    if stats.num_paths() > 0 {
        for &kind in &opts.kinds {
            let k = inputs.kernel(dag, kind)?;
            let gram = &k.output().gram;
            kernels.push(KernelReport {
                kind,
                spectrum: SpectrumSummary::of(gram)?,
                pair_bound: pair_bound(gram),
            });
        }
    }
    let mut ntk = Vec::new();
    if stats.num_paths() > 0 && opts.ntk {
        for rule in [Rule::IndependentBranch, Rule::Exact] {
            let theta = inputs.ntk(dag, rule)?.theta(NtkVariant::Full);
            ntk.push(NtkReport {
                rule: match rule {
                    Rule::Exact => "exact".into(),
                    Rule::IndependentBranch => "independent-branch".into(),
                },
                spectrum: SpectrumSummary::of(&theta)?,
            });
        }
    }
    Ok(Analysis {
        dag: dag.describe(),
        points: inputs.len(),
        lift: inputs.lift(),
        paths: PathReport::from(&stats),
        kernels,
        ntk,
    })
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "undefined".to_string(), |x| format!("{x:.6}"))
}

impl fmt::Display for Analysis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.paths;
        writeln!(f, "DAG {}", self.dag)?;
        writeln!(f, "paths P = {}", p.num_paths)?;
        let depths: Vec<String> = p
            .depth_histogram
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(|(d, c)| format!("d={d}: {c}"))
            .collect();
        writeln!(f, "depth histogram: {}", depths.join(", "))?;
        writeln!(
            f,
            "sum of d_p = {}, paths with d_p > 0 = {}",
            p.depth_sum, p.parameterized_paths
        )?;
        match &p.undefined_reason {
            Some(r) => writeln!(f, "effective depth/width: {r}")?,
            None => writeln!(
                f,
                "effective depth = {} ({}), effective width = {} ({})",
                opt(p.effective_depth),
                p.effective_depth_exact.as_deref().unwrap_or("-"),
                opt(p.effective_width),
                p.effective_width_exact.as_deref().unwrap_or("-"),
            )?,
        }
        if self.kernels.is_empty() {
            return Ok(());
        }
        writeln!(
            f,
            "\nkernels on {} points ({} lift):",
            self.points, self.lift
        )?;
        writeln!(
            f,
            "{:<20} {:>14} {:>14} {:>14} {:>14} {:>14}",
            "kernel", "lambda_min", "normalised", "lambda_max", "condition", "2x2 bound"
        )?;
        for k in &self.kernels {
            let s = &k.spectrum;
            writeln!(
                f,
                "{:<20} {:>14.6e} {:>14.6e} {:>14.6e} {:>14} {:>14.6e}",
                k.kind.name(),
                s.lambda_min,
                s.normalized_lambda_min.unwrap_or(f64::NAN),
                s.lambda_max,
                s.condition
                    .map_or("inf (singular)".to_string(), |c| format!("{c:.6e}")),
                k.pair_bound.map_or(f64::NAN, |b| b.value),
            )?;
        }
        for k in &self.ntk {
            let s = &k.spectrum;
            writeln!(
                f,
                "{:<20} {:>14.6e} {:>14.6e} {:>14.6e} {:>14} {:>14}",
                format!(
                    "NTK {}",
                    if k.rule == "exact" {
                        "exact"
                    } else {
                        "indep-branch"
                    }
                ),
                s.lambda_min,
                s.normalized_lambda_min.unwrap_or(f64::NAN),
                s.lambda_max,
                s.condition
                    .map_or("inf (singular)".to_string(), |c| format!("{c:.6e}")),
                "-",
            )?;
        }
        Ok(())
    }
}
