//! Issue 18: kernel tiles from per-point terms (`KernelFn::point_terms`, `KernelFn::tile`).
//! Tiles of uneven sizes, their terms selected from the terms of the whole set, are
//! assembled into the full matrix and compared with `KernelFn::nngp` / `KernelFn::ntk` of
//! the whole set on one process: the stored-state recursion, a different algorithm (it
//! keeps every node's Gram and runs the NTK backward). Tolerance: the two sum the same
//! terms in another order, so they agree to a few hundred ulps of the largest diagonal
//! entry: 1e-12 relative (as `tests/kernel_fn.rs`).

use archconv::activation::Activation;
use archconv::kernel::npy::What;
use archconv::kernel::ntk::NtkVariant;
use archconv::kernel::tiles::PointTerms;
use archconv::kernel::{Inputs, KernelError, KernelFn, KernelKind};
use archconv::model::{EdgeParams, LiftParams};
use archconv::Dag;
use ndarray::{s, Array2};

mod common;
use common::dags::dags;

const REL: f64 = 1e-12;

/// The kernel of `x` assembled from tiles of the row ranges `cuts` (every pair `I <= J`
/// once; the lower blocks are the transposes).
fn assembled(kf: &KernelFn, x: &Array2<f64>, cuts: &[usize], what: What) -> Array2<f64> {
    let n = x.nrows();
    let terms = kf.point_terms(x.view()).unwrap();
    let mut out = Array2::<f64>::from_elem((n, n), f64::NAN);
    let ranges: Vec<(usize, usize)> = cuts.windows(2).map(|w| (w[0], w[1])).collect();
    for (a, &(i0, i1)) in ranges.iter().enumerate() {
        for &(j0, j1) in &ranges[a..] {
            let xi = x.slice(s![i0..i1, ..]);
            let ti = terms.select(i0..i1).unwrap();
            let block = if i0 == j0 {
                kf.tile(xi, &ti, None, what).unwrap()
            } else {
                let xj = x.slice(s![j0..j1, ..]);
                let tj = terms.select(j0..j1).unwrap();
                kf.tile(xi, &ti, Some((xj, &tj)), what).unwrap()
            };
            out.slice_mut(s![i0..i1, j0..j1]).assign(&block);
            out.slice_mut(s![j0..j1, i0..i1]).assign(&block.t());
        }
    }
    out
}

fn assert_close(got: &Array2<f64>, want: &Array2<f64>, what: &str) {
    assert_eq!(got.dim(), want.dim(), "{what}: shape");
    let scale = want.diag().iter().fold(0.0f64, |m, &v| m.max(v.abs()));
    let tol = REL * scale.max(f64::MIN_POSITIVE);
    for ((i, j), &g) in got.indexed_iter() {
        let w = want[[i, j]];
        assert!(
            (g - w).abs() <= tol,
            "{what}: K[{i}, {j}] = {g:e}, the one-process kernel has {w:e} (tol {tol:e})"
        );
    }
}

#[test]
fn assembled_tiles_equal_the_one_process_kernels() {
    let x = Inputs::gaussian(23, 4, 3);
    let cuts = [0, 5, 6, 14, 23];
    let lifts = [
        LiftParams::dense(),
        LiftParams::stem(Activation::Relu, 2.0, 0.0).unwrap(),
        LiftParams::stem(Activation::Erf, 1.0, 0.1).unwrap(),
    ];
    let acts = [
        None,
        Some(EdgeParams::new(Activation::Tanh, 1.4, 0.15).unwrap()),
        Some(EdgeParams::new(Activation::Gelu, 1.2, 0.05).unwrap()),
    ];
    // Every DAG and lift with the paper's ReLU edges; the other activations (evaluated by
    // quadrature tables, which are slow to build) on DAG#3 with the Erf stem.
    let mut cases = Vec::new();
    for (name, dag) in dags().into_iter().take(6) {
        for lift in &lifts {
            cases.push((name.to_string(), dag.clone(), &acts[0], lift));
        }
    }
    for p in &acts[1..] {
        cases.push(("DAG#3".into(), Dag::dag3(), p, &lifts[2]));
    }
    for (name, dag, p, lift) in cases {
        {
            let dag = match p {
                Some(p) => dag.clone().with_all_params(p),
                None => dag.clone(),
            };
            {
                for kind in [KernelKind::Exact, KernelKind::IndependentBranch] {
                    let kf = KernelFn::new(&dag, lift.clone(), kind);
                    let what = format!("{name} {p:?} {lift} {kind}");
                    let k = common::stored_kernel(&kf, &x, None);
                    assert_close(&assembled(&kf, &x, &cuts, What::Nngp), &k, &what);
                    for v in [
                        NtkVariant::Full,
                        NtkVariant::FrozenLift,
                        NtkVariant::ReadoutOnly,
                    ] {
                        let t = common::stored_kernel(&kf, &x, Some(v));
                        let got = assembled(&kf, &x, &cuts, What::Ntk(v));
                        assert_close(&got, &t, &format!("{what} NTK {v:?}"));
                    }
                }
            }
        }
    }
}

