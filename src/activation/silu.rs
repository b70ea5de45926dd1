//! SiLU (swish), `x / (1 + e^-x)`, by quadrature (PAPER.md section 9).
//!
//! `phi'(x) = sigma(x) (1 + x sigma(-x))` with `sigma` the logistic sigmoid (`1 - sigma(x)`
//! written as `sigma(-x)` to avoid cancellation).

use super::rule::Rule;
use super::softplus::sigmoid;
use super::{Activation, Spec};
use std::fmt;

/// SiLU.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Silu;

/// `silu`.
pub(super) const SPEC: Spec = Spec {
    name: "silu",
    aliases: &[],
    params: &[],
    build: |_| Activation::Silu,
};

impl Rule for Silu {
    const CLOSED: bool = false;

    #[inline]
    fn phi(&self, x: f64) -> f64 {
        x * sigmoid(x)
    }

    #[inline]
    fn dphi(&self, x: f64) -> f64 {
        let s = sigmoid(x);
        s * (1.0 + x * sigmoid(-x))
    }

    fn spec(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("silu")
    }
}
