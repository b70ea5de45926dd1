//! The exact GELU, `phi(x) = x Phi(x)` (`Phi` the standard normal CDF), in closed form
//! (PAPER.md section 9).
//!
//! **Derivation.** Write `Phi(u) = P(z1 <= u)` with `z1, z2 ~ N(0, 1)` independent of
//! `(u, v)`, and `a = u - z1`, `b = v - z2`, so that
//! `E[phi(u) phi(v)] = E[u v 1(a > 0) 1(b > 0)]` over the Gaussian vector `(u, v, a, b)`
//! (`Var a = 1 + s11`, `Var b = 1 + s22`, `Cov(a, b) = Cov(u, b) = Cov(v, a) = s12`,
//! `Cov(u, a) = s11`, `Cov(v, b) = s22`). Gaussian integration by parts in `u`
//! (`E[u F] = sum_w Cov(u, w) E[dF/dw]`) gives three terms: `s12 P(a > 0, b > 0)`, and two
//! where a delta function at `a = 0` or `b = 0` leaves a one-dimensional truncated moment.
//! With `A = 1 + s11`, `B = 1 + s22`, `D = A B - s12^2`, `rho_ab = s12 / sqrt(A B)` and
//! `q = 1/A + 1/B`:
//!
//! ```text
//! E[phi(u) phi(v)]   = s12 (1/4 + asin(rho_ab) / (2 pi)) + (s11 s22 - s12^2 + q s12^2) / (2 pi sqrt(D))
//! E[phi'(u) phi'(v)] = d/ds12 of the above (Price's theorem)
//!                    = 1/4 + asin(rho_ab) / (2 pi) + s12 (1/D + q) / (2 pi sqrt(D))
//! E[phi(u)]          = s / sqrt(2 pi (1 + s)),     E[phi'(u)] = 1/2
//! ```
//!
//! At `s12 = 0` the NNGP dual is the product of the means and the NTK dual is `1/4`; the
//! diagonal is the same formula at `s11 = s22 = s12 = s` (no singularity there:
//! `D = 1 + 2 s`). `phi'(x) = Phi(x) + x phi(x)` with `phi` the normal density. Tested
//! against quadrature, Monte Carlo and finite differences in `tests/activation.rs`.
//!
//! The terms are written without harmful cancellation: `s11 s22 - s12^2 =
//! (sqrt(s11 s22) - s12) (sqrt(s11 s22) + s12)` clamped at 0, and the NTK bracket
//! `1/D + 1/A + 1/B` is the simplified form of the derivative (`1 + 2 c + N / D` with
//! `c = q - 1`, whose terms cancel to `O(1/s)` for large variances: 1e-13 relative error at
//! `s = 1e3` before the simplification). `1/4 + asin(rho_ab) / (2 pi)` cancels near
//! `rho_ab = -1`, but only to an absolute error of `eps / 4`.

use super::rule::{Pair, Point, Rule};
use super::{Activation, Spec};
use crate::kernel::relu::fast_asin;
use std::f64::consts::{FRAC_1_SQRT_2, PI};
use std::fmt;

/// The exact (erf-based) GELU.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Gelu;

/// `gelu`.
pub(super) const SPEC: Spec = Spec {
    name: "gelu",
    aliases: &[],
    params: &[],
    build: |_| Activation::Gelu,
};

/// `1 / sqrt(2 pi)`.
const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

/// The standard normal CDF.
fn normal_cdf(x: f64) -> f64 {
    0.5 * super::erf::erfc(-x * FRAC_1_SQRT_2)
}

impl Rule for Gelu {
    const CLOSED: bool = true;

    fn phi(&self, x: f64) -> f64 {
        x * normal_cdf(x)
    }

    fn dphi(&self, x: f64) -> f64 {
        normal_cdf(x) + x * INV_SQRT_2PI * (-0.5 * x * x).exp()
    }

    fn means(&self, s: f64) -> Pair {
        Pair {
            nngp: s * INV_SQRT_2PI / (1.0 + s).sqrt(),
            ntk: 0.5,
        }
    }

    fn diag(&self, s: f64) -> Pair {
        let p = self.point(s);
        self.closed(&p, &p, s)
    }

    /// `[s, 1 / sqrt(1 + s), sqrt(s)]`.
    #[inline(always)]
    fn point(&self, s: f64) -> Point {
        [s, 1.0 / (1.0 + s).sqrt(), s.sqrt()]
    }

    #[inline(always)]
    fn closed(&self, p: &Point, q: &Point, s12: f64) -> Pair {
        let (s11, s22) = (p[0], q[0]);
        // 1/4 + asin(rho_ab) / (2 pi): near rho_ab = -1 this cancels to a small number
        // with an absolute error of ~eps/4, negligible against the scale.
        let rho_ab = (s12 * (p[1] * q[1])).clamp(-1.0, 1.0);
        let quarter = 0.25 + fast_asin(rho_ab) * (0.5 / PI);
        let sd = p[2] * q[2];
        let det = ((sd - s12) * (sd + s12)).max(0.0);
        let rd = 1.0 / (1.0 + s11 + s22 + det).sqrt();
        let inv_ab = p[1] * p[1] + q[1] * q[1];
        let num = det + inv_ab * s12 * s12;
        Pair {
            nngp: s12 * quarter + num * rd * (0.5 / PI),
            ntk: quarter + s12 * rd * (rd * rd + inv_ab) * (0.5 / PI),
        }
    }

    fn spec(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("gelu")
    }
}
