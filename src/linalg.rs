//! Dense linear-algebra plumbing shared by the kernels and spectra: conversions between
//! `ndarray` and `faer`, the data Gram `X X^T`, and the two eigensolver backends
//! (pure-Rust `faer` by default; LAPACK through `ndarray-linalg` with feature `lapack`).

use faer::{Mat, MatRef, Par};
use ndarray::{Array2, ArrayView2};

#[cfg_attr(feature = "lapack", allow(dead_code))]
mod two_stage;

/// Order from which [`sym_eigenvalues`] uses the two-stage reduction
/// ([`two_stage::eigenvalues`]) instead of faer's one-stage solver. Measured on DAG#3's
/// exact NNGP (2026-12-04, 2 cores, medians of 5): faer against two-stage 33.6 / 31.1 ms
/// at N = 600, 85.8 / 86.2 ms at 1000, 222 / 207 ms at 1500, 548 / 455 ms at 2000.
#[cfg(not(feature = "lapack"))]
const TWO_STAGE_MIN: usize = 512;

/// Views a standard-layout `ndarray` matrix as a `faer` matrix (row-major; for a
/// symmetric matrix the view equals its transpose).
pub(crate) fn as_faer<'a>(a: &'a ArrayView2<'_, f64>) -> Option<MatRef<'a, f64>> {
    let (r, c) = a.dim();
    a.as_slice().map(|s| MatRef::from_row_major_slice(s, r, c))
}

/// Copies a `faer` matrix into an `ndarray` one.
pub(crate) fn to_ndarray(m: MatRef<'_, f64>) -> Array2<f64> {
    Array2::from_shape_fn((m.nrows(), m.ncols()), |(i, j)| m[(i, j)])
}

#[cfg_attr(not(feature = "lapack"), allow(dead_code))]
/// Copies an `ndarray` matrix into an owned `faer` matrix.
pub(crate) fn to_faer(a: ArrayView2<'_, f64>) -> Mat<f64> {
    Mat::from_fn(a.nrows(), a.ncols(), |i, j| a[[i, j]])
}

/// `X X^T` for `X` with one point per row (multi-threaded GEMM).
pub(crate) fn gram_rows(x: ArrayView2<'_, f64>) -> Array2<f64> {
    let xs = x.as_standard_layout();
    let xv = xs.view();
    let xf = as_faer(&xv).expect("standard layout");
    let mut out = Mat::<f64>::zeros(x.nrows(), x.nrows());
    faer::linalg::matmul::matmul(
        out.as_mut(),
        faer::Accum::Replace,
        xf,
        xf.transpose(),
        1.0,
        par_for(x.nrows() * x.nrows()),
    );
    // Copy column j of the (column-major) result into row j, then symmetrise exactly in
    // 64 x 64 tiles (GEMM blocking may differ in the last bit between the triangles).
    let n = x.nrows();
    let mut a = zeros_fast(n, n);
    {
        for_each_row(&mut a, |(j, mut row)| {
            let col = out.col(j);
            for (i, v) in row.iter_mut().enumerate() {
                *v = col[i];
            }
        });
    }
    const B: usize = 64;
    for bi in (0..n).step_by(B) {
        for bj in (0..=bi).step_by(B) {
            for i in bi..(bi + B).min(n) {
                for j in bj..(bj + B).min(i) {
                    let v = 0.5 * (a[[i, j]] + a[[j, i]]);
                    a[[i, j]] = v;
                    a[[j, i]] = v;
                }
            }
        }
    }
    a
}

/// Which library performs dense factorizations.
pub const BACKEND: &str = if cfg!(feature = "lapack") {
    "lapack (OpenBLAS)"
} else {
    "faer"
};

