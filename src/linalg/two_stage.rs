//! All eigenvalues of a dense symmetric matrix by two-stage tridiagonalization.
//!
//! The one-stage Householder reduction (LAPACK `dsytrd`, faer's `tridiag_in_place`)
//! spends half its `4 N^3 / 3` flops in matrix-vector products that stream the whole
//! trailing matrix from memory once per column, so it runs at memory speed. Splitting it
//! in two (Bischof, Lang and Sun's successive band reduction; the scheme of LAPACK's
//! `dsytrd_2stage`) moves all the `O(N^3)` work into matrix-matrix products:
//!
//! 1. **Dense to band** ([`to_band`]): for each panel of `b` columns, a QR factorization
//!    `P = Q R` of the part below the band, `Q = I - V T V^T` (compact WY form), and the
//!    two-sided update of the trailing matrix
//!    `Q^T A Q = A - V W^T - W V^T` with `X = A V T`, `W = X - V (T^T V^T X) / 2`,
//!    which is one symmetric product and one symmetric rank-`2b` update (`4 m^2 b` flops
//!    for an `m x m` trailing matrix; `4 N^3 / 3` in all, in GEMM).
//! 2. **Band to tridiagonal** ([`band_to_tridiagonal`]): bulge chasing on the `b`-band in
//!    compact storage. Sweep `j` annihilates column `j` below its sub-diagonal with one
//!    reflector of length `b`, applied on both sides; the fill it creates below the band
//!    is removed by annihilating the first column of the bulge with the next reflector,
//!    one block of `b` rows further down, and so on to the end (`6 b N^2` flops, on data
//!    that stays in cache). The rest of each bulge is removed by the next sweep.
//! 3. **Tridiagonal eigenvalues** ([`tridiagonal_eigenvalues`]): implicit QL with
//!    Wilkinson shifts (`O(N^2)`).
//!
//! Every step is an orthogonal similarity, so the eigenvalues are backward stable:
//! each computed eigenvalue is within a modest multiple of `eps ||A||` of an exact one
//! (as for any Householder-based symmetric eigensolver). Eigenvalues only: the
//! transformations are not accumulated.

use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::reborrow::{Reborrow, ReborrowMut};
use faer::{Accum, Mat, MatMut, Par};

/// Band width of the first stage: the rank of each trailing update is `2 BAND` (GEMM
/// efficiency grows with it) while the second stage costs `6 BAND N^2`. Of 24, 32, 48
/// and 64, 32 was fastest at `N = 4000` on the 2-core development machine (2026-12-04:
/// 2.70, 2.39, 2.65 and 2.85 s in all).
pub(crate) const BAND: usize = 32;

/// All eigenvalues, ascending, of the symmetric matrix whose lower triangle is `a`
/// (`N x N`, best column-major; the strict upper triangle is ignored, and `a` is
/// overwritten). `None` when the tridiagonal QL iteration does not converge.
pub(crate) fn eigenvalues(mut a: MatMut<'_, f64>, par: Par) -> Option<Vec<f64>> {
    let n = a.nrows();
    if n == 0 {
        return Some(Vec::new());
    }
    let b = BAND.min(n.saturating_sub(1)).max(1);
    to_band(a.rb_mut(), b, par);
    let (mut d, mut e) = band_to_tridiagonal(a.rb_mut(), b);
    tridiagonal_eigenvalues(&mut d, &mut e)?;
    d.sort_by(f64::total_cmp);
    Some(d)
}

/// `a . b` with eight independent partial sums (a plain `sum()` of products is one
/// serial chain of additions, which the compiler may not reorder).
#[inline(always)]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f64; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let tail: f64 = ar.iter().zip(br).map(|(x, y)| x * y).sum();
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// Householder reflector of `x` in place, by faer's `make_householder_in_place` (which
/// writes `H = I - v v^T / tau_faer`): on return `x[0] = 1` and `x[1..]` is the
/// reflector's tail `v`, with `(I - tau v v^T) x_in = beta e_1`. Returns `(tau, beta)`,
/// `tau = 1 / tau_faer`; `tau = 0` (identity) when the tail is zero (faer's infinite
/// `tau_faer`).
#[inline(always)]
fn householder(x: &mut [f64]) -> (f64, f64) {
    let (head, tail) = x.split_first_mut().expect("a reflector of length >= 1");
    let info = faer::linalg::householder::make_householder_in_place(
        head,
        faer::ColMut::from_slice_mut(tail),
    );
    let beta = *head;
    *head = 1.0;
    (1.0 / info.tau, beta)
}

