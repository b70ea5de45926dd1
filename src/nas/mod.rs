//! NAS studies (PAPER.md sections 4-5): NAS-Bench-201 accuracies against effective depth
//! and width (Fig. 5), the paper's filter with a simulated random search (a data-driven
//! stand-in for Tables 2-3), an exact-kernel accuracy proxy, and the DARTS normal-cell
//! space's depth/width ranges.
//!
//! * [`table`] — the NAS-Bench-201 / NATS-Bench accuracy CSV, validated.
//! * [`groups`] — Fig. 5: groups by exact `(dbar, mbar)`, mean/std, multiple
//!   correlation `R` (linear and quadratic, over cells and over group means).
//! * [`filter`] — kept/dropped accuracy and random search with and without the filter.
//! * [`proxy`] — `lambda_min` of the three kernels per cell, rank-correlated with
//!   accuracy (Kendall tau-b, Spearman rho) next to the paper's quantities.
//! * [`darts`] — the DARTS op-class space, counted and deduplicated exactly.
//! * [`cnn`] — the benchmark's real CIFAR networks at initialisation (forward pass,
//!   parameters, FLOPs); [`naswot`] — the NASWOT score on them.
//! * [`zero_cost`] — zero-cost proxies over a seeded sample of cells, their cache, rank
//!   correlations and the authors' search protocol with the filter (Tables 1-3).
//! * [`stats`] — the statistics used (rank correlations, least squares, summaries).
//!
//! Every result is a plain serde-serialisable struct; [`crate::report::nas`] turns them
//! into [`crate::report::Section`]s and the Fig. 5 bubble data.
//!
//! ```no_run
//! use archconv::nas::{Nb201Table, Nb201Study, StudyOptions};
//! let table = Nb201Table::load_from_dir(std::path::Path::new("datasets"))?;
//! let study = Nb201Study::compute(&table, &StudyOptions::default())?;
//! println!("R (CIFAR-10, quadratic, cells) = {:?}", study.fig5.panels[0].over_cells.quadratic.as_ref().map(|f| f.r));
//! # Ok::<(), archconv::nas::NasError>(())
//! ```

pub mod cnn;
pub mod darts;
pub mod filter;
pub mod groups;
pub mod naswot;
#[cfg(feature = "nas-cnn")]
pub mod net;
pub mod proxy;
pub mod stats;
pub mod table;
pub mod tenas;
pub mod zero_cost;

pub use darts::DartsSpace;
pub use filter::{FilterStudy, SearchOptions};
pub use groups::Fig5;
pub use proxy::{ProxyOptions, ProxyScores, ProxyStudy};
pub use table::{Dataset, Nb201Record, Nb201Table, RowProblem};

use crate::space::{CellPoint, Filter};
use serde::Serialize;
use std::path::PathBuf;

