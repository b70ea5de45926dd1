//! The general network model (PAPER.md section 9) in the closed-form kernels, checked
//! against routes that do not use the library's maps: closed forms written out here,
//! the textbook chain recursions, and exact identities of the DAG algebra.

use archconv::activation::Activation;
use archconv::kernel::exact::Rule;
use archconv::kernel::ntk::NtkVariant;
use archconv::kernel::{Inputs, KernelKind, Lift};
use archconv::model::{EdgeParams, LiftParams};
use archconv::{Dag, DagError, Edge, Op};
use ndarray::Array2;
use std::f64::consts::PI;

fn data() -> Array2<f64> {
    Inputs::gaussian(7, 5, 11)
}

fn max_abs_diff(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
    (a - b).iter().fold(0.0f64, |m, v| m.max(v.abs()))
}

fn scale(a: &Array2<f64>) -> f64 {
    a.iter().fold(0.0f64, |m, v| m.max(v.abs()))
}

/// `sigma = sw2 k + sb2`, then `g(sigma_ii, sigma_jj, sigma_ij)` entrywise.
fn map(k: &Array2<f64>, sw2: f64, sb2: f64, g: impl Fn(f64, f64, f64) -> f64) -> Array2<f64> {
    let s = k.mapv(|v| sw2 * v + sb2);
    Array2::from_shape_fn(k.dim(), |(i, j)| g(s[[i, i]], s[[j, j]], s[[i, j]]))
}

/// E[erf(u) erf(v)] (Williams 1997), written out independently of the library.
fn erf_nngp(a: f64, b: f64, c: f64) -> f64 {
    2.0 / PI * (2.0 * c / ((1.0 + 2.0 * a) * (1.0 + 2.0 * b)).sqrt()).asin()
}

/// E[erf'(u) erf'(v)], erf'(x) = 2/sqrt(pi) exp(-x^2).
fn erf_ntk(a: f64, b: f64, c: f64) -> f64 {
    4.0 / PI / ((1.0 + 2.0 * a) * (1.0 + 2.0 * b) - 4.0 * c * c).sqrt()
}

/// E[relu(u) relu(v)] (Cho and Saul 2009).
fn relu_nngp(a: f64, b: f64, c: f64) -> f64 {
    let r = (a * b).sqrt();
    let cos = (c / r).clamp(-1.0, 1.0);
    let th = cos.acos();
    r / (2.0 * PI) * (th.sin() + (PI - th) * cos)
}

#[test]
fn the_papers_settings_given_explicitly_change_no_bit() {
    let x = data();
    for lift in [Lift::Dense, Lift::ReluStem] {
        let plain = Inputs::from_data(x.view(), lift).unwrap();
        let given = Inputs::from_data_with(x.view(), &LiftParams::from(lift)).unwrap();
        assert_eq!(plain.k0(), given.k0());
        for (name, dag) in Dag::paper_dags() {
            let explicit = dag.clone().with_all_params(&EdgeParams::default());
            for kind in KernelKind::ALL {
                let a = plain.kernel(&dag, kind).unwrap().into_output_gram();
                let b = given.kernel(&explicit, kind).unwrap().into_output_gram();
                assert!(
                    a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()),
                    "{name} {kind} {lift}"
                );
            }
            let a = plain
                .ntk(&dag, Rule::Exact)
                .unwrap()
                .theta(NtkVariant::Full);
            let b = given
                .ntk(&explicit, Rule::Exact)
                .unwrap()
                .theta(NtkVariant::Full);
            assert!(
                a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()),
                "{name} NTK {lift}"
            );
        }
    }
}

#[test]
fn identity_chain_is_the_affine_closed_form() {
    // X^l = sqrt(sw2/m) W X^{l-1} + sqrt(sb2) b: K^L = sw2^L K^0 + sb2 (1 + sw2 + ... + sw2^{L-1}).
    let (sw2, sb2, depth) = (1.5, 0.1, 4);
    let inp = Inputs::from_data(data().view(), Lift::Dense).unwrap();
    let p = EdgeParams::new(Activation::Identity, sw2, sb2).unwrap();
    let dag = Dag::chain(depth).with_all_params(&p);
    let geometric: f64 = (0..depth).map(|l| sw2.powi(l as i32)).sum();
    let expect = inp
        .k0()
        .mapv(|v| sw2.powi(depth as i32) * v + sb2 * geometric);
    for kind in KernelKind::ALL {
        let k = inp.kernel(&dag, kind).unwrap().into_output_gram();
        assert!(max_abs_diff(&k, &expect) < 1e-13 * scale(&expect), "{kind}");
    }
}

