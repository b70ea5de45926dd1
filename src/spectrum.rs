//! Spectra of kernel matrices (PAPER.md sections 2-4): `lambda_min`, `lambda_max`,
//! condition number, the full spectrum, `lambda_min` normalised by the mean diagonal,
//! the 2x2 bound (Lemma 3.3) and the path-sum bound `P - sum_p f^{d_p}(c)` (Eq. 12).
//!
//! `lambda_min` avoids a full eigendecomposition. A single-precision Cholesky factor of
//! `K` (half the work of an `f64` one; an `f64` factor when `K` is too ill-conditioned for
//! `f32`) drives a short block Krylov run (blocks of 4, full reorthogonalisation,
//! Rayleigh-Ritz) on `K^{-1}` until its top Ritz pair has relative residual `4e-2`;
//! the residual bound gives a shift `sigma < lambda_min`, checked by the `f64` Cholesky
//! factorization of `K - sigma I` succeeding. Block Krylov on `(K - sigma I)^{-1}`, whose
//! top eigenvalue `1/(lambda_min - sigma)` is now well separated from the rest even when
//! the bottom of the spectrum is clustered, converges in a few blocks; it stops when
//! `sigma + 1/theta` is accurate to `1e-13` relative by the standard a-posteriori bound
//! `min(|r|, |r|^2 / gap)` on `theta`. When `K` is not numerically positive definite
//! (singular kernels) or the iteration does not converge, it falls back to the full
//! symmetric eigensolver. Small matrices (`N <= 256`) use the full solver directly.
//!
//! ```
//! use archconv::spectrum::{lambda_min, eigenvalues, pair_bound};
//! use ndarray::array;
//! let k = array![[2.0, 1.0, 0.0], [1.0, 2.0, 1.0], [0.0, 1.0, 2.0]];
//! let ev = eigenvalues(&k).unwrap();
//! assert!((lambda_min(&k).unwrap() - (2.0 - 2f64.sqrt())).abs() < 1e-12);
//! assert!((ev[2] - (2.0 + 2f64.sqrt())).abs() < 1e-12);
//! let b = pair_bound(&k).unwrap();                 // Lemma 3.3: lambda_min <= bound
//! assert!(b.value >= ev[0]);
//! assert_eq!((b.i, b.j), (0, 1));
//! ```

use crate::kernel::relu::h_iter;
use crate::linalg::{self, CholSolver};
use crate::paths::PathStats;
use faer::{Mat, MatRef, Par};
use ndarray::Array2;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use serde::Serialize;

/// A matrix the spectral routines cannot handle.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SpectrumError {
    /// Not square.
    #[error("matrix must be square, got {rows} x {cols}")]
    NotSquare {
        /// Rows.
        rows: usize,
        /// Columns.
        cols: usize,
    },
    /// Empty matrix.
    #[error("matrix is empty")]
    Empty,
    /// NaN or infinity.
    #[error("non-finite entry {value} at ({i}, {j})")]
    NonFinite {
        /// Row.
        i: usize,
        /// Column.
        j: usize,
        /// Value.
        value: f64,
    },
    /// The eigensolver failed to converge.
    #[error("symmetric eigensolver did not converge ({n} x {n})")]
    NoConvergence {
        /// Size.
        n: usize,
    },
}

fn validate(k: &Array2<f64>) -> Result<usize, SpectrumError> {
    let (rows, cols) = k.dim();
    if rows != cols {
        return Err(SpectrumError::NotSquare { rows, cols });
    }
    if rows == 0 {
        return Err(SpectrumError::Empty);
    }
    // A plain scan first (vectorised); the position only when something is wrong.
    if k.iter().all(|v| v.is_finite()) {
        return Ok(rows);
    }
    for ((i, j), &value) in k.indexed_iter() {
        if !value.is_finite() {
            return Err(SpectrumError::NonFinite { i, j, value });
        }
    }
    Ok(rows)
}