/// Stage 1: reduces the symmetric matrix (lower triangle of `a`) to a symmetric band of
/// half-width `b` by an orthogonal similarity, in place (lower triangle; entries below
/// the band are set to zero).
///
/// For the panel of columns `k..k+b` and the trailing rows `s = k + b..N` (`m` of them):
/// the panel's QR factorization `P = Q R` (Householder, `Q = H_1 ... H_r = I - V T V^T`,
/// `T` upper triangular from the reflectors as in LAPACK `dlarft`) leaves `R` in the
/// panel; with `Y = V T`, `X = A_22 Y` (symmetric product from the lower triangle),
/// `W = X - V (Y^T X) / 2`, the trailing block becomes
/// `Q^T A_22 Q = A_22 - [V W] [W V]^T` (lower-triangle rank-`2b` update).
pub(crate) fn to_band(mut a: MatMut<'_, f64>, b: usize, par: Par) {
    let n = a.nrows();
    // Work arrays sized for the first (largest) panel and reused by every panel through
    // views of their top `m` rows: one allocation (and one round of page faults) each per
    // call rather than per panel.
    let threads = par.degree().max(1);
    let mut pv_buf = vec![0.0; n * b];
    let mut y = Mat::<f64>::zeros(n, b);
    let mut uz = Mat::<f64>::zeros(n, 2 * b);
    let mut zr = Mat::<f64>::zeros(n, 2 * b);
    let mut accs: Vec<Mat<f64>> = (0..threads).map(|_| Mat::<f64>::zeros(n, b)).collect();
    let mut k = 0;
    while k + b < n {
        let s = k + b;
        let m = n - s;
        let r = m.min(b);
        // Panel QR, unblocked, on a contiguous copy `pv` (column c at `c * m`): reflector
        // c annihilates P[c+1.., c]; afterwards R is copied back and `pv` holds V (unit
        // lower trapezoidal).
        let pv = &mut pv_buf[..m * b];
        for c in 0..b {
            let col = a.rb().col(k + c).subrows(s, m);
            for (x, y) in pv[c * m..(c + 1) * m].iter_mut().zip(col.iter()) {
                *x = *y;
            }
        }
        let mut tau = vec![0.0; r];
        let mut beta = vec![0.0; r];
        panel_qr(pv, m, b, &mut tau, &mut beta);
        // R: the diagonal from `beta`, the strict upper triangle from `pv`.
        for c in 0..r {
            a[(s + c, k + c)] = beta[c];
            for q in c + 1..b {
                a[(s + c, k + q)] = pv[q * m + c];
            }
            for t in 0..c {
                // V is unit lower trapezoidal: zero above the diagonal.
                pv[c * m + t] = 0.0;
            }
        }
        for c in 0..b {
            for t in c + 1..m {
                a[(s + t, k + c)] = 0.0;
            }
        }
        let v = faer::MatRef::from_column_major_slice(&pv[..m * r], m, r);
        // T (dlarft, forward columnwise): T[c][c] = tau_c,
        // T[0..c, c] = -tau_c T[0..c, 0..c] V[:, 0..c]^T v_c.
        let mut t = Mat::<f64>::zeros(r, r);
        for c in 0..r {
            t[(c, c)] = tau[c];
            if tau[c] == 0.0 || c == 0 {
                continue;
            }
            let vc = &pv[c * m + c..(c + 1) * m];
            let z: Vec<f64> = (0..c)
                .map(|i| {
                    let vi = &pv[i * m + c..(i + 1) * m];
                    dot(vi, vc)
                })
                .collect();
            for i in 0..c {
                let acc: f64 = (i..c).map(|l| t[(i, l)] * z[l]).sum();
                t[(i, c)] = -tau[c] * acc;
            }
        }
        // Y = V T.
        let mut y = y.as_mut().submatrix_mut(0, 0, m, r);
        triangular::matmul(
            y.rb_mut(),
            BlockStructure::Rectangular,
            Accum::Replace,
            v,
            BlockStructure::Rectangular,
            t.as_ref(),
            BlockStructure::TriangularUpper,
            1.0,
            par,
        );
        let mut a22 = a.rb_mut().submatrix_mut(s, s, m, m);
        // X = A_22 Y from the lower triangle: tril(A) Y + (strict tril A)^T Y.
        let mut uz = uz.as_mut().submatrix_mut(0, 0, m, 2 * r);
        symm_lower(
            uz.rb_mut().submatrix_mut(0, r, m, r),
            a22.rb(),
            y.rb(),
            &mut accs,
        );
        // M = Y^T X; W = X - V M / 2.
        let mut mm = Mat::<f64>::zeros(r, r);
        faer::linalg::matmul::matmul(
            mm.as_mut(),
            Accum::Replace,
            y.rb().transpose(),
            uz.rb().submatrix(0, r, m, r),
            1.0,
            Par::Seq,
        );
        faer::linalg::matmul::matmul(
            uz.rb_mut().submatrix_mut(0, r, m, r),
            Accum::Add,
            v,
            mm.as_ref(),
            -0.5,
            par,
        );
        // U = [V W], Z = [W V]: A_22 -= U Z^T (lower triangle).
        uz.rb_mut().submatrix_mut(0, 0, m, r).copy_from(v);
        let mut zr = zr.as_mut().submatrix_mut(0, 0, m, 2 * r);
        zr.rb_mut()
            .submatrix_mut(0, 0, m, r)
            .copy_from(uz.rb().submatrix(0, r, m, r));
        zr.rb_mut().submatrix_mut(0, r, m, r).copy_from(v);
        triangular::matmul(
            a22.rb_mut(),
            BlockStructure::TriangularLower,
            Accum::Add,
            uz.rb(),
            BlockStructure::Rectangular,
            zr.rb().transpose(),
            BlockStructure::Rectangular,
            -1.0,
            par,
        );
        k += b;
    }
}

