//! Fig. 4 in time rather than epochs (issue 14, study 4b).
//!
//! The authors trained their DAG-MLPs for 1000 epochs of SGD at lr `1e-5` (batch 128,
//! mean-reduced cross-entropy; PAPER.md section 5). For small steps SGD follows the
//! gradient flow `dtheta/dt = -grad L(theta)`, so a run is described by the time
//! `t = lr x steps` and not by the step count: the paper's budget is
//! `t = 1e-5 x 1000 epochs x 469 steps = 4.69` (MNIST, 60000 / 128 steps per epoch), which
//! a step of `1e-2` covers in 469 steps instead of 469,000. This module
//!
//! 1. **checks the collapse** on a ladder of learning rates `lr_0 < lr_1 < ...` (each a
//!    whole multiple of the previous): rung `r` trains the same networks (same seeds,
//!    same initial weights) at `lr_{r-1}` for `S` steps and at `lr_r` over the same
//!    time `T_r = S lr_{r-1}`, evaluates the full training set's loss at the common times
//!    `t_j = j lr_r`, and measures the gap `max_j |L_r(t_j) - L_{r-1}(t_j)|` (means over
//!    seeds) against the loss's own change `L_{r-1}(0) - L_{r-1}(T_r)`. A rung
//!    **collapses** when that ratio is at most [`Fig4TimeBudget::collapse_tol`]; the
//!    largest rate reached through collapsing rungs is `lr*`, and the first rung that
//!    does not collapse (or diverges) is where the collapse breaks;
//! 2. **draws Fig. 4 against `t`**: DAG#1-#3 trained at `lr*` to the paper's time
//!    (`seeds` runs, training accuracy and loss on the whole training subset at evenly
//!    spaced times), beside
//! 3. **the NTK's prediction**: the network's linearisation at initialisation trained by
//!    full-batch gradient descent with the same step in function space,
//!    `u_{k+1} = u_k - lr Theta_SP (softmax(u_k) - Y) / n`, started from each seed's own
//!    initial logits `u_0` and with the exact standard-parameterisation NTK `Theta_SP` of
//!    width `m` ([`crate::kernel::standard`]; SGD's minibatch gradient has the full-batch
//!    gradient as its mean). The paper's ordering (DAG#3 fastest, then DAG#2, then DAG#1)
//!    is checked on both, by the mean training accuracy over the run.

use super::fig4::mean_std;
use super::loss::{loss_and_grad, Loss};
use super::model::DagMlp;
use super::trainer::{evaluate, gather};
use super::TrainError;
use crate::data::{self, Dataset, Split};
use crate::kernel::{KernelFn, KernelKind, Lift};
use crate::Dag;
use ndarray::{Array2, ArrayView2};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Serialize;
use std::path::Path;

/// The paper's training time on MNIST: `1e-5 x 1000 epochs x 469 steps`.
pub const PAPER_TIME: f64 = 1e-5 * 1000.0 * 469.0;

