//! Any block of a point set's output kernel, from per-point terms computed once (issue
//! 18): the unit of work of a distributed kernel (the Python package's
//! `archconv.dask.kernel` runs one task per tile).
//!
//! The streamed kernel ([`super::stream`]) makes two passes: a first pass over the points
//! alone gives every needed node `t` a log-scale `lambda_t` (the largest `K^t_ii` over
//! the set) and, per point `i`, the scaled diagonal `K^t_ii / e^lambda_t` and mean
//! `mu^t_i / e^(lambda_t / 2)`; every other entry then depends only on its own two points
//! and those terms, since each map is entrywise (`F_e(K)_ij` needs `K_ij`, `K_ii`,
//! `K_jj`). So the terms of all `N` points ([`KernelFn::point_terms`], `O(N)` per node)
//! are computed once and shared, and the block of rows `I` against columns `J`
//! ([`KernelFn::tile`]) is computed from the data rows of `I` and `J` and the terms
//! selected at `I` and `J` ([`PointTerms::select`]). Because the log-scales are those of
//! the whole set, tiles assemble into the kernel of `[x_I; x_J; ...]` exactly as the
//! one-process computation gives it (to rounding; tested against [`KernelFn::nngp`] and
//! [`KernelFn::ntk`]).
//!
//! A tile's memory: its `|I| x |J|` result (twice for the NTK), plus strips of rows
//! computed in parallel, each with the pending per-node sums of
//! [`super::stream`] ([`KernelFn::tile_bytes`] gives the estimate checked against the
//! memory budget). The path-sum rule has no streamed form and is refused.
//!
//! ```
//! use archconv::{Dag, kernel::{Inputs, KernelFn, KernelKind, Lift, npy::What}};
//! let x = Inputs::gaussian(10, 3, 0);
//! let k = KernelFn::new(&Dag::dag3(), Lift::Dense, KernelKind::Exact);
//! let terms = k.point_terms(x.view())?;
//! let (a, b) = (x.slice(ndarray::s![..6, ..]), x.slice(ndarray::s![6.., ..]));
//! let block = k.tile(a, &terms.select(0..6)?, Some((b, &terms.select(6..10)?)), What::Nngp)?;
//! let full = k.nngp(x.view(), None)?;
//! assert!((block[[1, 2]] - full[[1, 6 + 2]]).abs() < 1e-13 * full[[1, 1]]);
//! # Ok::<(), archconv::kernel::KernelError>(())
//! ```

use super::npy::{fnv, What};
use super::ntk::NtkVariant;
use super::stream::{prepare, prepare_with, DataLift, LiftTiles, Terms};
use super::{Inputs, KernelError, KernelFn};
use ndarray::{Array1, Array2, ArrayView2, Axis};
use rayon::prelude::*;
use std::ops::Range;

/// The per-point terms of a [`KernelFn`] over a point set (module docs): every node's
/// log-scale `lambda_t` over the whole set, and each needed node's scaled diagonal
/// `K^t_ii / e^lambda_t` and mean `mu^t_i / e^(lambda_t / 2)` at each point.
///
/// It remembers the kernel function it came from (a fingerprint of the DAG, lift, rule
/// and row normalisation), and [`KernelFn::tile`] refuses terms of another.
#[derive(Debug, Clone, PartialEq)]
pub struct PointTerms {
    fingerprint: u64,
    /// The needed nodes, ascending.
    nodes: Vec<usize>,
    lambda: Vec<f64>,
    /// `nodes.len() x N`.
    diag: Array2<f64>,
    /// `nodes.len() x N`.
    mean: Array2<f64>,
}

