//! Convolutions without bias, `k x k` with `k` in {1, 3}, padding `(k - 1) / 2`, stride
//! 1 or 2 (3x3 only), on [`Maps`]:
//!
//! ```text
//! out[b, y, x, o] = sum_{dy, dx < k} sum_i in[b, s y + dy - p, s x + dx - p, i] w[o, i, dy, dx]
//! ```
//!
//! (PyTorch's `Conv2d`, cross-correlation; out-of-image inputs are zero). The weights are
//! kept as a `(k^2 C_in) x C_out` matrix with row `(dy k + dx) C_in + i`, so that for one
//! `dy` the `3 C_in` inputs of taps `dx = 0, 1, 2` are contiguous in the channels-last
//! input. A stride-1 3x3 convolution is then three products `A_dy W_dy`, where row `p`
//! of `A_dy` is the `3 C_in` floats starting at input pixel `p + (dy - 1)(W + 2) - 1`:
//! overlapping rows of one buffer, read in place (faer takes the row stride). Output rows
//! that fall on the border are garbage and zeroed afterwards.
//!
//! ```
//! use archconv::nas::cnn::{conv::Conv, Maps};
//! // A 3x3 all-ones kernel on a 1-channel image of ones sums the window's entries inside
//! // the image: 4 in a corner, 6 on an edge, 9 inside.
//! let x = Maps::from_nchw(&[1.0; 16], 1, 1, 4, 4);
//! let y = Conv::from_torch(&[1.0; 9], 1, 1, 3, 1).forward(&x);
//! assert_eq!((y.at(0, 0, 0, 0), y.at(0, 0, 0, 1), y.at(0, 0, 1, 1)), (4.0, 6.0, 9.0));
//! ```

use super::Maps;
use faer::{linalg::matmul::matmul, Accum, MatMut, MatRef, Par};
use rand::Rng;
use rayon::prelude::*;

/// Output rows per matrix product of a stride-1 convolution (chosen by measurement: the
/// chunk's input and output stay in L2).
const CHUNK: usize = 1024;

/// A convolution's weights and shape.
#[derive(Debug, Clone)]
pub struct Conv {
    cin: usize,
    cout: usize,
    k: usize,
    stride: usize,
    /// `(k^2 cin) x cout`, row-major (see the module docs).
    w: Vec<f32>,
}

/// `n` draws of PyTorch's default initialisation bound `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`
/// from `rng`, in order.
pub(crate) fn uniform(rng: &mut rand_chacha::ChaCha8Rng, n: usize, fan_in: usize) -> Vec<f32> {
    let b = 1.0 / (fan_in as f64).sqrt();
    (0..n).map(|_| rng.random_range(-b..b) as f32).collect()
}

impl Conv {
    /// Weights given in PyTorch's order `[cout][cin][k][k]`.
    ///
    /// # Panics
    /// If `k` is not 1 or 3, `stride` not 1 or 2 (2 only with `k = 3`), or the length is
    /// not `cout cin k^2` (shapes are fixed by the network, never user input).
    pub fn from_torch(w: &[f32], cin: usize, cout: usize, k: usize, stride: usize) -> Conv {
        assert!(
            (k == 3 && (stride == 1 || stride == 2)) || (k == 1 && stride == 1),
            "convolution {k}x{k} stride {stride}"
        );
        assert_eq!(w.len(), cout * cin * k * k, "weight length");
        let mut m = vec![0.0f32; k * k * cin * cout];
        for o in 0..cout {
            for i in 0..cin {
                for dy in 0..k {
                    for dx in 0..k {
                        m[((dy * k + dx) * cin + i) * cout + o] =
                            w[((o * cin + i) * k + dy) * k + dx];
                    }
                }
            }
        }
        Conv {
            cin,
            cout,
            k,
            stride,
            w: m,
        }
    }

