//! Text formats for architectures, each with a parser and a round-trip `Display`.
//!
//! | format | example | type |
//! |---|---|---|
//! | authors' MLP code | `2_21_112` | [`MlpCode`] |
//! | NAS-Bench-201 arch string | `\|nor_conv_3x3~0\|+\|none~0\|skip_connect~1\|+...` | [`Nb201Arch`] |
//! | DARTS genotype (normal cell) | `Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5])` | [`Genotype`] |
//! | JSON edge list | `{"nodes": 4, "edges": [[0, 1, "linear"], ...]}` | [`json`] |
//! | seeded Watts-Strogatz (RandWire) graph | `ws(nodes=1000, k=4, p=0.75, seed=1)` | [`crate::dag::random::WattsStrogatz`] ([`randwire`]) |
//!
//! Every parser returns a [`ParseError`] that names the format, the byte position and
//! what was expected, and renders the input with a caret under the offending byte.

pub mod darts;
pub mod json;
pub mod mlp;
pub mod nb201;
pub mod randwire;

pub use darts::Genotype;
pub use mlp::MlpCode;
pub use nb201::Nb201Arch;

use super::{Dag, DagError};
use std::fmt;

/// Which text format a parser was reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The authors' MLP code, e.g. `2_21_112`.
    MlpCode,
    /// A NAS-Bench-201 arch string.
    Nb201,
    /// A DARTS genotype.
    Darts,
    /// A JSON edge list.
    Json,
    /// A seeded Watts-Strogatz (RandWire) graph, `ws(nodes=…, k=…, p=…)`.
    RandWire,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::MlpCode => "MLP code",
            Format::Nb201 => "NAS-Bench-201 arch string",
            Format::Darts => "DARTS genotype",
            Format::Json => "JSON edge list",
            Format::RandWire => "Watts-Strogatz graph",
        })
    }
}

/// A text that is not a valid architecture.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Unexpected text at a byte position.
    #[error("{format}: at byte {position}: expected {expected}, found {found}\n{}", caret(input, *position))]
    Syntax {
        /// The format being read.
        format: Format,
        /// Byte offset of the problem.
        position: usize,
        /// What would have been valid.
        expected: String,
        /// What was there.
        found: String,
        /// The whole input (for the caret display).
        input: String,
    },
    /// An operation name that maps to no class (see [`crate::Op::from_name`]).
    #[error("{format}: at byte {position}: unknown operation `{name}` (known: none, skip_connect, avg_pool_3x3, max_pool_3x3, nor_conv_1x1, nor_conv_3x3, sep_conv_3x3/5x5, dil_conv_3x3/5x5, linear, skip, zero)\n{}", caret(input, *position))]
    UnknownOp {
        /// The format being read.
        format: Format,
        /// Byte offset of the name.
        position: usize,
        /// The name.
        name: String,
        /// The whole input.
        input: String,
    },
    /// The text parsed but describes an invalid graph.
    #[error("{format}: {source}")]
    Graph {
        /// The format being read.
        format: Format,
        /// What is wrong with the graph.
        source: DagError,
    },
    /// The text matches no known format.
    #[error("cannot tell the architecture format of `{input}`: expected an MLP code like 2_21_112, a NAS-Bench-201 string starting with '|', a DARTS genotype starting with 'Genotype(', a JSON object starting with '{{', or a Watts-Strogatz graph like ws(nodes=1000, k=4, p=0.75, seed=1)")]
    Unrecognized {
        /// The input.
        input: String,
    },
}

fn caret(input: &str, position: usize) -> String {
    // Show at most 120 characters around the position.
    let start = position.saturating_sub(60);
    let start = (0..=start)
        .rev()
        .find(|&i| input.is_char_boundary(i))
        .unwrap_or(0);
    let end = (position + 60).min(input.len());
    let end = (end..=input.len())
        .find(|&i| input.is_char_boundary(i))
        .unwrap_or(input.len());
    let shown = &input[start..end];
    let pad = input[start..position.min(input.len()).max(start)]
        .chars()
        .count();
    format!("  {}\n  {}^", shown, " ".repeat(pad))
}

/// A small cursor over the input used by the hand-written parsers.
pub(crate) struct Cursor<'a> {
    pub input: &'a str,
    pub pos: usize,
    pub format: Format,
}

impl<'a> Cursor<'a> {
    pub fn new(input: &'a str, format: Format) -> Self {
        Cursor {
            input,
            pos: 0,
            format,
        }
    }

    pub fn rest(&self) -> &'a str {
        &self.input[self.pos..]
    }

    pub fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.input.len()
    }

    pub fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_whitespace() {
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
    }

    pub fn found(&self) -> String {
        match self.peek() {
            None => "end of input".to_string(),
            Some(c) => format!("'{c}'"),
        }
    }

    pub fn error(&self, expected: impl Into<String>) -> ParseError {
        ParseError::Syntax {
            format: self.format,
            position: self.pos,
            expected: expected.into(),
            found: self.found(),
            input: self.input.to_string(),
        }
    }

    pub fn expect(&mut self, s: &str) -> Result<(), ParseError> {
        if self.rest().starts_with(s) {
            self.pos += s.len();
            Ok(())
        } else {
            Err(self.error(format!("'{s}'")))
        }
    }

    pub fn eat(&mut self, s: &str) -> bool {
        if self.rest().starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    /// Reads `[A-Za-z0-9_]+`.
    pub fn ident(&mut self, what: &str) -> Result<(usize, &'a str), ParseError> {
        let start = self.pos;
        let len = self
            .rest()
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(self.rest().len());
        if len == 0 {
            return Err(self.error(what.to_string()));
        }
        self.pos += len;
        Ok((start, &self.input[start..self.pos]))
    }

    /// Reads a decimal integer.
    pub fn number(&mut self, what: &str) -> Result<(usize, usize), ParseError> {
        let start = self.pos;
        let len = self
            .rest()
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(self.rest().len());
        if len == 0 {
            return Err(self.error(what.to_string()));
        }
        let value = self.input[start..start + len]
            .parse::<usize>()
            .map_err(|_| ParseError::Syntax {
                format: self.format,
                position: start,
                expected: format!("{what} (a small integer)"),
                found: format!("'{}'", &self.input[start..start + len]),
                input: self.input.to_string(),
            })?;
        self.pos += len;
        Ok((start, value))
    }

    pub fn unknown_op(&self, position: usize, name: &str) -> ParseError {
        ParseError::UnknownOp {
            format: self.format,
            position,
            name: name.to_string(),
            input: self.input.to_string(),
        }
    }
}

/// Parses any supported format (see the module docs), chosen by the text's first
/// non-blank characters (`{`, `Genotype` or `[(`, `|`, a digit, `ws`).
pub fn parse_any(text: &str) -> Result<Dag, ParseError> {
    let t = text.trim_start();
    if t.starts_with('{') {
        json::from_json(text)
    } else if t.starts_with("Genotype") || t.starts_with("[(") {
        Ok(Genotype::parse(text)?.dag())
    } else if t.starts_with('|') {
        Ok(Nb201Arch::parse(text)?.dag())
    } else if t.starts_with(|c: char| c.is_ascii_digit()) {
        Ok(MlpCode::parse(text)?.dag())
    } else if t.starts_with("ws") {
        randwire::parse_dag(text)
    } else {
        Err(ParseError::Unrecognized {
            input: text.chars().take(200).collect(),
        })
    }
}
