//! DARTS genotypes, normal cell (PAPER.md section 4).
//!
//! Nodes 0 and 1 are the cell inputs `c_{k-2}`, `c_{k-1}`; intermediate node `2 + i`
//! takes the pairs `2i` and `2i + 1` of the `normal` list, each `(op, input)`; the cell
//! output is the concatenation of the `normal_concat` nodes, modelled as skip edges into
//! one last node. The parser reads the Python repr the DARTS code prints and ignores
//! the reduction cell:
//!
//! ```
//! use archconv::dag::format::Genotype;
//! let darts_v2 = "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), \
//!     ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), \
//!     ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0)], reduce_concat=[2, 3, 4, 5])";
//! let g = Genotype::parse(darts_v2).unwrap();
//! let dag = g.dag();
//! assert_eq!(dag.inputs(), &[0, 1]);
//! assert_eq!(dag.output(), 6);
//! assert_eq!(Genotype::parse(&g.to_string()).unwrap(), g);
//! ```

use super::{Cursor, Format, ParseError};
use crate::dag::{Dag, DagError, Edge, Op};
use std::fmt;

/// A DARTS normal cell: `(op name, input node)` pairs, two per intermediate node, and
/// the nodes concatenated into the output.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Genotype {
    normal: Vec<(String, usize)>,
    concat: Vec<usize>,
}

impl Genotype {
    /// Builds a genotype from its pairs (two per intermediate node) and concat list.
    pub fn new(normal: Vec<(String, usize)>, concat: Vec<usize>) -> Result<Genotype, ParseError> {
        let g = Genotype { normal, concat };
        g.validate()?;
        Ok(g)
    }

    fn validate(&self) -> Result<(), ParseError> {
        let graph = |source| ParseError::Graph {
            format: Format::Darts,
            source,
        };
        if self.normal.is_empty() || !self.normal.len().is_multiple_of(2) {
            return Err(graph(DagError::Empty));
        }
        let k = self.normal.len() / 2;
        for (i, (name, j)) in self.normal.iter().enumerate() {
            let node = 2 + i / 2;
            if Op::from_name(name).is_none() {
                return Err(ParseError::UnknownOp {
                    format: Format::Darts,
                    position: 0,
                    name: name.clone(),
                    input: self.to_string(),
                });
            }
            if *j >= node {
                return Err(graph(DagError::NotForward {
                    index: i,
                    from: *j,
                    to: node,
                }));
            }
        }
        for &c in &self.concat {
            if c >= 2 + k {
                return Err(graph(DagError::NodeOutOfRange {
                    index: 0,
                    from: c,
                    to: 2 + k,
                    node: c,
                    last: 1 + k,
                }));
            }
        }
        Ok(())
    }

    /// Parses `Genotype(normal=[...], normal_concat=[...] or range(a, b), reduce=[...],
    /// reduce_concat=[...])` (every field after `normal` optional, in that order) or a bare
    /// `[('op', j), ...]` list (then all intermediate nodes are concatenated). The
    /// reduction cell is checked for syntax and then ignored; anything after the closing
    /// `)` is an error. A concat list or `range` may only name nodes of its cell, so a
    /// huge `range(0, 10**18)` is refused before anything is allocated.
    pub fn parse(text: &str) -> Result<Genotype, ParseError> {
        let text = text.trim();
        let mut cur = Cursor::new(text, Format::Darts);
        let normal;
        let mut concat = None;
        if cur.eat("Genotype") {
            cur.skip_ws();
            cur.expect("(")?;
            cur.skip_ws();
            cur.expect("normal")?;
            cur.skip_ws();
            cur.expect("=")?;
            normal = pairs(&mut cur)?;
            let nodes = 2 + normal.len() / 2;
            let mut reduce_nodes = None;
            for key in ["normal_concat", "reduce", "reduce_concat"] {
                cur.skip_ws();
                let save = cur.pos;
                if !cur.eat(",") {
                    break;
                }
                cur.skip_ws();
                if !cur.eat(key) {
                    cur.pos = save;
                    continue;
                }
                cur.skip_ws();
                cur.expect("=")?;
                cur.skip_ws();
                match key {
                    "normal_concat" => concat = Some(int_list(&mut cur, nodes)?),
                    "reduce" => reduce_nodes = Some(2 + pairs(&mut cur)?.len() / 2),
                    _ => {
                        // Ignored, but bounded like the normal cell's list (by the larger
                        // of the two cells), so it cannot allocate without bound.
                        int_list(&mut cur, reduce_nodes.unwrap_or(0).max(nodes))?;
                    }
                }
            }
            cur.skip_ws();
            if cur.eat(",") {
                cur.skip_ws();
            }
            if !cur.eat(")") {
                return Err(cur.error(
                    "')' closing Genotype( (fields: normal, normal_concat, reduce, reduce_concat, in this order)",
                ));
            }
            cur.skip_ws();
            if !cur.at_end() {
                return Err(cur.error("end of input after the genotype"));
            }
        } else {
            normal = pairs(&mut cur)?;
            cur.skip_ws();
            if !cur.at_end() {
                return Err(cur.error("end of input after the list"));
            }
        }
        let k = normal.len() / 2;
        let concat = concat.unwrap_or_else(|| (2..2 + k).collect());
        if normal.len() % 2 != 0 {
            return Err(ParseError::Syntax {
                format: Format::Darts,
                position: 0,
                expected: "an even number of (op, input) pairs: two per intermediate node".into(),
                found: format!("{} pairs", normal.len()),
                input: text.to_string(),
            });
        }
        Genotype::new(normal, concat)
    }

