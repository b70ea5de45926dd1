//! Softplus, `ln(1 + e^x)`, by quadrature (PAPER.md section 9).
//!
//! `phi(x) = max(x, 0) + ln(1 + e^-|x|)` and `phi'(x) = 1 / (1 + e^-x)` (the logistic
//! sigmoid), both in forms that neither overflow nor cancel.

use super::rule::Rule;
use super::{Activation, Spec};
use std::fmt;

/// Softplus.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Softplus;

/// `softplus`.
pub(super) const SPEC: Spec = Spec {
    name: "softplus",
    aliases: &[],
    params: &[],
    build: |_| Activation::Softplus,
};

/// The logistic sigmoid `1 / (1 + e^-x)`, without overflow.
#[inline]
pub(crate) fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

impl Rule for Softplus {
    const CLOSED: bool = false;

    #[inline]
    fn phi(&self, x: f64) -> f64 {
        x.max(0.0) + (-x.abs()).exp().ln_1p()
    }

    #[inline]
    fn dphi(&self, x: f64) -> f64 {
        sigmoid(x)
    }

    fn spec(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("softplus")
    }
}
