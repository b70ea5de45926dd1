//! Duals entry by entry, for kernels evaluated tile by tile ([`crate::kernel::stream`]).
//!
//! [`EntryMap`] is built once from the pre-activation variances `Sigma_ii` of every point
//! (`Sigma = sw2 K + sb2`) and then gives, for any pair `(i, j)` and covariance
//! `Sigma_ij`, both duals `(E[phi(u) phi(v)], E[phi'(u) phi'(v)])`, the same values as
//! [`super::Activation::dual_matrix`]'s routes: closed forms where the activation has
//! them, otherwise Chebyshev tables in `theta` per pair of variance groups (when they pay
//! off, module [`super`]'s "Matrices and cost") or one 2-D quadrature per entry. The
//! diagonal is the 1-D expectation `E[f(u)^2]`, zero variances follow the zero-variance
//! rule, and the point means `E[phi(u)]` come with it.

use super::matrix::{closed_row, group_tables, groups, tables_pay_off};
use super::quadrature;
use super::rule::{self, fast_acos, fun, How, Point, Rule};
use super::table::Table;
use super::{abrelu, abs, erf, gelu, identity, relu, silu, softplus, tanh};
use super::{Activation, Dual};

/// How the off-diagonal entries are evaluated.
enum Route {
    Closed(Vec<Point>),
    Tables {
        group: Vec<usize>,
        d: usize,
        nngp: Vec<Table>,
        ntk: Vec<Table>,
    },
    Direct,
}

/// Both duals of one activation at every pair of a fixed set of points (module docs).
///
/// ```
/// use archconv::activation::{Activation, Dual, EntryMap};
/// let var = [1.0, 2.0, 0.5];
/// let m = EntryMap::new(&Activation::Gelu, &var);
/// let (nngp, ntk) = m.pair(0, 1, 0.7);
/// assert!((nngp - Activation::Gelu.dual(Dual::Nngp, 1.0, 2.0, 0.7)).abs() < 1e-15);
/// assert!((ntk - Activation::Gelu.dual(Dual::Ntk, 1.0, 2.0, 0.7)).abs() < 1e-15);
/// assert!((m.mean(2) - Activation::Gelu.mean(0.5)).abs() < 1e-15);
/// ```
pub struct EntryMap {
    act: Activation,
    var: Vec<f64>,
    inv: Vec<f64>,
    /// `sqrt(var)` for the plain ReLU with finite variances: its NNGP rows take the
    /// vectorised `h` of the paper's map ([`crate::kernel::relu::h`]).
    relu_sd: Option<Vec<f64>>,
    diag: Vec<(f64, f64)>,
    mean: Vec<f64>,
    route: Route,
}

impl EntryMap {
    /// The map for points with pre-activation variances `var` (`Sigma_ii`, clamped at 0).
    pub fn new(act: &Activation, var: &[f64]) -> EntryMap {
        with_rule!(act, r => EntryMap::build(r, act, var))
    }

    fn build<R: Rule>(r: &R, act: &Activation, var: &[f64]) -> EntryMap {
        let var: Vec<f64> = var
            .iter()
            .map(|&s| if s.is_nan() { s } else { s.max(0.0) })
            .collect();
        let inv = var
            .iter()
            .map(|&s| if s > 0.0 { 1.0 / s.sqrt() } else { 0.0 })
            .collect();
        let route = if R::CLOSED {
            Route::Closed(
                var.iter()
                    .map(|&s| r.point(if s > 0.0 { s } else { 1.0 }))
                    .collect(),
            )
        } else if tables_pay_off(&var) {
            let g = groups(&var);
            let d = g.rep.len();
            Route::Tables {
                group: g.of.clone(),
                d,
                nngp: group_tables(r, &g, Dual::Nngp),
                ntk: group_tables(r, &g, Dual::Ntk),
            }
        } else {
            Route::Direct
        };
        let how = if R::CLOSED {
            How::Auto
        } else {
            How::Quadrature
        };
        let diag = var
            .iter()
            .map(|&s| {
                (
                    rule::diag_of(r, Dual::Nngp, s, how),
                    rule::diag_of(r, Dual::Ntk, s, how),
                )
            })
            .collect();
        let mean = var
            .iter()
            .map(|&s| {
                if s.is_nan() {
                    f64::NAN
                } else if s > 0.0 {
                    rule::mean_of(r, Dual::Nngp, s, How::Auto)
                } else {
                    r.phi(0.0)
                }
            })
            .collect();
        let relu_sd = (matches!(act, Activation::Relu) && var.iter().all(|v| v.is_finite()))
            .then(|| var.iter().map(|&s| s.sqrt()).collect());
        EntryMap {
            act: act.clone(),
            var,
            inv,
            relu_sd,
            diag,
            mean,
            route,
        }
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.var.len()
    }

