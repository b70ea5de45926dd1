//! `Zero`: the edge is absent (`none` in the benchmarks).
//!
//! It lies on no path, so it adds nothing anywhere: no depth, no kernel term, no features,
//! no gradient. The DAG keeps it in its edge list only so drawings can show it in light
//! grey; the [`crate::plan::Plan`] leaves it out of every node's in- and out-edges.

use super::Role;
use crate::dag::Edge;

/// The names that parse as `Zero`.
pub(super) const NAMES: &[&str] = &["none", "zero", "0"];

/// The canonical name.
pub(super) const NAME: &str = "zero";

/// Not on any path: no depth.
pub(super) const DEPTH: Option<usize> = None;

/// The edge's role: [`Role::Absent`].
pub(super) fn role(_edge: &Edge) -> Role<'_> {
    Role::Absent
}
