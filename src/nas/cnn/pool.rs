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

/// 3x3 average pooling, stride 1, padding not counted.
pub fn avg_pool3(x: &Maps) -> Maps {
    let (h, w, c) = (x.h, x.w, x.c);
    let mut out = Maps::zeros(x.batch, h, w, c);
    let block = x.image_len();
    let inside = |i: usize, n: usize| (3 - usize::from(i == 0) - usize::from(i + 1 == n)) as f32;
    let row = (w + 2) * c;
    out.data
        .par_chunks_mut(block)
        .zip(x.data.par_chunks(block))
        .for_each(|(o, img)| {
            for y in 0..h {
                for xx in 0..w {
                    let inv = 1.0 / (inside(y, h) * inside(xx, w));
                    let centre = (y + 1) * row + (xx + 1) * c;
                    let dst = &mut o[centre..centre + c];
                    for dy in 0..3 {
                        // Window row dy: padded pixels (y + dy, xx .. xx + 2).
                        let s = (y + dy) * row + xx * c;
                        for px in img[s..s + 3 * c].chunks_exact(c) {
                            dst.iter_mut().zip(px).for_each(|(d, v)| *d += v);
                        }
                    }
                    dst.iter_mut().for_each(|d| *d *= inv);
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