crate::simd::avx2_dispatch! {
/// Householder QR of the `m x b` panel `pv` (column-major, contiguous), unblocked:
/// reflector `c < tau.len()` annihilates `pv[c+1.., c]`, leaving `v_c` (with its unit head)
/// in `pv[c.., c]` and `beta_c`, `tau_c` in `beta`, `tau`; the strict upper triangle is R's.
fn panel_qr(pv: &mut [f64], m: usize, b: usize, tau: &mut [f64], beta: &mut [f64]) {
    for c in 0..tau.len() {
        let (left, right) = pv.split_at_mut((c + 1) * m);
        let x = &mut left[c * m + c..];
        let (tc, bc) = householder(x);
        tau[c] = tc;
        beta[c] = bc;
        if tc != 0.0 {
            for q in 0..b - c - 1 {
                let col = &mut right[q * m + c..(q + 1) * m];
                let f = tc * dot(x, col);
                col.iter_mut().zip(x.iter()).for_each(|(y, v)| *y -= f * v);
            }
        }
    }
}
}

/// Tile order of [`symm_lower`]: a `SYMM_TILE^2` block of `f64` (512 KiB) stays in the
/// second-level cache while it is used twice.
const SYMM_TILE: usize = 256;

/// `X <- A Y` for the symmetric `A` stored in its lower triangle, reading each tile of
/// the triangle from memory once: tile `(I, J)`, `I > J`, adds `A_IJ Y_J` to `X_I` and
/// `A_IJ^T Y_I` to `X_J`; a diagonal tile adds `(tril + strict tril^T) Y_I`. Tile rows
/// are shared among the threads (one per accumulator in `accs`, each at least `m x r`),
/// each with its own accumulator, summed at the end.
fn symm_lower(
    mut x: MatMut<'_, f64>,
    a: faer::MatRef<'_, f64>,
    y: faer::MatRef<'_, f64>,
    accs: &mut [Mat<f64>],
) {
    use rayon::prelude::*;
    let m = a.nrows();
    let r = y.ncols();
    let tiles = m.div_ceil(SYMM_TILE);
    let rows = |i: usize| (i * SYMM_TILE, SYMM_TILE.min(m - i * SYMM_TILE));
    let work = |acc: &mut MatMut<'_, f64>, ti: usize| {
        let (i0, ih) = rows(ti);
        for tj in 0..=ti {
            let (j0, jw) = rows(tj);
            let tile = a.submatrix(i0, j0, ih, jw);
            if ti == tj {
                triangular::matmul(
                    acc.rb_mut().submatrix_mut(i0, 0, ih, r),
                    BlockStructure::Rectangular,
                    Accum::Add,
                    tile,
                    BlockStructure::TriangularLower,
                    y.submatrix(i0, 0, ih, r),
                    BlockStructure::Rectangular,
                    1.0,
                    Par::Seq,
                );
                triangular::matmul(
                    acc.rb_mut().submatrix_mut(i0, 0, ih, r),
                    BlockStructure::Rectangular,
                    Accum::Add,
                    tile.transpose(),
                    BlockStructure::StrictTriangularUpper,
                    y.submatrix(i0, 0, ih, r),
                    BlockStructure::Rectangular,
                    1.0,
                    Par::Seq,
                );
            } else {
                faer::linalg::matmul::matmul(
                    acc.rb_mut().submatrix_mut(i0, 0, ih, r),
                    Accum::Add,
                    tile,
                    y.submatrix(j0, 0, jw, r),
                    1.0,
                    Par::Seq,
                );
                faer::linalg::matmul::matmul(
                    acc.rb_mut().submatrix_mut(j0, 0, jw, r),
                    Accum::Add,
                    tile.transpose(),
                    y.submatrix(i0, 0, ih, r),
                    1.0,
                    Par::Seq,
                );
            }
        }
    };
    let threads = accs.len();
    if threads == 1 || tiles < 2 {
        let mut acc = accs[0].as_mut().submatrix_mut(0, 0, m, r);
        acc.fill(0.0);
        (0..tiles).for_each(|ti| work(&mut acc, ti));
        x.copy_from(acc.rb());
        return;
    }
    // Tile row ti holds ti + 1 tiles: deal rows out so that each thread gets about the
    // same number of tiles (largest first, to the least loaded).
    let mut load = vec![0usize; threads];
    let mut mine: Vec<Vec<usize>> = vec![Vec::new(); threads];
    for ti in (0..tiles).rev() {
        let t = (0..threads).min_by_key(|&t| load[t]).unwrap_or(0);
        load[t] += ti + 1;
        mine[t].push(ti);
    }
    accs.par_iter_mut()
        .zip(mine.par_iter())
        .for_each(|(acc, list)| {
            let mut acc = acc.as_mut().submatrix_mut(0, 0, m, r);
            acc.fill(0.0);
            list.iter().for_each(|&ti| work(&mut acc, ti));
        });
    x.copy_from(accs[0].as_ref().submatrix(0, 0, m, r));
    for acc in &accs[1..] {
        x += acc.as_ref().submatrix(0, 0, m, r);
    }
}

