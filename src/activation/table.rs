//! Piecewise Chebyshev interpolants in the angle `theta = arccos(rho)` (PAPER.md section 9).
//!
//! For one pair of variances `(s11, s22)` a dual `E[g(u) g(v)]` is a function of the
//! correlation only. As a function of `theta` on `[0, pi]` it is analytic up to both ends
//! even for kinked activations (ReLU: `sin theta + (pi - theta) cos theta`), whereas in
//! `rho` it has square-root singularities at `rho = ±1`. A [`Table`] interpolates it:
//!
//! * a panel is sampled at Chebyshev–Lobatto points of degree 16, 32 and 64 (nested, so
//!   each doubling reuses the earlier samples) until the last four Chebyshev coefficients
//!   fall below `TOL = 1e-15` of the table's scale (the Cauchy–Schwarz bound
//!   `sqrt(E[g(u)^2] E[g(v)^2])`), or stop decreasing below `1e-13` (the samples' own
//!   rounding);
//! * a panel that still fails at degree 64 is bisected (at most [`MAX_DEPTH`] times); large
//!   variances of saturating activations put narrow features at `theta ≈ 0` and `pi`,
//!   which bisection resolves with a few small panels there;
//! * coefficients below `TOL / 8` are chopped from the end of each panel's series.
//!
//! Evaluation finds the panel through a lookup array over `2^depth` equal buckets and runs
//! Clenshaw's recurrence; [`Table::eval_slice`] runs eight entries side by side so the
//! recurrence vectorises.

use rayon::prelude::*;
use std::f64::consts::PI;

/// Relative accuracy requested from the coefficients.
const TOL: f64 = 1e-15;
/// Above this (relative) tail, a stalled series is still refined; below it, a series whose
/// tail stopped shrinking is taken as resolved to the samples' rounding.
const NOISE: f64 = 1e-13;
/// Largest bisection depth (smallest panel `pi / 2^MAX_DEPTH`).
pub(crate) const MAX_DEPTH: u32 = 14;
/// Degrees tried on each panel.
const DEGREES: [usize; 3] = [16, 32, 64];

/// One panel's Chebyshev series on `[a, b]`.
struct Panel {
    a: f64,
    b: f64,
    depth: u32,
    coef: Vec<f64>,
}

/// A piecewise Chebyshev interpolant of `f(theta)` on `[0, pi]`.
pub(crate) struct Table {
    /// Panels in order of `theta`.
    lo: Vec<f64>,
    /// `2 / (b - a)` per panel.
    inv_half: Vec<f64>,
    /// Coefficients, `stride` per panel (zero padded).
    coef: Vec<f64>,
    stride: usize,
    /// `2^depth` buckets of `[0, pi]`, each inside one panel.
    lookup: Vec<u32>,
    buckets: f64,
    /// Samples of `f` taken to build the table (diagnostics for tests and timing).
    #[cfg_attr(not(test), allow(dead_code))]
    samples: usize,
}

/// Chebyshev coefficients of the interpolant through `vals[k] = f(cos(pi k / d))`.
fn coefficients(vals: &[f64]) -> Vec<f64> {
    let d = vals.len() - 1;
    let mut c = vec![0.0; d + 1];
    // cos(pi j k / d) = cos(pi (j k mod 2d) / d).
    let cosines: Vec<f64> = (0..2 * d)
        .map(|m| (PI * m as f64 / d as f64).cos())
        .collect();
    for (j, cj) in c.iter_mut().enumerate() {
        let mut s = 0.0;
        for (k, &v) in vals.iter().enumerate() {
            let w = if k == 0 || k == d { 0.5 } else { 1.0 };
            s += w * v * cosines[(j * k) % (2 * d)];
        }
        *cj = 2.0 * s / d as f64;
    }
    c[0] *= 0.5;
    c[d] *= 0.5;
    c
}