    /// A convolution initialised as PyTorch does (see [`uniform`]'s bound).
    pub(crate) fn init(
        rng: &mut rand_chacha::ChaCha8Rng,
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
    ) -> Conv {
        let w = uniform(rng, cout * cin * k * k, cin * k * k);
        Conv::from_torch(&w, cin, cout, k, stride)
    }

    /// The same convolution with every weight replaced by its absolute value (SynFlow's
    /// "linearised" network).
    pub fn abs(&self) -> Conv {
        Conv {
            w: self.w.iter().map(|v| v.abs()).collect(),
            ..self.clone()
        }
    }

    /// The weights in PyTorch's order and `(cin, cout, k, stride)` (for tests that
    /// rebuild a perturbed convolution with [`Conv::from_torch`]).
    #[cfg(test)]
    pub(crate) fn to_torch(&self) -> (Vec<f32>, (usize, usize, usize, usize)) {
        let (cin, cout, k) = (self.cin, self.cout, self.k);
        let mut out = vec![0.0f32; self.w.len()];
        for o in 0..cout {
            for i in 0..cin {
                for dy in 0..k {
                    for dx in 0..k {
                        out[((o * cin + i) * k + dy) * k + dx] =
                            self.w[((dy * k + dx) * cin + i) * cout + o];
                    }
                }
            }
        }
        (out, (cin, cout, k, self.stride))
    }

    #[cfg(test)]
    pub(crate) fn zeroed(&self) -> Conv {
        Conv {
            w: vec![0.0; self.w.len()],
            ..self.clone()
        }
    }

    /// Weights `C_out C_in k^2`.
    pub fn params(&self) -> usize {
        self.w.len()
    }

    /// Multiply-adds per output pixel, `C_in k^2 C_out`.
    pub fn macs_per_pixel(&self) -> usize {
        self.w.len()
    }

    /// The output on `x` (`x.c` must be `C_in`; for stride 2, `H` and `W` even).
    pub fn forward(&self, x: &Maps) -> Maps {
        assert_eq!(x.c, self.cin, "input channels");
        match (self.k, self.stride) {
            (1, _) => self.forward_1x1(x),
            (_, 1) => self.forward_3x3(x),
            _ => self.forward_3x3_s2(x),
        }
    }

    /// `dst (+)= A W_rows` with `A` the `m x kk` matrix at `a` with row stride `rs`.
    ///
    /// # Safety
    /// `a` must be valid for reads at `a + r rs + j` for `r < m`, `j < kk`.
    unsafe fn product(
        &self,
        dst: &mut [f32],
        a: *const f32,
        rs: usize,
        kk: usize,
        w0: usize,
        add: bool,
    ) {
        let m = dst.len() / self.cout;
        if m == 0 {
            return;
        }
        // SAFETY: the caller guarantees the reads; faer only reads through `lhs`.
        let lhs = unsafe { MatRef::from_raw_parts(a, m, kk, rs as isize, 1) };
        let rhs = MatRef::from_row_major_slice(
            &self.w[w0 * self.cout..(w0 + kk) * self.cout],
            kk,
            self.cout,
        );
        let out = MatMut::from_row_major_slice_mut(dst, m, self.cout);
        let acc = if add { Accum::Add } else { Accum::Replace };
        matmul(out, acc, lhs, rhs, 1.0f32, Par::Seq);
    }

    fn forward_1x1(&self, x: &Maps) -> Maps {
        // Border inputs are zero, so border outputs are too: one product over every pixel.
        let mut out = Maps::zeros(x.batch, x.h, x.w, self.cout);
        let (cin, cout) = (self.cin, self.cout);
        out.data
            .par_chunks_mut(CHUNK * cout)
            .enumerate()
            .for_each(|(ci, dst)| {
                let a = x.data[ci * CHUNK * cin..].as_ptr();
                // SAFETY: rows ci CHUNK .. ci CHUNK + m of the input, each `cin` floats.
                unsafe { self.product(dst, a, cin, cin, 0, false) };
            });
        out
    }

