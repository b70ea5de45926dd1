//! Fig. 4 of the paper: training accuracy versus epoch of the DAG#1/#2/#3 MLPs on MNIST
//! and CIFAR-10, mean and standard deviation over seeds (PAPER.md section 5).
//!
//! The authors' setting (their `mlp_code`): width 1024, SGD batch 128, fixed lr 1e-5 on
//! PyTorch's mean-reduced cross-entropy, no momentum / weight decay / augmentation,
//! inputs normalised with torchvision's `Normalize` (MNIST mean 0.1307, std 0.3081;
//! CIFAR-10 per channel), 1000 epochs on 90 % of MNIST's training set (54000 images) and
//! 45000 CIFAR-10 images. "Train accuracy" is the running accuracy over each epoch's
//! minibatches, which is what [`EpochRecord::train_acc`] records.
//!
//! That budget is thousands of GPU-hours' worth of CPU time here, so [`Fig4Budget`]
//! offers three sizes (see its constructors). With lr 1e-5 the networks barely move in a
//! few epochs; [`Fig4Budget::default_budget`] therefore also trains a clearly labelled
//! second setting with a larger learning rate.

use super::trainer::{train, EpochRecord, History, Optimizer, TrainConfig};
use super::Loss;
use super::TrainError;
use crate::data::{self, Dataset, Split};
use crate::Dag;
use serde::Serialize;
use std::path::Path;

/// Why the Fig. 4 study could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Fig4Error {
    /// Reading MNIST or CIFAR-10 failed (a missing file names the expected path and how
    /// to obtain it).
    #[error(transparent)]
    Data(#[from] data::DataError),
    /// Training one network failed.
    #[error("Fig. 4, {dataset} at lr {lr:e}, {dag} seed {seed}: {source}")]
    Train {
        /// `mnist` or `cifar10`.
        dataset: String,
        /// Learning rate.
        lr: f64,
        /// `DAG#1`, `DAG#2`, `DAG#3`.
        dag: &'static str,
        /// The seed.
        seed: u64,
        /// What went wrong (boxed: keeps the error small).
        source: Box<TrainError>,
    },
}

/// Sizes of a Fig. 4 run. Every run trains DAG#1, #2, #3 x `seeds` per dataset and
/// learning rate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fig4Budget {
    /// Name (`quick`, `default`, `paper`).
    pub name: String,
    /// MNIST training examples (the first n of the training file).
    pub mnist_train: usize,
    /// MNIST test examples (the first n of the test file).
    pub mnist_test: usize,
    /// MNIST epochs.
    pub mnist_epochs: usize,
    /// CIFAR-10 training examples (from the start of the available training records).
    pub cifar_train: usize,
    /// CIFAR-10 held-out examples (the official test batch when present, else the
    /// training records after the `cifar_train` used for training).
    pub cifar_test: usize,
    /// CIFAR-10 epochs.
    pub cifar_epochs: usize,
    /// Seeds per DAG (the paper: 3).
    pub seeds: usize,
    /// Width `m` (the paper: 1024).
    pub width: usize,
    /// SGD batch size (the paper: 128).
    pub batch: usize,
    /// Learning rates; the first is the paper's 1e-5.
    pub lrs: Vec<f64>,
}

impl Fig4Budget {
    /// Well under a minute on 2 cores (about 10 s measured): width 512, MNIST 2000/500
    /// examples x 3 epochs, CIFAR-10 160/40 x 5 epochs, 2 seeds, lr 1e-5 and 1e-2.
    pub fn quick() -> Fig4Budget {
        Fig4Budget {
            name: "quick".into(),
            mnist_train: 2000,
            mnist_test: 500,
            mnist_epochs: 3,
            cifar_train: 160,
            cifar_test: 40,
            cifar_epochs: 5,
            seeds: 2,
            width: 512,
            batch: 128,
            lrs: vec![1e-5, 1e-2],
        }
    }

    /// About 10 minutes on 2 cores: the paper's width 1024 and batch 128, 3 seeds, MNIST
    /// 4000 training / 1000 test examples x 4 epochs, CIFAR-10 160/40 x 10 epochs, at lr
    /// 1e-5 (the paper's) and 1e-2 (labelled "larger lr").
    pub fn default_budget() -> Fig4Budget {
        Fig4Budget {
            name: "default".into(),
            mnist_train: 4000,
            mnist_test: 1000,
            mnist_epochs: 4,
            cifar_train: 160,
            cifar_test: 40,
            cifar_epochs: 10,
            seeds: 3,
            width: 1024,
            batch: 128,
            lrs: vec![1e-5, 1e-2],
        }
    }

    /// The paper's budget: MNIST 54000 / 10000 and CIFAR-10 45000 / 10000 (or whatever
    /// is present), 1000 epochs, width 1024, batch 128, lr 1e-5 only, 3 seeds. Days of CPU.
    pub fn paper() -> Fig4Budget {
        Fig4Budget {
            name: "paper".into(),
            mnist_train: 54_000,
            mnist_test: 10_000,
            mnist_epochs: 1000,
            cifar_train: 45_000,
            cifar_test: 10_000,
            cifar_epochs: 1000,
            seeds: 3,
            width: 1024,
            batch: 128,
            lrs: vec![1e-5],
        }
    }
}

