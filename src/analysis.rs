//! One-call analysis of a DAG: path statistics plus, per closed-form kernel, the spectrum
//! summary and the 2x2 bound. This is what `archconv analyze` prints; notebooks get the
//! same numbers from [`analyze`].
//!
//! ```
//! use archconv::{analyze, AnalyzeOptions, Dag, Inputs, Lift};
//! let x = Inputs::gaussian(16, 8, 0);
//! let inputs = Inputs::from_data(x.view(), Lift::Dense).unwrap();
//! let a = analyze(&Dag::dag3(), &inputs, &AnalyzeOptions::default()).unwrap();
//! assert_eq!(a.paths.num_paths, 4u128);
//! assert_eq!(a.kernels.len(), 3);
//! println!("{a}");
//! ```

use crate::kernel::exact::Rule;
use crate::kernel::ntk::NtkVariant;
use crate::kernel::stream::ScaledGram;
use crate::kernel::{Inputs, KernelKind, Lift};
use crate::paths::{Count, PathStats};
use crate::spectrum::{pair_bound, PairBound, SpectrumSummary};
use crate::Dag;
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
    /// When `Theta`'s scale is beyond `10^±100`: the spectrum is that of
    /// `Theta / 10^log10_scale` ([`crate::kernel::stream`]); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log10_scale: Option<f64>,
}

/// Path statistics in report form. In JSON every count is a number when it fits in
/// `u64` and a decimal string above (`"num_paths": "295147905179352825856"`), so counts
/// of any size are written exactly ([`Count`]).
///
/// Effective depth and width: the `f64` nearest to the exact ratio (relative error at
/// most `2^-53`), and the exact ratio `num/den` while both fit in `u128`. Beyond that
/// (DAGs with more than about `2^128` paths) the `*_float` fields carry the value rounded
/// to 53 bits with an unbounded exponent ([`crate::paths::WideFloat`]), written with 17
/// significant digits, e.g. `"1.2345678901234567e2000"`; they are absent otherwise, so
/// reports of smaller DAGs are unchanged.
#[derive(Debug, Clone, Serialize)]
pub struct PathReport {
    /// `P`.
    pub num_paths: Count,
    /// `n(d)` by depth.
    pub depth_histogram: Vec<Count>,
    /// `sum_p d_p`.
    pub depth_sum: Count,
    /// `#{d_p > 0}`.
    pub parameterized_paths: Count,
    /// Effective depth, if defined (and, beyond `2^1022` paths, within `f64`'s range).
    pub effective_depth: Option<f64>,
    /// Effective width, if defined (and, beyond `2^1024` paths, at most `f64::MAX`).
    pub effective_width: Option<f64>,
    /// Exact effective depth as `num/den`.
    pub effective_depth_exact: Option<String>,
    /// Exact effective width as `num/den`.
    pub effective_width_exact: Option<String>,
    /// Effective depth to 53 bits when the exact ratio exceeds `u128` (else absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective_depth_float: Option<String>,
    /// Effective width to 53 bits when the exact ratio exceeds `u128` (else absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective_width_float: Option<String>,
    /// Why depth/width are undefined, if they are.
    pub undefined_reason: Option<String>,
}