/// All eigenvalues of a symmetric matrix, ascending (lower triangle read). Default
/// backend: faer below [`TWO_STAGE_MIN`], the two-stage reduction from it; LAPACK
/// `dsyevd` with feature `lapack`.
pub(crate) fn sym_eigenvalues(k: ArrayView2<'_, f64>) -> Option<Vec<f64>> {
    #[cfg(feature = "lapack")]
    {
        use ndarray_linalg::{EigValsh, UPLO};
        let owned = k.to_owned();
        let mut v = owned.eigvalsh(UPLO::Lower).ok()?.to_vec();
        v.sort_by(f64::total_cmp);
        Some(v)
    }
    #[cfg(not(feature = "lapack"))]
    {
        let n = k.nrows();
        if n >= TWO_STAGE_MIN && k.ncols() == n {
            let mut buf = lower_column_major(k);
            let s = buf.as_slice_mut().expect("standard layout");
            let a = faer::MatMut::from_column_major_slice_mut(s, n, n);
            return two_stage::eigenvalues(a, Par::rayon(0));
        }
        let ks = k.as_standard_layout();
        let kv = ks.view();
        let m = as_faer(&kv)?;
        m.self_adjoint_eigenvalues(faer::Side::Lower).ok()
    }
}

/// Eigenvalues (ascending) and eigenvectors (columns) of a symmetric matrix; `None` when
/// it is not square, has a non-finite entry or the solver fails.
pub(crate) fn sym_eigen(k: ArrayView2<'_, f64>) -> Option<(Vec<f64>, Array2<f64>)> {
    if k.iter().any(|v| !v.is_finite()) {
        return None;
    }
    #[cfg(feature = "lapack")]
    {
        use ndarray_linalg::{Eigh, UPLO};
        let (w, v) = k.to_owned().eigh(UPLO::Lower).ok()?;
        Some((w.to_vec(), v))
    }
    #[cfg(not(feature = "lapack"))]
    {
        let ks = k.as_standard_layout();
        let kv = ks.view();
        let m = as_faer(&kv)?;
        let evd = m.self_adjoint_eigen(faer::Side::Lower).ok()?;
        let n = k.nrows();
        let s = evd.S();
        let w: Vec<f64> = (0..n).map(|i| s[i]).collect();
        Some((w, to_ndarray(evd.U())))
    }
}

/// The tridiagonal form `T = Q^T K Q` of a symmetric matrix (faer's blocked Householder
/// reduction): diagonal `d` and sub-diagonal `e` (`e.len() = N - 1`). `None` when `K`
/// is not square or has a non-finite entry.
#[cfg(not(feature = "lapack"))]
pub(crate) fn sym_tridiagonal(k: ArrayView2<'_, f64>) -> Option<(Vec<f64>, Vec<f64>)> {
    use faer::dyn_stack::{MemBuffer, MemStack};
    use faer::linalg::evd::tridiag;
    let n = k.nrows();
    if n == 0 || k.ncols() != n || !k.iter().all(|v| v.is_finite()) {
        return None;
    }
    let mut t = Mat::<f64>::from_fn(n, n, |i, j| if i >= j { k[[i, j]] } else { 0.0 });
    if n == 1 {
        return Some((vec![t[(0, 0)]], Vec::new()));
    }
    let bs = faer::linalg::qr::no_pivoting::factor::recommended_blocksize::<f64>(n, n);
    let mut householder = Mat::<f64>::zeros(bs, n - 1);
    let mut mem = MemBuffer::new(tridiag::tridiag_in_place_scratch::<f64>(
        n,
        Par::Seq,
        Default::default(),
    ));
    tridiag::tridiag_in_place(
        t.as_mut(),
        householder.as_mut(),
        Par::Seq,
        MemStack::new(&mut mem),
        Default::default(),
    );
    let d = (0..n).map(|i| t[(i, i)]).collect();
    let e = (0..n - 1).map(|i| t[(i + 1, i)]).collect();
    Some((d, e))
}

/// Points per multisection pass of [`tridiagonal_lambda_min`].
#[cfg(not(feature = "lapack"))]
const SECTIONS: usize = 8;

