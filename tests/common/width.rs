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
