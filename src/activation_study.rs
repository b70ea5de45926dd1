//! The paper's question asked again outside ReLU: does `lambda_min` still order DAG#1 <
//! DAG#2 < DAG#3 for other activations? (PAPER.md sections 3, 8, 9.)
//!
//! For each activation `phi`, every linear edge gets the variance-preserving weight
//! variance `sw2 = 1 / E[phi(z)^2]`, `z ~ N(0, 1)`, and no bias (for ReLU that is the
//! paper's `sw2 = 2`), so a unit-diagonal input keeps a unit diagonal through one edge.
//! On seeded Gaussian data (rows normalised, dense lift) the study computes the exact NNGP
//! and the exact NTK of DAG#1-#3 and records `lambda_min` raw and divided by the mean
//! diagonal. The ordering is the paper's when `lambda_min(DAG#1) < lambda_min(DAG#2) <
//! lambda_min(DAG#3)`.
//!
//! ```
//! use archconv::activation::Activation;
//! use archconv::activation_study::{activation_study, StudyKernel, StudyOptions};
//! let opts = StudyOptions { points: 64, dim: 32, seed: 0, activations: vec![Activation::Relu] };
//! let s = activation_study(&opts)?;
//! assert_eq!(s.rows.len(), 2 * 3);                // NNGP and NTK x three DAGs
//! assert_eq!(s.verdicts[0].kernel, StudyKernel::Nngp);
//! assert!(s.verdicts[0].raw_holds);               // ReLU, NNGP: the paper's order
//! # Ok::<(), archconv::activation_study::ActivationStudyError>(())
//! ```

use crate::activation::{Activation, Dual};
use crate::kernel::exact::Rule;
use crate::kernel::ntk::NtkVariant;
use crate::kernel::KernelError;
use crate::kernel::{Inputs, KernelKind, Lift};
use crate::model::EdgeParams;
use crate::model::ModelError;
use crate::spectrum::SpectrumError;
use crate::spectrum::SpectrumSummary;
use crate::Dag;
use serde::Serialize;
use std::fmt;

/// Which exact kernel a study row or verdict is about. Serialised (and displayed) as
/// `nngp` or `ntk`.
///
/// ```
/// use archconv::activation_study::StudyKernel;
/// assert_eq!(StudyKernel::ALL.map(StudyKernel::name), ["nngp", "ntk"]);
/// assert_eq!(serde_json::to_string(&StudyKernel::Ntk).unwrap(), "\"ntk\"");
/// assert_eq!(format!("[{:<5}]", StudyKernel::Ntk), "[ntk  ]");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StudyKernel {
    /// The exact NNGP: the output node's Gram (`KernelKind::Exact`).
    Nngp,
    /// The exact NTK with every parameter trained (`Rule::Exact`, `NtkVariant::Full`).
    Ntk,
}

impl StudyKernel {
    /// Both, in the order the study computes them: NNGP, NTK.
    pub const ALL: [StudyKernel; 2] = [StudyKernel::Nngp, StudyKernel::Ntk];

    /// Short name (`nngp`, `ntk`), as in the report's JSON.
    pub fn name(self) -> &'static str {
        match self {
            StudyKernel::Nngp => "nngp",
            StudyKernel::Ntk => "ntk",
        }
    }
}