/// Mean and sample standard deviation (`n - 1`; 0 for one run) of one metric per epoch
/// across seeds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Curve {
    /// `DAG#1`, `DAG#2`, `DAG#3`.
    pub dag: String,
    /// MLP code (`2_02_002`).
    pub code: String,
    /// `train_acc`, `test_acc` or `train_loss`.
    pub metric: String,
    /// Epochs (0 = initialisation).
    pub epochs: Vec<usize>,
    /// Mean across seeds.
    pub mean: Vec<f64>,
    /// Standard deviation across seeds.
    pub std: Vec<f64>,
    /// Number of seeds.
    pub runs: usize,
}

/// Mean and sample standard deviation of `values` (std 0 for fewer than 2 values).
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let std = if values.len() < 2 {
        0.0
    } else {
        (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    };
    (mean, std)
}

/// Curves of one metric across runs of one DAG.
pub fn curve(
    dag: &str,
    code: &str,
    metric: &str,
    runs: &[History],
    get: impl Fn(&EpochRecord) -> Option<f64>,
) -> Curve {
    let epochs: Vec<usize> = runs
        .first()
        .map(|h| h.records.iter().map(|r| r.epoch).collect())
        .unwrap_or_default();
    let (mut mean, mut std) = (Vec::new(), Vec::new());
    for (k, _) in epochs.iter().enumerate() {
        let v: Vec<f64> = runs
            .iter()
            .filter_map(|h| h.records.get(k).and_then(&get))
            .collect();
        let (m, s) = if v.is_empty() {
            (f64::NAN, f64::NAN)
        } else {
            mean_std(&v)
        };
        mean.push(m);
        std.push(s);
    }
    Curve {
        dag: dag.into(),
        code: code.into(),
        metric: metric.into(),
        epochs,
        mean,
        std,
        runs: runs.len(),
    }
}

/// One panel of Fig. 4: one dataset at one learning rate.
#[derive(Debug, Clone, Serialize)]
pub struct Fig4Panel {
    /// `mnist` or `cifar10`.
    pub dataset: String,
    /// Human label, e.g. "CIFAR-10 (200-record fixture: 160 train / 40 held out)".
    pub label: String,
    /// Data files and subsets.
    pub source: String,
    /// Learning rate.
    pub lr: f64,
    /// Whether this is the paper's setting (lr 1e-5) or the added larger-lr one.
    pub setting: String,
    /// Training examples.
    pub train_n: usize,
    /// Held-out examples.
    pub test_n: usize,
    /// Curves: `train_acc`, `test_acc`, `train_loss` for each DAG.
    pub curves: Vec<Curve>,
    /// Every run.
    pub runs: Vec<History>,
}

impl Fig4Panel {
    /// The `train_acc` curves (the figure).
    pub fn train_acc(&self) -> impl Iterator<Item = &Curve> {
        self.curves.iter().filter(|c| c.metric == "train_acc")
    }

    /// DAG names ordered by the mean over epochs 1..=E of their mean training accuracy
    /// (area under the Fig. 4 curve), slowest first.
    pub fn ordering(&self) -> Vec<(String, f64)> {
        let mut v: Vec<(String, f64)> = self
            .train_acc()
            .map(|c| {
                let tail = &c.mean[1.min(c.mean.len())..];
                (
                    c.dag.clone(),
                    tail.iter().sum::<f64>() / tail.len().max(1) as f64,
                )
            })
            .collect();
        v.sort_by(|a, b| a.1.total_cmp(&b.1));
        v
    }
}

/// Trains DAG#1/#2/#3 x `seeds` on one dataset at one learning rate.
#[allow(clippy::too_many_arguments)]
pub fn fig4_panel(
    dataset: &str,
    label: &str,
    train_set: &Dataset,
    test_set: Option<&Dataset>,
    epochs: usize,
    budget: &Fig4Budget,
    lr: f64,
    progress: &mut dyn FnMut(&str),
) -> Result<Fig4Panel, Fig4Error> {
    let mut curves = Vec::new();
    let mut all = Vec::new();
    for (name, dag) in Dag::paper_dags() {
        let mut runs = Vec::new();
        for seed in 0..budget.seeds as u64 {
            let cfg = TrainConfig {
                width: budget.width,
                lr,
                optimizer: Optimizer::Sgd {
                    batch: budget.batch,
                },
                loss: Loss::CrossEntropy,
                epochs,
                seed,
            };
            let t0 = std::time::Instant::now();
            let h =
                train::<f32>(&dag, train_set, test_set, &cfg, &mut |_| {}).map_err(|source| {
                    Fig4Error::Train {
                        dataset: dataset.into(),
                        lr,
                        dag: name,
                        seed,
                        source: Box::new(source),
                    }
                })?;
            let last = h.records.last().expect("epoch 0 at least");
            progress(&format!(
                "  {dataset} lr {lr:e} {name} seed {seed}: train acc {:.4} after {epochs} epochs ({:.1} s)",
                last.train_acc,
                t0.elapsed().as_secs_f64()
            ));
            runs.push(h);
        }
        let code = dag.describe();
        curves.push(curve(name, &code, "train_acc", &runs, |r| {
            Some(r.train_acc)
        }));
        curves.push(curve(name, &code, "test_acc", &runs, |r| r.test_acc));
        curves.push(curve(name, &code, "train_loss", &runs, |r| {
            Some(r.train_loss)
        }));
        all.extend(runs);
    }
    Ok(Fig4Panel {
        dataset: dataset.into(),
        label: label.into(),
        source: train_set.source.clone(),
        lr,
        setting: if (lr - 1e-5).abs() < 1e-12 {
            "paper (lr 1e-5)".into()
        } else {
            format!("larger lr {lr:e} (not the paper's)")
        },
        train_n: train_set.len(),
        test_n: test_set.map_or(0, Dataset::len),
        curves,
        runs: all,
    })
}