/// Whether the symmetric tridiagonal `(d, e)` has an eigenvalue below each of the points
/// `x` (Sturm count `>= 1`): the count is the number of negative terms of
/// `q_1 = d_1 - x`, `q_i = d_i - x - e_{i-1}^2 / q_{i-1}`, with a `|q| < tiny` replaced by
/// `-tiny` (the standard safeguard). The points' recurrences are independent, so they
/// run side by side (their divisions overlap instead of waiting on each other).
#[cfg(not(feature = "lapack"))]
fn sturm_below(d: &[f64], e2: &[f64], x: &[f64; SECTIONS], tiny: f64) -> [bool; SECTIONS] {
    let mut q = [1.0f64; SECTIONS];
    let mut neg = [false; SECTIONS];
    for (i, &di) in d.iter().enumerate() {
        let e2i = if i == 0 { 0.0 } else { e2[i - 1] };
        for k in 0..SECTIONS {
            let v = di - x[k] - e2i / q[k];
            q[k] = if v.abs() < tiny { -tiny } else { v };
            neg[k] |= q[k] < 0.0;
        }
    }
    neg
}

/// Smallest eigenvalue of a symmetric tridiagonal `(d, e)` by Sturm multisection between
/// the Gershgorin bounds: each pass splits `[lo, hi]` at [`SECTIONS`] interior points and
/// keeps the piece where the count first reaches 1 (`log2(SECTIONS + 1)` bits per pass),
/// to an interval of width `4 eps max(|lo|, |hi|)` (backward stable like QR, at `O(N)` per
/// pass instead of all eigenvalues).
#[cfg(not(feature = "lapack"))]
pub(crate) fn tridiagonal_lambda_min(d: &[f64], e: &[f64]) -> f64 {
    let n = d.len();
    let e2: Vec<f64> = e.iter().map(|v| v * v).collect();
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for i in 0..n {
        let r = if i > 0 { e[i - 1].abs() } else { 0.0 } + if i + 1 < n { e[i].abs() } else { 0.0 };
        lo = lo.min(d[i] - r);
        hi = hi.max(d[i] + r);
    }
    let scale = lo.abs().max(hi.abs()).max(f64::MIN_POSITIVE);
    let tiny = f64::EPSILON * scale * 1e-3 + f64::MIN_POSITIVE;
    for _ in 0..200 {
        if hi - lo <= 4.0 * f64::EPSILON * lo.abs().max(hi.abs()) + f64::MIN_POSITIVE {
            break;
        }
        let h = (hi - lo) / (SECTIONS + 1) as f64;
        let x: [f64; SECTIONS] = std::array::from_fn(|k| lo + (k + 1) as f64 * h);
        if x[0] <= lo || x[SECTIONS - 1] >= hi {
            // Too few representable points left: plain bisection to the end.
            let mid = 0.5 * (lo + hi);
            if mid <= lo || mid >= hi {
                break;
            }
            if sturm_below(d, &e2, &[mid; SECTIONS], tiny)[0] {
                hi = mid;
            } else {
                lo = mid;
            }
            continue;
        }
        let below = sturm_below(d, &e2, &x, tiny);
        match below.iter().position(|&b| b) {
            Some(0) => hi = x[0],
            Some(k) => (lo, hi) = (x[k - 1], x[k]),
            None => lo = x[SECTIONS - 1],
        }
    }
    0.5 * (lo + hi)
}

/// A Cholesky factor able to apply `(K - sigma I)^{-1}` to a block of vectors in place.
pub(crate) struct CholSolver {
    #[cfg(not(feature = "lapack"))]
    l: Mat<f64>,
    #[cfg(feature = "lapack")]
    l: Array2<f64>,
    #[cfg(feature = "lapack")]
    lt: Array2<f64>,
}

/// faer's parallelism for order-`n` factorizations and for `n x k` block products and
/// solves with a few dozen columns (`lambda_min`'s Cholesky and Krylov runs): every
/// thread from `n = 1500`, one below (there a 16-vector solve is a fraction of a
/// millisecond and waking the pool costs more than it gains; measured at N = 1000).
pub(crate) fn solve_par(n: usize) -> Par {
    if n >= 1500 {
        Par::rayon(0)
    } else {
        Par::Seq
    }
}