impl fmt::Display for StudyKernel {
    /// The short name; honours width and alignment (`{:<5}`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// What to compute.
#[derive(Debug, Clone)]
pub struct StudyOptions {
    /// Number of points `N`.
    pub points: usize,
    /// Their dimension `d`.
    pub dim: usize,
    /// Seed of the Gaussian data.
    pub seed: u64,
    /// Activations to compare.
    pub activations: Vec<Activation>,
}

impl StudyOptions {
    /// The activations of the study: ReLU, leaky ReLU(0.1), Abs, erf, tanh, GELU, SiLU,
    /// softplus, identity.
    pub fn default_activations() -> Vec<Activation> {
        vec![
            Activation::Relu,
            Activation::AbRelu { a: 0.1, b: 1.0 },
            Activation::Abs,
            Activation::Erf,
            Activation::Tanh,
            Activation::Gelu,
            Activation::Silu,
            Activation::Softplus,
            Activation::Identity,
        ]
    }
}

/// One (activation, kernel, DAG) result.
#[derive(Debug, Clone, Serialize)]
pub struct StudyRow {
    /// Activation spec.
    pub activation: String,
    /// `sw2 = 1 / E[phi(z)^2]`.
    pub sw2: f64,
    /// The exact NNGP or the exact NTK.
    pub kernel: StudyKernel,
    /// `DAG#1`, `DAG#2` or `DAG#3`.
    pub dag: String,
    /// Raw `lambda_min`.
    pub lambda_min: f64,
    /// `lambda_min` divided by the mean diagonal.
    pub normalized_lambda_min: f64,
    /// `lambda_min <= 1e-9 lambda_max`: numerically singular, so its value (and any order
    /// built on it) is rounding noise. A linear (identity) network with `N > d` is
    /// singular: every node's Gram is a combination of `K^0`, of rank `d`.
    pub singular: bool,
}

/// Whether the paper's order holds for one activation and kernel.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// Activation spec.
    pub activation: String,
    /// The exact NNGP or the exact NTK.
    pub kernel: StudyKernel,
    /// DAGs by raw `lambda_min`, smallest first.
    pub raw_order: Vec<String>,
    /// DAGs by normalised `lambda_min`, smallest first.
    pub normalized_order: Vec<String>,
    /// Raw order is DAG#1 < DAG#2 < DAG#3.
    pub raw_holds: bool,
    /// Normalised order is DAG#1 < DAG#2 < DAG#3.
    pub normalized_holds: bool,
    /// Every DAG's kernel is non-singular (otherwise the orders are rounding noise and
    /// neither `holds` counts).
    pub resolved: bool,
}

/// The study's results.
#[derive(Debug, Clone, Serialize)]
pub struct ActivationStudy {
    /// `N`.
    pub points: usize,
    /// `d`.
    pub dim: usize,
    /// Seed.
    pub seed: u64,
    /// Every result.
    pub rows: Vec<StudyRow>,
    /// Per activation and kernel.
    pub verdicts: Vec<Verdict>,
}

fn order(values: &[(String, f64)]) -> Vec<String> {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.1.total_cmp(&b.1));
    v.into_iter().map(|(n, _)| n).collect()
}

/// Why [`activation_study`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ActivationStudyError {
    /// The seeded inputs could not be prepared (e.g. `points` or `dim` is zero).
    #[error("activation study inputs: {0}")]
    Inputs(#[from] KernelError),
    /// The variance-preserving edge parameters of an activation are invalid (e.g. its
    /// second moment `E[phi(z)^2]` is zero, so `sw2` is infinite).
    #[error("activation {activation}: edge parameters with sw2 = {sw2}: {source}")]
    Params {
        /// The activation.
        activation: String,
        /// The weight variance `1 / E[phi(z)^2]` that was rejected.
        sw2: f64,
        /// The model error.
        source: ModelError,
    },
    /// A kernel of one DAG failed.
    #[error("activation {activation}, {kernel} of {dag}: {source}")]
    Kernel {
        /// The activation.
        activation: String,
        /// The kernel (`nngp` or `ntk`).
        kernel: StudyKernel,
        /// `DAG#1`, `DAG#2` or `DAG#3`.
        dag: String,
        /// The kernel error.
        source: KernelError,
    },
    /// The spectrum of one kernel failed.
    #[error("activation {activation}, spectrum of the {kernel} of {dag}: {source}")]
    Spectrum {
        /// The activation.
        activation: String,
        /// The kernel (`nngp` or `ntk`).
        kernel: StudyKernel,
        /// `DAG#1`, `DAG#2` or `DAG#3`.
        dag: String,
        /// The spectrum error.
        source: SpectrumError,
    },
}

