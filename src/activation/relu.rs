//! ReLU, `max(x, 0)`: [`AbRelu`] with slopes `(0, 1)` (PAPER.md sections 2, 8 and 9).
//!
//! With `theta = arccos(rho)`:
//!
//! ```text
//! E[relu(u) relu(v)]   = sqrt(s11 s22) / (2 pi) (sin theta + (pi - theta) cos theta)
//! E[relu'(u) relu'(v)] = (pi - theta) / (2 pi)
//! E[relu(u)]           = sqrt(s / (2 pi)),      E[relu'(u)] = 1/2
//! ```
//!
//! With `sw2 = 2, sb2 = 0` the NNGP dual is the crate's arc-cosine map `f` (section 2) and
//! `2 E[relu' relu']` its NTK companion `fdot` (section 8). `relu'(0) = 0`.

use super::abrelu::AbRelu;
use super::rule::{Pair, Point, Rule};
use super::{Activation, Spec};
use std::fmt;

/// ReLU.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Relu;

const AS_ABRELU: AbRelu = AbRelu { a: 0.0, b: 1.0 };

/// `relu`.
pub(super) const SPEC: Spec = Spec {
    name: "relu",
    aliases: &[],
    params: &[],
    build: |_| Activation::Relu,
};

impl Rule for Relu {
    const CLOSED: bool = true;
    const HOMOGENEOUS: bool = true;

    #[inline(always)]
    fn phi(&self, x: f64) -> f64 {
        x.max(0.0)
    }

    #[inline(always)]
    fn dphi(&self, x: f64) -> f64 {
        AS_ABRELU.dphi(x)
    }

    fn means(&self, s: f64) -> Pair {
        AS_ABRELU.means(s)
    }

    fn diag(&self, s: f64) -> Pair {
        AS_ABRELU.diag(s)
    }

    #[inline(always)]
    fn point(&self, s: f64) -> Point {
        AS_ABRELU.point(s)
    }

    #[inline(always)]
    fn closed(&self, p: &Point, q: &Point, s12: f64) -> Pair {
        AS_ABRELU.closed(p, q, s12)
    }

    fn spec(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("relu")
    }
}

crate::simd::avx2_dispatch! {
    /// One row of both ReLU duals, vectorised (the streamed kernels' inner loop,
    /// [`super::EntryMap::row_pairs`] with the NTK): entry `j` is the closed form
    /// [`Rule::closed`] of point `i` (`sd_i`, `inv_i`: its standard deviation and inverse)
    /// against point `j` with covariance `s12[j]`, `E[relu(u) relu(v)]` into `o` and
    /// `E[relu'(u) relu'(v)]` into `od`. The closed form itself is inlined into the loop,
    /// so the entries are bit-for-bit the per-pair route's; the diagonal and zero
    /// variances are the caller's.
    pub(crate) fn pair_row(
        o: &mut [f64],
        od: &mut [f64],
        s12: &[f64],
        sd: &[f64],
        inv: &[f64],
        sd_i: f64,
        inv_i: f64,
    ) {
        let p: Point = [sd_i * sd_i, sd_i, inv_i];
        for ((((a, b), &s), &sj), &ij) in o.iter_mut().zip(od.iter_mut()).zip(s12).zip(sd).zip(inv) {
            let q: Point = [sj * sj, sj, ij];
            let pr = Relu.closed(&p, &q, s);
            (*a, *b) = (pr.nngp, pr.ntk);
        }
    }
}
