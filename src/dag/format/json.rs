//! JSON edge lists.
//!
//! ```json
//! {"nodes": 4, "inputs": [0], "edges": [[0, 1, "linear"], {"from": 1, "to": 3, "op": "skip_connect"}]}
//! ```
//!
//! `inputs` is optional (default `[0]`); an edge is `[from, to, op]` or an object; `op` is
//! any name [`crate::Op::from_name`] knows.
//!
//! ```
//! use archconv::Dag;
//! let dag = Dag::dag3();
//! let text = dag.to_string();                 // Display writes this format
//! assert_eq!(Dag::parse(&text).unwrap(), dag);
//! ```

use super::{Format, ParseError};
use crate::dag::{Dag, Edge, Op};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    nodes: usize,
    #[serde(default)]
    inputs: Option<Vec<usize>>,
    edges: Vec<JsonEdge>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum JsonEdge {
    Triple(usize, usize, String),
    Object { from: usize, to: usize, op: String },
}

/// Parses a JSON edge list.
pub fn from_json(text: &str) -> Result<Dag, ParseError> {
    let doc: Doc = serde_json::from_str(text).map_err(|e| {
        let position = line_col_to_byte(text, e.line(), e.column());
        ParseError::Syntax {
            format: Format::Json,
            position,
            expected: "a JSON object {\"nodes\": N, \"edges\": [[from, to, op], ...]}".into(),
            found: e.to_string(),
            input: text.to_string(),
        }
    })?;
    let mut edges = Vec::with_capacity(doc.edges.len());
    for e in doc.edges {
        let (from, to, name) = match e {
            JsonEdge::Triple(a, b, n) => (a, b, n),
            JsonEdge::Object { from, to, op } => (from, to, op),
        };
        let op = Op::from_name(&name).ok_or_else(|| ParseError::UnknownOp {
            format: Format::Json,
            position: text.find(&format!("\"{name}\"")).map_or(0, |p| p + 1),
            name: name.clone(),
            input: text.to_string(),
        })?;
        let keep_name = !matches!(name.as_str(), "zero" | "skip" | "linear");
        edges.push(Edge {
            from,
            to,
            op,
            name: keep_name.then_some(name),
        });
    }
    Dag::with_inputs(doc.nodes, edges, doc.inputs.unwrap_or_else(|| vec![0])).map_err(|source| {
        ParseError::Graph {
            format: Format::Json,
            source,
        }
    })
}

fn line_col_to_byte(text: &str, line: usize, col: usize) -> usize {
    let mut pos = 0;
    for (i, l) in text.split('\n').enumerate() {
        if i + 1 == line {
            return (pos + col.saturating_sub(1)).min(text.len());
        }
        pos += l.len() + 1;
    }
    text.len()
}

/// Writes the compact JSON edge list of a DAG.
pub fn to_json(dag: &Dag) -> String {
    let edges: Vec<String> = dag
        .edges()
        .iter()
        .map(|e| format!("[{}, {}, \"{}\"]", e.from, e.to, e.label()))
        .collect();
    let inputs: Vec<String> = dag.inputs().iter().map(|i| i.to_string()).collect();
    format!(
        "{{\"nodes\": {}, \"inputs\": [{}], \"edges\": [{}]}}",
        dag.num_nodes(),
        inputs.join(", "),
        edges.join(", ")
    )
}
