//! Text form of seeded Watts-Strogatz (RandWire) DAGs: `ws(nodes=1000, k=4, p=0.75, seed=1)`.
//!
//! Grammar (blanks allowed between tokens, keys in any order, each at most once):
//!
//! ```text
//! ws( key=value {, key=value} )
//! key:  nodes (integer, required) | k (even integer, required) | p (probability, required)
//!     | seed (integer, default 0)   | skip (skip fraction in [0, 1], default 0)
//! ```
//!
//! The construction is documented in [`crate::dag::random`]; [`crate::Dag::parse`]
//! detects this form by its leading `ws`.
//!
//! ```
//! use archconv::Dag;
//! let dag = Dag::parse("ws(nodes=50, k=4, p=0.75, seed=3, skip=0.5)")?;
//! assert_eq!(dag.num_nodes(), 52);
//! let e = Dag::parse("ws(nodes=50, k=4, p=1.75)").unwrap_err().to_string();
//! assert!(e.contains("at byte 20: expected a probability in [0, 1], found '1.75'"), "{e}");
//! # Ok::<(), archconv::dag::format::ParseError>(())
//! ```

use super::{Cursor, Format, ParseError};
use crate::dag::random::{WattsStrogatz, WattsStrogatzError};
use crate::dag::{Dag, MAX_NODES};

/// One parsed value: where it starts and its text.
#[derive(Clone, Copy)]
struct Value<'a> {
    position: usize,
    text: &'a str,
}

fn value_error(c: &Cursor<'_>, v: Value<'_>, expected: impl Into<String>) -> ParseError {
    ParseError::Syntax {
        format: c.format,
        position: v.position,
        expected: expected.into(),
        found: format!("'{}'", v.text),
        input: c.input.to_string(),
    }
}

/// Reads `ws(...)` into validated parameters (module docs).
pub(crate) fn parse<'a>(text: &'a str) -> Result<WattsStrogatz, ParseError> {
    let mut c = Cursor::new(text, Format::RandWire);
    c.skip_ws();
    c.expect("ws")?;
    c.skip_ws();
    c.expect("(")?;
    const KEYS: [&str; 5] = ["nodes", "k", "p", "seed", "skip"];
    let mut values: [Option<Value<'a>>; 5] = [None; 5];
    loop {
        c.skip_ws();
        let (key_pos, key) = c.ident("a parameter name (nodes, k, p, seed or skip)")?;
        let Some(slot) = KEYS.iter().position(|&k| k == key) else {
            return Err(value_error(
                &c,
                Value {
                    position: key_pos,
                    text: key,
                },
                "a parameter name (nodes, k, p, seed or skip)",
            ));
        };
        if values[slot].is_some() {
            return Err(value_error(
                &c,
                Value {
                    position: key_pos,
                    text: key,
                },
                format!("each parameter once (`{key}` is repeated)"),
            ));
        }
        c.skip_ws();
        c.expect("=")?;
        c.skip_ws();
        let start = c.pos;
        let len = c
            .rest()
            .find(|ch: char| !(ch.is_ascii_alphanumeric() || matches!(ch, '.' | '+' | '-')))
            .unwrap_or(c.rest().len());
        if len == 0 {
            return Err(c.error(format!("a value for `{key}`")));
        }
        c.pos += len;
        values[slot] = Some(Value {
            position: start,
            text: &text[start..c.pos],
        });
        c.skip_ws();
        if c.eat(")") {
            break;
        }
        if !c.eat(",") {
            return Err(c.error("',' or ')'"));
        }
    }
    let close = c.pos - 1;
    c.skip_ws();
    if !c.at_end() {
        return Err(c.error("end of input after ')'"));
    }
    let [nodes, k, p, seed, skip] = values;
    let required = |v: Option<Value<'a>>, key: &str| -> Result<Value<'a>, ParseError> {
        v.ok_or_else(|| ParseError::Syntax {
            format: Format::RandWire,
            position: close,
            expected: format!("the parameter `{key}=` (nodes, k and p are required)"),
            found: "')'".to_string(),
            input: text.to_string(),
        })
    };
    let (nodes, k, p) = (
        required(nodes, "nodes")?,
        required(k, "k")?,
        required(p, "p")?,
    );
    let int = |v: Value<'_>, what: &str| {
        v.text
            .parse::<u64>()
            .map_err(|_| value_error(&c, v, format!("{what} (a non-negative integer)")))
    };
    let prob = |v: Value<'_>| match v.text.parse::<f64>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        _ => Err(value_error(&c, v, "a probability in [0, 1]")),
    };
    let n_val = usize::try_from(int(nodes, "a node count")?).unwrap_or(usize::MAX);
    let k_val = usize::try_from(int(k, "an even k")?).unwrap_or(usize::MAX);
    let p_val = prob(p)?;
    let ws = WattsStrogatz::new(n_val, k_val, p_val).map_err(|e| match e {
        WattsStrogatzError::TooManyNodes { .. } => value_error(
            &c,
            nodes,
            format!("at most {} ring nodes (the DAG adds an input and an output; at most {MAX_NODES} nodes in all)", MAX_NODES - 2),
        ),
        WattsStrogatzError::OddK { .. } => value_error(&c, k, "an even k"),
        WattsStrogatzError::KOutOfRange { .. } => {
            value_error(&c, k, format!("an even k with 2 <= k < nodes = {n_val}"))
        }
        _ => value_error(&c, p, "a probability in [0, 1]"),
    })?;
    let ws = match seed {
        Some(v) => ws.with_seed(int(v, "a seed")?),
        None => ws,
    };
    match skip {
        Some(v) => Ok(ws
            .with_skip_fraction(prob(v)?)
            .expect("checked to be in [0, 1]")),
        None => Ok(ws),
    }
}

/// Reads `ws(...)` and builds the DAG; a graph beyond the memory budget is reported at
/// the opening `ws`.
pub(crate) fn parse_dag(text: &str) -> Result<Dag, ParseError> {
    let ws = parse(text)?;
    ws.dag().map_err(|e| {
        let position = text.len() - text.trim_start().len();
        ParseError::Syntax {
            format: Format::RandWire,
            position,
            expected: format!("a graph that fits the memory budget ({e})"),
            found: format!("'{ws}'"),
            input: text.to_string(),
        }
    })
}
