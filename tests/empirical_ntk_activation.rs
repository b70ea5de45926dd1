//! The finite-width empirical NTK with general activations, weight and bias variances
//! and trained biases (PAPER.md section 9, issue 13 item 4) against the exact NTK: errors
//! fall like `m^-1/2` for ReLU with biases, erf, GELU and tanh on DAG#3, every term
//! (readout, each edge's weights and bias, the lift) converges separately, the generic
//! code path agrees with the paper's ReLU fast path, and a gradient step with biases
//! decreases the loss by `eta r^T Theta r`.
mod common;

use archconv::activation::Activation;
use archconv::empirical_ntk::empirical_ntk;
use archconv::kernel::exact::Rule;
use archconv::kernel::ntk::NtkVariant;
use archconv::model::{EdgeParams, LiftParams};
use archconv::{Dag, Inputs, Lift};
use common::assert_matrix_close;
use common::width::{
    assert_error_falls_like_m_to_minus_half, assert_every_term_shrinks, WidthRuns,
};

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
        let runs = WidthRuns::new(&widths, seeds, |m, seed| {
            empirical_ntk(&dag, x.view(), lift.clone(), m, seed).unwrap()
        });
        // Slope -1/2 from m = 256 to 4096 within 4 standard errors of the seeds' spread
        // plus 0.1 for the O(1/m) bias at m = 256 (`common::width`, as in tests/ntk.rs).
        let err = runs.theta_errors(&exact.theta(NtkVariant::Full));
        let terms = runs.term_errors(&exact);
        assert_error_falls_like_m_to_minus_half(name, &widths, &err);
        eprintln!("  terms {terms:?}");
        // A wrong bias term would leave a fixed O(sb2) relative error, flattening the
        // slope towards 0: the slope check above catches it.
        assert_every_term_shrinks(name, &terms);
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
    // The step and its tolerance: common::width::assert_gd_step_decreases_the_loss_by_r_theta_r.
    for (name, dag, lift) in cases() {
        common::width::assert_gd_step_decreases_the_loss_by_r_theta_r(name, &dag, &lift, 64);
    }
}
