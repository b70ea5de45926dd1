//! The training loop: seeded minibatch SGD or full-batch gradient descent, per-epoch
//! train/test loss and accuracy.

use super::gemm::Scalar;
use super::loss::{loss_and_grad, Loss};
use super::model::DagMlp;
use super::TrainError;
use crate::dag::{Dag, Role};
use crate::data::Dataset;
use crate::model::LiftParams;
use ndarray::Array2;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Serialize;
use std::time::Instant;

/// The optimiser: plain gradient steps, no momentum, no weight decay (the paper's setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Optimizer {
    /// Minibatch SGD: each epoch reshuffles the training set (seeded) and takes
    /// `ceil(n / batch)` steps; the last batch may be smaller (PyTorch `drop_last=False`).
    Sgd {
        /// Batch size.
        batch: usize,
    },
    /// Full-batch gradient descent: one step per epoch on the whole training set.
    FullBatch,
}

/// Training hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainConfig {
    /// Width `m` of the stem and every node.
    pub width: usize,
    /// Fixed learning rate.
    pub lr: f64,
    /// Optimiser.
    pub optimizer: Optimizer,
    /// Loss.
    pub loss: Loss,
    /// Number of epochs.
    pub epochs: usize,
    /// Seed of the initial weights (and, offset, of the shuffling).
    pub seed: u64,
}

impl TrainConfig {
    /// The paper's Fig. 4 setting (PAPER.md section 5): width 1024, SGD batch 128, fixed
    /// lr 1e-5 on PyTorch's mean-reduced cross-entropy, no momentum / weight decay. The
    /// paper does not state its number of epochs; `epochs` is the caller's.
    pub fn paper(epochs: usize, seed: u64) -> TrainConfig {
        TrainConfig {
            width: 1024,
            lr: 1e-5,
            optimizer: Optimizer::Sgd { batch: 128 },
            loss: Loss::CrossEntropy,
            epochs,
            seed,
        }
    }

    fn validate(&self, n: usize) -> Result<(), TrainError> {
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(TrainError::Config {
                what: "learning rate",
                value: self.lr.to_string(),
                why: "must be finite and positive".into(),
            });
        }
        if let Optimizer::Sgd { batch: 0 } = self.optimizer {
            return Err(TrainError::Config {
                what: "batch size",
                value: "0".into(),
                why: "must be positive (use full-batch GD for the whole set)".into(),
            });
        }
        if n == 0 {
            return Err(TrainError::EmptyDataset);
        }
        Ok(())
    }
}

/// Metrics of one epoch. Epoch 0 is the initial network (evaluated, no training).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EpochRecord {
    /// Epoch number (0 = at initialisation).
    pub epoch: usize,
    /// Mean training loss. Epoch 0: evaluated on the training set. Later epochs: the
    /// running mean over the epoch's minibatches, each measured before its update (what
    /// a PyTorch training loop prints).
    pub train_loss: f64,
    /// Training accuracy, same convention as `train_loss`.
    pub train_acc: f64,
    /// Mean test loss after the epoch, if a test set was given.
    pub test_loss: Option<f64>,
    /// Test accuracy after the epoch, if a test set was given.
    pub test_acc: Option<f64>,
    /// Gradient steps taken so far.
    pub steps: usize,
    /// Wall-clock seconds of this epoch's training (0 for epoch 0).
    pub seconds: f64,
}

/// One training run.
#[derive(Debug, Clone, Serialize)]
pub struct History {
    /// The DAG (MLP code when it has one).
    pub dag: String,
    /// Hyper-parameters.
    pub config: TrainConfig,
    /// Floating-point type used (`f32` / `f64`).
    pub precision: &'static str,
    /// Training examples.
    pub train_n: usize,
    /// Test examples (0 if none).
    pub test_n: usize,
    /// Records for epochs `0..=epochs`.
    pub records: Vec<EpochRecord>,
}