#[test]
fn erf_chain_nngp_and_ntk_follow_the_textbook_recursions() {
    // Chain of erf edges after a dense lift with its own variances. Textbook recursion
    // (Jacot et al. 2018; Lee et al. 2019) with pre-activation kernels Sigma^l:
    //   K^0 = sw2_l K_data + sb2_l,  Theta_X^0 = K^0 (lift weights and biases trained)
    //   Sigma^l = sw2 K^{l-1} + sb2,  K^l = E[phi phi](Sigma^l)
    //   Theta_z^l = Sigma^l + sw2 Theta_X^{l-1},  Theta_X^l = E[phi' phi'](Sigma^l) * Theta_z^l
    //   Theta = K^L + Theta_X^L  (readout weights, then everything below).
    let (sw2, sb2, depth) = (1.5, 0.1, 3);
    let lift = LiftParams::dense_with(0.8, 0.05).unwrap();
    let inp = Inputs::from_data_with(data().view(), &lift).unwrap();
    let p = EdgeParams::new(Activation::Erf, sw2, sb2).unwrap();
    let dag = Dag::chain(depth).with_all_params(&p);
    let mut k = inp.k0().clone();
    let mut theta_x = k.clone();
    for _ in 0..depth {
        let kn = map(&k, sw2, sb2, erf_nngp);
        let dot = map(&k, sw2, sb2, erf_ntk);
        let theta_z = k.mapv(|v| sw2 * v + sb2) + theta_x.mapv(|v| sw2 * v);
        theta_x = &dot * &theta_z;
        k = kn;
    }
    let theta = &k + &theta_x;
    for kind in KernelKind::ALL {
        let ours = inp.kernel(&dag, kind).unwrap().into_output_gram();
        assert!(max_abs_diff(&ours, &k) < 1e-13 * scale(&k), "{kind}");
    }
    for rule in [Rule::Exact, Rule::IndependentBranch] {
        let ours = inp.ntk(&dag, rule).unwrap().theta(NtkVariant::Full);
        assert!(
            max_abs_diff(&ours, &theta) < 1e-12 * scale(&theta),
            "{rule:?}: {:e}",
            max_abs_diff(&ours, &theta)
        );
    }
}

#[test]
fn relu_with_bias_parallel_edges_keep_the_mean_cross_term() {
    // Two parallel linear edges 0 -> 1: K^1 = 2 F + 2 a a^T (exact), 2 F (independent
    // branches), with F = E[relu relu](Sigma), a_i = E[relu(u_i)] = sqrt(Sigma_ii / (2 pi)).
    let (sw2, sb2) = (1.7, 0.3);
    let p = EdgeParams::new(Activation::Relu, sw2, sb2).unwrap();
    let dag = Dag::new(
        2,
        vec![
            Edge::linear_with(0, 1, p.clone()),
            Edge::linear_with(0, 1, p),
        ],
    )
    .unwrap();
    let inp = Inputs::from_data(data().view(), Lift::Dense).unwrap();
    let f = map(inp.k0(), sw2, sb2, relu_nngp);
    let a = inp
        .k0()
        .diag()
        .mapv(|v| ((sw2 * v + sb2) / (2.0 * PI)).sqrt());
    let n = a.len();
    let aat = Array2::from_shape_fn((n, n), |(i, j)| a[i] * a[j]);
    let exact = inp
        .kernel(&dag, KernelKind::Exact)
        .unwrap()
        .into_output_gram();
    let branch = inp
        .kernel(&dag, KernelKind::IndependentBranch)
        .unwrap()
        .into_output_gram();
    let want_exact = &f * 2.0 + &aat * 2.0;
    assert!(max_abs_diff(&exact, &want_exact) < 1e-13 * scale(&want_exact));
    assert!(max_abs_diff(&branch, &(&f * 2.0)) < 1e-13 * scale(&f));
}