/// Compact lower band storage of half-width up to `2b`: entry `(i, c)`, `0 <= i - c <
/// ld`, at `c * ld + (i - c)`, so each column's band segment is contiguous.
struct Band {
    ab: Vec<f64>,
    ld: usize,
}

impl Band {
    /// The contiguous segment of column `c` from row `i` on, `len` entries.
    #[inline(always)]
    fn seg(&mut self, i: usize, c: usize, len: usize) -> &mut [f64] {
        let o = c * self.ld + (i - c);
        &mut self.ab[o..o + len]
    }
}

/// `D <- H D H` for the symmetric block `D` (rows and columns `lo..lo + v.len()`, lower
/// triangle) and `H = I - tau v v^T`: with `w = tau D v`, `w' = w - tau (v^T w) v / 2`,
/// `H D H = D - v w'^T - w' v^T`.
#[inline(always)]
fn sym_two_sided(band: &mut Band, lo: usize, v: &[f64], tau: f64, w: &mut [f64]) {
    let len = v.len();
    let w = &mut w[..len];
    w.iter_mut().for_each(|x| *x = 0.0);
    for c in 0..len {
        let col = band.seg(lo + c, lo + c, len - c);
        let vc = v[c];
        let vs = &v[c..];
        let acc = dot(col, vs);
        w[c + 1..]
            .iter_mut()
            .zip(&col[1..])
            .for_each(|(wi, a)| *wi += a * vc);
        w[c] += acc;
    }
    let mut vw = 0.0;
    for c in 0..len {
        w[c] *= tau;
        vw += w[c] * v[c];
    }
    let alpha = -0.5 * tau * vw;
    for c in 0..len {
        w[c] += alpha * v[c];
    }
    for c in 0..len {
        let col = band.seg(lo + c, lo + c, len - c);
        let (vc, wc) = (v[c], w[c]);
        col.iter_mut()
            .zip(v[c..].iter().zip(&w[c..]))
            .for_each(|(a, (vi, wi))| *a -= vi * wc + wi * vc);
    }
}

