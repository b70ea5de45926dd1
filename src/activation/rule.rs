//! What one activation defines ([`Rule`]), and the generic expectations built from it.

use super::quadrature;
use super::Dual;
use crate::kernel::relu::fast_asin;
use std::f64::consts::{FRAC_PI_2, PI};
use std::fmt;

/// Both duals of one pair of points, computed together.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Pair {
    /// `E[phi(u) phi(v)]` (or `E[phi(u)]`, `E[phi(u)^2]` where the pair is one point).
    pub(crate) nngp: f64,
    /// `E[phi'(u) phi'(v)]` (or `E[phi'(u)]`, `E[phi'(u)^2]`).
    pub(crate) ntk: f64,
}

impl Pair {
    /// The entry for `which`.
    #[inline(always)]
    pub(crate) fn get(self, which: Dual) -> f64 {
        match which {
            Dual::Nngp => self.nngp,
            Dual::Ntk => self.ntk,
        }
    }
}

/// Per-variance data of a closed form (square roots and the like), meaning chosen by the
/// activation; computed once per row and column of a matrix.
pub(crate) type Point = [f64; 3];

/// One activation: everything the module knows about it. Variances passed to `means`,
/// `diag`, `point` and `closed` are finite and `> 0`; the zero-variance rules and the
/// clamping of `rho` live in the generic code below.
pub(crate) trait Rule: Sync {
    /// Whether [`Rule::closed`] holds closed forms (otherwise duals come from quadrature).
    const CLOSED: bool;

    /// Whether `phi(c x) = c phi(x)` for every `c > 0` (ReLU, ABReLU, Abs, identity): then
    /// the NNGP dual is homogeneous of degree 1 in the covariance, the mean of degree 1/2
    /// and the NTK dual of degree 0, so kernels can be evaluated in scaled form
    /// ([`crate::kernel::stream`]).
    const HOMOGENEOUS: bool = false;

    /// `phi(x)`.
    fn phi(&self, x: f64) -> f64;

    /// `phi'(x)`, with the activation's convention at kinks.
    fn dphi(&self, x: f64) -> f64;

    /// `(E[phi(u)], E[phi'(u)])`, `u ~ N(0, s)`.
    fn means(&self, s: f64) -> Pair {
        means_by_quadrature(self, s)
    }

    /// The diagonal: `(E[phi(u)^2], E[phi'(u)^2])`, `u ~ N(0, s)`.
    fn diag(&self, s: f64) -> Pair {
        diag_by_quadrature(self, s)
    }

    /// Per-variance data for [`Rule::closed`].
    #[inline(always)]
    fn point(&self, s: f64) -> Point {
        [s, 0.0, 0.0]
    }

    /// Both duals for variances `a[0]`, `b[0]` and covariance `s12` (closed forms only).
    #[inline(always)]
    fn closed(&self, a: &Point, b: &Point, s12: f64) -> Pair {
        let _ = (a, b, s12);
        unreachable!("closed() called on a quadrature activation")
    }

    /// `Some(1.0)` if `phi` is even, `Some(-1.0)` if odd, `None` otherwise (or unknown):
    /// lets quadrature tables sample half the angles.
    fn parity(&self) -> Option<f64> {
        None
    }

