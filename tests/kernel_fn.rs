//! Issue 14, item 1: the kernel function of two point sets (`KernelFn`). Its cross block
//! `K(x1, x2)` is computed by the streamed pass over only the cross entries (diagonals
//! first, then tiles); the reference is the matching block of the stored-state recursion
//! (`Inputs::kernel`, `Inputs::ntk`) on the stacked set `[x1; x2]`, a different
//! algorithm (it keeps every node's whole Gram and its cross-node Grams, and runs the NTK
//! backward). Tolerance: the two sum the same terms in a different order, so they agree to
//! a few hundred ulps of the largest diagonal entry: 1e-12 relative (as `tests/stream.rs`).

use archconv::activation::Activation;
use archconv::kernel::exact::Rule;
use archconv::kernel::ntk::NtkVariant;
use archconv::kernel::{Inputs, KernelError, KernelFn, KernelKind};
use archconv::model::{EdgeParams, LiftParams};
use archconv::Dag;
use ndarray::{concatenate, s, Array2, Axis};
use std::sync::{Mutex, MutexGuard};

mod common;
use common::dags::dags;

/// The memory budget is process-wide; the tests that change it hold this lock.
static LOCK: Mutex<()> = Mutex::new(());

fn lock() -> MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

const REL: f64 = 1e-12;

fn scale(a: &Array2<f64>) -> f64 {
    a.diag().iter().fold(0.0f64, |m, &v| m.max(v.abs()))
}

fn assert_block(got: &Array2<f64>, joint: &Array2<f64>, n1: usize, what: &str) {
    let want = joint.slice(s![..n1, n1..]);
    assert_eq!(got.dim(), want.dim(), "{what}: shape");
    let tol = REL * scale(joint).max(f64::MIN_POSITIVE);
    for ((i, j), &g) in got.indexed_iter() {
        let w = want[[i, j]];
        assert!(
            (g - w).abs() <= tol,
            "{what}: K[{i}, {j}] = {g:e}, the joint kernel's block has {w:e} (tol {tol:e})"
        );
    }
}

fn rule_of(kind: KernelKind) -> Option<Rule> {
    match kind {
        KernelKind::Exact => Some(Rule::Exact),
        KernelKind::IndependentBranch => Some(Rule::IndependentBranch),
        KernelKind::PathSum => None,
    }
}

/// Cross NNGP and NTK blocks, the diagonal and the per-node blocks against the joint
/// recursion on `[x1; x2]`.
fn check(kf: &KernelFn, x1: &Array2<f64>, x2: &Array2<f64>, normalised: bool, what: &str) {
    let n1 = x1.nrows();
    let both = concatenate![Axis(0), *x1, *x2];
    let inp = if normalised {
        Inputs::from_data_with(both.view(), kf.lift())
    } else {
        Inputs::from_data_unnormalized_with(both.view(), kf.lift())
    }
    .unwrap();
    let joint = match inp.kernel(kf.dag(), kf.kind()) {
        Ok(k) => k,
        Err(KernelError::NoPath { node }) => {
            let e = kf.nngp(x1.view(), Some(x2.view())).unwrap_err();
            assert!(
                matches!(e, KernelError::NoPath { node: m } if m == node),
                "{what}: {e}"
            );
            return;
        }
        // The path-sum rule refuses DAGs whose edges differ: so must the function.
        Err(e @ KernelError::PathSumMixedEdges { .. }) => {
            let got = kf.nngp(x1.view(), Some(x2.view())).unwrap_err();
            assert_eq!(got.to_string(), e.to_string(), "{what}");
            return;
        }
        Err(e) => panic!("{what}: {e}"),
    };
    let k = joint.output().gram.clone();
    let cross = kf.nngp(x1.view(), Some(x2.view())).unwrap();
    assert_block(&cross, &k, n1, &format!("{what} NNGP"));
    // The symmetric kernel of x1 alone is the top-left block.
    let alone = kf.nngp(x1.view(), None).unwrap();
    let top = k.slice(s![..n1, ..n1]).to_owned();
    if normalised {
        // Normalisation is per row, so x1 alone gives the same block.
        let tol = REL * scale(&k);
        let worst = alone
            .iter()
            .zip(top.iter())
            .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        assert!(worst <= tol, "{what}: K(x1, x1) off by {worst:e}");
    }
    // The diagonal alone (first pass only).
    let d = kf.nngp_diag(both.view()).unwrap();
    for (i, (&a, &b)) in d.iter().zip(k.diag().iter()).enumerate() {
        assert!(
            (a - b).abs() <= REL * scale(&k),
            "{what}: diagonal {i}: {a:e} against {b:e}"
        );
    }
    // Every node's block: the output's equals the streamed cross block.
    let nodes = kf.nodes(x1.view(), x2.view()).unwrap();
    assert_eq!(nodes.len(), kf.dag().num_nodes());
    let out = &nodes[kf.dag().output()];
    assert_block(&out.gram, &k, n1, &format!("{what} nodes()"));
    assert_eq!(out.mean1.len(), n1);
    assert_eq!(out.mean2.len(), x2.nrows());
    match rule_of(kf.kind()) {
        Some(rule) => {
            let ntk = inp.ntk(kf.dag(), rule).unwrap();
            for variant in [
                NtkVariant::Full,
                NtkVariant::FrozenLift,
                NtkVariant::ReadoutOnly,
            ] {
                let theta = ntk.theta(variant);
                let got = kf.ntk(x1.view(), Some(x2.view()), variant).unwrap();
                assert_block(&got, &theta, n1, &format!("{what} NTK {variant:?}"));
            }
        }
        None => {
            let e = kf
                .ntk(x1.view(), Some(x2.view()), NtkVariant::Full)
                .unwrap_err();
            assert!(matches!(e, KernelError::NoNtkRule { .. }), "{what}: {e}");
        }
    }
}

