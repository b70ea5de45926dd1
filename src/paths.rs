//! Path statistics by dynamic programming (PAPER.md section 4, Def. 4.1).
//!
//! For every node `t` the DP keeps `n_t(d)`, the number of input-to-`t` paths with exactly
//! `d` linear edges:
//!
//! ```text
//! n_input(0) = 1,   n_t(d) = sum_{skip s->t} n_s(d) + sum_{linear s->t} n_s(d - 1)
//! ```
//!
//! in exact `u128` arithmetic (overflow is an error, never a wrap). From the output's
//! histogram: `P = sum_d n(d)`, `sum_p d_p = sum_d d n(d)`, `#{d_p > 0} = P - n(0)`,
//! effective depth `dbar = sum_p d_p / P` and effective width `mbar = #{d_p > 0} / dbar`.
//! The same histograms give the path-sum kernel `sum_d n(d) f^d(K^0)` (Eq. 12).
//!
//! ```
//! use archconv::{Dag, PathStats};
//! let s = PathStats::of(&Dag::dag3()).unwrap();
//! assert_eq!(s.num_paths(), 4);
//! assert_eq!(s.depths(), vec![0, 1, 2, 2]);
//! assert_eq!(s.effective_depth(), Some(1.25));
//! assert_eq!(s.effective_width(), Some(2.4));
//! // 64-node complete DAG: 2^62 paths, counted exactly.
//! let big = PathStats::of(&Dag::complete(64, archconv::Op::Linear)).unwrap();
//! assert_eq!(big.num_paths(), 1u128 << 62);
//! ```

use crate::dag::{Dag, Op};
use serde::Serialize;
use std::fmt;

/// Why an effective depth or width is not defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Undefined {
    /// No path connects an input to the output (`P = 0`).
    NoPath,
    /// Every path is made of skip edges only (`dbar = 0`), so `mbar = #{d_p>0}/dbar` is 0/0.
    ZeroDepth,
}

impl fmt::Display for Undefined {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Undefined::NoPath => "undefined: no path from the input to the output (P = 0)",
            Undefined::ZeroDepth => {
                "undefined: every path is skip-only (effective depth 0, width 0/0)"
            }
        })
    }
}

/// Path counts overflowed `u128` (only possible for DAGs of well over 100 nodes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("path count overflows 128-bit integers at node {node}: the DAG has more than 2^128 paths")]
pub struct PathOverflow {
    /// The node where the count overflowed.
    pub node: usize,
}

/// An exact non-negative rational `num / den` in lowest terms (`den > 0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Ratio {
    /// Numerator (in JSON a number, or a decimal string above `u64::MAX`).
    #[serde(serialize_with = "ser_count")]
    pub num: u128,
    /// Denominator (> 0; in JSON like `num`).
    #[serde(serialize_with = "ser_count")]
    pub den: u128,
}

impl Ratio {
    /// `num / den` reduced; `den` must be positive.
    pub fn new(num: u128, den: u128) -> Ratio {
        assert!(den > 0, "Ratio with zero denominator");
        let g = gcd(num, den);
        Ratio {
            num: num / g,
            den: den / g,
        }
    }

    /// The nearest `f64`.
    pub fn to_f64(self) -> f64 {
        self.num as f64 / self.den as f64
    }
}

impl fmt::Display for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.den == 1 {
            write!(f, "{}", self.num)
        } else {
            write!(f, "{}/{}", self.num, self.den)
        }
    }
}

/// Serialises a `u128` count exactly: as a JSON number when it fits in `u64`, else as a
/// decimal string (`serde_json` cannot write larger numbers, and most JSON readers would
/// round them). `archconv analyze --json` on a 70-node complete DAG writes
/// `"num_paths": "295147905179352825856"`.
pub(crate) fn ser_count<S: serde::Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
    match u64::try_from(*v) {
        Ok(small) => s.serialize_u64(small),
        Err(_) => s.serialize_str(&v.to_string()),
    }
}

/// [`ser_count`] for every element of a slice.
pub(crate) fn ser_counts<S: serde::Serializer>(v: &[u128], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    struct Count(u128);
    impl Serialize for Count {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            ser_count(&self.0, s)
        }
    }
    let mut seq = s.serialize_seq(Some(v.len()))?;
    for &c in v {
        seq.serialize_element(&Count(c))?;
    }
    seq.end()
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

/// Path statistics cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// A count overflowed `u128`.
    #[error(transparent)]
    Overflow(#[from] PathOverflow),
    /// The depth histograms would not fit in the memory cap.
    #[error(transparent)]
    Memory(#[from] crate::budget::BudgetError),
}

/// Per-node depth histograms `n_t(d)` of a DAG (the DP table).
///
/// Each node keeps only the depths between its shortest and longest path, so a chain of
/// `H` nodes takes `O(H)` memory, not `O(H^2)`; the total is estimated in `O(nodes +
/// edges)` and checked against the memory budget ([`crate::budget`]) before the table is
/// allocated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepthHistograms {
    /// `hist[t] = (lo, counts)`: `counts[k]` paths of depth `lo + k` end at `t`.
    hist: Vec<(usize, Vec<u128>)>,
}

