//! The operation-class space of the DARTS normal cell and its effective depth/width.
//!
//! A cell has inputs `c_{k-2}`, `c_{k-1}` (nodes 0, 1) and `k` intermediate nodes
//! (DARTS: `k = 4`, nodes `2..=5`). Intermediate node `2 + i` picks **two distinct**
//! inputs among the `2 + i` earlier nodes, and for each edge an op class: parameterized
//! (a convolution: linear) or not (skip or pooling: skip). The output concatenates all
//! intermediates, modelled as skip edges into the last node
//! ([`crate::dag::format::Genotype::dag`]). So there are
//!
//! ```text
//! prod_{i=0}^{k-1} C(2 + i, 2) * 2^(2k)   labelled cells  (k = 4: 1*3*6*10 * 256 = 46,080)
//! ```
//!
//! Two labelled cells are the same **structure** when a relabelling of the intermediate
//! nodes (inputs and output fixed, every edge still going forward) maps one onto the
//! other; the canonical form is the smallest sorted edge list over the valid
//! relabellings (`k!` candidates). Effective depth and width come from
//! [`PathStats::of`], a dynamic program over the DAG (no path enumeration), which counts
//! the paths from node 0 and from node 1 separately and pools them: the authors'
//! convention.
//!
//! ```
//! use archconv::nas::darts::DartsSpace;
//! let s = DartsSpace::compute(2);               // two intermediate nodes
//! assert_eq!(s.labelled, 1 * 3 * 16);
//! ```

use crate::dag::{Dag, Edge, Op};
use crate::paths::{PathStats, Ratio, Undefined};
use crate::space::{Filter, RADIUS_FACTORS};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;

/// The paper's DARTS filter center `(dbar, mbar)`.
pub const PAPER_CENTER: (f64, f64) = (1.5, 10.5);
/// The paper's DARTS half-radius.
pub const PAPER_HALF_RADIUS: (f64, f64) = (0.7, 4.8);
/// The box in the authors' released code for DARTS/NDS (commented out there):
/// depth `[0.5, 1.6]`, width `[4, 12]`.
pub const CODE_BOX: ((f64, f64), (f64, f64)) = ((0.5, 1.6), (4.0, 12.0));

/// A filter box on the DARTS space and how it compares with the space's own.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DartsBox {
    /// Which box.
    pub name: String,
    /// Depth range.
    pub depth: (f64, f64),
    /// Width range.
    pub width: (f64, f64),
    /// Its center minus the space's filter center `(dd, dm)`.
    pub center_offset: (f64, f64),
    /// Distinct structures inside it.
    pub structures: usize,
}

impl DartsSpace {
    /// The space's half-radius box, the paper's text box (center `(1.5, 10.5)` +-
    /// `(0.7, 4.8)`: the `paper-text` convention) and the authors' code box
    /// ([`CODE_BOX`]: `authors-code`), each with its center offset from the space's
    /// filter center and the structures inside. Both conventions count paths the same
    /// way (from both cell inputs, pooled; convolutions 1, skip and pooling 0): the
    /// paper's text defines no other, so they differ only in the box.
    pub fn boxes(&self) -> Vec<DartsBox> {
        let (c, h) = (self.filter.center, self.half_radius);
        let make = |name: &str, depth: (f64, f64), width: (f64, f64)| DartsBox {
            name: name.into(),
            depth,
            width,
            center_offset: (
                (depth.0 + depth.1) / 2.0 - c.0,
                (width.0 + width.1) / 2.0 - c.1,
            ),
            structures: self
                .groups
                .iter()
                .filter(|(d, m, _, _)| {
                    let (d, m) = (d.to_f64(), m.to_f64());
                    d >= depth.0 - 1e-12
                        && d <= depth.1 + 1e-12
                        && m >= width.0 - 1e-12
                        && m <= width.1 + 1e-12
                })
                .map(|g| g.2)
                .sum(),
        };
        let (pc, ph) = (self.paper_center, self.paper_half_radius);
        vec![
            make(
                "this space, half radius",
                (c.0 - h.0, c.0 + h.0),
                (c.1 - h.1, c.1 + h.1),
            ),
            make(
                "paper-text: (1.5, 10.5) +- (0.7, 4.8)",
                (pc.0 - ph.0, pc.0 + ph.0),
                (pc.1 - ph.1, pc.1 + ph.1),
            ),
            make("authors-code: [0.5, 1.6] x [4, 12]", CODE_BOX.0, CODE_BOX.1),
        ]
    }
}

/// One labelled cell: for intermediate node `i`, two `(input, parameterized)` edges with
/// the first input smaller than the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DartsCell {
    k: usize,
    edges: [(u8, bool); 12],
}

