//! Search-space statistics for the NAS filter (PAPER.md section 4).
//!
//! Over a space of cells compute `(dbar, mbar)` for each; center `c = (max + min)/2` and
//! radius `r = (max - min)/2` per axis (cells whose depth/width is undefined are left out
//! and never kept); a cell is kept at radius factor `phi` when
//! `|dbar - c_d| <= phi r_d` and `|mbar - c_m| <= phi r_m`. The paper's filter is
//! `phi = 1/2` (its "half-radius"); Table 3 ablates `phi = 1, 3/4, 1/2, 1/4`.
//!
//! ```
//! use archconv::space::nb201_space;
//! let s = nb201_space();
//! assert_eq!(s.cells, 15_625);
//! assert_eq!(s.center, (1.625, 13.0 / 6.0));
//! assert!((s.half_radius.1 - 11.0 / 12.0).abs() < 1e-15);
//! ```

use crate::dag::format::Nb201Arch;
use crate::paths::{PathStats, Ratio, Undefined};
use serde::Serialize;

/// Radius factors of the paper's ablation (Table 3).
pub const RADIUS_FACTORS: [f64; 4] = [1.0, 0.75, 0.5, 0.25];

/// Center and radius of a space's `(dbar, mbar)` box.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Filter {
    /// `(c_d, c_m)`.
    pub center: (f64, f64),
    /// `(r_d, r_m)`, half the range on each axis.
    pub radius: (f64, f64),
}

impl Filter {
    /// From the ranges of depth and width.
    pub fn from_ranges(depth: (f64, f64), width: (f64, f64)) -> Filter {
        Filter {
            center: ((depth.0 + depth.1) / 2.0, (width.0 + width.1) / 2.0),
            radius: ((depth.1 - depth.0) / 2.0, (width.1 - width.0) / 2.0),
        }
    }

    /// Whether `(d, m)` is kept at radius factor `phi` (tolerance 1e-12 for rounding).
    pub fn keeps(&self, d: f64, m: f64, phi: f64) -> bool {
        (d - self.center.0).abs() <= phi * self.radius.0 + 1e-12
            && (m - self.center.1).abs() <= phi * self.radius.1 + 1e-12
    }
}

/// One cell's effective depth and width.
#[derive(Debug, Clone, Serialize)]
pub struct CellPoint {
    /// NB201 arch string.
    pub arch: String,
    /// Exact effective depth, when defined.
    pub depth: Option<Ratio>,
    /// Exact effective width, when defined.
    pub width: Option<Ratio>,
    /// Why undefined.
    pub undefined: Option<Undefined>,
}

/// Summary of a search space's `(dbar, mbar)` distribution and filter.
#[derive(Debug, Clone, Serialize)]
pub struct SpaceSummary {
    /// Number of cells.
    pub cells: usize,
    /// Cells with no input-output path.
    pub no_path: usize,
    /// Cells whose paths are all skip-only.
    pub zero_depth: usize,
    /// `(min, max)` effective depth over defined cells.
    pub depth_range: (f64, f64),
    /// `(min, max)` effective width.
    pub width_range: (f64, f64),
    /// Filter center.
    pub center: (f64, f64),
    /// Filter half-radius `(r_d/2, r_m/2)` (the paper's default box).
    pub half_radius: (f64, f64),
    /// The filter.
    pub filter: Filter,
    /// Distinct `(dbar, mbar)` groups with their cell counts, sorted.
    pub groups: Vec<(Ratio, Ratio, usize)>,
    /// Cells kept per radius factor.
    pub kept: Vec<(f64, usize)>,
}

/// Every NB201 cell's effective depth and width.
pub fn nb201_points() -> Vec<CellPoint> {
    Nb201Arch::all()
        .map(|a| {
            let s = PathStats::of(&a.dag()).expect("4-node cells cannot overflow");
            CellPoint {
                arch: a.to_string(),
                depth: s.effective_width_exact().and(s.effective_depth_exact()),
                width: s.effective_width_exact(),
                undefined: s.undefined(),
            }
        })
        .collect()
}

/// Summarises any list of cell points (see the module docs).
pub fn summarize(points: &[CellPoint]) -> SpaceSummary {
    let defined: Vec<(Ratio, Ratio)> = points
        .iter()
        .filter_map(|p| Some((p.depth?, p.width?)))
        .collect();
    let minmax = |f: &dyn Fn(&(Ratio, Ratio)) -> f64| {
        defined
            .iter()
            .map(f)
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
                (a.min(x), b.max(x))
            })
    };
    let depth_range = minmax(&|p| p.0.to_f64());
    let width_range = minmax(&|p| p.1.to_f64());
    let filter = Filter::from_ranges(depth_range, width_range);
    let mut groups: std::collections::BTreeMap<(Ratio, Ratio), usize> = Default::default();
    for &g in &defined {
        *groups.entry(g).or_default() += 1;
    }
    let mut groups: Vec<(Ratio, Ratio, usize)> =
        groups.into_iter().map(|((d, m), c)| (d, m, c)).collect();
    groups.sort_by(|a, b| {
        a.0.to_f64()
            .total_cmp(&b.0.to_f64())
            .then(a.1.to_f64().total_cmp(&b.1.to_f64()))
    });
    let kept = RADIUS_FACTORS
        .iter()
        .map(|&phi| {
            (
                phi,
                defined
                    .iter()
                    .filter(|(d, m)| filter.keeps(d.to_f64(), m.to_f64(), phi))
                    .count(),
            )
        })
        .collect();
    SpaceSummary {
        cells: points.len(),
        no_path: points
            .iter()
            .filter(|p| p.undefined == Some(Undefined::NoPath))
            .count(),
        zero_depth: points
            .iter()
            .filter(|p| p.undefined == Some(Undefined::ZeroDepth))
            .count(),
        depth_range,
        width_range,
        center: filter.center,
        half_radius: (filter.radius.0 / 2.0, filter.radius.1 / 2.0),
        filter,
        groups,
        kept,
    }
}

/// The NAS-Bench-201 space summary (all 15,625 cells).
pub fn nb201_space() -> SpaceSummary {
    summarize(&nb201_points())
}

impl std::fmt::Display for SpaceSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "cells: {}", self.cells)?;
        writeln!(
            f,
            "undefined: {} with no path, {} skip-only (depth 0)",
            self.no_path, self.zero_depth
        )?;
        writeln!(
            f,
            "effective depth range [{:.6}, {:.6}], width range [{:.6}, {:.6}]",
            self.depth_range.0, self.depth_range.1, self.width_range.0, self.width_range.1
        )?;
        writeln!(
            f,
            "center ({:.6}, {:.6}), half-radius ({:.6}, {:.6})",
            self.center.0, self.center.1, self.half_radius.0, self.half_radius.1
        )?;
        for (phi, k) in &self.kept {
            writeln!(f, "radius factor {phi:<5}: {k} cells kept")?;
        }
        writeln!(
            f,
            "\n(dbar, mbar) distribution ({} groups):",
            self.groups.len()
        )?;
        writeln!(f, "{:>8} {:>8} {:>8}", "dbar", "mbar", "cells")?;
        for (d, m, c) in &self.groups {
            writeln!(f, "{:>8} {:>8} {:>8}", d.to_string(), m.to_string(), c)?;
        }
        Ok(())
    }
}