fn tail(c: &[f64]) -> f64 {
    c[c.len().saturating_sub(4)..]
        .iter()
        .fold(0.0, |m, x| m.max(x.abs()))
}

/// Fits `f` on `[a, b]`, bisecting as needed; panels in order. With `mirror = Some(sign)`
/// (only for the whole interval `[0, pi]`), `f(pi - theta) = sign f(theta)`: only nodes
/// with `theta <= pi/2` are sampled, and a bisected right half is the mirrored left half.
fn fit(
    f: &(impl Fn(f64) -> f64 + Sync),
    a: f64,
    b: f64,
    depth: u32,
    scale: f64,
    mirror: Option<f64>,
) -> Vec<Panel> {
    let (mid, half) = (0.5 * (a + b), 0.5 * (b - a));
    let node = |k: usize, d: usize| {
        // Lobatto node k of degree d, from theta = b (k = 0) down to a (k = d).
        if k == 0 {
            b
        } else if k == d {
            a
        } else {
            mid + half * (PI * k as f64 / d as f64).cos()
        }
    };
    // Values at the nodes `ks` (ascending) of degree `d`; with a mirror, nodes past the
    // middle (`2k < d`, `theta > pi/2`) come from their images `d - k`, which `ks` holds.
    let sample = |ks: Vec<usize>, d: usize| -> Vec<f64> {
        let own: Vec<usize> = match mirror {
            Some(_) => ks.iter().copied().filter(|&k| 2 * k >= d).collect(),
            None => ks.clone(),
        };
        let vals: Vec<f64> = own.par_iter().map(|&k| f(node(k, d))).collect();
        let at = |k: usize| vals[own.binary_search(&k).expect("mirrored node sampled")];
        ks.iter()
            .map(|&k| match mirror {
                Some(sign) if 2 * k < d => sign * at(d - k),
                _ => at(k),
            })
            .collect()
    };
    let mut vals = sample((0..=DEGREES[0]).collect(), DEGREES[0]);
    let mut prev_tail = f64::INFINITY;
    let mut last = Vec::new();
    for (step, &d) in DEGREES.iter().enumerate() {
        if step > 0 {
            let fresh = sample((0..d / 2).map(|k| 2 * k + 1).collect(), d);
            let mut merged = Vec::with_capacity(d + 1);
            for k in 0..=d {
                merged.push(if k % 2 == 0 {
                    vals[k / 2]
                } else {
                    fresh[k / 2]
                });
            }
            vals = merged;
        }
        let c = coefficients(&vals);
        let t = tail(&c);
        let resolved = t <= TOL * scale || (t <= NOISE * scale && t >= 0.5 * prev_tail);
        if resolved || scale == 0.0 {
            return vec![Panel {
                a,
                b,
                depth,
                coef: chop(c, scale),
            }];
        }
        prev_tail = t;
        last = c;
    }
    if depth >= MAX_DEPTH {
        return vec![Panel {
            a,
            b,
            depth,
            coef: chop(last, scale),
        }];
    }
    if let Some(sign) = mirror {
        // theta -> pi - theta maps [a, mid] onto [mid, b] with t -> -t: c_j -> (-1)^j c_j.
        let mut panels = fit(f, a, mid, depth + 1, scale, None);
        let right: Vec<Panel> = panels
            .iter()
            .rev()
            .map(|p| Panel {
                a: PI - p.b,
                b: PI - p.a,
                depth: p.depth,
                coef: (p.coef.iter().enumerate())
                    .map(|(j, c)| if j % 2 == 0 { sign * c } else { -sign * c })
                    .collect(),
            })
            .collect();
        panels.extend(right);
        return panels;
    }
    let (mut left, right) = rayon::join(
        || fit(f, a, mid, depth + 1, scale, None),
        || fit(f, mid, b, depth + 1, scale, None),
    );
    left.extend(right);
    left
}