/// All eigenvalues of the symmetric matrix `k`, ascending. Only the lower triangle is
/// read. Default backend: faer's Householder tridiagonalization below `N = 512`; from
/// there a two-stage reduction (dense to a 32-band by blocked Householder QR panels and
/// symmetric rank-64 updates, the band to tridiagonal by bulge chasing, then implicit
/// QL), which keeps the `O(N^3)` work in matrix-matrix products (about 3x faer's one-stage
/// solver at `N = 4000` here). LAPACK `dsyevd` with feature `lapack`. Both are backward
/// stable: each eigenvalue is within a small multiple of `eps ||K||` of an exact one.
pub fn eigenvalues(k: &Array2<f64>) -> Result<Vec<f64>, SpectrumError> {
    let n = validate(k)?;
    linalg::sym_eigenvalues(k.view()).ok_or(SpectrumError::NoConvergence { n })
}

const DIRECT_MAX: usize = 256;
const TOL: f64 = 1e-13;

/// Largest eigenvalue of the symmetric operator `op` (applied to blocks of vectors) on
/// `R^n`, by block Krylov + Rayleigh-Ritz with full reorthogonalisation. The basis `V`,
/// `A V` and the projected matrix `H = V^T A V` grow in place, one block per step.
/// Returns `None` if not converged within `max_dim` basis vectors.
fn block_krylov_largest(
    n: usize,
    op: &dyn Fn(&Mat<f64>) -> Mat<f64>,
    block: usize,
    max_dim: usize,
) -> Option<f64> {
    block_krylov(n, op, block, max_dim, TOL, 0.0, None).map(|r| r.theta)
}

/// The top Ritz pair of a [`block_krylov`] run.
struct Ritz {
    /// The largest Ritz value.
    theta: f64,
    /// Whether the residual test (rather than the size limit) stopped the run.
    converged: bool,
    /// The residual norm `|A y - theta y|` of its unit Ritz vector `y`: some eigenvalue
    /// of `A` lies within it of `theta`.
    residual: f64,
    /// The top `block` Ritz vectors (orthonormal columns, the largest Ritz value's
    /// first): a starting block for a further run on a nearby operator.
    vectors: Mat<f64>,
}