impl DartsCell {
    /// The `(from, to, parameterized)` edges into intermediate nodes.
    pub fn edges(&self) -> impl Iterator<Item = (usize, usize, bool)> + '_ {
        self.edges[..2 * self.k]
            .iter()
            .enumerate()
            .map(|(j, &(s, p))| (s as usize, 2 + j / 2, p))
    }

    /// The DAG: inputs `[0, 1]`, intermediates `2..2+k`, output `2+k` fed by skip edges.
    pub fn dag(&self) -> Dag {
        let mut edges: Vec<Edge> = self
            .edges()
            .map(|(s, t, p)| Edge::new(s, t, if p { Op::Linear } else { Op::Skip }))
            .collect();
        for t in 2..2 + self.k {
            edges.push(Edge::new(t, 2 + self.k, Op::Skip));
        }
        Dag::with_inputs(3 + self.k, edges, vec![0, 1]).expect("forward edges, inputs 0 and 1")
    }

    /// Canonical key of the structure (see the module docs).
    pub fn canonical_key(&self, perms: &[Vec<usize>]) -> u128 {
        let mut best = u128::MAX;
        for perm in perms {
            // perm[i] = new index of intermediate i (both 0-based among intermediates).
            let map = |v: usize| if v < 2 { v } else { 2 + perm[v - 2] };
            if self.edges().any(|(s, t, _)| map(s) >= map(t)) {
                continue;
            }
            // 9 bits per edge: target (< 9) * 32 + source (< 8) * 2 + class.
            let mut codes: Vec<u16> = self
                .edges()
                .map(|(s, t, p)| ((map(t) as u16) << 5) | ((map(s) as u16) << 1) | u16::from(p))
                .collect();
            codes.sort_unstable();
            let key = codes.iter().fold(0u128, |acc, &c| (acc << 9) | c as u128);
            best = best.min(key);
        }
        best
    }
}

/// Every labelled cell with `k` intermediate nodes (`1 <= k <= 6`).
///
/// # Panics
/// When `k` is 0 or above 6.
#[track_caller]
pub fn enumerate_cells(k: usize) -> Vec<DartsCell> {
    assert!((1..=6).contains(&k), "1 <= k <= 6 intermediate nodes");
    let mut out = vec![DartsCell {
        k,
        edges: [(0, false); 12],
    }];
    for i in 0..k {
        let avail = 2 + i;
        let mut next = Vec::new();
        for c in &out {
            for a in 0..avail {
                for b in a + 1..avail {
                    for ops in 0..4u8 {
                        let mut c2 = *c;
                        c2.edges[2 * i] = (a as u8, ops & 1 == 1);
                        c2.edges[2 * i + 1] = (b as u8, ops & 2 == 2);
                        next.push(c2);
                    }
                }
            }
        }
        out = next;
    }
    out
}

fn permutations(k: usize) -> Vec<Vec<usize>> {
    let mut out = vec![];
    let mut p: Vec<usize> = (0..k).collect();
    fn rec(i: usize, p: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if i == p.len() {
            out.push(p.clone());
            return;
        }
        for j in i..p.len() {
            p.swap(i, j);
            rec(i + 1, p, out);
            p.swap(i, j);
        }
    }
    rec(0, &mut p, &mut out);
    out
}

/// The DARTS space's effective depth/width distribution and filter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DartsSpace {
    /// Intermediate nodes `k`.
    pub intermediate: usize,
    /// Labelled cells.
    pub labelled: usize,
    /// Distinct structures (up to relabelling intermediates).
    pub structures: usize,
    /// Structures whose every path is skip-only (depth/width undefined). Every cell has
    /// a path, so `P = 0` never occurs.
    pub zero_depth: usize,
    /// `(min, max)` effective depth over defined structures.
    pub depth_range: (f64, f64),
    /// `(min, max)` effective width.
    pub width_range: (f64, f64),
    /// Depth range as exact ratios.
    pub depth_range_exact: (Ratio, Ratio),
    /// Width range as exact ratios.
    pub width_range_exact: (Ratio, Ratio),
    /// The filter (center, radius).
    pub filter: Filter,
    /// `r / 2` per axis, comparable with the paper's half-radius.
    pub half_radius: (f64, f64),
    /// [`PAPER_CENTER`].
    pub paper_center: (f64, f64),
    /// [`PAPER_HALF_RADIUS`].
    pub paper_half_radius: (f64, f64),
    /// Range of the path count `P` (pooled over both inputs).
    pub paths_range: (u128, u128),
    /// `(dbar, mbar, structures, labelled cells)` per group, sorted.
    pub groups: Vec<(Ratio, Ratio, usize, usize)>,
    /// Structures kept per radius factor.
    pub kept: Vec<(f64, usize)>,
}

