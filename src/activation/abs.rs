//! `|x|`: [`AbRelu`] with slopes `(-1, 1)` (PAPER.md section 9).
//!
//! With `theta = arccos(rho)`:
//!
//! ```text
//! E[|u| |v|]         = sqrt(s11 s22) (2 / pi) (sin theta + (pi/2 - theta) cos theta)
//! E[sgn(u) sgn(v)]   = 1 - 2 theta / pi = (2 / pi) asin(rho)
//! E[|u|]             = sqrt(2 s / pi),          E[sgn(u)] = 0
//! ```
//!
//! `abs'(0) = 0`.

use super::abrelu::AbRelu;
use super::rule::{Pair, Point, Rule};
use super::{Activation, Spec};
use std::fmt;

/// Absolute value.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Abs;

const AS_ABRELU: AbRelu = AbRelu { a: -1.0, b: 1.0 };

/// `abs`.
pub(super) const SPEC: Spec = Spec {
    name: "abs",
    aliases: &[],
    params: &[],
    build: |_| Activation::Abs,
};

impl Rule for Abs {
    const CLOSED: bool = true;
    const HOMOGENEOUS: bool = true;

    #[inline(always)]
    fn phi(&self, x: f64) -> f64 {
        x.abs()
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

    fn parity(&self) -> Option<f64> {
        Some(1.0)
    }

    fn spec(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("abs")
    }
}
