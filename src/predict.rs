//! Infinite-width predictions (issue 14, item 3): the NNGP posterior, and the NTK's mean
//! prediction and training-loss curve under gradient flow and gradient descent on MSE.
//!
//! **Loss** (as [`crate::stepsize`]): `L = 1/2 sum_i ||f(x_i) - y_i||^2` over the `N`
//! training points. In the NTK regime the outputs move linearly, `df/dt = -Theta (f - y)`
//! under gradient flow and `f_{k+1} = f_k - eta Theta (f_k - y)` under gradient descent,
//! with `Theta` the training NTK (PAPER.md section 8). With `Theta = Q diag(lambda) Q^T` and
//! the residual `r = f - y`:
//!
//! ```text
//! flow:     r_t = Q diag(e^{-lambda t}) Q^T r_0
//! descent:  r_k = Q diag((1 - eta lambda)^k) Q^T r_0          (stable iff eta < 2 / lambda_max)
//! test:     f_t(x*) = f_0(x*) + Theta_{*,train} Q diag((1 - g(lambda)) / lambda) Q^T (y - f_0)
//! ```
//!
//! with `g = e^{-lambda t}` or `(1 - eta lambda)^k`, and `(1 - g) / lambda` taken at its
//! limit (`t`, or `eta k`) for `lambda = 0`. The **mean prediction** is the average over
//! initialisations, where `f_0 = 0`: `E f_t(train) = y + Q g Q^T (-y)`. The **expected
//! loss** over initialisations adds the initial outputs' variance, a Gaussian process with
//! the NNGP `K` of the training set: `E L_t = 1/2 ||Q g Q^T y||^2 + c/2 tr(Q g Q^T K Q g Q^T)`
//! for `c` output columns (PAPER.md section 8; neural-tangents'
//! `gradient_descent_mse_ensemble` with `diag_reg = 0`).
//!
//! The **NNGP posterior** (exact Bayesian inference with the NNGP prior and observation
//! noise `sigma^2`): mean `K_{*,t} (K + (sigma^2 + j) I)^{-1} y`, variance
//! `K_{**} - diag(K_{*,t} (K + (sigma^2 + j) I)^{-1} K_{t,*})`, by Cholesky; the jitter `j`
//! is the smallest of `0, 1e-12, 1e-11, ...` (times the mean diagonal) for which the
//! factor exists, and is reported.
//!
//! ```
//! use archconv::{Dag, kernel::{KernelFn, KernelKind, Lift, ntk::NtkVariant}};
//! use archconv::predict::{NtkDynamics, Time};
//! let x = archconv::Inputs::gaussian(12, 4, 0);
//! let xt = archconv::Inputs::gaussian(3, 4, 1);
//! let y = ndarray::Array2::from_shape_fn((12, 1), |(i, _)| if i % 2 == 0 { 1.0 } else { -1.0 });
//! let k = KernelFn::new(&Dag::dag3(), Lift::Dense, KernelKind::Exact);
//! let theta = k.ntk(x.view(), None, NtkVariant::Full)?;
//! let dynamics = NtkDynamics::new(&theta, &y)?;
//! let lr = 0.5 * dynamics.max_stable_lr();                  // 2 / lambda_max, halved
//! let early = dynamics.train_loss(Time::Steps { lr, steps: 1 })?;
//! let late = dynamics.train_loss(Time::Steps { lr, steps: 1000 })?;
//! assert!(late < early && early < 0.5 * 12.0);               // L_0 = ||y||^2 / 2 = 6
//! let test = dynamics.test_mean(&k.ntk(xt.view(), Some(x.view()), NtkVariant::Full)?, Time::Flow(1e9))?;
//! assert_eq!(test.dim(), (3, 1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use ndarray::{Array1, Array2, Axis};