    /// Whether there are no points.
    pub fn is_empty(&self) -> bool {
        self.var.is_empty()
    }

    /// `E[phi(u)]`, `u ~ N(0, Sigma_ii)`.
    #[inline]
    pub fn mean(&self, i: usize) -> f64 {
        self.mean[i]
    }

    /// `E[phi(u)]` at every point.
    pub fn means(&self) -> &[f64] {
        &self.mean
    }

    /// `(E[phi(u)^2], E[phi'(u)^2])` at point `i` (the diagonal).
    #[inline]
    pub fn diag(&self, i: usize) -> (f64, f64) {
        self.diag[i]
    }

    /// `(E[phi(u) phi(v)], E[phi'(u) phi'(v)])` for points `i, j` with covariance `s12`
    /// (`i == j` gives [`EntryMap::diag`]).
    #[inline]
    pub fn pair(&self, i: usize, j: usize, s12: f64) -> (f64, f64) {
        if i == j {
            return self.diag[i];
        }
        with_rule!(&self.act, r => self.pair_with(r, i, j, s12))
    }

    /// [`EntryMap::pair`] for point `i` against the points `c0, c0 + 1, ...`, one per
    /// entry of `s12` (their covariances with `i`): `E[phi(u) phi(v)]` into `nngp` and,
    /// when given, `E[phi'(u) phi'(v)]` into `ntk`. The activation is dispatched once per
    /// row rather than per entry (the streamed kernels' inner loop).
    pub fn row_pairs(
        &self,
        i: usize,
        c0: usize,
        s12: &[f64],
        nngp: &mut [f64],
        ntk: Option<&mut [f64]>,
    ) {
        if let (None, Some(sd)) = (&ntk, &self.relu_sd) {
            // E[relu(u) relu(v)] = sqrt(S_ii S_jj) h(rho) / 2; zero variances give 0.
            let w = s12.len();
            crate::kernel::relu::h_row(
                nngp,
                s12,
                &sd[c0..c0 + w],
                &self.inv[c0..c0 + w],
                0.5 * sd[i],
                self.inv[i],
            );
            if (c0..c0 + w).contains(&i) {
                nngp[i - c0] = self.diag[i].0;
            }
            return;
        }
        let (ntk, sd) = match (ntk, &self.relu_sd) {
            (Some(ntk), Some(sd)) => (ntk, sd),
            (ntk, _) => {
                return with_rule!(&self.act, r => self.row_pairs_with(r, i, c0, s12, nngp, ntk))
            }
        };
        let w = s12.len();
        super::relu::pair_row(
            nngp,
            ntk,
            s12,
            &sd[c0..c0 + w],
            &self.inv[c0..c0 + w],
            sd[i],
            self.inv[i],
        );
        // The diagonal and zero variances take the per-pair route.
        for q in 0..w {
            let j = c0 + q;
            if i == j || self.var[i] == 0.0 || self.var[j] == 0.0 || s12[q].is_nan() {
                (nngp[q], ntk[q]) = self.pair(i, j, s12[q]);
            }
        }
    }