/// Stage 2: the band of half-width `b` in the lower triangle of `a` to tridiagonal form
/// by bulge chasing (module docs); returns the diagonal and the sub-diagonal.
pub(crate) fn band_to_tridiagonal(a: MatMut<'_, f64>, b: usize) -> (Vec<f64>, Vec<f64>) {
    let n = a.nrows();
    let ld = 2 * b + 1;
    let mut band = Band {
        ab: vec![0.0; ld * n],
        ld,
    };
    for c in 0..n {
        let len = (b + 1).min(n - c);
        let seg = band.seg(c, c, len);
        for (t, x) in seg.iter_mut().enumerate() {
            *x = a[(c + t, c)];
        }
    }
    chase(&mut band, n, b);
    let d = (0..n).map(|i| band.ab[i * ld]).collect();
    let e = (0..n.saturating_sub(1))
        .map(|i| band.ab[i * ld + 1])
        .collect();
    (d, e)
}

crate::simd::avx2_dispatch! {
/// The sweeps of [`band_to_tridiagonal`] on the compact band (AVX2/AVX-512 when the
/// processor has them; the same operations in the same order on every path).
fn chase(band: &mut Band, n: usize, b: usize) {
    let mut v = vec![0.0; b];
    let mut v2 = vec![0.0; b];
    let mut w = vec![0.0; b];
    let mut u = vec![0.0; b];
    for j in 0..n.saturating_sub(2) {
        let mut lo = j + 1;
        let mut hi = (j + b).min(n - 1);
        let mut len = hi - lo + 1;
        if len < 2 {
            continue;
        }
        let (mut tau, beta) = {
            let seg = band.seg(lo, j, len);
            v[..len].copy_from_slice(seg);
            let r = householder(&mut v[..len]);
            seg[0] = r.1;
            seg[1..].iter_mut().for_each(|x| *x = 0.0);
            r
        };
        let _ = beta;
        loop {
            if tau != 0.0 {
                sym_two_sided(band, lo, &v[..len], tau, &mut w);
            }
            if hi + 1 >= n {
                break;
            }
            // The block below: rows blo..=bhi, columns lo..=hi.
            let blo = hi + 1;
            let bhi = (hi + b).min(n - 1);
            let blen = bhi - blo + 1;
            if tau != 0.0 {
                // O <- O H: u = O v, O -= tau u v^T.
                let u = &mut u[..blen];
                u.iter_mut().for_each(|x| *x = 0.0);
                for (c, &vc) in v[..len].iter().enumerate() {
                    let seg = band.seg(blo, lo + c, blen);
                    for (ui, s) in u.iter_mut().zip(seg.iter()) {
                        *ui += s * vc;
                    }
                }
                for (c, &vc) in v[..len].iter().enumerate() {
                    let f = tau * vc;
                    let seg = band.seg(blo, lo + c, blen);
                    for (s, ui) in seg.iter_mut().zip(u.iter()) {
                        *s -= f * ui;
                    }
                }
            }
            if blen < 2 {
                break;
            }
            // Annihilate the bulge's first column (column lo below row blo) and apply the
            // reflector to the block's other columns from the left.
            let tau2 = {
                let seg = band.seg(blo, lo, blen);
                v2[..blen].copy_from_slice(seg);
                let (t2, beta2) = householder(&mut v2[..blen]);
                seg[0] = beta2;
                seg[1..].iter_mut().for_each(|x| *x = 0.0);
                t2
            };
            if tau2 != 0.0 {
                for c in 1..len {
                    let seg = band.seg(blo, lo + c, blen);
                    let dot = dot(seg, &v2[..blen]);
                    let f = tau2 * dot;
                    for (s, x) in seg.iter_mut().zip(&v2[..blen]) {
                        *s -= f * x;
                    }
                }
            }
            std::mem::swap(&mut v, &mut v2);
            lo = blo;
            hi = bhi;
            len = blen;
            tau = tau2;
        }
    }
}
}

