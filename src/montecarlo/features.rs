//! Finite-width feature matrices and their empirical Grams.
//!
//! A node's features are an `m x N` matrix `X` (row `k` = unit `k` across the `N` inputs),
//! stored row-major in one `Vec<f64>` so that fixed blocks of rows are contiguous: every
//! parallel loop works on fixed-size row blocks and combines them in block order, which
//! makes results independent of the number of threads.

use crate::kernel::NodeState;
use faer::{Accum, Mat, MatRef, Par};
use ndarray::{Array1, Array2};
use rayon::prelude::*;

/// `sqrt(2)`, the Kaiming gain of a ReLU edge.
pub(crate) const SQRT2: f64 = std::f64::consts::SQRT_2;

/// An `m x N` feature matrix, row-major.
#[derive(Debug, Clone)]
pub(crate) struct Features {
    pub(crate) m: usize,
    pub(crate) n: usize,
    pub(crate) data: Vec<f64>,
}

impl Features {
    pub(crate) fn zeros(m: usize, n: usize) -> Features {
        Features {
            m,
            n,
            data: vec![0.0; m * n],
        }
    }

    /// `self += other` (a skip edge).
    pub(crate) fn add(&mut self, other: &Features) {
        self.data
            .par_chunks_mut(1 << 14)
            .zip(other.data.par_chunks(1 << 14))
            .for_each(|(a, b)| a.iter_mut().zip(b).for_each(|(x, y)| *x += y));
    }

    /// An `f32` copy (for the single-precision explicit GEMM).
    pub(crate) fn to_f32(&self) -> Vec<f32> {
        self.data.par_iter().map(|&v| v as f32).collect()
    }
}

/// Rows per partial Gram: at least 1024, and at most 32 partials (a function of `m` only).
pub(crate) fn gram_chunk_rows(m: usize) -> usize {
    m.div_ceil(32).max(1024)
}

/// Empirical Gram `(1/m) X^T X` and mean `(1/m) sum_k X_k` of a feature matrix, computed
/// as fixed row-block partials summed in block order (thread-count independent).
pub(crate) fn gram_mean(x: &Features) -> NodeState {
    let (m, n) = (x.m, x.n);
    let rows = gram_chunk_rows(m);
    let partials: Vec<(Mat<f64>, Vec<f64>)> = x
        .data
        .par_chunks(rows * n)
        .map(|block| {
            let b = block.len() / n;
            let xb = MatRef::from_row_major_slice(block, b, n);
            let mut g = Mat::<f64>::zeros(n, n);
            faer::linalg::matmul::matmul(
                g.as_mut(),
                Accum::Replace,
                xb.transpose(),
                xb,
                1.0,
                Par::Seq,
            );
            let mut s = vec![0.0; n];
            for row in block.chunks_exact(n) {
                s.iter_mut().zip(row).for_each(|(a, v)| *a += v);
            }
            (g, s)
        })
        .collect();
    let mut gram = Array2::<f64>::zeros((n, n));
    let mut mean = Array1::<f64>::zeros(n);
    for (g, s) in &partials {
        for i in 0..n {
            for j in 0..n {
                gram[[i, j]] += g[(i, j)];
            }
            mean[i] += s[i];
        }
    }
    let inv = 1.0 / m as f64;
    for i in 0..n {
        for j in 0..i {
            let v = 0.5 * (gram[[i, j]] + gram[[j, i]]) * inv;
            gram[[i, j]] = v;
            gram[[j, i]] = v;
        }
        gram[[i, i]] *= inv;
    }
    mean.mapv_inplace(|v| v * inv);
    NodeState { gram, mean }
}

/// A square-root factor `L` (`N x N`, `L L^T = G`) of a symmetric positive semidefinite
/// matrix: Cholesky when it succeeds, otherwise the eigen square root
/// `L = U diag(sqrt(max(lambda, 0)))` with eigenvalues below `N eps lambda_max` set to zero
/// (singular Grams: `N > m`, duplicate points). `None` if the eigensolver fails.
pub(crate) fn sqrt_factor(g: &Array2<f64>) -> Option<Mat<f64>> {
    let n = g.nrows();
    let gf = Mat::<f64>::from_fn(n, n, |i, j| g[[i, j]]);
    if let Ok(llt) = gf.llt(faer::Side::Lower) {
        let l = llt.L().to_owned();
        let ok = (0..n).all(|i| l[(i, i)].is_finite() && l[(i, i)] > 0.0);
        if ok {
            return Some(l);
        }
    }
    let eig = gf.self_adjoint_eigen(faer::Side::Lower).ok()?;
    let s = eig.S();
    let u = eig.U();
    let lmax = (0..n).map(|i| s[i]).fold(0.0f64, f64::max);
    let thr = n as f64 * f64::EPSILON * lmax;
    let root: Vec<f64> = (0..n)
        .map(|j| if s[j] > thr { s[j].sqrt() } else { 0.0 })
        .collect();
    let l = Mat::<f64>::from_fn(n, n, |i, j| u[(i, j)] * root[j]);
    l.as_ref().is_all_finite().then_some(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gram_mean_matches_direct_sums() {
        let (m, n) = (3000, 5);
        let mut x = Features::zeros(m, n);
        for (k, v) in x.data.iter_mut().enumerate() {
            *v = ((k * 37 % 101) as f64 - 50.0) / 17.0;
        }
        let st = gram_mean(&x);
        for i in 0..n {
            let mu: f64 = (0..m).map(|k| x.data[k * n + i]).sum::<f64>() / m as f64;
            assert!((st.mean[i] - mu).abs() < 1e-12 * (1.0 + mu.abs()));
            for j in 0..n {
                let g: f64 = (0..m)
                    .map(|k| x.data[k * n + i] * x.data[k * n + j])
                    .sum::<f64>()
                    / m as f64;
                assert!(
                    (st.gram[[i, j]] - g).abs() < 1e-11 * (1.0 + g.abs()),
                    "({i},{j})"
                );
            }
        }
    }

    #[test]
    fn sqrt_factor_reproduces_singular_grams() {
        // Rank 2 in R^4 with a duplicated point: Cholesky fails, the eigen root is used.
        let v = [[1.0, 0.0], [0.6, 0.8], [1.0, 0.0], [-0.28, 0.96]];
        let g = Array2::from_shape_fn((4, 4), |(i, j)| v[i][0] * v[j][0] + v[i][1] * v[j][1]);
        let l = sqrt_factor(&g).expect("factor");
        for i in 0..4 {
            for j in 0..4 {
                let r: f64 = (0..4).map(|k| l[(i, k)] * l[(j, k)]).sum();
                assert!(
                    (r - g[[i, j]]).abs() < 1e-13,
                    "({i},{j}): {r} vs {}",
                    g[[i, j]]
                );
            }
        }
    }
}
