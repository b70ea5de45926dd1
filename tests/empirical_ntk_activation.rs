//! The finite-width empirical NTK with general activations, weight and bias variances
//! and trained biases (PAPER.md section 9, issue 13 item 4) against the exact NTK: errors
//! fall like `m^-1/2` for ReLU with biases, erf, GELU and tanh on DAG#3, every term
//! (readout, each edge's weights and bias, the lift) converges separately, the generic
//! code path agrees with the paper's ReLU fast path, and a gradient step with biases
//! decreases the loss by `eta r^T Theta r`.
mod common;

use archconv::activation::Activation;
use archconv::empirical_ntk::{empirical_ntk, Network};
use archconv::kernel::exact::Rule;
use archconv::kernel::ntk::{Ntk, NtkVariant};
use archconv::model::{EdgeParams, LiftParams};
use archconv::{Dag, Inputs, Lift};
use common::{assert_matrix_close, rel_frobenius};
use ndarray::Array2;
use rayon::prelude::*;

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn sd(v: &[f64]) -> f64 {
    let m = mean(v);
    (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() as f64 - 1.0)).sqrt()
}

fn terms_of(n: &Ntk) -> Vec<Array2<f64>> {
    let mut v = vec![n.readout().clone()];
    v.extend(n.edge_terms().iter().map(|(_, t)| t.clone()));
    v.push(n.lift().clone());
    v
}

/// The networks checked: DAG#3 with every linear edge given `edge`, and a lift with its
/// own activation or variances (biases everywhere, so every bias path is exercised).
fn cases() -> Vec<(&'static str, Dag, LiftParams)> {
    let p = |a: Activation, sw2: f64, sb2: f64| EdgeParams::new(a, sw2, sb2).unwrap();
    vec![
        (
            "relu sw2=2 sb2=0.5, relu stem sb2=0.2",
            Dag::dag3().with_all_params(&p(Activation::Relu, 2.0, 0.5)),
            LiftParams::stem(Activation::Relu, 2.0, 0.2).unwrap(),
        ),
        (
            "erf sw2=1.5 sb2=0.5, dense lift sb2=0.3",
            Dag::dag3().with_all_params(&p(Activation::Erf, 1.5, 0.5)),
            LiftParams::dense_with(1.0, 0.3).unwrap(),
        ),
        (
            "gelu sw2=2 sb2=0.3, gelu stem sb2=0.2",
            Dag::dag3().with_all_params(&p(Activation::Gelu, 2.0, 0.3)),
            LiftParams::stem(Activation::Gelu, 1.5, 0.2).unwrap(),
        ),
        (
            "tanh sw2=1.5 sb2=0.5, erf stem sb2=0.2",
            Dag::dag3().with_all_params(&p(Activation::Tanh, 1.5, 0.5)),
            LiftParams::stem(Activation::Erf, 1.0, 0.2).unwrap(),
        ),
    ]
}

#[test]
fn empirical_ntk_with_activations_and_biases_converges_like_m_to_minus_half() {
    let widths = [256usize, 1024, 4096];
    let seeds = 8u64;
    let x = Inputs::gaussian(6, 5, 42);
    for (name, dag, lift) in cases() {
        let exact = Inputs::from_data_with(x.view(), &lift)
            .unwrap()
            .ntk(&dag, Rule::Exact)
            .unwrap();
        let te = exact.theta(NtkVariant::Full);
        let exact_terms = terms_of(&exact);
        // Per width: per-seed error of Theta, and per term the mean error over seeds.
        let mut err: Vec<Vec<f64>> = vec![];
        let mut terms: Vec<Vec<f64>> = vec![];
        for &m in &widths {
            let runs: Vec<Ntk> = (0..seeds)
                .into_par_iter()
                .map(|s| empirical_ntk(&dag, x.view(), lift.clone(), m, 1000 + s).unwrap())
                .collect();
            err.push(
                runs.iter()
                    .map(|r| rel_frobenius(&r.theta(NtkVariant::Full), &te))
                    .collect(),
            );
            terms.push(
                (0..exact_terms.len())
                    .map(|k| {
                        runs.iter()
                            .map(|r| rel_frobenius(&terms_of(r)[k], &exact_terms[k]))
                            .sum::<f64>()
                            / seeds as f64
                    })
                    .collect(),
            );
        }
        let (e0, e2) = (mean(&err[0]), mean(&err[2]));
        // Over a 16x width increase an m^-1/2 error shrinks 4x. The tolerance on the
        // log-ratio of the means comes from the seeds' spread: se(log mean) ~
        // sd / (mean sqrt(S)) at each width, 4 standard errors, plus 0.1 for the O(1/m)
        // bias at m = 256 (the same rule as tests/ntk.rs).
        let se = (sd(&err[0]) / e0).hypot(sd(&err[2]) / e2) / (seeds as f64).sqrt();
        let slope = (e2 / e0).ln() / 16f64.ln();
        let slope_tol = 4.0 * se / 16f64.ln() + 0.1;
        eprintln!(
            "{name}: err {:?} slope {slope:.3} +- {slope_tol:.3}; terms {terms:?}",
            err.iter().map(|v| mean(v)).collect::<Vec<_>>()
        );
        assert!(
            (slope + 0.5).abs() <= slope_tol,
            "{name}: slope {slope} (tolerance {slope_tol}); errors {err:?}"
        );
        // A wrong bias term would leave a fixed O(sb2) relative error, flattening the
        // slope towards 0: the slope check above catches it.
        // Every term converges separately: each term's error shrinks by at least 2x
        // over the 16x width increase (expected 4x; 2x leaves room for seed noise).
        for k in 0..terms[0].len() {
            assert!(
                terms[2][k] < 0.5 * terms[0][k],
                "{name}: term {k}: {terms:?}"
            );
        }
    }
}