/// Stage 3: the eigenvalues of the symmetric tridiagonal matrix with diagonal `d` and
/// sub-diagonal `e` (`e.len() = d.len() - 1`), into `d` (unordered), by implicit QL with
/// Wilkinson shifts; `e` is destroyed. An off-diagonal entry is set to zero when it is
/// below `eps` times its two diagonal neighbours or below `eps ||T||` (a perturbation of
/// that size moves no eigenvalue by more, so the result stays backward stable). `None`
/// when a block needs more than 60 iterations.
pub(crate) fn tridiagonal_eigenvalues(d: &mut [f64], e: &mut Vec<f64>) -> Option<()> {
    let n = d.len();
    if n <= 1 {
        return Some(());
    }
    e.resize(n, 0.0);
    let norm = (0..n).fold(0.0f64, |m, i| {
        let left = if i > 0 { e[i - 1].abs() } else { 0.0 };
        m.max(d[i].abs() + e[i].abs() + left)
    });
    let floor = f64::EPSILON * norm;
    for l in 0..n {
        let mut iter = 0;
        loop {
            let mut m = l;
            while m + 1 < n {
                let dd = d[m].abs() + d[m + 1].abs();
                if e[m].abs() <= f64::EPSILON * dd || e[m].abs() <= floor {
                    break;
                }
                m += 1;
            }
            if m == l {
                break;
            }
            iter += 1;
            if iter > 60 {
                return None;
            }
            let mut g = (d[l + 1] - d[l]) / (2.0 * e[l]);
            let mut r = g.hypot(1.0);
            g = d[m] - d[l] + e[l] / (g + r.copysign(g));
            let (mut s, mut c, mut p) = (1.0f64, 1.0f64, 0.0f64);
            let mut i = m;
            let mut underflow = false;
            while i > l {
                i -= 1;
                let f = s * e[i];
                let bb = c * e[i];
                r = f.hypot(g);
                e[i + 1] = r;
                if r == 0.0 {
                    d[i + 1] -= p;
                    e[m] = 0.0;
                    underflow = true;
                    break;
                }
                s = f / r;
                c = g / r;
                g = d[i + 1] - p;
                r = (d[i] - g) * s + 2.0 * c * bb;
                p = s * r;
                d[i + 1] = g + p;
                g = c * r - bb;
            }
            if underflow {
                continue;
            }
            d[l] -= p;
            e[l] = g;
            e[m] = 0.0;
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// `Q diag(ev) Q^T` in its lower triangle, `Q` the orthogonal factor of a seeded
    /// Gaussian matrix: a symmetric matrix whose spectrum is known exactly (up to the
    /// rounding of the product, `~ N eps max |ev|`).
    fn with_spectrum(ev: &[f64], seed: u64) -> Mat<f64> {
        let n = ev.len();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let g = Mat::<f64>::from_fn(n, n, |_, _| rng.random::<f64>() - 0.5);
        let q = g.qr().compute_Q();
        let qd = Mat::<f64>::from_fn(n, n, |i, j| q[(i, j)] * ev[j]);
        let k = &qd * q.transpose();
        Mat::from_fn(n, n, |i, j| if i >= j { k[(i, j)] } else { 0.0 })
    }

    fn max_abs(v: &[f64]) -> f64 {
        v.iter().fold(0.0f64, |m, x| m.max(x.abs()))
    }

    /// Eigenvalues by the three stages at band width `b`.
    fn by_stages(mut a: Mat<f64>, b: usize) -> Vec<f64> {
        to_band(a.as_mut(), b, Par::Seq);
        let (mut d, mut e) = band_to_tridiagonal(a.as_mut(), b);
        tridiagonal_eigenvalues(&mut d, &mut e).expect("converges");
        d.sort_by(f64::total_cmp);
        d
    }

    #[test]
    fn tridiagonal_ql_gives_the_second_difference_spectrum() {
        // T = tridiag(-1, 2, -1) of order n: eigenvalues 2 - 2 cos(k pi / (n + 1)).
        // Backward stability bounds each error by a small multiple of eps ||T|| = 4 eps.
        for n in [1usize, 2, 3, 7, 50, 301] {
            let mut d = vec![2.0; n];
            let mut e = vec![-1.0; n - 1];
            tridiagonal_eigenvalues(&mut d, &mut e).unwrap();
            d.sort_by(f64::total_cmp);
            for (k, got) in d.iter().enumerate() {
                let x = std::f64::consts::PI * (k + 1) as f64 / (n + 1) as f64;
                let want = 2.0 - 2.0 * x.cos();
                assert!(
                    (got - want).abs() <= 64.0 * f64::EPSILON * 4.0,
                    "n={n} k={k}"
                );
            }
        }
    }

    #[test]
    fn two_stage_recovers_known_spectra_at_every_band_width() {
        // Sizes around multiples of the band, band widths from 1 (the chase does all the
        // work) to beyond the order (stage 1 does nothing). Tolerance: the matrix itself
        // carries ~ N eps max|ev| of rounding; 1e-12 max|ev| covers N <= 200 with margin.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for (t, n) in [1usize, 2, 3, 5, 16, 31, 32, 33, 65, 97, 130, 200]
            .into_iter()
            .enumerate()
        {
            let mut ev: Vec<f64> = (0..n).map(|_| rng.random::<f64>() * 4.0 - 1.0).collect();
            if n > 4 {
                // A repeated eigenvalue and an exact zero.
                ev[1] = ev[0];
                ev[2] = 0.0;
            }
            let a = with_spectrum(&ev, t as u64);
            let mut want = ev.clone();
            want.sort_by(f64::total_cmp);
            let tol = 1e-12 * max_abs(&want).max(1.0);
            for b in [1usize, 2, 5, BAND, 300] {
                let b = b.min(n.saturating_sub(1)).max(1);
                let got = by_stages(a.clone(), b);
                for (g, w) in got.iter().zip(&want) {
                    assert!((g - w).abs() <= tol, "n={n} b={b}: {g} vs {w}");
                }
            }
            let got = eigenvalues(a.clone().as_mut(), Par::rayon(0)).unwrap();
            assert_eq!(got.len(), n);
        }
    }

    #[test]
    fn stage_one_leaves_a_band_and_keeps_the_frobenius_norm() {
        // An orthogonal similarity keeps ||A||_F; below the band everything is zero.
        let n = 150;
        let b = 12;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut a = Mat::<f64>::from_fn(n, n, |_, _| rng.random::<f64>() - 0.5);
        let frob = |a: &Mat<f64>| {
            let mut s = 0.0;
            for j in 0..n {
                for i in j..n {
                    let w = if i == j { 1.0 } else { 2.0 };
                    s += w * a[(i, j)] * a[(i, j)];
                }
            }
            s.sqrt()
        };
        let before = frob(&a);
        to_band(a.as_mut(), b, Par::rayon(0));
        for j in 0..n {
            for i in j + b + 1..n {
                assert_eq!(a[(i, j)], 0.0, "({i}, {j})");
            }
        }
        assert!((frob(&a) - before).abs() <= 1e-13 * before);
    }

    #[test]
    fn diagonal_and_zero_columns_take_the_identity_reflectors() {
        // Already-reduced columns give tau = 0 (identity) reflectors in both stages.
        let n = 90;
        let mut a = Mat::<f64>::zeros(n, n);
        for i in 0..n {
            a[(i, i)] = (i as f64 - 40.0) * 0.5;
        }
        // A block with zero columns between nonzero ones.
        a[(70, 3)] = 1.0;
        a[(71, 3)] = -2.0;
        let dense = Mat::<f64>::from_fn(n, n, |i, j| if i >= j { a[(i, j)] } else { a[(j, i)] });
        let mut want = dense.self_adjoint_eigenvalues(faer::Side::Lower).unwrap();
        want.sort_by(f64::total_cmp);
        let got = eigenvalues(a.as_mut(), Par::Seq).unwrap();
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-13 * 20.0, "{g} vs {w}");
        }
    }
}