/// Block Krylov iteration (see [`block_krylov_largest`]) stopping when the top Ritz
/// value `theta` of a shift-invert operator `(K - sigma I)^{-1}` gives `sigma + 1/theta`
/// to relative accuracy `tol`: with the residual bound `b` on `|theta - mu_1|`, the error
/// of `sigma + 1/theta` is `b / theta^2`, so the test is `b <= tol theta (1 + sigma theta)`
/// (for `sigma = 0`, plain relative accuracy of `theta`). Returns the top Ritz pair and
/// whether the residual test (rather than the size limit) stopped it.
///
/// The run starts from `start` (its columns orthonormalised) when given, else from a
/// seeded Gaussian block; the result's accuracy never depends on the start (the stopping
/// test is the run's own residual), only the number of steps does.
fn block_krylov(
    n: usize,
    op: &dyn Fn(&Mat<f64>) -> Mat<f64>,
    block: usize,
    max_dim: usize,
    tol: f64,
    sigma: f64,
    start: Option<MatRef<'_, f64>>,
) -> Option<Ritz> {
    let block = block.min(n);
    let max_dim = max_dim.min(n);
    let mut q = match start {
        Some(s) => orthonormalize(s, None)?,
        None => {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x5eed);
            let s = Mat::<f64>::from_fn(n, block, |_, _| StandardNormal.sample(&mut rng));
            orthonormalize(s.as_ref(), None)?
        }
    };
    let mut v = Mat::<f64>::zeros(n, max_dim);
    let mut av = Mat::<f64>::zeros(n, max_dim);
    let mut hm = Mat::<f64>::zeros(max_dim, max_dim);
    let mut k = 0usize;
    let debug = std::env::var_os("ARCHCONV_DEBUG_KRYLOV").is_some();
    // The top `block` Ritz vectors V_k U[:, k - block..k], largest first.
    let ritz = |theta, converged, residual, v: &Mat<f64>, u: &Mat<f64>, k: usize| {
        let m = block.min(k);
        let top = Mat::<f64>::from_fn(k, m, |i, j| u[(i, k - 1 - j)]);
        let mut vectors = Mat::<f64>::zeros(n, m);
        faer::linalg::matmul::matmul(
            vectors.as_mut(),
            faer::Accum::Replace,
            v.as_ref().submatrix(0, 0, n, k),
            top.as_ref(),
            1.0,
            linalg::solve_par(n),
        );
        Ritz {
            theta,
            converged,
            residual,
            vectors,
        }
    };
    while k + q.ncols() <= max_dim {
        let b = q.ncols();
        let aq = op(&q);
        v.as_mut().submatrix_mut(0, k, n, b).copy_from(q.as_ref());
        av.as_mut().submatrix_mut(0, k, n, b).copy_from(aq.as_ref());
        // New columns of H = V^T A V, then mirror them into the new rows.
        let mut hcol = Mat::<f64>::zeros(k + b, b);
        faer::linalg::matmul::matmul(
            hcol.as_mut(),
            faer::Accum::Replace,
            v.as_ref().submatrix(0, 0, n, k + b).transpose(),
            aq.as_ref(),
            1.0,
            linalg::solve_par(n),
        );
        for j in 0..b {
            for i in 0..k + b {
                hm[(i, k + j)] = hcol[(i, j)];
                if i < k {
                    hm[(k + j, i)] = hcol[(i, j)];
                }
            }
        }
        k += b;
        let hk = hm.as_ref().submatrix(0, 0, k, k);
        let hs = Mat::<f64>::from_fn(k, k, |i, j| 0.5 * (hk[(i, j)] + hk[(j, i)]));
        let (theta, theta2, u) = small_top_eigen(hs.as_ref())?;
        let sv = u.col(k - 1);
        // r = A V s - theta V s
        let mut r = Mat::<f64>::zeros(n, 1);
        faer::linalg::matmul::matmul(
            r.as_mut(),
            faer::Accum::Replace,
            av.as_ref().submatrix(0, 0, n, k),
            sv.as_mat(),
            1.0,
            linalg::solve_par(n),
        );
        faer::linalg::matmul::matmul(
            r.as_mut(),
            faer::Accum::Add,
            v.as_ref().submatrix(0, 0, n, k),
            sv.as_mat(),
            -theta,
            linalg::solve_par(n),
        );
        let rn = r.norm_l2();
        // The gap to the rest of the spectrum is unknown from a single Ritz value.
        let gap = if k > 1 { theta - theta2 } else { 0.0 };
        let bound = if gap > 0.0 { rn.min(rn * rn / gap) } else { rn };
        if debug {
            eprintln!("krylov k={k} theta={theta:e} residual={rn:e} bound={bound:e}");
        }
        if bound <= tol * theta.abs() * (1.0 + sigma * theta).abs() || rn == 0.0 || k >= n {
            return Some(ritz(theta, true, rn, &v, &u, k));
        }
        if k + block > max_dim {
            return Some(ritz(theta, false, rn, &v, &u, k));
        }
        q = match orthonormalize(aq.as_ref(), Some(v.as_ref().submatrix(0, 0, n, k))) {
            Some(q) => q,
            // Invariant subspace found.
            None => return Some(ritz(theta, true, rn, &v, &u, k)),
        };
    }
    None
}

/// The two largest eigenvalues `(theta_1, theta_2)` of the small symmetric `h`
/// (`theta_2 = -inf` for `1 x 1`) and all its eigenvectors (columns, ascending), on the
/// calling thread: for the Krylov runs' projected matrices (at most a few hundred rows),
/// waking the thread pool costs more than the decomposition.
fn small_top_eigen(h: MatRef<'_, f64>) -> Option<(f64, f64, Mat<f64>)> {
    use faer::dyn_stack::{MemBuffer, MemStack};
    use faer::linalg::evd;
    let k = h.nrows();
    let mut s = faer::diag::Diag::<f64>::zeros(k);
    let mut u = Mat::<f64>::zeros(k, k);
    let mut mem = MemBuffer::new(evd::self_adjoint_evd_scratch::<f64>(
        k,
        evd::ComputeEigenvectors::Yes,
        Par::Seq,
        Default::default(),
    ));
    evd::self_adjoint_evd(
        h,
        s.as_mut(),
        Some(u.as_mut()),
        Par::Seq,
        MemStack::new(&mut mem),
        Default::default(),
    )
    .ok()?;
    let theta = s[k - 1];
    let theta2 = if k > 1 { s[k - 2] } else { f64::NEG_INFINITY };
    Some((theta, theta2, u))
}