/// What went wrong in a prediction.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PredictError {
    /// Two inputs whose shapes do not fit.
    #[error("{what} is {got_rows} x {got_cols}, expected {rows} x {cols}")]
    Shape {
        /// Which input.
        what: &'static str,
        /// Its rows.
        got_rows: usize,
        /// Its columns.
        got_cols: usize,
        /// Rows expected (`usize::MAX`: any).
        rows: usize,
        /// Columns expected (`usize::MAX`: any).
        cols: usize,
    },
    /// A NaN or infinite entry.
    #[error("{what} has a non-finite entry at row {row}, column {col}")]
    NonFinite {
        /// Which input.
        what: &'static str,
        /// Row.
        row: usize,
        /// Column.
        col: usize,
    },
    /// A time, step count or learning rate that is negative or not finite.
    #[error("{what} must be finite and non-negative, got {value}")]
    BadTime {
        /// Which quantity.
        what: &'static str,
        /// The value.
        value: f64,
    },
    /// A negative or non-finite noise variance.
    #[error("the noise variance must be finite and non-negative, got {value}")]
    BadNoise {
        /// The value.
        value: f64,
    },
    /// The kernel is not positive definite even with the largest jitter tried.
    #[error("the training kernel plus noise {noise} is not positive definite even with jitter {jitter:e} (times its mean diagonal {scale:e}); it is not a kernel matrix, or add noise")]
    NotPositiveDefinite {
        /// The noise variance.
        noise: f64,
        /// The largest relative jitter tried.
        jitter: f64,
        /// The mean diagonal.
        scale: f64,
    },
    /// The symmetric eigensolver failed.
    #[error("the eigendecomposition of the {n} x {n} training NTK failed")]
    Eigen {
        /// Its size.
        n: usize,
    },
    /// The training NTK has a clearly negative eigenvalue: it is not a kernel matrix.
    #[error("the training NTK has eigenvalue {lambda:e}, below -{tol:e}: it is not positive semi-definite")]
    NotPsd {
        /// The eigenvalue.
        lambda: f64,
        /// The tolerance (`N eps lambda_max`).
        tol: f64,
    },
}

fn check_finite(a: &Array2<f64>, what: &'static str) -> Result<(), PredictError> {
    match a.indexed_iter().find(|(_, v)| !v.is_finite()) {
        Some(((row, col), _)) => Err(PredictError::NonFinite { what, row, col }),
        None => Ok(()),
    }
}

fn check_shape(
    a: &Array2<f64>,
    what: &'static str,
    rows: usize,
    cols: usize,
) -> Result<(), PredictError> {
    let (r, c) = a.dim();
    if (rows != usize::MAX && r != rows) || (cols != usize::MAX && c != cols) {
        return Err(PredictError::Shape {
            what,
            got_rows: r,
            got_cols: c,
            rows,
            cols,
        });
    }
    check_finite(a, what)
}

/// When a prediction is read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Time {
    /// Gradient flow at time `t` (`t = lr x steps` for small steps).
    Flow(f64),
    /// Gradient descent after `steps` steps of learning rate `lr`.
    Steps {
        /// The learning rate `eta`.
        lr: f64,
        /// The number of steps `k`.
        steps: u64,
    },
    /// The limit `t -> infinity` of gradient flow: kernel regression with the
    /// pseudo-inverse, `Theta_* Theta^+ y` (eigenvalues below `N eps lambda_max` are
    /// null directions, which never move).
    Converged,
}

impl Time {
    fn check(self) -> Result<(), PredictError> {
        let bad = |what, value: f64| {
            if value.is_finite() && value >= 0.0 {
                Ok(())
            } else {
                Err(PredictError::BadTime { what, value })
            }
        };
        match self {
            Time::Flow(t) => bad("the time t", t),
            Time::Steps { lr, .. } => bad("the learning rate", lr),
            Time::Converged => Ok(()),
        }
    }

    /// The residual's factor `g(lambda)`: `e^{-lambda t}` or `(1 - eta lambda)^k`
    /// (`null`: `lambda` is a null direction).
    fn decay(self, lambda: f64, null: bool) -> f64 {
        match self {
            Time::Flow(t) => (-lambda * t).exp(),
            Time::Steps { lr, steps } => powu(1.0 - lr * lambda, steps),
            Time::Converged => f64::from(u8::from(null)),
        }
    }

