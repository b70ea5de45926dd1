//! Finite-width feature matrices, their empirical Grams and square-root factors.
//!
//! A node's features are an `m x N` matrix `X` (row `k` = unit `k` across the `N` inputs),
//! stored row-major in one `Vec<T>` so that fixed blocks of rows are contiguous: every
//! parallel loop works on fixed-size row blocks and combines them in block order, which
//! makes results independent of the number of threads.

use super::rng::BlockRng;
use crate::kernel::NodeState;
use faer::{Accum, Mat, MatRef, Par};
use ndarray::{Array1, Array2};
use rand::Rng;
use rand_distr::StandardNormal;

/// `sqrt(2)`, the Kaiming gain of a ReLU edge.
pub(crate) const SQRT2: f64 = std::f64::consts::SQRT_2;

/// The working precision of a sampler's features and products (`f32` or `f64`).
pub(crate) trait Real:
    faer::traits::RealField
    + Copy
    + Send
    + Sync
    + PartialOrd
    + std::ops::AddAssign
    + std::ops::Mul<Output = Self>
    + bytemuck::Pod
    + 'static
{
    /// Rounds an `f64`.
    fn of(v: f64) -> Self;
    /// Widens to `f64`.
    fn wide(self) -> f64;
    /// One standard normal draw (ziggurat).
    fn normal(rng: &mut BlockRng) -> Self;
    /// Machine epsilon.
    const EPS: f64;
}

impl Real for f32 {
    const EPS: f64 = f32::EPSILON as f64;
    fn of(v: f64) -> f32 {
        v as f32
    }
    fn wide(self) -> f64 {
        self as f64
    }
    fn normal(rng: &mut BlockRng) -> f32 {
        rng.sample(StandardNormal)
    }
}

impl Real for f64 {
    const EPS: f64 = f64::EPSILON;
    fn of(v: f64) -> f64 {
        v
    }
    fn wide(self) -> f64 {
        self
    }
    fn normal(rng: &mut BlockRng) -> f64 {
        rng.sample(StandardNormal)
    }
}

/// An `m x N` feature matrix, row-major, in a buffer recycled through a small pool: the
/// page faults of fresh allocations cost about a tenth of a small network's sampling.
#[derive(Debug)]
pub(crate) struct Features<T> {
    words: Vec<u64>,
    len: usize,
    _t: std::marker::PhantomData<T>,
}

/// Freed feature buffers kept for reuse, and the most bytes kept.
static POOL: std::sync::Mutex<Vec<Vec<u64>>> = std::sync::Mutex::new(Vec::new());
const POOL_KEEP_BYTES: usize = 128 << 20;

impl<T: Real> Features<T> {
    /// `len` values with arbitrary contents (every user writes before reading).
    pub(crate) fn uninit(len: usize) -> Features<T> {
        let words = (len * std::mem::size_of::<T>()).div_ceil(8);
        let reused = POOL.lock().ok().and_then(|mut pool| {
            let i = pool.iter().position(|b| b.len() == words)?;
            Some(pool.swap_remove(i))
        });
        Features {
            words: reused.unwrap_or_else(|| vec![0; words]),
            len,
            _t: std::marker::PhantomData,
        }
    }

    /// The values.
    pub(crate) fn data(&self) -> &[T] {
        &bytemuck::cast_slice::<u64, T>(&self.words)[..self.len]
    }

    /// The values, mutably.
    pub(crate) fn data_mut(&mut self) -> &mut [T] {
        &mut bytemuck::cast_slice_mut::<u64, T>(&mut self.words)[..self.len]
    }
}

/// Frees the feature buffers kept for reuse.
pub(crate) fn drain_pool() {
    if let Ok(mut pool) = POOL.lock() {
        pool.clear();
    }
}

impl<T> Drop for Features<T> {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.words);
        if let Ok(mut pool) = POOL.lock() {
            let kept: usize = pool.iter().map(|b| b.len() * 8).sum();
            if kept + buf.len() * 8 <= POOL_KEEP_BYTES {
                pool.push(buf);
            }
        }
    }
}

/// Rows per Gram partial: at least 1024, at most 32 partials, and a multiple of 512 (so
/// both samplers' sampling blocks tile it). A function of `m` only.
pub(crate) fn gram_chunk_rows(m: usize) -> usize {
    m.div_ceil(32).max(1024).next_multiple_of(512)
}

/// Columns per panel of the lower-trapezoid Gram update in [`Partial::add`] (a multiple
/// of the GEMM micro-kernel's width; 8 and 16 measure alike at `N = 64`).
const GRAM_PANEL: usize = 16;