impl CholSolver {
    /// Factors `K = L L^T` (lower triangle of `K` read); `None` when `K` is not
    /// numerically positive definite.
    pub(crate) fn new(k: ArrayView2<'_, f64>) -> Option<CholSolver> {
        CholSolver::shifted(k, 0.0)
    }

    /// Factors `K - sigma I = L L^T`; `None` when that is not numerically positive
    /// definite (so a success proves `sigma < lambda_min(K)` up to rounding).
    pub(crate) fn shifted(k: ArrayView2<'_, f64>, sigma: f64) -> Option<CholSolver> {
        #[cfg(feature = "lapack")]
        {
            use ndarray_linalg::{Cholesky, UPLO};
            let mut a = k.to_owned();
            a.diag_mut().iter_mut().for_each(|d| *d -= sigma);
            let l = a.cholesky(UPLO::Lower).ok()?;
            if l.diag().iter().any(|&d| !d.is_finite() || d <= 0.0) {
                return None;
            }
            let lt = l.t().as_standard_layout().to_owned();
            Some(CholSolver { l, lt })
        }
        #[cfg(not(feature = "lapack"))]
        {
            let mut l = Mat::<f64>::zeros(0, 0);
            CholSolver::factor_into(&mut l, k, sigma).then_some(CholSolver { l })
        }
    }

    /// Refactors with another shift, reusing the factor's storage: `K - sigma I`.
    /// Returns `false` (and leaves the solver unusable) when it is not positive definite.
    pub(crate) fn refactor(&mut self, k: ArrayView2<'_, f64>, sigma: f64) -> bool {
        #[cfg(feature = "lapack")]
        {
            match CholSolver::shifted(k, sigma) {
                Some(c) => {
                    *self = c;
                    true
                }
                None => false,
            }
        }
        #[cfg(not(feature = "lapack"))]
        {
            CholSolver::factor_into(&mut self.l, k, sigma)
        }
    }

    /// `l <- chol(K - sigma I)` in place: the lower triangle of the row-major `K` is
    /// copied into the column-major `l` (in cache blocks), shifted and factored by faer.
    #[cfg(not(feature = "lapack"))]
    fn factor_into(l: &mut Mat<f64>, k: ArrayView2<'_, f64>, sigma: f64) -> bool {
        let n = k.nrows();
        if k.ncols() != n || n == 0 {
            return false;
        }
        copy_lower(l, k, sigma, |v| v);
        cholesky_lower(l)
    }

    /// `X <- (K - sigma I)^{-1} X`.
    pub(crate) fn solve_in_place(&self, x: &mut Mat<f64>) {
        #[cfg(feature = "lapack")]
        {
            use ndarray_linalg::{Diag, SolveTriangularInplace, UPLO};
            let mut b = to_ndarray(x.as_ref());
            self.l
                .solve_triangular_inplace(UPLO::Lower, Diag::NonUnit, &mut b)
                .expect("triangular solve with a valid factor");
            self.lt
                .solve_triangular_inplace(UPLO::Upper, Diag::NonUnit, &mut b)
                .expect("triangular solve with a valid factor");
            *x = to_faer(b.view());
        }
        #[cfg(not(feature = "lapack"))]
        {
            use faer::linalg::cholesky::llt::solve;
            let n = self.l.nrows();
            let par = solve_par(n);
            solve::solve_in_place_with_conj(
                self.l.as_ref(),
                faer::Conj::No,
                x.as_mut(),
                par,
                faer::dyn_stack::MemStack::new(&mut []),
            );
        }
    }
}

/// `l <- tril(K) - sigma I` in `l`'s precision (`conv`), `l` (column-major) resized to
/// `N x N` when needed. The row-major `K` is read in 32 x 32 blocks so that both sides
/// stay in cache; the strict upper triangle of `l` is left as it was.
fn copy_lower<T: faer::traits::ComplexField + Copy>(
    l: &mut Mat<T>,
    k: ArrayView2<'_, f64>,
    sigma: f64,
    conv: impl Fn(f64) -> T,
) {
    let n = k.nrows();
    if l.nrows() != n || l.ncols() != n {
        *l = Mat::<T>::zeros(n, n);
    }
    copy_lower_into(l.as_mut(), k, sigma, conv);
}

