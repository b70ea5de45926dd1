//! Does connectivity matter for generalisation in the kernel regime? (beyond the paper)
//!
//! For DAG#1-#3 and a seeded sample of NAS-Bench-201-shaped cells (uniform over the
//! 15,625 cells that have an input-output path), on MNIST subsets and on the CIFAR-10
//! records present, with the authors' ReLU stem and the exact rule:
//!
//! * **NNGP accuracy**: the posterior mean `K_{*,X} (K_{X,X} + s I)^{-1} Y` of one-hot
//!   regression ([`crate::predict::nngp_posterior`], noise `s = 0` plus the jitter the
//!   Cholesky needed), scored by the arg-max class;
//! * **NTK accuracy**: the converged gradient-flow mean of MSE training,
//!   `Theta_{*,X} Theta_{X,X}^+ Y` ([`crate::predict::NtkDynamics`], `Time::Converged`);
//! * beside each, the training kernel's `lambda_min` raw and normalised by its mean
//!   diagonal (`lambda_min / (tr K / N)`, PAPER.md section 6), the quantity the paper ties
//!   to convergence speed;
//! * per dataset and size, Spearman's rho and Kendall's tau-b across architectures of
//!   accuracy against raw and normalised `lambda_min` (and NNGP against NTK accuracy).
//!
//! ```no_run
//! use archconv::generalisation::{generalisation, GenBudget};
//! let study = generalisation(std::path::Path::new("../shared/datasets"), &GenBudget::quick(), &mut |_| {})?;
//! for c in &study.correlations {
//!     println!("{} N={} {}: rho {:?}", c.dataset, c.n_train, c.what, c.spearman);
//! }
//! # Ok::<(), archconv::generalisation::GenError>(())
//! ```

use crate::dag::format::Nb201Arch;
use crate::data::{self, Dataset, Split};
use crate::kernel::ntk::NtkVariant;
use crate::kernel::{KernelFn, KernelKind, Lift};
use crate::nas::stats::{kendall_tau_b, spearman_rho};
use crate::predict::{accuracy, nngp_posterior, one_hot, NtkDynamics, Time};
use crate::spectrum::SpectrumSummary;
use crate::{Dag, PathStats};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Serialize;
use std::path::Path;

