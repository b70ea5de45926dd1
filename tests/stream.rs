//! Issue 13, item 5 (kernel half): the streamed output kernels (`Inputs::output_kernel`)
//! against the stored-state recursion (`Inputs::kernel`) and the backward-pass NTK
//! (`Inputs::ntk`), two independent algorithms: the streamed one builds node features as
//! skip-path-weighted sums of fresh edge outputs and runs the NTK forward, tile by tile;
//! the other keeps every node's Gram, symbolic cross-node Grams, and runs the NTK backward.
//! Tolerance: both compute the same sums in a different order, so they agree to a few
//! hundred ulps of the largest diagonal entry (1e-12 relative; quadrature activations use
//! the same tables on both sides).

use archconv::activation::Activation;
use archconv::kernel::exact::Rule;
use archconv::kernel::ntk::NtkVariant;
use archconv::kernel::{Inputs, KernelError, KernelKind};
use archconv::model::{EdgeParams, LiftParams};
use archconv::{Dag, Edge, Op};
use ndarray::Array2;
use std::sync::{Mutex, MutexGuard};

mod common;
use common::dags::dags;

/// The memory cap is process-wide: every test holds this lock, and the budget test
/// restores the default before releasing it.
static LOCK: Mutex<()> = Mutex::new(());

fn lock() -> MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn max_abs_diff(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
    a.iter()
        .zip(b.iter())
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
}

fn scale(a: &Array2<f64>) -> f64 {
    a.diag().iter().fold(0.0f64, |m, &v| m.max(v.abs()))
}

fn check(inp: &Inputs, dag: &Dag, what: &str) {
    for (rule, kind) in [
        (Rule::Exact, KernelKind::Exact),
        (Rule::IndependentBranch, KernelKind::IndependentBranch),
    ] {
        let k = match inp.kernel(dag, kind) {
            Ok(k) => k.into_output_gram(),
            Err(KernelError::NoPath { node }) => {
                let e = inp.output_kernel(dag, rule, None).unwrap_err();
                assert!(
                    matches!(e, KernelError::NoPath { node: m } if m == node),
                    "{what}: {e}"
                );
                continue;
            }
            Err(e) => panic!("{what}: {e}"),
        };
        let ntk = inp.ntk(dag, rule).unwrap();
        for variant in [
            NtkVariant::Full,
            NtkVariant::FrozenLift,
            NtkVariant::ReadoutOnly,
        ] {
            let out = inp.output_kernel(dag, rule, Some(variant)).unwrap();
            let ks = out.nngp().to_unscaled().unwrap();
            let s = scale(&k);
            let d = max_abs_diff(&ks, &k);
            assert!(d <= 1e-12 * s, "{what} {rule:?} NNGP: {d:e} (scale {s:e})");
            let th = ntk.theta(variant);
            let ts = out.ntk().unwrap().to_unscaled().unwrap();
            let s = scale(&th);
            let d = max_abs_diff(&ts, &th);
            assert!(
                d <= 1e-12 * s,
                "{what} {rule:?} {variant:?} NTK: {d:e} (scale {s:e})"
            );
        }
        let only = inp.output_kernel(dag, rule, None).unwrap();
        assert!(only.ntk().is_none());
        assert_eq!(only.nngp().to_unscaled().unwrap().dim(), k.dim());
    }
}

#[test]
fn paper_defaults_match_the_recursion_and_the_backward_ntk() {
    let _guard = lock();
    let x = Inputs::gaussian(9, 5, 3);
    for lift in [LiftParams::dense(), LiftParams::relu_stem()] {
        let inp = Inputs::from_data_with(x.view(), &lift).unwrap();
        for (name, dag) in dags() {
            check(&inp, &dag, &format!("{name} {lift}"));
        }
    }
}

