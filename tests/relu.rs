//! The ReLU dual map f (PAPER.md section 2) against libm and its analytic properties.
mod common;

use archconv::kernel::relu::{f_entry, f_matrix, fast_asin, fdot_matrix, h, hdot};
use ndarray::array;
use proptest::prelude::*;
use std::f64::consts::PI;

/// Reference h written with libm's asin: an independent route for the fast polynomial.
fn h_libm(c: f64) -> f64 {
    (2.0 * c * c.asin() + 2.0 * (1.0 - c * c).sqrt() + PI * c) / (2.0 * PI)
}

#[test]
fn fast_asin_matches_libm_to_a_few_ulps() {
    let mut worst: f64 = 0.0;
    for i in -200_000..=200_000 {
        let x = i as f64 / 200_000.0;
        let (a, b) = (fast_asin(x), x.asin());
        let rel = if b == 0.0 {
            a.abs()
        } else {
            ((a - b) / b).abs()
        };
        worst = worst.max(rel);
    }
    // 4 ulps: polynomial error < 4e-18 plus a handful of rounded operations.
    assert!(worst <= 4.0 * common::EPS, "worst relative error {worst:e}");
}

#[test]
fn h_special_values() {
    assert_eq!(h(1.0), 1.0);
    assert!((h(0.0) - 1.0 / PI).abs() <= common::EPS);
    assert!(h(-1.0).abs() <= common::EPS);
    // Rounding just outside [-1, 1] is clamped, never NaN.
    assert_eq!(h(1.0 + 1e-15), 1.0);
    assert!(h(-1.0 - 1e-15).abs() <= common::EPS);
    assert_eq!(hdot(1.0), 1.0);
    assert!((hdot(0.0) - 0.5).abs() <= common::EPS);
    assert!(hdot(-1.0).abs() <= common::EPS);
}

#[test]
fn h_matches_libm_formula_and_is_monotone_above_identity() {
    let mut prev = h(-1.0);
    for i in 1..=2000 {
        let c = -1.0 + i as f64 / 1000.0;
        let v = h(c);
        assert!(
            (v - h_libm(c)).abs() <= 8.0 * common::EPS,
            "h({c}) = {v} vs {}",
            h_libm(c)
        );
        assert!(v >= prev, "h not monotone at {c}");
        assert!(v >= c - common::EPS, "h({c}) = {v} < c");
        prev = v;
    }
}

#[test]
fn f_matrix_is_exact_on_diagonal_and_zero_rows() {
    let k = array![[4.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 0.0]];
    let fk = f_matrix(k.view());
    assert_eq!(fk[[0, 0]], 4.0);
    assert_eq!(fk[[1, 1]], 1.0);
    // C = 2 / sqrt(4 * 1) = 1 exactly: f = sqrt(4) h(1) = 2.
    assert_eq!(fk[[0, 1]], 2.0);
    // Zero row: limit of sqrt(K_ii K_jj) h(C) is 0, never NaN.
    for j in 0..3 {
        assert_eq!(fk[[2, j]], 0.0);
        assert_eq!(fk[[j, 2]], 0.0);
    }
    let fd = fdot_matrix(k.view());
    assert_eq!(fd[[0, 1]], 1.0);
    assert_eq!(fd[[2, 0]], 0.5);
    assert!(fk.iter().chain(fd.iter()).all(|v| v.is_finite()));
}

#[test]
fn f_matrix_anticorrelated_pair_is_zero() {
    let k = array![[1.0, -1.0], [-1.0, 1.0]];
    let fk = f_matrix(k.view());
    assert!(fk[[0, 1]].abs() <= common::EPS);
}

proptest! {
    #[test]
    fn f_is_positively_homogeneous(kii in 0.01f64..10.0, kjj in 0.01f64..10.0, c in -1.0f64..1.0, a in 0.01f64..100.0) {
        let kij = c * (kii * kjj).sqrt();
        let lhs = f_entry(a * kii, a * kjj, a * kij);
        let rhs = a * f_entry(kii, kjj, kij);
        prop_assert!((lhs - rhs).abs() <= 32.0 * common::EPS * rhs.abs().max(a * (kii * kjj).sqrt()));
    }

    #[test]
    fn f_matrix_entries_match_the_scalar_libm_formula(x in proptest::collection::vec(-3.0f64..3.0, 12)) {
        // 4 points in R^3: K = X X^T, compared entrywise with sqrt(K_ii K_jj) h_libm(C).
        let xm = ndarray::Array2::from_shape_vec((4, 3), x).unwrap();
        let k = xm.dot(&xm.t());
        let fk = f_matrix(k.view());
        for i in 0..4 {
            for j in 0..4 {
                let s = (k[[i, i]] * k[[j, j]]).sqrt();
                let expect = if i == j { k[[i, i]] } else if s > 0.0 { s * h_libm((k[[i, j]] / s).clamp(-1.0, 1.0)) } else { 0.0 };
                prop_assert!((fk[[i, j]] - expect).abs() <= common::analytic_tol(4, s.max(1.0)), "({i},{j}) {} vs {expect}", fk[[i, j]]);
            }
        }
    }
}