/// Why the study could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Fig4TimeError {
    /// A data file is missing or corrupt.
    #[error(transparent)]
    Data(#[from] data::DataError),
    /// Training failed (other than by diverging, which is a result).
    #[error(transparent)]
    Train(#[from] TrainError),
    /// The NTK could not be computed.
    #[error(transparent)]
    Kernel(#[from] crate::kernel::KernelError),
    /// The budget is inconsistent.
    #[error("invalid budget: {0}")]
    Budget(String),
}

/// Sizes of the study.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fig4TimeBudget {
    /// Name (`quick`, `default`, `full`).
    pub name: String,
    /// MNIST training images (the first `train_n` of the training file).
    pub train_n: usize,
    /// Width `m` (the paper: 1024).
    pub width: usize,
    /// SGD batch (the paper: 128).
    pub batch: usize,
    /// Seeds of the collapse ladder.
    pub ladder_seeds: usize,
    /// Seeds of the Fig. 4 run (the paper: 3).
    pub seeds: usize,
    /// Learning rates of the ladder, increasing, each a whole multiple of the previous.
    pub ladder: Vec<f64>,
    /// Steps `S` of the smaller rate in each rung.
    pub rung_steps: usize,
    /// A rung collapses when its gap is at most this fraction of the loss's change.
    pub collapse_tol: f64,
    /// Time of the Fig. 4 run (the paper's: [`PAPER_TIME`]).
    pub time: f64,
    /// Evaluation times of the Fig. 4 run (evenly spaced, `0` included).
    pub checkpoints: usize,
}

impl Fig4TimeBudget {
    /// About 20 s on 2 cores: 256 images, width 256, ladder `1e-4, 1e-3, 1e-2, 1e-1` with
    /// 20 steps a rung, 2 seeds, to `t = 0.5`.
    pub fn quick() -> Fig4TimeBudget {
        Fig4TimeBudget {
            name: "quick".into(),
            train_n: 256,
            width: 256,
            batch: 128,
            ladder_seeds: 2,
            seeds: 2,
            ladder: vec![1e-4, 1e-3, 1e-2, 1e-1],
            rung_steps: 20,
            collapse_tol: 0.1,
            time: 0.5,
            checkpoints: 10,
        }
    }

    /// Half an hour or more on 2 cores: the paper's width 1024 and batch 128, 2,000 MNIST
    /// images, ladder `1e-5, 1e-4, 1e-3, 2e-3, 4e-3, 8e-3, 1.6e-2` with 60 steps a rung
    /// (2 seeds), and Fig. 4 with 3 seeds to the paper's `t = 4.69` (at width 1024 the
    /// collapse holds to about `2e-3`, so about 2,300 steps a run).
    pub fn default_budget() -> Fig4TimeBudget {
        Fig4TimeBudget {
            name: "default".into(),
            train_n: 2000,
            width: 1024,
            batch: 128,
            ladder_seeds: 2,
            seeds: 3,
            ladder: vec![1e-5, 1e-4, 1e-3, 2e-3, 4e-3, 8e-3, 1.6e-2],
            rung_steps: 60,
            collapse_tol: 0.1,
            time: PAPER_TIME,
            checkpoints: 24,
        }
    }

    /// 10,000 images, 100 steps a rung with 3 seeds, 48 checkpoints (an hour or more).
    pub fn full() -> Fig4TimeBudget {
        Fig4TimeBudget {
            name: "full".into(),
            train_n: 10_000,
            ladder_seeds: 3,
            rung_steps: 100,
            checkpoints: 48,
            ..Fig4TimeBudget::default_budget()
        }
    }

    fn validate(&self) -> Result<Vec<usize>, Fig4TimeError> {
        let bad = |s: String| Err(Fig4TimeError::Budget(s));
        if self.train_n == 0 || self.width == 0 || self.batch == 0 {
            return bad("train_n, width and batch must be positive".into());
        }
        if self.seeds == 0 || self.ladder_seeds == 0 || self.checkpoints == 0 {
            return bad("seeds, ladder_seeds and checkpoints must be positive".into());
        }
        if self.ladder.len() < 2 {
            return bad(format!(
                "the ladder needs at least two learning rates, got {:?}",
                self.ladder
            ));
        }
        if !(self.time.is_finite() && self.time > 0.0) {
            return bad(format!("time {} must be finite and positive", self.time));
        }
        let mut ratios = Vec::new();
        for w in self.ladder.windows(2) {
            let r = w[1] / w[0];
            let k = r.round();
            if !(w[0] > 0.0 && w[0].is_finite() && k >= 2.0 && (r - k).abs() < 1e-9 * k) {
                return bad(format!(
                    "ladder rates must be positive and each a whole multiple (>= 2) of the previous; {} then {}",
                    w[0], w[1]
                ));
            }
            if !self.rung_steps.is_multiple_of(k as usize) {
                return bad(format!(
                    "rung_steps {} is not a multiple of the rate ratio {k}",
                    self.rung_steps
                ));
            }
            ratios.push(k as usize);
        }
        Ok(ratios)
    }
}

/// One training run evaluated at chosen steps.
#[derive(Debug, Clone, Serialize)]
pub struct TimeRun {
    /// Learning rate.
    pub lr: f64,
    /// Seed (initial weights and shuffling).
    pub seed: u64,
    /// Steps at which the training set was evaluated.
    pub steps: Vec<usize>,
    /// Times `lr x steps`.
    pub t: Vec<f64>,
    /// Mean cross-entropy on the training subset.
    pub loss: Vec<f64>,
    /// Accuracy on the training subset.
    pub acc: Vec<f64>,
    /// The step at which the loss became non-finite, if it did (evaluation stops there).
    pub diverged_at: Option<usize>,
}

/// Trains [`DagMlp::new`] (seed `seed`, f32) on `train` by SGD (batch `batch`, reshuffled
/// each epoch, seeded) at `lr`, evaluating the whole training set at each of
/// `eval_steps` (increasing). A non-finite loss ends the run and is recorded.
pub fn run_in_time(
    dag: &Dag,
    train: &Dataset,
    width: usize,
    batch: usize,
    lr: f64,
    seed: u64,
    eval_steps: &[usize],
) -> Result<TimeRun, TrainError> {
    let mut net = DagMlp::<f32>::new(dag, train.dim(), width, train.classes, seed)?;
    let mut run = TimeRun {
        lr,
        seed,
        steps: vec![],
        t: vec![],
        loss: vec![],
        acc: vec![],
        diverged_at: None,
    };
    let n = train.len();
    let batch = batch.min(n);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_5eed_5eed_5eed);
    let mut order: Vec<usize> = (0..n).collect();
    let mut pos = n; // reshuffle before the first step
    let last = eval_steps.last().copied().unwrap_or(0);
    let mut next = 0;
    for step in 0..=last {
        if next < eval_steps.len() && eval_steps[next] == step {
            next += 1;
            let (l, a) = match evaluate(&net, train, Loss::CrossEntropy) {
                Ok(v) => v,
                Err(TrainError::Diverged { .. }) => {
                    run.diverged_at = Some(step);
                    return Ok(run);
                }
                Err(e) => return Err(e),
            };
            run.steps.push(step);
            run.t.push(lr * step as f64);
            run.loss.push(l);
            run.acc.push(a);
        }
        if step == last {
            break;
        }
        if pos + batch > n {
            order.shuffle(&mut rng);
            pos = 0;
        }
        let idx = &order[pos..pos + batch];
        pos += batch;
        let (x, y) = gather::<f32>(train, idx);
        let f = net.forward(x.view())?;
        let out = loss_and_grad(Loss::CrossEntropy, f.logits.view(), &y);
        if !out.loss.is_finite() {
            run.diverged_at = Some(step);
            return Ok(run);
        }
        let g = net.backward(x.view(), &f, out.grad.view())?;
        drop(f);
        net.sgd_step(&g, lr);
    }
    Ok(run)
}

