//! Average pooling on [`Maps`].
//!
//! * [`avg_pool3`]: 3x3, stride 1, padding 1, dividing by the window's entries inside the
//!   image (PyTorch's `count_include_pad=False`, the benchmark's `avg_pool_3x3`):
//!   `out[y, x] = sum_{window in image} in / (rows in)(columns in)`.
//! * [`avg_pool2`]: 2x2, stride 2 (the reduction block's shortcut):
//!   `out[y, x] = (in[2y, 2x] + in[2y, 2x+1] + in[2y+1, 2x] + in[2y+1, 2x+1]) / 4`.
//!
//! ```
//! use archconv::nas::cnn::{pool, Maps};
//! let x = Maps::from_nchw(&[1.0, 2.0, 3.0, 4.0], 1, 1, 2, 2);
//! // Every 3x3 window of a 2x2 image holds all four entries.
//! assert_eq!(pool::avg_pool3(&x).at(0, 0, 1, 0), 2.5);
//! assert_eq!(pool::avg_pool2(&x).at(0, 0, 0, 0), 2.5);
//! ```

use super::Maps;
use rayon::prelude::*;

crate::simd::avx2_dispatch! {
    /// One image of [`avg_pool3`]: `img` and `o` are padded `(h + 2) x (w + 2) x c`
    /// blocks. Separable: each output row is the sum of three padded input rows
    /// (vertical), then of three neighbouring pixels (horizontal), then scaled.
    fn pool3_image(o: &mut [f32], img: &[f32], h: usize, w: usize, c: usize, col: &mut [f32], divide: bool) {
        let row = (w + 2) * c;
        let inside = |i: usize, n: usize| (3 - usize::from(i == 0) - usize::from(i + 1 == n)) as f32;
        for y in 0..h {
            // col = sum of padded rows y, y + 1, y + 2 (every column, borders included).
            let (r0, r1, r2) = (&img[y * row..(y + 1) * row], &img[(y + 1) * row..(y + 2) * row], &img[(y + 2) * row..(y + 3) * row]);
            for (((s, a), b), d) in col.iter_mut().zip(r0).zip(r1).zip(r2) {
                *s = a + b + d;
            }
            let ry = inside(y, h);
            let out = &mut o[(y + 1) * row..(y + 2) * row];
            for x in 0..w {
                let inv = if divide { 1.0 / (ry * inside(x, w)) } else { 1.0 };
                let (dst, win) = (&mut out[(x + 1) * c..(x + 2) * c], &col[x * c..(x + 3) * c]);
                let (a, rest) = win.split_at(c);
                let (b, d) = rest.split_at(c);
                for (((o, a), b), d) in dst.iter_mut().zip(a).zip(b).zip(d) {
                    *o = (a + b + d) * inv;
                }
            }
        }
    }
}

/// 3x3 average pooling, stride 1, padding not counted.
pub fn avg_pool3(x: &Maps) -> Maps {
    let (h, w, c) = (x.h, x.w, x.c);
    let mut out = Maps::zeros(x.batch, h, w, c);
    let block = x.image_len();
    out.data
        .par_chunks_mut(block)
        .zip(x.data.par_chunks(block))
        .for_each_init(
            || vec![0.0f32; (w + 2) * c],
            |col, (o, img)| pool3_image(o, img, h, w, c, col, true),
        );
    out
}

/// The adjoint of [`avg_pool3`] (its backward pass): with `avg_pool3 = D S`, `S` the
/// 3x3 window sum (zero padding, symmetric) and `D` the diagonal of `1 / entries inside`,
/// the adjoint is `S D`: scale `g` by each output pixel's `1 / entries`, then sum windows.
pub fn avg_pool3_backward(g: &Maps) -> Maps {
    let (h, w, c) = (g.h, g.w, g.c);
    let inside = |i: usize, n: usize| (3 - usize::from(i == 0) - usize::from(i + 1 == n)) as f32;
    let mut scaled = g.clone();
    let block = g.image_len();
    scaled.data.par_chunks_mut(block).for_each(|img| {
        let row = (w + 2) * c;
        for y in 0..h {
            for x in 0..w {
                let inv = 1.0 / (inside(y, h) * inside(x, w));
                let p = (y + 1) * row + (x + 1) * c;
                img[p..p + c].iter_mut().for_each(|v| *v *= inv);
            }
        }
    });
    let mut out = Maps::zeros(g.batch, h, w, c);
    out.data
        .par_chunks_mut(block)
        .zip(scaled.data.par_chunks(block))
        .for_each_init(
            || vec![0.0f32; (w + 2) * c],
            |col, (o, img)| pool3_image(o, img, h, w, c, col, false),
        );
    out
}

/// The adjoint of [`avg_pool2`]: each output pixel's gradient, divided by 4, goes to its
/// four inputs. `h, w` are the input's size.
pub fn avg_pool2_backward(g: &Maps, h: usize, w: usize) -> Maps {
    assert_eq!((g.h * 2, g.w * 2), (h, w), "2x2 pooling sizes");
    let c = g.c;
    let mut out = Maps::zeros(g.batch, h, w, c);
    let (bi, bo) = (out.image_len(), g.image_len());
    let (ri, ro) = ((w + 2) * c, (g.w + 2) * c);
    out.data
        .par_chunks_mut(bi)
        .zip(g.data.par_chunks(bo))
        .for_each(|(o, img)| {
            for y in 0..g.h {
                for xx in 0..g.w {
                    let s0 = (y + 1) * ro + (xx + 1) * c;
                    let src = &img[s0..s0 + c];
                    for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                        let d = (2 * y + 1 + dy) * ri + (2 * xx + 1 + dx) * c;
                        o[d..d + c]
                            .iter_mut()
                            .zip(src)
                            .for_each(|(d, v)| *d = 0.25 * v);
                    }
                }
            }
        });
    out
}

