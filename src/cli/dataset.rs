//! Dataset selection shared by `train` and `predict`: MNIST, CIFAR-10, digits or a
//! seeded synthetic set, from `--data` or `$ARCHCONV_DATA`.

use archconv::data::{self, Dataset, Split};
use clap::ValueEnum;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum DatasetArg {
    Mnist,
    Cifar10,
    Digits,
    Synthetic,
}

#[derive(clap::Args, Debug, Clone)]
pub struct DatasetArgs {
    /// Dataset.
    #[arg(long, value_enum, default_value_t = DatasetArg::Mnist)]
    pub dataset: DatasetArg,
    /// Data directory (default: $ARCHCONV_DATA).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Use only the first N training examples.
    #[arg(long)]
    pub train_n: Option<usize>,
    /// Use only the first N test examples (0: no test set).
    #[arg(long)]
    pub test_n: Option<usize>,
}

impl DatasetArgs {
    /// The training set and, if there is one, the test set (first `--train-n` and
    /// `--test-n` examples).
    pub fn load(&self) -> Result<(Dataset, Option<Dataset>), Box<dyn std::error::Error>> {
        let a = self;
        let dir = data::data_dir(a.data.as_deref());
        let need = || {
            dir.clone().ok_or(
            "no data directory: pass --data DIR or set ARCHCONV_DATA (or use --dataset synthetic)",
        )
        };
        let (mut tr, te) = match a.dataset {
            DatasetArg::Mnist => {
                let d = need()?;
                let (m, s) = data::MNIST_NORMALIZE;
                let mut tr = data::load_mnist(&d, Split::Train)?;
                let mut te = data::load_mnist(&d, Split::Test)?;
                tr.standardize(&m, &s);
                te.standardize(&m, &s);
                (tr, Some(te))
            }
            DatasetArg::Cifar10 => {
                let d = need()?;
                let (m, s) = data::CIFAR_NORMALIZE;
                let mut tr = data::load_cifar10(&d, Split::Train)?;
                tr.standardize(&m, &s);
                let te = match data::load_cifar10(&d, Split::Test) {
                    Ok(mut t) => {
                        t.standardize(&m, &s);
                        Some(t)
                    }
                    Err(e) => {
                        eprintln!(
                            "note: no CIFAR-10 test batch ({e}); training without a test set"
                        );
                        None
                    }
                };
                (tr, te)
            }
            DatasetArg::Digits => {
                let d = data::load_digits(&need()?)?;
                // sklearn digits has no split: last 297 of 1797 as test.
                let cut = d.len().saturating_sub(297);
                (d.slice(0..cut), Some(d.slice(cut..d.len())))
            }
            DatasetArg::Synthetic => {
                let d = Dataset::synthetic(2500, 64, 10, 12345);
                (d.slice(0..2000), Some(d.slice(2000..2500)))
            }
        };
        if let Some(n) = a.train_n {
            tr = tr.head(n);
        }
        let te = match (te, a.test_n) {
            (_, Some(0)) => None,
            (Some(t), Some(n)) => Some(t.head(n)),
            (t, None) => t,
            (None, Some(_)) => None,
        };
        Ok((tr, te))
    }
}
