//! The linear edge's dual map: the normalised ReLU arc-cosine kernel (PAPER.md section 2).
//!
//! With `C = K_ij / sqrt(K_ii K_jj)`:
//!
//! ```text
//! f(K)_ii = K_ii
//! f(K)_ij = sqrt(K_ii K_jj) h(C),   h(C) = (2 C asin C + 2 sqrt(1 - C^2) + pi C) / (2 pi)
//! ```
//!
//! `h(1) = 1`, `h(0) = 1/pi`, `h(-1) = 0`; `h` is increasing, `h(C) >= C`, and `f` is
//! positively homogeneous. Its degree-0 companion (used by the NTK) is
//! `fdot(K)_ij = (pi - arccos C) / pi`.
//!
//! The matrix maps evaluate `asin` with a branch-free polynomial (relative error below
//! 2e-16 on `[-1, 1]`, checked against libm in the tests) so that the loop vectorises.
//! `C` is clamped to `[-1, 1]`, so rounding never produces NaN, and rows with
//! `K_ii = 0` (zero inputs) map to zero off-diagonal entries, the limit of the formula.
//!
//! ```
//! use archconv::kernel::relu::{h, h_iter};
//! assert_eq!(h(1.0), 1.0);
//! assert!((h(0.0) - 1.0 / std::f64::consts::PI).abs() < 1e-16);
//! assert!(h(-1.0).abs() < 1e-16);
//! assert!((h_iter(0.3, 2) - h(h(0.3))).abs() < 1e-16);
//! ```

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut1, Axis, Zip};
use std::f64::consts::{FRAC_PI_2, PI};

/// Coefficients of `R(t) = (asin(sqrt t)/sqrt t - 1)/t` on `t in [0, 1/4]`, monomial basis,
/// from a degree-12 Chebyshev interpolation computed at 50 digits (relative error of the
/// resulting `asin` below 4e-18 in exact arithmetic).
#[allow(clippy::excessive_precision)] // digits as printed by the 50-digit fit
const ASIN_R: [f64; 13] = [
    0.166_666_666_666_666_678_27,
    0.074_999_999_999_984_329_332,
    0.044_642_857_146_355_429_783,
    0.030_381_944_138_531_247_287,
    0.022_372_172_942_149_887_875,
    0.017_352_392_720_869_972_942,
    0.013_971_212_973_552_933_304,
    0.011_479_177_415_184_905_896,
    0.010_322_814_350_185_779_287,
    0.005_457_506_718_640_358_300_4,
    0.017_400_879_442_694_022_443,
    -0.014_851_887_071_247_203_224,
    0.028_757_851_367_421_564_708,
];

/// `asin(x)` for `x in [-1, 1]`, branch-free (vectorisable).
///
/// For `|x| <= 1/2`: `asin x = x + x t R(t)`, `t = x^2`; above, the identity
/// `asin|x| = pi/2 - 2 asin(sqrt((1 - |x|)/2))`.
#[inline(always)]
pub fn fast_asin(x: f64) -> f64 {
    let a = x.abs();
    let big = a > 0.5;
    let z = ((1.0 - a) * 0.5).max(0.0).sqrt();
    let y = if big { z } else { a };
    let t = y * y;
    // Plain multiply-add, not `mul_add`: without hardware FMA that is a slow libm call.
    let mut r = ASIN_R[12];
    for &c in ASIN_R[..12].iter().rev() {
        r = r * t + c;
    }
    let p = y * t * r + y;
    let v = if big { FRAC_PI_2 - 2.0 * p } else { p };
    v.copysign(x)
}

/// `h(C)` for a correlation `C` (clamped to `[-1, 1]`).
#[inline(always)]
pub fn h(c: f64) -> f64 {
    let c = c.clamp(-1.0, 1.0);
    let s = (1.0 - c * c).max(0.0).sqrt();
    (s + c * (FRAC_PI_2 + fast_asin(c))) * (1.0 / PI)
}

/// `h` composed `d` times: `h^d(c)`, with `h^0(c) = c`.
pub fn h_iter(c: f64, d: usize) -> f64 {
    (0..d).fold(c, |x, _| h(x))
}

