//! Issue 14, item 3: infinite-width predictions (`archconv::predict`), each against an
//! independent route:
//! * gradient descent: the eigen-route formulas against iterating `r <- r - eta Theta r`
//!   step by step (the same arithmetic in another order: 1e-10 relative);
//! * gradient flow: against gradient descent with tiny steps `eta = t / K`, whose error per
//!   eigenvalue is at most `K |(1 - eta l) - e^{-eta l}| <= t eta l^2 / 2`;
//! * the long-time test prediction: against kernel regression `Theta_* Theta^{-1} y` solved
//!   by nalgebra's LU (another factorisation);
//! * the NNGP posterior: against nalgebra's LU solve;
//! * the expected loss: against Monte Carlo over initial outputs `f_0 ~ N(0, K)` with a
//!   fixed seed, within 4 standard errors of the sample mean.

use archconv::kernel::ntk::NtkVariant;
use archconv::kernel::{Inputs, KernelFn, KernelKind, Lift};
use archconv::predict::{nngp_posterior, NtkDynamics, PredictError, Time};
use archconv::Dag;
use ndarray::{Array1, Array2};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

struct Setup {
    theta: Array2<f64>,
    theta_test: Array2<f64>,
    k: Array2<f64>,
    k_test: Array2<f64>,
    k_test_diag: Array1<f64>,
    y: Array2<f64>,
}

fn setup(n: usize, nt: usize) -> Setup {
    let x = Inputs::gaussian(n, 8, 1);
    let xt = Inputs::gaussian(nt, 8, 2);
    let kf = KernelFn::new(&Dag::dag3(), Lift::Dense, KernelKind::Exact);
    let y = Array2::from_shape_fn((n, 2), |(i, c)| ((i * 7 + c * 3) % 5) as f64 - 2.0);
    Setup {
        theta: kf.ntk(x.view(), None, NtkVariant::Full).unwrap(),
        theta_test: kf.ntk(xt.view(), Some(x.view()), NtkVariant::Full).unwrap(),
        k: kf.nngp(x.view(), None).unwrap(),
        k_test: kf.nngp(xt.view(), Some(x.view())).unwrap(),
        k_test_diag: kf.nngp_diag(xt.view()).unwrap(),
        y,
    }
}

fn fro(a: &Array2<f64>) -> f64 {
    a.iter().map(|v| v * v).sum::<f64>().sqrt()
}

fn to_na(a: &Array2<f64>) -> nalgebra::DMatrix<f64> {
    nalgebra::DMatrix::from_fn(a.nrows(), a.ncols(), |i, j| a[[i, j]])
}

fn from_na(a: &nalgebra::DMatrix<f64>) -> Array2<f64> {
    Array2::from_shape_fn((a.nrows(), a.ncols()), |(i, j)| a[(i, j)])
}

#[test]
fn gradient_descent_matches_step_by_step_iteration() {
    let s = setup(16, 5);
    let dy = NtkDynamics::new(&s.theta, &s.y).unwrap();
    let lr = 0.9 * dy.max_stable_lr();
    // Step by step: r <- r - eta Theta r (f_0 = 0, so r_0 = -y); test f <- f - eta Theta_* r.
    let mut r = -&s.y;
    let mut ft = Array2::<f64>::zeros((5, 2));
    for k in 1..=200u64 {
        ft = &ft - &(s.theta_test.dot(&r) * lr);
        r = &r - &(s.theta.dot(&r) * lr);
        if [1, 7, 50, 200].contains(&k) {
            let t = Time::Steps { lr, steps: k };
            let tol = 1e-10 * fro(&s.y);
            let train = dy.train_mean(t).unwrap();
            let want = &s.y + &r;
            assert!(fro(&(&train - &want)) <= tol, "train mean at step {k}");
            let loss = dy.train_loss(t).unwrap();
            let want_loss = 0.5 * r.iter().map(|v| v * v).sum::<f64>();
            assert!(
                (loss - want_loss).abs() <= 1e-10 * 0.5 * fro(&s.y).powi(2),
                "loss at {k}"
            );
            let test = dy.test_mean(&s.theta_test, t).unwrap();
            assert!(
                fro(&(&test - &ft)) <= 1e-10 * fro(&ft).max(1.0),
                "test mean at step {k}: {:e}",
                fro(&(&test - &ft))
            );
        }
    }
}

