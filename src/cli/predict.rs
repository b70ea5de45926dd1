//! `archconv predict`: infinite-width predictions of one DAG network on a labelled
//! dataset: the NNGP posterior and the NTK's mean prediction along gradient flow or
//! gradient descent, with one-hot MSE targets.

use super::inputs::{LiftArg, RuleArg};
use super::CliResult;
use archconv::data::Dataset;
use archconv::kernel::ntk::NtkVariant;
use archconv::kernel::{KernelFn, KernelKind};
use archconv::model::LiftParams;
use archconv::predict::{nngp_posterior, NtkDynamics, Time};
use ndarray::Array2;
use serde::Serialize;

#[derive(clap::Args)]
pub struct Args {
    /// The DAG (any format `analyze` accepts; @FILE reads it from a file).
    dag: String,
    #[command(flatten)]
    network: super::network::NetworkArgs,
    #[command(flatten)]
    set: super::dataset::DatasetArgs,
    /// Kernel rule (path-sum gives the NNGP only).
    #[arg(long, value_enum, default_value_t = RuleArg::Exact)]
    rule: RuleArg,
    /// Input lift.
    #[arg(long, value_enum, default_value_t = LiftArg::Dense)]
    lift: LiftArg,
    /// Observation noise variance of the NNGP posterior.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    noise: f64,
    /// Gradient-flow times t at which to read the NTK prediction (comma-separated;
    /// default: 0 and 1, 10, ..., 10^5 over lambda_max).
    #[arg(
        long,
        value_delimiter = ',',
        allow_negative_numbers = true,
        conflicts_with = "lr"
    )]
    times: Option<Vec<f64>>,
    /// Gradient descent instead of flow: the learning rate (see max_stable_lr).
    #[arg(long, allow_negative_numbers = true)]
    lr: Option<f64>,
    /// With --lr: the step counts at which to read the prediction.
    #[arg(long, value_delimiter = ',', default_value = "0,1,10,100,1000,10000")]
    steps: Vec<u64>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Scores {
    /// Fraction of test points whose largest output is their class.
    test_accuracy: f64,
    /// Mean over test points of `||f(x) - y||^2`.
    test_mse: f64,
}

#[derive(Serialize)]
struct NngpPart {
    noise: f64,
    jitter: f64,
    mean_variance: f64,
    #[serde(flatten)]
    scores: Scores,
}

#[derive(Serialize)]
struct Point {
    /// Gradient-flow time (flow) or `lr x steps` (descent).
    time: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    steps: Option<u64>,
    train_loss: f64,
    #[serde(flatten)]
    scores: Scores,
}

#[derive(Serialize)]
struct NtkPart {
    lambda_min: f64,
    lambda_max: f64,
    max_stable_lr: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    lr: Option<f64>,
    curve: Vec<Point>,
    converged: Scores,
}

#[derive(Serialize)]
struct Report {
    dag: String,
    rule: &'static str,
    lift: String,
    data: String,
    n_train: usize,
    n_test: usize,
    classes: usize,
    nngp: NngpPart,
    #[serde(skip_serializing_if = "Option::is_none")]
    ntk: Option<NtkPart>,
}

fn one_hot(d: &Dataset) -> Array2<f64> {
    archconv::predict::one_hot(&d.y, d.classes)
}

fn scores(f: &Array2<f64>, d: &Dataset) -> Scores {
    let y = one_hot(d);
    let n = d.len().max(1) as f64;
    Scores {
        test_accuracy: archconv::predict::accuracy(f, &d.y).unwrap_or(0.0),
        test_mse: (f - &y).iter().map(|v| v * v).sum::<f64>() / n,
    }
}

