//! The authors' MLP code (PAPER.md section 1): incoming edges per node, `_`-separated,
//! one digit per source node (`0` = zero, `1` = skip, `2` = linear).
//!
//! Group `t` (1-based) lists the edges into node `t` from nodes `0..t`, so it has `t`
//! digits: `2_21_112` is DAG#3 (0->1 linear; 0->2 linear, 1->2 skip; 0->3 skip, 1->3 skip,
//! 2->3 linear). Any number of groups is accepted (a DAG with `H` groups has nodes `0..=H`).
//!
//! ```
//! use archconv::dag::format::MlpCode;
//! let code = MlpCode::parse("1_01_222").unwrap();
//! assert_eq!(code.to_string(), "1_01_222");
//! assert_eq!(MlpCode::from_dag(&code.dag()), Some(code));
//! ```

use super::{Cursor, Format, ParseError};
use crate::dag::{Dag, Edge, Op};
use std::fmt;

/// A parsed MLP code: `ops[t - 1][s]` is the op of edge `s -> t`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MlpCode {
    ops: Vec<Vec<Op>>,
}

impl MlpCode {
    /// Parses a code such as `2_02_002`.
    pub fn parse(text: &str) -> Result<MlpCode, ParseError> {
        let mut cur = Cursor::new(text.trim(), Format::MlpCode);
        let mut ops = Vec::new();
        loop {
            let group = ops.len() + 1;
            let mut row = Vec::with_capacity(group);
            for s in 0..group {
                match cur.peek() {
                    Some(c @ '0'..='2') => {
                        row.push(match c {
                            '0' => Op::Zero,
                            '1' => Op::Skip,
                            _ => Op::Linear,
                        });
                        cur.pos += 1;
                    }
                    _ => {
                        return Err(cur.error(format!(
                            "digit 0, 1 or 2 for edge {s} -> {group} (group {group} has {group} digit{})",
                            if group == 1 { "" } else { "s" }
                        )))
                    }
                }
            }
            ops.push(row);
            if cur.at_end() {
                break;
            }
            cur.expect("_")?;
        }
        Ok(MlpCode { ops })
    }

    /// The code of a DAG, when it has one: a single input node 0 and at most one
    /// non-zero edge per node pair.
    pub fn from_dag(dag: &Dag) -> Option<MlpCode> {
        if dag.inputs() != [0] || dag.num_nodes() < 2 {
            return None;
        }
        let h = dag.output();
        let mut ops: Vec<Vec<Op>> = (1..=h).map(|t| vec![Op::Zero; t]).collect();
        for e in dag.edges().iter().filter(|e| !e.op.is_absent()) {
            let slot = &mut ops[e.to - 1][e.from];
            if !slot.is_absent() {
                return None;
            }
            *slot = e.op;
        }
        Some(MlpCode { ops })
    }

    /// The op of edge `s -> t`.
    pub fn op(&self, s: usize, t: usize) -> Op {
        self.ops[t - 1][s]
    }

    /// The DAG (zero edges kept, so drawings can show them).
    pub fn dag(&self) -> Dag {
        let mut edges = Vec::new();
        for (i, row) in self.ops.iter().enumerate() {
            for (s, &op) in row.iter().enumerate() {
                edges.push(Edge::new(s, i + 1, op));
            }
        }
        Dag::new(self.ops.len() + 1, edges).expect("MLP codes describe forward DAGs")
    }
}

impl fmt::Display for MlpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, row) in self.ops.iter().enumerate() {
            if i > 0 {
                f.write_str("_")?;
            }
            for op in row {
                f.write_str(match op {
                    Op::Zero => "0",
                    Op::Skip => "1",
                    Op::Linear => "2",
                })?;
            }
        }
        Ok(())
    }
}
