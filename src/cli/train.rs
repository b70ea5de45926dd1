//! `archconv train`: train a DAG-MLP on MNIST / CIFAR-10 / digits / synthetic data over
//! several seeds, or run the Fig. 4 and rate-test studies.

use super::CliResult;
use archconv::activation::Activation;
use archconv::data::{self, Dataset};
use archconv::model::LiftParams;
use archconv::train::fig4::{curve, Fig4Budget};
use archconv::train::rate::RateBudget;
use archconv::train::{train_with_stem, Event, History, Loss, Optimizer, TrainConfig};
use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LossArg {
    Ce,
    Mse,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Fig4Arg {
    Quick,
    Default,
    Paper,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum RateArg {
    Quick,
    Default,
    Full,
}

#[derive(clap::Args)]
pub struct Args {
    /// The DAG (MLP code such as 2_02_002, or any format `analyze` accepts; @FILE reads
    /// it from a file).
    #[arg(long, default_value = "2_02_002")]
    dag: String,
    /// Activation and variances of every linear edge without its own (initialisation
    /// W ~ N(0, sw2 / fan_in), b ~ N(0, sb2)).
    #[command(flatten)]
    network: super::network::NetworkArgs,
    /// Activation of the stem Linear(d, m) + phi: relu (the authors'), identity (a dense
    /// lift), erf, gelu, tanh, ... (default relu).
    #[arg(long)]
    stem_activation: Option<String>,
    /// Weight variance of the stem: W0 ~ N(0, sw2 / d) (default 2, Kaiming).
    #[arg(long, allow_negative_numbers = true)]
    lift_sw2: Option<f64>,
    /// Bias variance of the stem: b0 ~ N(0, sb2) (default 0, zero biases).
    #[arg(long, allow_negative_numbers = true)]
    lift_sb2: Option<f64>,
    /// Dataset, data directory and subset sizes.
    #[command(flatten)]
    set: super::dataset::DatasetArgs,
    /// Width m.
    #[arg(long, default_value_t = 1024)]
    width: usize,
    /// Fixed learning rate.
    #[arg(long, default_value_t = 1e-5)]
    lr: f64,
    /// SGD batch size; 0 means full-batch gradient descent.
    #[arg(long, default_value_t = 128)]
    batch: usize,
    /// Epochs.
    #[arg(long, default_value_t = 5)]
    epochs: usize,
    /// Number of seeds (0, 1, ...).
    #[arg(long, default_value_t = 3)]
    seeds: usize,
    /// Loss.
    #[arg(long, value_enum, default_value_t = LossArg::Ce)]
    loss: LossArg,
    /// The paper's Fig. 4 setting: width 1024, SGD batch 128, lr 1e-5, cross-entropy
    /// (overrides --width, --batch, --lr, --loss).
    #[arg(long)]
    paper: bool,
    /// Train in f64 instead of f32.
    #[arg(long)]
    f64: bool,
    /// Run the Fig. 4 study (DAG#1/#2/#3 x seeds on MNIST and CIFAR-10) at this budget
    /// and print its report section instead of a single training run.
    #[arg(long, value_enum, conflicts_with = "rate")]
    fig4: Option<Fig4Arg>,
    /// Run the convergence-rate test at this budget and print its report section.
    #[arg(long, value_enum)]
    rate: Option<RateArg>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

impl Args {
    /// Whether any edge or stem setting was given.
    fn network_is_set(&self) -> bool {
        self.network.is_set()
            || self.stem_activation.is_some()
            || self.lift_sw2.is_some()
            || self.lift_sb2.is_some()
    }

    /// The stem these flags describe (`--stem-activation`, `--lift-sw2`, `--lift-sb2`).
    fn stem(&self) -> Result<LiftParams, Box<dyn std::error::Error>> {
        let act = match &self.stem_activation {
            Some(a) => Activation::parse(a).map_err(|e| format!("--stem-activation: {e}"))?,
            None => Activation::Relu,
        };
        Ok(LiftParams::stem(
            act,
            self.lift_sw2.unwrap_or(2.0),
            self.lift_sb2.unwrap_or(0.0),
        )
        .map_err(|e| format!("--lift-sw2/--lift-sb2: {e}"))?)
    }
}

pub fn run(mut a: Args) -> CliResult {
    let dir = data::data_dir(a.set.data.as_deref());
    if (a.fig4.is_some() || a.rate.is_some()) && a.network_is_set() {
        return Err(
            "--activation, --sw2, --sb2, --stem-activation, --lift-sw2 and --lift-sb2 \
                    apply to single training runs; --fig4 and --rate use the paper's ReLU network"
                .into(),
        );
    }
    if let Some(b) = a.fig4 {
        let budget = match b {
            Fig4Arg::Quick => Fig4Budget::quick(),
            Fig4Arg::Default => Fig4Budget::default_budget(),
            Fig4Arg::Paper => Fig4Budget::paper(),
        };
        let out = archconv::report::fig4::fig4_section(dir.as_deref(), &budget, &mut |m| {
            eprintln!("{m}")
        })?;
        return print_section(out, a.json);
    }
    if let Some(b) = a.rate {
        let budget = match b {
            RateArg::Quick => RateBudget::quick(),
            RateArg::Default => RateBudget::default_budget(),
            RateArg::Full => RateBudget::full(),
        };
        let out = archconv::report::rate::rate_section(dir.as_deref(), &budget, &mut |m| {
            eprintln!("{m}")
        })?;
        return print_section(out, a.json);
    }
    if a.paper {
        let p = TrainConfig::paper(a.epochs, 0);
        a.width = p.width;
        a.lr = p.lr;
        a.batch = 128;
        a.loss = LossArg::Ce;
    }
    if a.seeds == 0 {
        return Err(
            "--seeds must be at least 1 (0 would train nothing and print an empty table)".into(),
        );
    }
    // One record per epoch and seed is kept for the curves.
    archconv::budget::check(
        format!(
            "{} seeds x {} epochs of training records",
            a.seeds, a.epochs
        ),
        archconv::budget::bytes(a.seeds, 96).and_then(|b| b.checked_mul(a.epochs as u64 + 1)),
    )?;
    let dag = a.network.apply(super::read_dag(&a.dag)?)?;
    let stem = a.stem()?;
    let (tr, te) = a.set.load()?;
    let optimizer = if a.batch == 0 {
        Optimizer::FullBatch
    } else {
        Optimizer::Sgd { batch: a.batch }
    };
    let loss = match a.loss {
        LossArg::Ce => Loss::CrossEntropy,
        LossArg::Mse => Loss::Mse,
    };
    if a.network_is_set() {
        eprintln!(
            "edges {}, {stem}",
            if a.network.is_set() {
                a.network.params()?.to_string()
            } else {
                "as given by the DAG".to_string()
            }
        );
    }
    eprintln!(
        "training {} on {} ({} train, {} test), width {}, lr {:e}, {:?}, {} epochs x {} seeds, {}",
        dag.describe(),
        tr.source,
        tr.len(),
        te.as_ref().map_or(0, Dataset::len),
        a.width,
        a.lr,
        optimizer,
        a.epochs,
        a.seeds,
        if a.f64 { "f64" } else { "f32" }
    );
    let steps = match optimizer {
        Optimizer::Sgd { batch } => tr.len().div_ceil(batch.min(tr.len()).max(1)),
        Optimizer::FullBatch => 1,
    };
    let style = ProgressStyle::with_template(
        "{prefix} [{bar:30}] {pos}/{len} steps {elapsed_precise} eta {eta} {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    let mut runs: Vec<History> = Vec::new();
    let start = std::time::Instant::now();
    for seed in 0..a.seeds as u64 {
        let cfg = TrainConfig {
            width: a.width,
            lr: a.lr,
            optimizer,
            loss,
            epochs: a.epochs,
            seed,
        };
        let bar = ProgressBar::new((steps * a.epochs) as u64)
            .with_style(style.clone())
            .with_prefix(format!("seed {seed}"));
        let mut on = |e: Event<'_>| match e {
            Event::Step { .. } => bar.inc(1),
            Event::Epoch(r) => bar.set_message(format!(
                "epoch {} train acc {:.4} loss {:.4}{}",
                r.epoch,
                r.train_acc,
                r.train_loss,
                r.test_acc
                    .map_or(String::new(), |t| format!(" test acc {t:.4}"))
            )),
        };
        let h = if a.f64 {
            train_with_stem::<f64>(&dag, &stem, &tr, te.as_ref(), &cfg, &mut on)?
        } else {
            train_with_stem::<f32>(&dag, &stem, &tr, te.as_ref(), &cfg, &mut on)?
        };
        bar.finish();
        runs.push(h);
    }
    let secs = start.elapsed().as_secs_f64();
    let code = dag.describe();
    let curves = [
        curve(&code, &code, "train_acc", &runs, |r| Some(r.train_acc)),
        curve(&code, &code, "train_loss", &runs, |r| Some(r.train_loss)),
        curve(&code, &code, "test_acc", &runs, |r| r.test_acc),
        curve(&code, &code, "test_loss", &runs, |r| r.test_loss),
    ];
    let samples = (tr.len() * a.epochs * a.seeds) as f64;
    eprintln!(
        "{:.0} training samples/s overall ({:.1} s)",
        samples / secs,
        secs
    );
    if a.json {
        let v = serde_json::json!({"dag": code, "data": tr.source, "curves": curves, "runs": runs, "seconds": secs});
        super::emit(&(serde_json::to_string_pretty(&v)? + "\n"));
    } else {
        // One seed has no spread: show n/a, not a standard deviation of 0.
        let pm = |mean: f64, std: f64| {
            if a.seeds < 2 {
                format!("{mean:.4} ± n/a   ")
            } else {
                format!("{mean:.4} ± {std:.4}")
            }
        };
        let mut s = format!(
            "{code}: mean ± std over {} seed{}\nepoch  train_acc          train_loss         test_acc\n",
            a.seeds,
            if a.seeds == 1 { " (std n/a)" } else { "s" }
        );
        for (k, e) in curves[0].epochs.iter().enumerate() {
            s.push_str(&format!(
                "{e:>5}  {}    {}    {}\n",
                pm(curves[0].mean[k], curves[0].std[k]),
                pm(curves[1].mean[k], curves[1].std[k]),
                if curves[2].mean[k].is_nan() {
                    "-".to_string()
                } else {
                    pm(curves[2].mean[k], curves[2].std[k])
                }
            ));
        }
        super::emit(&s);
    }
    Ok(())
}

fn print_section(out: archconv::report::SectionOutcome, json: bool) -> CliResult {
    for s in &out.skipped {
        eprintln!("skipped: {s}");
    }
    if let Some(sec) = out.section {
        if json {
            super::emit(&(serde_json::to_string_pretty(&sec.data)? + "\n"));
        } else {
            super::emit(&format!("## {}\n\n{}\n", sec.title, sec.markdown));
        }
    }
    Ok(())
}
