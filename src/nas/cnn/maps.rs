//! Feature maps of a batch, channels-last with a one-pixel zero border.
//!
//! Image `b`'s pixel `(y, x)` (`0 <= y < H`, `0 <= x < W`) and channel `c` lives at
//!
//! ```text
//! data[((b (H + 2) + y + 1) (W + 2) + x + 1) C + c]
//! ```
//!
//! and every border pixel is zero. A 3x3 window around an interior pixel therefore never
//! leaves the image's block, and the window's pixel `(dy, dx)` is the centre's flat index
//! plus the constant `(dy - 1)(W + 2) + dx - 1`: convolutions read shifted row views of
//! `data` instead of gathering an im2col matrix ([`super::conv`]).
//!
//! ```
//! use archconv::nas::cnn::Maps;
//! // Two 1-channel 2 x 2 images, NCHW values 0..8.
//! let v: Vec<f32> = (0..8).map(|i| i as f32).collect();
//! let m = Maps::from_nchw(&v, 2, 1, 2, 2);
//! assert_eq!(m.at(1, 0, 0, 1), 5.0); // image 1, channel 0, row 0, column 1
//! assert_eq!(m.image_rows(1).flatten().copied().collect::<Vec<_>>(), vec![4.0, 5.0, 6.0, 7.0]);
//! ```

use rayon::prelude::*;

crate::simd::avx2_dispatch! {
    /// `a += b`.
    fn add(a: &mut [f32], b: &[f32]) {
        a.iter_mut().zip(b).for_each(|(a, b)| *a += b)
    }
}

crate::simd::avx2_dispatch! {
    /// `o = max(x, 0)`.
    fn relu(o: &mut [f32], x: &[f32]) {
        o.iter_mut().zip(x).for_each(|(o, x)| *o = x.max(0.0))
    }
}

crate::simd::avx2_dispatch! {
    /// `g = g (x > 0)`.
    fn mask(g: &mut [f32], x: &[f32]) {
        g.iter_mut().zip(x).for_each(|(g, x)| if *x <= 0.0 { *g = 0.0 })
    }
}

/// A batch of feature maps (see the module docs for the layout).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Maps {
    pub(crate) data: Vec<f32>,
    /// Images.
    pub batch: usize,
    /// Height `H` (without the border).
    pub h: usize,
    /// Width `W` (without the border).
    pub w: usize,
    /// Channels.
    pub c: usize,
}

impl Maps {
    /// Zeros of the given size.
    pub fn zeros(batch: usize, h: usize, w: usize, c: usize) -> Maps {
        Maps {
            data: vec![0.0; batch * (h + 2) * (w + 2) * c],
            batch,
            h,
            w,
            c,
        }
    }

    /// Bytes of a map of this size, for memory estimates.
    pub fn bytes(batch: usize, h: usize, w: usize, c: usize) -> Option<u64> {
        crate::budget::bytes(
            batch
                .checked_mul(h + 2)?
                .checked_mul(w + 2)?
                .checked_mul(c)?,
            4,
        )
    }

    /// Maps from `batch` images stored NCHW (each image its `c` planes of `h x w`, row
    /// by row), as CIFAR records are. `nchw.len()` must be `batch c h w`.
    pub fn from_nchw(nchw: &[f32], batch: usize, c: usize, h: usize, w: usize) -> Maps {
        assert_eq!(nchw.len(), batch * c * h * w, "NCHW length");
        let mut m = Maps::zeros(batch, h, w, c);
        let block = m.image_len();
        m.data
            .par_chunks_mut(block)
            .zip(nchw.par_chunks(c * h * w))
            .for_each(|(dst, src)| {
                for y in 0..h {
                    for x in 0..w {
                        let p = ((y + 1) * (w + 2) + x + 1) * c;
                        for ch in 0..c {
                            dst[p + ch] = src[(ch * h + y) * w + x];
                        }
                    }
                }
            });
        m
    }