#[test]
fn unnormalised_tiles_and_one_tile_for_the_whole_set() {
    let mut x = Inputs::gaussian(17, 3, 5);
    x.row_mut(2).mapv_inplace(|v| v * 5.0);
    x.row_mut(9).fill(0.0);
    let p = EdgeParams::new(Activation::AbRelu { a: -0.3, b: 1.0 }, 1.7, 0.05).unwrap();
    let dag = Dag::dag3().with_all_params(&p);
    let kf = KernelFn::new(&dag, LiftParams::dense(), KernelKind::Exact).unnormalized();
    let k = common::stored_kernel(&kf, &x, None);
    assert_close(
        &assembled(&kf, &x, &[0, 8, 17], What::Nngp),
        &k,
        "unnormalised",
    );
    // One tile over the whole set: the output-only kernel in one call.
    let terms = kf.point_terms(x.view()).unwrap();
    let whole = kf.tile(x.view(), &terms, None, What::Nngp).unwrap();
    assert_close(&whole, &k, "whole set");
    assert_eq!(whole, whole.t(), "the symmetric tile is mirrored exactly");
}

#[test]
fn terms_round_trip_through_their_parts() {
    let x = Inputs::gaussian(9, 3, 1);
    let kf = KernelFn::new(&Dag::dag2(), archconv::Lift::ReluStem, KernelKind::Exact);
    let terms = kf.point_terms(x.view()).unwrap();
    let (fp, nodes, lambda, diag, mean) = terms.parts();
    let back = PointTerms::from_parts(
        fp,
        nodes.to_vec(),
        lambda.to_vec(),
        diag.clone(),
        mean.clone(),
    )
    .unwrap();
    assert_eq!(back, terms);
    assert_eq!(terms.len(), 9);
    // The output's diagonal, unscaled, is the kernel's diagonal.
    let k = kf.nngp(x.view(), None).unwrap();
    let c = terms.log_scale().exp();
    for i in 0..9 {
        let d = diag[[diag.nrows() - 1, i]] * c;
        assert!(
            (d - k[[i, i]]).abs() <= REL * k[[i, i]],
            "diag {i}: {d} vs {}",
            k[[i, i]]
        );
    }
}

#[test]
fn mismatched_or_invalid_terms_are_typed_errors() {
    let x = Inputs::gaussian(8, 3, 2);
    let k3 = KernelFn::new(&Dag::dag3(), archconv::Lift::Dense, KernelKind::Exact);
    let k2 = KernelFn::new(&Dag::dag2(), archconv::Lift::Dense, KernelKind::Exact);
    let t3 = k3.point_terms(x.view()).unwrap();
    let t2 = k2.point_terms(x.view()).unwrap();
    let xv = x.view();
    let e = k3.tile(xv, &t2, None, What::Nngp).unwrap_err();
    assert!(
        matches!(e, KernelError::TermsMismatch { argument: "t1", .. }),
        "{e}"
    );
    let e = k3
        .tile(x.slice(s![..4, ..]), &t3, None, What::Nngp)
        .unwrap_err();
    assert!(
        e.to_string().contains("hold 8 points, the rows are 4"),
        "{e}"
    );
    let e = k3
        .tile(xv, &t3, Some((x.slice(s![.., ..2]), &t3)), What::Nngp)
        .unwrap_err();
    assert!(matches!(e, KernelError::DimensionMismatch { .. }), "{e}");
    assert!(matches!(t3.select(3..3), Err(KernelError::BadTerms { .. })));
    assert!(matches!(t3.select(5..9), Err(KernelError::BadTerms { .. })));
    let (fp, nodes, lambda, diag, mean) = t3.parts();
    let bad = PointTerms::from_parts(
        fp,
        nodes.to_vec(),
        lambda.to_vec(),
        diag.clone(),
        mean.t().to_owned(),
    );
    assert!(matches!(bad, Err(KernelError::BadTerms { .. })));
    let mut nan = diag.clone();
    nan[[0, 0]] = f64::NAN;
    let bad = PointTerms::from_parts(fp, nodes.to_vec(), lambda.to_vec(), nan, mean.clone());
    assert!(matches!(bad, Err(KernelError::BadTerms { .. })));
    let ps = KernelFn::new(&Dag::dag3(), archconv::Lift::Dense, KernelKind::PathSum);
    assert!(matches!(
        ps.point_terms(xv),
        Err(KernelError::NotStreamed { .. })
    ));
    let mut bad_x = x.clone();
    bad_x[[3, 1]] = f64::NAN;
    assert!(matches!(
        k3.point_terms(bad_x.view()),
        Err(KernelError::NonFinite { row: 3, col: 1, .. })
    ));
    assert!(matches!(
        k3.tile(bad_x.view(), &t3, None, What::Nngp),
        Err(KernelError::NonFinite { row: 3, col: 1, .. })
    ));
}