/// The block loop of [`copy_lower`] into any `N x N` destination view.
fn copy_lower_into<T: faer::traits::ComplexField + Copy>(
    mut l: faer::MatMut<'_, T>,
    k: ArrayView2<'_, f64>,
    sigma: f64,
    conv: impl Fn(f64) -> T,
) {
    let n = k.nrows();
    const B: usize = 32;
    let ks = k.as_standard_layout();
    for i0 in (0..n).step_by(B) {
        for j0 in (0..=i0).step_by(B) {
            for i in i0..(i0 + B).min(n) {
                let row = ks.row(i);
                for j in j0..(j0 + B).min(i + 1) {
                    l[(i, j)] = conv(row[j]);
                }
            }
        }
    }
    for i in 0..n {
        l[(i, i)] = conv(ks[[i, i]] - sigma);
    }
}

/// faer's in-place Cholesky `A = L L^T` of the lower triangle of `l`; `false` when `A`
/// is not numerically positive definite (a pivot is not finite and positive).
fn cholesky_lower<T: faer::traits::RealField + Copy + Into<f64>>(l: &mut Mat<T>) -> bool {
    use faer::dyn_stack::{MemBuffer, MemStack};
    use faer::linalg::cholesky::llt::factor;
    let n = l.nrows();
    let par = solve_par(n);
    let mut mem = MemBuffer::new(factor::cholesky_in_place_scratch::<T>(
        n,
        par,
        Default::default(),
    ));
    let ok = factor::cholesky_in_place(
        l.as_mut(),
        Default::default(),
        par,
        MemStack::new(&mut mem),
        Default::default(),
    )
    .is_ok();
    ok && (0..n).all(|i| {
        let d: f64 = l[(i, i)].into();
        d.is_finite() && d > 0.0
    })
}

/// A single-precision Cholesky factor of `K`, `K ~ L L^T` (`L` in `f32`): half the
/// arithmetic and memory traffic of [`CholSolver`], for estimates only. Its inverse is
/// `K^{-1}` up to a relative perturbation of order `cond(K) N eps_f32`, so what it yields
/// must be confirmed in `f64` (as `lambda_min`'s shift is, by an `f64` factorization).
pub(crate) struct CholF32 {
    l: Mat<f32>,
}

impl CholF32 {
    /// Factors `K` in `f32` (lower triangle read); `None` when that is not positive
    /// definite in single precision (for instance `cond(K) > ~1e7`).
    pub(crate) fn new(k: ArrayView2<'_, f64>) -> Option<CholF32> {
        let n = k.nrows();
        if k.ncols() != n || n == 0 {
            return None;
        }
        let mut l = Mat::<f32>::zeros(0, 0);
        copy_lower(&mut l, k, 0.0, |v| v as f32);
        cholesky_lower(&mut l).then_some(CholF32 { l })
    }

    /// `X <- (L L^T)^{-1} X`, the block rounded to `f32` for the solve and back.
    pub(crate) fn solve_in_place(&self, x: &mut Mat<f64>) {
        use faer::linalg::cholesky::llt::solve;
        let n = self.l.nrows();
        let mut y = Mat::<f32>::from_fn(x.nrows(), x.ncols(), |i, j| x[(i, j)] as f32);
        solve::solve_in_place_with_conj(
            self.l.as_ref(),
            faer::Conj::No,
            y.as_mut(),
            solve_par(n),
            faer::dyn_stack::MemStack::new(&mut []),
        );
        *x = Mat::from_fn(y.nrows(), y.ncols(), |i, j| f64::from(y[(i, j)]));
    }
}

