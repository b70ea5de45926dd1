//! NASWOT, the training-free score of Mellor et al. (ICML 2021), as the paper's authors
//! run it (`hook_logdet` in their `nas-without-training/search.py`), on the networks of
//! [`super::cnn`].
//!
//! For a batch of `B` images, every ReLU's input is turned into binary codes
//! `c_i = 1[x_i > 0]` (one vector of length `F` per image), and
//!
//! ```text
//! K = sum over ReLUs of  c c^T + (1 - c)(1 - c)^T,     score = ln |det K|
//! ```
//!
//! `K_ij` counts, summed over ReLUs, the units on which images `i` and `j` agree (both
//! active or both inactive): `F - hamming(c_i, c_j)`. The codes are packed 64 to a word and
//! compared with popcount, so `K` costs `B^2 F / 128` word operations per ReLU instead of
//! a `B x F` by `F x B` product; ReLUs that read the same tensor (the convolution edges
//! leaving one cell node) are packed once and added with their multiplicity. The order of
//! units inside an image does not change a Hamming distance, so the channels-last layout
//! is used as it is.
//!
//! ```
//! use archconv::dag::format::Nb201Arch;
//! use archconv::nas::{naswot, cnn::{Maps, Nb201Network, NetConfig}};
//! let cell = Nb201Arch::parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|")?;
//! let cfg = NetConfig { channels: 4, cells_per_stage: 1, classes: 10 };
//! let net = Nb201Network::new(&cell, &cfg, 0)?;
//! let v: Vec<f32> = (0..8 * 3 * 16 * 16).map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0).collect();
//! let s = naswot::score(&net, &Maps::from_nchw(&v, 8, 3, 16, 16))?;
//! assert_eq!(s.relus, 3 * 3 + 2 * 2 + 1);
//! println!("NASWOT {:.2}", s.score);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::cnn::{CnnError, Maps, Nb201Network};
use rayon::prelude::*;

/// A NASWOT evaluation.
#[derive(Debug, Clone)]
pub struct NaswotScore {
    /// `ln |det K|` (`-inf` when `K` is singular).
    pub score: f64,
    /// How many ReLUs contributed.
    pub relus: usize,
    /// The kernel `K` (`B x B`, row-major).
    pub kernel: Vec<f64>,
    /// `B`.
    pub batch: usize,
}

/// The binary codes of one image, packed: bit `u % 64` of word `u / 64` is `1[x_u > 0]`
/// for the units `u` in the order `rows` gives them.
pub fn pack_codes<'a>(rows: impl Iterator<Item = &'a [f32]>, units: usize) -> Vec<u64> {
    let mut w = vec![0u64; units.div_ceil(64)];
    let mut u = 0usize;
    for row in rows {
        if u.is_multiple_of(64) && row.len().is_multiple_of(64) {
            // Whole words: a branch-free loop the compiler turns into vector compares.
            for (word, chunk) in w[u / 64..].iter_mut().zip(row.chunks_exact(64)) {
                *word = chunk
                    .iter()
                    .enumerate()
                    .fold(0u64, |acc, (i, v)| acc | (u64::from(*v > 0.0) << i));
            }
            u += row.len();
        } else {
            for v in row {
                w[u / 64] |= u64::from(*v > 0.0) << (u % 64);
                u += 1;
            }
        }
    }
    w
}

/// `sum_k popcount(a_k xor b_k)`.
#[inline(always)]
fn hamming_plain(a: &[u64], b: &[u64]) -> u64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| u64::from((x ^ y).count_ones()))
        .sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn hamming_popcnt(a: &[u64], b: &[u64]) -> u64 {
    hamming_plain(a, b)
}

/// The Hamming distance of two packed code vectors, with the processor's `popcnt` when it
/// has one (the baseline `x86-64` target does not assume it).
fn hamming(a: &[u64], b: &[u64]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("popcnt") {
        // SAFETY: the processor supports POPCNT (checked just above).
        return unsafe { hamming_popcnt(a, b) };
    }
    hamming_plain(a, b)
}

/// The running sum `K` over ReLUs.
#[derive(Debug, Clone)]
pub struct CodeKernel {
    batch: usize,
    k: Vec<f64>,
    relus: usize,
}

impl CodeKernel {
    /// `K = 0` for `batch` images.
    pub fn new(batch: usize) -> CodeKernel {
        CodeKernel {
            batch,
            k: vec![0.0; batch * batch],
            relus: 0,
        }
    }

