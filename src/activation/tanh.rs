//! `tanh(x)`, by quadrature (PAPER.md section 9).
//!
//! No closed form: both duals come from the module's Gauss–Legendre quadrature (tables in
//! `theta` for matrices). `E[tanh(u)] = 0` (odd); `tanh'(x) = sech^2(x)`, evaluated as
//! `4 e / (1 + e)^2`, `e = exp(-2|x|)`, which keeps full relative accuracy in the tails.

use super::rule::{means_by_quadrature, Pair, Rule};
use super::{Activation, Spec};
use std::fmt;

/// The hyperbolic tangent.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tanh;

/// `tanh`.
pub(super) const SPEC: Spec = Spec {
    name: "tanh",
    aliases: &[],
    params: &[],
    build: |_| Activation::Tanh,
};

impl Rule for Tanh {
    const CLOSED: bool = false;

    #[inline]
    fn phi(&self, x: f64) -> f64 {
        x.tanh()
    }

    #[inline]
    fn dphi(&self, x: f64) -> f64 {
        let e = (-2.0 * x.abs()).exp();
        4.0 * e / ((1.0 + e) * (1.0 + e))
    }

    fn means(&self, s: f64) -> Pair {
        Pair {
            nngp: 0.0,
            ntk: means_by_quadrature(self, s).ntk,
        }
    }

    fn parity(&self) -> Option<f64> {
        Some(-1.0)
    }

    fn spec(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tanh")
    }
}
