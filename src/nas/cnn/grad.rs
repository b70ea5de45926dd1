//! The backward pass of [`Nb201Network`] and the empirical neural tangent kernel that
//! TE-NAS's first indicator reads (Chen, Gong and Wang, ICLR 2021).
//!
//! For a batch of `B` images and the network's weights `theta` (every convolution's and the
//! head's weight, and every BN scale: the parameters PyTorch names `weight`, as TE-NAS
//! collects them; not biases or BN shifts), let `s_i = sum_k logit_{i,k}` and
//! `J_i = d s_i / d theta`. Then
//!
//! ```text
//! Theta_ij = <J_i, J_j>,       kappa = lambda_max(Theta) / lambda_min(Theta)
//! ```
//!
//! (TE-NAS: lower `kappa` predicts faster training). BN is in training mode, so `s_i`
//! depends on every image of the batch through the batch statistics and `J_i` is the
//! full derivative, as autograd computes it when each `logit[i]` is back-propagated
//! through the batch's graph: one backward pass per image over one recorded forward pass.
//!
//! Every layer's backward rule lives beside its forward one ([`super::conv`],
//! [`super::norm`], [`super::pool`], [`Maps`]); this module walks the skeleton backwards.
//! The tests compare `Theta` with central differences (default build) and with candle's
//! autograd on the reference network (`nas::net`, feature `nas-cnn`).
//!
//! ```
//! use archconv::dag::format::Nb201Arch;
//! use archconv::nas::cnn::{Maps, Nb201Network, NetConfig};
//! let cell = Nb201Arch::parse("|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|nor_conv_1x1~0|none~1|nor_conv_3x3~2|")?;
//! let cfg = NetConfig { channels: 4, cells_per_stage: 1, classes: 10 };
//! let net = Nb201Network::new(&cell, &cfg, 0)?;
//! let v: Vec<f32> = (0..6 * 3 * 8 * 8).map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0).collect();
//! let ntk = net.ntk(&Maps::from_nchw(&v, 6, 3, 8, 8))?;
//! assert_eq!(ntk.batch, 6);
//! let kappa = ntk.condition().expect("a positive definite NTK");
//! assert!(kappa >= 1.0);
//! # Ok::<(), archconv::nas::cnn::CnnError>(())
//! ```

use super::network::{Bn, CellRecord, Edge, Record, ReductionRecord};
use super::norm::normalise_backward;
use super::pool::{avg_pool2, avg_pool2_backward, avg_pool3_backward};
use super::{CnnError, Maps, Nb201Network};
use rayon::prelude::*;

/// An empirical NTK on a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Ntk {
    /// Images `B`.
    pub batch: usize,
    /// `Theta` (`B x B`, row-major).
    pub gram: Vec<f64>,
    /// Weights differentiated (the length of each `J_i`).
    pub params: usize,
}

impl Ntk {
    /// Eigenvalues of `Theta`, ascending (`None` if the solver fails).
    pub fn eigenvalues(&self) -> Option<Vec<f64>> {
        let m = ndarray::ArrayView2::from_shape((self.batch, self.batch), &self.gram).ok()?;
        crate::linalg::sym_eigenvalues(m)
    }

    /// `kappa = lambda_max / lambda_min`; `None` when `lambda_min <= 0` (a singular
    /// kernel: TE-NAS's code turns the resulting non-finite ratio into a large constant)
    /// or the solver fails.
    pub fn condition(&self) -> Option<f64> {
        let ev = self.eigenvalues()?;
        let (lo, hi) = (*ev.first()?, *ev.last()?);
        (lo > 0.0 && hi.is_finite()).then(|| hi / lo)
    }
}

/// Gradients of one backward pass, appended in a fixed order.
struct Grads(Vec<f32>);

impl Grads {
    fn push(&mut self, v: &[f32]) {
        self.0.extend_from_slice(v);
    }

    fn push64(&mut self, v: &[f64]) {
        self.0.extend(v.iter().map(|x| *x as f32));
    }
}

/// `g` through a BN's backward pass (in place), recording the scale's gradient.
fn bn_back(bn: &Bn, g: &mut Maps, out: &mut Grads) {
    out.push64(&normalise_backward(&bn.xhat, &bn.scale, g));
}