#[test]
fn activations_and_biases_match_the_recursion_and_the_backward_ntk() {
    let _guard = lock();
    let x = Inputs::gaussian(7, 4, 11);
    let acts = [
        Activation::Erf,
        Activation::Gelu,
        Activation::Abs,
        Activation::AbRelu { a: 0.2, b: 1.1 },
        Activation::Tanh,
        Activation::Identity,
    ];
    let lifts = [
        LiftParams::dense_with(1.3, 0.2).unwrap(),
        LiftParams::stem(Activation::Erf, 1.0, 0.1).unwrap(),
    ];
    for act in acts {
        let p = EdgeParams::new(act.clone(), 1.4, 0.15).unwrap();
        for lift in &lifts {
            // Unnormalised data too: distinct diagonals (per-entry routes).
            for normalised in [true, false] {
                if !normalised && !act.is_closed_form() {
                    continue; // per-entry quadrature on both sides: slow, same route
                }
                let inp = if normalised {
                    Inputs::from_data_with(x.view(), lift).unwrap()
                } else {
                    Inputs::from_data_unnormalized_with(x.view(), lift).unwrap()
                };
                for (name, dag) in dags().into_iter().skip(2).take(3) {
                    let dag = dag.with_all_params(&p);
                    check(
                        &inp,
                        &dag,
                        &format!("{name} {act} {lift} normalised={normalised}"),
                    );
                }
            }
        }
    }
}

#[test]
fn mixed_edges_match_the_recursion() {
    let _guard = lock();
    let x = Inputs::gaussian(6, 3, 5);
    let inp = Inputs::from_data(x.view(), archconv::Lift::Dense).unwrap();
    let erf = EdgeParams::new(Activation::Erf, 1.0, 0.3).unwrap();
    let gelu = EdgeParams::new(Activation::Gelu, 2.0, 0.0).unwrap();
    let dag = Dag::new(
        4,
        vec![
            Edge::linear_with(0, 1, erf.clone()),
            Edge::linear_with(0, 2, gelu.clone()),
            Edge::new(1, 2, Op::Skip),
            Edge::new(0, 3, Op::Linear),
            Edge::linear_with(2, 3, erf),
            Edge::new(1, 3, Op::Skip),
        ],
    )
    .unwrap();
    check(&inp, &dag, "mixed");
}

#[test]
fn no_path_is_an_error() {
    let _guard = lock();
    let x = Inputs::gaussian(4, 3, 0);
    let inp = Inputs::from_data(x.view(), archconv::Lift::Dense).unwrap();
    let dag = Dag::new(3, vec![Edge::new(0, 1, Op::Linear)]).unwrap();
    assert!(matches!(
        inp.output_kernel(&dag, Rule::Exact, None),
        Err(KernelError::NoPath { node: 2 })
    ));
}

/// `stages` diamonds in a row: `s -> a`, `s -> b` linear, `a -> t`, `b -> t` skip. Each
/// stage multiplies the kernel's scale by about 2.6 (two branches plus their cross term),
/// so 850 stages reach about 10^358, past f64's range.
fn ladder(stages: usize) -> Dag {
    let mut edges = Vec::new();
    for k in 0..stages {
        let (s, a, b, t) = (3 * k, 3 * k + 1, 3 * k + 2, 3 * k + 3);
        edges.push(Edge::new(s, a, Op::Linear));
        edges.push(Edge::new(s, b, Op::Linear));
        edges.push(Edge::new(a, t, Op::Skip));
        edges.push(Edge::new(b, t, Op::Skip));
    }
    Dag::new(3 * stages + 1, edges).unwrap()
}

