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
    normalise(m);
}

/// Two per-channel `f64` sums over a batch: `add(b, s, q)` adds image `b`'s terms; images
/// in parallel, their sums added.
fn per_channel(
    batch: usize,
    c: usize,
    add: impl Fn(usize, &mut [f64], &mut [f64]) + Sync,
) -> (Vec<f64>, Vec<f64>) {
    (0..batch)
        .into_par_iter()
        .map(|b| {
            let (mut s, mut q) = (vec![0.0f64; c], vec![0.0f64; c]);
            add(b, &mut s, &mut q);
            (s, q)
        })
        .reduce(
            || (vec![0.0; c], vec![0.0; c]),
            |(mut s, mut q), (s2, q2)| {
                s.iter_mut().zip(&s2).for_each(|(a, b)| *a += b);
                q.iter_mut().zip(&q2).for_each(|(a, b)| *a += b);
                (s, q)
            },
        )
}

/// Normalises `m` in place and returns each channel's `1 / sqrt(var + eps)`.
pub fn normalise(m: &mut Maps) -> Vec<f32> {
    let c = m.c;
    let n = (m.batch * m.h * m.w) as f64;
    let (s, q) = per_channel(m.batch, c, |b, s, q| {
        for row in m.image_rows(b) {
            row_sums(row, c, s, q);
        }
    });
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
    apply(m, &scale, &shift);
    scale
}

/// `v = v scale + shift` per channel over `m`'s interior.
fn apply(m: &mut Maps, scale: &[f32], shift: &[f32]) {
    let (h, w, c) = (m.h, m.w, m.c);
    let block = m.image_len();
    m.data.par_chunks_mut(block).for_each(|img| {
        let row = (w + 2) * c;
        for py in 1..=h {
            row_apply(&mut img[py * row + c..(py + 1) * row - c], c, scale, shift);
        }
    });
}

crate::simd::avx2_dispatch! {
    /// Adds each channel's sum of `g` and of `g xhat` over one row to `s` and `q`.
    fn row_grad_sums(g: &[f32], xhat: &[f32], c: usize, s: &mut [f64], q: &mut [f64]) {
        for (gp, xp) in g.chunks_exact(c).zip(xhat.chunks_exact(c)) {
            for (((a, b), &gv), &xv) in s.iter_mut().zip(q.iter_mut()).zip(gp).zip(xp) {
                *a += f64::from(gv);
                *b += f64::from(gv * xv);
            }
        }
    }
}

crate::simd::avx2_dispatch! {
    /// `g = scale (g - mg - xhat mgx)` per channel over one row.
    fn row_grad_apply(g: &mut [f32], xhat: &[f32], c: usize, scale: &[f32], mg: &[f32], mgx: &[f32]) {
        for (gp, xp) in g.chunks_exact_mut(c).zip(xhat.chunks_exact(c)) {
            for c in 0..c {
                gp[c] = scale[c] * (gp[c] - mg[c] - xp[c] * mgx[c]);
            }
        }
    }
}

/// The backward pass of [`normalise`] (scale `gamma = 1`): given the output `xhat`, its
/// `scale = 1 / sqrt(var + eps)` and the gradient `g` of a function with respect to the
/// output, returns `dgamma[c] = sum g xhat` (the gradient of BN's scale) and overwrites
/// `g` with the gradient with respect to BN's input,
///
/// ```text
/// dx = scale (g - mean(g) - xhat mean(g xhat))     (means over batch, height, width)
/// ```
///
/// which carries the batch statistics' dependence on every image (training mode).
pub fn normalise_backward(xhat: &Maps, scale: &[f32], g: &mut Maps) -> Vec<f64> {
    let c = g.c;
    let n = (g.batch * g.h * g.w) as f64;
    let (sg, sgx) = per_channel(g.batch, c, |b, s, q| {
        for (gr, xr) in g.image_rows(b).zip(xhat.image_rows(b)) {
            row_grad_sums(gr, xr, c, s, q);
        }
    });
    let mg: Vec<f32> = sg.iter().map(|v| (v / n) as f32).collect();
    let mgx: Vec<f32> = sgx.iter().map(|v| (v / n) as f32).collect();
    let (h, w) = (g.h, g.w);
    let block = g.image_len();
    g.data
        .par_chunks_mut(block)
        .zip(xhat.data.par_chunks(block))
        .for_each(|(gi, xi)| {
            let row = (w + 2) * c;
            for py in 1..=h {
                let r = py * row + c..(py + 1) * row - c;
                row_grad_apply(&mut gi[r.clone()], &xi[r], c, scale, &mg, &mgx);
            }
        });
    sgx
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `sum_i g_i BN(x)_i` for a fixed `g`, in f64 from the f32 forward pass.
    fn objective(x: &Maps, g: &Maps) -> f64 {
        let mut y = x.clone();
        normalise(&mut y);
        y.data
            .iter()
            .zip(&g.data)
            .map(|(a, b)| f64::from(*a) * f64::from(*b))
            .sum()
    }

    #[test]
    fn the_backward_pass_matches_central_differences() {
        // A central difference with step h has truncation error O(h^2 f''') and rounding
        // error about (f32 eps) |f| / h; with h = 1e-2 on O(1) maps of 2 x 3 x 4 x 5 both
        // are below 1e-3 of the derivative's scale, the tolerance used.
        let (b, c, hh, ww) = (2, 3, 4, 5);
        let n = b * c * hh * ww;
        let xv: Vec<f32> = (0..n)
            .map(|i| ((i * 7919) % 29) as f32 / 7.0 - 2.0 + (i % 3) as f32)
            .collect();
        let gv: Vec<f32> = (0..n).map(|i| ((i * 31) % 11) as f32 / 5.0 - 1.0).collect();
        let x = Maps::from_nchw(&xv, b, c, hh, ww);
        let g = Maps::from_nchw(&gv, b, c, hh, ww);
        let mut y = x.clone();
        let scale = normalise(&mut y);
        let mut dx = g.clone();
        let dgamma = normalise_backward(&y, &scale, &mut dx);
        // dgamma = sum g xhat.
        for (ch, got) in dgamma.iter().enumerate() {
            let want: f64 = (0..b)
                .flat_map(|bb| (0..hh).flat_map(move |r| (0..ww).map(move |q| (bb, r, q))))
                .map(|(bb, r, q)| f64::from(g.at(bb, ch, r, q)) * f64::from(y.at(bb, ch, r, q)))
                .sum();
            // Each product is rounded to f32 once (relative 2^-24) before the f64 sum.
            assert!((got - want).abs() < 1e-6 * want.abs().max(1.0));
        }
        let h = 1e-2f32;
        let mut worst = 0.0f64;
        for bb in 0..b {
            for ch in 0..c {
                for (r, q) in [(0, 0), (1, 3), (3, 4)] {
                    let p = x.pixel(bb, r + 1, q + 1) * c + ch;
                    let (mut xp, mut xm) = (x.clone(), x.clone());
                    xp.data[p] += h;
                    xm.data[p] -= h;
                    let fd = (objective(&xp, &g) - objective(&xm, &g)) / (2.0 * f64::from(h));
                    worst = worst.max((fd - f64::from(dx.at(bb, ch, r, q))).abs());
                }
            }
        }
        let scale_max = dx
            .data
            .iter()
            .map(|v| f64::from(v.abs()))
            .fold(0.0, f64::max);
        assert!(
            worst < 1e-3 * scale_max.max(1.0),
            "worst {worst} (scale {scale_max})"
        );
    }
}