fn add_into(slot: &mut Option<Maps>, g: Maps) {
    match slot {
        Some(a) => a.add_assign(&g),
        None => *slot = Some(g),
    }
}

impl super::network::Cell {
    /// The gradient with respect to the cell's input of `<g, cell(x)>`.
    fn backward(&self, rec: &CellRecord, g: Maps, out: &mut Grads) -> Maps {
        let x0 = &rec.nodes[0];
        let mut gn: Vec<Option<Maps>> = vec![None, None, None, Some(g)];
        for t in (1..=3).rev() {
            let Some(gt) = gn[t].take() else {
                // No path from node t to the output: its edges' weights get zero
                // gradients (kept, so every pass has the same layout).
                for (_, to, e) in &self.edges {
                    if let (true, Edge::Conv(k)) = (*to == t, e) {
                        out.push(&vec![0.0; x0.c + k.params()]);
                    }
                }
                continue;
            };
            for (ei, (from, to, e)) in self.edges.iter().enumerate() {
                if *to != t {
                    continue;
                }
                let src = &rec.nodes[*from];
                match e {
                    Edge::None => {}
                    Edge::Skip => add_into(&mut gn[*from], gt.clone()),
                    Edge::Pool => add_into(&mut gn[*from], avg_pool3_backward(&gt)),
                    Edge::Conv(k) => {
                        let bn = rec.bn[ei].as_ref().expect("recorded by the forward pass");
                        let mut dz = gt.clone();
                        bn_back(bn, &mut dz, out);
                        out.push(&k.weight_grad(&src.relu(), &dz));
                        let mut dx = k.backward_data(&dz, src.h, src.w);
                        dx.mask_by_positive(src);
                        add_into(&mut gn[*from], dx);
                    }
                }
            }
        }
        gn[0]
            .take()
            .unwrap_or_else(|| Maps::zeros(x0.batch, x0.h, x0.w, x0.c))
    }
}

impl super::network::Reduction {
    /// The gradient with respect to the block's input of `<g, block(x)>`.
    fn backward(&self, rec: &ReductionRecord, g: &Maps, out: &mut Grads) -> Maps {
        let x = &rec.x;
        let pooled = avg_pool2(x);
        out.push(&self.shortcut.weight_grad(&pooled, g));
        let mut dx = avg_pool2_backward(
            &self.shortcut.backward_data(g, pooled.h, pooled.w),
            x.h,
            x.w,
        );
        let mut dz = g.clone();
        bn_back(&rec.b, &mut dz, out);
        let a = &rec.a.xhat;
        out.push(&self.b.weight_grad(&a.relu(), &dz));
        let mut da = self.b.backward_data(&dz, a.h, a.w);
        da.mask_by_positive(a);
        bn_back(&rec.a, &mut da, out);
        out.push(&self.a.weight_grad(&x.relu(), &da));
        let mut dr = self.a.backward_data(&da, x.h, x.w);
        dr.mask_by_positive(x);
        dx.add_assign(&dr);
        dx
    }
}

impl Nb201Network {
    /// Weights the backward pass differentiates: every convolution and head weight and
    /// every BN scale (see the module docs).
    pub fn weight_count(&self) -> usize {
        let convs: usize = self.convs().map(|(k, _)| k.params()).sum();
        // num_params = convs + 2 (BN scales) + head weight + head bias.
        let scales = (self.num_params() - convs - self.head_w.len() - self.head_b.len()) / 2;
        convs + scales + self.head_w.len()
    }

