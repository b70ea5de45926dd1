//! Closed-form kernels: section-3 formulas, hand-derived exact kernels, a naive
//! second implementation of the section-7 recursion, and shared invariants.
mod common;

use archconv::kernel::relu::{f_matrix, h, h_iter};
use archconv::kernel::{Inputs, KernelError, KernelKind, Lift};
use archconv::spectrum::{eigenvalues, lambda_min};
use archconv::{Dag, Edge, Op};
use common::{analytic_tol, assert_matrix_close};
use ndarray::{array, Array1, Array2};
use proptest::prelude::*;
use std::f64::consts::PI;

fn two_points(c: f64) -> Inputs {
    Inputs::from_gram(array![[1.0, c], [c, 1.0]], Lift::Dense).unwrap()
}

const CS: [f64; 7] = [-0.8, -0.3, 0.0, 0.2, 0.5, 0.8, 0.95];

#[test]
fn pathsum_matches_section_3_formulas() {
    for c in CS {
        let inp = two_points(c);
        let sums = [h_iter(c, 3), 3.0 * h(c), c + h(c) + 2.0 * h_iter(c, 2)];
        let lambdas = [
            1.0 - h_iter(c, 3),
            3.0 * (1.0 - h(c)),
            4.0 - (c + h(c) + 2.0 * h_iter(c, 2)),
        ];
        for (i, (_, dag)) in Dag::paper_dags().iter().enumerate() {
            let g = inp
                .kernel(dag, KernelKind::PathSum)
                .unwrap()
                .into_output_gram();
            let p = [1.0, 3.0, 4.0][i];
            assert_eq!(g[[0, 0]], p);
            assert!(
                (g[[0, 1]] - sums[i]).abs() <= analytic_tol(8, p),
                "DAG#{} c={c}",
                i + 1
            );
            // The eigenvalues of [[P, s], [s, P]] are P - s (the paper's lambda_i) and P + s;
            // lambda_min = P - |s| equals lambda_i exactly when the path sum s is >= 0.
            let ev = eigenvalues(&g).unwrap();
            assert!((ev[0] - (p - sums[i].abs())).abs() <= analytic_tol(8, p));
            if sums[i] >= 0.0 {
                assert!(
                    (ev[0] - lambdas[i]).abs() <= analytic_tol(8, p),
                    "DAG#{} c={c}: {} vs {}",
                    i + 1,
                    ev[0],
                    lambdas[i]
                );
            }
        }
        assert!(
            lambdas[0] < lambdas[1] && lambdas[1] < lambdas[2],
            "paper ordering at c={c}"
        );
    }
}

#[test]
fn exact_dag2_has_the_hand_derived_cross_terms() {
    // Dense lift, mu^0 = 0. Nodes 1 and 2 are copies of node 0 (skip chain); node 3 sums
    // three linear edges, each with mean sqrt(1/pi): K3 = 3 f(K0) + 6/pi (6 ordered pairs).
    for c in CS {
        let g = two_points(c)
            .kernel(&Dag::dag2(), KernelKind::Exact)
            .unwrap()
            .into_output_gram();
        assert!((g[[0, 1]] - (3.0 * h(c) + 6.0 / PI)).abs() <= analytic_tol(8, 4.0));
        assert!((g[[1, 1]] - (3.0 + 6.0 / PI)).abs() <= analytic_tol(8, 4.0));
    }
}

#[test]
fn exact_dag3_has_the_hand_derived_cross_terms() {
    // Dense lift. Node 1 = lin(0): mean 1/sqrt(pi). Node 2 = lin(0) + skip(1):
    // K2 = 2 f(K0) + (2/pi) 11^T (pairs (lin, skip) twice), mean 2/sqrt(pi).
    // Node 3 = skip(0) + skip(1) + lin(2): S^{1,0} = a_{01} (mu^0)^T = 0, so the skip pair
    // adds nothing; the (skip 1, lin 2) pairs add 2 * (1/sqrt(pi)) * sqrt(diag K2 / pi).
    for c in CS {
        let g = two_points(c)
            .kernel(&Dag::dag3(), KernelKind::Exact)
            .unwrap()
            .into_output_gram();
        let d2 = 2.0 + 2.0 / PI;
        let off2 = 2.0 * h(c) + 2.0 / PI;
        let a_l = (d2 / PI).sqrt();
        let cross = 2.0 * a_l / PI.sqrt();
        let expect_off = c + h(c) + d2 * h(off2 / d2) + cross;
        let expect_diag = 2.0 + d2 + cross;
        assert!(
            (g[[0, 1]] - expect_off).abs() <= analytic_tol(16, 5.0),
            "c={c}: {} vs {expect_off}",
            g[[0, 1]]
        );
        assert!((g[[0, 0]] - expect_diag).abs() <= analytic_tol(16, 5.0));
    }
}