/// Past f64's range the scaled form is exact: ReLU without bias is positively
/// homogeneous, so the kernel of input Gram `c K^0` is `c` times that of `K^0`. With
/// `c = 1e-300` the stored-state recursion stays in range all the way (entries from
/// 1e-300 to about 1e58), which gives an independent value of the scaled matrix.
#[test]
fn scaled_form_past_f64_range_matches_a_rescaled_recursion() {
    let _guard = lock();
    let x = Inputs::gaussian(6, 4, 2);
    let k0 = Inputs::from_data(x.view(), archconv::Lift::Dense)
        .unwrap()
        .k0()
        .clone();
    let dag = ladder(850);
    let big = Inputs::from_gram(k0.clone(), archconv::Lift::Dense).unwrap();
    let out = big
        .output_kernel(&dag, Rule::Exact, Some(NtkVariant::Full))
        .unwrap();
    let log10 = out.nngp().log10_scale();
    assert!(log10 > 330.0, "scale 10^{log10} should be past f64's range");
    assert!(out.nngp().to_unscaled().is_none());
    let c = 1e-300;
    let small = Inputs::from_gram(k0.mapv(|v| v * c), archconv::Lift::Dense).unwrap();
    let k = small
        .kernel(&dag, KernelKind::Exact)
        .unwrap()
        .into_output_gram();
    let theta = small
        .ntk(&dag, Rule::Exact)
        .unwrap()
        .theta(NtkVariant::Full);
    // K(c K0) = c e^lambda G: compare G with K(c K0) / (c e^lambda), in logs for the scale.
    let top = scale(&k);
    let expected_log = out.nngp().log_scale() + c.ln();
    assert!(
        (top.ln() - expected_log).abs() < 1e-9 * expected_log.abs(),
        "scale: {} vs {expected_log}",
        top.ln()
    );
    let g = k.mapv(|v| v / top);
    let d = max_abs_diff(&g, out.nngp().gram());
    assert!(d < 1e-12, "scaled NNGP differs by {d:e}");
    // The NTK dual of ReLU, (pi - theta) / pi, has a square-root singularity at rho = 1,
    // where 850 stages put every correlation: a correlation rounded differently by the two
    // routes (within the snap of 4 eps) moves theta by up to sqrt(8 eps) and fdot by
    // sqrt(8 eps) / pi, once per stage. Tolerance: that, times the stages (measured 5e-7).
    let t = theta.mapv(|v| v / top);
    let d = max_abs_diff(&t, out.ntk().unwrap().gram());
    let tol = 850.0 * (8.0 * f64::EPSILON).sqrt() / std::f64::consts::PI;
    assert!(
        d < tol * scale(&t),
        "scaled NTK differs by {d:e} (tolerance {tol:e})"
    );
    // The analysis reports the spectrum with its scale.
    let a = archconv::analyze(&dag, &big, &archconv::AnalyzeOptions::default()).unwrap();
    let exact = a
        .kernels
        .iter()
        .find(|r| r.kind == KernelKind::Exact)
        .unwrap();
    assert!((exact.log10_scale.unwrap() - log10).abs() < 1e-12);
    // Its lambda_max, scale included, is the rescaled recursion's over c (in logs). (This
    // deep kernel is singular to working precision, so lambda_min is rounding on both.)
    let small_spec = archconv::spectrum::SpectrumSummary::of(&k).unwrap();
    let lhs = exact.spectrum.lambda_max.log10() + exact.log10_scale.unwrap();
    let rhs = small_spec.lambda_max.log10() - c.log10();
    assert!(
        (lhs - rhs).abs() < 1e-12 * rhs,
        "log10 lambda_max: {lhs} vs {rhs}"
    );
}

/// A non-homogeneous activation past f64's range is refused with the node and the scale.
#[test]
fn non_homogeneous_activation_past_range_is_refused() {
    let _guard = lock();
    let x = Inputs::gaussian(4, 3, 0);
    let inp = Inputs::from_data(x.view(), archconv::Lift::Dense).unwrap();
    let gelu = EdgeParams::new(Activation::Gelu, 2.0, 0.0).unwrap();
    let dag = ladder(600).with_all_params(&gelu);
    match inp.output_kernel(&dag, Rule::Exact, None) {
        Err(KernelError::ScaleOutOfRange {
            node, activation, ..
        }) => {
            assert!(node > 0 && node < dag.num_nodes());
            assert_eq!(activation, "gelu");
        }
        other => panic!("expected ScaleOutOfRange, got {other:?}"),
    }
}

/// The memory estimate refuses a run that cannot fit, before allocating.
#[test]
fn memory_budget_refuses_before_allocating() {
    let _guard = lock();
    let x = Inputs::gaussian(64, 3, 0);
    let inp = Inputs::from_data(x.view(), archconv::Lift::Dense).unwrap();
    let dag = ladder(50);
    archconv::budget::set_limit(100 << 10);
    let r = inp.output_kernel(&dag, Rule::Exact, Some(NtkVariant::Full));
    archconv::budget::set_limit(0);
    match r {
        Err(KernelError::Memory(e)) => assert!(e.to_string().contains("streamed"), "{e}"),
        other => panic!("expected a memory refusal, got {other:?}"),
    }
    // With the default cap the same run fits.
    assert!(inp
        .output_kernel(&dag, Rule::Exact, Some(NtkVariant::Full))
        .is_ok());
}