    /// Adds `times` copies of `c c^T + (1 - c)(1 - c)^T` for the packed codes of each
    /// image (`codes.len() = B`, each of `units` bits).
    pub fn add(&mut self, codes: &[Vec<u64>], units: usize, times: usize) {
        let b = self.batch;
        assert_eq!(codes.len(), b, "one code vector per image");
        // The upper triangle (j >= i), mirrored below: K is symmetric.
        let rows: Vec<Vec<f64>> = (0..b)
            .into_par_iter()
            .map(|i| {
                (i..b)
                    .map(|j| {
                        let ham = hamming(&codes[i], &codes[j]);
                        ((units as u64 - ham) * times as u64) as f64
                    })
                    .collect()
            })
            .collect();
        for (i, r) in rows.iter().enumerate() {
            for (off, v) in r.iter().enumerate() {
                let j = i + off;
                self.k[i * b + j] += v;
                if j != i {
                    self.k[j * b + i] += v;
                }
            }
        }
        self.relus += times;
    }

    /// Adds a ReLU input read by `times` ReLUs.
    pub fn add_maps(&mut self, x: &Maps, times: usize) {
        let units = x.units();
        let codes: Vec<Vec<u64>> = (0..x.batch)
            .into_par_iter()
            .map(|b| pack_codes(x.image_rows(b), units))
            .collect();
        self.add(&codes, units, times);
    }

    /// The score `ln |det K|`.
    pub fn finish(self) -> Result<NaswotScore, CnnError> {
        let n = self.batch;
        Ok(NaswotScore {
            score: logdet(&self.k, n).ok_or(CnnError::NoConvergence { n })?,
            relus: self.relus,
            kernel: self.k,
            batch: n,
        })
    }
}

/// `ln |det K|` of a symmetric matrix: Cholesky when `K` is positive definite, else the
/// sum of `ln |lambda|` over its eigenvalues (`-inf` when one is zero), as NumPy's
/// `slogdet` gives for the authors' score. `None` if the eigensolver does not converge.
pub fn logdet(k: &[f64], n: usize) -> Option<f64> {
    let m = faer::Mat::<f64>::from_fn(n, n, |i, j| k[i * n + j]);
    if let Ok(llt) = m.llt(faer::Side::Lower) {
        let l = llt.L();
        return Some((0..n).map(|i| 2.0 * l[(i, i)].ln()).sum());
    }
    let a = ndarray::Array2::from_shape_fn((n, n), |(i, j)| k[i * n + j]);
    crate::linalg::sym_eigenvalues(a.view()).map(|ev| ev.iter().map(|v| v.abs().ln()).sum())
}

/// The first `b` images of a CIFAR dataset ([`crate::data::load_cifar10`], standardised
/// or not) as [`Maps`] (each row of the dataset is the R, G and B planes in order).
pub fn cifar_batch(ds: &crate::data::Dataset, b: usize) -> Result<Maps, CnnError> {
    if ds.dim() != 3 * 32 * 32 || b == 0 || b > ds.len() {
        return Err(CnnError::BadInput {
            shape: vec![ds.len(), ds.dim()],
            channels: 3,
        });
    }
    let v: Vec<f32> = ds.x.rows().into_iter().take(b).flatten().copied().collect();
    Ok(Maps::from_nchw(&v, b, 3, 32, 32))
}

/// The NASWOT score of `net` on `images`.
pub fn score(net: &Nb201Network, images: &Maps) -> Result<NaswotScore, CnnError> {
    let mut k = CodeKernel::new(images.batch);
    net.forward(images, &mut |x: &Maps, times| {
        k.add_maps(x, times);
        Ok(())
    })?;
    k.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_codes_equal_the_float_products() {
        // 5 images x 7 x 11 x 2 = 154 units (not a multiple of 64): the last word is partial.
        let (b, c, h, w) = (5usize, 2usize, 7usize, 11usize);
        let f = c * h * w;
        let v: Vec<f32> = (0..b * f).map(|i| ((i * 7919) % 13) as f32 - 6.0).collect();
        let x = Maps::from_nchw(&v, b, c, h, w);
        let mut k = CodeKernel::new(b);
        k.add_maps(&x, 2);
        for i in 0..b {
            for j in 0..b {
                let cc = |r: usize, u: usize| if v[r * f + u] > 0.0 { 1.0 } else { 0.0 };
                let want: f64 = (0..f)
                    .map(|u| cc(i, u) * cc(j, u) + (1.0 - cc(i, u)) * (1.0 - cc(j, u)))
                    .sum();
                assert_eq!(k.k[i * b + j], 2.0 * want, "K[{i}, {j}]");
            }
            assert_eq!(k.k[i * b + i], 2.0 * f as f64);
        }
        assert_eq!(k.relus, 2);
    }

    #[test]
    fn logdet_matches_the_product_of_eigenvalues() {
        // A 3 x 3 SPD matrix and its determinant by cofactors, and a singular one.
        let k = [4.0, 1.0, 0.0, 1.0, 3.0, 0.5, 0.0, 0.5, 2.0];
        let det = 4.0 * (3.0 * 2.0 - 0.25) - 1.0 * (2.0 - 0.0);
        assert!((logdet(&k, 3).unwrap() - f64::ln(det)).abs() < 1e-14);
        let sing = [1.0, 1.0, 1.0, 1.0];
        assert!(logdet(&sing, 2).unwrap() < -20.0);
    }
}