impl PointTerms {
    /// Terms from their parts, as [`PointTerms::parts`] returns them (for serialising).
    ///
    /// Errors: [`KernelError::BadTerms`] when the shapes do not agree, a node is out of
    /// range or repeated, or a value is not finite.
    pub fn from_parts(
        fingerprint: u64,
        nodes: Vec<usize>,
        lambda: Vec<f64>,
        diag: Array2<f64>,
        mean: Array2<f64>,
    ) -> Result<PointTerms, KernelError> {
        let bad = |why: String| Err(KernelError::BadTerms { why });
        if diag.dim() != mean.dim() || diag.nrows() != nodes.len() {
            return bad(format!(
                "{} nodes, diagonals {:?} and means {:?}: both must be (nodes, points)",
                nodes.len(),
                diag.dim(),
                mean.dim()
            ));
        }
        if nodes.windows(2).any(|w| w[0] >= w[1]) {
            return bad("the node list must be strictly ascending".into());
        }
        if let Some(&t) = nodes.iter().find(|&&t| t >= lambda.len()) {
            return bad(format!(
                "node {t} is past the {} log-scales given",
                lambda.len()
            ));
        }
        if lambda
            .iter()
            .chain(diag.iter())
            .chain(mean.iter())
            .any(|v| !v.is_finite())
        {
            return bad("a log-scale, diagonal or mean is not finite".into());
        }
        Ok(PointTerms {
            fingerprint,
            nodes,
            lambda,
            diag,
            mean,
        })
    }

    /// `(fingerprint, needed nodes, log-scales of every node, diagonals, means)`.
    pub fn parts(&self) -> (u64, &[usize], &[f64], &Array2<f64>, &Array2<f64>) {
        (
            self.fingerprint,
            &self.nodes,
            &self.lambda,
            &self.diag,
            &self.mean,
        )
    }

    /// The number of points.
    pub fn len(&self) -> usize {
        self.diag.ncols()
    }

    /// Whether there are no points.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The output's (the last node's) log-scale: the kernel is `e^log_scale` times its
    /// scaled form.
    pub fn log_scale(&self) -> f64 {
        self.lambda.last().copied().unwrap_or(0.0)
    }

    /// The terms of the points `range` (log-scales unchanged).
    ///
    /// Errors: [`KernelError::BadTerms`] for an empty range or one past the points.
    pub fn select(&self, range: Range<usize>) -> Result<PointTerms, KernelError> {
        if range.start >= range.end || range.end > self.len() {
            return Err(KernelError::BadTerms {
                why: format!(
                    "points {}..{} selected from terms of {} points",
                    range.start,
                    range.end,
                    self.len()
                ),
            });
        }
        let cols = ndarray::s![.., range];
        Ok(PointTerms {
            fingerprint: self.fingerprint,
            nodes: self.nodes.clone(),
            lambda: self.lambda.clone(),
            diag: self.diag.slice(cols).to_owned(),
            mean: self.mean.slice(cols).to_owned(),
        })
    }

    /// The terms of the stacked point sets (`self` then `other`).
    fn stack(&self, other: &PointTerms) -> Terms {
        let n = self.lambda.len();
        let mut diag = vec![None; n];
        let mut mean = vec![None; n];
        for (r, &t) in self.nodes.iter().enumerate() {
            let join = |a: &Array2<f64>, b: &Array2<f64>| -> Vec<f64> {
                a.row(r).iter().chain(b.row(r).iter()).copied().collect()
            };
            diag[t] = Some(join(&self.diag, &other.diag));
            mean[t] = Some(join(&self.mean, &other.mean));
        }
        Terms {
            lambda: self.lambda.clone(),
            diag,
            mean,
        }
    }
}