    fn row_pairs_with<R: Rule>(
        &self,
        r: &R,
        i: usize,
        c0: usize,
        s12: &[f64],
        nngp: &mut [f64],
        ntk: Option<&mut [f64]>,
    ) {
        match ntk {
            Some(ntk) => {
                for (q, ((&s, a), b)) in s12.iter().zip(nngp.iter_mut()).zip(ntk).enumerate() {
                    let j = c0 + q;
                    (*a, *b) = if i == j {
                        self.diag[i]
                    } else {
                        self.pair_with(r, i, j, s)
                    };
                }
            }
            None => {
                for (q, (&s, a)) in s12.iter().zip(nngp.iter_mut()).enumerate() {
                    let j = c0 + q;
                    *a = if i == j {
                        self.diag[i].0
                    } else {
                        self.pair_with(r, i, j, s).0
                    };
                }
            }
        }
    }

    #[inline(always)]
    fn pair_with<R: Rule>(&self, r: &R, i: usize, j: usize, s12: f64) -> (f64, f64) {
        let (si, sj) = (self.var[i], self.var[j]);
        if si.is_nan() || sj.is_nan() || s12.is_nan() {
            return (f64::NAN, f64::NAN);
        }
        let how = if R::CLOSED {
            How::Auto
        } else {
            How::Quadrature
        };
        if si == 0.0 || sj == 0.0 {
            let other = si.max(sj);
            return (
                rule::zero_variance(r, Dual::Nngp, other, how),
                rule::zero_variance(r, Dual::Ntk, other, how),
            );
        }
        match &self.route {
            Route::Closed(p) => {
                let q = r.closed(&p[i], &p[j], s12);
                (q.nngp, q.ntk)
            }
            Route::Tables {
                group,
                d,
                nngp,
                ntk,
            } => {
                let (a, b) = (group[i].min(group[j]), group[i].max(group[j]));
                let k = a * d - a * (a + 1) / 2 + b;
                let th = fast_acos(rule::corr(s12, self.inv[i], self.inv[j]));
                (nngp[k].eval(th), ntk[k].eval(th))
            }
            Route::Direct => {
                let (rho, rho_c) = rule::correlation(si, sj, s12);
                let (sdi, sdj) = (si.sqrt(), sj.sqrt());
                let e = |which: Dual| {
                    let f = |x: f64| fun(r, which, x);
                    quadrature::expect_pair(f, f, sdi, sdj, rho, rho_c)
                };
                (e(Dual::Nngp), e(Dual::Ntk))
            }
        }
    }
}

/// Rows of a closed-form dual matrix `F(K)` ([`Activation::dual_matrix`]) computed on
/// demand, for a consumer that reads the map once and would otherwise store all `N x N`
/// of it. Row `i` holds the same entries as the matrix's row (up to the mirror: the
/// matrix computes its lower triangle and copies it, a row reads `K`'s row `i`); the
/// diagonal is the 1-D expectation and zero variances follow the zero-variance rule.
pub(crate) struct ClosedRows<'a> {
    act: Activation,
    k: ndarray::ArrayView2<'a, f64>,
    sw2: f64,
    sb2: f64,
    which: Dual,
    var: Vec<f64>,
    pts: Vec<Point>,
    cols: [Vec<f64>; 3],
    diag: Vec<f64>,
    /// `zero_variance(var_j)` per point, when some variance is zero.
    zero: Option<Vec<f64>>,
}