/// Orthonormal basis of the columns of `x` after removing their components along the
/// orthonormal `basis` (two passes of block Gram-Schmidt); drops near-dependent columns.
fn orthonormalize(x: MatRef<'_, f64>, basis: Option<MatRef<'_, f64>>) -> Option<Mat<f64>> {
    let n = x.nrows();
    let mut w = x.to_owned();
    if let Some(v) = basis {
        for _ in 0..2 {
            let mut c = Mat::<f64>::zeros(v.ncols(), w.ncols());
            faer::linalg::matmul::matmul(
                c.as_mut(),
                faer::Accum::Replace,
                v.transpose(),
                w.as_ref(),
                1.0,
                linalg::solve_par(n),
            );
            faer::linalg::matmul::matmul(
                w.as_mut(),
                faer::Accum::Add,
                v,
                c.as_ref(),
                -1.0,
                linalg::solve_par(n),
            );
        }
    }
    // Modified Gram-Schmidt within the block (block is small).
    let scale = x.norm_l2().max(1e-300);
    let mut cols: Vec<Vec<f64>> = Vec::new();
    for j in 0..w.ncols() {
        let mut c: Vec<f64> = (0..w.nrows()).map(|i| w[(i, j)]).collect();
        for _ in 0..2 {
            for q in &cols {
                let d: f64 = q.iter().zip(&c).map(|(a, b)| a * b).sum();
                c.iter_mut().zip(q).for_each(|(ci, qi)| *ci -= d * qi);
            }
        }
        let nrm = c.iter().map(|a| a * a).sum::<f64>().sqrt();
        if nrm > 1e-10 * scale {
            c.iter_mut().for_each(|a| *a /= nrm);
            cols.push(c);
        }
    }
    if cols.is_empty() {
        return None;
    }
    Some(Mat::from_fn(w.nrows(), cols.len(), |i, j| cols[j][i]))
}

/// How `lambda_min` was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Full symmetric eigendecomposition.
    Full,
    /// Householder tridiagonalization + Sturm multisection for the smallest eigenvalue
    /// (`N <= 256`, default backend).
    Tridiagonal,
    /// Cholesky + block Krylov on `K^{-1}`.
    CholeskyKrylov,
}

fn lambda_min_with_method(k: &Array2<f64>) -> Result<(f64, Method), SpectrumError> {
    let n = validate(k)?;
    if n > DIRECT_MAX {
        if let Some(l) = shift_invert_lambda_min(k, n) {
            return Ok((l, Method::CholeskyKrylov));
        }
    }
    #[cfg(not(feature = "lapack"))]
    if let Some((d, e)) = linalg::sym_tridiagonal(k.view()) {
        return Ok((linalg::tridiagonal_lambda_min(&d, &e), Method::Tridiagonal));
    }
    let ev = eigenvalues(k)?;
    Ok((ev[0], Method::Full))
}