#[test]
fn gradient_flow_is_the_small_step_limit_of_descent() {
    let s = setup(14, 4);
    let dy = NtkDynamics::new(&s.theta, &s.y).unwrap();
    let lmax = dy.lambda_max();
    for t in [0.3 / lmax, 3.0 / lmax, 30.0 / lmax] {
        let k: u64 = 40_000;
        let lr = t / k as f64;
        let flow = dy.train_mean(Time::Flow(t)).unwrap();
        let gd = dy.train_mean(Time::Steps { lr, steps: k }).unwrap();
        // Per eigenvalue |g_flow - g_gd| <= t eta l^2 / 2; the residuals are Q g Q^T y.
        let bound = t * lr * lmax * lmax / 2.0 * fro(&s.y) + 1e-12 * fro(&s.y);
        let diff = fro(&(&flow - &gd));
        assert!(diff <= bound, "t = {t:e}: {diff:e} > {bound:e}");
        // And the flow is not trivially equal to the start or the end.
        assert!(fro(&flow) > 1e-3 * fro(&s.y));
        let test_flow = dy.test_mean(&s.theta_test, Time::Flow(t)).unwrap();
        let test_gd = dy
            .test_mean(&s.theta_test, Time::Steps { lr, steps: k })
            .unwrap();
        let tb = t * lr * lmax * lmax / 2.0 * fro(&s.theta_test) * t * fro(&s.y) + 1e-10;
        assert!(fro(&(&test_flow - &test_gd)) <= tb, "test at t = {t:e}");
    }
}

#[test]
fn the_long_time_test_prediction_is_kernel_regression() {
    let s = setup(12, 6);
    let dy = NtkDynamics::new(&s.theta, &s.y).unwrap();
    let lmin = dy
        .eigenvalues()
        .iter()
        .fold(f64::INFINITY, |a, &b| a.min(b));
    assert!(lmin > 0.0);
    let late = dy
        .test_mean(&s.theta_test, Time::Flow(800.0 / lmin))
        .unwrap();
    let alpha = to_na(&s.theta).lu().solve(&to_na(&s.y)).unwrap();
    let want = s.theta_test.dot(&from_na(&alpha));
    let cond = dy.lambda_max() / lmin;
    // Eigen route against LU: ~ c n eps cond relative (c = 16, n = 12).
    let tol = 16.0 * 12.0 * f64::EPSILON * cond * fro(&s.theta_test) * fro(&s.y) / lmin;
    assert!(
        fro(&(&late - &want)) <= tol,
        "{:e} > {tol:e}",
        fro(&(&late - &want))
    );
    let conv = dy.test_mean(&s.theta_test, Time::Converged).unwrap();
    assert!(
        fro(&(&conv - &want)) <= tol,
        "converged: {:e}",
        fro(&(&conv - &want))
    );
    // On the training set the prediction then interpolates.
    let train = dy.train_mean(Time::Flow(800.0 / lmin)).unwrap();
    assert!(fro(&(&train - &s.y)) <= 1e-12 * fro(&s.y));
}

#[test]
fn learning_rates_beyond_two_over_lambda_max_diverge() {
    let s = setup(10, 2);
    let dy = NtkDynamics::new(&s.theta, &s.y).unwrap();
    let lr_max = dy.max_stable_lr();
    let l0 = dy.train_loss(Time::Flow(0.0)).unwrap();
    assert!((l0 - 0.5 * fro(&s.y).powi(2)).abs() <= 1e-12 * l0);
    let stable = dy
        .train_loss(Time::Steps {
            lr: 0.99 * lr_max,
            steps: 3000,
        })
        .unwrap();
    let unstable = dy
        .train_loss(Time::Steps {
            lr: 1.01 * lr_max,
            steps: 3000,
        })
        .unwrap();
    assert!(stable < l0, "{stable} >= {l0}");
    assert!(unstable > 1e6 * l0, "{unstable}");
    let curve = dy
        .loss_curve(&[
            Time::Flow(0.0),
            Time::Flow(1.0 / lr_max),
            Time::Flow(10.0 / lr_max),
        ])
        .unwrap();
    assert!(curve[0] > curve[1] && curve[1] > curve[2]);
}

#[test]
fn the_nngp_posterior_matches_a_direct_solve() {
    let s = setup(15, 7);
    for noise in [0.0, 0.05] {
        let p = nngp_posterior(&s.k, &s.y, &s.k_test, Some(&s.k_test_diag), noise).unwrap();
        assert_eq!(p.jitter, 0.0, "a full-rank kernel needs no jitter");
        let mut a = to_na(&s.k);
        for i in 0..15 {
            a[(i, i)] += noise;
        }
        // Two backward-stable solvers differ by at most ~ c n eps cond(A) relative
        // (c = 16, as `common::analytic_tol`), cond(A) from A's eigenvalues.
        let ev = a.clone().symmetric_eigen().eigenvalues;
        let (lmin, lmax) = (ev.min(), ev.max());
        let rel = 16.0 * 15.0 * f64::EPSILON * lmax / lmin;
        let lu = a.lu();
        let alpha = lu.solve(&to_na(&s.y)).unwrap();
        let mean = s.k_test.dot(&from_na(&alpha));
        let tol = rel * fro(&s.k_test) * fro(&s.y) / lmin;
        assert!(fro(&(&p.mean - &mean)) <= tol, "noise {noise}: mean");
        let v = from_na(&lu.solve(&to_na(&s.k_test.t().to_owned())).unwrap());
        let var = p.variance.unwrap();
        for i in 0..7 {
            let want = s.k_test_diag[i] - s.k_test.row(i).dot(&v.column(i));
            // |k_i . dv| <= |k_i| |dv| <= rel |k_i|^2 / lambda_min.
            let ki2 = s.k_test.row(i).dot(&s.k_test.row(i));
            assert!((var[i] - want).abs() <= rel * ki2 / lmin, "var {i}");
            assert!(
                var[i] >= -1e-10 * s.k_test_diag[i],
                "negative variance {}",
                var[i]
            );
        }
    }
}