/// Runs the study (module docs).
pub fn activation_study(opts: &StudyOptions) -> Result<ActivationStudy, ActivationStudyError> {
    let x = Inputs::gaussian(opts.points, opts.dim, opts.seed);
    let inputs = Inputs::from_data(x.view(), Lift::Dense)?;
    let mut rows = Vec::new();
    let mut verdicts = Vec::new();
    for act in &opts.activations {
        let second_moment = act.dual(Dual::Nngp, 1.0, 1.0, 1.0);
        let sw2 = 1.0 / second_moment;
        let params = EdgeParams::new(act.clone(), sw2, 0.0).map_err(|source| {
            ActivationStudyError::Params {
                activation: act.to_string(),
                sw2,
                source,
            }
        })?;
        for kernel in StudyKernel::ALL {
            let mut raw = Vec::new();
            let mut norm = Vec::new();
            let mut any_singular = false;
            for (name, dag) in Dag::paper_dags() {
                // The paper's ReLU goes through the paper's (default) model unchanged.
                let dag: Dag = if params.is_paper_relu() {
                    dag
                } else {
                    dag.with_all_params(&params)
                };
                let m = match kernel {
                    StudyKernel::Nngp => inputs
                        .kernel(&dag, KernelKind::Exact)
                        .map(|k| k.into_output_gram()),
                    StudyKernel::Ntk => inputs
                        .ntk(&dag, Rule::Exact)
                        .map(|n| n.theta(NtkVariant::Full)),
                }
                .map_err(|source| ActivationStudyError::Kernel {
                    activation: act.to_string(),
                    kernel,
                    dag: name.to_string(),
                    source,
                })?;
                let s =
                    SpectrumSummary::of(&m).map_err(|source| ActivationStudyError::Spectrum {
                        activation: act.to_string(),
                        kernel,
                        dag: name.to_string(),
                        source,
                    })?;
                let nl = s.normalized_lambda_min.unwrap_or(f64::NAN);
                let singular = s.lambda_min <= 1e-9 * s.lambda_max;
                any_singular |= singular;
                raw.push((name.to_string(), s.lambda_min));
                norm.push((name.to_string(), nl));
                rows.push(StudyRow {
                    activation: act.to_string(),
                    sw2,
                    kernel,
                    dag: name.to_string(),
                    lambda_min: s.lambda_min,
                    normalized_lambda_min: nl,
                    singular,
                });
            }
            let paper = ["DAG#1", "DAG#2", "DAG#3"].map(String::from).to_vec();
            let (raw_order, normalized_order) = (order(&raw), order(&norm));
            verdicts.push(Verdict {
                activation: act.to_string(),
                kernel,
                raw_holds: !any_singular && raw_order == paper,
                normalized_holds: !any_singular && normalized_order == paper,
                resolved: !any_singular,
                raw_order,
                normalized_order,
            });
        }
    }
    Ok(ActivationStudy {
        points: opts.points,
        dim: opts.dim,
        seed: opts.seed,
        rows,
        verdicts,
    })
}

impl ActivationStudy {
    /// One sentence per kernel: for which activations the paper's order holds, raw and
    /// normalised.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        for kernel in StudyKernel::ALL {
            let vs: Vec<&Verdict> = self
                .verdicts
                .iter()
                .filter(|v| v.kernel == kernel)
                .collect();
            let list = |f: &dyn Fn(&Verdict) -> bool| -> String {
                let names: Vec<&str> = vs
                    .iter()
                    .filter(|v| f(v))
                    .map(|v| v.activation.as_str())
                    .collect();
                if names.is_empty() {
                    "none".into()
                } else {
                    names.join(", ")
                }
            };
            let resolved = vs.iter().filter(|v| v.resolved).count();
            out.push_str(&format!(
                "- **Exact {}**: raw lambda_min orders DAG#1 < DAG#2 < DAG#3 for {} of {} activations (holds: {}; fails: {}). Normalised by the mean diagonal it holds for {} (fails: {}).{}\n",
                kernel.name().to_uppercase(),
                vs.iter().filter(|v| v.raw_holds).count(),
                resolved,
                list(&|v| v.raw_holds),
                list(&|v| v.resolved && !v.raw_holds),
                list(&|v| v.normalized_holds),
                list(&|v| v.resolved && !v.normalized_holds),
                if resolved < vs.len() {
                    format!(
                        " Singular (lambda_min <= 1e-9 lambda_max, no order): {}.",
                        list(&|v| !v.resolved)
                    )
                } else {
                    String::new()
                },
            ));
        }
        out
    }
}