    fn forward_3x3(&self, x: &Maps) -> Maps {
        let mut out = Maps::zeros(x.batch, x.h, x.w, self.cout);
        let (cin, cout) = (self.cin, self.cout);
        let pw = x.w + 2;
        let total = x.batch * x.image_pixels();
        // Output pixels from the first interior one to the last: every tap of each stays
        // inside the buffer (see the module docs).
        let (start, end) = (pw + 1, total - pw - 1);
        out.data[start * cout..end * cout]
            .par_chunks_mut(CHUNK * cout)
            .enumerate()
            .for_each(|(ci, dst)| {
                let p0 = start + ci * CHUNK;
                for dy in 0..3 {
                    let first = (p0 + dy * pw - pw - 1) * cin;
                    let a = x.data[first..].as_ptr();
                    // SAFETY: the last row read ends at input pixel (end - 1) + pw + 1, the
                    // buffer's last pixel.
                    unsafe { self.product(dst, a, cin, 3 * cin, dy * 3 * cin, dy > 0) };
                }
            });
        out.zero_border();
        out
    }

    fn forward_3x3_s2(&self, x: &Maps) -> Maps {
        assert!(
            x.h.is_multiple_of(2) && x.w.is_multiple_of(2),
            "stride 2 on odd size"
        );
        let (ho, wo) = (x.h / 2, x.w / 2);
        let mut out = Maps::zeros(x.batch, ho, wo, self.cout);
        let (cin, cout) = (self.cin, self.cout);
        let block = out.image_len();
        let opw = wo + 2;
        out.data
            .par_chunks_mut(block)
            .enumerate()
            .for_each(|(b, img)| {
                for yo in 0..ho {
                    let d0 = ((yo + 1) * opw + 1) * cout;
                    let dst = &mut img[d0..d0 + wo * cout];
                    for dy in 0..3 {
                        // Output (yo, xo) reads padded input pixels (2 yo + dy, 2 xo + dx).
                        let a = x.data[x.pixel(b, 2 * yo + dy, 0) * cin..].as_ptr();
                        // SAFETY: the last row read is padded pixel (2 yo + dy, 2 wo) + 2 of
                        // image b, inside its block.
                        unsafe { self.product(dst, a, 2 * cin, 3 * cin, dy * 3 * cin, dy > 0) };
                    }
                }
            });
        out
    }
}

/// The backward pass: the adjoint of the input-to-output map and the gradient of
/// `<dy, out>` with respect to the weights.
impl Conv {
    /// The adjoint of a stride-1 convolution: the stride-1 convolution `C_out -> C_in`
    /// whose tap `(dy, dx)` is this one's tap `(k-1-dy, k-1-dx)` transposed, so that
    /// `<conv(x), g> = <x, adjoint(g)>` for maps with zero borders.
    fn adjoint(&self) -> Conv {
        let (k, cin, cout) = (self.k, self.cin, self.cout);
        let mut w = vec![0.0f32; self.w.len()];
        for dy in 0..k {
            for dx in 0..k {
                let (fy, fx) = (k - 1 - dy, k - 1 - dx);
                for o in 0..cout {
                    for i in 0..cin {
                        w[((dy * k + dx) * cout + o) * cin + i] =
                            self.w[((fy * k + fx) * cin + i) * cout + o];
                    }
                }
            }
        }
        Conv {
            cin: cout,
            cout: cin,
            k,
            stride: 1,
            w,
        }
    }