/// 2x2 average pooling, stride 2 (`H` and `W` even).
pub fn avg_pool2(x: &Maps) -> Maps {
    assert!(
        x.h.is_multiple_of(2) && x.w.is_multiple_of(2),
        "2x2 pooling of an odd size"
    );
    let (ho, wo, c) = (x.h / 2, x.w / 2, x.c);
    let mut out = Maps::zeros(x.batch, ho, wo, c);
    let (bi, bo) = (x.image_len(), out.image_len());
    let (ri, ro) = ((x.w + 2) * c, (wo + 2) * c);
    out.data
        .par_chunks_mut(bo)
        .zip(x.data.par_chunks(bi))
        .for_each(|(o, img)| {
            for y in 0..ho {
                for xx in 0..wo {
                    let d0 = (y + 1) * ro + (xx + 1) * c;
                    let dst = &mut o[d0..d0 + c];
                    for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                        let s = (2 * y + 1 + dy) * ri + (2 * xx + 1 + dx) * c;
                        dst.iter_mut()
                            .zip(&img[s..s + c])
                            .for_each(|(d, v)| *d += v);
                    }
                    dst.iter_mut().for_each(|d| *d *= 0.25);
                }
            }
        });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dot(a: &Maps, b: &Maps) -> f64 {
        a.data
            .iter()
            .zip(&b.data)
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum()
    }

    #[test]
    fn the_backward_maps_are_the_adjoints() {
        // <pool(x), g> = <x, pool_backward(g)>: the same f32 products summed in another
        // order, equal to a few f32 roundings of the magnitudes' sum.
        let (b, c, h, w) = (2, 5, 6, 4);
        let x = Maps::from_nchw(
            &(0..b * c * h * w)
                .map(|i| ((i * 37) % 11) as f32 - 5.0)
                .collect::<Vec<_>>(),
            b,
            c,
            h,
            w,
        );
        let g3 = Maps::from_nchw(
            &(0..b * c * h * w)
                .map(|i| ((i * 13) % 7) as f32 - 3.0)
                .collect::<Vec<_>>(),
            b,
            c,
            h,
            w,
        );
        let g2 = Maps::from_nchw(
            &(0..b * c * h * w / 4)
                .map(|i| ((i * 13) % 7) as f32 - 3.0)
                .collect::<Vec<_>>(),
            b,
            c,
            h / 2,
            w / 2,
        );
        let (l3, r3) = (dot(&avg_pool3(&x), &g3), dot(&x, &avg_pool3_backward(&g3)));
        assert!((l3 - r3).abs() < 1e-4 * l3.abs().max(1.0), "{l3} vs {r3}");
        let (l2, r2) = (
            dot(&avg_pool2(&x), &g2),
            dot(&x, &avg_pool2_backward(&g2, h, w)),
        );
        assert!((l2 - r2).abs() < 1e-4 * l2.abs().max(1.0), "{l2} vs {r2}");
    }

    #[test]
    fn pooling_matches_the_direct_window_means() {
        let (b, c, h, w) = (2, 5, 6, 4);
        let v: Vec<f32> = (0..b * c * h * w)
            .map(|i| ((i * 37) % 11) as f32 - 5.0)
            .collect();
        let x = Maps::from_nchw(&v, b, c, h, w);
        let (p3, p2) = (avg_pool3(&x), avg_pool2(&x));
        let at = |bb: usize, ch: usize, r: usize, q: usize| v[((bb * c + ch) * h + r) * w + q];
        for bb in 0..b {
            for ch in 0..c {
                for r in 0..h {
                    for q in 0..w {
                        let (mut s, mut k) = (0.0f32, 0.0f32);
                        for rr in r.saturating_sub(1)..(r + 2).min(h) {
                            for qq in q.saturating_sub(1)..(q + 2).min(w) {
                                s += at(bb, ch, rr, qq);
                                k += 1.0;
                            }
                        }
                        // Sums of at most 9 small integers are exact; one division.
                        let want = s / k;
                        let got = p3.at(bb, ch, r, q);
                        assert!(
                            (got - want).abs() <= 2.0 * f32::EPSILON * want.abs().max(1.0),
                            "3x3 ({bb},{ch},{r},{q}): {got} vs {want}"
                        );
                        if r < h / 2 && q < w / 2 {
                            let m = (at(bb, ch, 2 * r, 2 * q)
                                + at(bb, ch, 2 * r, 2 * q + 1)
                                + at(bb, ch, 2 * r + 1, 2 * q)
                                + at(bb, ch, 2 * r + 1, 2 * q + 1))
                                / 4.0;
                            assert_eq!(p2.at(bb, ch, r, q), m, "2x2 ({bb},{ch},{r},{q})");
                        }
                    }
                }
            }
        }
    }
}