impl From<&PathStats> for PathReport {
    fn from(s: &PathStats) -> Self {
        let depth_exact = s.effective_depth_exact();
        let width_exact = s.effective_width_exact();
        PathReport {
            num_paths: s.num_paths_exact().clone(),
            depth_histogram: s.histogram_exact().to_vec(),
            depth_sum: s.depth_sum_exact().clone(),
            parameterized_paths: s.num_parameterized_paths_exact().clone(),
            effective_depth: s.effective_depth(),
            effective_width: s.effective_width(),
            effective_depth_float: match depth_exact {
                None => s.effective_depth_float().map(|x| x.to_string()),
                Some(_) => None,
            },
            effective_width_float: match width_exact {
                None => s.effective_width_float().map(|x| x.to_string()),
                Some(_) => None,
            },
            effective_depth_exact: depth_exact.map(|r| r.to_string()),
            effective_width_exact: width_exact.map(|r| r.to_string()),
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
    /// When the Gram's scale is beyond `10^±100` (entries may be past f64's range): the
    /// spectrum and the bound are those of `K / 10^log10_scale` ([`crate::kernel::stream`]);
    /// absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log10_scale: Option<f64>,
}

/// Kernels whose scale is beyond `10^±SCALED_BEYOND` are reported scaled: their spectra
/// would otherwise square entries past f64's range inside the eigensolvers.
const SCALED_BEYOND: f64 = 100.0;

/// The matrix a spectrum is taken of: `K` itself when its scale is moderate, else the
/// scaled matrix (largest diagonal entry 1) with its base-10 scale.
fn in_range(g: &ScaledGram) -> (std::borrow::Cow<'_, ndarray::Array2<f64>>, Option<f64>) {
    match g.to_unscaled() {
        Some(k) if g.log10_scale().abs() <= SCALED_BEYOND => (std::borrow::Cow::Owned(k), None),
        _ => (std::borrow::Cow::Borrowed(g.gram()), Some(g.log10_scale())),
    }
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
    /// The lift's activation and variances (`dense(sw2=1, sb2=0)` for the paper's).
    pub lift_params: String,
    /// The distinct settings of the linear edges (`relu(sw2=2, sb2=0)` for the paper's).
    pub network: Vec<String>,
    /// Kernels that are not defined for this DAG, with the reason (the path-sum rule on
    /// edges with different maps, or with path counts past 2^128).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_defined: Vec<String>,
    /// Path statistics.
    pub paths: PathReport,
    /// Per-kernel spectra (empty when the DAG has no input-output path).
    pub kernels: Vec<KernelReport>,
    /// NTK spectra (empty when not requested or no path).
    pub ntk: Vec<NtkReport>,
}

/// Why [`analyze`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnalysisError {
    /// Path statistics failed (no path, or counts past range).
    #[error(transparent)]
    Paths(#[from] crate::paths::PathError),
    /// A kernel could not be computed (bad inputs, memory budget, range).
    #[error(transparent)]
    Kernel(#[from] crate::kernel::KernelError),
    /// A spectrum could not be computed.
    #[error(transparent)]
    Spectrum(#[from] crate::spectrum::SpectrumError),
}

/// Path statistics and kernel spectra of `dag` on `inputs`.
///
/// The largest step's memory (the NTK's, or a kernel's when `opts.ntk` is off) is checked
/// against the memory budget ([`crate::budget`]) before anything is computed.
pub fn analyze(
    dag: &Dag,
    inputs: &Inputs,
    opts: &AnalyzeOptions,
) -> Result<Analysis, AnalysisError> {
    let stats = PathStats::of(dag)?;
    let mut kernels = Vec::new();
    let mut not_defined = Vec::new();
    let mut ntk = Vec::new();
    if !stats.num_paths_exact().is_zero() {
        // The exact and independent-branch kernels and NTKs of the output, streamed in
        // bounded memory (one pass per rule gives both).
        let mut streamed = std::collections::BTreeMap::new();
        for rule in [Rule::IndependentBranch, Rule::Exact] {
            let kind = match rule {
                Rule::Exact => KernelKind::Exact,
                Rule::IndependentBranch => KernelKind::IndependentBranch,
            };
            if opts.kinds.contains(&kind) || opts.ntk {
                let out = inputs.output_kernel(dag, rule, opts.ntk.then_some(NtkVariant::Full))?;
                if let Some(theta) = out.ntk() {
                    let (m, log10_scale) = in_range(theta);
                    ntk.push(NtkReport {
                        rule: match rule {
                            Rule::Exact => "exact".into(),
                            Rule::IndependentBranch => "independent-branch".into(),
                        },
                        spectrum: SpectrumSummary::of(&m)?,
                        log10_scale,
                    });
                }
                streamed.insert(kind, out);
            }
        }
        for &kind in &opts.kinds {
            let report = match kind {
                KernelKind::PathSum => match inputs.kernel(dag, kind) {
                    Ok(k) => {
                        let gram = &k.output().gram;
                        KernelReport {
                            kind,
                            spectrum: SpectrumSummary::of(gram)?,
                            pair_bound: pair_bound(gram),
                            log10_scale: None,
                        }
                    }
                    // The path-sum rule is not defined here (or needs every node's
                    // state, which does not fit); the other kernels are.
                    Err(
                        e @ (crate::kernel::KernelError::PathSumMixedEdges { .. }
                        | crate::kernel::KernelError::PathOverflow { .. }
                        | crate::kernel::KernelError::Memory(_)),
                    ) => {
                        not_defined.push(format!("{kind}: {e}"));
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                },
                KernelKind::Exact | KernelKind::IndependentBranch => {
                    let out = &streamed[&kind];
                    let (m, log10_scale) = in_range(out.nngp());
                    KernelReport {
                        kind,
                        spectrum: SpectrumSummary::of(&m)?,
                        pair_bound: pair_bound(&m),
                        log10_scale,
                    }
                }
            };
            kernels.push(report);
        }
    }
    Ok(Analysis {
        dag: dag.describe(),
        points: inputs.len(),
        lift: inputs.lift(),
        lift_params: inputs.lift_params().to_string(),
        network: crate::plan::Plan::of(dag)
            .distinct_params()
            .iter()
            .map(|p| p.to_string())
            .collect(),
        not_defined,
        paths: PathReport::from(&stats),
        kernels,
        ntk,
    })
}

/// `value (exact)` for an effective depth or width: the `f64` written by `num` and the
/// exact ratio, or, beyond `u128`, the 53-bit value (`≈ 1.2345678901234567e2000`).
pub(crate) fn depth_width_text(
    value: Option<f64>,
    exact: Option<&str>,
    float: Option<&str>,
    num: fn(f64) -> String,
) -> String {
    let value_text = || value.map_or_else(|| "undefined".to_string(), num);
    match (value, exact, float) {
        (_, Some(e), _) => format!("{} ({e})", value_text()),
        (Some(v), None, Some(w)) => format!("{} (≈ {w})", num(v)),
        (None, None, Some(w)) => format!("≈ {w}"),
        _ => format!("{} (-)", value_text()),
    }
}

/// `v x 10^log10` in the form `{:.6e}` writes (`1.234560e382`), for values whose scale is
/// past f64's range; `{:.6e}` of `v` itself when there is no scale.
fn scaled(v: f64, log10: Option<f64>) -> String {
    match log10 {
        Some(s) if v.is_finite() && v != 0.0 => {
            let e = v.abs().log10() + s;
            let mut exp = e.floor();
            let mut mant = 10f64.powf(e - exp);
            if format!("{mant:.6}").starts_with("10") {
                mant /= 10.0;
                exp += 1.0;
            }
            format!("{}{mant:.6}e{exp}", if v < 0.0 { "-" } else { "" })
        }
        _ => format!("{v:.6e}"),
    }
}

/// `text`, cut to `max` characters with a note of what was left out.
fn shortened(text: &str, max: usize, what: &str) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}… ({what})", &text[..cut]),
        None => text.to_string(),
    }
}

fn six_decimals(x: f64) -> String {
    format!("{x:.6}")
}

impl fmt::Display for Analysis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.paths;
        writeln!(
            f,
            "DAG {}",
            shortened(&self.dag, 300, "the whole DAG is in --json")
        )?;
        if !self.network.is_empty() {
            writeln!(
                f,
                "linear edges: {}; lift: {}",
                self.network.join(", "),
                self.lift_params
            )?;
        }
        writeln!(f, "paths P = {}", p.num_paths)?;
        let depths: Vec<String> = p
            .depth_histogram
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.is_zero())
            .map(|(d, c)| format!("d={d}: {c}"))
            .collect();
        let shown = if depths.len() > 24 {
            format!(
                "{}, …, {} ({} depths; all in --json)",
                depths[..12].join(", "),
                depths[depths.len() - 4..].join(", "),
                depths.len()
            )
        } else {
            depths.join(", ")
        };
        writeln!(f, "depth histogram: {shown}")?;
        writeln!(
            f,
            "sum of d_p = {}, paths with d_p > 0 = {}",
            p.depth_sum, p.parameterized_paths
        )?;
        match &p.undefined_reason {
            Some(r) => writeln!(f, "effective depth/width: {r}")?,
            None => writeln!(
                f,
                "effective depth = {}, effective width = {}",
                depth_width_text(
                    p.effective_depth,
                    p.effective_depth_exact.as_deref(),
                    p.effective_depth_float.as_deref(),
                    six_decimals,
                ),
                depth_width_text(
                    p.effective_width,
                    p.effective_width_exact.as_deref(),
                    p.effective_width_float.as_deref(),
                    six_decimals,
                ),
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
                "{:<20} {:>14} {:>14.6e} {:>14} {:>14} {:>14}",
                k.kind.name(),
                scaled(s.lambda_min, k.log10_scale),
                s.normalized_lambda_min.unwrap_or(f64::NAN),
                scaled(s.lambda_max, k.log10_scale),
                s.condition
                    .map_or("inf (singular)".to_string(), |c| format!("{c:.6e}")),
                scaled(k.pair_bound.map_or(f64::NAN, |b| b.value), k.log10_scale),
            )?;
        }
        for why in &self.not_defined {
            writeln!(f, "{:<20} not defined: {why}", "")?;
        }
        for k in &self.ntk {
            let s = &k.spectrum;
            writeln!(
                f,
                "{:<20} {:>14} {:>14.6e} {:>14} {:>14} {:>14}",
                format!(
                    "NTK {}",
                    if k.rule == "exact" {
                        "exact"
                    } else {
                        "indep-branch"
                    }
                ),
                scaled(s.lambda_min, k.log10_scale),
                s.normalized_lambda_min.unwrap_or(f64::NAN),
                scaled(s.lambda_max, k.log10_scale),
                s.condition
                    .map_or("inf (singular)".to_string(), |c| format!("{c:.6e}")),
                "-",
            )?;
        }
        Ok(())
    }
}