#[test]
fn a_singular_kernel_gets_the_jitter_it_needs_and_says_so() {
    // A repeated training point makes K singular.
    let k = ndarray::array![[1.0, 1.0, 0.5], [1.0, 1.0, 0.5], [0.5, 0.5, 1.0]];
    let y = ndarray::array![[1.0], [1.0], [-1.0]];
    let p = nngp_posterior(&k, &y, &k, None, 0.0).unwrap();
    assert!(p.jitter > 0.0 && p.jitter <= 1e-6, "jitter {}", p.jitter);
    assert!((p.mean[[0, 0]] - 1.0).abs() < 1e-4 && (p.mean[[2, 0]] + 1.0).abs() < 1e-4);
    // Not a kernel at all.
    let bad = ndarray::array![[1.0, 2.0], [2.0, 1.0]];
    let e = nngp_posterior(&bad, &ndarray::array![[1.0], [0.0]], &bad, None, 0.0).unwrap_err();
    assert!(matches!(e, PredictError::NotPositiveDefinite { .. }), "{e}");
    let e = NtkDynamics::new(&bad, &ndarray::array![[1.0], [0.0]]).unwrap_err();
    assert!(matches!(e, PredictError::NotPsd { .. }), "{e}");
}

#[test]
fn the_expected_loss_matches_monte_carlo_over_initial_outputs() {
    let s = setup(10, 1);
    let dy = NtkDynamics::new(&s.theta, &s.y).unwrap();
    let t = Time::Flow(0.5 / dy.lambda_max());
    let want = dy.expected_train_loss(&s.k, t).unwrap();
    // f_0 ~ N(0, K) per output column: L f_0 with K = L L^T (nalgebra Cholesky).
    let l = from_na(&to_na(&s.k).cholesky().unwrap().l());
    let (q, lam) = {
        let e = to_na(&s.theta).symmetric_eigen();
        (
            from_na(&e.eigenvectors),
            e.eigenvalues.iter().copied().collect::<Vec<_>>(),
        )
    };
    let lr = 0.5 / dy.lambda_max();
    let g = Array2::from_diag(&Array1::from_iter(lam.iter().map(|&x| (-x * lr).exp())));
    let prop = q.dot(&g).dot(&q.t());
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let samples = 4000;
    let mut vals = Vec::with_capacity(samples);
    for _ in 0..samples {
        let z = Array2::from_shape_fn((10, 2), |_| StandardNormal.sample(&mut rng));
        let f0: Array2<f64> = l.dot(&z);
        let r = prop.dot(&(&f0 - &s.y));
        vals.push(0.5 * r.iter().map(|v| v * v).sum::<f64>());
    }
    let mean = vals.iter().sum::<f64>() / samples as f64;
    let sd = (vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (samples - 1) as f64).sqrt();
    let se = sd / (samples as f64).sqrt();
    assert!(
        (mean - want).abs() <= 4.0 * se,
        "MC {mean} +- {se}, closed form {want}"
    );
    // The variance term matters: the mean-prediction loss alone is clearly smaller.
    assert!(dy.train_loss(t).unwrap() < want - 8.0 * se);
}

#[test]
fn bad_inputs_are_typed_errors() {
    let s = setup(6, 2);
    let e = NtkDynamics::new(&s.theta, &Array2::zeros((5, 1))).unwrap_err();
    assert!(
        matches!(
            e,
            PredictError::Shape {
                what: "the targets",
                ..
            }
        ),
        "{e}"
    );
    let dy = NtkDynamics::new(&s.theta, &s.y).unwrap();
    let e = dy.train_loss(Time::Flow(-1.0)).unwrap_err();
    assert!(matches!(e, PredictError::BadTime { .. }), "{e}");
    let e = dy
        .train_mean(Time::Steps {
            lr: f64::NAN,
            steps: 3,
        })
        .unwrap_err();
    assert!(matches!(e, PredictError::BadTime { .. }), "{e}");
    let e = dy
        .test_mean(&Array2::zeros((2, 5)), Time::Flow(1.0))
        .unwrap_err();
    assert!(e.to_string().contains("expected"), "{e}");
    let mut nan = s.k.clone();
    nan[[1, 2]] = f64::NAN;
    let e = nngp_posterior(&nan, &s.y, &s.k_test, None, 0.0).unwrap_err();
    assert!(
        matches!(e, PredictError::NonFinite { row: 1, col: 2, .. }),
        "{e}"
    );
    let e = nngp_posterior(&s.k, &s.y, &s.k_test, None, -0.1).unwrap_err();
    assert!(matches!(e, PredictError::BadNoise { .. }), "{e}");
}
