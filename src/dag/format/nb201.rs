//! NAS-Bench-201 arch strings (PAPER.md section 4).
//!
//! `|op~j|` lists one incoming edge `j -> t`; groups for nodes 1, 2, 3 are joined by `+`:
//! `|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|`.
//! Any number of groups is accepted. Op names map to classes by [`crate::Op::from_name`]
//! (`none` keeps a zero edge for drawing).
//!
//! ```
//! use archconv::dag::format::Nb201Arch;
//! let s = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|";
//! let a = Nb201Arch::parse(s).unwrap();
//! assert_eq!(a.to_string(), s);
//! assert_eq!(Nb201Arch::all().count(), 15_625);
//! ```

use super::{Cursor, Format, ParseError};
use crate::dag::{Dag, Edge, Op};
use std::fmt;

/// The five NAS-Bench-201 operations, in the benchmark's order.
pub const NB201_OPS: [&str; 5] = [
    "none",
    "skip_connect",
    "nor_conv_1x1",
    "nor_conv_3x3",
    "avg_pool_3x3",
];

/// A parsed arch string: `nodes[t - 1]` lists `(op name, source)` for node `t`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Nb201Arch {
    nodes: Vec<Vec<(String, usize)>>,
}

impl Nb201Arch {
    /// Parses an arch string.
    pub fn parse(text: &str) -> Result<Nb201Arch, ParseError> {
        let text = text.trim();
        let mut cur = Cursor::new(text, Format::Nb201);
        let mut nodes = Vec::new();
        loop {
            let t = nodes.len() + 1;
            let mut group = Vec::new();
            cur.expect("|")?;
            loop {
                let (pos, name) = cur.ident("an operation name")?;
                if Op::from_name(name).is_none() {
                    return Err(cur.unknown_op(pos, name));
                }
                cur.expect("~")?;
                let (spos, src) = cur.number("a source node index")?;
                if src >= t {
                    return Err(ParseError::Syntax {
                        format: Format::Nb201,
                        position: spos,
                        expected: format!(
                            "a source node below {t} (this group lists the inputs of node {t})"
                        ),
                        found: format!("'{src}'"),
                        input: text.to_string(),
                    });
                }
                group.push((name.to_string(), src));
                cur.expect("|")?;
                if cur.at_end() || cur.peek() == Some('+') {
                    break;
                }
            }
            nodes.push(group);
            if cur.at_end() {
                break;
            }
            cur.expect("+")?;
        }
        Ok(Nb201Arch { nodes })
    }

    /// The inputs of each node: `nodes()[t - 1]` lists `(op name, source)` for node `t`.
    ///
    /// ```
    /// use archconv::dag::format::Nb201Arch;
    /// let a = Nb201Arch::parse("|nor_conv_3x3~0|+|none~0|skip_connect~1|").unwrap();
    /// assert_eq!(a.nodes()[1][1], ("skip_connect".to_string(), 1));
    /// ```
    pub fn nodes(&self) -> &[Vec<(String, usize)>] {
        &self.nodes
    }

    /// The standard 4-node cell with the six edges `0->1, 0->2, 1->2, 0->3, 1->3, 2->3`
    /// given by names.
    pub fn from_ops(ops: [&str; 6]) -> Nb201Arch {
        let e = |i: usize, s: usize| (ops[i].to_string(), s);
        Nb201Arch {
            nodes: vec![
                vec![e(0, 0)],
                vec![e(1, 0), e(2, 1)],
                vec![e(3, 0), e(4, 1), e(5, 2)],
            ],
        }
    }

    /// All 5^6 = 15,625 cells of the NAS-Bench-201 space, in the benchmark's index
    /// order (the last edge varies fastest).
    pub fn all() -> impl Iterator<Item = Nb201Arch> {
        (0..15_625usize).map(|mut k| {
            let mut idx = [0usize; 6];
            for slot in idx.iter_mut().rev() {
                *slot = k % 5;
                k /= 5;
            }
            Nb201Arch::from_ops(idx.map(|i| NB201_OPS[i]))
        })
    }

    /// The DAG (`none` edges kept as zero edges).
    pub fn dag(&self) -> Dag {
        let mut edges = Vec::new();
        for (i, group) in self.nodes.iter().enumerate() {
            for (name, s) in group {
                let op = Op::from_name(name).expect("validated at parse time");
                edges.push(Edge {
                    from: *s,
                    to: i + 1,
                    op,
                    name: Some(name.clone()),
                    params: None,
                });
            }
        }
        Dag::new(self.nodes.len() + 1, edges).expect("NB201 strings describe forward DAGs")
    }
}

impl fmt::Display for Nb201Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, group) in self.nodes.iter().enumerate() {
            if i > 0 {
                f.write_str("+")?;
            }
            f.write_str("|")?;
            for (name, s) in group {
                write!(f, "{name}~{s}|")?;
            }
        }
        Ok(())
    }
}
