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
    // Symmetrise exactly (GEMM blocking may differ in the last bit between triangles).
    let n = x.nrows();
    let mut a = to_ndarray(out.as_ref());
    for i in 0..n {
        for j in 0..i {
            let v = 0.5 * (a[[i, j]] + a[[j, i]]);
            a[[i, j]] = v;
            a[[j, i]] = v;
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