/// The linearised network's training curve: full-batch gradient descent in function
/// space, `u_{k+1} = u_k - lr Theta (softmax(u_k) - Y) / n`, from `u0` (`n x C` logits),
/// recording mean cross-entropy and accuracy at each of `eval_steps` (increasing).
/// Returns `(loss, acc)`; a non-finite loss ends both early.
pub fn linearised_ce_curve(
    theta: &Array2<f64>,
    u0: ArrayView2<'_, f64>,
    labels: &[u8],
    lr: f64,
    eval_steps: &[usize],
) -> (Vec<f64>, Vec<f64>) {
    let mut u = u0.to_owned();
    let (mut loss, mut acc) = (vec![], vec![]);
    let last = eval_steps.last().copied().unwrap_or(0);
    let mut next = 0;
    for step in 0..=last {
        let out = loss_and_grad(Loss::CrossEntropy, u.view(), labels);
        if !out.loss.is_finite() {
            break;
        }
        if next < eval_steps.len() && eval_steps[next] == step {
            next += 1;
            loss.push(out.loss);
            acc.push(out.correct as f64 / labels.len() as f64);
        }
        if step == last {
            break;
        }
        // out.grad = (softmax(u) - Y) / n.
        let du = theta.dot(&out.grad);
        u.scaled_add(-lr, &du);
    }
    (loss, acc)
}

