//! `ABReLU(a, b)`: `phi(x) = b x` for `x >= 0`, `a x` for `x < 0` (PAPER.md section 9).
//!
//! With `phi = b relu(x) - a relu(-x)`, `theta = arccos(rho)` and the ReLU moments
//! `R(theta) = sqrt(s11 s22) / (2 pi) (sin theta + (pi - theta) cos theta)` (`-v` has
//! correlation `-rho`, angle `pi - theta`):
//!
//! ```text
//! E[phi(u) phi(v)]   = (a^2 + b^2) R(theta) - 2 a b R(pi - theta)
//!                    = sqrt(s11 s22) / (2 pi) [ (a^2 + b^2) (sin theta + (pi - theta) cos theta)
//!                                              - 2 a b (sin theta - theta cos theta) ]
//! E[phi'(u) phi'(v)] = ((a^2 + b^2) (pi - theta) + 2 a b theta) / (2 pi)
//! E[phi(u)]          = (b - a) sqrt(s / (2 pi)),     E[phi'(u)] = (a + b) / 2
//! diagonal:            (a^2 + b^2) s / 2  and  (a^2 + b^2) / 2
//! ```
//!
//! Leaky ReLU(alpha) is `ABReLU(alpha, 1)`, ReLU is `ABReLU(0, 1)`, Abs is `ABReLU(-1, 1)`.
//! At the kink `phi'(0) = 0` (so `relu'(0) = abs'(0) = 0`; PyTorch's `leaky_relu`
//! takes the negative slope there, which matters only for zero variances); when
//! `a = b` there is no kink and `phi'(0) = b`. The angle enters through
//! `asin(rho) = pi/2 - theta`, evaluated by the crate's branch-free polynomial
//! ([`crate::kernel::relu::fast_asin`]) so matrix rows vectorise.

use super::rule::{corr, Pair, Point, Rule};
use super::{Activation, Spec};
use crate::kernel::relu::fast_asin;
use std::f64::consts::{FRAC_PI_2, PI};
use std::fmt;

/// `ABReLU(a, b)`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AbRelu {
    /// Slope below zero.
    pub(crate) a: f64,
    /// Slope above zero.
    pub(crate) b: f64,
}

/// `leaky_relu(ALPHA)` = `ABReLU(ALPHA, 1)`.
pub(super) const LEAKY: Spec = Spec {
    name: "leaky_relu",
    aliases: &[],
    params: &["alpha"],
    build: |p| Activation::AbRelu { a: p[0], b: 1.0 },
};

/// `abrelu(A,B)`.
pub(super) const SPEC: Spec = Spec {
    name: "abrelu",
    aliases: &[],
    params: &["a", "b"],
    build: |p| Activation::AbRelu { a: p[0], b: p[1] },
};

impl Rule for AbRelu {
    const CLOSED: bool = true;
    const HOMOGENEOUS: bool = true;

    #[inline(always)]
    fn phi(&self, x: f64) -> f64 {
        if x >= 0.0 {
            self.b * x
        } else {
            self.a * x
        }
    }

    #[inline(always)]
    fn dphi(&self, x: f64) -> f64 {
        if x > 0.0 {
            self.b
        } else if x < 0.0 {
            self.a
        } else if self.a == self.b {
            self.b
        } else {
            0.0
        }
    }

    fn means(&self, s: f64) -> Pair {
        Pair {
            nngp: (self.b - self.a) * (s / (2.0 * PI)).sqrt(),
            ntk: 0.5 * (self.a + self.b),
        }
    }

    fn diag(&self, s: f64) -> Pair {
        let q = self.a * self.a + self.b * self.b;
        Pair {
            nngp: 0.5 * q * s,
            ntk: 0.5 * q,
        }
    }

    /// `[s, sqrt(s), 1 / sqrt(s)]`.
    #[inline(always)]
    fn point(&self, s: f64) -> Point {
        let sd = s.sqrt();
        [s, sd, 1.0 / sd]
    }

    #[inline(always)]
    fn closed(&self, p: &Point, q: &Point, s12: f64) -> Pair {
        let (a, b) = (self.a, self.b);
        let rho = corr(s12, p[2], q[2]);
        let sin = ((1.0 - rho) * (1.0 + rho)).max(0.0).sqrt();
        let asin = fast_asin(rho);
        let (pi_minus_theta, theta) = (FRAC_PI_2 + asin, FRAC_PI_2 - asin);
        let (same, mixed) = (a * a + b * b, 2.0 * a * b);
        // sin theta + (pi - theta) cos theta  and  sin theta - theta cos theta.
        let plus = sin + rho * pi_minus_theta;
        let minus = sin - rho * theta;
        Pair {
            nngp: (p[1] * q[1]) * (same * plus - mixed * minus) * (0.5 / PI),
            ntk: (same * pi_minus_theta + mixed * theta) * (0.5 / PI),
        }
    }

    fn spec(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.b == 1.0 {
            write!(f, "leaky_relu({})", self.a)
        } else {
            write!(f, "abrelu({},{})", self.a, self.b)
        }
    }
}