/// Two-phase shift-invert: a short block Krylov run on `K^{-1}` gives an estimate of
/// `lambda_min` and a shift `sigma` a little below it; the Cholesky factorization of
/// `K - sigma I` succeeding confirms `sigma < lambda_min`, and block Krylov on
/// `(K - sigma I)^{-1}`, whose top eigenvalue `1/(lambda_min - sigma)` is now well
/// separated from the rest even when the bottom of the spectrum is clustered, converges in
/// a few blocks.
///
/// The estimate comes from a single-precision factor of `K` ([`linalg::CholF32`]): half
/// the work of an `f64` one, and only the shift depends on it (the `f64` factorization
/// checks the shift). When `K` is too ill-conditioned for `f32`, an `f64` factor of `K`
/// serves instead, and its storage is reused for the shifted factor.
fn shift_invert_lambda_min(k: &Array2<f64>, n: usize) -> Option<f64> {
    let debug = std::env::var_os("ARCHCONV_DEBUG_KRYLOV").is_some();
    let t0 = std::time::Instant::now();
    let krylov_inv = |solve: &dyn Fn(&mut Mat<f64>)| {
        let op = |x: &Mat<f64>| {
            let mut y = x.clone();
            solve(&mut y);
            y
        };
        block_krylov(n, &op, BLOCK, ESTIMATE_DIM.min(n), ESTIMATE_TOL, 0.0, None)
    };
    let mut chol = None;
    let est = match linalg::CholF32::new(k.view()) {
        Some(c) => krylov_inv(&|y| c.solve_in_place(y))?,
        None => {
            let c = CholSolver::new(k.view())?;
            let est = krylov_inv(&|y| c.solve_in_place(y))?;
            chol = Some(c);
            est
        }
    };
    if !(est.theta > 0.0 && est.theta.is_finite() && est.residual.is_finite()) {
        return None;
    }
    // Some eigenvalue of K^{-1} lies in [theta - r, theta + r]; taking it to be the top one
    // (the run starts from a random block), lambda_min >= 1 / (theta + r).
    let mut sigma = (1.0 - SHIFT_MARGIN) / (est.theta + est.residual);
    if debug {
        eprintln!(
            "estimate 1/theta={:e} sigma={sigma:e} at {:?}",
            1.0 / est.theta,
            t0.elapsed()
        );
    }
    for _ in 0..6 {
        // An existing factor's storage (the f64 estimate's, or a failed try's) is reused.
        let ok = match chol.as_mut() {
            Some(c) => c.refactor(k.view(), sigma),
            None => {
                chol = CholSolver::shifted(k.view(), sigma);
                chol.is_some()
            }
        };
        if debug {
            eprintln!("shift sigma={sigma:e} ok={ok} at {:?}", t0.elapsed());
        }
        if ok {
            let c = chol.as_ref()?;
            let sop = |x: &Mat<f64>| {
                let mut y = x.clone();
                c.solve_in_place(&mut y);
                y
            };
            // Started from the estimate's top Ritz vectors: approximations of the same
            // bottom eigenvectors, so the shifted run needs fewer blocks.
            let start = Some(est.vectors.as_ref());
            let ritz = block_krylov(n, &sop, BLOCK, SHIFTED_DIM.min(n), TOL, sigma, start)?;
            if debug {
                eprintln!("shifted run done at {:?}", t0.elapsed());
            }
            if ritz.converged && ritz.theta > 0.0 {
                return Some(sigma + 1.0 / ritz.theta);
            }
            return None;
        }
        // The estimate was not of the bottom eigenvalue (or f32 rounding moved it): step
        // well below. A failed factor keeps its storage for the next try.
        sigma *= 0.5;
    }
    None
}

/// Vectors per block of the shift-invert Krylov runs: small blocks need the fewest
/// vectors for a clustered bottom of the spectrum, and a 4-vector solve costs about
/// as much as a 1-vector one (memory-bound on the factor; measured at N = 1000 and 4000).
const BLOCK: usize = 4;
/// Basis size of the estimating run.
const ESTIMATE_DIM: usize = 128;
/// Relative residual `r / theta` at which the estimating run stops: the shift then lies
/// at most about that far below `lambda_min` (in practice a few tenths of that, since
/// the residual overstates the error once the top Ritz value separates). Looser costs
/// shifted blocks, tighter costs estimating blocks; 4e-2 was the fastest of 5e-3, 1e-2,
/// 2e-2 and 4e-2 at N = 1000 and 4000 (DAG#3's exact NNGP, clustered bottom).
const ESTIMATE_TOL: f64 = 4e-2;
/// Extra relative margin of the shift below `1 / (theta + r)`, for the `f32` rounding of
/// the estimate.
const SHIFT_MARGIN: f64 = 1e-3;
/// Basis size limit of the shifted run.
const SHIFTED_DIM: usize = 256;

/// Smallest eigenvalue of the symmetric matrix `k` (module docs for the method).
pub fn lambda_min(k: &Array2<f64>) -> Result<f64, SpectrumError> {
    lambda_min_with_method(k).map(|r| r.0)
}

