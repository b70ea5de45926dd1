//! The report section of the NAS-Bench-201 space's effective depth and width
//! ([`crate::space::nb201_space`]).

use super::{md_table, Section};
use crate::space::SpaceSummary;

/// The `nb201-space` section: cell counts, the effective depth/width ranges, center and
/// half-radius beside the paper's, and the cells kept per radius factor.
pub fn section(s: &SpaceSummary) -> Section {
    let rows: Vec<Vec<String>> = s
        .kept
        .iter()
        .map(|(phi, k)| vec![phi.to_string(), k.to_string()])
        .collect();
    let markdown = format!(
        "{} cells; {} without a path, {} skip-only. Effective depth in [{:.4}, {:.4}], width in [{:.4}, {:.4}]; \
         center ({:.4}, {:.4}), half-radius ({:.4}, {:.4}) (paper: center (1.6, 2.2), half-radius (0.7, 0.9)).\n\n{}",
        s.cells, s.no_path, s.zero_depth, s.depth_range.0, s.depth_range.1, s.width_range.0, s.width_range.1,
        s.center.0, s.center.1, s.half_radius.0, s.half_radius.1,
        md_table(&["radius factor", "cells kept"], &rows)
    );
    Section {
        id: "nb201-space".into(),
        title: "NAS-Bench-201: effective depth and width (Sec. 4)".into(),
        markdown,
        data: serde_json::to_value(s).unwrap_or_default(),
        files: vec![],
    }
}