/// MNIST training and test subsets of the budget, normalised as the authors do.
pub fn mnist_subsets(dir: &Path, budget: &Fig4Budget) -> Result<(Dataset, Dataset), Fig4Error> {
    let mut tr = data::load_mnist(dir, Split::Train)?.head(budget.mnist_train);
    let mut te = data::load_mnist(dir, Split::Test)?.head(budget.mnist_test);
    let (m, s) = data::MNIST_NORMALIZE;
    tr.standardize(&m, &s);
    te.standardize(&m, &s);
    Ok((tr, te))
}

/// CIFAR-10 training and held-out subsets (official test batch if present, else the
/// records after the training ones) and a label saying which.
pub fn cifar_subsets(
    dir: &Path,
    budget: &Fig4Budget,
) -> Result<(Dataset, Dataset, String), Fig4Error> {
    let all = data::load_cifar10(dir, Split::Train)?;
    let (mut tr, mut te, label) = match data::load_cifar10(dir, Split::Test) {
        Ok(test) => {
            let tr = all.head(budget.cifar_train);
            let te = test.head(budget.cifar_test);
            let label = format!("CIFAR-10 ({} train / {} test images)", tr.len(), te.len());
            (tr, te, label)
        }
        Err(_) => {
            let ntr = budget.cifar_train.min(all.len().saturating_sub(1).max(1));
            let tr = all.slice(0..ntr);
            let te = all.slice(ntr..ntr + budget.cifar_test);
            let label = format!(
                "CIFAR-10, only {} training records present ({} train / {} held out){}",
                all.len(),
                tr.len(),
                te.len(),
                if all.len() < 1000 {
                    " — a small fixture, not the paper's data"
                } else {
                    ""
                }
            );
            (tr, te, label)
        }
    };
    let (m, s) = data::CIFAR_NORMALIZE;
    tr.standardize(&m, &s);
    if !te.is_empty() {
        te.standardize(&m, &s);
    }
    Ok((tr, te, label))
}

/// All Fig. 4 panels the data directory allows, plus skip messages.
pub fn fig4(
    data_dir: Option<&Path>,
    budget: &Fig4Budget,
    progress: &mut dyn FnMut(&str),
) -> Result<(Vec<Fig4Panel>, Vec<String>), Fig4Error> {
    let mut panels = Vec::new();
    let mut skipped = Vec::new();
    let Some(dir) = data_dir else {
        skipped.push(format!(
            "Fig. 4 (training curves): no data directory; pass --data DIR or set ARCHCONV_DATA. MNIST: {}. CIFAR-10: {}",
            data::MNIST_HINT,
            data::CIFAR_HINT
        ));
        return Ok((panels, skipped));
    };
    match mnist_subsets(dir, budget) {
        Ok((tr, te)) => {
            for &lr in &budget.lrs {
                let label = format!("MNIST ({} train / {} test images)", tr.len(), te.len());
                panels.push(fig4_panel(
                    "mnist",
                    &label,
                    &tr,
                    Some(&te),
                    budget.mnist_epochs,
                    budget,
                    lr,
                    progress,
                )?);
            }
        }
        Err(Fig4Error::Data(e @ data::DataError::Missing { .. })) => {
            skipped.push(format!("Fig. 4 MNIST panel: {e}"))
        }
        Err(e) => return Err(e),
    }
    match cifar_subsets(dir, budget) {
        Ok((tr, te, label)) => {
            let test = if te.is_empty() { None } else { Some(&te) };
            for &lr in &budget.lrs {
                panels.push(fig4_panel(
                    "cifar10",
                    &label,
                    &tr,
                    test,
                    budget.cifar_epochs,
                    budget,
                    lr,
                    progress,
                )?);
            }
        }
        Err(Fig4Error::Data(e @ data::DataError::Missing { .. })) => {
            skipped.push(format!("Fig. 4 CIFAR-10 panel: {e}"))
        }
        Err(e) => return Err(e),
    }
    Ok((panels, skipped))
}
