//! The entrywise dual of a kernel matrix, `F(K)_ij = E[f(u) f(v)]` with covariance
//! `Sigma = sw2 K + sb2` (PAPER.md section 9): closed forms row by row, quadrature through
//! tables in `theta` or per entry.
//!
//! Only the strict lower triangle is computed (rows in parallel); it is then mirrored, so
//! the output is exactly symmetric whatever the upper triangle of `K` holds. The diagonal
//! comes from the one-dimensional expectation `E[f(u)^2]`, and rows of zero variance from
//! the zero-variance rule (`u = 0`: `E[f(0) f(v)] = f(0) E[f(v)]`).

use super::quadrature;
use super::rule::{self, fast_acos, fun, How, Point, Rule};
use super::table::Table;
use super::{Dual, Route};
use ndarray::{Array2, ArrayView1, ArrayView2, ArrayViewMut1, Axis};
use rayon::prelude::*;
use std::collections::HashMap;

/// Diagonal values within this relative distance share one table (inputs normalised in
/// floating point differ by a few ulps); the representative is the middle of the group,
/// which moves an entry by at most ~2e-15 of its scale.
const SAME_VARIANCE: f64 = 4e-15;
/// Samples of a typical table (for the cost rule: a table costs about this many entries
/// of per-entry quadrature).
const TABLE_SAMPLES: usize = 65;

/// The route actually taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    Closed,
    Tables,
    Direct,
}

/// Per-point data: variance, its square root and inverse square root (0 for zero variance).
struct Points {
    var: Vec<f64>,
    sd: Vec<f64>,
    inv: Vec<f64>,
}

impl Points {
    fn new(k: ArrayView2<'_, f64>, sw2: f64, sb2: f64) -> Points {
        let var: Vec<f64> = k
            .diag()
            .iter()
            .map(|&x| {
                let s = sw2 * x + sb2;
                if s.is_nan() {
                    s
                } else {
                    s.max(0.0)
                }
            })
            .collect();
        let sd: Vec<f64> = var.iter().map(|s| s.sqrt()).collect();
        let inv = sd
            .iter()
            .map(|&s| if s > 0.0 { 1.0 / s } else { 0.0 })
            .collect();
        Points { var, sd, inv }
    }
}

/// `F(K)` for one activation (see [`super::Activation::dual_matrix`]).
#[track_caller]
pub(crate) fn dual_matrix<R: Rule>(
    r: &R,
    k: ArrayView2<'_, f64>,
    sw2: f64,
    sb2: f64,
    which: Dual,
    route: Route,
) -> Array2<f64> {
    let n = k.nrows();
    assert_eq!(
        n,
        k.ncols(),
        "dual_matrix: K must be square, got {} x {}",
        n,
        k.ncols()
    );
    assert!(
        sw2.is_finite() && sw2 >= 0.0 && sb2.is_finite() && sb2 >= 0.0,
        "dual_matrix: sw2 = {sw2} and sb2 = {sb2} must be finite and >= 0"
    );
    let pts = Points::new(k, sw2, sb2);
    let mut out = crate::linalg::zeros_fast(n, n);
    let path = match route {
        Route::Auto if R::CLOSED => Path::Closed,
        Route::Auto => {
            if tables_pay_off(&pts.var) {
                Path::Tables
            } else {
                Path::Direct
            }
        }
        Route::Tables => Path::Tables,
        Route::Direct => Path::Direct,
    };
    let how = if path == Path::Closed {
        How::Auto
    } else {
        How::Quadrature
    };
    match path {
        Path::Closed => closed_lower(r, k, sw2, sb2, &pts, which, &mut out),
        Path::Tables => tables_lower(r, k, sw2, sb2, &pts, which, &mut out),
        Path::Direct => direct_lower(r, k, sw2, sb2, &pts, which, &mut out),
    }
    mirror_lower(&mut out);
    // Diagonal (1-D expectation) and zero-variance rows, with one evaluation per distinct
    // variance.
    let mut diag_cache: HashMap<u64, f64> = HashMap::new();
    for i in 0..n {
        let s = pts.var[i];
        out[[i, i]] = *diag_cache
            .entry(s.to_bits())
            .or_insert_with(|| rule::diag_of(r, which, s, how));
    }
    if pts.var.contains(&0.0) {
        let mut zero_cache: HashMap<u64, f64> = HashMap::new();
        let z: Vec<f64> = pts
            .var
            .iter()
            .map(|&s| {
                *zero_cache
                    .entry(s.to_bits())
                    .or_insert_with(|| rule::zero_variance(r, which, s, how))
            })
            .collect();
        for i in (0..n).filter(|&i| pts.var[i] == 0.0) {
            for j in (0..n).filter(|&j| j != i) {
                out[[i, j]] = z[j];
                out[[j, i]] = z[j];
            }
        }
    }
    // NaN on the diagonal: NaN rows and columns (the routes skip such points).
    for i in (0..n).filter(|&i| pts.var[i].is_nan()) {
        out.row_mut(i).fill(f64::NAN);
        out.column_mut(i).fill(f64::NAN);
    }
    out
}