    /// `(1 - g(lambda)) / lambda`, at its limit for `lambda -> 0`.
    fn gain(self, lambda: f64, null: bool) -> f64 {
        match self {
            Time::Converged => {
                if null {
                    0.0
                } else {
                    1.0 / lambda
                }
            }
            Time::Flow(t) => {
                let x = lambda * t;
                if x.abs() < 1e-300 {
                    t
                } else {
                    -(-x).exp_m1() / lambda
                }
            }
            Time::Steps { lr, steps } => {
                let x = lr * lambda;
                if x.abs() < 1e-300 {
                    lr * steps as f64
                } else if x < 1.0 {
                    // 1 - (1 - x)^k without cancellation.
                    -((steps as f64) * (-x).ln_1p()).exp_m1() / lambda
                } else {
                    (1.0 - powu(1.0 - x, steps)) / lambda
                }
            }
        }
    }
}

/// `b^k` for an integer `k` (exact for `k <= i32::MAX` by repeated squaring).
fn powu(b: f64, k: u64) -> f64 {
    match i32::try_from(k) {
        Ok(k) => b.powi(k),
        Err(_) => b.signum().powf(k as f64) * b.abs().powf(k as f64),
    }
}

/// The NTK regime's training dynamics on one training set (module docs).
#[derive(Debug, Clone)]
pub struct NtkDynamics {
    lambda: Vec<f64>,
    /// Eigenvalues at or below this are null directions (`N eps lambda_max`).
    null_tol: f64,
    q: Array2<f64>,
    /// `Q^T y`.
    qty: Array2<f64>,
    y: Array2<f64>,
}

impl NtkDynamics {
    /// Decomposes the training NTK `theta` (`N x N`) for targets `y` (`N x c`).
    ///
    /// Errors: shapes, non-finite entries, a failed eigensolver, or an eigenvalue below
    /// `-N eps lambda_max` (not a kernel). Eigenvalues within that of zero are set to 0.
    pub fn new(theta: &Array2<f64>, y: &Array2<f64>) -> Result<NtkDynamics, PredictError> {
        let n = theta.nrows();
        check_shape(theta, "the training NTK", n, n)?;
        check_shape(y, "the targets", n, usize::MAX)?;
        let (mut lambda, q) =
            crate::linalg::sym_eigen(theta.view()).ok_or(PredictError::Eigen { n })?;
        let top = lambda.iter().fold(0.0f64, |a, &b| a.max(b.abs()));
        let tol = n as f64 * f64::EPSILON * top;
        for l in &mut lambda {
            if *l < -tol {
                return Err(PredictError::NotPsd { lambda: *l, tol });
            }
            *l = l.max(0.0);
        }
        let qty = crate::linalg::gemm(&q, true, y);
        Ok(NtkDynamics {
            lambda,
            null_tol: tol,
            q,
            qty,
            y: y.clone(),
        })
    }

    /// The training NTK's eigenvalues.
    pub fn eigenvalues(&self) -> &[f64] {
        &self.lambda
    }

    /// `lambda_max` of the training NTK.
    pub fn lambda_max(&self) -> f64 {
        self.lambda.iter().fold(0.0f64, |a, &b| a.max(b))
    }

    /// The largest stable learning rate of gradient descent, `2 / lambda_max`: above it
    /// the top eigendirection's factor `|1 - eta lambda_max|` exceeds 1 and the loss
    /// diverges.
    pub fn max_stable_lr(&self) -> f64 {
        2.0 / self.lambda_max()
    }

    /// `Q diag(w) Q^T y` for per-eigenvalue weights `w`.
    fn apply(&self, w: impl Fn(f64, bool) -> f64) -> Array2<f64> {
        let mut s = self.qty.clone();
        for (mut row, &l) in s.axis_iter_mut(Axis(0)).zip(&self.lambda) {
            let f = w(l, l <= self.null_tol);
            row.mapv_inplace(|v| v * f);
        }
        crate::linalg::gemm(&self.q, false, &s)
    }

