//! Gaussian expectations by Gauss–Legendre quadrature on graded panels (PAPER.md section 9).
//!
//! Every expectation is written over standard normals: for `u ~ N(0, s11)`,
//! `v ~ N(0, s22)` with correlation `rho` (`rho' = sqrt(1 - rho^2)`),
//!
//! ```text
//! u = sigma1 x,   v = sigma2 (rho x + rho' y),   x, y iid N(0, 1)
//! E[g(u) h(v)] = int phi(x) g(sigma1 x) [ int phi(y) h(sigma2 rho x + sigma2 rho' y) dy ] dx
//! ```
//!
//! with `phi` the standard normal density. Both integrals are truncated to `[-L, L]`,
//! `L = 9.25` (the Gaussian tail beyond, weighted by `x^2`, is below 1e-18), and cut into
//! panels, each integrated by [`NODES`]-point Gauss–Legendre with the density folded into
//! the weights (12 or 10 points on narrow far-out panels whose Gaussian mass is below 1e-4
//! or 1e-9). The panels are
//!
//! * split exactly at the kink of the integrand: `x = 0` (where `u = 0`) outside, and
//!   `y0 = -rho x / rho'` (where `v = 0`) inside;
//! * graded geometrically towards that point (`c ± delta 2^k`), so that the first panel is
//!   as wide as the smallest feature: `ACT_SCALE / sigma` for an activation's own
//!   curvature (poles of `tanh` at `u = ±i pi/2`, i.e. `x = ±i pi/(2 sigma)`), and
//!   `SMEAR rho' / |rho|` for a kink smeared by the inner integral when `|rho|` is near 1;
//!   the panel sizes therefore scale with the standard deviations;
//! * never wider than `MAX_WIDTH` (where the Gaussian density alone limits accuracy).
//!
//! With these constants every closed form of the module is matched to about 2e-15 of
//! `sqrt(E[g(u)^2] E[h(v)^2])` for variances from 1e-3 to 1e4 and any `rho` (tests in
//! `tests/activation.rs`). A panel sees an analytic integrand, so accuracy does not
//! degrade at kinks; features much narrower than `1/sigma` in the activation's own
//! argument (a `Custom` function such as `tanh(100 x)`) are not resolved unless the
//! variance is scaled accordingly.
//!
//! Gauss–Legendre nodes are computed here (Newton's method on the three-term recurrence
//! of the Legendre polynomials), once, on first use.

use std::f64::consts::PI;
use std::sync::OnceLock;

/// Gauss–Legendre nodes per panel.
pub(crate) const NODES: usize = 20;
/// Truncation of every standard-normal integral to `[-L, L]`.
pub(crate) const L: f64 = 9.25;
/// Widest panel (in standard deviations): the Gaussian density on a panel this wide is
/// integrated to about 1e-16 by [`NODES`] nodes.
const MAX_WIDTH: f64 = 4.6;
/// Width, in the activation's own argument, of the first panel next to its kink or centre.
const ACT_SCALE: f64 = 4.0;
/// First panel next to a kink that the inner integral smears over `rho' / |rho|`, in units
/// of that width.
const SMEAR: f64 = 2.0;
/// Smallest first panel: at most ~64 grading levels per side, whatever the variances.
const MIN_DELTA: f64 = 1e-18;