#[test]
fn cross_blocks_equal_the_joint_kernel_for_the_paper_network() {
    let _guard = lock();
    let x1 = Inputs::gaussian(7, 4, 3);
    let x2 = Inputs::gaussian(5, 4, 4);
    for (name, dag) in dags() {
        for kind in KernelKind::ALL {
            for lift in [LiftParams::dense(), LiftParams::relu_stem()] {
                let kf = KernelFn::new(&dag, lift.clone(), kind);
                check(&kf, &x1, &x2, true, &format!("{name} {kind} {lift}"));
            }
        }
    }
}

#[test]
fn cross_blocks_equal_the_joint_kernel_for_activations_biases_and_lifts() {
    let _guard = lock();
    let x1 = Inputs::gaussian(6, 3, 8);
    let x2 = Inputs::gaussian(4, 3, 9);
    let acts = [
        Activation::Erf,
        Activation::Gelu,
        Activation::AbRelu { a: 0.2, b: 1.1 },
        Activation::Tanh,
    ];
    let lifts = [
        LiftParams::dense_with(1.3, 0.2).unwrap(),
        LiftParams::stem(Activation::Erf, 1.0, 0.1).unwrap(),
    ];
    for act in acts {
        let p = EdgeParams::new(act.clone(), 1.4, 0.15).unwrap();
        for lift in &lifts {
            for (name, dag) in dags().into_iter().skip(2).take(4) {
                let dag = dag.with_all_params(&p);
                for kind in KernelKind::ALL {
                    let kf = KernelFn::new(&dag, lift.clone(), kind);
                    check(&kf, &x1, &x2, true, &format!("{name} {act} {lift} {kind}"));
                }
            }
        }
    }
}

#[test]
fn unnormalised_cross_blocks_equal_the_joint_kernel() {
    let _guard = lock();
    // Rows of very different norms: distinct diagonals on every node.
    let mut x1 = Inputs::gaussian(5, 3, 21);
    let x2 = Inputs::gaussian(6, 3, 22) * 0.3;
    x1.row_mut(0).mapv_inplace(|v| v * 4.0);
    let p = EdgeParams::new(Activation::AbRelu { a: -0.3, b: 1.0 }, 1.7, 0.05).unwrap();
    for (name, dag) in dags().into_iter().take(5) {
        let dag = dag.with_all_params(&p);
        for kind in KernelKind::ALL {
            let kf = KernelFn::new(&dag, LiftParams::dense(), kind).unnormalized();
            check(&kf, &x1, &x2, false, &format!("{name} {kind} unnormalised"));
        }
    }
}

#[test]
fn bad_inputs_are_typed_errors() {
    let _guard = lock();
    let kf = KernelFn::new(&Dag::dag3(), archconv::Lift::Dense, KernelKind::Exact);
    let x1 = Inputs::gaussian(4, 3, 0);
    let e = kf
        .nngp(x1.view(), Some(Inputs::gaussian(2, 5, 0).view()))
        .unwrap_err();
    assert!(
        matches!(e, KernelError::DimensionMismatch { d1: 3, d2: 5 }),
        "{e}"
    );
    let empty = Array2::<f64>::zeros((0, 3));
    let e = kf.nngp(x1.view(), Some(empty.view())).unwrap_err();
    assert!(matches!(e, KernelError::TooFewPoints { n: 0 }), "{e}");
    let mut nan = Inputs::gaussian(3, 3, 1);
    nan[[2, 1]] = f64::NAN;
    let e = kf
        .ntk(x1.view(), Some(nan.view()), NtkVariant::Full)
        .unwrap_err();
    assert!(e.to_string().contains("non-finite"), "{e}");
    let ps = KernelFn::new(&Dag::dag3(), archconv::Lift::Dense, KernelKind::PathSum);
    let e = ps.ntk(x1.view(), None, NtkVariant::Full).unwrap_err();
    assert!(
        e.to_string().contains("path-sum rule defines no NTK"),
        "{e}"
    );
    // One point against one point is enough for a cross block.
    let a = Inputs::gaussian(1, 3, 5);
    let b = Inputs::gaussian(1, 3, 6);
    assert_eq!(kf.nngp(a.view(), Some(b.view())).unwrap().dim(), (1, 1));
    // And one point alone: its diagonal is that of any set holding it.
    let ab = ndarray::concatenate![Axis(0), a, b];
    let d = kf.nngp_diag(ab.view()).unwrap();
    let one = kf.nngp_diag(a.view()).unwrap();
    assert!(
        (one[0] - d[0]).abs() <= 1e-13 * d[0],
        "{} vs {}",
        one[0],
        d[0]
    );
    let t1 = kf.ntk(a.view(), None, NtkVariant::Full).unwrap();
    let t2 = kf.ntk(ab.view(), None, NtkVariant::Full).unwrap();
    assert!((t1[[0, 0]] - t2[[0, 0]]).abs() <= 1e-12 * t2[[0, 0]]);
    let e = kf
        .nngp(Array2::<f64>::zeros((0, 3)).view(), None)
        .unwrap_err();
    assert!(matches!(e, KernelError::TooFewPoints { n: 0 }), "{e}");
}