    /// The backward pass for output gradient `dlogits` (`batch x classes`) over a
    /// recorded forward pass of `x`: every weight's gradient, in a fixed order.
    fn backward(&self, x: &Maps, rec: &Record, dlogits: &[f32]) -> Vec<f32> {
        let mut out = Grads(Vec::with_capacity(self.weight_count()));
        let head = rec.head.as_ref().expect("recorded by the forward pass");
        let (last, classes, b) = (head.xhat.c, self.cfg.classes, x.batch);
        // logits = W pooled + bias: dW = dlogits^T pooled, dpooled = dlogits W.
        let mut dw = vec![0.0f64; classes * last];
        let mut dp = vec![0.0f64; b * last];
        for i in 0..b {
            let p = &rec.pooled[i * last..(i + 1) * last];
            for k in 0..classes {
                let d = f64::from(dlogits[i * classes + k]);
                if d == 0.0 {
                    continue;
                }
                let wk = &self.head_w[k * last..(k + 1) * last];
                for c in 0..last {
                    dw[k * last + c] += d * p[c];
                    dp[i * last + c] += d * f64::from(wk[c]);
                }
            }
        }
        out.push64(&dw);
        // Global average pooling: every pixel of image i gets dpooled / (H W).
        let hx = &head.xhat;
        let mut g = Maps::zeros(b, hx.h, hx.w, last);
        let inv = 1.0 / (hx.h * hx.w) as f64;
        let block = g.image_len();
        g.data
            .par_chunks_mut(block)
            .enumerate()
            .for_each(|(i, img)| {
                let row = (hx.w + 2) * last;
                let d: Vec<f32> = dp[i * last..(i + 1) * last]
                    .iter()
                    .map(|v| (v * inv) as f32)
                    .collect();
                for py in 1..=hx.h {
                    for px in 1..=hx.w {
                        let s = py * row + px * last;
                        img[s..s + last].copy_from_slice(&d);
                    }
                }
            });
        g.mask_by_positive(hx);
        bn_back(head, &mut g, &mut out);
        for ((red, cells), srec) in self.stages.iter().zip(&rec.stages).rev() {
            for (c, crec) in cells.iter().zip(&srec.cells).rev() {
                g = c.backward(crec, g, &mut out);
            }
            if let (Some(r), Some(rr)) = (red, &srec.reduction) {
                g = r.backward(rr, &g, &mut out);
            }
        }
        let stem = rec.stem.as_ref().expect("recorded by the forward pass");
        bn_back(stem, &mut g, &mut out);
        out.push(&self.stem.weight_grad(x, &g));
        debug_assert_eq!(out.0.len(), self.weight_count());
        out.0
    }

    /// `J_i = d (sum_k logit_{i,k}) / d theta` for each image `i` of `x` (see the module
    /// docs): `B` vectors of [`Nb201Network::weight_count`] entries, in one fixed order.
    pub fn logit_gradients(&self, x: &Maps) -> Result<Vec<Vec<f32>>, CnnError> {
        let mut rec = Record::default();
        // The records hold about 16 maps of stage 1 per cell of a stage, with the
        // gradients of all B images beside them.
        let one = Maps::bytes(x.batch, x.h, x.w, self.cfg.channels);
        let grads = crate::budget::bytes(x.batch.saturating_mul(self.weight_count()), 4);
        crate::budget::check(
            format!(
                "the NAS-Bench-201 backward pass on {} images of {} x {} ({} channels)",
                x.batch, x.h, x.w, self.cfg.channels
            ),
            one.and_then(|b| b.checked_mul(16 * self.cfg.cells_per_stage as u64 + 24))
                .and_then(|b| b.checked_add(grads?)),
        )?;
        self.forward_recorded(x, &mut |_, _| Ok(()), Some(&mut rec))?;
        let classes = self.cfg.classes;
        Ok((0..x.batch)
            .map(|i| {
                let mut seed = vec![0.0f32; x.batch * classes];
                seed[i * classes..(i + 1) * classes].fill(1.0);
                self.backward(x, &rec, &seed)
            })
            .collect())
    }

    /// The empirical NTK `Theta_ij = <J_i, J_j>` on `x` (see the module docs), the inner
    /// products summed in `f64`.
    pub fn ntk(&self, x: &Maps) -> Result<Ntk, CnnError> {
        let j = self.logit_gradients(x)?;
        let b = j.len();
        let pairs: Vec<(usize, usize)> = (0..b).flat_map(|i| (i..b).map(move |k| (i, k))).collect();
        let vals: Vec<f64> = pairs.par_iter().map(|&(i, k)| dot(&j[i], &j[k])).collect();
        let mut gram = vec![0.0f64; b * b];
        for (&(i, k), v) in pairs.iter().zip(vals) {
            gram[i * b + k] = v;
            gram[k * b + i] = v;
        }
        Ok(Ntk {
            batch: b,
            gram,
            params: self.weight_count(),
        })
    }
}