impl KernelFn {
    /// An FNV-1a fingerprint of the DAG, lift and rule, then `extra` (what a caller's
    /// numbers also depend on).
    pub(crate) fn fingerprint_of(&self, extra: &str) -> u64 {
        let dag = serde_json::to_string(self.dag()).unwrap_or_default();
        let lift = self.lift().to_string();
        [dag.as_str(), lift.as_str(), self.kind().name(), extra]
            .iter()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, part| fnv(h, part.as_bytes()))
    }

    /// A fingerprint of everything a kernel entry depends on besides the data.
    fn fingerprint(&self) -> u64 {
        self.fingerprint_of(&format!("tiles normalize={}", self.normalizes()))
    }

    /// The rows of `x` as the streamed kernels read them: checked finite and, when this
    /// function normalises, scaled to `||x_i||^2 = d` (`what` names them in errors).
    pub(crate) fn stream_rows(
        &self,
        x: ArrayView2<'_, f64>,
        what: &'static str,
    ) -> Result<Array2<f64>, KernelError> {
        let (n, d) = x.dim();
        if n == 0 {
            return Err(KernelError::TooFewPoints { n });
        }
        if d == 0 {
            return Err(KernelError::NoFeatures { n });
        }
        super::check_finite(x, what)?;
        crate::budget::check(
            format!("a copy of the N = {n} points (d = {d})"),
            crate::budget::bytes(n, d).and_then(|b| b.checked_mul(8)),
        )?;
        if self.normalizes() {
            return Ok(Inputs::normalize_rows(x));
        }
        let xs = x.to_owned();
        if let Some(i) = (0..n).find(|&i| !(xs.row(i).dot(&xs.row(i)) / d as f64).is_finite()) {
            let largest = x.iter().fold(0.0f64, |a, &v| a.max(v.abs()));
            return Err(KernelError::GramOverflow {
                row: i,
                col: i,
                value: f64::INFINITY,
                largest,
            });
        }
        Ok(xs)
    }

    /// The rule, or [`KernelError::NotStreamed`] for the path-sum rule.
    fn streamed_rule(&self) -> Result<super::exact::Rule, KernelError> {
        self.rule().ok_or(KernelError::NotStreamed {
            rule: self.kind().name(),
        })
    }

    /// The per-point terms of the points `x` (`N x d`; module docs): `O(N)` work and
    /// memory per node, computed once for every tile of the kernel of `x`.
    ///
    /// Errors: bad data as [`KernelFn::nngp`] ([`KernelError::NonFinite`],
    /// [`KernelError::ZeroData`], ...), [`KernelError::NoPath`], and
    /// [`KernelError::NotStreamed`] for the path-sum rule.
    pub fn point_terms(&self, x: ArrayView2<'_, f64>) -> Result<PointTerms, KernelError> {
        let rule = self.streamed_rule()?;
        let xs = self.stream_rows(x, "data matrix")?;
        let (n, d) = xs.dim();
        if xs.iter().all(|&v| v == 0.0) {
            return Err(KernelError::ZeroData { n, d });
        }
        let lift = DataLift::new(xs.view(), self.normalizes(), self.lift(), false);
        let pass = prepare(
            self.dag(),
            LiftTiles::Data(Box::new(lift)),
            rule,
            None,
            (0, 1),
            0,
            Some(1),
        )?;
        let terms = pass.terms();
        let nodes: Vec<usize> = (0..terms.diag.len())
            .filter(|&t| terms.diag[t].is_some())
            .collect();
        let rows = |v: &[Option<Vec<f64>>]| -> Array2<f64> {
            let mut a = Array2::zeros((nodes.len(), n));
            for (r, &t) in nodes.iter().enumerate() {
                let row = v[t].as_ref().expect("needed node");
                a.row_mut(r).assign(&Array1::from(row.clone()));
            }
            a
        };
        let (diag, mean) = (rows(&terms.diag), rows(&terms.mean));
        debug_assert_eq!(pass.output(), self.dag().output());
        PointTerms::from_parts(self.fingerprint(), nodes, terms.lambda, diag, mean)
    }

    /// The estimated peak bytes of one [`KernelFn::tile`] call of `n1 x n2` entries (`n2 =
    /// None`: the symmetric `n1 x n1` tile) for `what`, with this process's threads: the
    /// result, the stacked rows' per-point data and the strips alive at once.
    pub fn tile_bytes(&self, n1: usize, n2: Option<usize>, what: What) -> Option<u64> {
        let width = n2.unwrap_or(n1);
        let n = n1 + n2.unwrap_or(0);
        let outs = if matches!(what, What::Ntk(_)) { 2 } else { 1 };
        let result = (n1 as u64)
            .checked_mul(width as u64)?
            .checked_mul(8 * outs)?;
        let strip_rows = (4096 / width.max(1)).max(1) as u64;
        let tiles = (self.dag().num_nodes() as u64 + 4) * outs * 2;
        let threads = rayon::current_num_threads().max(1) as u64;
        let strips = strip_rows
            .checked_mul(n as u64)?
            .checked_mul(8 * tiles)?
            .checked_mul(threads)?;
        let per_point = (n as u64).checked_mul(self.dag().num_nodes() as u64 * 64)?;
        result.checked_add(strips)?.checked_add(per_point)
    }

    /// The block of the output kernel (`what`: NNGP or NTK) of rows `x1` against columns
    /// `x2`, from their per-point terms `t1` and `t2` (selected from the terms of one
    /// point set, [`PointTerms::select`]); with `x2 = None`, the symmetric kernel of `x1`
    /// (its upper triangle computed, then mirrored).
    ///
    /// The entries equal those of [`KernelFn::nngp`] / [`KernelFn::ntk`] of the whole
    /// set to rounding (module docs). Strips of rows run in parallel.
    ///
    /// Errors: [`KernelError::TermsMismatch`] when a terms object belongs to another
    /// kernel function or has another number of points than its rows, bad data as
    /// [`KernelFn::nngp`], [`KernelError::DimensionMismatch`], [`KernelError::Memory`],
    /// [`KernelError::OutOfRange`] when the entries pass f64's range, and
    /// [`KernelError::NotStreamed`] for the path-sum rule.
    pub fn tile(
        &self,
        x1: ArrayView2<'_, f64>,
        t1: &PointTerms,
        x2: Option<(ArrayView2<'_, f64>, &PointTerms)>,
        what: What,
    ) -> Result<Array2<f64>, KernelError> {
        let rule = self.streamed_rule()?;
        let fp = self.fingerprint();
        let check = |arg: &'static str, x: &ArrayView2<'_, f64>, t: &PointTerms| {
            if t.fingerprint != fp {
                return Err(KernelError::TermsMismatch {
                    argument: arg,
                    why: "they were computed by another kernel function (DAG, lift, rule or normalisation)".into(),
                });
            }
            if t.len() != x.nrows() {
                return Err(KernelError::TermsMismatch {
                    argument: arg,
                    why: format!("they hold {} points, the rows are {}", t.len(), x.nrows()),
                });
            }
            Ok(())
        };
        check("t1", &x1, t1)?;
        let rows1 = self.stream_rows(x1, "x1")?;
        let (xs, terms, split) = match x2 {
            None => (rows1, t1.stack(&t1.select_none()), None),
            Some((x2, t2)) => {
                check("t2", &x2, t2)?;
                if x1.ncols() != x2.ncols() {
                    return Err(KernelError::DimensionMismatch {
                        d1: x1.ncols(),
                        d2: x2.ncols(),
                    });
                }
                let rows2 = self.stream_rows(x2, "x2")?;
                let xs = ndarray::concatenate(Axis(0), &[rows1.view(), rows2.view()])
                    .expect("same columns");
                (xs, t1.stack(t2), Some(x1.nrows()))
            }
        };
        crate::budget::check(
            format!(
                "a {} x {} kernel tile",
                x1.nrows(),
                split.map_or(x1.nrows(), |s| xs.nrows() - s)
            ),
            self.tile_bytes(x1.nrows(), split.map(|s| xs.nrows() - s), what),
        )?;
        let ntk = what.ntk_variant();
        let n = xs.nrows();
        let (row_end, width) = match split {
            None => (n, n),
            Some(s) => (s, n - s),
        };
        let lift = DataLift::new(
            xs.view(),
            self.normalizes(),
            self.lift(),
            ntk == Some(NtkVariant::Full),
        );
        let pass = prepare_with(
            self.dag(),
            LiftTiles::Data(Box::new(lift)),
            rule,
            ntk,
            (row_end, BLOCK.min(width)),
            0,
            Some(BLOCK),
            Some(terms),
        )?;
        // Blocks of `br x bc` entries (`br` the rows the budget admitted for blocks
        // `BLOCK` wide): strips of `br` rows run in parallel, each over its blocks left to
        // right; the symmetric kernel starts each strip at its diagonal block.
        let br = pass.rows.max(1);
        let bc = BLOCK.min(width).max(1);
        let col_start = |i0: usize| split.unwrap_or(i0);
        let off = split.unwrap_or(0);
        let mut out = crate::linalg::zeros_fast(row_end, width);
        let scale = pass.log_scale().exp();
        let with_theta = matches!(ntk, Some(NtkVariant::Full | NtkVariant::FrozenLift));
        let finite = out
            .axis_chunks_iter_mut(Axis(0), br)
            .into_par_iter()
            .enumerate()
            .map(|(s, mut strip)| {
                let (i0, i1) = (s * br, (s * br + br).min(row_end));
                let mut finite = true;
                for c0 in (col_start(i0)..n).step_by(bc) {
                    let c1 = (c0 + bc).min(n);
                    let (k, th) = pass.tile((i0, i1), (c0, c1));
                    let w = c1 - c0;
                    for r in 0..(i1 - i0) {
                        // The symmetric kernel's strict lower triangle is mirrored below.
                        let j0 = if split.is_none() { c0.max(i0 + r) } else { c0 };
                        let dst = &mut strip.row_mut(r);
                        for j in j0..c1 {
                            let q = r * w + (j - c0);
                            let v = if with_theta { k[q] + th[q] } else { k[q] } * scale;
                            finite &= v.is_finite();
                            dst[j - off] = v;
                        }
                    }
                }
                finite
            })
            .reduce(|| true, |a, b| a && b);
        if split.is_none() {
            mirror_upper(&mut out);
        }
        if !finite {
            return Err(KernelError::OutOfRange {
                node: self.dag().output(),
                log10_scale: pass.log_scale() / std::f64::consts::LN_10,
            });
        }
        Ok(out)
    }
}