/// One rung of the collapse ladder.
#[derive(Debug, Clone, Serialize)]
pub struct Rung {
    /// The smaller rate.
    pub lr_small: f64,
    /// The larger rate.
    pub lr_large: f64,
    /// Horizon `T = rung_steps x lr_small`.
    pub horizon: f64,
    /// Common times `j lr_large`.
    pub t: Vec<f64>,
    /// Per DAG: (name, mean loss at `lr_small`, mean loss at `lr_large`), over seeds.
    pub curves: Vec<(String, Vec<f64>, Vec<f64>)>,
    /// Per DAG: `max_j |L_large - L_small| / (L_small(0) - L_small(T))`.
    pub gaps: Vec<(String, f64)>,
    /// The largest of `gaps` (infinite if a run diverged).
    pub worst_gap: f64,
    /// Whether any run at `lr_large` diverged.
    pub diverged: bool,
    /// `worst_gap <= collapse_tol` and nothing diverged.
    pub collapses: bool,
}

/// Fig. 4 of one DAG against time.
#[derive(Debug, Clone, Serialize)]
pub struct TimeCurves {
    /// `DAG#1` .. `DAG#3`.
    pub dag: String,
    /// Times.
    pub t: Vec<f64>,
    /// Training accuracy, mean and std over seeds.
    pub acc_mean: Vec<f64>,
    /// Its standard deviation.
    pub acc_std: Vec<f64>,
    /// Training loss, mean over seeds.
    pub loss_mean: Vec<f64>,
    /// Its standard deviation.
    pub loss_std: Vec<f64>,
    /// NTK-predicted accuracy (mean over seeds' initial logits).
    pub pred_acc_mean: Vec<f64>,
    /// Its standard deviation.
    pub pred_acc_std: Vec<f64>,
    /// NTK-predicted loss, mean over seeds.
    pub pred_loss_mean: Vec<f64>,
    /// Mean over the run (times after 0) of `acc_mean`: the ordering's score.
    pub acc_area: f64,
    /// The same of `pred_acc_mean`.
    pub pred_acc_area: f64,
    /// Largest `|acc_mean - pred_acc_mean|`.
    pub max_acc_gap: f64,
    /// Every run.
    pub runs: Vec<TimeRun>,
}