    /// The DAG: inputs 0 and 1, intermediates `2..2+k`, output `2+k` fed by skip edges
    /// (named `concat`) from the concatenated nodes.
    pub fn dag(&self) -> Dag {
        let k = self.normal.len() / 2;
        let mut edges: Vec<Edge> = self
            .normal
            .iter()
            .enumerate()
            .map(|(i, (name, j))| Edge {
                from: *j,
                to: 2 + i / 2,
                op: Op::from_name(name).expect("validated"),
                name: Some(name.clone()),
                params: None,
            })
            .collect();
        for &c in &self.concat {
            edges.push(Edge {
                from: c,
                to: 2 + k,
                op: Op::Skip,
                name: Some("concat".into()),
                params: None,
            });
        }
        Dag::with_inputs(3 + k, edges, vec![0, 1]).expect("validated genotype")
    }

    /// The `(op, input)` pairs.
    pub fn normal(&self) -> &[(String, usize)] {
        &self.normal
    }
}

fn pairs(cur: &mut Cursor<'_>) -> Result<Vec<(String, usize)>, ParseError> {
    cur.skip_ws();
    cur.expect("[")?;
    let mut out = Vec::new();
    loop {
        cur.skip_ws();
        if cur.eat("]") {
            break;
        }
        if !out.is_empty() {
            cur.expect(",")?;
            cur.skip_ws();
            if cur.eat("]") {
                break;
            }
        }
        cur.expect("(")?;
        cur.skip_ws();
        let quote = if cur.eat("'") {
            "'"
        } else if cur.eat("\"") {
            "\""
        } else {
            return Err(cur.error("a quoted operation name"));
        };
        let (pos, name) = cur.ident("an operation name")?;
        if Op::from_name(name).is_none() {
            return Err(cur.unknown_op(pos, name));
        }
        cur.expect(quote)?;
        cur.skip_ws();
        cur.expect(",")?;
        cur.skip_ws();
        let (_, j) = cur.number("an input node index")?;
        cur.skip_ws();
        cur.expect(")")?;
        out.push((name.to_string(), j));
    }
    Ok(out)
}

/// A concat list `[a, b, ...]` or `range(a, b)` naming nodes below `nodes` (the cell's
/// node count), checked before anything is allocated.
fn int_list(cur: &mut Cursor<'_>, nodes: usize) -> Result<Vec<usize>, ParseError> {
    let bounded = |cur: &Cursor<'_>, pos: usize, v: usize, limit: usize, what: &str| {
        if v > limit {
            Err(ParseError::Syntax {
                format: Format::Darts,
                position: pos,
                expected: format!("{what} of at most {limit} (the cell has nodes 0..{nodes})"),
                found: v.to_string(),
                input: cur.input.to_string(),
            })
        } else {
            Ok(v)
        }
    };
    if cur.eat("range") {
        cur.skip_ws();
        cur.expect("(")?;
        cur.skip_ws();
        let (pa, a) = cur.number("range start")?;
        let a = bounded(cur, pa, a, nodes, "a range start")?;
        cur.skip_ws();
        cur.expect(",")?;
        cur.skip_ws();
        let (pb, b) = cur.number("range end")?;
        let b = bounded(cur, pb, b, nodes, "a range end")?;
        cur.skip_ws();
        cur.expect(")")?;
        return Ok((a..b).collect());
    }
    cur.expect("[")?;
    let mut out = Vec::new();
    loop {
        cur.skip_ws();
        if cur.eat("]") {
            return Ok(out);
        }
        if !out.is_empty() {
            cur.expect(",")?;
            cur.skip_ws();
        }
        let (pos, v) = cur.number("a node index")?;
        out.push(bounded(
            cur,
            pos,
            v,
            nodes.saturating_sub(1),
            "a node index",
        )?);
    }
}

impl fmt::Display for Genotype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Genotype(normal=[")?;
        for (i, (name, j)) in self.normal.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "('{name}', {j})")?;
        }
        f.write_str("], normal_concat=[")?;
        for (i, c) in self.concat.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{c}")?;
        }
        f.write_str("])")
    }
}
