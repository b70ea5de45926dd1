//! Batch norm in training mode at initialisation (scale 1, shift 0): each channel of the
//! batch is centred and scaled by its own statistics over (batch, height, width),
//!
//! ```text
//! y = (x - mean) / sqrt(var + 1e-5),   var = mean((x - mean)^2)  (biased)
//! ```
//!
//! as PyTorch's `BatchNorm2d` in `train()` mode computes it. Each image row's sums of `x`
//! and `x^2` are taken in `f32` (at most `W` terms), accumulated across rows and images in
//! `f64`, and `var = E[x^2] - mean^2` in `f64`: the relative error of `var` is about
//! `W 2^-24 E[x^2] / var`, below `1e-5` for the benchmark's maps.
//!
//! ```
//! use archconv::nas::cnn::{norm::batch_norm, Maps};
//! let mut m = Maps::from_nchw(&[1.0, 3.0, 5.0, 7.0], 1, 1, 2, 2);
//! batch_norm(&mut m);
//! // mean 4, variance 5: (1 - 4) / sqrt(5 + 1e-5).
//! assert!((m.at(0, 0, 0, 0) as f64 + 3.0 / (5.0f64 + 1e-5).sqrt()).abs() < 1e-6);
//! ```

use super::Maps;
use rayon::prelude::*;

/// BN's `eps`.
pub const EPS: f64 = 1e-5;

crate::simd::avx2_dispatch! {
    /// Adds each channel's sum of `x` and of `x^2` over the pixels of `row` (`c` channels
    /// each) to `s` and `q`.
    fn row_sums(row: &[f32], c: usize, s: &mut [f64], q: &mut [f64]) {
        let mut s32 = [0.0f32; 256];
        let mut q32 = [0.0f32; 256];
        for base in (0..c).step_by(256) {
            let n = (c - base).min(256);
            s32[..n].fill(0.0);
            q32[..n].fill(0.0);
            for px in row.chunks_exact(c) {
                let px = &px[base..base + n];
                for ((a, b), &v) in s32[..n].iter_mut().zip(&mut q32[..n]).zip(px) {
                    *a += v;
                    *b += v * v;
                }
            }
            for i in 0..n {
                s[base + i] += f64::from(s32[i]);
                q[base + i] += f64::from(q32[i]);
            }
        }
    }
}

crate::simd::avx2_dispatch! {
    /// `v = v scale + shift` per channel over the pixels of `row`.
    fn row_apply(row: &mut [f32], c: usize, scale: &[f32], shift: &[f32]) {
        for px in row.chunks_exact_mut(c) {
            for ((v, s), t) in px.iter_mut().zip(scale).zip(shift) {
                *v = *v * s + t;
            }
        }
    }
}

/// Normalises `m` in place (the border stays zero).
pub fn batch_norm(m: &mut Maps) {
    let c = m.c;
    let n = (m.batch * m.h * m.w) as f64;
    let (s, q) = (0..m.batch)
        .into_par_iter()
        .map(|b| {
            let (mut s, mut q) = (vec![0.0f64; c], vec![0.0f64; c]);
            for row in m.image_rows(b) {
                row_sums(row, c, &mut s, &mut q);
            }
            (s, q)
        })
        .reduce(
            || (vec![0.0; c], vec![0.0; c]),
            |(mut s, mut q), (s2, q2)| {
                s.iter_mut().zip(&s2).for_each(|(a, b)| *a += b);
                q.iter_mut().zip(&q2).for_each(|(a, b)| *a += b);
                (s, q)
            },
        );
    let mean: Vec<f64> = s.iter().map(|s| s / n).collect();
    let scale: Vec<f32> = q
        .iter()
        .zip(&mean)
        .map(|(q, mu)| (1.0 / ((q / n - mu * mu).max(0.0) + EPS).sqrt()) as f32)
        .collect();
    let shift: Vec<f32> = mean
        .iter()
        .zip(&scale)
        .map(|(mu, s)| (-mu * f64::from(*s)) as f32)
        .collect();
    let (h, w) = (m.h, m.w);
    let block = m.image_len();
    m.data.par_chunks_mut(block).for_each(|img| {
        let row = (w + 2) * c;
        for py in 1..=h {
            row_apply(
                &mut img[py * row + c..(py + 1) * row - c],
                c,
                &scale,
                &shift,
            );
        }
    });
}