    /// The gradient with respect to the input of `<g, forward(x)>`: the adjoint map
    /// applied to `g` (`g.c = C_out`, of the output's size, zero border),
    ///
    /// ```text
    /// dx[b, q, i] = sum_{taps t} sum_o g[b, (q - t) / s, o] w[o, i, t]
    /// ```
    ///
    /// (positions `(q - t) / s` that are not whole output pixels contribute nothing).
    /// Stride 1 is the flipped, transposed convolution; stride 2 scatters each output
    /// pixel's product back to its nine taps. `h, w` are the input's size.
    pub fn backward_data(&self, g: &Maps, h: usize, w: usize) -> Maps {
        assert_eq!(g.c, self.cout, "gradient channels");
        if self.stride == 1 {
            return self.adjoint().forward(g);
        }
        let (cin, cout) = (self.cin, self.cout);
        let (ho, wo) = (g.h, g.w);
        assert_eq!((ho * 2, wo * 2), (h, w), "stride-2 sizes");
        let mut dx = Maps::zeros(g.batch, h, w, cin);
        let block = dx.image_len();
        dx.data
            .par_chunks_mut(block)
            .enumerate()
            .for_each(|(b, img)| {
                let ipw = w + 2;
                for yo in 0..ho {
                    let s0 = g.pixel(b, yo + 1, 1) * cout;
                    let rows = MatRef::from_row_major_slice(&g.data[s0..s0 + wo * cout], wo, cout);
                    for dy in 0..3 {
                        for dxx in 0..3 {
                            // Output (yo, xo) read padded input pixel (2 yo + dy, 2 xo + dx).
                            let first = ((2 * yo + dy) * ipw + dxx) * cin;
                            let t = (dy * 3 + dxx) * cin;
                            let wt = MatRef::from_row_major_slice(
                                &self.w[t * cout..(t + cin) * cout],
                                cin,
                                cout,
                            );
                            // Rows 2 cin apart: the last written ends at padded pixel
                            // (2 yo + dy, 2 (wo - 1) + dx) + 1, inside the image's block.
                            let last = first + 2 * cin * (wo - 1) + cin;
                            let dst = &mut img[first..last];
                            // SAFETY: `dst` spans every row written (row r at 2 cin r, cin
                            // floats), rows do not overlap, and nothing else aliases it.
                            let out = unsafe {
                                MatMut::from_raw_parts_mut(
                                    dst.as_mut_ptr(),
                                    wo,
                                    cin,
                                    (2 * cin) as isize,
                                    1,
                                )
                            };
                            matmul(out, Accum::Add, rows, wt.transpose(), 1.0f32, Par::Seq);
                        }
                    }
                }
            });
        dx.zero_border();
        dx
    }