/// Why the study could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GenError {
    /// A data file is missing or corrupt.
    #[error(transparent)]
    Data(#[from] data::DataError),
    /// A kernel could not be computed.
    #[error(transparent)]
    Kernel(#[from] crate::kernel::KernelError),
    /// A prediction failed (for example a kernel that is not positive semi-definite).
    #[error(transparent)]
    Predict(#[from] crate::predict::PredictError),
    /// An eigenvalue computation failed.
    #[error(transparent)]
    Spectrum(#[from] crate::spectrum::SpectrumError),
}

/// Sizes of the study.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GenBudget {
    /// Name (`quick`, `default`, `full`).
    pub name: String,
    /// MNIST training-set sizes (first examples of the training split).
    pub mnist_train: Vec<usize>,
    /// MNIST test examples (first of the test split).
    pub mnist_test: usize,
    /// CIFAR-10 training records (the rest of the records present, up to
    /// `cifar_test`, are held out when no test batch is present).
    pub cifar_train: usize,
    /// CIFAR-10 held-out records.
    pub cifar_test: usize,
    /// NAS-Bench-201 cells sampled besides DAG#1-#3.
    pub cells: usize,
    /// Seed of the cell sample.
    pub seed: u64,
}

impl GenBudget {
    /// Seconds on 2 cores: MNIST 200 / 200, CIFAR-10 100 / 50, 4 cells.
    pub fn quick() -> GenBudget {
        GenBudget {
            name: "quick".into(),
            mnist_train: vec![200],
            mnist_test: 200,
            cifar_train: 100,
            cifar_test: 50,
            cells: 4,
            seed: 0,
        }
    }

    /// A few minutes on 2 cores: MNIST 1,000 and 2,000 training / 1,000 test examples,
    /// CIFAR-10 160 / 40 records, 12 cells.
    pub fn default_budget() -> GenBudget {
        GenBudget {
            name: "default".into(),
            mnist_train: vec![1000, 2000],
            mnist_test: 1000,
            cifar_train: 160,
            cifar_test: 40,
            cells: 12,
            seed: 0,
        }
    }

    /// MNIST 1,000 to 10,000 training / 2,000 test examples, 24 cells (an hour or more on
    /// 2 cores: each `N = 10,000` eigendecomposition takes minutes).
    pub fn full() -> GenBudget {
        GenBudget {
            name: "full".into(),
            mnist_train: vec![1000, 2000, 5000, 10000],
            mnist_test: 2000,
            cifar_train: 160,
            cifar_test: 40,
            cells: 24,
            seed: 0,
        }
    }
}

/// One architecture on one training set.
#[derive(Debug, Clone, Serialize)]
pub struct GenRow {
    /// Dataset label.
    pub dataset: String,
    /// Training points.
    pub n_train: usize,
    /// Test points.
    pub n_test: usize,
    /// `DAG#1`..`DAG#3` or the NB201 arch string.
    pub arch: String,
    /// Whether this is one of the paper's three DAGs.
    pub paper_dag: bool,
    /// Effective depth `dbar` of the architecture, when defined.
    pub depth: Option<f64>,
    /// NNGP test accuracy.
    pub nngp_accuracy: f64,
    /// Jitter the NNGP Cholesky needed.
    pub nngp_jitter: f64,
    /// NTK (converged gradient flow) test accuracy.
    pub ntk_accuracy: f64,
    /// The training NNGP's spectrum.
    pub nngp_spectrum: SpectrumSummary,
    /// `lambda_min` of the training NTK.
    pub ntk_lambda_min: f64,
    /// `lambda_min` of the training NTK over its mean diagonal.
    pub ntk_normalized_lambda_min: Option<f64>,
}

/// A rank correlation across architectures on one training set.
#[derive(Debug, Clone, Serialize)]
pub struct GenCorrelation {
    /// Dataset label.
    pub dataset: String,
    /// Training points.
    pub n_train: usize,
    /// What against what, e.g. `NNGP accuracy vs normalised lambda_min(K)`.
    pub what: String,
    /// Spearman's rho (`None` when a side is constant).
    pub spearman: Option<f64>,
    /// Kendall's tau-b.
    pub kendall: Option<f64>,
    /// Architectures.
    pub count: usize,
}

/// The study's results.
#[derive(Debug, Clone, Serialize)]
pub struct GenStudy {
    /// The budget.
    pub budget: GenBudget,
    /// One row per architecture and training set.
    pub rows: Vec<GenRow>,
    /// Rank correlations per training set.
    pub correlations: Vec<GenCorrelation>,
    /// Parts skipped and why (a missing data file and how to get it).
    pub skipped: Vec<String>,
}

/// DAG#1-#3 followed by `cells` NB201 cells drawn without replacement (seeded) from those
/// with an input-output path.
pub fn architectures(cells: usize, seed: u64) -> Vec<(String, Dag, bool)> {
    let mut out: Vec<(String, Dag, bool)> = Dag::paper_dags()
        .into_iter()
        .map(|(n, d)| (n.to_string(), d, true))
        .collect();
    let mut pool: Vec<Nb201Arch> = Nb201Arch::all()
        .filter(|a| PathStats::of(&a.dag()).is_ok_and(|s| s.effective_width_exact().is_some()))
        .collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    pool.shuffle(&mut rng);
    out.extend(
        pool.into_iter()
            .take(cells)
            .map(|a| (a.to_string(), a.dag(), false)),
    );
    out
}

/// Evaluates one architecture on one training/test split.
pub fn evaluate(
    label: &str,
    arch: &str,
    dag: &Dag,
    paper_dag: bool,
    train: &Dataset,
    test: &Dataset,
) -> Result<GenRow, GenError> {
    let kf = KernelFn::new(dag, Lift::ReluStem, KernelKind::Exact);
    let (x, xt) = (train.x_f64(), test.x_f64());
    let y = one_hot(&train.y, train.classes.max(test.classes));
    let k = kf.nngp(x.view(), None)?;
    let k_test = kf.nngp(xt.view(), Some(x.view()))?;
    let post = nngp_posterior(&k, &y, &k_test, None, 0.0)?;
    let theta = kf.ntk(x.view(), None, NtkVariant::Full)?;
    let theta_test = kf.ntk(xt.view(), Some(x.view()), NtkVariant::Full)?;
    let dy = NtkDynamics::new(&theta, &y)?;
    let f_ntk = dy.test_mean(&theta_test, Time::Converged)?;
    let ntk_lmin = dy
        .eigenvalues()
        .iter()
        .fold(f64::INFINITY, |m, &v| m.min(v));
    let ntk_diag = theta.diag().sum() / theta.nrows() as f64;
    let depth = PathStats::of(dag).ok().and_then(|s| s.effective_depth());
    Ok(GenRow {
        dataset: label.to_string(),
        n_train: train.len(),
        n_test: test.len(),
        arch: arch.to_string(),
        paper_dag,
        depth,
        nngp_accuracy: accuracy(&post.mean, &test.y).unwrap_or(f64::NAN),
        nngp_jitter: post.jitter,
        ntk_accuracy: accuracy(&f_ntk, &test.y).unwrap_or(f64::NAN),
        nngp_spectrum: SpectrumSummary::of(&k)?,
        ntk_lambda_min: ntk_lmin,
        ntk_normalized_lambda_min: (ntk_diag > 0.0).then(|| ntk_lmin / ntk_diag),
    })
}

/// Rank correlations of the rows of one training set.
pub fn correlations(rows: &[GenRow]) -> Vec<GenCorrelation> {
    let Some(first) = rows.first() else {
        return Vec::new();
    };
    let col = |f: &dyn Fn(&GenRow) -> Option<f64>| -> Vec<f64> {
        rows.iter().map(|r| f(r).unwrap_or(f64::NAN)).collect()
    };
    let nngp = col(&|r| Some(r.nngp_accuracy));
    let ntk = col(&|r| Some(r.ntk_accuracy));
    let pairs: [(&str, &Vec<f64>, Vec<f64>); 5] = [
        (
            "NNGP accuracy vs raw lambda_min(K)",
            &nngp,
            col(&|r| Some(r.nngp_spectrum.lambda_min)),
        ),
        (
            "NNGP accuracy vs normalised lambda_min(K)",
            &nngp,
            col(&|r| r.nngp_spectrum.normalized_lambda_min),
        ),
        (
            "NTK accuracy vs raw lambda_min(Theta)",
            &ntk,
            col(&|r| Some(r.ntk_lambda_min)),
        ),
        (
            "NTK accuracy vs normalised lambda_min(Theta)",
            &ntk,
            col(&|r| r.ntk_normalized_lambda_min),
        ),
        ("NNGP accuracy vs NTK accuracy", &nngp, ntk.clone()),
    ];
    pairs
        .into_iter()
        .map(|(what, a, b)| {
            // Drop architectures where either side is undefined.
            let (xa, xb): (Vec<f64>, Vec<f64>) = a
                .iter()
                .zip(&b)
                .filter(|(u, v)| u.is_finite() && v.is_finite())
                .map(|(&u, &v)| (u, v))
                .unzip();
            GenCorrelation {
                dataset: first.dataset.clone(),
                n_train: first.n_train,
                what: what.to_string(),
                spearman: spearman_rho(&xa, &xb),
                kendall: kendall_tau_b(&xa, &xb),
                count: xa.len(),
            }
        })
        .collect()
}

/// Runs the study on the data in `dir`; a missing dataset is skipped with a message.
pub fn generalisation(
    dir: &Path,
    budget: &GenBudget,
    progress: &mut dyn FnMut(&str),
) -> Result<GenStudy, GenError> {
    let archs = architectures(budget.cells, budget.seed);
    let mut splits: Vec<(String, Dataset, Dataset)> = Vec::new();
    let mut skipped = Vec::new();
    match (
        data::load_mnist(dir, Split::Train),
        data::load_mnist(dir, Split::Test),
    ) {
        (Ok(tr), Ok(te)) => {
            let (m, s) = data::MNIST_NORMALIZE;
            let mut te = te.head(budget.mnist_test);
            te.standardize(&m, &s);
            for &n in &budget.mnist_train {
                let mut t = tr.head(n);
                t.standardize(&m, &s);
                splits.push((format!("MNIST {}", t.len()), t, te.clone()));
            }
        }
        (Err(e), _) | (_, Err(e)) => match e {
            data::DataError::Missing { .. } => skipped.push(format!("MNIST part: {e}")),
            other => return Err(other.into()),
        },
    }
    match data::load_cifar10(dir, Split::Train) {
        Ok(all) => {
            let (mut tr, mut te) = match data::load_cifar10(dir, Split::Test) {
                Ok(test) => (all.head(budget.cifar_train), test.head(budget.cifar_test)),
                Err(_) => {
                    let ntr = budget.cifar_train.min(all.len().saturating_sub(1));
                    let end = (ntr + budget.cifar_test).min(all.len());
                    (all.slice(0..ntr), all.slice(ntr..end))
                }
            };
            let (m, s) = data::CIFAR_NORMALIZE;
            tr.standardize(&m, &s);
            te.standardize(&m, &s);
            if tr.is_empty() || te.is_empty() {
                skipped.push(format!(
                    "CIFAR-10 part: {} records are too few for {} training and a held-out set",
                    all.len(),
                    budget.cifar_train
                ));
            } else {
                splits.push((format!("CIFAR-10 {}", tr.len()), tr, te));
            }
        }
        Err(e @ data::DataError::Missing { .. }) => skipped.push(format!("CIFAR-10 part: {e}")),
        Err(e) => return Err(e.into()),
    }
    let mut rows = Vec::new();
    let mut corr = Vec::new();
    for (label, tr, te) in &splits {
        let mut part = Vec::new();
        for (name, dag, paper) in &archs {
            progress(&format!("  {label}: {name}"));
            part.push(evaluate(label, name, dag, *paper, tr, te)?);
        }
        corr.extend(correlations(&part));
        rows.extend(part);
    }
    Ok(GenStudy {
        budget: budget.clone(),
        rows,
        correlations: corr,
        skipped,
    })
}