/// Progress notifications of [`train`].
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A gradient step finished.
    Step {
        /// Current epoch (1-based).
        epoch: usize,
        /// Step within the epoch (1-based).
        step: usize,
        /// Steps per epoch.
        steps: usize,
    },
    /// An epoch finished.
    Epoch(&'a EpochRecord),
}

/// Rows `idx` of `d` as a batch in `T`, with their labels.
pub(super) fn gather<T: Scalar>(d: &Dataset, idx: &[usize]) -> (Array2<T>, Vec<u8>) {
    let mut x = Array2::<T>::zeros((idx.len(), d.dim()));
    for (r, &i) in idx.iter().enumerate() {
        x.row_mut(r)
            .zip_mut_with(&d.x.row(i), |a, &b| *a = T::of_f32(b));
    }
    (x, idx.iter().map(|&i| d.y[i]).collect())
}

/// Mean loss and accuracy of `net` on `d` (forward only, chunks of 1024).
pub fn evaluate<T: Scalar>(
    net: &DagMlp<T>,
    d: &Dataset,
    loss: Loss,
) -> Result<(f64, f64), TrainError> {
    check_dataset(net, d)?;
    let mut total = 0.0;
    let mut correct = 0;
    let mut start = 0;
    while start < d.len() {
        let end = (start + 1024).min(d.len());
        let idx: Vec<usize> = (start..end).collect();
        let (x, y) = gather::<T>(d, &idx);
        let f = net.forward(x.view())?;
        let out = loss_and_grad(loss, f.logits.view(), &y);
        check_finite(out.loss, 0, 0)?;
        total += out.loss * (end - start) as f64;
        correct += out.correct;
        start = end;
    }
    Ok((total / d.len() as f64, correct as f64 / d.len() as f64))
}

fn check_dataset<T: Scalar>(net: &DagMlp<T>, d: &Dataset) -> Result<(), TrainError> {
    if d.is_empty() {
        return Err(TrainError::EmptyDataset);
    }
    if d.dim() != net.input_dim() {
        return Err(TrainError::InputDim {
            expected: net.input_dim(),
            got: d.dim(),
        });
    }
    if d.classes > net.classes() {
        return Err(TrainError::Config {
            what: "classes",
            value: d.classes.to_string(),
            why: format!(
                "the dataset has more classes than the network's {} outputs",
                net.classes()
            ),
        });
    }
    Ok(())
}

fn check_finite(loss: f64, epoch: usize, step: usize) -> Result<(), TrainError> {
    if loss.is_finite() {
        Ok(())
    } else {
        Err(TrainError::Diverged { epoch, step, loss })
    }
}

