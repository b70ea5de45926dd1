//! Training DAG-MLPs (PAPER.md sections 1 and 5, Fig. 4) and testing the convergence
//! rate of Thm 3.1 on real data (beyond the paper).
//!
//! * [`DagMlp`]: the authors' network for any [`crate::Dag`] — stem `Linear(d, m) +
//!   ReLU`, DAG edges `Linear(m, m) + ReLU` / identity / absent, nodes summing their
//!   inputs, readout `Linear(m, classes)`; Kaiming-normal fan-in weights, zero (trained)
//!   biases. Any activation and variances per edge ([`crate::Edge::params`]) and for
//!   the stem ([`DagMlp::with_stem`], [`train_with_stem`]), initialised as the model
//!   says: weights `N(0, sw2 / fan_in)`, biases `N(0, sb2)` (PAPER.md section 9). Forward and backward are hand-written on faer's multi-threaded GEMM
//!   ([`gemm`]); training runs in `f32` by default (half the memory traffic and about
//!   twice the GEMM rate of `f64`), the gradient checks in `f64`.
//! * [`train`](train()): seeded minibatch SGD or full-batch GD with a fixed learning rate
//!   (no momentum, no weight decay), [`Loss::CrossEntropy`] or [`Loss::Mse`]
//!   (PyTorch's mean reductions), per-epoch [`EpochRecord`]s (serde).
//! * [`fig4`]: Fig. 4 — DAG#1/#2/#3 x seeds on MNIST and CIFAR-10, curves of mean and
//!   standard deviation per epoch (report: [`crate::report::fig4`]).
//! * [`rate`]: the contraction of `||y - u(k)||^2` under full-batch GD against
//!   `1 - eta lambda_min(K^H) / 2` of the three closed-form kernels (report: [`crate::report::rate`]).
//!
//! ```
//! use archconv::{Dag, data::Dataset, train::{train, TrainConfig, Optimizer, Loss}};
//! let data = Dataset::synthetic(64, 10, 3, 0);
//! let cfg = TrainConfig { width: 32, lr: 0.05, optimizer: Optimizer::Sgd { batch: 16 },
//!                         loss: Loss::CrossEntropy, epochs: 3, seed: 1 };
//! let h = train::<f32>(&Dag::dag3(), &data, None, &cfg, &mut |_| {}).unwrap();
//! assert_eq!(h.records.len(), 4);                    // epochs 0..=3
//! assert!(h.records[3].train_loss < h.records[0].train_loss);
//! ```

pub mod fig4;
pub mod fig4_time;
pub mod gemm;
pub mod linearised;
pub mod loss;
pub mod model;
pub mod rate;
pub mod trainer;

pub use gemm::Scalar;
pub use loss::{loss_and_grad, Loss, LossOut};
pub use model::{DagMlp, Dense, Forward};
pub use trainer::{
    evaluate, train, train_net, train_with_stem, EpochRecord, Event, History, Optimizer,
    TrainConfig,
};

/// Why a training run cannot start or had to stop.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    /// A hyper-parameter is out of range.
    #[error("invalid {what} {value}: {why}")]
    Config {
        /// Which setting.
        what: &'static str,
        /// Its value.
        value: String,
        /// Why it is rejected.
        why: String,
    },
    /// The data's feature count does not match the network's input.
    #[error("input has {got} features, the network expects {expected}")]
    InputDim {
        /// Network input dimension.
        expected: usize,
        /// Data dimension.
        got: usize,
    },
    /// No examples.
    #[error("the dataset is empty")]
    EmptyDataset,
    /// The output node cannot be reached from an input node.
    #[error("DAG {dag} has no path from an input to the output; its logits would not depend on the data")]
    NoPath {
        /// The DAG.
        dag: String,
    },
    /// The run would not fit in the memory budget.
    #[error(transparent)]
    Memory(#[from] crate::budget::BudgetError),
    /// The loss became NaN or infinite (learning rate too large).
    #[error(
        "training diverged: loss {loss} at epoch {epoch}, step {step} (lower the learning rate)"
    )]
    Diverged {
        /// Epoch (0 = initial evaluation).
        epoch: usize,
        /// Step within the epoch (0 = evaluation).
        step: usize,
        /// The loss value.
        loss: f64,
    },
}