/// Drops trailing coefficients below `TOL / 8` of the scale (keeps at least one).
fn chop(mut c: Vec<f64>, scale: f64) -> Vec<f64> {
    let cut = 0.125 * TOL * scale;
    while c.len() > 1 && c.last().is_some_and(|x| x.abs() <= cut) {
        c.pop();
    }
    c
}

impl Table {
    /// Interpolates `f` on `[0, pi]`; `scale > 0` is the size against which the tolerance is
    /// relative (an upper bound of `|f|`). `mirror = Some(sign)` declares
    /// `f(pi - theta) = sign f(theta)` (a dual of an odd or even function), which halves
    /// the samples.
    pub(crate) fn build(f: impl Fn(f64) -> f64 + Sync, scale: f64, mirror: Option<f64>) -> Table {
        let counted = std::sync::atomic::AtomicUsize::new(0);
        let g = |t: f64| {
            counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            f(t)
        };
        let panels = fit(&g, 0.0, PI, 0, scale.abs(), mirror);
        let depth = panels.iter().map(|p| p.depth).max().unwrap_or(0);
        let stride = panels.iter().map(|p| p.coef.len()).max().unwrap_or(1);
        let mut coef = vec![0.0; stride * panels.len()];
        for (p, panel) in panels.iter().enumerate() {
            coef[p * stride..p * stride + panel.coef.len()].copy_from_slice(&panel.coef);
        }
        let nb = 1usize << depth;
        let mut lookup = vec![0u32; nb];
        for (p, panel) in panels.iter().enumerate() {
            // A depth-d panel covers 2^(depth - d) consecutive buckets.
            let first = ((panel.a / PI) * nb as f64).round() as usize;
            let count = 1usize << (depth - panel.depth);
            for slot in &mut lookup[first..first + count] {
                *slot = p as u32;
            }
        }
        Table {
            lo: panels.iter().map(|p| p.a).collect(),
            inv_half: panels.iter().map(|p| 2.0 / (p.b - p.a)).collect(),
            coef,
            stride,
            lookup,
            buckets: nb as f64 / PI,
            samples: counted.into_inner(),
        }
    }