/// Gauss–Legendre nodes and weights on `[-1, 1]`, ascending: `sum w f(x)` is exact for
/// polynomials of degree `< 2n`.
///
/// Each node is found by Newton's method on `P_n`, evaluated with the three-term
/// recurrence `k P_k = (2k - 1) x P_(k-1) - (k - 1) P_(k-2)`, from the asymptotic guess
/// `cos(pi (i + 3/4) / (n + 1/2))`; the weight is `2 / ((1 - x^2) P_n'(x)^2)`. Nodes are
/// computed for one half and mirrored, so the rule is exactly symmetric.
pub(crate) fn gauss_legendre(n: usize) -> (Vec<f64>, Vec<f64>) {
    assert!(n >= 1, "Gauss–Legendre needs at least one node");
    let mut x = vec![0.0; n];
    let mut w = vec![0.0; n];
    // P_n(t) and P_n'(t) by the recurrence.
    let legendre = |t: f64| -> (f64, f64) {
        let (mut p0, mut p1) = (1.0, t);
        for k in 2..=n {
            let kf = k as f64;
            let p2 = ((2.0 * kf - 1.0) * t * p1 - (kf - 1.0) * p0) / kf;
            p0 = p1;
            p1 = p2;
        }
        // p1 = P_n, p0 = P_(n-1); P_n' = n (t P_n - P_(n-1)) / (t^2 - 1).
        let dp = if n == 1 {
            1.0
        } else {
            n as f64 * (t * p1 - p0) / (t * t - 1.0)
        };
        (p1, dp)
    };
    for i in 0..n / 2 {
        // Descending from the largest node.
        let mut t = (PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
        for _ in 0..100 {
            let (p, dp) = legendre(t);
            let dt = p / dp;
            t -= dt;
            if dt.abs() <= 1e-16 * t.abs().max(1e-300) {
                break;
            }
        }
        let (_, dp) = legendre(t);
        let wt = 2.0 / ((1.0 - t * t) * dp * dp);
        x[n - 1 - i] = t;
        x[i] = -t;
        w[n - 1 - i] = wt;
        w[i] = wt;
    }
    if n % 2 == 1 {
        let (_, dp) = legendre(0.0);
        x[n / 2] = 0.0;
        w[n / 2] = 2.0 / (dp * dp);
    }
    (x, w)
}

/// The `n`-point rule for the sizes used here (`NODES`, 12, 10), computed once each.
fn rule(n: usize) -> &'static (Vec<f64>, Vec<f64>) {
    static RULES: [OnceLock<(Vec<f64>, Vec<f64>)>; 3] =
        [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let slot = match n {
        NODES => 0,
        12 => 1,
        _ => 2,
    };
    RULES[slot].get_or_init(|| gauss_legendre(n))
}

/// Nodes for a panel of width `h` whose Gaussian mass is at most `bound` (`h * phi(distance
/// from 0)`): narrow far-out panels contribute so little that fewer nodes reach 1e-17
/// absolute (measured on `1, x^2, tanh x, cos 3x` times the density on panels up to
/// `MAX_WIDTH / 2` wide: below 1e-19 with 12 nodes for mass below 1e-4, with 10 nodes
/// below 1e-9). Wider panels always get [`NODES`].
fn nodes_for(h: f64, bound: f64) -> usize {
    if bound > 1e-4 || h > 0.5 * MAX_WIDTH {
        NODES
    } else if bound > 1e-9 {
        12
    } else {
        10
    }
}

/// `1 / sqrt(2 pi)`.
const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

/// A quadrature rule for `int_{-L}^{L} phi(x) f(x) dx`: nodes and weights (density
/// included). Buffers are reused between rules.
#[derive(Default)]
pub(crate) struct Nodes {
    /// Nodes.
    pub(crate) x: Vec<f64>,
    /// Weights, standard normal density included.
    pub(crate) w: Vec<f64>,
    breaks: Vec<f64>,
}

impl Nodes {
    /// Rebuilds the rule with panels graded towards `c` (a breakpoint itself when inside
    /// `(-L, L)`), first panel `delta` wide, none wider than `MAX_WIDTH`.
    pub(crate) fn graded(&mut self, c: f64, delta: f64) {
        let delta = delta.clamp(MIN_DELTA, MAX_WIDTH);
        let b = &mut self.breaks;
        b.clear();
        b.push(-L);
        b.push(L);
        if c > -L && c < L {
            b.push(c);
        }
        let mut t = delta;
        while c - t > -L || c + t < L {
            if c - t > -L && c - t < L {
                b.push(c - t);
            }
            if c + t > -L && c + t < L {
                b.push(c + t);
            }
            t *= 2.0;
        }
        b.sort_unstable_by(f64::total_cmp);
        b.dedup();
        self.x.clear();
        self.w.clear();
        for p in 0..b.len() - 1 {
            let (lo, hi) = (b[p], b[p + 1]);
            let parts = ((hi - lo) / MAX_WIDTH).ceil().max(1.0) as usize;
            let h = (hi - lo) / parts as f64;
            for q in 0..parts {
                let a = lo + q as f64 * h;
                let (mid, half) = (a + 0.5 * h, 0.5 * h);
                let d = if a <= 0.0 && a + h >= 0.0 {
                    0.0
                } else {
                    a.abs().min((a + h).abs())
                };
                let (gx, gw) = rule(nodes_for(h, h * INV_SQRT_2PI * (-0.5 * d * d).exp()));
                for (&xk, &wk) in gx.iter().zip(gw) {
                    let x = mid + half * xk;
                    self.x.push(x);
                    self.w.push(half * wk * INV_SQRT_2PI * (-0.5 * x * x).exp());
                }
            }
        }
    }
}

/// `min(cap, num / den)`, ignoring a zero denominator.
fn scale_min(cap: f64, num: f64, den: f64) -> f64 {
    if den > 0.0 {
        cap.min(num / den)
    } else {
        cap
    }
}

/// `E[f(sigma x)]`, `x ~ N(0, 1)` (`sigma >= 0`).
pub(crate) fn expect(f: impl Fn(f64) -> f64, sigma: f64) -> f64 {
    let mut r = Nodes::default();
    r.graded(0.0, scale_min(0.5 * MAX_WIDTH, ACT_SCALE, sigma));
    r.x.iter().zip(&r.w).map(|(&x, &w)| w * f(sigma * x)).sum()
}

/// `E[g(sigma1 x) h(sign sigma2 x)]`, `x ~ N(0, 1)`: the fully correlated (`rho = sign`,
/// `sign = ±1`) pair.
pub(crate) fn expect_pair_1d(
    g: impl Fn(f64) -> f64,
    h: impl Fn(f64) -> f64,
    sigma1: f64,
    sigma2: f64,
    sign: f64,
) -> f64 {
    let mut r = Nodes::default();
    r.graded(
        0.0,
        scale_min(0.5 * MAX_WIDTH, ACT_SCALE, sigma1.max(sigma2)),
    );
    r.x.iter()
        .zip(&r.w)
        .map(|(&x, &w)| w * g(sigma1 * x) * h(sign * sigma2 * x))
        .sum()
}

/// `E[g(u) h(v)]` for `u = sigma1 x`, `v = sigma2 (rho x + rho_c y)`, `x, y` iid N(0, 1),
/// with `rho_c = sqrt(1 - rho^2)` given separately (so that a caller who knows the angle
/// passes `sin theta` without cancellation). `sigma1, sigma2 >= 0`; `rho_c = 0` is the
/// one-dimensional case.
pub(crate) fn expect_pair(
    g: impl Fn(f64) -> f64,
    h: impl Fn(f64) -> f64,
    sigma1: f64,
    sigma2: f64,
    rho: f64,
    rho_c: f64,
) -> f64 {
    if rho_c <= 0.0 {
        return expect_pair_1d(g, h, sigma1, sigma2, if rho < 0.0 { -1.0 } else { 1.0 });
    }
    let ar = rho.abs();
    let mut dx = scale_min(0.5 * MAX_WIDTH, ACT_SCALE, sigma1);
    dx = scale_min(dx, ACT_SCALE, sigma2 * ar);
    dx = scale_min(dx, SMEAR * rho_c, ar);
    let mut outer = Nodes::default();
    outer.graded(0.0, dx);
    let s = sigma2 * rho_c;
    let dy = scale_min(0.5 * MAX_WIDTH, ACT_SCALE, s);
    let mut inner = Nodes::default();
    let mut acc = 0.0;
    for (&x, &wx) in outer.x.iter().zip(&outer.w) {
        let gx = g(sigma1 * x);
        if gx == 0.0 {
            continue;
        }
        let m = sigma2 * rho * x;
        // Kink of h at m + s y = 0.
        let y0 = if s > 0.0 { -m / s } else { 0.0 };
        inner.graded(y0, dy);
        let hy: f64 = inner
            .x
            .iter()
            .zip(&inner.w)
            .map(|(&y, &wy)| wy * h(m + s * y))
            .sum();
        acc += wx * gx * hy;
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauss_legendre_integrates_polynomials_exactly() {
        for n in [1, 2, 3, 7, 20, 33] {
            let (x, w) = gauss_legendre(n);
            for d in 0..2 * n {
                let got: f64 = x.iter().zip(&w).map(|(x, w)| w * x.powi(d as i32)).sum();
                let want = if d % 2 == 1 {
                    0.0
                } else {
                    2.0 / (d as f64 + 1.0)
                };
                assert!(
                    (got - want).abs() <= 1e-14,
                    "n = {n}, degree {d}: {got} vs {want}"
                );
            }
            assert!(
                x.windows(2).all(|p| p[0] < p[1]),
                "nodes ascending, n = {n}"
            );
        }
    }

    #[test]
    fn gaussian_moments_match_to_roundoff() {
        // E[x^2] = 1, E[x^4] = 3, E[|x|] = sqrt(2/pi), for several scales.
        for sigma in [1e-3, 0.3, 1.0, 7.0, 100.0] {
            let m2 = expect(|u| u * u, sigma);
            let m4 = expect(|u| u.powi(4), sigma);
            let m1 = expect(f64::abs, sigma);
            let s2 = sigma * sigma;
            assert!((m2 / s2 - 1.0).abs() < 1e-15, "sigma {sigma}: {m2}");
            assert!(
                (m4 / (s2 * s2) / 3.0 - 1.0).abs() < 2e-15,
                "sigma {sigma}: {m4}"
            );
            assert!(
                (m1 / sigma - (2.0 / PI).sqrt()).abs() < 1e-15,
                "sigma {sigma}: {m1}"
            );
        }
    }

    #[test]
    fn graded_rule_splits_at_the_centre_and_covers_the_range() {
        let mut r = Nodes::default();
        r.graded(0.3, 1e-3);
        let total: f64 = r.w.iter().sum();
        assert!((total - 1.0).abs() < 1e-15, "mass {total}");
        // No node exactly at the kink, and the panel boundary 0.3 is respected: the
        // indicator integrates exactly.
        let p: f64 =
            r.x.iter()
                .zip(&r.w)
                .filter(|(x, _)| **x > 0.3)
                .map(|(_, w)| w)
                .sum();
        let want = 0.5 * super::super::erf::erfc(0.3 / std::f64::consts::SQRT_2);
        assert!((p - want).abs() < 1e-15, "{p} vs {want}");
    }
}
