//! `erf(x)` (PAPER.md section 9; Williams 1997).
//!
//! ```text
//! E[erf(u) erf(v)]   = (2 / pi) asin( 2 s12 / sqrt((1 + 2 s11) (1 + 2 s22)) )
//! E[erf'(u) erf'(v)] = (4 / pi) / sqrt((1 + 2 s11) (1 + 2 s22) - 4 s12^2)
//! E[erf(u)]          = 0,        E[erf'(u)] = (2 / sqrt(pi)) / sqrt(1 + 2 s)
//! diagonal:            (2 / pi) asin(2 s / (1 + 2 s))  and  (4 / pi) / sqrt(1 + 4 s)
//! ```
//!
//! `erf'(x) = (2 / sqrt(pi)) exp(-x^2)`. `erf` itself is evaluated here ([`erf`], [`erfc`]:
//! about 1e-15 relative; `statrs` 0.18's `erf` is off by up to ~5e-11 for `x >= 0.5`, too
//! coarse to check quadrature against closed forms). The NTK dual is the derivative of the NNGP dual
//! in `s12` (Price's theorem). Its denominator is evaluated as
//! `1 + 2 s11 + 2 s22 + 4 (s11 s22 - s12^2)` with the last term clamped at 0, so it stays
//! `>= 1`.

use super::rule::{Pair, Point, Rule};
use super::{Activation, Spec};
use crate::kernel::relu::fast_asin;
use std::f64::consts::PI;
use std::fmt;

/// The error function.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Erf;

/// `erf`.
pub(super) const SPEC: Spec = Spec {
    name: "erf",
    aliases: &[],
    params: &[],
    build: |_| Activation::Erf,
};

/// `2 / sqrt(pi)`.
const TWO_OVER_SQRT_PI: f64 = std::f64::consts::FRAC_2_SQRT_PI;

impl Rule for Erf {
    const CLOSED: bool = true;

    fn phi(&self, x: f64) -> f64 {
        erf(x)
    }

    fn dphi(&self, x: f64) -> f64 {
        TWO_OVER_SQRT_PI * (-x * x).exp()
    }

    fn means(&self, s: f64) -> Pair {
        Pair {
            nngp: 0.0,
            ntk: TWO_OVER_SQRT_PI / (1.0 + 2.0 * s).sqrt(),
        }
    }

    fn diag(&self, s: f64) -> Pair {
        Pair {
            nngp: (2.0 / PI) * fast_asin((2.0 * s / (1.0 + 2.0 * s)).min(1.0)),
            ntk: (4.0 / PI) / (1.0 + 4.0 * s).sqrt(),
        }
    }

    /// `[s, 1 / sqrt(1 + 2 s), sqrt(s)]`.
    #[inline(always)]
    fn point(&self, s: f64) -> Point {
        [s, 1.0 / (1.0 + 2.0 * s).sqrt(), s.sqrt()]
    }

    #[inline(always)]
    fn closed(&self, p: &Point, q: &Point, s12: f64) -> Pair {
        let z = (2.0 * s12 * (p[1] * q[1])).clamp(-1.0, 1.0);
        let sd = p[2] * q[2];
        // s11 s22 - s12^2 = (sd - s12)(sd + s12), >= 0 for PSD input.
        let det = ((sd - s12) * (sd + s12)).max(0.0);
        let den = 1.0 + 2.0 * (p[0] + q[0]) + 4.0 * det;
        Pair {
            nngp: (2.0 / PI) * fast_asin(z),
            ntk: (4.0 / PI) / den.sqrt(),
        }
    }

    fn parity(&self) -> Option<f64> {
        Some(-1.0)
    }

    fn spec(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("erf")
    }
}

/// `exp(-x^2)` with `x^2` split into an exact head and a small tail, so the result keeps
/// full relative accuracy for large `|x|` (a rounded `x^2` would cost `x^2 eps`).
fn exp_neg_square(x: f64) -> f64 {
    let hi = f64::from_bits(x.to_bits() & 0xffff_ffff_f800_0000); // 26 significant bits
    let lo = x - hi;
    (-hi * hi).exp() * (-(lo * (x + hi))).exp()
}

/// `erf(x)`, relative error about 1e-15 (a few ulps).
///
/// `|x| < 1.5`: `erf x = (2 / sqrt(pi)) e^(-x^2) sum_n 2^n x^(2n+1) / (1 3 ... (2n+1))`
/// (positive terms, no cancellation); above, `1 - erfc |x|` with [`erfc`]'s continued
/// fraction.
pub(crate) fn erf(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    let a = x.abs();
    let v = if a < 1.5 {
        let x2 = 2.0 * a * a;
        let (mut t, mut s) = (a, a);
        let mut n = 0.0;
        while t > 1e-17 * s {
            t *= x2 / (2.0 * n + 3.0);
            s += t;
            n += 1.0;
        }
        TWO_OVER_SQRT_PI * exp_neg_square(a) * s
    } else {
        1.0 - erfc(a)
    };
    v.copysign(x)
}

/// `erfc(x) = 1 - erf(x)`, with full relative accuracy for `x >= 1.5` (continued fraction
/// `erfc x = e^(-x^2) / sqrt(pi) / (x + (1/2) / (x + 1 / (x + (3/2) / (x + ...))))`, evaluated
/// from a fixed depth that converges to ~4e-16 on each range) and absolute accuracy ~1e-16
/// below.
pub(crate) fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x < 1.5 {
        return 1.0 - erf(x);
    }
    let depth = if x < 2.0 {
        100
    } else if x < 3.0 {
        60
    } else if x < 5.0 {
        40
    } else {
        20
    };
    let mut k = 0.0;
    for n in (1..=depth).rev() {
        k = (0.5 * n as f64) / (x + k);
    }
    exp_neg_square(x) / (std::f64::consts::PI.sqrt() * (x + k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::excessive_precision)] // digits as printed by mpmath
    fn erf_matches_reference_values() {
        // Values to 17 digits (mpmath, 30 digits).
        let cases = [
            (0.1, 0.112_462_916_018_284_9, 0.887_537_083_981_715_1),
            (0.51, 0.529_243_619_841_170_4, 0.470_756_380_158_829_6),
            (1.3, 0.934_007_944_940_652_4, 0.065_992_055_059_347_55),
            (2.0, 0.995_322_265_018_952_7, 0.004_677_734_981_047_266),
            (3.0, 0.999_977_909_503_001_4, 2.209_049_699_858_544e-5),
            (6.0, 1.0, 2.151_973_671_249_891_3e-17),
        ];
        for (x, e, c) in cases {
            assert!(
                (erf(x) - e).abs() <= 1e-15 * e,
                "erf({x}) = {} vs {e}",
                erf(x)
            );
            assert!((erf(-x) + e).abs() <= 1e-15 * e, "erf(-{x})");
            // Relative accuracy from 1.5 on, absolute below.
            let tol = if x >= 1.5 { 1e-15 * c } else { 1e-15 };
            assert!((erfc(x) - c).abs() <= tol, "erfc({x}) = {} vs {c}", erfc(x));
        }
        assert_eq!(erf(0.0), 0.0);
        assert_eq!(erfc(40.0), 0.0);
        assert_eq!(erfc(-40.0), 2.0);
    }
}