    /// Number of samples of `f` the table was built from.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn samples(&self) -> usize {
        self.samples
    }

    /// Number of panels.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn panels(&self) -> usize {
        self.lo.len()
    }

    /// Length of the longest panel series (degree + 1).
    pub(crate) fn terms(&self) -> usize {
        self.stride
    }

    #[inline(always)]
    fn panel(&self, theta: f64) -> usize {
        let b = (theta * self.buckets) as usize; // saturating: negatives to 0
        self.lookup[b.min(self.lookup.len() - 1)] as usize
    }

    /// The interpolant at `theta` (clamped to `[0, pi]`).
    pub(crate) fn eval(&self, theta: f64) -> f64 {
        let theta = theta.clamp(0.0, PI);
        let p = self.panel(theta);
        let t = (theta - self.lo[p]) * self.inv_half[p] - 1.0;
        let c = &self.coef[p * self.stride..(p + 1) * self.stride];
        let (mut b1, mut b2) = (0.0, 0.0);
        for &ck in c[1..].iter().rev() {
            let b0 = 2.0 * t * b1 - b2 + ck;
            b2 = b1;
            b1 = b0;
        }
        t * b1 - b2 + c[0]
    }

    /// `out[j] = eval(theta[j])`, eight entries at a time.
    pub(crate) fn eval_slice(&self, theta: &[f64], out: &mut [f64]) {
        assert_eq!(theta.len(), out.len());
        const W: usize = 8;
        let mut th_chunks = theta.chunks_exact(W);
        let mut out_chunks = out.chunks_exact_mut(W);
        let single = self.lo.len() == 1;
        for (th, o) in (&mut th_chunks).zip(&mut out_chunks) {
            let mut t = [0.0; W];
            let mut base = [0usize; W];
            for l in 0..W {
                let x = th[l].clamp(0.0, PI);
                let p = if single { 0 } else { self.panel(x) };
                t[l] = (x - self.lo[p]) * self.inv_half[p] - 1.0;
                base[l] = p * self.stride;
            }
            let (mut b1, mut b2) = ([0.0; W], [0.0; W]);
            if single {
                let c = &self.coef[..self.stride];
                for &ck in c[1..].iter().rev() {
                    for l in 0..W {
                        let b0 = 2.0 * t[l] * b1[l] - b2[l] + ck;
                        b2[l] = b1[l];
                        b1[l] = b0;
                    }
                }
                for l in 0..W {
                    o[l] = t[l] * b1[l] - b2[l] + c[0];
                }
            } else {
                for k in (1..self.stride).rev() {
                    for l in 0..W {
                        let b0 = 2.0 * t[l] * b1[l] - b2[l] + self.coef[base[l] + k];
                        b2[l] = b1[l];
                        b1[l] = b0;
                    }
                }
                for l in 0..W {
                    o[l] = t[l] * b1[l] - b2[l] + self.coef[base[l]];
                }
            }
        }
        for (x, o) in th_chunks
            .remainder()
            .iter()
            .zip(out_chunks.into_remainder())
        {
            *o = self.eval(*x);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrored_tables_equal_full_ones_with_half_the_samples() {
        // Odd and even about pi/2, with a near-singularity at both ends (forces bisection).
        let eps = 2e-3;
        let odd = |t: f64| (PI / 2.0 - t) / ((t + eps) * (PI - t + eps));
        let even = |t: f64| 1.0 / ((t + eps) * (PI - t + eps));
        for (f, sign) in [(&odd as &(dyn Fn(f64) -> f64 + Sync), -1.0), (&even, 1.0)] {
            let full = Table::build(f, 1e3, None);
            let half = Table::build(f, 1e3, Some(sign));
            assert!(
                half.samples() * 2 <= full.samples() + 2,
                "{} vs {}",
                half.samples(),
                full.samples()
            );
            for i in 0..=2000 {
                let t = PI * i as f64 / 2000.0;
                // 20 TOL of the scale (1e3) given to the tables.
                let tol = 20.0 * TOL * 1e3;
                let (h, g) = (half.eval(t), full.eval(t));
                assert!(
                    (h - f(t)).abs() < tol,
                    "mirrored, theta {t}: {h} vs {}",
                    f(t)
                );
                assert!((g - f(t)).abs() < tol, "full, theta {t}: {g} vs {}", f(t));
            }
        }
    }

    #[test]
    fn relu_shaped_function_needs_one_short_panel() {
        // The ReLU dual in theta: entire, so a single panel of low degree.
        let f = |t: f64| (t.sin() + (PI - t) * t.cos()) / (2.0 * PI);
        let tab = Table::build(f, 0.5, None);
        assert_eq!(tab.panels(), 1);
        assert!(tab.terms() <= 33, "terms {}", tab.terms());
        for i in 0..=1000 {
            let t = PI * i as f64 / 1000.0;
            assert!(
                (tab.eval(t) - f(t)).abs() < 5e-16,
                "theta {t}: {:e}",
                tab.eval(t) - f(t)
            );
        }
    }

    #[test]
    fn narrow_end_features_are_bisected_and_resolved() {
        // A near-singularity at theta = -1e-3 (outside the interval): width 1e-3 near 0.
        let eps = 1e-3;
        let f = |t: f64| eps / (t + eps);
        let tab = Table::build(f, 1.0, None);
        assert!(tab.panels() > 1);
        let th: Vec<f64> = (0..=4000)
            .map(|i| PI * (i as f64 / 4000.0).powi(3))
            .collect();
        let mut got = vec![0.0; th.len()];
        tab.eval_slice(&th, &mut got);
        for (t, g) in th.iter().zip(&got) {
            assert!((g - f(*t)).abs() < 1e-14, "theta {t}: {g} vs {}", f(*t));
            assert_eq!(*g, tab.eval(*t), "slice and scalar paths agree at {t}");
        }
    }
}
