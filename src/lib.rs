//! # archconv
//!
//! Deep architecture connectivity and convergence, after Chen, Huang, Gong, Hanin and
//! Wang, *Deep Architecture Connectivity Matters for Its Convergence: A Fine-Grained
//! Analysis* (NeurIPS 2022). Describe a DAG architecture; get its path statistics,
//! effective depth and width, closed-form NNGP kernels (the paper's path-sum rule, the
//! independent-branch rule and the exact post-ReLU recursion) and their spectra.
//!
//! Data flow: text -> [`Dag`] -> [`PathStats`] / [`kernel::Kernel`] -> [`spectrum`]
//! -> reports.
//!
//! ```
//! use archconv::{Dag, PathStats, kernel::{Inputs, KernelKind, Lift}, spectrum::SpectrumSummary};
//! let dag = Dag::parse("2_21_112")?;                       // DAG#3
//! let stats = PathStats::of(&dag)?;
//! assert_eq!(stats.effective_depth(), Some(1.25));
//! let x = Inputs::gaussian(32, 10, 1);
//! let inputs = Inputs::from_data(x.view(), Lift::Dense)?;
//! let k = inputs.kernel(&dag, KernelKind::Exact)?;
//! let s = SpectrumSummary::of(&k.output().gram)?;
//! assert!(s.lambda_min > 0.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod activation;
pub mod activation_study;
pub mod analysis;
pub mod budget;
pub mod dag;
pub mod data;
pub mod display;
pub mod empirical_ntk;
pub mod generalisation;
pub mod kernel;
mod linalg;
pub mod model;
pub mod montecarlo;
pub mod nas;
pub mod paths;
pub mod plan;
pub mod plot;
pub mod predict;
pub mod report;
pub mod reproduce;
mod simd;
pub mod space;
pub mod spectrum;
pub mod stepsize;
pub mod train;

pub use analysis::{analyze, Analysis, AnalysisError, AnalyzeOptions};
pub use dag::{Dag, DagError, Edge, Op};
pub use kernel::{Inputs, Kernel, KernelFn, KernelKind, Lift};
pub use paths::{PathStats, Undefined};
pub use plot::{Figure, PlotError};
pub use spectrum::SpectrumSummary;

/// Which linear-algebra backend this build uses (`faer` or `lapack (OpenBLAS)`).
pub const LINALG_BACKEND: &str = linalg::BACKEND;

/// Any error the library reports, for callers that do not care which stage failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Parsing an architecture.
    #[error(transparent)]
    Parse(#[from] dag::format::ParseError),
    /// An invalid graph.
    #[error(transparent)]
    Dag(#[from] DagError),
    /// Path counting overflow.
    #[error(transparent)]
    Paths(#[from] paths::PathError),
    /// Writing an output file.
    #[error(transparent)]
    Write(#[from] report::WriteError),
    /// `reproduce` would overwrite files it did not write.
    #[error(transparent)]
    Overwrite(#[from] reproduce::OverwriteError),
    /// A request that does not fit in the memory budget.
    #[error(transparent)]
    Memory(#[from] budget::BudgetError),
    /// Kernel inputs.
    #[error(transparent)]
    Kernel(#[from] kernel::KernelError),
    /// Spectra.
    #[error(transparent)]
    Spectrum(#[from] spectrum::SpectrumError),
    /// Finite-width simulation.
    #[error(transparent)]
    Empirical(#[from] empirical_ntk::EmpiricalError),
    /// NAS-Bench-201 / DARTS studies.
    #[error(transparent)]
    Nas(#[from] nas::NasError),
    /// Zero-cost proxies on real NAS-Bench-201 networks.
    #[error(transparent)]
    ZeroCost(#[from] nas::zero_cost::ZcError),
    /// Reading data files.
    #[error(transparent)]
    Data(#[from] data::DataError),
    /// Drawing or saving a figure.
    #[error(transparent)]
    Plot(#[from] plot::PlotError),
    /// Training a network.
    #[error(transparent)]
    Train(#[from] train::TrainError),
    /// The section-3 bounds.
    #[error(transparent)]
    Bounds(#[from] spectrum::BoundsError),
    /// Monte Carlo sampling.
    #[error(transparent)]
    MonteCarlo(#[from] montecarlo::McError),
    /// A bad activation or variance.
    #[error(transparent)]
    Model(#[from] model::ModelError),
    /// A bad activation specification.
    #[error(transparent)]
    Activation(#[from] activation::ActivationError),
    /// The generalisation study failed.
    #[error(transparent)]
    Generalisation(#[from] generalisation::GenError),
    /// The Fig. 4 training study failed.
    #[error(transparent)]
    Fig4(#[from] train::fig4::Fig4Error),
    /// The convergence-rate test failed.
    #[error(transparent)]
    Rate(#[from] train::rate::RateError),
    /// The predicted-against-measured training study failed.
    #[error(transparent)]
    Linearised(#[from] train::linearised::LinearisedError),
    /// A one-DAG analysis failed.
    #[error(transparent)]
    Analysis(#[from] analysis::AnalysisError),
    /// Fig. 4 against time failed.
    #[error(transparent)]
    Fig4Time(#[from] train::fig4_time::Fig4TimeError),
    /// The activation study failed.
    #[error(transparent)]
    ActivationStudy(#[from] activation_study::ActivationStudyError),
    /// The NTK step-size study failed.
    #[error(transparent)]
    StepSize(#[from] stepsize::StepSizeError),
}
