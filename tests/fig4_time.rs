//! Fig. 4 against time (issue 14, study 4b): the linearised cross-entropy dynamics, the
//! learning-rate collapse, and the study on real MNIST.

mod common;

use archconv::data::Dataset;
use archconv::train::fig4_time::{
    fig4_time, fig4_time_on, linearised_ce_curve, run_in_time, Fig4TimeBudget,
};
use archconv::train::{loss_and_grad, Loss};
use archconv::Dag;
use ndarray::Array2;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

/// Second route: a linear model in parameter space. Class `c`'s logits are
/// `u_c = u0_c + A w_c` (`A`: n x p, one weight block per class), so its NTK is
/// `A A^T` for every class and zero across classes. Gradient descent on the weights with
/// step `lr` on the mean cross-entropy must give exactly the function-space iteration of
/// `linearised_ce_curve` (to rounding: both compute the same sums in another order).
#[test]
fn linearised_curve_equals_gradient_descent_on_a_linear_model() {
    let (n, p, c, lr, steps) = (9, 5, 3, 0.7, 25);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
    let a = Array2::<f64>::from_shape_simple_fn((n, p), || StandardNormal.sample(&mut rng));
    let u0 = Array2::<f64>::from_shape_simple_fn((n, c), || StandardNormal.sample(&mut rng));
    let labels: Vec<u8> = (0..n).map(|i| (i % c) as u8).collect();
    let theta = a.dot(&a.t());
    let evals: Vec<usize> = (0..=steps).collect();
    let (loss, acc) = linearised_ce_curve(&theta, u0.view(), &labels, lr, &evals);
    let mut w = Array2::<f64>::zeros((p, c));
    for k in 0..=steps {
        let u = &u0 + &a.dot(&w);
        let out = loss_and_grad(Loss::CrossEntropy, u.view(), &labels);
        assert!(
            (out.loss - loss[k]).abs() <= 1e-12 * out.loss.abs().max(1.0),
            "step {k}: parameter-space loss {} vs function-space {}",
            out.loss,
            loss[k]
        );
        assert_eq!(out.correct as f64 / n as f64, acc[k], "step {k}");
        // dL/dw_c = A^T dL/du_c.
        w.scaled_add(-lr, &a.t().dot(&out.grad));
    }
    assert!(loss[steps] < loss[0]);
}

/// The same seed gives the same network and minibatch order at every rate, and the
/// evaluation at step 0 is the initial network: identical at all rates. After that,
/// at a tiny rate the loss moves by O(lr); at an absurd rate SGD departs.
#[test]
fn runs_share_their_start_and_small_steps_collapse() {
    let data = Dataset::synthetic(96, 12, 3, 7);
    let dag = Dag::dag3();
    let small = run_in_time(&dag, &data, 64, 32, 1e-3, 5, &[0, 10, 20, 40]).unwrap();
    let large = run_in_time(&dag, &data, 64, 32, 4e-3, 5, &[0, 5, 10]).unwrap();
    assert_eq!(small.loss[0], large.loss[0]);
    assert_eq!(small.t, vec![0.0, 0.01, 0.02, 0.04]);
    // Same times t = 0.02 and 0.04: the two rates give nearly the same loss. The loss
    // change over the horizon is the scale; 10% of it is the study's collapse tolerance.
    let change = small.loss[0] - small.loss[3];
    assert!(change > 0.0, "training lowers the loss: {:?}", small.loss);
    for (i, j) in [(2, 1), (3, 2)] {
        let gap = (small.loss[i] - large.loss[j]).abs() / change;
        assert!(
            gap < 0.1,
            "t = {}: {} vs {} (gap {gap})",
            small.t[i],
            small.loss[i],
            large.loss[j]
        );
    }
    let wild = run_in_time(&dag, &data, 64, 32, 50.0, 5, &[0, 1, 2, 3, 4]).unwrap();
    let departs = wild.diverged_at.is_some() || wild.loss.iter().any(|l| *l > 2.0 * small.loss[0]);
    assert!(departs, "lr 50 should blow up: {:?}", wild.loss);
}

#[test]
fn bad_budgets_are_refused() {
    let data = Dataset::synthetic(16, 4, 2, 0);
    for (ladder, steps) in [
        (vec![1e-3], 10),
        (vec![1e-3, 2.5e-3], 10),
        (vec![1e-3, 3e-3], 10),
    ] {
        let b = Fig4TimeBudget {
            ladder: ladder.clone(),
            rung_steps: steps,
            ..Fig4TimeBudget::quick()
        };
        let e = fig4_time_on(&data, &b, &mut |_| {}).unwrap_err();
        assert!(e.to_string().contains("invalid budget"), "{ladder:?}: {e}");
    }
}

#[test]
#[cfg_attr(
    not(archconv_data),
    ignore = "needs the shared datasets (ARCHCONV_DATA)"
)]
fn quick_budget_on_mnist() {
    common::data_file("mnist/train-images-idx3-ubyte.gz");
    let b = Fig4TimeBudget::quick();
    let s = fig4_time(&common::data_dir(), &b, &mut |_| {}).unwrap();
    assert_eq!(s.rungs.len(), b.ladder.len() - 1);
    assert!(b.ladder.contains(&s.lr_star));
    // The smallest rung (1e-4 -> 1e-3 at width 256) collapses; lr 1e-1 does not.
    assert!(s.rungs[0].collapses, "{:?}", s.rungs[0].gaps);
    assert!(!s.rungs.last().unwrap().collapses);
    assert_eq!(s.steps, (b.time / s.lr_star).round() as usize);
    for d in &s.dags {
        assert_eq!(d.t.len(), b.checkpoints + 1);
        // The prediction starts from each network's own logits: at t = 0 the predicted
        // and measured accuracies are the same numbers (f64 vs f32 logits of the same
        // weights agree far below any argmax tie here).
        assert_eq!(d.acc_mean[0], d.pred_acc_mean[0], "{}", d.dag);
        // The losses agree to f32 rounding of the logits (relative error of an f32 dot
        // product of length d = 784 is below sqrt(784) x 6e-8 = 2e-6 for random signs;
        // 1e-4 leaves room for the worst case over the layers).
        let (l, p) = (d.loss_mean[0], d.pred_loss_mean[0]);
        assert!(
            (l - p).abs() <= 1e-4 * l,
            "{}: measured {l} vs predicted {p} at t = 0",
            d.dag
        );
        // Both curves train.
        assert!(
            d.loss_mean.last().unwrap() < &l,
            "{}: {:?}",
            d.dag,
            d.loss_mean
        );
        assert!(
            d.pred_loss_mean.last().unwrap() < &p,
            "{}: {:?}",
            d.dag,
            d.pred_loss_mean
        );
        let seeds: Vec<_> = d.runs.iter().map(|r| r.seed).collect();
        assert_eq!(seeds, (0..b.seeds as u64).collect::<Vec<_>>());
    }
}
