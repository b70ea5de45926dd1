//! Dense linear-algebra plumbing shared by the kernels and spectra: conversions between
//! `ndarray` and `faer`, the data Gram `X X^T`, and the two eigensolver backends
//! (pure-Rust `faer` by default; LAPACK through `ndarray-linalg` with feature `lapack`).

use faer::{Mat, MatRef, Par};
use ndarray::{Array2, ArrayView2};

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
        Par::rayon(0),
    );
    // Copy column j of the (column-major) result into row j, then symmetrise exactly in
    // 64 x 64 tiles (GEMM blocking may differ in the last bit between the triangles).
    let n = x.nrows();
    let mut a = zeros_fast(n, n);
    {
        use ndarray::parallel::prelude::*;
        a.axis_iter_mut(ndarray::Axis(0))
            .into_par_iter()
            .enumerate()
            .for_each(|(j, mut row)| {
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

/// All eigenvalues of a symmetric matrix, ascending.
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
        let ks = k.as_standard_layout();
        let kv = ks.view();
        let m = as_faer(&kv)?;
        m.self_adjoint_eigenvalues(faer::Side::Lower).ok()
    }
}

/// A Cholesky factor able to apply `K^{-1}` to a block of vectors in place.
pub(crate) struct CholSolver {
    #[cfg(not(feature = "lapack"))]
    llt: faer::linalg::solvers::Llt<f64>,
    #[cfg(feature = "lapack")]
    l: Array2<f64>,
    #[cfg(feature = "lapack")]
    lt: Array2<f64>,
}

impl CholSolver {
    /// Factors `K = L L^T`; `None` when `K` is not numerically positive definite.
    pub(crate) fn new(k: ArrayView2<'_, f64>) -> Option<CholSolver> {
        #[cfg(feature = "lapack")]
        {
            use ndarray_linalg::{Cholesky, UPLO};
            let l = k.to_owned().cholesky(UPLO::Lower).ok()?;
            if l.diag().iter().any(|&d| !(d > 0.0) || !d.is_finite()) {
                return None;
            }
            let lt = l.t().as_standard_layout().to_owned();
            Some(CholSolver { l, lt })
        }
        #[cfg(not(feature = "lapack"))]
        {
            let ks = k.as_standard_layout();
            let kv = ks.view();
            let m = as_faer(&kv)?;
            let llt = m.llt(faer::Side::Lower).ok()?;
            Some(CholSolver { llt })
        }
    }

    /// `X <- K^{-1} X`.
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
            use faer::linalg::solvers::Solve;
            self.llt.solve_in_place(x.as_mut());
        }
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
        Par::rayon(0),
    );
    to_ndarray(out.as_ref())
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

/// A parallel copy of `a` into a [`zeros_fast`]-allocated matrix.
pub(crate) fn clone_fast(a: &Array2<f64>) -> Array2<f64> {
    let mut out = zeros_fast(a.nrows(), a.ncols());
    ndarray::Zip::from(&mut out)
        .and(a)
        .par_for_each(|o, &x| *o = x);
    out
}
