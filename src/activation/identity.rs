//! The identity `phi(x) = x`: a linear edge without activation (PAPER.md section 9).
//!
//! ```text
//! E[u v] = s12,   E[1 * 1] = 1,   E[u] = 0,   E[phi'(u)] = 1,   diagonal: s and 1
//! ```

use super::rule::{Pair, Point, Rule};
use super::{Activation, Spec};
use std::fmt;

/// The identity.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Identity;

/// `identity` (alias `linear`).
pub(super) const SPEC: Spec = Spec {
    name: "identity",
    aliases: &["linear"],
    params: &[],
    build: |_| Activation::Identity,
};

impl Rule for Identity {
    const CLOSED: bool = true;
    const HOMOGENEOUS: bool = true;

    #[inline(always)]
    fn phi(&self, x: f64) -> f64 {
        x
    }

    #[inline(always)]
    fn dphi(&self, _x: f64) -> f64 {
        1.0
    }

    fn means(&self, _s: f64) -> Pair {
        Pair {
            nngp: 0.0,
            ntk: 1.0,
        }
    }

    fn diag(&self, s: f64) -> Pair {
        Pair { nngp: s, ntk: 1.0 }
    }

    #[inline(always)]
    fn closed(&self, _p: &Point, _q: &Point, s12: f64) -> Pair {
        Pair {
            nngp: s12,
            ntk: 1.0,
        }
    }

    fn parity(&self) -> Option<f64> {
        Some(-1.0)
    }

    fn spec(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("identity")
    }
}