/// A chunk's running Gram partial `sum_k X_k X_k^T` (lower triangle) and column sums
/// `sum_k X_k`, both in the working precision `T`.
///
/// Within a chunk the products accumulate in `T` over at most `gram_chunk_rows(m)` rows
/// (`f32`: relative rounding `~sqrt(rows) 6e-8`, below `1e-5` for `m <= 2^20`, far below
/// the Monte Carlo noise `m^{-1/2}`); chunks are summed in `f64` by [`finish_gram`].
pub(crate) struct Partial<T> {
    /// Lower triangle of `sum_k X_k X_k^T` (column-major, `N x N`).
    pub(crate) gram: Mat<T>,
    /// `sum_k X_k`, one per column.
    pub(crate) sums: Vec<T>,
}

impl<T: Real> Partial<T> {
    /// An empty partial for `N` columns.
    pub(crate) fn new(n: usize) -> Partial<T> {
        Partial {
            gram: Mat::zeros(n, n),
            sums: vec![T::of(0.0); n],
        }
    }

    /// Adds one row block `B` (`b x N`, row-major) to the Gram: `gram += B^T B` (the
    /// samplers add `1^T B` to `sums` in the pass that finishes the block).
    pub(crate) fn add(&mut self, block: &[T]) {
        let n = self.gram.nrows();
        let b = block.len() / n;
        let xb = MatRef::from_row_major_slice(block, b, n);
        let one = T::of(1.0);
        // Lower trapezoid by column panels: panel `[j0, j0 + w)` gets rows `j0..N` only,
        // so about half the flops of the full product at full GEMM speed (faer's
        // triangular product saves nothing at these sizes).
        let xt = xb.transpose();
        let mut j0 = 0;
        while j0 < n {
            let w = GRAM_PANEL.min(n - j0);
            faer::linalg::matmul::matmul(
                self.gram.as_mut().submatrix_mut(j0, j0, n - j0, w),
                Accum::Add,
                xt.subrows(j0, n - j0),
                xb.subcols(j0, w),
                one,
                Par::Seq,
            );
            j0 += w;
        }
    }
}

/// Empirical Gram `(1/m) X^T X` and mean `(1/m) sum_k X_k` from row-block partials
/// (lower triangles), summed in `f64` in block order (thread-count independent).
pub(crate) fn finish_gram<T: Real>(partials: &[Partial<T>], m: usize, n: usize) -> NodeState {
    // Column-major f64 accumulator, read along the partials' columns (contiguous).
    let mut acc = vec![0.0f64; n * n];
    let mut mean = Array1::<f64>::zeros(n);
    for p in partials {
        for (j, dst) in acc.chunks_exact_mut(n).enumerate() {
            let src = p
                .gram
                .col(j)
                .try_as_col_major()
                .expect("owned columns are contiguous");
            for (d, s) in dst[j..].iter_mut().zip(&src.as_slice()[j..]) {
                *d += s.wide();
            }
        }
        for (mu, s) in mean.iter_mut().zip(&p.sums) {
            *mu += s.wide();
        }
    }
    let inv = 1.0 / m as f64;
    // `acc` holds the lower triangle column by column, which is the upper triangle of the
    // row-major result; mirror it.
    let mut gram = Array2::<f64>::zeros((n, n));
    {
        let g = gram.as_slice_mut().expect("standard layout");
        for j in 0..n {
            for i in j..n {
                let v = acc[j * n + i] * inv;
                g[j * n + i] = v;
                g[i * n + j] = v;
            }
        }
    }
    mean.mapv_inplace(|v| v * inv);
    NodeState { gram, mean }
}

/// A square-root factor `F` (`N x r`, `F F^T = G`, `r <= N`) of a symmetric positive
/// semidefinite matrix.
#[derive(Debug, Clone)]
pub(crate) struct Factor {
    /// `F`, `N x r`.
    pub(crate) f: Mat<f64>,
    /// `F` is the lower-triangular Cholesky factor (`r = N`).
    pub(crate) lower: bool,
}

