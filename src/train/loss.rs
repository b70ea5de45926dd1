//! Losses on logits with integer labels: cross-entropy and MSE to one-hot targets, both
//! mean-reduced over the batch like PyTorch's defaults.

use super::gemm::Scalar;
use ndarray::{Array2, ArrayView2};
use serde::Serialize;

/// A training loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Loss {
    /// `L = (1/B) sum_i [log sum_c exp z_ic - z_{i y_i}]` (PyTorch `CrossEntropyLoss`,
    /// mean reduction); `dL/dz = (softmax(z) - onehot(y)) / B`.
    #[default]
    CrossEntropy,
    /// `L = (1/(B C)) sum_{i,c} (z_ic - onehot(y_i)_c)^2` (PyTorch `MSELoss`, mean over
    /// all `B x C` entries); `dL/dz = 2 (z - onehot) / (B C)`.
    Mse,
}

impl Loss {
    /// Short name (`cross-entropy`, `mse`).
    pub fn name(self) -> &'static str {
        match self {
            Loss::CrossEntropy => "cross-entropy",
            Loss::Mse => "mse",
        }
    }
}

/// Loss value, correct predictions and the logit gradient of one batch.
#[derive(Debug, Clone)]
pub struct LossOut<T> {
    /// Mean loss over the batch (computed in `f64`).
    pub loss: f64,
    /// `sum_{i,c} (z_ic - onehot_ic)^2` (the squared residual `||y - u||^2` of the
    /// convergence theorem; reported for every loss).
    pub residual_sq: f64,
    /// Number of rows whose arg-max logit (first on ties) equals the label.
    pub correct: usize,
    /// `dL/dz`, same shape as the logits.
    pub grad: Array2<T>,
}

/// Evaluates `loss` on `logits` (`B x C`) with labels `y` (`B`, each `< C`).
///
/// # Panics
/// If `y.len()` differs from the number of rows or a label is `>= C` (the trainer
/// validates datasets before calling).
#[track_caller]
pub fn loss_and_grad<T: Scalar>(loss: Loss, logits: ArrayView2<'_, T>, y: &[u8]) -> LossOut<T> {
    let (b, c) = logits.dim();
    assert_eq!(b, y.len(), "{b} logit rows but {} labels", y.len());
    let mut grad = Array2::<T>::zeros((b, c));
    let mut total = 0.0;
    let mut residual_sq = 0.0;
    let mut correct = 0;
    for (i, row) in logits.rows().into_iter().enumerate() {
        let label = usize::from(y[i]);
        assert!(label < c, "label {label} of row {i} is not below {c}");
        let z: Vec<f64> = row.iter().map(|v| v.f64()).collect();
        let mut arg = 0;
        for k in 1..c {
            if z[k] > z[arg] {
                arg = k;
            }
        }
        if arg == label {
            correct += 1;
        }
        for (k, &zk) in z.iter().enumerate() {
            let t = if k == label { 1.0 } else { 0.0 };
            residual_sq += (zk - t) * (zk - t);
        }
        match loss {
            Loss::CrossEntropy => {
                let mx = z[arg];
                let s: f64 = z.iter().map(|v| (v - mx).exp()).sum();
                let lse = mx + s.ln();
                total += lse - z[label];
                for (k, &zk) in z.iter().enumerate() {
                    let p = (zk - lse).exp();
                    let t = if k == label { 1.0 } else { 0.0 };
                    grad[[i, k]] = T::of((p - t) / b as f64);
                }
            }
            Loss::Mse => {
                let scale = 1.0 / (b * c) as f64;
                for (k, &zk) in z.iter().enumerate() {
                    let t = if k == label { 1.0 } else { 0.0 };
                    total += (zk - t) * (zk - t) * scale * b as f64;
                    grad[[i, k]] = T::of(2.0 * (zk - t) * scale);
                }
            }
        }
    }
    LossOut {
        loss: total / b.max(1) as f64,
        residual_sq,
        correct,
        grad,
    }
}
