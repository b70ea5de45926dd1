//! JSON edge lists.
//!
//! ```json
//! {"nodes": 4, "inputs": [0], "edges": [[0, 1, "linear"], {"from": 1, "to": 3, "op": "skip_connect"}]}
//! ```
//!
//! `inputs` is optional (default `[0]`); an edge is `[from, to, op]` or an object; `op` is
//! any name [`crate::Op::from_name`] knows.
//!
//! Linear edges may carry their activation and variances (PAPER.md section 9,
//! [`crate::model::EdgeParams`]): per network (top-level `activation`, `sw2`, `sb2`, for
//! every linear edge) and per edge (the same keys in an edge object, which override the
//! network's key by key). Unset keys are the paper's `relu`, `sw2 = 2`, `sb2 = 0`.
//!
//! ```json
//! {"nodes": 3, "activation": "erf", "sw2": 1.5, "sb2": 0.1,
//!  "edges": [[0, 1, "linear"], {"from": 1, "to": 2, "op": "linear", "activation": "gelu", "sb2": 0}]}
//! ```
//!
//! ```
//! use archconv::{Dag, activation::Activation};
//! let dag = Dag::parse(r#"{"nodes": 3, "activation": "erf", "sw2": 1.5,
//!     "edges": [[0, 1, "linear"], {"from": 1, "to": 2, "op": "linear", "activation": "tanh"}]}"#).unwrap();
//! assert_eq!(dag.edges()[0].params().activation(), &Activation::Erf);
//! assert_eq!(dag.edges()[1].params().activation(), &Activation::Tanh);
//! assert_eq!(dag.edges()[1].params().sw2(), 1.5);
//! assert_eq!(Dag::parse(&dag.to_string()).unwrap(), dag);   // round-trips
//! ```
//!
//! ```
//! use archconv::Dag;
//! let dag = Dag::dag3();
//! let text = dag.to_string();                 // Display writes this format
//! assert_eq!(Dag::parse(&text).unwrap(), dag);
//! ```

use super::{Format, ParseError};
use crate::activation::Activation;
use crate::dag::{Dag, Edge, Op};
use crate::model::EdgeParams;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    nodes: usize,
    #[serde(default)]
    inputs: Option<Vec<usize>>,
    edges: Vec<JsonEdge>,
    #[serde(default)]
    activation: Option<String>,
    #[serde(default)]
    sw2: Option<f64>,
    #[serde(default)]
    sb2: Option<f64>,
}

/// Optional activation and variances (network level or edge level).
#[derive(Default, Clone)]
struct JsonParams {
    activation: Option<String>,
    sw2: Option<f64>,
    sb2: Option<f64>,
}

impl JsonParams {
    fn is_set(&self) -> bool {
        self.activation.is_some() || self.sw2.is_some() || self.sb2.is_some()
    }

    /// `self` key by key over `base`.
    fn over(&self, base: &JsonParams) -> JsonParams {
        JsonParams {
            activation: self.activation.clone().or_else(|| base.activation.clone()),
            sw2: self.sw2.or(base.sw2),
            sb2: self.sb2.or(base.sb2),
        }
    }

    fn resolve(&self, text: &str, near: usize) -> Result<EdgeParams, ParseError> {
        let bad = |expected: String, found: String, key: &str| ParseError::Syntax {
            format: Format::Json,
            position: text[near.min(text.len())..]
                .find(&format!("\"{key}\""))
                .map_or(near, |p| near + p + 1),
            expected,
            found,
            input: text.to_string(),
        };
        let activation = match &self.activation {
            Some(name) => Activation::parse(name)
                .map_err(|e| bad("a known activation".into(), e.to_string(), "activation"))?,
            None => Activation::Relu,
        };
        let (sw2, sb2) = (self.sw2.unwrap_or(2.0), self.sb2.unwrap_or(0.0));
        EdgeParams::new(activation, sw2, sb2).map_err(|e| {
            let key = match e {
                crate::model::ModelError::BadVariance { what, .. } => what,
            };
            bad("a finite variance >= 0".into(), e.to_string(), key)
        })
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum JsonEdge {
    Triple(usize, usize, String),
    Object {
        from: usize,
        to: usize,
        op: String,
        #[serde(default)]
        activation: Option<String>,
        #[serde(default)]
        sw2: Option<f64>,
        #[serde(default)]
        sb2: Option<f64>,
    },
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
    let network = JsonParams {
        activation: doc.activation,
        sw2: doc.sw2,
        sb2: doc.sb2,
    };
    for e in doc.edges {
        let (from, to, name, own) = match e {
            JsonEdge::Triple(a, b, n) => (a, b, n, JsonParams::default()),
            JsonEdge::Object {
                from,
                to,
                op,
                activation,
                sw2,
                sb2,
            } => (
                from,
                to,
                op,
                JsonParams {
                    activation,
                    sw2,
                    sb2,
                },
            ),
        };
        let op = Op::from_name(&name).ok_or_else(|| ParseError::UnknownOp {
            format: Format::Json,
            position: text.find(&format!("\"{name}\"")).map_or(0, |p| p + 1),
            name: name.clone(),
            input: text.to_string(),
        })?;
        let keep_name = !matches!(name.as_str(), "zero" | "skip" | "linear");
        // Network-level settings apply to linear edges; an edge's own settings must be
        // on a linear edge (checked by the DAG, naming the edge).
        let params = if own.is_set() || (op.is_parameterized() && network.is_set()) {
            let near = text.find(&format!("\"{name}\"")).unwrap_or(0);
            Some(own.over(&network).resolve(text, near)?)
        } else {
            None
        };
        edges.push(Edge {
            from,
            to,
            op,
            name: keep_name.then_some(name),
            params,
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
        .map(|e| match &e.params {
            None => format!("[{}, {}, \"{}\"]", e.from, e.to, e.label()),
            Some(p) => format!(
                "{{\"from\": {}, \"to\": {}, \"op\": \"{}\", \"activation\": \"{}\", \"sw2\": {:?}, \"sb2\": {:?}}}",
                e.from,
                e.to,
                e.label(),
                p.activation(),
                p.sw2(),
                p.sb2()
            ),
        })
        .collect();
    let inputs: Vec<String> = dag.inputs().iter().map(|i| i.to_string()).collect();
    format!(
        "{{\"nodes\": {}, \"inputs\": [{}], \"edges\": [{}]}}",
        dag.num_nodes(),
        inputs.join(", "),
        edges.join(", ")
    )
}
