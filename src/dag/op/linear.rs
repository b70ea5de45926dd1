//! `Linear`: a fresh Gaussian layer and its activation (convolutions map here).
//!
//! Its role is [`Role::Layer`]: `X^t += phi(sqrt(sw2 / m) W X^s + sqrt(sb2) b)` with `W, b`
//! iid `N(0, 1)` drawn for this edge alone and the edge's [`crate::model::EdgeParams`] (the paper's:
//! `relu`, `sw2 = 2`, `sb2 = 0`). What each consumer does with it:
//!
//! | consumer | rule |
//! |---|---|
//! | path statistics | depth `+1` |
//! | path-sum NNGP (Eq. 12) | the factor `F_e` composed along a path |
//! | independent-branch NNGP | `K^t += F_e(K^s)` (the activation's dual, [`crate::activation`]) |
//! | exact NNGP (PAPER.md section 7) | as above; against any other edge only its mean `a_e = E[phi(u)]` correlates (fresh weights) |
//! | NTK forward / backward (section 8) | the edge term `(K^s + sb2/sw2) * Fd_e(K^s) * P^t`; `P^s += Fd_e(K^s) * P^t`, no backward cross terms |
//! | samplers | `W, b` drawn per edge (stream = edge index), GEMM and activation; the conditional sampler draws `W X^s` from its law given `X^s` |
//! | empirical NTK, trainer | the same forward pass; backprop through `phi'` and `W^T`, with weight and bias gradients |

use super::Role;
use crate::dag::Edge;

/// The names that parse as `Linear`.
pub(super) const NAMES: &[&str] = &[
    "linear",
    "nor_conv_1x1",
    "nor_conv_3x3",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
    "conv_1x1",
    "conv_3x3",
    "conv_7x1_1x7",
    "2",
];

/// The canonical name.
pub(super) const NAME: &str = "linear";

/// Adds one parameterized layer to a path's depth.
pub(super) const DEPTH: Option<usize> = Some(1);

/// The edge's role: [`Role::Layer`] from its source with its parameters.
pub(super) fn role(edge: &Edge) -> Role<'_> {
    Role::Layer {
        from: edge.from,
        params: edge.params(),
    }
}