#[test]
fn odd_activations_differ_between_rules_only_through_skip_pairs() {
    let inp = Inputs::from_data(data().view(), Lift::Dense).unwrap();
    let erf = EdgeParams::new(Activation::Erf, 1.5, 0.1).unwrap();
    // DAG#2 (1_01_222): node 3 sums three linear edges; erf has mean zero, so every
    // cross term vanishes and the exact kernel is the independent-branch one.
    let dag2 = Dag::dag2().with_all_params(&erf);
    let e = inp
        .kernel(&dag2, KernelKind::Exact)
        .unwrap()
        .into_output_gram();
    let b = inp
        .kernel(&dag2, KernelKind::IndependentBranch)
        .unwrap()
        .into_output_gram();
    assert!(max_abs_diff(&e, &b) < 1e-14 * scale(&e));
    // ReLU has a nonzero mean: the same DAG's rules differ by O(1).
    let r = inp
        .kernel(&Dag::dag2(), KernelKind::Exact)
        .unwrap()
        .into_output_gram();
    let rb = inp
        .kernel(&Dag::dag2(), KernelKind::IndependentBranch)
        .unwrap()
        .into_output_gram();
    assert!(max_abs_diff(&r, &rb) > 0.1);
    // Two skip routes from node 1 meet at node 3: X^3 = X^1 + X^2 = 2 X^1, so the exact
    // kernel is 4 F(K^0) and the independent-branch rule (dropping the pair) 2 F(K^0).
    let skip2 = Dag::parse(
        r#"{"nodes": 4, "activation": "erf", "sw2": 1.5, "sb2": 0.1,
        "edges": [[0, 1, "linear"], [1, 2, "skip"], [1, 3, "skip"], [2, 3, "skip"]]}"#,
    )
    .unwrap();
    let f = map(inp.k0(), 1.5, 0.1, erf_nngp);
    let e = inp
        .kernel(&skip2, KernelKind::Exact)
        .unwrap()
        .into_output_gram();
    let b = inp
        .kernel(&skip2, KernelKind::IndependentBranch)
        .unwrap()
        .into_output_gram();
    assert!(max_abs_diff(&e, &(&f * 4.0)) < 1e-13 * scale(&f));
    assert!(max_abs_diff(&b, &(&f * 2.0)) < 1e-13 * scale(&f));
}

#[test]
fn relu_weight_variance_scales_a_bias_free_chain_by_its_power() {
    // ReLU is positively homogeneous: sw2 = c scales each layer's Gram by c / 2.
    let inp = Inputs::from_data(data().view(), Lift::ReluStem).unwrap();
    let depth = 3;
    let base = inp
        .kernel(&Dag::chain(depth), KernelKind::Exact)
        .unwrap()
        .into_output_gram();
    let p = EdgeParams::new(Activation::Relu, 3.0, 0.0).unwrap();
    let k = inp
        .kernel(&Dag::chain(depth).with_all_params(&p), KernelKind::Exact)
        .unwrap()
        .into_output_gram();
    let want = base.mapv(|v| 1.5f64.powi(depth as i32) * v);
    assert!(max_abs_diff(&k, &want) < 1e-14 * scale(&want));
}

#[test]
fn settings_that_do_not_apply_or_do_not_make_sense_are_typed_errors() {
    // Parameters on a skip edge.
    let mut e = Edge::new(0, 1, Op::Skip);
    e.params = Some(EdgeParams::default());
    match Dag::new(2, vec![e]) {
        Err(DagError::ParamsOnNonParameterized {
            index: 0,
            op: Op::Skip,
            ..
        }) => {}
        other => panic!("expected ParamsOnNonParameterized, got {other:?}"),
    }
    let text =
        r#"{"nodes": 2, "edges": [{"from": 0, "to": 1, "op": "skip", "activation": "erf"}]}"#;
    let msg = Dag::parse(text).unwrap_err().to_string();
    assert!(
        msg.contains("edge #0 0 -> 1") && msg.contains("no weights"),
        "{msg}"
    );
    // Negative and non-finite variances.
    for (sw2, sb2) in [
        (-1.0, 0.0),
        (f64::NAN, 0.0),
        (1.0, f64::INFINITY),
        (1.0, -0.5),
    ] {
        assert!(EdgeParams::new(Activation::Relu, sw2, sb2).is_err());
        assert!(LiftParams::dense_with(sw2, sb2).is_err());
    }
    let msg = Dag::parse(r#"{"nodes": 2, "sw2": -2, "edges": [[0, 1, "linear"]]}"#)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("sw2 = -2") && msg.contains("at byte"), "{msg}");
    // Unknown activation, with the position of the key.
    let msg = Dag::parse(
        r#"{"nodes": 2, "edges": [{"from": 0, "to": 1, "op": "linear", "activation": "swish9"}]}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(msg.contains("swish9") && msg.contains("at byte"), "{msg}");
    // The path-sum rule composes one map along every path: mixed edges are refused.
    let mixed = Dag::new(
        3,
        vec![
            Edge::linear_with(0, 1, EdgeParams::new(Activation::Erf, 1.0, 0.0).unwrap()),
            Edge::new(1, 2, Op::Linear),
        ],
    )
    .unwrap();
    let inp = Inputs::from_data(data().view(), Lift::Dense).unwrap();
    let err = inp
        .kernel(&mixed, KernelKind::PathSum)
        .unwrap_err()
        .to_string();
    assert!(err.contains("path-sum") && err.contains("1 -> 2"), "{err}");
    assert!(inp.kernel(&mixed, KernelKind::Exact).is_ok());
}