/// Factors `G` (PAPER.md section 6): Cholesky `G = L L^T` when every pivot satisfies
/// `L_ii^2 > tol = 4 N eps max_i G_ii`; otherwise the diagonally pivoted Cholesky factor
/// ([`pivoted_cholesky`]) of rank `r`, which stops when the largest remaining pivot is
/// below `tol` (singular Grams: `N > m`, duplicate points, features of rank `d < N` after
/// a dense lift). `eps` is the machine epsilon of the precision `G` was accumulated in
/// (`f32`: `1.2e-7`), so rounding noise in `G` does not pass for extra rank; what is
/// dropped has trace at most `(N - r) tol`, a relative change of at most `4 N eps` in the
/// sampled covariance, far below the Monte Carlo noise. Drawing `Z = E F^T` with `E`
/// (`m x r`) iid N(0, 1) then gives rows iid N(0, F F^T), with `r` normals per row instead
/// of `N`. `None` if `G` has a non-finite entry.
pub(crate) fn root_factor(g: &Array2<f64>, eps: f64) -> Option<Factor> {
    let n = g.nrows();
    if !g.iter().all(|v| v.is_finite()) {
        return None;
    }
    let dmax = (0..n).map(|i| g[[i, i]]).fold(0.0f64, f64::max);
    let tol = 4.0 * n as f64 * eps * dmax;
    let gf = Mat::<f64>::from_fn(n, n, |i, j| g[[i, j]]);
    if let Ok(llt) = gf.llt(faer::Side::Lower) {
        let l = llt.L().to_owned();
        if (0..n).all(|i| l[(i, i)].is_finite() && l[(i, i)] * l[(i, i)] > tol) {
            return Some(Factor { f: l, lower: true });
        }
    }
    let f = pivoted_cholesky(g, tol);
    f.as_ref()
        .is_all_finite()
        .then_some(Factor { f, lower: false })
}