    /// The gradient with respect to the weights of `<g, forward(x)>`, in PyTorch's order
    /// `[cout][cin][k][k]`:
    ///
    /// ```text
    /// dw[o, i, t] = sum_{b, p} x[b, s p + t - pad, i] g[b, p, o]
    /// ```
    ///
    /// `g` must have a zero border (as every gradient map here has).
    pub fn weight_grad(&self, x: &Maps, g: &Maps) -> Vec<f32> {
        assert_eq!((x.c, g.c), (self.cin, self.cout), "channels");
        let (cin, cout, k) = (self.cin, self.cout, self.k);
        let kk = k * k * cin;
        let zero = || vec![0.0f32; kk * cout];
        let add = |mut a: Vec<f32>, b: Vec<f32>| {
            a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
            a
        };
        // `acc (kk x cout) += A^T G` with A the `m x n` rows at `a` (row stride `rs`)
        // and G `m x cout` rows of `g`.
        let prod = |acc: &mut [f32], a: *const f32, rs: usize, n: usize, w0: usize, gr: &[f32]| {
            let m = gr.len() / cout;
            if m == 0 {
                return;
            }
            // SAFETY: callers pass rows inside `x.data`.
            let lhs = unsafe { MatRef::from_raw_parts(a, m, n, rs as isize, 1) };
            let rhs = MatRef::from_row_major_slice(gr, m, cout);
            let out =
                MatMut::from_row_major_slice_mut(&mut acc[w0 * cout..(w0 + n) * cout], n, cout);
            matmul(out, Accum::Add, lhs.transpose(), rhs, 1.0f32, Par::Seq);
        };
        let m = match (k, self.stride) {
            (1, _) => g
                .data
                .par_chunks(CHUNK * cout)
                .enumerate()
                .fold(zero, |mut acc, (ci, gr)| {
                    prod(
                        &mut acc,
                        x.data[ci * CHUNK * cin..].as_ptr(),
                        cin,
                        cin,
                        0,
                        gr,
                    );
                    acc
                })
                .reduce(zero, add),
            (_, 1) => {
                let pw = x.w + 2;
                let total = x.batch * x.image_pixels();
                let (start, end) = (pw + 1, total - pw - 1);
                g.data[start * cout..end * cout]
                    .par_chunks(CHUNK * cout)
                    .enumerate()
                    .fold(zero, |mut acc, (ci, gr)| {
                        let p0 = start + ci * CHUNK;
                        for dy in 0..3 {
                            let first = (p0 + dy * pw - pw - 1) * cin;
                            prod(
                                &mut acc,
                                x.data[first..].as_ptr(),
                                cin,
                                3 * cin,
                                dy * 3 * cin,
                                gr,
                            );
                        }
                        acc
                    })
                    .reduce(zero, add)
            }
            _ => (0..g.batch)
                .into_par_iter()
                .fold(zero, |mut acc, b| {
                    for yo in 0..g.h {
                        let s0 = g.pixel(b, yo + 1, 1) * cout;
                        let gr = &g.data[s0..s0 + g.w * cout];
                        for dy in 0..3 {
                            let a = x.data[x.pixel(b, 2 * yo + dy, 0) * cin..].as_ptr();
                            prod(&mut acc, a, 2 * cin, 3 * cin, dy * 3 * cin, gr);
                        }
                    }
                    acc
                })
                .reduce(zero, add),
        };
        let mut out = vec![0.0f32; m.len()];
        for o in 0..cout {
            for i in 0..cin {
                for dy in 0..k {
                    for dx in 0..k {
                        out[((o * cin + i) * k + dy) * k + dx] =
                            m[((dy * k + dx) * cin + i) * cout + o];
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct evaluation of the module docs' sum, in f64.
    fn direct(x: &Maps, w: &[f32], cout: usize, k: usize, s: usize) -> Vec<f64> {
        let p = (k - 1) / 2;
        let (ho, wo) = (x.h / s, x.w / s);
        let mut out = vec![0.0; x.batch * cout * ho * wo];
        for b in 0..x.batch {
            for o in 0..cout {
                for y in 0..ho {
                    for xx in 0..wo {
                        let mut acc = 0.0f64;
                        for i in 0..x.c {
                            for dy in 0..k {
                                for dx in 0..k {
                                    let (r, q) = (
                                        (s * y + dy) as i64 - p as i64,
                                        (s * xx + dx) as i64 - p as i64,
                                    );
                                    if r >= 0 && q >= 0 && (r as usize) < x.h && (q as usize) < x.w
                                    {
                                        acc += f64::from(x.at(b, i, r as usize, q as usize))
                                            * f64::from(w[((o * x.c + i) * k + dy) * k + dx]);
                                    }
                                }
                            }
                        }
                        out[((b * cout + o) * ho + y) * wo + xx] = acc;
                    }
                }
            }
        }
        out
    }

    fn dot(a: &Maps, b: &Maps) -> f64 {
        a.data
            .iter()
            .zip(&b.data)
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum()
    }

    fn pseudo(n: usize, mul: usize, m: usize) -> Vec<f32> {
        (0..n)
            .map(|i| ((i * mul) % m) as f32 / (m as f32 / 2.0) - 1.0)
            .collect()
    }

    #[test]
    fn the_backward_maps_are_the_adjoints_of_the_forward_map() {
        // <conv(x), g> = <x, backward_data(g)> (linear in x) and = <w, weight_grad(x, g)>
        // (linear in w). Both sides are f64 sums of the same f32 products, reordered: they
        // agree to the f32 rounding of the products' partial sums (a few 1e-6 of the sum
        // of magnitudes).
        let (b, cin, cout, h, w) = (3, 5, 7, 6, 10);
        let x = Maps::from_nchw(&pseudo(b * cin * h * w, 7919, 23), b, cin, h, w);
        for (k, s) in [(1, 1), (3, 1), (3, 2)] {
            let wv = pseudo(cout * cin * k * k, 104729, 17);
            let conv = Conv::from_torch(&wv, cin, cout, k, s);
            let y = conv.forward(&x);
            let g = Maps::from_nchw(&pseudo(b * cout * y.h * y.w, 31, 13), b, cout, y.h, y.w);
            let lhs = dot(&y, &g);
            let scale: f64 = y
                .data
                .iter()
                .zip(&g.data)
                .map(|(a, b)| f64::from(*a * *b).abs())
                .sum();
            let dx = conv.backward_data(&g, h, w);
            assert_eq!((dx.h, dx.w, dx.c), (h, w, cin));
            let rhs = dot(&x, &dx);
            assert!(
                (lhs - rhs).abs() < 1e-5 * scale,
                "k {k} s {s} data: {lhs} vs {rhs}"
            );
            let dw = conv.weight_grad(&x, &g);
            let rhs_w: f64 = wv
                .iter()
                .zip(&dw)
                .map(|(a, b)| f64::from(*a) * f64::from(*b))
                .sum();
            assert!(
                (lhs - rhs_w).abs() < 1e-5 * scale,
                "k {k} s {s} weights: {lhs} vs {rhs_w}"
            );
            // The data gradient keeps the zero border.
            let interior: f64 = (0..b)
                .flat_map(|bb| {
                    dx.image_rows(bb)
                        .flatten()
                        .map(|v| f64::from(*v).abs())
                        .collect::<Vec<_>>()
                })
                .sum();
            let all: f64 = dx.data.iter().map(|v| f64::from(*v).abs()).sum();
            assert_eq!(interior, all, "k {k} s {s}: nonzero border");
        }
    }

    #[test]
    fn every_shape_matches_the_direct_sum_and_keeps_the_border_zero() {
        // Sizes that are not multiples of the SIMD width, and a batch that spans chunks.
        let (b, cin, cout, h, w) = (3, 5, 7, 6, 10);
        let xv: Vec<f32> = (0..b * cin * h * w)
            .map(|i| ((i * 7919) % 23) as f32 / 11.0 - 1.0)
            .collect();
        let x = Maps::from_nchw(&xv, b, cin, h, w);
        for (k, s) in [(1, 1), (3, 1), (3, 2)] {
            let wv: Vec<f32> = (0..cout * cin * k * k)
                .map(|i| ((i * 104729) % 17) as f32 / 8.0 - 1.0)
                .collect();
            let y = Conv::from_torch(&wv, cin, cout, k, s).forward(&x);
            let want = direct(&x, &wv, cout, k, s);
            let (ho, wo) = (h / s, w / s);
            for bb in 0..b {
                for o in 0..cout {
                    for r in 0..ho {
                        for q in 0..wo {
                            let g = f64::from(y.at(bb, o, r, q));
                            let e = want[((bb * cout + o) * ho + r) * wo + q];
                            // At most 45 products of f32 values below 1 in magnitude: the
                            // sum's rounding is below 45 * 2^-24 * 45.
                            assert!(
                                (g - e).abs() < 2e-4,
                                "k {k} s {s} ({bb},{o},{r},{q}): {g} vs {e}"
                            );
                        }
                    }
                }
            }
            let interior: f64 = (0..b)
                .flat_map(|bb| {
                    y.image_rows(bb)
                        .flatten()
                        .map(|v| f64::from(*v).abs())
                        .collect::<Vec<_>>()
                })
                .sum();
            let all: f64 = y.data.iter().map(|v| f64::from(*v).abs()).sum();
            assert_eq!(interior, all, "k {k} s {s}: nonzero border");
        }
    }
}
