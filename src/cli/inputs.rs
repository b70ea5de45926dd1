//! Input selection shared by subcommands: seeded Gaussian, CSV or MNIST IDX.

use archconv::activation::Activation;
use archconv::data;
use archconv::kernel::{Inputs, Lift};
use archconv::model::LiftParams;
use clap::ValueEnum;
use ndarray::Array2;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LiftArg {
    /// K0 = X X^T / d (the paper's theory).
    Dense,
    /// The authors' MLP stem Linear + ReLU.
    ReluStem,
}

impl From<LiftArg> for Lift {
    fn from(l: LiftArg) -> Lift {
        match l {
            LiftArg::Dense => Lift::Dense,
            LiftArg::ReluStem => Lift::ReluStem,
        }
    }
}

/// A kernel rule on the command line (`predict`, `kernel`).
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RuleArg {
    Exact,
    IndependentBranch,
    PathSum,
}

impl From<RuleArg> for archconv::kernel::KernelKind {
    fn from(r: RuleArg) -> archconv::kernel::KernelKind {
        use archconv::kernel::KernelKind;
        match r {
            RuleArg::Exact => KernelKind::Exact,
            RuleArg::IndependentBranch => KernelKind::IndependentBranch,
            RuleArg::PathSum => KernelKind::PathSum,
        }
    }
}

#[derive(clap::Args, Debug, Clone)]
pub struct InputArgs {
    /// Number of input points N.
    #[arg(long, short = 'n', default_value_t = 64)]
    pub points: usize,
    /// Dimension of the seeded Gaussian inputs.
    #[arg(long, default_value_t = 32)]
    pub dim: usize,
    /// Seed of the Gaussian inputs.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Read the points from a numeric CSV file (one point per row) instead.
    #[arg(long, conflicts_with = "mnist")]
    pub csv: Option<PathBuf>,
    /// Read the points from an MNIST IDX image file (plain or .gz); the first N images.
    #[arg(long)]
    pub mnist: Option<PathBuf>,
    /// Input lift.
    #[arg(long, value_enum, default_value_t = LiftArg::Dense)]
    pub lift: LiftArg,
    /// Weight variance of the lift (default 1 for the dense lift, 2 for the stem).
    #[arg(long, allow_negative_numbers = true)]
    pub lift_sw2: Option<f64>,
    /// Bias variance of the lift (default 0).
    #[arg(long, allow_negative_numbers = true)]
    pub lift_sb2: Option<f64>,
    /// Activation of the stem (with --lift relu-stem; default relu).
    #[arg(long)]
    pub stem_activation: Option<String>,
    /// Keep the data's scale instead of normalising each point to K0_ii = 1.
    #[arg(long)]
    pub no_normalize: bool,
}

impl InputArgs {
    pub fn data(&self) -> Result<(Array2<f64>, String), Box<dyn std::error::Error>> {
        Ok(if let Some(p) = &self.csv {
            let x = data::read_csv_matrix(p)?;
            let n = self.points.min(x.nrows());
            (
                x.slice(ndarray::s![..n, ..]).to_owned(),
                format!("{} (first {n} rows)", p.display()),
            )
        } else if let Some(p) = &self.mnist {
            let img = data::read_idx_images(p)?;
            (
                img.to_f64(self.points),
                format!(
                    "{} (first {} images)",
                    p.display(),
                    self.points.min(img.pixels.nrows())
                ),
            )
        } else {
            archconv::budget::check(
                format!(
                    "seeded Gaussian inputs N = {} x d = {}",
                    self.points, self.dim
                ),
                archconv::budget::bytes(self.points, self.dim).and_then(|b| b.checked_mul(8)),
            )?;
            (
                Inputs::gaussian(self.points, self.dim, self.seed),
                format!(
                    "seeded Gaussian N={} d={} seed={}",
                    self.points, self.dim, self.seed
                ),
            )
        })
    }

    /// The lift these flags describe (`--lift`, `--lift-sw2`, `--lift-sb2`,
    /// `--stem-activation`).
    pub fn lift_params(&self) -> Result<LiftParams, Box<dyn std::error::Error>> {
        Ok(match self.lift {
            LiftArg::Dense => {
                if self.stem_activation.is_some() {
                    return Err("--stem-activation needs --lift relu-stem".into());
                }
                LiftParams::dense_with(self.lift_sw2.unwrap_or(1.0), self.lift_sb2.unwrap_or(0.0))
                    .map_err(|e| format!("--lift-sw2/--lift-sb2: {e}"))?
            }
            LiftArg::ReluStem => {
                let act = match &self.stem_activation {
                    Some(a) => {
                        Activation::parse(a).map_err(|e| format!("--stem-activation: {e}"))?
                    }
                    None => Activation::Relu,
                };
                LiftParams::stem(
                    act,
                    self.lift_sw2.unwrap_or(2.0),
                    self.lift_sb2.unwrap_or(0.0),
                )
                .map_err(|e| format!("--lift-sw2/--lift-sb2: {e}"))?
            }
        })
    }

    pub fn inputs(&self) -> Result<(Inputs, String), Box<dyn std::error::Error>> {
        let (x, desc) = self.data()?;
        let lift = self.lift_params()?;
        let inp = if self.no_normalize {
            Inputs::from_data_unnormalized_with(x.view(), &lift)
        } else {
            Inputs::from_data_with(x.view(), &lift)
        }
        .map_err(|e| format!("inputs {desc}: {e}"))?;
        Ok((inp, desc))
    }
}
