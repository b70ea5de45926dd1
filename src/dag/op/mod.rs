//! The operation class of an edge (PAPER.md section 1), one file per class, and the
//! [`Role`] each class plays: the primitive every consumer implements.
//!
//! | class (file) | role | depth `d_p` |
//! |---|---|---|
//! | [`Op::Zero`] (`zero.rs`) | [`Role::Absent`]: on no path, ignored | none |
//! | [`Op::Skip`] (`skip.rs`) | [`Role::Identity`]: `X^t += X^s` | `+0` |
//! | [`Op::Linear`] (`linear.rs`) | [`Role::Layer`]: `X^t += phi(sqrt(sw2/m) W X^s + sqrt(sb2) b)`, fresh `W, b` | `+1` |
//!
//! Each class's file holds its names, its depth, its role and, in its docs, what that
//! role means for every consumer (path statistics, the three closed-form NNGP rules, the
//! NTK forward and backward passes, the CPU and CUDA samplers, the empirical NTK and the
//! trainer). Consumers never look at an [`Op`]: they ask [`Op::role`] (through
//! [`crate::plan::Plan`] or [`Edge::role`]) and `match` on the [`Role`] with no wildcard
//! arm, and the path statistics read [`Op::depth`].
//!
//! **Adding an operation** (README, "Adding an operation") is one file here plus one arm
//! in each of this module's dispatching `match`es. If the new class is made of an
//! existing role (a pooling op that the kernels treat as the identity, say) nothing else
//! changes; if it needs a new primitive (a scaled skip, say), add a [`Role`] variant and
//! the compiler lists every consumer that must implement it.

use super::Edge;
use crate::model::EdgeParams;
use serde::{Deserialize, Serialize};
use std::fmt;

mod linear;
mod skip;
mod zero;

/// Kernel class of an edge operation (PAPER.md section 1, table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// The edge is absent (`none` in the benchmarks). Kept in the edge list only so
    /// drawings can show it in light grey; ignored by every computation.
    Zero,
    /// Identity, non-parameterized (`skip_connect`; pooling maps here too).
    Skip,
    /// `phi(sqrt(sw2 / m) W x + sqrt(sb2) b)` with the edge's [`crate::model::EdgeParams`]
    /// (the paper's: `relu`, `sw2 = 2`, `sb2 = 0`): parameterized (convolutions map here).
    Linear,
}

/// What an edge does to the signal, in the primitives every consumer implements (the
/// consumer's `match` on it has no wildcard arm).
///
/// ```
/// use archconv::{dag::Role, Edge, Op};
/// let e = Edge::new(0, 2, Op::Skip);
/// assert!(matches!(e.role(), Role::Identity { from: 0 }));
/// let e = Edge::new(1, 2, Op::Linear);
/// match e.role() {
///     Role::Layer { from, params } => assert!(from == 1 && params.is_paper_relu()),
///     Role::Identity { .. } | Role::Absent => unreachable!(),
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Role<'a> {
    /// On no path: adds nothing anywhere.
    Absent,
    /// `X^t += X^s`: features pass unchanged forward, gradients backward; skips leaving
    /// one node stay correlated (the exact rule's cross terms).
    Identity {
        /// The source node `s`.
        from: usize,
    },
    /// `X^t += phi(sqrt(sw2 / m) W X^s + sqrt(sb2) b)` with fresh `W, b` iid `N(0, 1)`.
    Layer {
        /// The source node `s`.
        from: usize,
        /// The activation and variances.
        params: &'a EdgeParams,
    },
}

impl Op {
    /// Every class, in declaration order.
    pub const ALL: [Op; 3] = [Op::Zero, Op::Skip, Op::Linear];

    /// The names that parse as this class.
    fn names(self) -> &'static [&'static str] {
        match self {
            Op::Zero => zero::NAMES,
            Op::Skip => skip::NAMES,
            Op::Linear => linear::NAMES,
        }
    }

    /// Maps an operation name to its class.
    ///
    /// | class | names |
    /// |---|---|
    /// | Zero | `none`, `zero`, `0` |
    /// | Skip | `skip`, `skip_connect`, `identity`, `avg_pool_3x3`, `max_pool_3x3`, `concat` (DARTS cell output), `1` |
    /// | Linear | `linear`, `nor_conv_1x1`, `nor_conv_3x3`, `sep_conv_3x3`, `sep_conv_5x5`, `dil_conv_3x3`, `dil_conv_5x5`, `conv_1x1`, `conv_3x3`, `conv_7x1_1x7`, `2` |
    ///
    /// ```
    /// use archconv::Op;
    /// assert_eq!(Op::from_name("avg_pool_3x3"), Some(Op::Skip));
    /// assert_eq!(Op::from_name("sep_conv_5x5"), Some(Op::Linear));
    /// assert_eq!(Op::from_name("relu"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.names().contains(&name))
    }

    /// The canonical lower-case name of the class (`zero`, `skip`, `linear`).
    pub fn name(self) -> &'static str {
        match self {
            Op::Zero => zero::NAME,
            Op::Skip => skip::NAME,
            Op::Linear => linear::NAME,
        }
    }

    /// What edge `edge` (of this class) does: its [`Role`].
    pub fn role(self, edge: &Edge) -> Role<'_> {
        match self {
            Op::Zero => zero::role(edge),
            Op::Skip => skip::role(edge),
            Op::Linear => linear::role(edge),
        }
    }

    /// What the edge adds to the depth `d_p` of a path through it (PAPER.md section 1):
    /// 1 for a parameterized edge, 0 for a skip, `None` for an absent edge, which lies on
    /// no path. The path statistics read only this.
    ///
    /// ```
    /// use archconv::Op;
    /// assert_eq!(Op::Linear.depth(), Some(1));
    /// assert_eq!(Op::Skip.depth(), Some(0));
    /// assert_eq!(Op::Zero.depth(), None);
    /// ```
    pub fn depth(self) -> Option<usize> {
        match self {
            Op::Zero => zero::DEPTH,
            Op::Skip => skip::DEPTH,
            Op::Linear => linear::DEPTH,
        }
    }

    /// Whether the op carries weights (counts towards a path's depth `d_p`).
    ///
    /// ```
    /// use archconv::Op;
    /// assert!(Op::Linear.is_parameterized() && !Op::Skip.is_parameterized());
    /// ```
    pub fn is_parameterized(self) -> bool {
        self.depth().is_some_and(|d| d > 0)
    }

    /// Whether the edge is absent (`Zero`): every computation skips it.
    ///
    /// ```
    /// use archconv::Op;
    /// assert!(Op::Zero.is_absent() && !Op::Skip.is_absent());
    /// ```
    pub fn is_absent(self) -> bool {
        self.depth().is_none()
    }
}

impl Edge {
    /// What this edge does: its class's [`Role`] ([`Op::role`]).
    pub fn role(&self) -> Role<'_> {
        self.op.role(self)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