    /// The specification string (`relu`, `leaky_relu(0.1)`, ...).
    fn spec(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

/// `phi` or `phi'` for `which`.
#[inline(always)]
pub(crate) fn fun<R: Rule + ?Sized>(r: &R, which: Dual, x: f64) -> f64 {
    match which {
        Dual::Nngp => r.phi(x),
        Dual::Ntk => r.dphi(x),
    }
}

/// `(E[phi(u)], E[phi'(u)])` by quadrature.
pub(crate) fn means_by_quadrature<R: Rule + ?Sized>(r: &R, s: f64) -> Pair {
    let sd = s.sqrt();
    Pair {
        nngp: quadrature::expect(|x| r.phi(x), sd),
        ntk: quadrature::expect(|x| r.dphi(x), sd),
    }
}

/// `(E[phi(u)^2], E[phi'(u)^2])` by quadrature.
pub(crate) fn diag_by_quadrature<R: Rule + ?Sized>(r: &R, s: f64) -> Pair {
    let sd = s.sqrt();
    Pair {
        nngp: quadrature::expect(|x| r.phi(x).powi(2), sd),
        ntk: quadrature::expect(|x| r.dphi(x).powi(2), sd),
    }
}

/// Correlations within this distance of `±1` are taken as `±1`: the rounding of `rho`
/// itself (a few ulps) is that large, and near `±1` the duals of kinked activations move
/// like `sqrt(1 - |rho|)`, so an unrounded value would be noise of ~1e-8 (ReLU's NTK dual).
pub(crate) const SNAP: f64 = 1.0 - 4.0 * f64::EPSILON;

/// `rho = s12 / sqrt(s11 s22)` as `s12 (inv1 inv2)` (`inv = 1 / sqrt(s)`), clamped to
/// `[-1, 1]` and snapped to `±1` within [`SNAP`]; NaN stays NaN. Every route computes the
/// correlation with this function, so they agree at `rho = ±1`.
#[inline(always)]
pub(crate) fn corr(s12: f64, inv1: f64, inv2: f64) -> f64 {
    let r = s12 * (inv1 * inv2);
    if r.abs() >= SNAP {
        1.0f64.copysign(r)
    } else {
        r
    }
}

/// `rho` ([`corr`]) and `rho' = sqrt(1 - rho^2)` for `s11, s22 > 0`.
#[inline(always)]
pub(crate) fn correlation(s11: f64, s22: f64, s12: f64) -> (f64, f64) {
    let rho = corr(s12, 1.0 / s11.sqrt(), 1.0 / s22.sqrt());
    (rho, ((1.0 - rho) * (1.0 + rho)).max(0.0).sqrt())
}

/// How a scalar expectation is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum How {
    /// Closed form where the activation has one.
    Auto,
    /// Quadrature always.
    Quadrature,
}

/// `E[phi(u)]` or `E[phi'(u)]` for `s > 0`.
pub(crate) fn mean_of<R: Rule>(r: &R, which: Dual, s: f64, how: How) -> f64 {
    if how == How::Quadrature {
        means_by_quadrature(r, s).get(which)
    } else {
        r.means(s).get(which)
    }
}

/// A dual where one or both variances are zero: the zero-variance variable is the
/// constant 0, so `E[f(0) f(v)] = f(0) E[f(v)]` (`f = phi` or `phi'`).
pub(crate) fn zero_variance<R: Rule>(r: &R, which: Dual, s_other: f64, how: How) -> f64 {
    let f0 = fun(r, which, 0.0);
    if f0 == 0.0 {
        return 0.0;
    }
    if s_other > 0.0 {
        f0 * mean_of(r, which, s_other, how)
    } else {
        f0 * f0
    }
}

/// The scalar dual: zero variances by [`zero_variance`], then closed form or quadrature.
pub(crate) fn dual<R: Rule>(r: &R, which: Dual, s11: f64, s22: f64, s12: f64, how: How) -> f64 {
    if s11.is_nan() || s22.is_nan() || s12.is_nan() {
        return f64::NAN;
    }
    let (s11, s22) = (s11.max(0.0), s22.max(0.0));
    if s11 == 0.0 || s22 == 0.0 {
        return zero_variance(r, which, s11.max(s22), how);
    }
    if R::CLOSED && how == How::Auto {
        let s12 = s12.clamp(-(s11.sqrt() * s22.sqrt()), s11.sqrt() * s22.sqrt());
        return r.closed(&r.point(s11), &r.point(s22), s12).get(which);
    }
    let (rho, rho_c) = correlation(s11, s22, s12);
    quadrature::expect_pair(
        |x| fun(r, which, x),
        |x| fun(r, which, x),
        s11.sqrt(),
        s22.sqrt(),
        rho,
        rho_c,
    )
}

/// Both scalar duals (closed forms share their intermediate quantities).
pub(crate) fn dual_pair<R: Rule>(r: &R, s11: f64, s22: f64, s12: f64) -> Pair {
    let (a, b) = (s11.max(0.0), s22.max(0.0));
    if R::CLOSED && a > 0.0 && b > 0.0 && !s12.is_nan() {
        let s12 = s12.clamp(-(a.sqrt() * b.sqrt()), a.sqrt() * b.sqrt());
        return r.closed(&r.point(a), &r.point(b), s12);
    }
    Pair {
        nngp: dual(r, Dual::Nngp, s11, s22, s12, How::Auto),
        ntk: dual(r, Dual::Ntk, s11, s22, s12, How::Auto),
    }
}

/// The 1-D expectation on the diagonal: `E[f(u)^2]`, `u ~ N(0, s)`.
pub(crate) fn diag_of<R: Rule>(r: &R, which: Dual, s: f64, how: How) -> f64 {
    if s.is_nan() {
        return f64::NAN;
    }
    if s <= 0.0 {
        return fun(r, which, 0.0).powi(2);
    }
    if how == How::Quadrature {
        diag_by_quadrature(r, s).get(which)
    } else {
        r.diag(s).get(which)
    }
}

/// `arccos(r)` for `r in [-1, 1]`, branch-free (vectorisable) and accurate near `±1`:
/// `2 asin(sqrt((1 - |r|) / 2))` for `|r| > 1/2`.
#[inline(always)]
pub(crate) fn fast_acos(r: f64) -> f64 {
    let a = r.abs();
    let big = a > 0.5;
    let z = if big {
        ((1.0 - a) * 0.5).max(0.0).sqrt()
    } else {
        a
    };
    let p = fast_asin(z);
    if big {
        if r > 0.0 {
            2.0 * p
        } else {
            PI - 2.0 * p
        }
    } else {
        FRAC_PI_2 - p.copysign(r)
    }
}
