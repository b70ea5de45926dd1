//! archconv's closed forms against neural-tangents (an independent implementation), from
//! the fixture `tests/fixtures/neural_tangents.json` written by `scripts/nt_fixtures.py`
//! (neural-tangents 0.6.5, jax 0.4.30 in x64; the versions are in the fixture). No Python
//! is needed here.
//!
//! neural-tangents builds each DAG as a stax tree with `FanInSum` forced on post-ReLU
//! branches, so its kernels are archconv's independent-branch kernels, and on chains the
//! exact ones. Every case is checked: ReLU, leaky ReLU, ABReLU, Abs, erf and GELU edges,
//! with the paper's variances (`sw2 = 2`, no biases, dense lift `sw2 = 1`) and with
//! `sw2 = 1.5, sb2 = 0.1` on every edge and a lift with `sw2 = 1, sb2 = 0.05`.
mod common;

use archconv::activation::Activation;
use archconv::kernel::exact::Rule;
use archconv::kernel::ntk::NtkVariant;
use archconv::kernel::{Inputs, KernelKind, Lift};
use archconv::model::{EdgeParams, LiftParams};
use archconv::Dag;
use common::{analytic_tol, EPS};
use ndarray::Array2;
use serde_json::Value;

fn matrix(v: &Value) -> Array2<f64> {
    let rows: Vec<Vec<f64>> = serde_json::from_value(v.clone()).expect("a matrix");
    let n = rows.len();
    Array2::from_shape_fn((n, rows[0].len()), |(i, j)| rows[i][j])
}

/// Compares `ours` with neural-tangents' `nt`: entry `(i, j)` to `tol(i, j)`; prints the
/// entry on failure.
#[track_caller]
fn check(ours: &Array2<f64>, nt: &Array2<f64>, tol: &dyn Fn(usize, usize) -> f64, what: &str) {
    for ((i, j), a) in ours.indexed_iter() {
        let b = nt[[i, j]];
        let tol = tol(i, j);
        assert!(
            (a - b).abs() <= tol,
            "{what}: entry ({i}, {j}): archconv {a} vs neural-tangents {b} (|diff| {:e}, tol {tol:e})",
            (a - b).abs()
        );
    }
}

fn fixture() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/neural_tangents.json"
    ))
    .expect("the fixture ships with the repository");
    serde_json::from_str(&text).expect("valid JSON")
}

/// The fixture's activation as ours.
fn activation(case: &Value) -> Activation {
    let p = &case["activation_params"];
    let f = |k: &str| p[k].as_f64().expect("a number");
    match case["activation"].as_str().expect("a name") {
        "relu" => Activation::Relu,
        "leaky_relu" => Activation::AbRelu {
            a: f("alpha"),
            b: 1.0,
        },
        "abrelu" => Activation::AbRelu {
            a: f("a"),
            b: f("b"),
        },
        "abs" => Activation::Abs,
        "erf" => {
            // neural-tangents' Erf(a, b, c) = a erf(b x) + c; the fixture uses erf itself.
            assert_eq!((f("a"), f("b"), f("c")), (1.0, 1.0, 0.0));
            Activation::Erf
        }
        "gelu" => Activation::Gelu,
        other => panic!("fixture activation {other} has no counterpart"),
    }
}

