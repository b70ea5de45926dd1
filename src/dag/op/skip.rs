//! `Skip`: the identity, without parameters (`skip_connect`; pooling maps here too).
//!
//! Its role is [`Role::Identity`]: the target adds the source's features `X^s` unchanged,
//! so a skip adds `0` to a path's depth `d_p` (PAPER.md section 1), and what each
//! consumer does with it follows from that one fact:
//!
//! | consumer | rule |
//! |---|---|
//! | path statistics | depth `+0` |
//! | path-sum NNGP (Eq. 12) | the factor `1` along a path |
//! | independent-branch NNGP | `K^t += K^s`, mean `mu^t += mu^s` |
//! | exact NNGP (PAPER.md section 7) | as above, and two skips that leave one node keep their cross term `S^{s,s'} = K^s` |
//! | NTK forward / backward (section 8) | `Theta^t += Theta^s`; backward Grams pass, `Q^{s,b} += Q^{t,b}` |
//! | samplers, empirical NTK, trainer | features added, `X^t += X^s`; gradients passed back unchanged |

use super::Role;
use crate::dag::Edge;

/// The names that parse as `Skip`.
pub(super) const NAMES: &[&str] = &[
    "skip",
    "skip_connect",
    "identity",
    "avg_pool_3x3",
    "max_pool_3x3",
    "concat",
    "1",
];

/// The canonical name.
pub(super) const NAME: &str = "skip";

/// Adds nothing to a path's depth.
pub(super) const DEPTH: Option<usize> = Some(0);

/// The edge's role: [`Role::Identity`] from its source.
pub(super) fn role(edge: &Edge) -> Role<'_> {
    Role::Identity { from: edge.from }
}
