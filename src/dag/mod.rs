//! Architectures as directed acyclic graphs (PAPER.md section 1).
//!
//! A [`Dag`] has nodes `0..=H`; every [`Edge`] `s -> t` has `s < t` and carries one
//! [`Op`] *class*: [`Op::Zero`] (edge absent), [`Op::Skip`] (identity) or
//! [`Op::Linear`] (`relu(W x)` with Kaiming-normal `W`). A node is the **sum** of its
//! incoming edges' outputs. Benchmark operation names (NAS-Bench-201, DARTS) are mapped
//! onto the three classes once, by [`Op::from_name`]; everything downstream matches on
//! the class only.
//!
//! Parsers with round-trip `Display` live in [`format`](mod@format): the authors' MLP code
//! (`2_21_112`), NAS-Bench-201 arch strings, DARTS genotypes and a JSON edge list.
//! [`Dag::parse`] detects the format.
//!
//! ```
//! use archconv::{Dag, Op};
//! let dag = Dag::parse("2_21_112").unwrap();          // DAG#3 of the paper
//! assert_eq!(dag, Dag::dag3());
//! assert_eq!(dag.output(), 3);
//! assert_eq!(dag.edges().iter().filter(|e| e.op == Op::Linear).count(), 3);
//! ```

pub mod format;
mod op;
pub mod random;

pub use op::{Op, Role};

use crate::model::EdgeParams;
use serde::{Deserialize, Serialize};
use std::fmt;

/// One edge `from -> to` with its op class, when parsed from a benchmark format the
/// original operation name (used for labels and round-trips), and for a linear edge
/// optionally its own [`EdgeParams`] (activation and variances; `None`: the paper's
/// `relu`, `sw2 = 2`, `sb2 = 0`, see [`crate::model`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Edge {
    /// Source node (`from < to`).
    pub from: usize,
    /// Target node.
    pub to: usize,
    /// Kernel class.
    pub op: Op,
    /// Original operation name, if any (e.g. `nor_conv_3x3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What a linear edge computes (`None`: [`EdgeParams::default`]). Only linear edges
    /// may carry parameters ([`DagError::ParamsOnNonParameterized`]).
    #[serde(default, skip_serializing_if = "Option::is_none", skip_deserializing)]
    pub params: Option<EdgeParams>,
}

impl Edge {
    /// An edge without a benchmark name.
    pub fn new(from: usize, to: usize, op: Op) -> Edge {
        Edge {
            from,
            to,
            op,
            name: None,
            params: None,
        }
    }

    /// A linear edge with its own activation and variances.
    ///
    /// ```
    /// use archconv::{Dag, Edge, model::EdgeParams, activation::Activation};
    /// let p = EdgeParams::new(Activation::Erf, 1.0, 0.0).unwrap();
    /// let dag = Dag::new(2, vec![Edge::linear_with(0, 1, p.clone())]).unwrap();
    /// assert_eq!(dag.edges()[0].params(), &p);
    /// ```
    pub fn linear_with(from: usize, to: usize, params: EdgeParams) -> Edge {
        Edge {
            params: Some(params),
            ..Edge::new(from, to, Op::Linear)
        }
    }

    /// The edge's parameters, or the paper's default (`relu`, `sw2 = 2`, `sb2 = 0`).
    pub fn params(&self) -> &EdgeParams {
        self.params.as_ref().unwrap_or_else(|| default_params())
    }

    /// The label to show: the original name or the class name.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(self.op.name())
    }
}

fn default_params() -> &'static EdgeParams {
    static DEFAULT: std::sync::OnceLock<EdgeParams> = std::sync::OnceLock::new();
    DEFAULT.get_or_init(EdgeParams::default)
}