/// `op(a) b` with `op(a) = a` or `a^T`, multi-threaded (faer GEMM).
pub(crate) fn gemm(a: &Array2<f64>, transpose_a: bool, b: &Array2<f64>) -> Array2<f64> {
    let (a_s, b_s) = (a.as_standard_layout(), b.as_standard_layout());
    let (av, bv) = (a_s.view(), b_s.view());
    let af = as_faer(&av).expect("standard layout");
    let bf = as_faer(&bv).expect("standard layout");
    let af = if transpose_a { af.transpose() } else { af };
    let mut out = Mat::<f64>::zeros(af.nrows(), bf.ncols());
    faer::linalg::matmul::matmul(
        out.as_mut(),
        faer::Accum::Replace,
        af,
        bf,
        1.0,
        par_for(af.nrows() * bf.ncols() * af.ncols()),
    );
    to_ndarray(out.as_ref())
}

/// Elementwise passes and products over fewer matrix entries than this run on the calling
/// thread: waking the rayon workers costs tens of microseconds, more than the work itself
/// below `N = 256` (an `N = 64` closed-form kernel went from ~130 us to ~35 us).
pub(crate) const PAR_MIN_ENTRIES: usize = 1 << 16;

/// Whether a pass over `entries` matrix entries should run in parallel.
pub(crate) fn parallel(entries: usize) -> bool {
    entries >= PAR_MIN_ENTRIES
}