    /// The mean prediction on the training set, `y - Q g Q^T y`.
    pub fn train_mean(&self, time: Time) -> Result<Array2<f64>, PredictError> {
        time.check()?;
        Ok(&self.y - &self.apply(|l, null| time.decay(l, null)))
    }

    /// The mean prediction on test points, `Theta_{*,train} Q diag((1 - g) / lambda) Q^T y`,
    /// from the test-train NTK block (`N* x N`, e.g. [`crate::kernel::KernelFn::ntk`]).
    pub fn test_mean(
        &self,
        theta_test_train: &Array2<f64>,
        time: Time,
    ) -> Result<Array2<f64>, PredictError> {
        time.check()?;
        check_shape(
            theta_test_train,
            "the test-train NTK",
            usize::MAX,
            self.lambda.len(),
        )?;
        let a = self.apply(|l, null| time.gain(l, null));
        Ok(theta_test_train.dot(&a))
    }

    /// The mean prediction's training loss `1/2 ||Q g Q^T y||^2`.
    pub fn train_loss(&self, time: Time) -> Result<f64, PredictError> {
        time.check()?;
        let mut total = 0.0;
        for (row, &l) in self.qty.axis_iter(Axis(0)).zip(&self.lambda) {
            let g = time.decay(l, l <= self.null_tol);
            total += g * g * row.iter().map(|v| v * v).sum::<f64>();
        }
        Ok(0.5 * total)
    }

    /// The training loss expected over initialisations: the mean prediction's loss plus
    /// `c/2 tr(Q g Q^T K Q g Q^T)`, with `K` the training set's NNGP (the initial outputs'
    /// covariance) and `c` output columns.
    pub fn expected_train_loss(
        &self,
        nngp_train: &Array2<f64>,
        time: Time,
    ) -> Result<f64, PredictError> {
        let n = self.lambda.len();
        check_shape(nngp_train, "the training NNGP", n, n)?;
        let mean = self.train_loss(time)?;
        // tr(G Q^T K Q G) with G diagonal: sum_k g_k^2 (Q^T K Q)_kk.
        let kq = crate::linalg::gemm(nngp_train, false, &self.q);
        let mut var = 0.0;
        for (k, &l) in self.lambda.iter().enumerate() {
            let g = time.decay(l, l <= self.null_tol);
            let qkq: f64 = self.q.column(k).dot(&kq.column(k));
            var += g * g * qkq;
        }
        Ok(mean + 0.5 * self.y.ncols() as f64 * var)
    }

    /// [`NtkDynamics::train_loss`] at each time.
    pub fn loss_curve(&self, times: &[Time]) -> Result<Vec<f64>, PredictError> {
        times.iter().map(|&t| self.train_loss(t)).collect()
    }
}

/// The NNGP posterior on test points (module docs).
#[derive(Debug, Clone)]
pub struct Posterior {
    /// Posterior mean, `N* x c`.
    pub mean: Array2<f64>,
    /// Posterior variance of each test point (the same for every output column), when the
    /// test diagonal was given.
    pub variance: Option<Array1<f64>>,
    /// The relative jitter that was added to the diagonal (0 when none was needed).
    pub jitter: f64,
}