    /// The first `n` images (`n <= batch`).
    pub fn first(&self, n: usize) -> Maps {
        let n = n.min(self.batch);
        Maps {
            data: self.data[..n * self.image_len()].to_vec(),
            batch: n,
            ..*self
        }
    }

    /// Padded pixels per image `(H + 2)(W + 2)`.
    pub(crate) fn image_pixels(&self) -> usize {
        (self.h + 2) * (self.w + 2)
    }

    /// Floats per image (with the border).
    pub(crate) fn image_len(&self) -> usize {
        self.image_pixels() * self.c
    }

    /// Flat pixel index of padded coordinates `(py, px)` of image `b`.
    pub(crate) fn pixel(&self, b: usize, py: usize, px: usize) -> usize {
        (b * (self.h + 2) + py) * (self.w + 2) + px
    }

    /// The value at image `b`, pixel `(y, x)`, channel `c` (interior coordinates).
    pub fn at(&self, b: usize, c: usize, y: usize, x: usize) -> f32 {
        self.data[self.pixel(b, y + 1, x + 1) * self.c + c]
    }

    /// Image `b`'s interior rows, each `W C` floats (pixels left to right, channels
    /// innermost): every unit of the image once.
    pub fn image_rows(&self, b: usize) -> impl Iterator<Item = &[f32]> + '_ {
        let row = self.w * self.c;
        (0..self.h).map(move |y| {
            let s = self.pixel(b, y + 1, 1) * self.c;
            &self.data[s..s + row]
        })
    }

    /// Units per image `H W C`.
    pub fn units(&self) -> usize {
        self.h * self.w * self.c
    }

    /// Sets every border pixel to zero (after an operation that wrote the border).
    pub(crate) fn zero_border(&mut self) {
        let (h, w, c) = (self.h, self.w, self.c);
        let block = self.image_len();
        self.data.par_chunks_mut(block).for_each(|img| {
            let row = (w + 2) * c;
            img[..row].fill(0.0);
            img[(h + 1) * row..].fill(0.0);
            for py in 1..=h {
                img[py * row..py * row + c].fill(0.0);
                img[(py + 1) * row - c..(py + 1) * row].fill(0.0);
            }
        });
    }

    /// `self += other` (same size).
    pub(crate) fn add_assign(&mut self, other: &Maps) {
        debug_assert_eq!(
            (self.batch, self.h, self.w, self.c),
            (other.batch, other.h, other.w, other.c)
        );
        self.data
            .par_chunks_mut(1 << 14)
            .zip(other.data.par_chunks(1 << 14))
            .for_each(|(a, b)| add(a, b));
    }

    /// `max(x, 0)` elementwise (the border stays zero).
    pub(crate) fn relu(&self) -> Maps {
        let mut data = vec![0.0f32; self.data.len()];
        data.par_chunks_mut(1 << 14)
            .zip(self.data.par_chunks(1 << 14))
            .for_each(|(o, x)| relu(o, x));
        Maps { data, ..*self }
    }

    /// `self *= (x > 0)` elementwise: the backward pass of `max(x, 0)` (same size).
    pub(crate) fn mask_by_positive(&mut self, x: &Maps) {
        self.data
            .par_chunks_mut(1 << 14)
            .zip(x.data.par_chunks(1 << 14))
            .for_each(|(g, x)| mask(g, x));
    }

    /// Mean of each image's interior per channel (`batch x C`, row-major): global average
    /// pooling.
    pub(crate) fn global_mean(&self) -> Vec<f64> {
        let c = self.c;
        let mut out = vec![0.0f64; self.batch * c];
        out.par_chunks_mut(c).enumerate().for_each(|(b, o)| {
            for row in self.image_rows(b) {
                for px in row.chunks_exact(c) {
                    o.iter_mut().zip(px).for_each(|(s, &v)| *s += f64::from(v));
                }
            }
            let n = (self.h * self.w) as f64;
            o.iter_mut().for_each(|s| *s /= n);
        });
        out
    }
}
