//! Input selection shared by subcommands: seeded Gaussian, CSV or MNIST IDX.

use archconv::data;
use archconv::kernel::{Inputs, Lift};
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

    pub fn inputs(&self) -> Result<(Inputs, String), Box<dyn std::error::Error>> {
        let (x, desc) = self.data()?;
        let inp = if self.no_normalize {
            Inputs::from_data_unnormalized(x.view(), self.lift.into())
        } else {
            Inputs::from_data(x.view(), self.lift.into())
        }
        .map_err(|e| format!("inputs {desc}: {e}"))?;
        Ok((inp, desc))
    }
}
