//! The operation class of an edge (PAPER.md section 1): one place for what each class
//! means, and the questions every consumer asks of it.
//!
//! | class | features | depth `d_p` | NNGP / NTK (closed form) | finite width |
//! |---|---|---|---|---|
//! | [`Op::Zero`] | none: the edge is absent | on no path | ignored | ignored |
//! | [`Op::Skip`] | `X^s` added to the target | `+0` | `K^s` and the mean pass; skip pairs leaving one node keep their cross terms `S^{s,s'}`; backward Grams pass unchanged | features and gradients added unchanged |
//! | [`Op::Linear`] | `phi(sqrt(sw2/m) W X^s + sqrt(sb2) b)`, fresh `W, b` | `+1` | `F_e(K^s)`, mean `a_e`, NTK map `Fd_e` ([`crate::model::EdgeParams`]); no cross terms with other edges beyond the means | `W`, `b` drawn per edge (stream = edge index); GEMM, activation, backprop |
//!
//! Consumers decide by an exhaustive `match` on [`Op`] or through the methods below
//! ([`Op::is_absent`], [`Op::is_parameterized`], [`Op::depth`]); none compares ops with
//! `==` or has a wildcard arm, so a new class makes the compiler list every place that
//! must handle it (README, "Adding an operation").

use serde::{Deserialize, Serialize};
use std::fmt;

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

impl Op {
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
        Some(match name {
            "none" | "zero" | "0" => Op::Zero,
            "skip" | "skip_connect" | "identity" | "avg_pool_3x3" | "max_pool_3x3" | "concat"
            | "1" => Op::Skip,
            "linear" | "nor_conv_1x1" | "nor_conv_3x3" | "sep_conv_3x3" | "sep_conv_5x5"
            | "dil_conv_3x3" | "dil_conv_5x5" | "conv_1x1" | "conv_3x3" | "conv_7x1_1x7" | "2" => {
                Op::Linear
            }
            _ => return None,
        })
    }

    /// The canonical lower-case name of the class (`zero`, `skip`, `linear`).
    pub fn name(self) -> &'static str {
        match self {
            Op::Zero => "zero",
            Op::Skip => "skip",
            Op::Linear => "linear",
        }
    }

    /// Whether the op carries weights (counts towards a path's depth `d_p`).
    pub fn is_parameterized(self) -> bool {
        match self {
            Op::Linear => true,
            Op::Skip | Op::Zero => false,
        }
    }

    /// Whether the edge is absent (`Zero`): every computation skips it.
    ///
    /// ```
    /// use archconv::Op;
    /// assert!(Op::Zero.is_absent() && !Op::Skip.is_absent());
    /// ```
    pub fn is_absent(self) -> bool {
        match self {
            Op::Zero => true,
            Op::Skip | Op::Linear => false,
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
            Op::Zero => None,
            Op::Skip => Some(0),
            Op::Linear => Some(1),
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