/// Trains a fresh [`DagMlp`] (seeded by `cfg.seed`) on `train`, evaluating on `test`
/// after every epoch, and returns the history. Shuffling uses a ChaCha8 stream derived
/// from `cfg.seed`, so a run is reproducible (GEMM summation order may still differ in
/// the last bits between thread counts). A non-finite loss stops the run with
/// [`TrainError::Diverged`].
///
/// The network is the authors' ([`DagMlp::new`]: ReLU stem, each linear edge's
/// [`crate::Edge::params`]); [`train_with_stem`] takes any stem.
pub fn train<T: Scalar>(
    dag: &Dag,
    train: &Dataset,
    test: Option<&Dataset>,
    cfg: &TrainConfig,
    on: &mut dyn FnMut(Event<'_>),
) -> Result<History, TrainError> {
    train_with_stem::<T>(dag, &LiftParams::relu_stem(), train, test, cfg, on)
}

/// Like [`train`] with the network's stem given ([`DagMlp::with_stem`]: any activation
/// and variances, or a dense lift); [`LiftParams::relu_stem`] is [`train`] itself.
///
/// ```
/// use archconv::{Dag, data::Dataset, activation::Activation};
/// use archconv::model::{EdgeParams, LiftParams};
/// use archconv::train::{train_with_stem, Loss, Optimizer, TrainConfig};
/// let p = EdgeParams::new(Activation::Relu, 2.0, 0.05).unwrap();
/// let dag = Dag::dag3().with_all_params(&p);
/// let stem = LiftParams::dense_with(1.0, 0.0).unwrap();
/// let data = Dataset::synthetic(64, 10, 3, 0);
/// let cfg = TrainConfig { width: 32, lr: 0.05, optimizer: Optimizer::FullBatch,
///                         loss: Loss::CrossEntropy, epochs: 5, seed: 1 };
/// let h = train_with_stem::<f64>(&dag, &stem, &data, None, &cfg, &mut |_| {}).unwrap();
/// assert!(h.records[5].train_loss < h.records[0].train_loss);
/// ```
pub fn train_with_stem<T: Scalar>(
    dag: &Dag,
    stem: &LiftParams,
    train: &Dataset,
    test: Option<&Dataset>,
    cfg: &TrainConfig,
    on: &mut dyn FnMut(Event<'_>),
) -> Result<History, TrainError> {
    cfg.validate(train.len())?;
    check_memory::<T>(dag, stem, train, test, cfg)?;
    let mut net =
        DagMlp::<T>::with_stem(dag, stem, train.dim(), cfg.width, train.classes, cfg.seed)?;
    let records = train_net(&mut net, train, test, cfg, on)?;
    Ok(History {
        dag: dag.describe(),
        config: cfg.clone(),
        precision: T::NAME,
        train_n: train.len(),
        test_n: test.map_or(0, Dataset::len),
        records,
    })
}

/// Estimates a training run's peak memory before the network is built and checks it
/// against the memory budget ([`crate::budget`]): weights, gradients and one more copy
/// (`3 x (d m + E m^2 + m c)` for `E` linear edges), plus forward and backward
/// activations of a batch at every node (`3 x batch x m x nodes`), the pre-activations
/// kept for layers whose activation is neither ReLU nor the identity (`batch x m` each)
/// and the logits.
fn check_memory<T: Scalar>(
    dag: &Dag,
    stem: &LiftParams,
    train: &Dataset,
    test: Option<&Dataset>,
    cfg: &TrainConfig,
) -> Result<(), TrainError> {
    let m = cfg.width as u64;
    let (d, c) = (train.dim() as u64, train.classes as u64);
    let edges = dag
        .edges()
        .iter()
        .filter(|e| e.op.is_parameterized())
        .count() as u64;
    let batch = match cfg.optimizer {
        Optimizer::Sgd { batch } => batch.min(train.len()),
        Optimizer::FullBatch => train.len(),
    }
    .max(test.map_or(0, Dataset::len).min(1 << 12)) as u64;
    let elem = std::mem::size_of::<T>() as u64;
    let params = d
        .checked_mul(m)
        .and_then(|a| a.checked_add(m.checked_mul(m)?.checked_mul(edges)?))
        .and_then(|a| a.checked_add(m.checked_mul(c)?));
    let keeps_pre = |a: &crate::activation::Activation| {
        !matches!(
            a,
            crate::activation::Activation::Relu | crate::activation::Activation::Identity
        )
    };
    let kept = dag
        .edges()
        .iter()
        .filter(|e| match e.role() {
            Role::Layer { params, .. } => keeps_pre(params.activation()),
            Role::Identity { .. } | Role::Absent => false,
        })
        .count()
        + usize::from(
            stem.stem_params()
                .is_some_and(|p| keeps_pre(p.activation())),
        );
    let acts = batch
        .checked_mul(m)
        .and_then(|a| {
            a.checked_mul(dag.num_nodes() as u64)?
                .checked_mul(3)?
                .checked_add(a.checked_mul(kept as u64)?)
        })
        .and_then(|a| a.checked_add(batch.checked_mul(c)?));
    let needed = params
        .and_then(|p| p.checked_mul(3))
        .and_then(|p| p.checked_add(acts?))
        .and_then(|b| b.checked_mul(elem));
    crate::budget::check(
        format!(
            "training width {} ({} linear edges, {} nodes, batch {batch}, {})",
            cfg.width,
            edges,
            dag.num_nodes(),
            T::NAME
        ),
        needed,
    )?;
    Ok(())
}

/// Like [`train`] on a given network (which is updated in place); returns the records.
pub fn train_net<T: Scalar>(
    net: &mut DagMlp<T>,
    train: &Dataset,
    test: Option<&Dataset>,
    cfg: &TrainConfig,
    on: &mut dyn FnMut(Event<'_>),
) -> Result<Vec<EpochRecord>, TrainError> {
    cfg.validate(train.len())?;
    if !(T::of(cfg.lr).f64() > 0.0 && T::of(cfg.lr).f64().is_finite()) {
        return Err(TrainError::Config {
            what: "learning rate",
            value: format!("{:e}", cfg.lr),
            why: format!(
                "it rounds to {} in {} (positive normal {} values lie in [{:e}, {:e}]); train in f64 or choose another rate",
                T::of(cfg.lr).f64(),
                T::NAME,
                T::NAME,
                T::min_positive_value().f64(),
                T::max_value().f64()
            ),
        });
    }
    check_dataset(net, train)?;
    if let Some(t) = test {
        check_dataset(net, t)?;
    }
    let eval_test = |net: &DagMlp<T>| -> Result<(Option<f64>, Option<f64>), TrainError> {
        match test {
            Some(t) => evaluate(net, t, cfg.loss).map(|(l, a)| (Some(l), Some(a))),
            None => Ok((None, None)),
        }
    };
    let (l0, a0) = evaluate(net, train, cfg.loss)?;
    let (tl, ta) = eval_test(net)?;
    let mut records = vec![EpochRecord {
        epoch: 0,
        train_loss: l0,
        train_acc: a0,
        test_loss: tl,
        test_acc: ta,
        steps: 0,
        seconds: 0.0,
    }];
    on(Event::Epoch(&records[0]));
    let n = train.len();
    let batch = match cfg.optimizer {
        Optimizer::Sgd { batch } => batch.min(n),
        Optimizer::FullBatch => n,
    };
    let steps = n.div_ceil(batch);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x5eed_5eed_5eed_5eed);
    let mut order: Vec<usize> = (0..n).collect();
    let mut total_steps = 0;
    for epoch in 1..=cfg.epochs {
        let t0 = Instant::now();
        if matches!(cfg.optimizer, Optimizer::Sgd { .. }) {
            order.shuffle(&mut rng);
        }
        let (mut loss_sum, mut correct) = (0.0, 0usize);
        for s in 0..steps {
            let idx = &order[s * batch..((s + 1) * batch).min(n)];
            let (x, y) = gather::<T>(train, idx);
            let f = net.forward(x.view())?;
            let out = loss_and_grad(cfg.loss, f.logits.view(), &y);
            check_finite(out.loss, epoch, s + 1)?;
            loss_sum += out.loss * idx.len() as f64;
            correct += out.correct;
            let g = net.backward(x.view(), &f, out.grad.view())?;
            drop(f);
            net.sgd_step(&g, cfg.lr);
            total_steps += 1;
            on(Event::Step {
                epoch,
                step: s + 1,
                steps,
            });
        }
        let seconds = t0.elapsed().as_secs_f64();
        let (tl, ta) = eval_test(net)?;
        records.push(EpochRecord {
            epoch,
            train_loss: loss_sum / n as f64,
            train_acc: correct as f64 / n as f64,
            test_loss: tl,
            test_acc: ta,
            steps: total_steps,
            seconds,
        });
        on(Event::Epoch(records.last().expect("just pushed")));
    }
    Ok(records)
}