impl DepthHistograms {
    /// Runs the DP (module docs) in topological order `0..=H`.
    pub fn of(dag: &Dag) -> Result<DepthHistograms, PathError> {
        let n = dag.num_nodes();
        // Depth extents [lo, hi] of the paths reaching each node (None: no path).
        let mut ext: Vec<Option<(usize, usize)>> = vec![None; n];
        for &i in dag.inputs() {
            ext[i] = Some((0, 0));
        }
        let mut cells: u64 = 0;
        for t in 0..n {
            for e in dag.in_edges(t) {
                let shift = usize::from(e.op == Op::Linear);
                if let Some((lo, hi)) = ext[e.from] {
                    let (lo, hi) = (lo + shift, hi + shift);
                    ext[t] = Some(match ext[t] {
                        Some((a, b)) => (a.min(lo), b.max(hi)),
                        None => (lo, hi),
                    });
                }
            }
            if let Some((lo, hi)) = ext[t] {
                cells = cells.saturating_add((hi - lo + 1) as u64);
            }
        }
        crate::budget::check(
            format!("path statistics (depth histograms of {n} nodes, {cells} counts)"),
            cells
                .checked_mul(16)
                .and_then(|b| b.checked_add(crate::budget::bytes(n, 32)?)),
        )?;
        let mut hist: Vec<(usize, Vec<u128>)> = ext
            .iter()
            .map(|x| x.map_or((0, Vec::new()), |(lo, hi)| (lo, vec![0; hi - lo + 1])))
            .collect();
        for &i in dag.inputs() {
            hist[i].1[0] = 1;
        }
        for t in 0..n {
            for e in dag.in_edges(t) {
                if e.from == t || ext[e.from].is_none() {
                    continue;
                }
                let shift = usize::from(e.op == Op::Linear);
                // e.from < t: split the table to borrow the source and the target.
                let (before, after) = hist.split_at_mut(t);
                let (src_lo, src) = &before[e.from];
                let (dst_lo, dst) = &mut after[0];
                let offset = src_lo + shift - *dst_lo;
                for (k, &add) in src.iter().enumerate() {
                    if add == 0 {
                        continue;
                    }
                    let slot = &mut dst[offset + k];
                    *slot = slot.checked_add(add).ok_or(PathOverflow { node: t })?;
                }
            }
        }
        Ok(DepthHistograms { hist })
    }

    /// `n_t(d)` for all `d` (index = depth) at node `t`, as a dense vector of length
    /// (longest path + 1), or empty when no path reaches `t`. Allocates; see
    /// [`DepthHistograms::sparse`] for the stored form.
    pub fn node(&self, t: usize) -> Vec<u128> {
        let (lo, counts) = &self.hist[t];
        if counts.is_empty() {
            return Vec::new();
        }
        let mut out = vec![0; lo + counts.len()];
        out[*lo..].copy_from_slice(counts);
        out
    }

    /// The stored form at node `t`: `(lo, counts)` with `counts[k] = n_t(lo + k)`, `lo`
    /// the shortest path's depth (`counts` empty when no path reaches `t`).
    pub fn sparse(&self, t: usize) -> (usize, &[u128]) {
        let (lo, counts) = &self.hist[t];
        (*lo, counts)
    }

    /// Whether any input-to-`t` path exists.
    pub fn reaches(&self, t: usize) -> bool {
        self.hist[t].1.iter().any(|&c| c > 0)
    }
}

/// Path statistics of a DAG's input-to-output paths (paths from several inputs pooled).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathStats {
    /// `histogram[d]` = number of paths with `d` linear edges (trailing zeros trimmed).
    #[serde(serialize_with = "ser_counts")]
    histogram: Vec<u128>,
    #[serde(serialize_with = "ser_count")]
    num_paths: u128,
    #[serde(serialize_with = "ser_count")]
    depth_sum: u128,
    #[serde(serialize_with = "ser_count")]
    nonzero: u128,
}

impl PathStats {
    /// Path statistics of `dag` by dynamic programming (no enumeration).
    pub fn of(dag: &Dag) -> Result<PathStats, PathError> {
        let h = DepthHistograms::of(dag)?;
        Ok(PathStats::from_histogram(
            h.node(dag.output()),
            dag.output(),
        )?)
    }

    fn from_histogram(mut histogram: Vec<u128>, node: usize) -> Result<PathStats, PathOverflow> {
        if histogram.is_empty() {
            histogram.push(0);
        }
        while histogram.len() > 1 && *histogram.last().unwrap() == 0 {
            histogram.pop();
        }
        let of = PathOverflow { node };
        let mut num_paths: u128 = 0;
        let mut depth_sum: u128 = 0;
        for (d, &c) in histogram.iter().enumerate() {
            num_paths = num_paths.checked_add(c).ok_or(of.clone())?;
            depth_sum = (d as u128)
                .checked_mul(c)
                .and_then(|x| x.checked_add(depth_sum))
                .ok_or(of.clone())?;
        }
        let nonzero = num_paths - histogram.first().copied().unwrap_or(0);
        Ok(PathStats {
            histogram,
            num_paths,
            depth_sum,
            nonzero,
        })
    }