impl<'a> ClosedRows<'a> {
    /// The row map of `act`'s `which` dual on `Sigma = sw2 K + sb2`; `None` when the
    /// activation has no closed form (its maps need tables or quadrature) or a variance is
    /// not finite.
    pub(crate) fn new(
        act: &Activation,
        k: ndarray::ArrayView2<'a, f64>,
        sw2: f64,
        sb2: f64,
        which: Dual,
    ) -> Option<ClosedRows<'a>> {
        with_rule!(act, r => ClosedRows::build(r, act, k, sw2, sb2, which))
    }

    fn build<R: Rule>(
        r: &R,
        act: &Activation,
        k: ndarray::ArrayView2<'a, f64>,
        sw2: f64,
        sb2: f64,
        which: Dual,
    ) -> Option<ClosedRows<'a>> {
        if !R::CLOSED {
            return None;
        }
        let var: Vec<f64> = k.diag().iter().map(|&x| (sw2 * x + sb2).max(0.0)).collect();
        if var.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let pts: Vec<Point> = var
            .iter()
            .map(|&s| r.point(if s > 0.0 { s } else { 1.0 }))
            .collect();
        let cols = std::array::from_fn(|c| pts.iter().map(|q| q[c]).collect());
        let diag = var
            .iter()
            .map(|&s| rule::diag_of(r, which, s, How::Auto))
            .collect();
        let zero = var.contains(&0.0).then(|| {
            var.iter()
                .map(|&s| rule::zero_variance(r, which, s, How::Auto))
                .collect()
        });
        Some(ClosedRows {
            act: act.clone(),
            k,
            sw2,
            sb2,
            which,
            var,
            pts,
            cols,
            diag,
            zero,
        })
    }

    /// Writes row `i` of the map into `o` (length `N`).
    pub(crate) fn row(&self, i: usize, o: &mut [f64]) {
        with_rule!(&self.act, r => self.row_with(r, i, o))
    }

    fn row_with<R: Rule>(&self, r: &R, i: usize, o: &mut [f64]) {
        let row = self.k.row(i);
        let copied;
        let kr = match row.as_slice() {
            Some(s) => s,
            None => {
                copied = row.to_vec();
                &copied
            }
        };
        let [c0, c1, c2] = &self.cols;
        closed_row(
            r,
            o,
            kr,
            c0,
            c1,
            c2,
            self.pts[i],
            self.sw2,
            self.sb2,
            self.which,
        );
        if let Some(z) = &self.zero {
            if self.var[i] == 0.0 {
                o.copy_from_slice(z);
            } else {
                for (j, oj) in o.iter_mut().enumerate() {
                    if self.var[j] == 0.0 {
                        *oj = z[i];
                    }
                }
            }
        }
        o[i] = self.diag[i];
    }
}

impl Activation {
    /// Whether `phi(c x) = c phi(x)` for all `c > 0` (ReLU, ABReLU/leaky ReLU, Abs,
    /// identity). Kernels of such networks can be kept in scaled form past f64's range
    /// ([`crate::kernel::stream`]).
    ///
    /// ```
    /// use archconv::activation::Activation;
    /// assert!(Activation::Relu.is_positively_homogeneous());
    /// assert!(!Activation::Erf.is_positively_homogeneous());
    /// ```
    pub fn is_positively_homogeneous(&self) -> bool {
        with_rule!(self, r => homogeneous_of(r))
    }
}