/// Diagonally pivoted (outer-product) Cholesky of a positive semidefinite `G`: at step
/// `k` the largest remaining Schur-complement diagonal `d_p` becomes the pivot, column
/// `k` of `F` is `(G_{:,p} - F_{:,<k} F_{p,<k}^T) / sqrt(d_p)` for every row and
/// `d -= F_{:,k}^2` for rows not yet pivots;
/// stops when `max d <= tol`. Returns `F` (`N x r`, `r >= 1`, rows in the original
/// order) with `F F^T = G` up to the dropped Schur complement (trace `<= N tol`). Cost
/// `O(N^2 r)`.
pub(crate) fn pivoted_cholesky(g: &Array2<f64>, tol: f64) -> Mat<f64> {
    let n = g.nrows();
    let mut d: Vec<f64> = (0..n).map(|i| g[[i, i]]).collect();
    let mut done = vec![false; n];
    // Row-major N x N workspace; column k of F is filled at step k.
    let mut f = vec![0.0f64; n * n];
    let mut r = 0;
    while r < n {
        let (p, dp) = (0..n).filter(|&i| !done[i]).map(|i| (i, d[i])).fold(
            (usize::MAX, f64::NEG_INFINITY),
            |a, b| if b.1 > a.1 { b } else { a },
        );
        if p == usize::MAX || dp.is_nan() || dp <= tol {
            break;
        }
        let piv = dp.sqrt();
        done[p] = true;
        let fp: Vec<f64> = f[p * n..p * n + r].to_vec();
        // Every row, the pivot's and earlier pivots' included, by the same formula: rows
        // of equal Gram columns (duplicated points) then stay bit-for-bit equal whichever
        // of them is chosen as pivot. (Setting the pivot entry to `sqrt(d_p)` and skipping
        // earlier pivots, as usual, leaves a duplicate of a pivot with rounding-level
        // entries its twin lacks.) In exact arithmetic the pivot's entry is `sqrt(d_p)`
        // and earlier pivots' entries are 0.
        for i in 0..n {
            let row = &f[i * n..i * n + r];
            let dot: f64 = row.iter().zip(&fp).map(|(a, b)| a * b).sum();
            let v = (g[[i, p]] - dot) / piv;
            f[i * n + r] = v;
            if !done[i] {
                d[i] -= v * v;
            }
        }
        r += 1;
    }
    let r = r.max(1);
    Mat::from_fn(n, r, |i, k| f[i * n + k])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Block-accumulated Gram and mean against direct f64 sums. Error bound (standard
    /// summation analysis): rounding the inputs to `T` costs `2u` relative per product and
    /// a sum of at most `k = 1024` terms per partial costs `k u` relative to the sum of
    /// absolute values, with `u = eps / 2`; the f64 combination of partials adds `~3 u64`.
    /// So `|err_ij| <= (k + 2) u S_ij + 1e-15 S_ij`, `S_ij = (1/m) sum |x_i x_j|`.
    fn check_blocks<T: Real>() {
        let (m, n) = (3000, 5);
        let u = T::EPS / 2.0;
        let bound = |abs_sum: f64| (1026.0 * u + 1e-15) * abs_sum;
        let x: Vec<f64> = (0..m * n)
            .map(|k| ((k * 37 % 101) as f64 - 50.0) / 17.0)
            .collect();
        let xt: Vec<T> = x.iter().map(|&v| T::of(v)).collect();
        // Three partials of uneven block sizes, as the samplers produce them.
        let mut partials = Vec::new();
        for rows in [(0, 1024), (1024, 2048), (2048, 3000)] {
            let mut p = Partial::<T>::new(n);
            for b in (rows.0..rows.1).step_by(512) {
                let end = (b + 512).min(rows.1);
                let blk = &xt[b * n..end * n];
                p.add(blk);
                // The samplers add column sums in their combine pass, row by row.
                for row in blk.chunks_exact(n) {
                    for (s, &v) in p.sums.iter_mut().zip(row) {
                        *s += v;
                    }
                }
            }
            partials.push(p);
        }
        let st = finish_gram(&partials, m, n);
        let col = |k: usize, i: usize| x[k * n + i];
        for i in 0..n {
            let mu: f64 = (0..m).map(|k| col(k, i)).sum::<f64>() / m as f64;
            let mu_abs: f64 = (0..m).map(|k| col(k, i).abs()).sum::<f64>() / m as f64;
            assert!((st.mean[i] - mu).abs() <= bound(mu_abs), "mean {i}");
            for j in 0..n {
                let g: f64 = (0..m).map(|k| col(k, i) * col(k, j)).sum::<f64>() / m as f64;
                let g_abs: f64 =
                    (0..m).map(|k| (col(k, i) * col(k, j)).abs()).sum::<f64>() / m as f64;
                assert!((st.gram[[i, j]] - g).abs() <= bound(g_abs), "({i},{j})");
            }
        }
    }

    #[test]
    fn dbg_duplicate_pivot() {
        let (n, r) = (10, 4);
        let a = |i: usize, c: usize| {
            let i = if i == 7 { 3 } else { i };
            (((i * 31 + c * 17) % 23) as f64 - 11.0) / 7.0 * if i == 3 { 3.0 } else { 1.0 }
        };
        let g = Array2::from_shape_fn((n, n), |(i, j)| {
            (0..r).map(|c| a(i, c) * a(j, c)).sum::<f64>()
        });
        let f = pivoted_cholesky(&g, 4.0 * n as f64 * f64::EPSILON * 100.0);
        for k in 0..f.ncols() {
            eprintln!("DBG col {k}: row3 {:e} row7 {:e}", f[(3, k)], f[(7, k)]);
        }
    }

    #[test]
    fn block_grams_match_direct_sums() {
        check_blocks::<f64>();
        check_blocks::<f32>();
    }

    #[test]
    fn rank_is_found_in_an_f32_gram_with_the_f32_tolerance() {
        // Features of rank 5 (m = 4096 rows, N = 20 columns, X = A B with A 4096 x 5 and
        // B 5 x 20) accumulated in f32 as the samplers do: the Gram's rounding noise
        // (~1e-6 relative) is far above f64's tolerance, so only the f32 tolerance
        // recovers rank 5; the recovered factor reproduces G within that tolerance.
        let (m, n, d) = (4096, 20, 5);
        let a = |k: usize, c: usize| (((k * 31 + c * 17) % 23) as f64 - 11.0) / 7.0;
        let b = |c: usize, j: usize| (((c * 13 + j * 5) % 11) as f64 - 5.0) / 3.0;
        let x: Vec<f32> = (0..m * n)
            .map(|q| (0..d).map(|c| a(q / n, c) * b(c, q % n)).sum::<f64>() as f32)
            .collect();
        let mut partials = Vec::new();
        for chunk in x.chunks(1024 * n) {
            let mut p = Partial::<f32>::new(n);
            chunk.chunks(512 * n).for_each(|blk| p.add(blk));
            partials.push(p);
        }
        let g = finish_gram(&partials, m, n).gram;
        let r32 = root_factor(&g, f32::EPSILON as f64).expect("factor");
        assert_eq!(r32.f.ncols(), d);
        let r64 = root_factor(&g, f64::EPSILON).expect("factor");
        assert!(
            r64.f.ncols() > d,
            "f64 tolerance sees the f32 noise as rank"
        );
        // What the factor drops is a PSD Schur complement with diagonal below the
        // tolerance `4 N eps32 max G_ii`, so every entry of F F^T - G is within it (plus
        // f64 rounding of the factorization).
        let dmax = (0..n).map(|i| g[[i, i]]).fold(0.0f64, f64::max);
        let tol = 4.0 * n as f64 * f32::EPSILON as f64 * dmax + 1e-12 * dmax;
        for i in 0..n {
            for j in 0..n {
                let s: f64 = (0..d).map(|k| r32.f[(i, k)] * r32.f[(j, k)]).sum();
                assert!((s - g[[i, j]]).abs() <= tol, "({i},{j})");
            }
        }
    }

    #[test]
    fn factors_reproduce_singular_grams_with_their_rank() {
        // Rank 2 in R^4 with a duplicated point: Cholesky fails, the pivoted Cholesky
        // factor keeps 2 columns.
        let v = [[1.0, 0.0], [0.6, 0.8], [1.0, 0.0], [-0.28, 0.96]];
        let g = Array2::from_shape_fn((4, 4), |(i, j)| v[i][0] * v[j][0] + v[i][1] * v[j][1]);
        let r = root_factor(&g, f64::EPSILON).expect("factor");
        assert_eq!(r.f.ncols(), 2);
        assert!(!r.lower);
        for i in 0..4 {
            for j in 0..4 {
                let s: f64 = (0..2).map(|k| r.f[(i, k)] * r.f[(j, k)]).sum();
                assert!(
                    (s - g[[i, j]]).abs() < 1e-13,
                    "({i},{j}): {s} vs {}",
                    g[[i, j]]
                );
            }
        }
        // A well-conditioned Gram takes the Cholesky route.
        let h = Array2::from_shape_fn((3, 3), |(i, j)| if i == j { 2.0 } else { 0.5 });
        let c = root_factor(&h, f64::EPSILON).expect("factor");
        assert!(c.lower && c.f.ncols() == 3);
        // Rank 7 in R^30 (a random Gram V V^T, V 30 x 7): rank and entries recovered to
        // rounding.
        let vv =
            Array2::from_shape_fn((30, 7), |(i, k)| ((i * 7 + k * 13) % 17) as f64 / 8.0 - 1.0);
        let g7 = vv.dot(&vv.t());
        let f7 = root_factor(&g7, f64::EPSILON).expect("factor");
        assert_eq!(f7.f.ncols(), 7);
        let scale = g7.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        for i in 0..30 {
            for j in 0..30 {
                let s: f64 = (0..7).map(|k| f7.f[(i, k)] * f7.f[(j, k)]).sum();
                assert!((s - g7[[i, j]]).abs() < 1e-12 * scale, "({i},{j})");
            }
        }
        let mut nan = h.clone();
        nan[[0, 1]] = f64::NAN;
        assert!(root_factor(&nan, f64::EPSILON).is_none());
    }

    #[test]
    fn duplicated_points_get_equal_root_rows_even_as_pivots() {
        // Ten points in R^4, point 7 a copy of point 3, which has the largest norm and so
        // is the first pivot. The root's rows 3 and 7 must be equal bit for bit (the
        // usual `sqrt(d_p)` pivot entry differs from its twin in the last place, and the
        // twin then picks up rounding-level entries in later columns).
        let (n, r) = (10, 4);
        let a = |i: usize, c: usize| {
            let i = if i == 7 { 3 } else { i };
            let scale = if i == 3 { 3.0 } else { 1.0 };
            scale * (((i * 31 + c * 17) % 23) as f64 - 11.0) / 7.0
        };
        let g = Array2::from_shape_fn((n, n), |(i, j)| {
            (0..r).map(|c| a(i, c) * a(j, c)).sum::<f64>()
        });
        let f = root_factor(&g, f64::EPSILON).expect("factor");
        assert!(!f.lower);
        assert_eq!(f.f.ncols(), r);
        for k in 0..r {
            assert_eq!(f.f[(3, k)].to_bits(), f.f[(7, k)].to_bits(), "column {k}");
        }
        // The first pivot's column is G's column 3 over sqrt(G_33).
        assert_eq!(f.f[(3, 0)], g[[3, 3]] / g[[3, 3]].sqrt());
        let scale = g.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for i in 0..n {
            for j in 0..n {
                let s: f64 = (0..r).map(|k| f.f[(i, k)] * f.f[(j, k)]).sum();
                assert!((s - g[[i, j]]).abs() < 1e-13 * scale, "({i},{j})");
            }
        }
    }
}