/// `hdot(C) = (pi - arccos C) / pi = 1/2 + asin(C)/pi`, the degree-0 ReLU dual (NTK).
#[inline(always)]
pub fn hdot(c: f64) -> f64 {
    let c = c.clamp(-1.0, 1.0);
    0.5 + fast_asin(c) * (1.0 / PI)
}

/// Scalar `f` for one entry: `sqrt(kii kjj) h(kij / sqrt(kii kjj))`, `0` when
/// `kii kjj = 0`.
#[inline(always)]
pub fn f_entry(kii: f64, kjj: f64, kij: f64) -> f64 {
    let s = (kii * kjj).sqrt();
    if s > 0.0 {
        s * h(kij / s)
    } else {
        0.0
    }
}

fn inv_sqrt_diag(k: ArrayView2<'_, f64>) -> (Array1<f64>, Array1<f64>) {
    let sd = k.diag().mapv(|x| x.max(0.0).sqrt());
    let inv = sd.mapv(|s| if s > 0.0 { 1.0 / s } else { 0.0 });
    (sd, inv)
}

crate::simd::avx2_dispatch! {
    /// One row of [`map_corr`]: `o[j] = scale_j g(k[j] ii inv[j])`, with AVX2 when the
    /// processor has it (same arithmetic, wider vectors).
    fn corr_row(
        o: &mut [f64],
        kr: &[f64],
        sdv: &[f64],
        invv: &[f64],
        si: f64,
        ii: f64,
        degree1: bool,
        g: &impl Fn(f64) -> f64,
    ) {
        // Zipped iterators: no bounds checks, so the loop vectorises.
        if degree1 {
            for (((oj, &k), &sd), &inv) in o.iter_mut().zip(kr).zip(sdv).zip(invv) {
                *oj = si * sd * g(k * (ii * inv)); // (ii inv) commutes: exact symmetry
            }
        } else {
            for ((oj, &k), &inv) in o.iter_mut().zip(kr).zip(invv) {
                *oj = g(k * (ii * inv));
            }
        }
    }
}

/// `o[j] = si sd[j] h(s12[j] ii inv[j])` (AVX2 when available): one row of the ReLU map
/// for the streamed kernels ([`crate::activation::EntryMap::row_pairs`]).
pub(crate) fn h_row(o: &mut [f64], s12: &[f64], sd: &[f64], inv: &[f64], si: f64, ii: f64) {
    corr_row(o, s12, sd, inv, si, ii, true, &h)
}

/// [`corr_row`] for a row view of `K` (copied first if its entries are not contiguous).
#[allow(clippy::too_many_arguments)]
fn view_row(
    o: &mut [f64],
    krow: ArrayView1<'_, f64>,
    sd: &Array1<f64>,
    inv: &Array1<f64>,
    si: f64,
    ii: f64,
    degree1: bool,
    g: &impl Fn(f64) -> f64,
) {
    let (sdv, invv) = (
        sd.as_slice().expect("contiguous"),
        inv.as_slice().expect("contiguous"),
    );
    match krow.to_slice() {
        Some(kr) => corr_row(o, kr, sdv, invv, si, ii, degree1, g),
        None => corr_row(o, &krow.to_vec(), sdv, invv, si, ii, degree1, g),
    }
}

/// Rows of `f(K)` computed on demand, for a consumer that reads `f(K)` once and would
/// otherwise store the whole `N x N` map: row `i` is exactly row `i` of [`f_matrix`]
/// (same arithmetic; the diagonal is `max(K_ii, 0)`, zero rows and columns stay zero).
pub(crate) struct FRows<'a> {
    k: ArrayView2<'a, f64>,
    sd: Array1<f64>,
    inv: Array1<f64>,
}