fn homogeneous_of<R: Rule>(_: &R) -> bool {
    R::HOMOGENEOUS
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// The vectorised ReLU row of both duals equals the per-pair closed form bit for bit
    /// (the same operations in the same order), at correlations inside, at and past the
    /// snap to +-1, with zero variances and the diagonal in the row.
    #[test]
    fn relu_rows_with_the_ntk_equal_the_per_pair_route_bit_for_bit() {
        let var = [1.7, 0.0, 2.3, 0.4, 1.0, 3.1, 0.9, 1.0, 2.0, 0.25, 5.0];
        let m = EntryMap::new(&Activation::Relu, &var);
        let n = var.len();
        for i in 0..n {
            for c0 in [0, 3] {
                let s12: Vec<f64> = (c0..n)
                    .map(|j| {
                        let full = (var[i] * var[j]).sqrt();
                        // Correlations from -1 to 1, with j = 7 exactly at 1 (snap) and
                        // j = 8 a hair inside it.
                        let rho = match j {
                            7 => 1.0,
                            8 => 1.0 - 3.0 * f64::EPSILON,
                            _ => ((i * 7 + j * 3) % 11) as f64 / 5.0 - 1.0,
                        };
                        rho * full
                    })
                    .collect();
                let w = s12.len();
                let (mut a, mut b) = (vec![0.0; w], vec![0.0; w]);
                m.row_pairs(i, c0, &s12, &mut a, Some(&mut b));
                for q in 0..w {
                    let (pa, pb) = m.pair(i, c0 + q, s12[q]);
                    assert_eq!(
                        (a[q].to_bits(), b[q].to_bits()),
                        (pa.to_bits(), pb.to_bits()),
                        "{i},{}",
                        c0 + q
                    );
                }
            }
        }
    }

    /// `ClosedRows` gives `dual_matrix`'s rows (zero-variance points included) for every
    /// closed form, and refuses quadrature activations.
    #[test]
    fn closed_rows_match_dual_matrix() {
        let k = array![
            [1.0, 0.5, -0.2, 0.0],
            [0.5, 2.0, 0.3, 0.0],
            [-0.2, 0.3, 0.7, 0.0],
            [0.0, 0.0, 0.0, 0.0]
        ];
        for act in [
            Activation::Relu,
            Activation::AbRelu { a: 0.1, b: 0.9 },
            Activation::Abs,
            Activation::Erf,
            Activation::Gelu,
            Activation::Identity,
        ] {
            for (sw2, sb2) in [(2.0, 0.0), (1.3, 0.2)] {
                for which in [Dual::Nngp, Dual::Ntk] {
                    let m = act.dual_matrix(k.view(), sw2, sb2, which);
                    let rows = ClosedRows::new(&act, k.view(), sw2, sb2, which).unwrap();
                    let mut o = vec![0.0; 4];
                    for i in 0..4 {
                        rows.row(i, &mut o);
                        for j in 0..4 {
                            let d = (o[j] - m[[i, j]]).abs();
                            assert!(
                                d <= 1e-15 * (1.0 + m[[i, j]].abs()),
                                "{act} {i},{j}: {} vs {}",
                                o[j],
                                m[[i, j]]
                            );
                        }
                    }
                }
            }
        }
        assert!(ClosedRows::new(&Activation::Tanh, k.view(), 1.0, 0.0, Dual::Nngp).is_none());
    }

    /// Every route of `EntryMap` equals `dual_matrix`'s entries (closed forms, tables for
    /// normalised points, per-entry quadrature for distinct variances).
    #[test]
    fn matches_dual_matrix() {
        let k = array![[1.0, 0.5, -0.2], [0.5, 1.0, 0.3], [-0.2, 0.3, 1.0]];
        let k2 = array![[1.0, 0.5, -0.2], [0.5, 2.0, 0.3], [-0.2, 0.3, 0.7]];
        for act in [
            Activation::Relu,
            Activation::Erf,
            Activation::Tanh,
            Activation::Silu,
        ] {
            for kk in [&k, &k2] {
                let (sw2, sb2) = (1.3, 0.2);
                let var: Vec<f64> = kk.diag().iter().map(|&v| sw2 * v + sb2).collect();
                let m = EntryMap::new(&act, &var);
                let a = act.dual_matrix(kk.view(), sw2, sb2, Dual::Nngp);
                let b = act.dual_matrix(kk.view(), sw2, sb2, Dual::Ntk);
                for i in 0..3 {
                    for j in 0..3 {
                        let (x, y) = m.pair(i, j, sw2 * kk[[i, j]] + sb2);
                        assert!(
                            (x - a[[i, j]]).abs() < 1e-14,
                            "{act} nngp {i},{j}: {x} vs {}",
                            a[[i, j]]
                        );
                        assert!(
                            (y - b[[i, j]]).abs() < 1e-14,
                            "{act} ntk {i},{j}: {y} vs {}",
                            b[[i, j]]
                        );
                    }
                }
            }
        }
    }
}