/// Row `i` of `K` as a slice (copied when its entries are not contiguous).
fn row_slice<'a>(row: ArrayView1<'a, f64>, buf: &'a mut Vec<f64>) -> &'a [f64] {
    match row.to_slice() {
        Some(s) => s,
        None => {
            *buf = row.to_vec();
            buf
        }
    }
}

/// Runs `f(i, row_i)` on every row of `out`, in parallel when the work (`weight` cheap
/// entries per entry) is large enough.
fn for_rows(
    out: &mut Array2<f64>,
    weight: usize,
    f: impl Fn(usize, ArrayViewMut1<'_, f64>) + Send + Sync,
) {
    let n = out.nrows();
    if crate::linalg::parallel(n * n / 2 * weight) {
        out.axis_iter_mut(Axis(0))
            .into_par_iter()
            .enumerate()
            .for_each(|(i, row)| f(i, row));
    } else {
        out.axis_iter_mut(Axis(0))
            .enumerate()
            .for_each(|(i, row)| f(i, row));
    }
}

crate::simd::avx2_dispatch! {
    /// `o[j] = closed(p_i, p_j, sw2 k[j] + sb2)` for one row (`j < i`).
    pub(super) fn closed_row[R: Rule](
        r: &R,
        o: &mut [f64],
        kr: &[f64],
        p0: &[f64],
        p1: &[f64],
        p2: &[f64],
        pi: Point,
        sw2: f64,
        sb2: f64,
        which: Dual,
    ) {
        let it = o.iter_mut().zip(kr).zip(p0).zip(p1).zip(p2);
        match which {
            Dual::Nngp => {
                for ((((oj, &k), &a), &b), &c) in it {
                    *oj = r.closed(&pi, &[a, b, c], sw2 * k + sb2).nngp;
                }
            }
            Dual::Ntk => {
                for ((((oj, &k), &a), &b), &c) in it {
                    *oj = r.closed(&pi, &[a, b, c], sw2 * k + sb2).ntk;
                }
            }
        }
    }
}

fn closed_lower<R: Rule>(
    r: &R,
    k: ArrayView2<'_, f64>,
    sw2: f64,
    sb2: f64,
    pts: &Points,
    which: Dual,
    out: &mut Array2<f64>,
) {
    // Zero variances get a harmless stand-in; their rows are overwritten afterwards.
    let p: Vec<Point> = pts
        .var
        .iter()
        .map(|&s| r.point(if s > 0.0 { s } else { 1.0 }))
        .collect();
    let cols: [Vec<f64>; 3] = std::array::from_fn(|c| p.iter().map(|q| q[c]).collect());
    for_rows(out, 1, |i, mut orow| {
        let o = &mut orow.as_slice_mut().expect("contiguous output")[..i];
        let mut buf = Vec::new();
        let kr = &row_slice(k.row(i), &mut buf)[..i];
        closed_row(
            r,
            o,
            kr,
            &cols[0][..i],
            &cols[1][..i],
            &cols[2][..i],
            p[i],
            sw2,
            sb2,
            which,
        );
    });
}

fn direct_lower<R: Rule>(
    r: &R,
    k: ArrayView2<'_, f64>,
    sw2: f64,
    sb2: f64,
    pts: &Points,
    which: Dual,
    out: &mut Array2<f64>,
) {
    let f = |x: f64| fun(r, which, x);
    for_rows(out, 1 << 14, |i, mut orow| {
        if pts.var[i] == 0.0 {
            return;
        }
        for j in 0..i {
            if pts.var[j] == 0.0 {
                continue;
            }
            let s12 = sw2 * k[[i, j]] + sb2;
            let (rho, rho_c) = rule::correlation(pts.var[i], pts.var[j], s12);
            orow[j] = quadrature::expect_pair(f, f, pts.sd[i], pts.sd[j], rho, rho_c);
        }
    });
}

/// Groups of (nearly) equal positive variances: group index per point (`usize::MAX` for
/// zero variance) and each group's representative variance and members (ascending).
pub(super) struct Groups {
    pub(super) of: Vec<usize>,
    pub(super) rep: Vec<f64>,
    members: Vec<Vec<usize>>,
}

pub(super) fn groups(var: &[f64]) -> Groups {
    let mut idx: Vec<usize> = (0..var.len()).filter(|&i| var[i] > 0.0).collect();
    idx.sort_by(|&a, &b| var[a].total_cmp(&var[b]));
    let mut of = vec![usize::MAX; var.len()];
    let (mut rep, mut members) = (Vec::new(), Vec::<Vec<usize>>::new());
    let mut first = f64::NAN;
    let mut last = f64::NAN;
    for &i in &idx {
        let s = var[i];
        if members.is_empty() || s > first * (1.0 + SAME_VARIANCE) {
            if !members.is_empty() {
                rep.push(0.5 * (first + last));
            }
            members.push(Vec::new());
            first = s;
        }
        last = s;
        of[i] = members.len() - 1;
        members.last_mut().expect("just pushed").push(i);
    }
    if !members.is_empty() {
        rep.push(0.5 * (first + last));
    }
    for m in &mut members {
        m.sort_unstable();
    }
    Groups { of, rep, members }
}

/// Whether per-pair tables cost less than per-entry quadrature: `pairs * TABLE_SAMPLES`
/// samples against one sample per lower-triangle entry.
pub(super) fn tables_pay_off(var: &[f64]) -> bool {
    let g = groups(var);
    let d = g.rep.len();
    let m = g.members.iter().map(Vec::len).sum::<usize>();
    let pairs = d * (d + 1) / 2;
    pairs.saturating_mul(TABLE_SAMPLES) < m * m.saturating_sub(1) / 2
}

crate::simd::avx2_dispatch! {
    /// `th[j] = arccos(clamp((sw2 k[j] + sb2) inv_i inv[j]))`.
    fn angles(th: &mut [f64], kr: &[f64], inv: &[f64], inv_i: f64, sw2: f64, sb2: f64) {
        for ((t, &k), &v) in th.iter_mut().zip(kr).zip(inv) {
            *t = fast_acos(rule::corr(sw2 * k + sb2, inv_i, v));
        }
    }
}

/// One table in `theta` per pair `a <= b` of variance groups (row-major upper triangle:
/// pair `(a, b)` at `a d - a (a + 1) / 2 + b`), built in parallel by quadrature.
pub(super) fn group_tables<R: Rule>(r: &R, g: &Groups, which: Dual) -> Vec<Table> {
    let d = g.rep.len();
    let f = |x: f64| fun(r, which, x);
    let diag: Vec<f64> = g
        .rep
        .iter()
        .map(|&s| rule::diag_of(r, which, s, How::Quadrature))
        .collect();
    // E[f(u) f(-v)] = q E[f(u) f(v)] when f has parity q (phi' has the opposite parity).
    let mirror = r.parity().map(|p| match which {
        Dual::Nngp => p,
        Dual::Ntk => -p,
    });
    let pairs: Vec<(usize, usize)> = (0..d).flat_map(|a| (a..d).map(move |b| (a, b))).collect();
    pairs
        .par_iter()
        .map(|&(a, b)| {
            let (sa, sb) = (g.rep[a].sqrt(), g.rep[b].sqrt());
            let scale = (diag[a] * diag[b]).sqrt();
            Table::build(
                |t| quadrature::expect_pair(f, f, sa, sb, t.cos(), t.sin()),
                scale,
                mirror,
            )
        })
        .collect()
}

fn tables_lower<R: Rule>(
    r: &R,
    k: ArrayView2<'_, f64>,
    sw2: f64,
    sb2: f64,
    pts: &Points,
    which: Dual,
    out: &mut Array2<f64>,
) {
    let g = groups(&pts.var);
    let d = g.rep.len();
    let tables = group_tables(r, &g, which);
    let table = |a: usize, b: usize| {
        let (a, b) = if a <= b { (a, b) } else { (b, a) };
        // Index of (a, b) in the row-major upper triangle of the d x d group pairs.
        &tables[a * d - a * (a + 1) / 2 + b]
    };
    let contiguous = d == 1 && g.members[0].len() == pts.var.len();
    let weight = tables.iter().map(Table::terms).max().unwrap_or(1);
    for_rows(out, weight, |i, mut orow| {
        let gi = g.of[i];
        if gi == usize::MAX {
            return;
        }
        let o = orow.as_slice_mut().expect("contiguous output");
        let mut buf = Vec::new();
        let kr = row_slice(k.row(i), &mut buf);
        if contiguous {
            let mut th = vec![0.0; i];
            angles(&mut th, &kr[..i], &pts.inv[..i], pts.inv[i], sw2, sb2);
            table(gi, gi).eval_slice(&th, &mut o[..i]);
            return;
        }
        let (mut th, mut val) = (Vec::new(), Vec::new());
        for (gj, members) in g.members.iter().enumerate() {
            let js = &members[..members.partition_point(|&j| j < i)];
            if js.is_empty() {
                continue;
            }
            th.clear();
            th.extend(
                js.iter()
                    .map(|&j| fast_acos(rule::corr(sw2 * kr[j] + sb2, pts.inv[i], pts.inv[j]))),
            );
            val.resize(js.len(), 0.0);
            table(gi, gj).eval_slice(&th, &mut val);
            for (&j, &v) in js.iter().zip(&val) {
                o[j] = v;
            }
        }
    });
}

/// Raw pointer to the output, shared by the mirroring tasks.
#[derive(Clone, Copy)]
struct SharedOut(*mut f64);
// SAFETY: used only in `mirror_lower`, where tasks write disjoint upper-triangle entries and
// read only lower-triangle entries, which no task writes.
unsafe impl Send for SharedOut {}
unsafe impl Sync for SharedOut {}

/// Copies the strict lower triangle onto the upper one, in parallel tiles.
fn mirror_lower(out: &mut Array2<f64>) {
    const B: usize = 64;
    let n = out.nrows();
    let nb = n.div_ceil(B);
    let slice = out
        .as_slice_mut()
        .expect("dual_matrix output is in standard layout");
    if !crate::linalg::parallel(n * n) {
        for i in 0..n {
            for j in i + 1..n {
                slice[i * n + j] = slice[j * n + i];
            }
        }
        return;
    }
    let ptr = SharedOut(slice.as_mut_ptr());
    let tiles: Vec<(usize, usize)> = (0..nb).flat_map(|a| (a..nb).map(move |b| (a, b))).collect();
    tiles.into_par_iter().for_each(move |(bi, bj)| {
        let p = ptr;
        for i in bi * B..((bi + 1) * B).min(n) {
            for j in (i + 1).max(bj * B)..((bj + 1) * B).min(n) {
                // SAFETY: `i < j < n`, so (i, j) is an upper entry of this tile only (tiles
                // are disjoint) and (j, i) a lower entry, never written here; both lie in
                // the n x n buffer behind `ptr`, which outlives the parallel loop.
                unsafe {
                    *p.0.add(i * n + j) = *p.0.add(j * n + i);
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    #[test]
    fn fast_acos_matches_libm() {
        let mut worst: f64 = 0.0;
        for i in -100_000..=100_000 {
            let r = i as f64 / 100_000.0;
            worst = worst.max((fast_acos(r) - r.acos()).abs());
        }
        assert!(worst < 2e-15, "worst {worst:e}");
        assert_eq!(fast_acos(1.0), 0.0);
        assert_eq!(fast_acos(-1.0), PI);
    }

    #[test]
    fn groups_merge_only_nearly_equal_variances() {
        let v = [
            1.0,
            1.0 + 2e-16,
            0.0,
            2.0,
            1.0 - 1e-16,
            2.0 * (1.0 + 1e-15),
            3.0,
        ];
        let g = groups(&v);
        assert_eq!(g.rep.len(), 3);
        assert_eq!(g.of[2], usize::MAX);
        assert_eq!(g.of[0], g.of[1]);
        assert_eq!(g.of[0], g.of[4]);
        assert_eq!(g.of[3], g.of[5]);
        assert_eq!(g.members[g.of[0]], vec![0, 1, 4]);
    }

    #[test]
    fn mirror_makes_exact_copies() {
        for n in [5, 300] {
            let mut a = Array2::from_shape_fn((n, n), |(i, j)| (i * 31 + j * 7) as f64);
            mirror_lower(&mut a);
            for i in 0..n {
                for j in 0..i {
                    assert_eq!(a[[j, i]], a[[i, j]]);
                    assert_eq!(a[[i, j]], (i * 31 + j * 7) as f64);
                }
            }
        }
    }
}