/// Largest eigenvalue of the symmetric matrix `k` (block Krylov on `K` for large `N`).
pub fn lambda_max(k: &Array2<f64>) -> Result<f64, SpectrumError> {
    let n = validate(k)?;
    if n > DIRECT_MAX {
        let kv = k.view();
        let ks = kv.as_standard_layout();
        let ksv = ks.view();
        let kf = linalg::as_faer(&ksv).expect("standard layout");
        let op = |x: &Mat<f64>| {
            let mut y = Mat::<f64>::zeros(n, x.ncols());
            faer::linalg::matmul::matmul(
                y.as_mut(),
                faer::Accum::Replace,
                kf,
                x.as_ref(),
                1.0,
                Par::rayon(0),
            );
            y
        };
        if let Some(theta) = block_krylov_largest(n, &op, 8, 400) {
            return Ok(theta);
        }
    }
    let ev = eigenvalues(k)?;
    Ok(ev[n - 1])
}

/// Eigenvalue summary of a kernel matrix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpectrumSummary {
    /// `lambda_min(K)`.
    pub lambda_min: f64,
    /// `lambda_max(K)`.
    pub lambda_max: f64,
    /// `lambda_max / lambda_min`; `None` when `lambda_min <= N eps lambda_max` (singular
    /// to working precision: the computed `lambda_min` is rounding, the ratio unbounded).
    pub condition: Option<f64>,
    /// `tr(K) / N`.
    pub mean_diagonal: f64,
    /// `lambda_min / (tr K / N)`: removes the scale set by the number of paths
    /// (PAPER.md section 6); `None` when the diagonal is zero.
    pub normalized_lambda_min: Option<f64>,
    /// How `lambda_min` was computed.
    pub method: Method,
}

impl SpectrumSummary {
    /// Computes the summary of `k`.
    pub fn of(k: &Array2<f64>) -> Result<SpectrumSummary, SpectrumError> {
        let (lmin, method) = lambda_min_with_method(k)?;
        let lmax = lambda_max(k)?;
        let n = k.nrows() as f64;
        let mean_diagonal = k.diag().sum() / n;
        Ok(SpectrumSummary {
            lambda_min: lmin,
            lambda_max: lmax,
            condition: (lmin > n * f64::EPSILON * lmax.abs()).then(|| lmax / lmin),
            mean_diagonal,
            normalized_lambda_min: (mean_diagonal > 0.0).then(|| lmin / mean_diagonal),
            method,
        })
    }
}

/// The 2x2 bound of Lemma 3.3 with its minimising pair:
/// `lambda_min(K) <= min_{i != j} lambda_min([[K_ii, K_ij], [K_ji, K_jj]])`, where the
/// 2x2 minimum is `(K_ii + K_jj)/2 - sqrt(((K_ii - K_jj)/2)^2 + K_ij^2)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PairBound {
    /// The bound.
    pub value: f64,
    /// First index of the minimising pair (`i < j`).
    pub i: usize,
    /// Second index.
    pub j: usize,
}

/// Computes the 2x2 bound (`None` for fewer than 2 points).
pub fn pair_bound(k: &Array2<f64>) -> Option<PairBound> {
    let n = k.nrows();
    let mut best: Option<PairBound> = None;
    for i in 0..n {
        for j in i + 1..n {
            let (a, d, b) = (k[[i, i]], k[[j, j]], k[[i, j]]);
            let value = 0.5 * (a + d) - (0.25 * (a - d) * (a - d) + b * b).sqrt();
            if best.is_none_or(|p| value < p.value) {
                best = Some(PairBound { value, i, j });
            }
        }
    }
    best
}