#[test]
fn every_fixture_case_equals_neural_tangents_independent_branch_and_exact_on_chains() {
    let fx = fixture();
    let x = matrix(&fx["x"]);
    let mut checked = 0;
    for case in fx["cases"].as_array().expect("cases") {
        let f = |k: &str| case[k].as_f64().expect("a number");
        let act = activation(case);
        let params = EdgeParams::new(act.clone(), f("sw2"), f("sb2")).unwrap();
        let lift = LiftParams::dense_with(f("sw2_lift"), f("sb2_lift")).unwrap();
        let paper = params.is_paper_relu() && lift == LiftParams::dense();
        // The paper's model must need no settings at all.
        let inp = if paper {
            Inputs::from_data(x.view(), Lift::Dense).unwrap()
        } else {
            Inputs::from_data_with(x.view(), &lift).unwrap()
        };
        let code = case["dag"].as_str().expect("a DAG code");
        let dag = if paper {
            Dag::parse(code).unwrap()
        } else {
            Dag::parse(code).unwrap().with_all_params(&params)
        };
        // Kinked activations (ReLU family, Abs) have arc-cosine angles, whose conditioning
        // the tolerances below account for; erf and GELU do not.
        let kinked = !matches!(act, Activation::Erf | Activation::Gelu);
        // Every fixture activation has a closed form on our side (GELU included).
        assert!(act.is_closed_form(), "{act}");
        let (nngp, ntk) = (matrix(&case["nngp"]), matrix(&case["ntk"]));
        let scale = ntk.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        // Both sides evaluate the same closed forms in f64: a few dozen rounded operations
        // per entry and edge.
        let edges = dag.edges().len();
        let off_tol = analytic_tol(32 * edges, scale);
        // neural-tangents computes each arc-cosine angle as atan2(sqrt(q q' - k^2), k); on
        // the diagonal the cancellation leaves |q q - k^2| <= 4 eps q^2, an angle up to
        // 2 sqrt(eps), which lowers the derivative map (pi - theta) / pi by up to
        // 2 sqrt(eps) / pi per linear edge. The NNGP map is flat there (its error is
        // O(theta^3)), so only the NTK diagonal needs this allowance.
        let linear = dag.count(archconv::Op::Linear) as f64;
        // The slope factor sw2 max(a^2, b^2) scales the derivative map's error.
        let slope2 = match act {
            Activation::AbRelu { a, b } => a.abs().max(b.abs()).powi(2),
            _ => 1.0,
        };
        let ntk_diag_tol = if kinked {
            off_tol + scale * slope2 * linear * 2.0 * EPS.sqrt() / std::f64::consts::PI
        } else {
            off_tol
        };
        // Off the diagonal, both sides take arccos of a correlation C_ij rounded to about
        // 4 eps on each side; arccos amplifies that by 1 / sin(theta_ij), large for the
        // two nearly parallel points (theta ~ 1e-3). Allow 8 eps / sin(theta) per linear
        // edge, with theta the smallest angle of the pair over every node's Gram.
        let sines = {
            let k = inp.kernel(&dag, KernelKind::IndependentBranch).unwrap();
            let n = x.nrows();
            Array2::from_shape_fn((n, n), |(i, j)| {
                k.nodes()
                    .iter()
                    .map(|st| {
                        let g = &st.gram;
                        let c = g[[i, j]] / (g[[i, i]] * g[[j, j]]).sqrt();
                        (1.0 - c * c).max(0.0).sqrt()
                    })
                    .fold(1.0f64, f64::min)
            })
        };
        let cond = |i: usize, j: usize| {
            scale * slope2 * linear * 8.0 * EPS / sines[[i, j]].max(EPS.sqrt())
        };
        let nngp_tol = |i: usize, j: usize| {
            if i == j {
                off_tol
            } else {
                off_tol + cond(i, j)
            }
        };
        let ntk_tol = |i: usize, j: usize| {
            if i == j {
                ntk_diag_tol
            } else {
                off_tol + cond(i, j)
            }
        };
        let mut rules = vec![(KernelKind::IndependentBranch, Rule::IndependentBranch)];
        if case["chain"] == true {
            rules.push((KernelKind::Exact, Rule::Exact));
        }
        for (kind, rule) in rules {
            let k = inp.kernel(&dag, kind).unwrap().output().gram.clone();
            check(&k, &nngp, &nngp_tol, &format!("{code} {kind:?} NNGP"));
            let theta = inp.ntk(&dag, rule).unwrap().theta(NtkVariant::Full);
            check(&theta, &ntk, &ntk_tol, &format!("{code} {rule:?} NTK"));
        }
        checked += 1;
    }
    // DAG#1-#3 x six activations x two settings.
    assert_eq!(checked, 36, "the fixture holds 36 cases");
}
