//! Exact NTK (PAPER.md section 8): textbook chain recursion, and convergence of the
//! finite-width empirical NTK (explicit backprop) to the exact closed form.
mod common;

use archconv::empirical_ntk::empirical_ntk;
use archconv::kernel::exact::Rule;
use archconv::kernel::ntk::NtkVariant;
use archconv::kernel::relu::{f_matrix, fdot_matrix};
use archconv::kernel::{Inputs, KernelKind, Lift};
use archconv::{Dag, Edge, Op};
use common::width::{
    assert_error_falls_like_m_to_minus_half, assert_every_term_shrinks, mean, WidthRuns,
};
use common::{analytic_tol, assert_matrix_close};

#[test]
fn chain_ntk_is_the_textbook_recursion() {
    let x = Inputs::gaussian(12, 5, 3);
    for lift in [Lift::Dense, Lift::ReluStem] {
        let inp = Inputs::from_data(x.view(), lift).unwrap();
        for depth in 1..4 {
            let ntk = inp.ntk(&Dag::chain(depth), Rule::Exact).unwrap();
            let kd = inp.data_gram().clone();
            // Theta^0 = NTK of a readout on node 0: the readout term K^0 plus the lift
            // weights' term: dense K_data + K_data; stem f(K_data) + K_data * fdot(K_data).
            let (mut k, mut theta) = match lift {
                Lift::Dense => (kd.clone(), &kd + &kd),
                Lift::ReluStem => (
                    f_matrix(kd.view()),
                    f_matrix(kd.view()) + &kd * &fdot_matrix(kd.view()),
                ),
            };
            for _ in 0..depth {
                let next_k = f_matrix(k.view());
                theta = &next_k + &(&theta * &fdot_matrix(k.view()));
                k = next_k;
            }
            assert_matrix_close(
                &ntk.theta(NtkVariant::Full),
                &theta,
                analytic_tol(64, 10.0),
                &format!("chain {depth} {lift}"),
            );
            assert_matrix_close(
                &ntk.theta(NtkVariant::ReadoutOnly),
                &k,
                analytic_tol(64, 1.0),
                "readout = NNGP",
            );
            // Branch rule equals exact on a chain.
            let br = inp
                .ntk(&Dag::chain(depth), Rule::IndependentBranch)
                .unwrap();
            assert_matrix_close(
                &br.theta(NtkVariant::Full),
                &theta,
                analytic_tol(64, 10.0),
                "branch on chain",
            );
        }
    }
}

#[test]
fn readout_term_is_the_exact_nngp() {
    let x = Inputs::gaussian(10, 4, 1);
    let inp = Inputs::from_data(x.view(), Lift::ReluStem).unwrap();
    for (_, dag) in Dag::paper_dags() {
        let ntk = inp.ntk(&dag, Rule::Exact).unwrap();
        let k = inp
            .kernel(&dag, KernelKind::Exact)
            .unwrap()
            .into_output_gram();
        assert_matrix_close(ntk.readout(), &k, 0.0, "readout");
        let th = ntk.theta(NtkVariant::Full);
        for i in 0..10 {
            for j in 0..10 {
                assert_eq!(th[[i, j]], th[[j, i]]);
            }
        }
    }
}

/// A DAG with a skip diamond (1 -> 2 and 1 -> 3 skip, 2 -> 3 skip) between linear edges.
fn skip_diamond() -> Dag {
    let e = |a, b, op| Edge::new(a, b, op);
    Dag::new(
        5,
        vec![
            e(0, 1, Op::Linear),
            e(0, 2, Op::Linear),
            e(1, 2, Op::Skip),
            e(1, 3, Op::Skip),
            e(2, 3, Op::Skip),
            e(3, 4, Op::Linear),
        ],
    )
    .unwrap()
}

#[test]
fn empirical_ntk_converges_to_the_exact_ntk_like_m_to_minus_half() {
    let widths = [256usize, 1024, 4096];
    let seeds = 6;
    let cases = [
        ("DAG#2", Dag::dag2(), Lift::Dense),
        ("DAG#3", Dag::dag3(), Lift::ReluStem),
        ("skip diamond", skip_diamond(), Lift::Dense),
    ];
    let x = Inputs::gaussian(6, 5, 42);
    for (name, dag, lift) in cases {
        let inp = Inputs::from_data(x.view(), lift).unwrap();
        let exact = inp.ntk(&dag, Rule::Exact).unwrap();
        let branch = inp.ntk(&dag, Rule::IndependentBranch).unwrap();
        let runs = WidthRuns::new(&widths, seeds, |m, seed| {
            empirical_ntk(&dag, x.view(), lift, m, seed).unwrap()
        });
        let what = format!("{name} {lift}");
        let err = runs.theta_errors(&exact.theta(NtkVariant::Full));
        assert_error_falls_like_m_to_minus_half(&what, &widths, &err);
        // The independent-branch NTK is a fixed O(1) distance away: its error plateaus.
        let branch_err = runs.theta_errors(&branch.theta(NtkVariant::Full));
        let terms = runs.term_errors(&exact);
        let (e2, b0, b2) = (mean(&err[2]), mean(&branch_err[0]), mean(&branch_err[2]));
        eprintln!("  branch err {b0:.4} -> {b2:.4}; terms {terms:?}");
        assert!(
            b2 > 3.0 * e2 && b2 > 0.5 * b0,
            "{what}: branch error {b0} -> {b2} vs exact {e2}"
        );
        assert_every_term_shrinks(&what, &terms);
    }
}

#[test]
fn gradient_step_decreases_the_loss_by_r_theta_r() {
    // dL = -eta ||grad L||^2 + O(eta^2) and ||grad L||^2 = r^T Theta r with the empirical
    // NTK of the same network: the gradient and the NTK come from one backward pass, but
    // the loss change is measured by re-running the forward pass.
    //
    // Tolerance. With D(h) = (L(0) - L(h)) / h along the step, Taylor gives
    // D(h) = P - (h / 2) c + O(h^2) with P = r^T Theta r and c the curvature along the
    // gradient, so the first-order error of D(eta) is estimated by D(eta) - D(2 eta)
    // (it doubles with the step; the classical a-posteriori estimate). The bound allows
    // twice that, plus the rounding of the two forward passes: each loss has relative
    // error at most gamma_K ~ K u with K = width x nodes (dot-product length times
    // depth), and the difference is divided by eta. A wrong NTK (a missing edge term is
    // a relative error of order 1/edges) fails by orders of magnitude.
    let dag = skip_diamond();
    for lift in [Lift::Dense, Lift::ReluStem] {
        common::width::assert_gd_step_decreases_the_loss_by_r_theta_r(
            &lift.to_string(),
            &dag,
            &lift.into(),
            64,
        );
    }
}