crate::simd::avx2_dispatch! {
    /// `sum a_i b_i`, each block of 256 products summed in `f32`, blocks in `f64`.
    fn dot(a: &[f32], b: &[f32]) -> f64 {
        let mut total = 0.0f64;
        for (ca, cb) in a.chunks(256).zip(b.chunks(256)) {
            let mut acc = [0.0f32; 16];
            let mut it_a = ca.chunks_exact(16);
            let mut it_b = cb.chunks_exact(16);
            for (x, y) in (&mut it_a).zip(&mut it_b) {
                for l in 0..16 {
                    acc[l] += x[l] * y[l];
                }
            }
            let tail: f32 = it_a.remainder().iter().zip(it_b.remainder()).map(|(x, y)| x * y).sum();
            total += acc.iter().map(|v| f64::from(*v)).sum::<f64>() + f64::from(tail);
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dag::format::Nb201Arch;
    use crate::nas::cnn::NetConfig;

    fn images(b: usize, h: usize) -> Maps {
        let v: Vec<f32> = (0..b * 3 * h * h)
            .map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0 + 0.3 * ((i % 7) as f32 - 3.0))
            .collect();
        Maps::from_nchw(&v, b, 3, h, h)
    }

    /// `s_i` in f64 from the f32 forward pass.
    fn s(net: &Nb201Network, x: &Maps, i: usize) -> f64 {
        let l = net.forward(x, &mut |_, _| Ok(())).unwrap();
        let c = net.cfg.classes;
        l[i * c..(i + 1) * c].iter().map(|v| f64::from(*v)).sum()
    }

    /// A direction `v` over the weights in the backward pass's order (random on
    /// convolution and head weights, zero on BN scales, which the network keeps at 1)
    /// and the networks `theta +- h v`.
    struct Perturb {
        rng: rand_chacha::ChaCha8Rng,
        h: f32,
        v: Vec<f64>,
    }

    impl Perturb {
        fn weights(&mut self, w: &[f32], bound: f32) -> (Vec<f32>, Vec<f32>) {
            use rand::Rng;
            let d: Vec<f32> = w
                .iter()
                .map(|_| self.rng.random_range(-1.0..1.0) * bound / 4.0)
                .collect();
            self.v.extend(d.iter().map(|x| f64::from(*x)));
            (
                w.iter().zip(&d).map(|(a, b)| a + self.h * b).collect(),
                w.iter().zip(&d).map(|(a, b)| a - self.h * b).collect(),
            )
        }

        fn scales(&mut self, n: usize) {
            self.v.extend(std::iter::repeat_n(0.0, n));
        }

        fn conv(
            &mut self,
            k: &super::super::conv::Conv,
            plus: &mut super::super::conv::Conv,
            minus: &mut super::super::conv::Conv,
        ) {
            use super::super::conv::Conv;
            let (w, (cin, cout, kk, st)) = k.to_torch();
            let (p, m) = self.weights(&w, 1.0 / ((cin * kk * kk) as f32).sqrt());
            *plus = Conv::from_torch(&p, cin, cout, kk, st);
            *minus = Conv::from_torch(&m, cin, cout, kk, st);
        }
    }

    impl Nb201Network {
        pub(super) fn perturbed(
            &self,
            seed: u64,
            h: f32,
        ) -> (Nb201Network, Nb201Network, Vec<f64>) {
            use rand::SeedableRng;
            let mut pt = Perturb {
                rng: rand_chacha::ChaCha8Rng::seed_from_u64(seed),
                h,
                v: Vec::new(),
            };
            let (mut plus, mut minus) = (self.clone(), self.clone());
            let last = 4 * self.cfg.channels;
            let (p, m) = pt.weights(&self.head_w, 1.0 / (last as f32).sqrt());
            plus.head_w = p;
            minus.head_w = m;
            pt.scales(last);
            for s in (0..self.stages.len()).rev() {
                let width = self.cfg.channels << s;
                for c in (0..self.stages[s].1.len()).rev() {
                    let cell = &self.stages[s].1[c];
                    for t in (1..=3).rev() {
                        for (ei, (_, to, e)) in cell.edges.iter().enumerate() {
                            if *to != t {
                                continue;
                            }
                            if let Edge::Conv(k) = e {
                                pt.scales(width);
                                let (Edge::Conv(kp), Edge::Conv(km)) = (
                                    &mut plus.stages[s].1[c].edges[ei].2,
                                    &mut minus.stages[s].1[c].edges[ei].2,
                                ) else {
                                    unreachable!()
                                };
                                pt.conv(k, kp, km);
                            }
                        }
                    }
                }
                if let Some(r) = &self.stages[s].0 {
                    let (rp, rm) = (
                        plus.stages[s].0.as_mut().unwrap(),
                        minus.stages[s].0.as_mut().unwrap(),
                    );
                    pt.conv(&r.shortcut, &mut rp.shortcut, &mut rm.shortcut);
                    pt.scales(width);
                    pt.conv(&r.b, &mut rp.b, &mut rm.b);
                    pt.scales(width);
                    pt.conv(&r.a, &mut rp.a, &mut rm.a);
                }
            }
            pt.scales(self.cfg.channels);
            pt.conv(&self.stem, &mut plus.stem, &mut minus.stem);
            (plus, minus, pt.v)
        }
    }

    #[test]
    fn logit_gradients_match_central_differences_along_random_directions() {
        // <J_i, v> against (s_i(theta + h v) - s_i(theta - h v)) / 2h for random
        // directions v on every convolution and head weight (BN scales' gradients are
        // checked in `norm`'s tests and against candle's autograd in tests/nas_net.rs).
        // The step is small, h = 1e-4 (entries of v up to 1/4 of the initial bound), so
        // that no ReLU input in these 4 images crosses zero within +-h v (a crossing
        // breaks the difference quotient: at h = 1e-3 one does here); the f32 forward
        // pass's rounding of s (about 2^-24 sum |logit| ~ 3e-7) divided by 2h is then
        // ~2e-3, the absolute tolerance, with 1% of the derivative on top.
        let cell = Nb201Arch::parse(
            "|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|nor_conv_1x1~0|nor_conv_3x3~1|skip_connect~2|",
        )
        .unwrap();
        let cfg = NetConfig {
            channels: 4,
            cells_per_stage: 1,
            classes: 5,
        };
        let net = Nb201Network::new(&cell, &cfg, 3).unwrap();
        let x = images(4, 8);
        let j = net.logit_gradients(&x).unwrap();
        assert_eq!(j[0].len(), net.weight_count());
        for dir in 0..3u64 {
            let (plus, minus, v) = net.perturbed(dir, 1e-4);
            for (i, ji) in j.iter().enumerate() {
                let analytic: f64 = ji.iter().zip(&v).map(|(a, b)| f64::from(*a) * b).sum();
                let fd = (s(&plus, &x, i) - s(&minus, &x, i)) / 2e-4;
                let tol = 0.01 * analytic.abs() + 5e-3;
                assert!(
                    (analytic - fd).abs() < tol,
                    "dir {dir} image {i}: {analytic} vs {fd}"
                );
            }
        }
    }

    #[test]
    fn the_ntk_is_the_gram_matrix_of_the_gradients() {
        let cell = Nb201Arch::from_ops(["nor_conv_3x3"; 6]);
        let cfg = NetConfig {
            channels: 4,
            cells_per_stage: 1,
            classes: 3,
        };
        let net = Nb201Network::new(&cell, &cfg, 1).unwrap();
        let x = images(5, 8);
        let j = net.logit_gradients(&x).unwrap();
        let ntk = net.ntk(&x).unwrap();
        for a in 0..5 {
            for b in 0..5 {
                let want: f64 = j[a]
                    .iter()
                    .zip(&j[b])
                    .map(|(p, q)| f64::from(*p) * f64::from(*q))
                    .sum();
                let got = ntk.gram[a * 5 + b];
                assert!(
                    (got - want).abs() <= 1e-5 * want.abs().max(1e-12),
                    "{a},{b}: {got} vs {want}"
                );
            }
        }
        let ev = ntk.eigenvalues().unwrap();
        assert!(ev[0] > 0.0, "{ev:?}");
        assert!((ntk.condition().unwrap() - ev[4] / ev[0]).abs() < 1e-9 * ev[4] / ev[0]);
    }
}
