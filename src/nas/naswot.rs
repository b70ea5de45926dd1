//! NASWOT, the training-free score of Mellor et al. (ICML 2021), as the paper's authors
//! run it (`hook_logdet` in their `nas-without-training/search.py`), on the networks of
//! [`super::net`] (feature `nas-cnn`).
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
//! a `B x F` by `F x B` product.
//!
//! ```no_run
//! use archconv::dag::format::Nb201Arch;
//! use archconv::nas::{naswot, net::{Nb201Net, NetConfig}};
//! let cell = Nb201Arch::parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|").unwrap();
//! let net = Nb201Net::new(&cell, &NetConfig::cifar10(), 0).unwrap();
//! let images = candle_core::Tensor::randn(0f32, 1.0, (16, 3, 32, 32), &candle_core::Device::Cpu).unwrap();
//! let s = naswot::score(&net, &images).unwrap();
//! println!("NASWOT {:.2} ({} ReLUs)", s.score, s.relus);
//! ```

use super::net::{Nb201Net, NetError};
use candle_core::{DType, Tensor};
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

/// Accumulates `K_ij += F - hamming(c_i, c_j)` for the codes of one ReLU input
/// (`batch x ...`).
fn add_codes(k: &mut [f64], x: &Tensor) -> Result<(), NetError> {
    let e = |source| NetError::Tensor {
        during: "NASWOT codes",
        source,
    };
    let b = x.dims()[0];
    let flat = x.flatten_from(1).map_err(e)?;
    let f = flat.dims()[1];
    let codes: Vec<Vec<u8>> = flat
        .gt(0.0f32)
        .map_err(e)?
        .to_dtype(DType::U8)
        .map_err(e)?
        .to_vec2()
        .map_err(e)?;
    let words = f.div_ceil(64);
    let packed: Vec<Vec<u64>> = codes
        .par_iter()
        .map(|row| {
            let mut w = vec![0u64; words];
            for (i, &c) in row.iter().enumerate() {
                w[i / 64] |= u64::from(c) << (i % 64);
            }
            w
        })
        .collect();
    // The upper triangle (j >= i), mirrored below: K is symmetric.
    let rows: Vec<Vec<f64>> = (0..b)
        .into_par_iter()
        .map(|i| {
            (i..b)
                .map(|j| {
                    let ham: u32 = packed[i]
                        .iter()
                        .zip(&packed[j])
                        .map(|(a, c)| (a ^ c).count_ones())
                        .sum();
                    (f as u32 - ham) as f64
                })
                .collect()
        })
        .collect();
    for (i, r) in rows.iter().enumerate() {
        for (off, v) in r.iter().enumerate() {
            let j = i + off;
            k[i * b + j] += v;
            if j != i {
                k[j * b + i] += v;
            }
        }
    }
    Ok(())
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
/// or not) as a `b x 3 x 32 x 32` tensor (each row is the R, G and B planes in order).
pub fn cifar_batch(ds: &crate::data::Dataset, b: usize) -> Result<Tensor, NetError> {
    let shape = vec![ds.len(), ds.dim()];
    if ds.dim() != 3 * 32 * 32 || b == 0 || b > ds.len() {
        return Err(NetError::BadInput { shape });
    }
    let v: Vec<f32> = ds.x.rows().into_iter().take(b).flatten().copied().collect();
    Tensor::from_vec(v, (b, 3, 32, 32), &candle_core::Device::Cpu).map_err(|source| {
        NetError::Tensor {
            during: "building the image batch",
            source,
        }
    })
}

/// The NASWOT score of `net` on `images` (`B x 3 x 32 x 32`).
pub fn score(net: &Nb201Net, images: &Tensor) -> Result<NaswotScore, NetError> {
    let b = images.dims().first().copied().unwrap_or(0);
    let mut k = vec![0.0f64; b * b];
    let mut relus = 0usize;
    net.forward(images, &mut |x: &Tensor| {
        relus += 1;
        add_codes(&mut k, x)
    })?;
    Ok(NaswotScore {
        score: logdet(&k, b).ok_or(NetError::NoConvergence { n: b })?,
        relus,
        kernel: k,
        batch: b,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn packed_codes_equal_the_float_products() {
        // 5 images x 2 x 7 x 11 = 154 units (not a multiple of 64): the last word is partial.
        let (b, f) = (5usize, 154usize);
        let v: Vec<f32> = (0..b * f).map(|i| ((i * 7919) % 13) as f32 - 6.0).collect();
        let x = Tensor::from_vec(v.clone(), (b, 2, 7, 11), &Device::Cpu).unwrap();
        let mut k = vec![0.0; b * b];
        add_codes(&mut k, &x).unwrap();
        for i in 0..b {
            for j in 0..b {
                let c = |r: usize, u: usize| if v[r * f + u] > 0.0 { 1.0 } else { 0.0 };
                let want: f64 = (0..f)
                    .map(|u| c(i, u) * c(j, u) + (1.0 - c(i, u)) * (1.0 - c(j, u)))
                    .sum();
                assert_eq!(k[i * b + j], want, "K[{i}, {j}]");
            }
            assert_eq!(k[i * b + i], f as f64);
        }
    }

    #[test]
    fn logdet_matches_the_product_of_eigenvalues() {
        // A 3 x 3 SPD matrix with det = 2 * 3 * 4 in a rotated basis, and a singular one.
        let k = [4.0, 1.0, 0.0, 1.0, 3.0, 0.5, 0.0, 0.5, 2.0];
        let det = 4.0 * (3.0 * 2.0 - 0.25) - 1.0 * (2.0 - 0.0);
        assert!((logdet(&k, 3).unwrap() - f64::ln(det)).abs() < 1e-14);
        let sing = [1.0, 1.0, 1.0, 1.0];
        assert!(logdet(&sing, 2).unwrap() < -20.0);
    }
}