    /// `P`, the number of input-to-output paths.
    pub fn num_paths(&self) -> u128 {
        self.num_paths
    }

    /// `n(d)`: the number of paths with `d` linear edges, index = `d`.
    pub fn histogram(&self) -> &[u128] {
        &self.histogram
    }

    /// `sum_p d_p`.
    pub fn depth_sum(&self) -> u128 {
        self.depth_sum
    }

    /// `#{p : d_p > 0}`.
    pub fn num_parameterized_paths(&self) -> u128 {
        self.nonzero
    }

    /// Every path's depth `d_p`, sorted ascending (only sensible for small `P`; panics
    /// above 2^24 paths).
    #[track_caller]
    pub fn depths(&self) -> Vec<usize> {
        assert!(self.num_paths <= 1 << 24, "too many paths to list");
        let mut out = Vec::new();
        for (d, &c) in self.histogram.iter().enumerate() {
            out.extend(std::iter::repeat_n(d, c as usize));
        }
        out
    }

    /// Why depth/width are undefined, or `None` when both are defined.
    pub fn undefined(&self) -> Option<Undefined> {
        if self.num_paths == 0 {
            Some(Undefined::NoPath)
        } else if self.depth_sum == 0 {
            Some(Undefined::ZeroDepth)
        } else {
            None
        }
    }

    /// Effective depth `dbar = sum_p d_p / P` (Def. 4.1) as an exact ratio;
    /// `None` when `P = 0` (see [`PathStats::undefined`]).
    pub fn effective_depth_exact(&self) -> Option<Ratio> {
        (self.num_paths > 0).then(|| Ratio::new(self.depth_sum, self.num_paths))
    }

    /// Effective width `mbar = #{d_p > 0} / dbar = #{d_p>0} P / sum_p d_p` (Def. 4.1),
    /// exact; `None` when `P = 0` or `dbar = 0`.
    pub fn effective_width_exact(&self) -> Option<Ratio> {
        if self.undefined().is_some() {
            return None;
        }
        // nonzero * P can exceed u128 for huge DAGs: reduce first.
        let g1 = gcd(self.nonzero, self.depth_sum);
        let g2 = gcd(self.num_paths, self.depth_sum / g1);
        (self.nonzero / g1)
            .checked_mul(self.num_paths / g2)
            .map(|num| Ratio::new(num, self.depth_sum / g1 / g2))
    }

    /// Effective depth as `f64`; `None` when undefined.
    pub fn effective_depth(&self) -> Option<f64> {
        self.effective_depth_exact().map(Ratio::to_f64)
    }

    /// Effective width as `f64`; `None` when undefined. For DAGs so large that the exact
    /// ratio overflows, computed in floating point.
    pub fn effective_width(&self) -> Option<f64> {
        if self.undefined().is_some() {
            return None;
        }
        Some(match self.effective_width_exact() {
            Some(r) => r.to_f64(),
            None => self.nonzero as f64 * self.num_paths as f64 / self.depth_sum as f64,
        })
    }
}

/// One enumerated path: the nodes it visits and its number of linear edges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    /// Edge indices into [`Dag::edges`], in order.
    pub edges: Vec<usize>,
    /// Number of linear edges `d_p`.
    pub depth: usize,
}

/// Depth-first enumeration of all input-to-output paths (for small DAGs and for checking
/// the DP). Multi-edges give distinct paths.
///
/// ```
/// use archconv::{Dag, paths::enumerate_paths};
/// let mut d: Vec<usize> = enumerate_paths(&Dag::dag3()).map(|p| p.depth).collect();
/// d.sort();
/// assert_eq!(d, vec![0, 1, 2, 2]);
/// ```
pub fn enumerate_paths(dag: &Dag) -> impl Iterator<Item = Path> + '_ {
    let out = dag.output();
    let mut by_source: Vec<Vec<usize>> = vec![Vec::new(); dag.num_nodes()];
    for (i, e) in dag.edges().iter().enumerate() {
        if e.op != Op::Zero {
            by_source[e.from].push(i);
        }
    }
    // Stack of (node, edges so far).
    let mut stack: Vec<(usize, Vec<usize>)> =
        dag.inputs().iter().rev().map(|&i| (i, vec![])).collect();
    std::iter::from_fn(move || {
        while let Some((node, edges)) = stack.pop() {
            if node == out {
                let depth = edges
                    .iter()
                    .filter(|&&i| dag.edges()[i].op == Op::Linear)
                    .count();
                return Some(Path { edges, depth });
            }
            for &i in by_source[node].iter().rev() {
                let mut next = edges.clone();
                next.push(i);
                stack.push((dag.edges()[i].to, next));
            }
        }
        None
    })
}