#[test]
fn branch_kernel_is_the_exact_kernel_without_cross_terms_on_dag2() {
    let x = Inputs::gaussian(20, 7, 3);
    let inp = Inputs::from_data(x.view(), Lift::Dense).unwrap();
    let ex = inp
        .kernel(&Dag::dag2(), KernelKind::Exact)
        .unwrap()
        .into_output_gram();
    let br = inp
        .kernel(&Dag::dag2(), KernelKind::IndependentBranch)
        .unwrap()
        .into_output_gram();
    let expect = &br + &Array2::from_elem((20, 20), 6.0 / PI);
    assert_matrix_close(
        &ex,
        &expect,
        analytic_tol(20, 5.0),
        "exact = branch + 6/pi 11^T",
    );
}

#[test]
fn all_three_kernels_agree_on_chains() {
    let x = Inputs::gaussian(24, 5, 11);
    for lift in [Lift::Dense, Lift::ReluStem] {
        let inp = Inputs::from_data(x.view(), lift).unwrap();
        for depth in 1..5 {
            let dag = Dag::chain(depth);
            let ps = inp.kernel(&dag, KernelKind::PathSum).unwrap();
            for kind in [KernelKind::IndependentBranch, KernelKind::Exact] {
                let k = inp.kernel(&dag, kind).unwrap();
                for t in 0..=depth {
                    assert_matrix_close(
                        &k.node(t).gram,
                        &ps.node(t).gram,
                        analytic_tol(24, 1.0),
                        &format!("{kind} depth {depth} node {t} {lift}"),
                    );
                }
            }
            // And the chain is f applied `depth` times.
            let mut f = inp.k0().clone();
            for _ in 0..depth {
                f = f_matrix(f.view());
            }
            assert_matrix_close(&ps.output().gram, &f, analytic_tol(24, 1.0), "chain = f^d");
        }
    }
}

#[test]
fn exact_lambda_min_orders_dag1_below_dag2_below_dag3_on_seeded_data() {
    for seed in 0..3 {
        let x = Inputs::gaussian(64, 32, seed);
        let inp = Inputs::from_data(x.view(), Lift::Dense).unwrap();
        let l: Vec<f64> = Dag::paper_dags()
            .iter()
            .map(|(_, d)| {
                lambda_min(&inp.kernel(d, KernelKind::Exact).unwrap().into_output_gram()).unwrap()
            })
            .collect();
        assert!(l[0] < l[1] && l[1] < l[2], "seed {seed}: {l:?}");
    }
}

#[test]
fn relu_stem_lift_is_f_of_the_data_gram_with_mean() {
    let x = Inputs::gaussian(10, 4, 5);
    let dense = Inputs::from_data(x.view(), Lift::Dense).unwrap();
    let stem = Inputs::from_data(x.view(), Lift::ReluStem).unwrap();
    assert_matrix_close(stem.k0(), &f_matrix(dense.k0().view()), 0.0, "stem K0");
    assert!(stem
        .mu0()
        .iter()
        .all(|&m| (m - (1.0 / PI).sqrt()).abs() < 1e-15));
    assert!(dense.mu0().iter().all(|&m| m == 0.0));
}

#[test]
fn bad_inputs_are_typed_errors() {
    let mut x = Inputs::gaussian(5, 3, 0);
    x[[3, 1]] = f64::NAN;
    match Inputs::from_data(x.view(), Lift::Dense) {
        Err(KernelError::NonFinite { row: 3, col: 1, .. }) => {}
        other => panic!("{other:?}"),
    }
    let one = Inputs::gaussian(1, 3, 0);
    assert!(matches!(
        Inputs::from_data(one.view(), Lift::Dense),
        Err(KernelError::TooFewPoints { n: 1 })
    ));
    assert!(matches!(
        Inputs::from_gram(array![[1.0, 0.5], [0.4, 1.0]], Lift::Dense),
        Err(KernelError::NotSymmetric { .. })
    ));
    assert!(matches!(
        Inputs::from_gram(array![[1.0, 2.0], [2.0, 1.0]], Lift::Dense),
        Err(KernelError::NotGram { .. })
    ));
    assert!(matches!(
        Inputs::from_gram(Array2::zeros((2, 3)), Lift::Dense),
        Err(KernelError::NotSquare { .. })
    ));
    let no_path = Dag::new(3, vec![Edge::new(0, 1, Op::Linear)]).unwrap();
    for kind in KernelKind::ALL {
        assert!(matches!(
            two_points(0.1).kernel(&no_path, kind),
            Err(KernelError::NoPath { node: 2 })
        ));
    }
    // Zero rows are allowed and produce finite kernels.
    let mut z = Inputs::gaussian(4, 3, 1);
    z.row_mut(2).fill(0.0);
    let inp = Inputs::from_data(z.view(), Lift::ReluStem).unwrap();
    let g = inp
        .kernel(&Dag::dag3(), KernelKind::Exact)
        .unwrap()
        .into_output_gram();
    assert!(g.iter().all(|v| v.is_finite()));
}