/// Errors of the NAS studies.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NasError {
    /// Reading the file failed, or it is missing (then the error names the expected path
    /// and how to obtain it).
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    /// The file is not UTF-8.
    #[error("{file}: not UTF-8 text (first invalid byte at offset {byte})")]
    NotUtf8 {
        /// The file.
        file: PathBuf,
        /// Byte offset.
        byte: usize,
    },
    /// No header line.
    #[error("{file}: empty file (expected a header line and one row per cell)")]
    EmptyFile {
        /// The file.
        file: PathBuf,
    },
    /// A required column is missing from the header.
    #[error("{file}, line {line}: header lacks column `{missing}` (found `{found}`)")]
    Header {
        /// The file.
        file: PathBuf,
        /// Header line (1-based).
        line: usize,
        /// The missing column.
        missing: &'static str,
        /// The header text.
        found: String,
    },
    /// A bad row.
    #[error("{file}, line {line}, column {column} ({field}): {problem}")]
    Row {
        /// The file.
        file: PathBuf,
        /// Line (1-based).
        line: usize,
        /// Character column where the field starts (1-based).
        column: usize,
        /// The field's column name (`row` for a wrong field count).
        field: String,
        /// What is wrong.
        problem: RowProblem,
    },
    /// Duplicated or missing cells when a complete table is required.
    #[error("{file}: {duplicates} duplicated and {missing} missing architectures (first missing: {first_missing:?}); a complete table lists each of the 15,625 cells once")]
    Incomplete {
        /// The file.
        file: PathBuf,
        /// Duplicated rows.
        duplicates: usize,
        /// Missing cells.
        missing: usize,
        /// The first missing arch string.
        first_missing: Option<String>,
    },
    /// The table has no usable row.
    #[error("{file}: no valid rows")]
    NoRows {
        /// The file.
        file: PathBuf,
    },
    /// Kernel inputs.
    #[error(transparent)]
    Kernel(#[from] crate::kernel::KernelError),
    /// A DARTS space with an unsupported number of intermediate nodes.
    #[error("a DARTS cell with {nodes} intermediate nodes is not supported: choose 1 to {max}")]
    DartsNodes {
        /// The number asked for.
        nodes: usize,
        /// The largest supported.
        max: usize,
    },
    /// A computation that would not fit in the memory budget.
    #[error(transparent)]
    Memory(#[from] crate::budget::BudgetError),
    /// Spectra.
    #[error(transparent)]
    Spectrum(#[from] crate::spectrum::SpectrumError),
}

/// Options of [`Nb201Study::compute`].
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct StudyOptions {
    /// Random search.
    pub search: SearchOptions,
    /// Kernel proxy inputs.
    pub proxy: ProxyOptions,
}

impl StudyOptions {
    /// Smaller budgets (200 search trials) for quick runs.
    pub fn quick() -> StudyOptions {
        StudyOptions {
            search: SearchOptions {
                trials: 200,
                ..SearchOptions::default()
            },
            proxy: ProxyOptions::default(),
        }
    }
}

/// The table's bookkeeping, for reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableInfo {
    /// File read.
    pub file: PathBuf,
    /// Distinct cells.
    pub cells: usize,
    /// Duplicated rows (ignored).
    pub duplicates: usize,
    /// Cells of the space without a row.
    pub missing: usize,
}

/// All NAS-Bench-201 studies on one table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Nb201Study {
    /// The table.
    pub table: TableInfo,
    /// Fig. 5.
    pub fig5: Fig5,
    /// The filter and random search.
    pub filter: FilterStudy,
    /// The kernel proxy.
    pub proxy: ProxyStudy,
}

/// Every NB201 cell's effective depth/width (space order) and the space's filter.
pub fn nb201_geometry() -> (Vec<CellPoint>, Filter) {
    let points = crate::space::nb201_points();
    let filter = crate::space::summarize(&points).filter;
    (points, filter)
}

/// Loads `<data_dir>/nats-bench-tss/nats_bench_tss_200ep.csv` and runs every
/// NAS-Bench-201 study with [`StudyOptions::default`] (`quick`: [`StudyOptions::quick`],
/// 200 search trials instead of 1,000). A missing file is
/// [`crate::data::DataError::Missing`] (inside [`NasError::Data`]).
pub fn nb201_study(data_dir: &std::path::Path, quick: bool) -> Result<Nb201Study, NasError> {
    let table = Nb201Table::load_from_dir(data_dir)?;
    let opts = if quick {
        StudyOptions::quick()
    } else {
        StudyOptions::default()
    };
    Nb201Study::compute(&table, &opts)
}

impl Nb201Study {
    /// Runs Fig. 5, the filter study and the proxy study.
    pub fn compute(table: &Nb201Table, options: &StudyOptions) -> Result<Nb201Study, NasError> {
        let scores = ProxyScores::compute(options.proxy)?;
        Nb201Study::with_scores(table, options, &scores)
    }

    /// Like [`Nb201Study::compute`] with precomputed proxy scores.
    pub fn with_scores(
        table: &Nb201Table,
        options: &StudyOptions,
        scores: &ProxyScores,
    ) -> Result<Nb201Study, NasError> {
        if table.is_empty() {
            return Err(NasError::NoRows {
                file: table.file().to_path_buf(),
            });
        }
        let (points, filter) = nb201_geometry();
        Ok(Nb201Study {
            table: TableInfo {
                file: table.file().to_path_buf(),
                cells: table.len(),
                duplicates: table.duplicates().len(),
                missing: table.missing().len(),
            },
            fig5: Fig5::compute(table, &points)?,
            filter: FilterStudy::compute(table, &points, filter, &options.search),
            proxy: ProxyStudy::compute(table, &points, filter, scores),
        })
    }
}