/// The NNGP posterior mean (and, with the test points' prior variances `k_test_diag`, the
/// variance) given the training NNGP `k_train` (`N x N`), targets `y` (`N x c`), the
/// test-train block `k_test_train` (`N* x N`) and the observation noise `noise`.
///
/// ```
/// use archconv::predict::nngp_posterior;
/// let k = ndarray::array![[2.0, 1.0], [1.0, 2.0]];
/// let y = ndarray::array![[1.0], [-1.0]];
/// // Test points equal to the training points, no noise: the posterior interpolates.
/// let p = nngp_posterior(&k, &y, &k, Some(&k.diag().to_owned()), 0.0)?;
/// assert!((p.mean[[0, 0]] - 1.0).abs() < 1e-12);
/// assert!(p.variance.unwrap().iter().all(|v| v.abs() < 1e-12));
/// # Ok::<(), archconv::predict::PredictError>(())
/// ```
pub fn nngp_posterior(
    k_train: &Array2<f64>,
    y: &Array2<f64>,
    k_test_train: &Array2<f64>,
    k_test_diag: Option<&Array1<f64>>,
    noise: f64,
) -> Result<Posterior, PredictError> {
    let n = k_train.nrows();
    check_shape(k_train, "the training NNGP", n, n)?;
    check_shape(y, "the targets", n, usize::MAX)?;
    check_shape(k_test_train, "the test-train NNGP", usize::MAX, n)?;
    if !(noise.is_finite() && noise >= 0.0) {
        return Err(PredictError::BadNoise { value: noise });
    }
    if let Some(d) = k_test_diag {
        let d2 = d.view().insert_axis(Axis(1)).to_owned();
        check_shape(&d2, "the test diagonal", k_test_train.nrows(), 1)?;
    }
    let scale = (k_train.diag().sum() / n as f64)
        .abs()
        .max(f64::MIN_POSITIVE);
    let mut jitter = 0.0;
    let solver = loop {
        let mut a = k_train.clone();
        for i in 0..n {
            a[[i, i]] += noise + jitter * scale;
        }
        if let Some(s) = crate::linalg::CholSolver::new(a.view()) {
            break s;
        }
        jitter = if jitter == 0.0 { 1e-12 } else { jitter * 10.0 };
        if jitter > 1e-2 {
            return Err(PredictError::NotPositiveDefinite {
                noise,
                jitter: 1e-2,
                scale,
            });
        }
    };
    let mut alpha = crate::linalg::to_faer(y.view());
    solver.solve_in_place(&mut alpha);
    let mean = k_test_train.dot(&crate::linalg::to_ndarray(alpha.as_ref()));
    let variance = k_test_diag.map(|d| {
        let mut v = crate::linalg::to_faer(k_test_train.t());
        solver.solve_in_place(&mut v);
        let v = crate::linalg::to_ndarray(v.as_ref());
        Array1::from_iter(
            (0..k_test_train.nrows()).map(|i| d[i] - k_test_train.row(i).dot(&v.column(i))),
        )
    });
    Ok(Posterior {
        mean,
        variance,
        jitter,
    })
}

/// One-hot regression targets: row `i` is `e_{labels[i]}` in `R^classes`, the targets of
/// kernel regression on class labels (Lee et al. 2018; Arora et al. 2019).
///
/// ```
/// let y = archconv::predict::one_hot(&[2, 0], 3);
/// assert_eq!(y, ndarray::array![[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]);
/// ```
pub fn one_hot(labels: &[u8], classes: usize) -> Array2<f64> {
    Array2::from_shape_fn((labels.len(), classes), |(i, c)| {
        f64::from(u8::from(labels[i] as usize == c))
    })
}

/// Fraction of rows of `f` (`N x classes`) whose largest entry is at the row's label
/// (ties go to the first); `None` for no rows or a length mismatch.
///
/// ```
/// let f = ndarray::array![[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]];
/// assert_eq!(archconv::predict::accuracy(&f, &[1, 0, 0]), Some(2.0 / 3.0));
/// ```
pub fn accuracy(f: &Array2<f64>, labels: &[u8]) -> Option<f64> {
    if f.nrows() == 0 || f.nrows() != labels.len() {
        return None;
    }
    let correct = f
        .rows()
        .into_iter()
        .zip(labels)
        .filter(|(row, &label)| {
            let best = row
                .iter()
                .enumerate()
                .fold(
                    (0, f64::NEG_INFINITY),
                    |b, (c, &v)| if v > b.1 { (c, v) } else { b },
                );
            best.0 == label as usize
        })
        .count();
    Some(correct as f64 / f.nrows() as f64)
}