/// A naive second implementation of PAPER.md section 7: every ordered pair of incoming
/// edges is visited and every cross-node Gram S^{t,u} is materialised eagerly.
#[allow(clippy::needless_range_loop)]
fn naive_exact(dag: &Dag, k0: &Array2<f64>, mu0: &Array1<f64>) -> Vec<Array2<f64>> {
    let n = dag.num_nodes();
    let np = k0.nrows();
    // s[t][u] = S^{t,u} for all t, u.
    let mut s: Vec<Vec<Array2<f64>>> = vec![vec![Array2::zeros((np, np)); n]; n];
    let mut mu: Vec<Array1<f64>> = vec![Array1::zeros(np); n];
    for t in 0..n {
        if dag.is_input(t) {
            mu[t] = mu0.clone();
            for u in 0..=t {
                if dag.is_input(u) {
                    s[t][u] = k0.clone();
                    s[u][t] = k0.clone();
                }
            }
            continue;
        }
        let ins: Vec<&Edge> = dag.in_edges(t).collect();
        let mean = |e: &Edge, s: &Vec<Vec<Array2<f64>>>, mu: &Vec<Array1<f64>>| -> Array1<f64> {
            if e.op == Op::Linear {
                s[e.from][e.from].diag().mapv(|v| (v / PI).sqrt())
            } else {
                mu[e.from].clone()
            }
        };
        let a: Vec<Array1<f64>> = ins.iter().map(|e| mean(e, &s, &mu)).collect();
        let mut m = Array1::zeros(np);
        for ai in &a {
            m += ai;
        }
        mu[t] = m;
        for u in 0..t {
            let mut acc = Array2::zeros((np, np));
            for (e, ae) in ins.iter().zip(&a) {
                if e.op == Op::Skip {
                    acc += &s[e.from][u];
                } else {
                    for i in 0..np {
                        for j in 0..np {
                            acc[[i, j]] += ae[i] * mu[u][j];
                        }
                    }
                }
            }
            s[u][t] = acc.t().to_owned();
            s[t][u] = acc;
        }
        let mut k = Array2::zeros((np, np));
        for (x, (e, ae)) in ins.iter().zip(&a).enumerate() {
            for (y, (e2, ae2)) in ins.iter().zip(&a).enumerate() {
                if e.op == Op::Skip && e2.op == Op::Skip {
                    k += &s[e.from][e2.from];
                } else if x == y {
                    k += &f_matrix(s[e.from][e.from].view());
                } else {
                    for i in 0..np {
                        for j in 0..np {
                            k[[i, j]] += ae[i] * ae2[j];
                        }
                    }
                }
            }
        }
        s[t][t] = k;
    }
    (0..n).map(|t| s[t][t].clone()).collect()
}

fn arb_dag() -> impl Strategy<Value = Dag> {
    (2usize..7).prop_flat_map(|n| {
        proptest::collection::vec((0usize..n, 0usize..n, 1u8..3), 1..14).prop_map(move |raw| {
            let mut edges: Vec<Edge> = raw
                .into_iter()
                .filter(|(a, b, _)| a != b)
                .map(|(a, b, o)| {
                    Edge::new(
                        a.min(b),
                        a.max(b),
                        if o == 1 { Op::Skip } else { Op::Linear },
                    )
                })
                .collect();
            // Guarantee a path so kernels are defined.
            edges.push(Edge::new(0, n - 1, Op::Linear));
            Dag::new(n, edges).unwrap()
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    #[allow(clippy::needless_range_loop)]
    fn exact_recursion_matches_naive_pairwise_implementation(dag in arb_dag(), seed in 0u64..1000, stem in proptest::bool::ANY) {
        let x = Inputs::gaussian(6, 3, seed);
        let lift = if stem { Lift::ReluStem } else { Lift::Dense };
        let inp = Inputs::from_data(x.view(), lift).unwrap();
        let k = inp.kernel(&dag, KernelKind::Exact).unwrap();
        let naive = naive_exact(&dag, inp.k0(), inp.mu0());
        for t in 0..dag.num_nodes() {
            let scale = naive[t].iter().fold(1.0f64, |a, &b| a.max(b.abs()));
            let (d, (i, j)) = common::worst_diff(&k.node(t).gram, &naive[t]);
            prop_assert!(d <= analytic_tol(64, scale), "node {t} ({i},{j}): {d:e}");
        }
    }

    #[test]
    fn every_kernel_is_symmetric_psd_and_finite(dag in arb_dag(), seed in 0u64..1000, stem in proptest::bool::ANY) {
        let x = Inputs::gaussian(8, 4, seed);
        let lift = if stem { Lift::ReluStem } else { Lift::Dense };
        let inp = Inputs::from_data(x.view(), lift).unwrap();
        for kind in KernelKind::ALL {
            let g = inp.kernel(&dag, kind).unwrap().into_output_gram();
            prop_assert!(g.iter().all(|v| v.is_finite()));
            let scale = g.diag().iter().fold(0.0f64, |a, &b| a.max(b));
            for i in 0..8 { for j in 0..8 { prop_assert_eq!(g[[i, j]], g[[j, i]]); } }
            let ev = eigenvalues(&g).unwrap();
            prop_assert!(ev[0] >= -analytic_tol(64, scale), "{kind}: lambda_min {}", ev[0]);
        }
    }
}