impl DartsSpace {
    /// Like [`DartsSpace::compute`], but checks `k` (1 to 6) and the memory the
    /// enumeration needs (about 128 bytes per labelled cell: 46,080 cells for `k = 4`,
    /// 2.8 million for 5, 232 million, about 28 GiB, for 6) against the memory budget
    /// ([`crate::budget`]) before enumerating.
    ///
    /// ```
    /// use archconv::nas::DartsSpace;
    /// assert!(DartsSpace::try_compute(0).is_err());
    /// assert_eq!(DartsSpace::try_compute(1).unwrap().labelled, 4);
    /// ```
    pub fn try_compute(k: usize) -> Result<DartsSpace, super::NasError> {
        if !(1..=6).contains(&k) {
            return Err(super::NasError::DartsNodes { nodes: k, max: 6 });
        }
        let cells = (0..k).fold(1u64, |acc, i| {
            let avail = 2 + i as u64;
            acc * (avail * (avail - 1) / 2) * 4
        });
        crate::budget::check(
            format!("the DARTS space with {k} intermediate nodes ({cells} labelled cells)"),
            cells.checked_mul(128),
        )?;
        Ok(DartsSpace::compute(k))
    }

    /// Enumerates the space with `k` intermediate nodes (DARTS: 4) and summarises it.
    ///
    /// # Panics
    /// When `k` is 0 or above 6 (see [`DartsSpace::try_compute`], which also checks the
    /// memory).
    #[track_caller]
    pub fn compute(k: usize) -> DartsSpace {
        let cells = enumerate_cells(k);
        let perms = permutations(k);
        // (key, stats) per labelled cell, in parallel; then one entry per structure.
        let mut keyed: Vec<(u128, PathStats)> = cells
            .par_iter()
            .map(|c| {
                (
                    c.canonical_key(&perms),
                    PathStats::of(&c.dag()).expect("small DAG"),
                )
            })
            .collect();
        keyed.par_sort_unstable_by_key(|e| e.0);
        let mut structures: Vec<(PathStats, usize)> = Vec::new();
        let mut last = None;
        for (key, s) in keyed {
            if last == Some(key) {
                structures.last_mut().expect("nonempty").1 += 1;
            } else {
                structures.push((s, 1));
                last = Some(key);
            }
        }
        let mut groups: BTreeMap<(Ratio, Ratio), (usize, usize)> = BTreeMap::new();
        let mut zero_depth = 0;
        let mut paths_range = (u128::MAX, 0);
        for (s, mult) in &structures {
            paths_range = (
                paths_range.0.min(s.num_paths()),
                paths_range.1.max(s.num_paths()),
            );
            match (s.effective_depth_exact(), s.effective_width_exact()) {
                (Some(d), Some(m)) => {
                    let g = groups.entry((d, m)).or_default();
                    g.0 += 1;
                    g.1 += mult;
                }
                _ => {
                    debug_assert_eq!(s.undefined(), Some(Undefined::ZeroDepth));
                    zero_depth += 1;
                }
            }
        }
        let cmp = |a: &Ratio, b: &Ratio| (a.num * b.den).cmp(&(b.num * a.den));
        let dmin = *groups
            .keys()
            .map(|g| &g.0)
            .min_by(|a, b| cmp(a, b))
            .expect("defined cells exist");
        let dmax = *groups
            .keys()
            .map(|g| &g.0)
            .max_by(|a, b| cmp(a, b))
            .expect("defined cells exist");
        let mmin = *groups
            .keys()
            .map(|g| &g.1)
            .min_by(|a, b| cmp(a, b))
            .expect("defined cells exist");
        let mmax = *groups
            .keys()
            .map(|g| &g.1)
            .max_by(|a, b| cmp(a, b))
            .expect("defined cells exist");
        let filter = Filter::from_ranges(
            (dmin.to_f64(), dmax.to_f64()),
            (mmin.to_f64(), mmax.to_f64()),
        );
        let kept = RADIUS_FACTORS
            .iter()
            .map(|&phi| {
                (
                    phi,
                    groups
                        .iter()
                        .filter(|((d, m), _)| filter.keeps(d.to_f64(), m.to_f64(), phi))
                        .map(|(_, c)| c.0)
                        .sum(),
                )
            })
            .collect();
        let mut groups: Vec<(Ratio, Ratio, usize, usize)> = groups
            .into_iter()
            .map(|((d, m), (s, l))| (d, m, s, l))
            .collect();
        groups.sort_by(|a, b| cmp(&a.0, &b.0).then(cmp(&a.1, &b.1)));
        DartsSpace {
            intermediate: k,
            labelled: cells.len(),
            structures: structures.len(),
            zero_depth,
            depth_range: (dmin.to_f64(), dmax.to_f64()),
            width_range: (mmin.to_f64(), mmax.to_f64()),
            depth_range_exact: (dmin, dmax),
            width_range_exact: (mmin, mmax),
            filter,
            half_radius: (filter.radius.0 / 2.0, filter.radius.1 / 2.0),
            paper_center: PAPER_CENTER,
            paper_half_radius: PAPER_HALF_RADIUS,
            paths_range,
            groups,
            kept,
        }
    }
}