impl<'a> FRows<'a> {
    /// Prepares the row map of `k` (`O(N)`).
    pub(crate) fn new(k: ArrayView2<'a, f64>) -> FRows<'a> {
        let (sd, inv) = inv_sqrt_diag(k);
        FRows { k, sd, inv }
    }

    /// Writes row `i` of `f(K)` into `o` (length `N`).
    pub(crate) fn row(&self, i: usize, o: &mut [f64]) {
        let ii = self.inv[i];
        view_row(
            o,
            self.k.row(i),
            &self.sd,
            &self.inv,
            self.sd[i],
            ii,
            true,
            &h,
        );
        if ii == 0.0 {
            o.fill(0.0);
        } else {
            for (j, oj) in o.iter_mut().enumerate() {
                if self.inv[j] == 0.0 {
                    *oj = 0.0;
                }
            }
        }
        o[i] = self.k[[i, i]].max(0.0);
    }
}

/// Applies an elementwise correlation map `g(C)` scaled by `sqrt(K_ii K_jj)^degree`
/// (degree 1 for `f`, 0 for `fdot`), rows in parallel. Diagonal: `g(1) K_ii^degree`.
fn map_corr(k: ArrayView2<'_, f64>, degree1: bool, g: impl Fn(f64) -> f64 + Sync) -> Array2<f64> {
    let n = k.nrows();
    assert_eq!(n, k.ncols(), "kernel matrix must be square");
    let (sd, inv) = inv_sqrt_diag(k);
    let mut out = crate::linalg::zeros_fast(n, n);
    let row =
        |mut orow: ArrayViewMut1<'_, f64>, krow: ArrayView1<'_, f64>, &si: &f64, &ii: &f64| {
            let o = orow.as_slice_mut().expect("contiguous");
            view_row(o, krow, &sd, &inv, si, ii, degree1, &g)
        };
    let zip = Zip::from(out.axis_iter_mut(Axis(0)))
        .and(k.axis_iter(Axis(0)))
        .and(&sd)
        .and(&inv);
    if crate::linalg::parallel(n * n) {
        zip.par_for_each(row);
    } else {
        zip.for_each(row);
    }
    // Exact diagonal and zero-row handling.
    for i in 0..n {
        let kii = k[[i, i]].max(0.0);
        out[[i, i]] = if degree1 { kii } else { 1.0 };
        if inv[i] == 0.0 {
            for j in 0..n {
                if j != i {
                    out[[i, j]] = if degree1 { 0.0 } else { 0.5 };
                    out[[j, i]] = out[[i, j]];
                }
            }
        }
    }
    out
}

/// The matrix map `f(K)` (PAPER.md section 2): the Gram of `sqrt(2) relu(W x)`.
///
/// ```
/// use archconv::kernel::relu::{f_matrix, h};
/// use ndarray::array;
/// let k = array![[1.0, 0.5], [0.5, 4.0]];
/// let fk = f_matrix(k.view());
/// assert_eq!(fk[[1, 1]], 4.0);
/// assert!((fk[[0, 1]] - 2.0 * h(0.25)).abs() < 1e-15);
/// ```
pub fn f_matrix(k: ArrayView2<'_, f64>) -> Array2<f64> {
    map_corr(k, true, h)
}

/// The degree-0 map `fdot(K)_ij = (pi - arccos C_ij)/pi`, diagonal 1 (PAPER.md section 8);
/// rows with `K_ii = 0` get `1/2` (the value at `C = 0`).
pub fn fdot_matrix(k: ArrayView2<'_, f64>) -> Array2<f64> {
    map_corr(k, false, hdot)
}

/// `f` applied `d` times.
pub fn f_iter(k: ArrayView2<'_, f64>, d: usize) -> Array2<f64> {
    let mut out = k.to_owned();
    for _ in 0..d {
        out = f_matrix(out.view());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_on_demand_equal_the_stored_map_bit_for_bit() {
        // K = X X^T for 9 points in R^4, point 5 at the origin (a zero row and column).
        let x = Array2::from_shape_fn((9, 4), |(i, j)| {
            if i == 5 {
                0.0
            } else {
                ((i * 7 + j * 3) % 11) as f64 / 5.0 - 1.0
            }
        });
        let k = x.dot(&x.t());
        let full = f_matrix(k.view());
        let rows = FRows::new(k.view());
        let mut buf = vec![f64::NAN; 9];
        for i in 0..9 {
            rows.row(i, &mut buf);
            for j in 0..9 {
                assert_eq!(buf[j].to_bits(), full[[i, j]].to_bits(), "({i},{j})");
            }
        }
    }
}
