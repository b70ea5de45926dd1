//! Width convergence of the finite-width empirical NTK to its infinite-width limit, shared
//! by `tests/ntk.rs` and `tests/empirical_ntk_activation.rs`: networks at several widths
//! over several seeds, their relative errors, and the `m^-1/2` rule with its tolerance.

use super::rel_frobenius;
use archconv::kernel::ntk::{Ntk, NtkVariant};
use ndarray::Array2;
use rayon::prelude::*;

/// Mean of `v`.
pub fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Sample standard deviation of `v` (`n - 1` in the denominator).
pub fn sd(v: &[f64]) -> f64 {
    let m = mean(v);
    (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() as f64 - 1.0)).sqrt()
}

/// The NTK's terms in a fixed order: readout, each edge's term, lift.
pub fn terms_of(n: &Ntk) -> Vec<Array2<f64>> {
    let mut v = vec![n.readout().clone()];
    v.extend(n.edge_terms().iter().map(|(_, t)| t.clone()));
    v.push(n.lift().clone());
    v
}

/// Empirical NTKs at each width, one per seed `1000, 1001, ..., 1000 + seeds - 1`.
pub struct WidthRuns {
    /// The widths, ascending.
    pub widths: Vec<usize>,
    /// `runs[w][s]`: the network of width `widths[w]` and seed `1000 + s`.
    pub runs: Vec<Vec<Ntk>>,
}

impl WidthRuns {
    /// Calls `ntk(m, seed)` for every width `m` and seed (seeds in parallel).
    pub fn new(widths: &[usize], seeds: u64, ntk: impl Fn(usize, u64) -> Ntk + Sync) -> Self {
        let runs = widths
            .iter()
            .map(|&m| {
                (0..seeds)
                    .into_par_iter()
                    .map(|s| ntk(m, 1000 + s))
                    .collect()
            })
            .collect();
        WidthRuns {
            widths: widths.to_vec(),
            runs,
        }
    }

    /// `err[w][s]`: relative Frobenius error of the full `Theta` of each run to `reference`.
    pub fn theta_errors(&self, reference: &Array2<f64>) -> Vec<Vec<f64>> {
        self.runs
            .iter()
            .map(|runs| {
                runs.iter()
                    .map(|r| rel_frobenius(&r.theta(NtkVariant::Full), reference))
                    .collect()
            })
            .collect()
    }

    /// `terms[w][k]`: mean over seeds of the relative Frobenius error of term `k`
    /// ([`terms_of`]) to the same term of `exact`.
    pub fn term_errors(&self, exact: &Ntk) -> Vec<Vec<f64>> {
        let exact_terms = terms_of(exact);
        self.runs
            .iter()
            .map(|runs| {
                let run_terms: Vec<Vec<Array2<f64>>> = runs.iter().map(terms_of).collect();
                (0..exact_terms.len())
                    .map(|k| {
                        run_terms
                            .iter()
                            .map(|t| rel_frobenius(&t[k], &exact_terms[k]))
                            .sum::<f64>()
                            / runs.len() as f64
                    })
                    .collect()
            })
            .collect()
    }
}

/// Asserts that the error falls like `m^-1/2` from the first width to the last: the slope
/// of `log mean(err)` against `log m` between them is `-1/2` within 4 standard errors of
/// the log-ratio of the means (`se(log mean) ~ sd / (mean sqrt(S))` at each width, from
/// the spread of the `S` seeds) plus 0.1 for the `O(1/m)` bias at the smallest width.
/// Prints the mean errors and the slope.
#[track_caller]
pub fn assert_error_falls_like_m_to_minus_half(what: &str, widths: &[usize], err: &[Vec<f64>]) {
    let (first, last) = (&err[0], &err[err.len() - 1]);
    let seeds = first.len();
    let (e0, e1) = (mean(first), mean(last));
    let ln_ratio = (widths[widths.len() - 1] as f64 / widths[0] as f64).ln();
    let se = (sd(first) / e0).hypot(sd(last) / e1) / (seeds as f64).sqrt();
    let slope = (e1 / e0).ln() / ln_ratio;
    let slope_tol = 4.0 * se / ln_ratio + 0.1;
    eprintln!(
        "{what}: err {:?} slope {slope:.3} +- {slope_tol:.3}",
        err.iter().map(|v| mean(v)).collect::<Vec<_>>()
    );
    assert!(
        (slope + 0.5).abs() <= slope_tol,
        "{what}: slope {slope} (tolerance {slope_tol}); errors {err:?}"
    );
}

/// Asserts that every term converges separately: each term's mean error shrinks by at
/// least 2x from the first width to the last (`m^-1/2` over the 16x width increase of
/// both tests gives 4x; 2x leaves room for seed noise).
#[track_caller]
pub fn assert_every_term_shrinks(what: &str, terms: &[Vec<f64>]) {
    let (first, last) = (&terms[0], &terms[terms.len() - 1]);
    for k in 0..first.len() {
        assert!(last[k] < 0.5 * first[k], "{what}: term {k}: {terms:?}");
    }
}

/// One gradient-descent step of an empirical-NTK network against its own NTK:
/// `dL = -eta r^T Theta r + O(eta^2)` (`r` the residual). With `D(h) = (L(0) - L(h)) / h`
/// along the step, Taylor gives `D(h) = P - (h / 2) c + O(h^2)` (`P = r^T Theta r`, `c`
/// the curvature along the gradient), so the first-order error of `D(eta)` is estimated by
/// `D(eta) - D(2 eta)` (it doubles with the step). Tolerance: twice that, plus the rounding
/// of the two forward passes (each loss has relative error at most `gamma_K ~ K u`,
/// `K = width x nodes`, divided by `eta`). A missing edge term is a relative error of
/// order `1 / edges`, orders of magnitude outside.
pub fn assert_gd_step_decreases_the_loss_by_r_theta_r(
    what: &str,
    dag: &archconv::Dag,
    lift: &archconv::model::LiftParams,
    width: usize,
) {
    use archconv::empirical_ntk::Network;
    let x = archconv::Inputs::gaussian(5, 4, 8);
    let y = ndarray::Array1::from(vec![1.0, -1.0, 0.5, 0.0, 2.0]);
    let fresh = || Network::new(dag, 4, lift.clone(), width, 3).unwrap();
    let net = fresh();
    let theta = net.ntk(x.view()).unwrap().theta(NtkVariant::Full);
    let r = &net.outputs(x.view()).unwrap() - &y;
    let predicted = r.dot(&theta.dot(&r));
    // Loss before and after one step of size h, from the same initial network.
    let step = |h: f64| {
        let mut net = fresh();
        let l0 = net.gd_step(x.view(), &y, h).unwrap();
        let r1 = &net.outputs(x.view()).unwrap() - &y;
        (l0, 0.5 * r1.dot(&r1))
    };
    let eta = 1e-7;
    let (l0, l1) = step(eta);
    let (_, l2) = step(2.0 * eta);
    let d1 = (l0 - l1) / eta;
    let d2 = (l0 - l2) / (2.0 * eta);
    let k = (width * dag.num_nodes()) as f64;
    let rounding = 2.0 * k * (f64::EPSILON / 2.0) * l0 / eta;
    let tol = 2.0 * (d1 - d2).abs() + rounding;
    assert!(
        (d1 - predicted).abs() <= tol,
        "{what}: {d1} vs {predicted} (second-order estimate {}, tolerance {tol:e})",
        d1 - d2
    );
}