/// The path-sum bound of Eq. 12 for unit-diagonal inputs with correlation `c`:
/// `P - sum_p f^{d_p}(c) = sum_d n(d) (1 - h^d(c))`.
///
/// This is the eigenvalue `P - s` of the 2x2 path-sum kernel `[[P, s], [s, P]]`,
/// `s = sum_p h^{d_p}(c)`; it is that matrix's `lambda_min` only when `s >= 0` (for
/// strongly anti-correlated pairs on DAGs with skip-only paths, `s < 0` and the minimum is
/// `P + s`). The paper's `lambda_1..3` of section 3 are this quantity. Counts `n(d)` enter
/// as their nearest `f64` (exact below `2^53`; the sum overflows to infinity beyond
/// `2^1024` paths).
///
/// ```
/// use archconv::{Dag, PathStats, spectrum::pathsum_bound, kernel::relu::h_iter};
/// let s = PathStats::of(&Dag::dag1()).unwrap();
/// let c = 0.5;
/// assert!((pathsum_bound(&s, c) - (1.0 - h_iter(c, 3))).abs() < 1e-15);   // lambda_1
/// ```
pub fn pathsum_bound(stats: &PathStats, c: f64) -> f64 {
    stats
        .histogram_exact()
        .iter()
        .enumerate()
        .map(|(d, n)| n.to_f64() * (1.0 - h_iter(c, d)))
        .sum()
}

/// Why [`paper_bounds`] failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BoundsError {
    /// Counting a DAG's paths overflowed.
    #[error(transparent)]
    Paths(#[from] crate::paths::PathError),
    /// A correlation gives no valid 2x2 input Gram (for instance `|c| > 1`), or the
    /// kernel failed.
    #[error("exact kernel of {dag} at correlation c = {c}: {source}")]
    Kernel {
        /// `DAG#1`, `DAG#2`, `DAG#3`.
        dag: String,
        /// The correlation.
        c: f64,
        /// What went wrong.
        source: crate::kernel::KernelError,
    },
    /// The 2x2 output Gram's `lambda_min` could not be computed.
    #[error("lambda_min of {dag} at correlation c = {c}: {source}")]
    Spectrum {
        /// `DAG#1`, `DAG#2`, `DAG#3`.
        dag: String,
        /// The correlation.
        c: f64,
        /// What went wrong.
        source: SpectrumError,
    },
}

/// One DAG's 2-point numbers at one correlation ([`paper_pair_table`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairKernels {
    /// `DAG#1`, `DAG#2`, `DAG#3`.
    pub dag: String,
    /// The path-sum bound `P - sum_p f^{d_p}(c)` (Eq. 12).
    pub pathsum_bound: f64,
    /// Per rule ([`crate::kernel::KernelKind::ALL`] order): `(rule, lambda_min,
    /// lambda_min / mean diagonal)` of the 2x2 output Gram.
    pub kernels: Vec<(crate::kernel::KernelKind, f64, f64)>,
}

/// The section-3 bounds and every rule's 2-point `lambda_min` of DAG#1-#3 at each
/// correlation `c` of `cs`, for the dense lift's `K^0 = [[1, c], [c, 1]]`.
///
/// # Formula
///
/// For the 2x2 output Gram `G`, `lambda_min = (G_00 + G_11) / 2 - sqrt((G_00 - G_11)^2 / 4
/// + G_01^2)` (closed form, a second route beside [`paper_bounds`]' eigensolver), and the
/// normalised value divides by the mean diagonal `(G_00 + G_11) / 2`.
///
/// ```
/// use archconv::spectrum::paper_pair_table;
/// let t = paper_pair_table(&[0.5])?;
/// assert_eq!(t[0].1.len(), 3);                               // DAG#1-#3
/// assert_eq!(t[0].1[0].kernels.len(), 3);                    // three rules
/// # Ok::<(), archconv::spectrum::BoundsError>(())
/// ```
pub fn paper_pair_table(cs: &[f64]) -> Result<Vec<(f64, Vec<PairKernels>)>, BoundsError> {
    use crate::kernel::{Inputs, KernelKind, Lift};
    let mut out = Vec::new();
    for &c in cs {
        let inp = Inputs::from_gram(ndarray::array![[1.0, c], [c, 1.0]], Lift::Dense).map_err(
            |source| BoundsError::Kernel {
                dag: "every DAG".into(),
                c,
                source,
            },
        )?;
        let mut dags = Vec::new();
        for (name, dag) in crate::Dag::paper_dags() {
            let stats = PathStats::of(&dag)?;
            let mut kernels = Vec::new();
            for kind in KernelKind::ALL {
                let k = inp
                    .kernel(&dag, kind)
                    .map_err(|source| BoundsError::Kernel {
                        dag: name.into(),
                        c,
                        source,
                    })?;
                let g = &k.output().gram;
                let lmin = 0.5 * (g[[0, 0]] + g[[1, 1]])
                    - (0.25 * (g[[0, 0]] - g[[1, 1]]).powi(2) + g[[0, 1]].powi(2)).sqrt();
                kernels.push((kind, lmin, lmin / (0.5 * (g[[0, 0]] + g[[1, 1]]))));
            }
            dags.push(PairKernels {
                dag: name.into(),
                pathsum_bound: pathsum_bound(&stats, c),
                kernels,
            });
        }
        out.push((c, dags));
    }
    Ok(out)
}