#[test]
fn generic_path_matches_the_paper_relu_fast_path() {
    // AbRelu(0, 1) is relu, but it is not `is_paper_relu`, so it runs the general code
    // (phi(sqrt(sw2) z), sqrt(sw2) phi'(h)) instead of the fast path
    // (sqrt(2) relu(z), sqrt(2) 1[z > 0]). The two differ only by the rounding of
    // sqrt(2) z versus sqrt(2) relu(z): one ulp per activation, propagated through
    // O(nodes) GEMMs of length m.
    let x = Inputs::gaussian(5, 4, 3);
    let relu_like = EdgeParams::new(Activation::AbRelu { a: 0.0, b: 1.0 }, 2.0, 0.0).unwrap();
    let stem_like = LiftParams::stem(Activation::AbRelu { a: 0.0, b: 1.0 }, 2.0, 0.0).unwrap();
    let m = 128;
    for (dag, name) in [(Dag::dag2(), "DAG#2"), (Dag::dag3(), "DAG#3")] {
        let fast = empirical_ntk(&dag, x.view(), Lift::ReluStem, m, 5).unwrap();
        let generic = empirical_ntk(
            &dag.clone().with_all_params(&relu_like),
            x.view(),
            stem_like.clone(),
            m,
            5,
        )
        .unwrap();
        let (a, b) = (
            fast.theta(NtkVariant::Full),
            generic.theta(NtkVariant::Full),
        );
        let scale = a.iter().fold(0.0f64, |s, &v| s.max(v.abs()));
        assert_matrix_close(
            &b,
            &a,
            common::analytic_tol(m * dag.num_nodes(), scale),
            &format!("{name}: generic vs fast path"),
        );
    }
    // Explicit default parameters take the fast path: bit-identical to the Lift API.
    let dag = Dag::dag3().with_all_params(&EdgeParams::default());
    let a = empirical_ntk(&Dag::dag3(), x.view(), Lift::Dense, m, 9).unwrap();
    let b = empirical_ntk(&dag, x.view(), LiftParams::dense(), m, 9).unwrap();
    assert_eq!(a.theta(NtkVariant::Full), b.theta(NtkVariant::Full));
}

#[test]
fn gradient_step_with_biases_decreases_the_loss_by_r_theta_r() {
    // As in tests/ntk.rs: dL = -eta ||grad L||^2 + O(eta^2), ||grad L||^2 = r^T Theta r,
    // now with trained biases (edges and lift) and smooth activations. The gradient of
    // the biases and their NTK term come from the same signal gb; a bias gradient that
    // gd_step forgot or mis-scaled changes d1 by O(sb2 / sw2) relative, far outside the
    // tolerance. Tolerance: twice the a-posteriori first-order estimate |D(eta) -
    // D(2 eta)| plus the rounding of two forward passes (gamma_K, K = width x nodes).
    let x = Inputs::gaussian(5, 4, 8);
    let y = ndarray::Array1::from(vec![1.0, -1.0, 0.5, 0.0, 2.0]);
    let width = 64;
    for (name, dag, lift) in cases() {
        let fresh = || Network::new(&dag, 4, lift.clone(), width, 3).unwrap();
        let net = fresh();
        let theta = net.ntk(x.view()).unwrap().theta(NtkVariant::Full);
        let r = &net.outputs(x.view()).unwrap() - &y;
        let predicted = r.dot(&theta.dot(&r));
        let step = |h: f64| {
            let mut net = fresh();
            let l0 = net.gd_step(x.view(), &y, h).unwrap();
            let r1 = &net.outputs(x.view()).unwrap() - &y;
            (l0, 0.5 * r1.dot(&r1))
        };
        let eta = 1e-7;
        let (l0, l1) = step(eta);
        let (_, l2) = step(2.0 * eta);
        let d1 = (l0 - l1) / eta;
        let d2 = (l0 - l2) / (2.0 * eta);
        let k = (width * dag.num_nodes()) as f64;
        let rounding = 2.0 * k * (f64::EPSILON / 2.0) * l0 / eta;
        let tol = 2.0 * (d1 - d2).abs() + rounding;
        assert!(
            (d1 - predicted).abs() <= tol,
            "{name}: {d1} vs {predicted} (second-order estimate {}, tolerance {tol:e})",
            d1 - d2
        );
    }
}