/// Rows (and columns) of a block of [`KernelFn::tile`]: `64 x 64` entries fit the L2
/// cache with every node's buffers, and the lift's `64 x d` by `d x 64` product is a
/// real matrix product rather than one row at a time.
const BLOCK: usize = 64;

/// Copies the upper triangle of the square `a` onto the lower one in `BLOCK`-sized
/// blocks, one strip of rows at a time with its blocks in parallel (a row-by-row copy
/// reads the upper triangle down its columns).
fn mirror_upper(a: &mut Array2<f64>) {
    let n = a.nrows();
    for i0 in (0..n).step_by(BLOCK) {
        let i1 = (i0 + BLOCK).min(n);
        let (top, rest) = a.view_mut().split_at(Axis(0), i0);
        let mut strip = rest.slice_move(ndarray::s![..i1 - i0, ..]);
        for r in 0..(i1 - i0) {
            for c in 0..r {
                strip[[r, i0 + c]] = strip[[c, i0 + r]];
            }
        }
        let src = top.slice_move(ndarray::s![.., i0..i1]);
        strip
            .slice_mut(ndarray::s![.., ..i0])
            .axis_chunks_iter_mut(Axis(1), BLOCK)
            .into_par_iter()
            .zip(src.axis_chunks_iter(Axis(0), BLOCK).into_par_iter())
            .for_each(|(mut d, s)| {
                // d[r][c] = s[c][r]: contiguous rows of `s`, 8 rows of `d` at a time.
                for r0 in (0..d.nrows()).step_by(8) {
                    let r1 = (r0 + 8).min(d.nrows());
                    for (c, srow) in s.outer_iter().enumerate() {
                        let srow = &srow.as_slice().expect("rows are contiguous")[r0..r1];
                        for (k, &v) in srow.iter().enumerate() {
                            d[[r0 + k, c]] = v;
                        }
                    }
                }
            });
    }
}

impl PointTerms {
    /// No points, with the same nodes and scales (stacking with it changes nothing).
    fn select_none(&self) -> PointTerms {
        PointTerms {
            fingerprint: self.fingerprint,
            nodes: self.nodes.clone(),
            lambda: self.lambda.clone(),
            diag: Array2::zeros((self.nodes.len(), 0)),
            mean: Array2::zeros((self.nodes.len(), 0)),
        }
    }
}