/// What is wrong with a graph.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DagError {
    /// No nodes at all.
    #[error("a DAG needs at least one node (got 0)")]
    Empty,
    /// An edge goes backward or is a self-loop, which would allow a cycle.
    #[error("edge #{index} {from} -> {to} does not go forward: edges must satisfy from < to (cycles and self-loops are not allowed)")]
    NotForward {
        /// Position of the edge in the edge list.
        index: usize,
        /// Its source.
        from: usize,
        /// Its target.
        to: usize,
    },
    /// An edge names a node that does not exist.
    #[error("edge #{index} {from} -> {to} names node {node}, but the DAG has nodes 0..={last}")]
    NodeOutOfRange {
        /// Position of the edge.
        index: usize,
        /// Its source.
        from: usize,
        /// Its target.
        to: usize,
        /// The missing node.
        node: usize,
        /// The last node.
        last: usize,
    },
    /// An input node has incoming edges (inputs carry the lifted data only).
    #[error("input node {node} has an incoming edge from node {from}: input nodes cannot have incoming edges")]
    InputHasIncoming {
        /// The input node.
        node: usize,
        /// The source of the offending edge.
        from: usize,
    },
    /// More nodes than [`MAX_NODES`] (checked before anything is sized by the count).
    #[error("the DAG has {nodes} nodes, more than the {max} this crate accepts")]
    TooManyNodes {
        /// The node count given.
        nodes: usize,
        /// [`MAX_NODES`].
        max: usize,
    },
    /// Activation or variances given for an edge that has no weights (skip or zero).
    #[error("edge #{index} {from} -> {to} is `{op}`, which has no weights: activation and variances apply to linear edges only")]
    ParamsOnNonParameterized {
        /// Position of the edge.
        index: usize,
        /// Its source.
        from: usize,
        /// Its target.
        to: usize,
        /// Its class.
        op: Op,
    },
    /// An input node index is out of range or repeated.
    #[error("input node {node} is invalid: inputs must be distinct nodes below the output node {output}")]
    BadInput {
        /// The offending input.
        node: usize,
        /// The output node.
        output: usize,
    },
}

/// The largest node count a [`Dag`] may have (2^20 = 1,048,576). A node count comes from
/// the input text (a JSON edge list states it), so it is checked before any table is
/// sized by it; the algorithms' own memory needs are checked against the memory budget
/// ([`crate::budget`]).
pub const MAX_NODES: usize = 1 << 20;

/// A DAG architecture: nodes `0..=H`, forward edges, input nodes (default `[0]`) and the
/// output node `H`.
///
/// Construct with [`Dag::new`] (validates), a named constructor ([`Dag::dag1`],
/// [`Dag::dag2`], [`Dag::dag3`], [`Dag::chain`], [`Dag::complete`]) or [`Dag::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Dag {
    nodes: usize,
    edges: Vec<Edge>,
    inputs: Vec<usize>,
    /// Edge indices sorted by source (stable, so by target within a source), for
    /// [`Dag::out_edges`]; derived from `edges`.
    #[serde(skip)]
    by_source: Vec<usize>,
}

impl Dag {
    /// Builds a DAG with `nodes` nodes (`0..nodes`, output `nodes - 1`), the given edges
    /// and the single input node 0. Multi-edges are allowed.
    pub fn new(nodes: usize, edges: Vec<Edge>) -> Result<Dag, DagError> {
        Dag::with_inputs(nodes, edges, vec![0])
    }