/// The study's result.
#[derive(Debug, Clone, Serialize)]
pub struct Fig4TimeStudy {
    /// The budget.
    pub budget: Fig4TimeBudget,
    /// Data files and subset.
    pub source: String,
    /// The ladder.
    pub rungs: Vec<Rung>,
    /// The largest rate reached through collapsing rungs.
    pub lr_star: f64,
    /// The rate of the first rung that does not collapse (`None`: all collapse).
    pub breaks_at: Option<f64>,
    /// Steps of the Fig. 4 run (`time / lr*`, rounded).
    pub steps: usize,
    /// Per DAG.
    pub dags: Vec<TimeCurves>,
    /// DAG names by measured `acc_area`, slowest first.
    pub ordering: Vec<String>,
    /// DAG names by predicted `pred_acc_area`, slowest first.
    pub predicted_ordering: Vec<String>,
    /// Whether the measured ordering is the paper's (DAG#1 < DAG#2 < DAG#3).
    pub paper_ordering_holds: bool,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// MNIST's first `n` training images, normalised as the authors do.
pub fn mnist_train(dir: &Path, n: usize) -> Result<Dataset, data::DataError> {
    let mut tr = data::load_mnist(dir, Split::Train)?.head(n);
    let (m, s) = data::MNIST_NORMALIZE;
    tr.standardize(&m, &s);
    Ok(tr)
}

fn order_of(scores: &[(String, f64)]) -> Vec<String> {
    let mut v = scores.to_vec();
    v.sort_by(|a, b| a.1.total_cmp(&b.1));
    v.into_iter().map(|(n, _)| n).collect()
}

/// Runs the study on `train` (any dataset; [`fig4_time`] loads MNIST).
pub fn fig4_time_on(
    train: &Dataset,
    budget: &Fig4TimeBudget,
    progress: &mut dyn FnMut(&str),
) -> Result<Fig4TimeStudy, Fig4TimeError> {
    let ratios = budget.validate()?;
    let t0 = std::time::Instant::now();
    let dags = Dag::paper_dags();
    let s = budget.rung_steps;
    // Ladder runs: rate r runs S steps (it is the smaller rate of rung r + 1; the last
    // rate runs S / ratio), evaluated every step of its own rung as the larger rate
    // (steps 0..=S/ratio) and every `ratio`-th step as the smaller rate.
    let nl = budget.ladder.len();
    let mut ladder_runs: Vec<Vec<Vec<TimeRun>>> = vec![]; // [rate][dag][seed]
    for (r, &lr) in budget.ladder.iter().enumerate() {
        let mut evals: Vec<usize> = vec![];
        if r > 0 {
            evals.extend(0..=s / ratios[r - 1]);
        }
        if r + 1 < nl {
            evals.extend((0..=s).step_by(ratios[r]));
        }
        evals.sort_unstable();
        evals.dedup();
        let mut per_dag = vec![];
        for (name, dag) in &dags {
            let mut runs = vec![];
            for seed in 0..budget.ladder_seeds as u64 {
                let run = run_in_time(dag, train, budget.width, budget.batch, lr, seed, &evals)?;
                progress(&format!(
                    "  ladder lr {lr:e} {name} seed {seed}: loss {:.4} -> {:.4}{}",
                    run.loss.first().copied().unwrap_or(f64::NAN),
                    run.loss.last().copied().unwrap_or(f64::NAN),
                    run.diverged_at
                        .map_or(String::new(), |k| format!(" (diverged at step {k})"))
                ));
                runs.push(run);
            }
            per_dag.push(runs);
        }
        ladder_runs.push(per_dag);
    }
    let at = |run: &TimeRun, step: usize| -> Option<f64> {
        run.steps
            .iter()
            .position(|&k| k == step)
            .map(|i| run.loss[i])
    };
    let mut rungs = vec![];
    for r in 1..nl {
        let ratio = ratios[r - 1];
        let (small, large) = (budget.ladder[r - 1], budget.ladder[r]);
        let points = s / ratio;
        let t: Vec<f64> = (0..=points).map(|j| j as f64 * large).collect();
        let mut curves = vec![];
        let mut gaps = vec![];
        let mut diverged = false;
        for (di, (name, _)) in dags.iter().enumerate() {
            let mean_at = |runs: &[TimeRun], step_of: &dyn Fn(usize) -> usize| -> Vec<f64> {
                (0..=points)
                    .map(|j| {
                        let v: Vec<f64> = runs.iter().filter_map(|x| at(x, step_of(j))).collect();
                        if v.len() == runs.len() {
                            mean_std(&v).0
                        } else {
                            f64::NAN
                        }
                    })
                    .collect()
            };
            let ls = mean_at(&ladder_runs[r - 1][di], &|j| j * ratio);
            let ll = mean_at(&ladder_runs[r][di], &|j| j);
            let d = ladder_runs[r][di].iter().any(|x| x.diverged_at.is_some())
                || ll.iter().any(|v| !v.is_finite());
            diverged |= d;
            let change = (ls[0] - ls[points]).abs();
            let gap = if d {
                f64::INFINITY
            } else {
                ls.iter()
                    .zip(&ll)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f64::max)
                    / change.max(f64::MIN_POSITIVE)
            };
            gaps.push((name.to_string(), gap));
            curves.push((name.to_string(), ls, ll));
        }
        let worst_gap = gaps.iter().map(|g| g.1).fold(0.0, f64::max);
        rungs.push(Rung {
            lr_small: small,
            lr_large: large,
            horizon: s as f64 * small,
            t,
            curves,
            gaps,
            worst_gap,
            diverged,
            collapses: !diverged && worst_gap <= budget.collapse_tol,
        });
    }
    let first_break = rungs.iter().position(|r| !r.collapses);
    let lr_star = match first_break {
        Some(i) => rungs[i].lr_small,
        None => *budget.ladder.last().expect("validated"),
    };
    let breaks_at = first_break.map(|i| rungs[i].lr_large);
    progress(&format!(
        "  collapse holds up to lr {lr_star:e}{}",
        breaks_at.map_or(" (the whole ladder)".into(), |b| format!(
            "; breaks at {b:e}"
        ))
    ));
    // Fig. 4 at lr*.
    let steps = (budget.time / lr_star).round().max(1.0) as usize;
    let mut evals: Vec<usize> = (0..=budget.checkpoints)
        .map(|j| (j * steps).div_ceil(budget.checkpoints))
        .collect();
    evals.dedup();
    let x64 = train.x_f64();
    let mut out = vec![];
    for (name, dag) in &dags {
        let theta = KernelFn::new(dag, Lift::ReluStem, KernelKind::Exact)
            .unnormalized()
            .ntk_standard(x64.view(), budget.width)?;
        let mut runs = vec![];
        let mut preds = vec![];
        for seed in 0..budget.seeds as u64 {
            let net = DagMlp::<f64>::new(dag, train.dim(), budget.width, train.classes, seed)?;
            let u0 = net.logits(x64.view());
            preds.push(linearised_ce_curve(
                &theta,
                u0.view(),
                &train.y,
                lr_star,
                &evals,
            ));
            let run = run_in_time(
                dag,
                train,
                budget.width,
                budget.batch,
                lr_star,
                seed,
                &evals,
            )?;
            progress(&format!(
                "  fig4 t = {} at lr {lr_star:e} ({steps} steps) {name} seed {seed}: acc {:.4} -> {:.4} (predicted {:.4})",
                budget.time,
                run.acc.first().copied().unwrap_or(f64::NAN),
                run.acc.last().copied().unwrap_or(f64::NAN),
                preds.last().and_then(|p| p.1.last().copied()).unwrap_or(f64::NAN),
            ));
            runs.push(run);
        }
        let len = evals.len();
        let stat = |get: &dyn Fn(usize, usize) -> Option<f64>, count: usize| {
            let (mut m, mut sd) = (vec![], vec![]);
            for k in 0..len {
                let v: Vec<f64> = (0..count).filter_map(|i| get(i, k)).collect();
                let (a, b) = if v.len() == count {
                    mean_std(&v)
                } else {
                    (f64::NAN, f64::NAN)
                };
                m.push(a);
                sd.push(b);
            }
            (m, sd)
        };
        let (acc_mean, acc_std) = stat(&|i, k| runs[i].acc.get(k).copied(), runs.len());
        let (loss_mean, loss_std) = stat(&|i, k| runs[i].loss.get(k).copied(), runs.len());
        let (pred_acc_mean, pred_acc_std) = stat(&|i, k| preds[i].1.get(k).copied(), preds.len());
        let (pred_loss_mean, _) = stat(&|i, k| preds[i].0.get(k).copied(), preds.len());
        let area = |v: &[f64]| v[1..].iter().sum::<f64>() / (v.len() - 1).max(1) as f64;
        let max_acc_gap = acc_mean
            .iter()
            .zip(&pred_acc_mean)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        out.push(TimeCurves {
            dag: name.to_string(),
            t: evals.iter().map(|&k| k as f64 * lr_star).collect(),
            acc_area: area(&acc_mean),
            pred_acc_area: area(&pred_acc_mean),
            acc_mean,
            acc_std,
            loss_mean,
            loss_std,
            pred_acc_mean,
            pred_acc_std,
            pred_loss_mean,
            max_acc_gap,
            runs,
        });
    }
    let ordering = order_of(
        &out.iter()
            .map(|c| (c.dag.clone(), c.acc_area))
            .collect::<Vec<_>>(),
    );
    let predicted_ordering = order_of(
        &out.iter()
            .map(|c| (c.dag.clone(), c.pred_acc_area))
            .collect::<Vec<_>>(),
    );
    let paper_ordering_holds = ordering == ["DAG#1", "DAG#2", "DAG#3"];
    Ok(Fig4TimeStudy {
        budget: budget.clone(),
        source: train.source.clone(),
        rungs,
        lr_star,
        breaks_at,
        steps,
        dags: out,
        ordering,
        predicted_ordering,
        paper_ordering_holds,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// The study on MNIST from `dir` (the first `budget.train_n` training images).
pub fn fig4_time(
    dir: &Path,
    budget: &Fig4TimeBudget,
    progress: &mut dyn FnMut(&str),
) -> Result<Fig4TimeStudy, Fig4TimeError> {
    let train = mnist_train(dir, budget.train_n)?;
    fig4_time_on(&train, budget, progress)
}