pub fn run(a: Args) -> CliResult {
    let dag = a.network.apply(super::read_dag(&a.dag)?)?;
    let (train, test) = a.set.load()?;
    let test = test.ok_or("predict needs a test set (drop --test-n 0)")?;
    let lift: LiftParams = archconv::kernel::Lift::from(a.lift).into();
    let kind = KernelKind::from(a.rule);
    let kf = KernelFn::new(&dag, lift.clone(), kind);
    let (x, xt) = (train.x_f64(), test.x_f64());
    let y = one_hot(&train);
    // NNGP posterior.
    let k = kf.nngp(x.view(), None)?;
    let k_test = kf.nngp(xt.view(), Some(x.view()))?;
    let k_diag = kf.nngp_diag(xt.view())?;
    let post = nngp_posterior(&k, &y, &k_test, Some(&k_diag), a.noise)?;
    let var = post.variance.as_ref().expect("diagonal given");
    let nngp = NngpPart {
        noise: a.noise,
        jitter: post.jitter,
        mean_variance: var.sum() / var.len().max(1) as f64,
        scores: scores(&post.mean, &test),
    };
    // NTK dynamics (not for the path-sum rule).
    let ntk = match kind {
        KernelKind::PathSum => None,
        KernelKind::Exact | KernelKind::IndependentBranch => {
            let theta = kf.ntk(x.view(), None, NtkVariant::Full)?;
            let theta_test = kf.ntk(xt.view(), Some(x.view()), NtkVariant::Full)?;
            let dy = NtkDynamics::new(&theta, &y)?;
            let lmax = dy.lambda_max();
            let times: Vec<(Time, f64, Option<u64>)> = match (a.lr, &a.times) {
                (Some(lr), _) => a
                    .steps
                    .iter()
                    .map(|&k| (Time::Steps { lr, steps: k }, lr * k as f64, Some(k)))
                    .collect(),
                (None, Some(ts)) => ts.iter().map(|&t| (Time::Flow(t), t, None)).collect(),
                (None, None) => std::iter::once(0.0)
                    .chain((0..6).map(|e| 10f64.powi(e) / lmax))
                    .map(|t| (Time::Flow(t), t, None))
                    .collect(),
            };
            let mut curve = Vec::new();
            for (time, t, steps) in times {
                let f = dy.test_mean(&theta_test, time)?;
                curve.push(Point {
                    time: t,
                    steps,
                    train_loss: dy.train_loss(time)?,
                    scores: scores(&f, &test),
                });
            }
            let conv = dy.test_mean(&theta_test, Time::Converged)?;
            Some(NtkPart {
                lambda_min: dy
                    .eigenvalues()
                    .iter()
                    .fold(f64::INFINITY, |m, &v| m.min(v)),
                lambda_max: lmax,
                max_stable_lr: dy.max_stable_lr(),
                lr: a.lr,
                curve,
                converged: scores(&conv, &test),
            })
        }
    };
    let report = Report {
        dag: a.dag.clone(),
        rule: kind.name(),
        lift: lift.to_string(),
        data: format!("{} / {}", train.source, test.source),
        n_train: train.len(),
        n_test: test.len(),
        classes: train.classes,
        nngp,
        ntk,
    };
    if a.json {
        super::emit(&(serde_json::to_string_pretty(&report)? + "\n"));
    } else {
        super::emit(&text(&report));
    }
    Ok(())
}

fn text(r: &Report) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "DAG {} ({} rule, {} lift)", r.dag, r.rule, r.lift);
    let _ = writeln!(
        s,
        "data: {} ({} train, {} test, {} classes; one-hot MSE targets)",
        r.data, r.n_train, r.n_test, r.classes
    );
    let _ = writeln!(
        s,
        "NNGP posterior (noise {}, jitter {:e}): test accuracy {:.4}, test MSE {:.4}, mean variance {:.4e}",
        r.nngp.noise, r.nngp.jitter, r.nngp.scores.test_accuracy, r.nngp.scores.test_mse, r.nngp.mean_variance
    );
    if let Some(n) = &r.ntk {
        let _ = writeln!(
            s,
            "NTK: lambda_min {:.4e}, lambda_max {:.4e}, largest stable learning rate 2/lambda_max = {:.4e}{}",
            n.lambda_min,
            n.lambda_max,
            n.max_stable_lr,
            n.lr.map_or(String::new(), |lr| format!("; gradient descent at lr {lr:e}"))
        );
        let _ = writeln!(
            s,
            "  {:>12} {:>8} {:>12} {:>9} {:>9}",
            "t", "steps", "train loss", "test acc", "test MSE"
        );
        for p in &n.curve {
            let _ = writeln!(
                s,
                "  {:>12.4e} {:>8} {:>12.4e} {:>9.4} {:>9.4}",
                p.time,
                p.steps.map_or("-".to_string(), |k| k.to_string()),
                p.train_loss,
                p.scores.test_accuracy,
                p.scores.test_mse
            );
        }
        let _ = writeln!(
            s,
            "  {:>12} {:>8} {:>12} {:>9.4} {:>9.4}",
            "infinity", "-", "0", n.converged.test_accuracy, n.converged.test_mse
        );
    }
    s
}