    /// Like [`Dag::new`] with several input nodes (DARTS cells have two: `c_{k-2}`,
    /// `c_{k-1}`). Path statistics count paths from each input separately and pool them;
    /// kernels feed every input node the same lifted input.
    pub fn with_inputs(
        nodes: usize,
        edges: Vec<Edge>,
        inputs: Vec<usize>,
    ) -> Result<Dag, DagError> {
        if nodes == 0 {
            return Err(DagError::Empty);
        }
        if nodes > MAX_NODES {
            return Err(DagError::TooManyNodes {
                nodes,
                max: MAX_NODES,
            });
        }
        let last = nodes - 1;
        for (index, e) in edges.iter().enumerate() {
            for node in [e.from, e.to] {
                if node > last {
                    return Err(DagError::NodeOutOfRange {
                        index,
                        from: e.from,
                        to: e.to,
                        node,
                        last,
                    });
                }
            }
            if e.from >= e.to {
                return Err(DagError::NotForward {
                    index,
                    from: e.from,
                    to: e.to,
                });
            }
        }
        if let Some((index, e)) = edges
            .iter()
            .enumerate()
            .find(|(_, e)| e.params.is_some() && !e.op.is_parameterized())
        {
            return Err(DagError::ParamsOnNonParameterized {
                index,
                from: e.from,
                to: e.to,
                op: e.op,
            });
        }
        let mut seen = vec![false; nodes];
        for &i in &inputs {
            if (i >= last && nodes > 1) || i >= nodes || seen[i] {
                return Err(DagError::BadInput {
                    node: i,
                    output: last,
                });
            }
            seen[i] = true;
        }
        if inputs.is_empty() {
            return Err(DagError::BadInput {
                node: 0,
                output: last,
            });
        }
        if let Some(e) = edges
            .iter()
            .find(|e| !e.op.is_absent() && inputs.contains(&e.to))
        {
            return Err(DagError::InputHasIncoming {
                node: e.to,
                from: e.from,
            });
        }
        let mut edges = edges;
        // Stable order by target then source: the traversal order of every algorithm.
        edges.sort_by_key(|e| (e.to, e.from));
        let mut by_source: Vec<usize> = (0..edges.len()).collect();
        by_source.sort_by_key(|&i| edges[i].from);
        Ok(Dag {
            nodes,
            edges,
            inputs,
            by_source,
        })
    }