/// Runs `f((i, row_i))` on every row of `a`, in parallel when `a` is large enough
/// ([`parallel`]).
pub(crate) fn for_each_row<F>(a: &mut Array2<f64>, f: F)
where
    F: Fn((usize, ndarray::ArrayViewMut1<'_, f64>)) + Send + Sync,
{
    use ndarray::parallel::prelude::*;
    if parallel(a.len()) {
        a.axis_iter_mut(ndarray::Axis(0))
            .into_par_iter()
            .enumerate()
            .for_each(f);
    } else {
        a.axis_iter_mut(ndarray::Axis(0)).enumerate().for_each(f);
    }
}

/// faer's parallelism for a product with `entries` output entries.
pub(crate) fn par_for(entries: usize) -> Par {
    if parallel(entries) {
        Par::rayon(0)
    } else {
        Par::Seq
    }
}

/// Matrices at least this large (bytes) are backed by transparent huge pages where the
/// kernel offers them (`madvise(MADV_HUGEPAGE)`): first-touch page faults of a fresh
/// 4000 x 4000 matrix cost ~10x more than computing its entries otherwise.
const HUGE_BYTES: usize = 2 << 20;

/// A zeroed `rows x cols` matrix whose pages are touched in parallel (and backed by huge
/// pages on Linux when possible).
pub(crate) fn zeros_fast(rows: usize, cols: usize) -> Array2<f64> {
    use rayon::prelude::*;
    let len = rows * cols;
    if len * 8 < HUGE_BYTES {
        return Array2::zeros((rows, cols));
    }
    let mut v: Vec<f64> = Vec::with_capacity(len);
    #[cfg(target_os = "linux")]
    {
        let ptr = v.as_mut_ptr() as usize;
        let page = 4096usize;
        let start = ptr.div_ceil(page) * page;
        let end = (ptr + len * 8) / page * page;
        if end > start {
            // SAFETY: [start, end) lies inside the allocation just made; MADV_HUGEPAGE
            // is advisory and never changes the memory's contents or validity.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
            }
        }
    }
    v.spare_capacity_mut()
        .par_chunks_mut(1 << 16)
        .for_each(|c| {
            c.iter_mut().for_each(|x| {
                x.write(0.0);
            })
        });
    // SAFETY: every element of the first `len` slots was initialised just above.
    unsafe { v.set_len(len) };
    Array2::from_shape_vec((rows, cols), v).expect("length matches shape")
}

/// The lower triangle of the square `k` (row-major) copied into column-major storage:
/// the returned buffer's memory, read column by column (`N` entries each), holds column
/// `j` of `tril(k)` (zeros above the diagonal). [`zeros_fast`]-allocated (huge pages,
/// touched in parallel), filled by [`copy_lower_into`].
#[cfg(not(feature = "lapack"))]
fn lower_column_major(k: ArrayView2<'_, f64>) -> Array2<f64> {
    let n = k.nrows();
    let mut buf = zeros_fast(n, n);
    let s = buf.as_slice_mut().expect("standard layout");
    copy_lower_into(
        faer::MatMut::from_column_major_slice_mut(s, n, n),
        k,
        0.0,
        |v| v,
    );
    buf
}

/// A parallel copy of `a` into a [`zeros_fast`]-allocated matrix.
pub(crate) fn clone_fast(a: &Array2<f64>) -> Array2<f64> {
    if !parallel(a.len()) {
        return a.to_owned();
    }
    let mut out = zeros_fast(a.nrows(), a.ncols());
    ndarray::Zip::from(&mut out)
        .and(a)
        .par_for_each(|o, &x| *o = x);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    /// `Q diag(ev) Q^T` with `Q` a product of Householder reflections from a fixed
    /// sequence, symmetrised.
    fn with_spectrum(ev: &[f64]) -> Array2<f64> {
        let n = ev.len();
        let mut k = Array2::from_diag(&ndarray::Array1::from(ev.to_vec()));
        for r in 0..3 {
            let v: Vec<f64> = (0..n)
                .map(|i| ((i * 7 + r * 13) % 11) as f64 - 5.0 + 0.1 * r as f64)
                .collect();
            let vv: f64 = v.iter().map(|a| a * a).sum();
            // H K H with H = I - 2 v v^T / (v^T v).
            let kv: Vec<f64> = (0..n)
                .map(|i| (0..n).map(|j| k[(i, j)] * v[j]).sum())
                .collect();
            let vkv: f64 = (0..n).map(|i| v[i] * kv[i]).sum();
            for i in 0..n {
                for j in 0..n {
                    k[(i, j)] += -2.0 * (v[i] * kv[j] + kv[i] * v[j]) / vv
                        + 4.0 * v[i] * v[j] * vkv / (vv * vv);
                }
            }
        }
        (&k + &k.t()) * 0.5
    }

    #[test]
    fn f32_factor_solves_a_well_conditioned_system_to_single_precision() {
        let n = 120;
        let ev: Vec<f64> = (0..n).map(|i| 1.0 + i as f64 / 10.0).collect();
        let k = with_spectrum(&ev);
        let c = CholF32::new(k.view()).expect("cond 13 is positive definite in f32");
        let b = Mat::<f64>::from_fn(n, 3, |i, j| ((i + 2 * j) % 5) as f64 - 2.0);
        let mut x = b.clone();
        c.solve_in_place(&mut x);
        // Residual K x - b: the f32 factor's backward error is ~ n eps_f32 |K| per entry,
        // so the relative residual is at most about n eps_f32 cond(K) ~ 120 * 6e-8 * 13.
        let kf = Mat::<f64>::from_fn(n, n, |i, j| k[(i, j)]);
        let r = &kf * &x - &b;
        let rel = r.norm_l2() / b.norm_l2();
        assert!(rel < 1e-4, "relative residual {rel}");
        assert!(rel > 1e-13, "an f32 solve cannot be f64-accurate: {rel}");
    }

    #[test]
    fn f32_factor_refuses_a_matrix_beyond_single_precision() {
        // cond = 1e12: rounding K to f32 moves its eigenvalues by ~ eps_f32 |K| = 6e-7,
        // far more than lambda_min = 1e-11, so the rounded matrix is not positive definite
        // for this (fixed) basis, while the f64 factor still exists.
        let n = 64;
        let mut ev: Vec<f64> = (0..n).map(|i| 1.0 + i as f64 / 8.0).collect();
        ev[0] = 1e-11;
        ev[1] = 2e-11;
        let k = with_spectrum(&ev);
        assert!(CholF32::new(k.view()).is_none());
        assert!(CholSolver::new(k.view()).is_some());
    }
}