/// The section-3 bounds of one of the paper's DAGs ([`paper_bounds`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DagBounds {
    /// `DAG#1`, `DAG#2`, `DAG#3`.
    pub name: String,
    /// The path-sum bound [`pathsum_bound`] at each `c` of [`PaperBounds::c`].
    pub bound: Vec<f64>,
    /// `(c, lambda_min)` of the exact kernel's 2x2 output Gram, one per requested `c`.
    pub exact: Vec<(f64, f64)>,
}

/// The result of [`paper_bounds`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PaperBounds {
    /// The correlation grid of the bounds.
    pub c: Vec<f64>,
    /// DAG#1-#3, in order.
    pub dags: Vec<DagBounds>,
}

/// The section-3 bounds of DAG#1-#3 against the input correlation (PAPER.md section 3,
/// the paper's Sec. 3.3).
///
/// # Formula
///
/// For two unit-norm inputs with correlation `c` (`K^0 = [[1, c], [c, 1]]`, dense lift)
/// and a DAG with `n(d)` paths of `d` parameterized edges, the path-sum bound (Eq. 12) is
/// `P - sum_p f^{d_p}(c) = sum_d n(d) (1 - f^d(c))`, `f` the ReLU arc-cosine map
/// ([`crate::kernel::relu::h_iter`]); for DAG#1-#3 it is `lambda_1 = 1 - f^3(c)`,
/// `lambda_2 = 3 (1 - f(c))`, `lambda_3 = 4 - (c + f(c) + 2 f^2(c))`. It is evaluated at
/// every `c` of `grid`; beside it, the exact kernel's `lambda_min(K^H)` of the 2x2 output
/// Gram at every `c` of `exact_at`.
///
/// ```
/// use archconv::spectrum::paper_bounds;
/// let b = paper_bounds(&[0.0, 0.5], &[0.5])?;
/// assert_eq!(b.dags.len(), 3);
/// assert!(b.dags[0].bound[1] < b.dags[1].bound[1]);   // lambda_1 < lambda_2 at c = 0.5
/// # Ok::<(), archconv::spectrum::BoundsError>(())
/// ```
pub fn paper_bounds(grid: &[f64], exact_at: &[f64]) -> Result<PaperBounds, BoundsError> {
    use crate::kernel::{Inputs, KernelKind, Lift};
    let mut dags = Vec::new();
    for (name, dag) in crate::Dag::paper_dags() {
        let stats = PathStats::of(&dag)?;
        let mut exact = Vec::with_capacity(exact_at.len());
        for &c in exact_at {
            let kernel_err = |source| BoundsError::Kernel {
                dag: name.to_string(),
                c,
                source,
            };
            let inputs = Inputs::from_gram(ndarray::array![[1.0, c], [c, 1.0]], Lift::Dense)
                .map_err(kernel_err)?;
            let k = inputs
                .kernel(&dag, KernelKind::Exact)
                .map_err(kernel_err)?
                .into_output_gram();
            let l = lambda_min(&k).map_err(|source| BoundsError::Spectrum {
                dag: name.to_string(),
                c,
                source,
            })?;
            exact.push((c, l));
        }
        dags.push(DagBounds {
            name: name.to_string(),
            bound: grid.iter().map(|&c| pathsum_bound(&stats, c)).collect(),
            exact,
        });
    }
    Ok(PaperBounds {
        c: grid.to_vec(),
        dags,
    })
}