    /// Parses any supported text format, detected from its shape: a JSON edge list
    /// (starts with `{`), a DARTS genotype (starts with `Genotype`), a NAS-Bench-201
    /// string (starts with `|`), or the authors' MLP code (digits and `_`).
    ///
    /// ```
    /// use archconv::Dag;
    /// let nb = Dag::parse("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|skip_connect~0|none~1|nor_conv_1x1~2|").unwrap();
    /// assert_eq!(nb.output(), 3);
    /// assert!(Dag::parse("2_21_11").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Dag, format::ParseError> {
        format::parse_any(text)
    }

    /// Number of nodes `H + 1`.
    pub fn num_nodes(&self) -> usize {
        self.nodes
    }

    /// The output node `H`.
    pub fn output(&self) -> usize {
        self.nodes - 1
    }

    /// Input nodes (usually `[0]`).
    pub fn inputs(&self) -> &[usize] {
        &self.inputs
    }

    /// Whether `node` is an input node.
    pub fn is_input(&self, node: usize) -> bool {
        self.inputs.contains(&node)
    }

    /// All edges (zero edges included), sorted by `(to, from)`.
    pub fn edges(&self) -> &[Edge] {
        &self.edges
    }

    /// Incoming non-zero edges of node `t`.
    ///
    /// `O(log E)` to find them: the edges are sorted by target, so traversals of large
    /// DAGs stay linear in nodes + edges.
    pub fn in_edges(&self, t: usize) -> impl Iterator<Item = &Edge> + '_ {
        let lo = self.edges.partition_point(|e| e.to < t);
        let hi = self.edges.partition_point(|e| e.to <= t);
        self.edges[lo..hi].iter().filter(|e| !e.op.is_absent())
    }

    /// Outgoing non-zero edges of node `s`, by target (`O(log E)` to find them).
    pub fn out_edges(&self, s: usize) -> impl Iterator<Item = &Edge> + '_ {
        let lo = self.by_source.partition_point(|&i| self.edges[i].from < s);
        let hi = self.by_source.partition_point(|&i| self.edges[i].from <= s);
        self.by_source[lo..hi]
            .iter()
            .map(|&i| &self.edges[i])
            .filter(|e| !e.op.is_absent())
    }

    /// The same DAG with `params` on every linear edge that has none of its own (the
    /// CLI's per-network `--activation`, `--sw2`, `--sb2`).
    ///
    /// ```
    /// use archconv::{Dag, model::EdgeParams, activation::Activation};
    /// let p = EdgeParams::new(Activation::Tanh, 1.0, 0.1).unwrap();
    /// let dag = Dag::dag3().with_default_params(&p);
    /// assert!(dag.edges().iter().filter(|e| e.op == archconv::Op::Linear).all(|e| e.params() == &p));
    /// ```
    pub fn with_default_params(mut self, params: &EdgeParams) -> Dag {
        for e in self.edges.iter_mut().filter(|e| e.op.is_parameterized()) {
            if e.params.is_none() {
                e.params = Some(params.clone());
            }
        }
        self
    }

    /// The same DAG with `params` on every linear edge (replacing their own).
    pub fn with_all_params(mut self, params: &EdgeParams) -> Dag {
        for e in self.edges.iter_mut().filter(|e| e.op.is_parameterized()) {
            e.params = Some(params.clone());
        }
        self
    }

    /// Whether every linear edge computes the paper's `relu`, `sw2 = 2`, `sb2 = 0`.
    pub fn is_paper_relu(&self) -> bool {
        self.edges
            .iter()
            .filter(|e| e.op.is_parameterized())
            .all(|e| e.params().is_paper_relu())
    }

    /// Number of non-zero edges of class `op`.
    pub fn count(&self, op: Op) -> usize {
        self.edges.iter().filter(|e| e.op == op).count()
    }

    /// A sequential chain of `depth` linear edges `0 -> 1 -> ... -> depth`.
    ///
    /// # Panics
    /// If `depth + 1` exceeds [`MAX_NODES`].
    #[track_caller]
    pub fn chain(depth: usize) -> Dag {
        let edges = (0..depth)
            .map(|i| Edge::new(i, i + 1, Op::Linear))
            .collect();
        Dag::new(depth + 1, edges).expect("a chain is a valid DAG")
    }

    /// The fully connected DAG on `nodes` nodes, every edge of class `op`: it has
    /// `2^(nodes-2)` input-output paths.
    ///
    /// # Panics
    /// If `nodes` exceeds [`MAX_NODES`] (it would also need `nodes^2 / 2` edges).
    #[track_caller]
    pub fn complete(nodes: usize, op: Op) -> Dag {
        let mut edges = Vec::new();
        for t in 1..nodes {
            for s in 0..t {
                edges.push(Edge::new(s, t, op));
            }
        }
        Dag::new(nodes.max(1), edges).expect("a complete forward DAG is valid")
    }

    /// DAG#1 of the paper (Fig. 3, sequential): MLP code `2_02_002`.
    pub fn dag1() -> Dag {
        format::MlpCode::parse("2_02_002")
            .expect("valid code")
            .dag()
    }

    /// DAG#2 of the paper (Fig. 3, parallel): MLP code `1_01_222`.
    pub fn dag2() -> Dag {
        format::MlpCode::parse("1_01_222")
            .expect("valid code")
            .dag()
    }

    /// DAG#3 of the paper (Fig. 3, mixed): MLP code `2_21_112`.
    pub fn dag3() -> Dag {
        format::MlpCode::parse("2_21_112")
            .expect("valid code")
            .dag()
    }

    /// The three example DAGs with their names.
    pub fn paper_dags() -> [(&'static str, Dag); 3] {
        [
            ("DAG#1", Dag::dag1()),
            ("DAG#2", Dag::dag2()),
            ("DAG#3", Dag::dag3()),
        ]
    }

    /// A short human description: the MLP code when the DAG has one, it is not longer than
    /// the JSON edge list and every edge is the paper's (the code cannot carry settings),
    /// else the JSON list. (An MLP code has one digit per
    /// node pair, so a 100,000-node chain would take 5 GB as a code but 3 MB as JSON;
    /// issue 17.)
    pub fn describe(&self) -> String {
        let n = self.nodes as u64;
        let code_len = n * n.saturating_sub(1) / 2 + n.saturating_sub(2);
        let json_len = 64 + 24 * self.edges.len() as u64;
        // An MLP code has no place for edge settings.
        if code_len <= json_len && self.is_paper_relu() {
            if let Some(c) = format::MlpCode::from_dag(self) {
                return c.to_string();
            }
        }
        format::json::to_json(self)
    }
}

impl fmt::Display for Dag {
    /// Writes the JSON edge list (always round-trips through [`Dag::parse`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format::json::to_json(self))
    }
}
