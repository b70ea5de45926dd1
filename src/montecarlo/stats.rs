//! Statistics across seeds: per-entry means and standard errors, Student-t intervals,
//! relative Frobenius distances and log-log slope fits.

use ndarray::{Array1, Array2};
use serde::Serialize;
use statrs::distribution::{ContinuousCDF, StudentsT};

/// Mean, spread and a Student-t confidence interval of a scalar over seeds.
///
/// With `S` samples `v_s`: `mean = (1/S) sum v_s`, `sd^2 = sum (v_s - mean)^2 / (S - 1)`,
/// `se = sd / sqrt(S)`, interval `mean +- t_{(1+level)/2, S-1} se`. The spread fields are
/// `None` when `S < 2` (undefined, not NaN).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScalarStats {
    /// Number of samples `S`.
    pub samples: usize,
    /// Sample mean.
    pub mean: f64,
    /// Sample standard deviation (`S - 1` denominator).
    pub sd: Option<f64>,
    /// Standard error of the mean.
    pub se: Option<f64>,
    /// Two-sided Student-t confidence interval of the mean at [`ScalarStats::level`].
    pub ci: Option<(f64, f64)>,
    /// Confidence level of `ci`, e.g. 0.95.
    pub level: f64,
}

impl ScalarStats {
    /// Summarises `values` (non-empty) with a `level` interval (`0 < level < 1`).
    ///
    /// ```
    /// use archconv::montecarlo::ScalarStats;
    /// let s = ScalarStats::of(&[1.0, 2.0, 3.0], 0.95);
    /// assert_eq!(s.mean, 2.0);
    /// assert_eq!(s.sd, Some(1.0));
    /// let (lo, hi) = s.ci.unwrap();                  // t_{0.975, 2} = 4.3027
    /// assert!((hi - 2.0 - 4.302652729749464 / 3f64.sqrt()).abs() < 1e-9 && lo < 2.0);
    /// ```
    pub fn of(values: &[f64], level: f64) -> ScalarStats {
        let s = values.len();
        let mean = values.iter().sum::<f64>() / s.max(1) as f64;
        if s < 2 {
            return ScalarStats {
                samples: s,
                mean,
                sd: None,
                se: None,
                ci: None,
                level,
            };
        }
        let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (s - 1) as f64;
        let sd = var.sqrt();
        let se = sd / (s as f64).sqrt();
        let t = StudentsT::new(0.0, 1.0, (s - 1) as f64)
            .ok()
            .map(|d| d.inverse_cdf(0.5 + 0.5 * level));
        ScalarStats {
            samples: s,
            mean,
            sd: Some(sd),
            se: Some(se),
            ci: t.map(|t| (mean - t * se, mean + t * se)),
            level,
        }
    }
}

/// Running per-entry mean and sum of squared deviations (Welford), updated in seed order so
/// results do not depend on how seeds were spread over threads.
#[derive(Debug, Clone)]
pub(crate) struct Welford2 {
    pub(crate) count: usize,
    pub(crate) mean: Array2<f64>,
    m2: Array2<f64>,
}

impl Welford2 {
    pub(crate) fn new(n: usize, k: usize) -> Welford2 {
        Welford2 {
            count: 0,
            mean: Array2::zeros((n, k)),
            m2: Array2::zeros((n, k)),
        }
    }

    pub(crate) fn push(&mut self, x: &Array2<f64>) {
        self.count += 1;
        let inv = 1.0 / self.count as f64;
        ndarray::Zip::from(&mut self.mean)
            .and(&mut self.m2)
            .and(x)
            .for_each(|mu, m2, &v| {
                let delta = v - *mu;
                *mu += delta * inv;
                *m2 += delta * (v - *mu);
            });
    }

    /// Standard error of the mean per entry, `None` with fewer than two samples.
    pub(crate) fn se(&self) -> Option<Array2<f64>> {
        (self.count >= 2).then(|| {
            let c = self.count as f64;
            self.m2.mapv(|m2| (m2.max(0.0) / (c - 1.0) / c).sqrt())
        })
    }
}

/// `||a - b||_F / ||b||_F` (`None` when `b = 0`).
pub fn rel_frobenius(a: &Array2<f64>, b: &Array2<f64>) -> Option<f64> {
    let num: f64 = a.iter().zip(b.iter()).map(|(x, y)| (x - y) * (x - y)).sum();
    let den: f64 = b.iter().map(|y| y * y).sum();
    (den > 0.0).then(|| (num / den).sqrt())
}

/// A least-squares line `ln(err) = intercept + slope ln(m)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlopeFit {
    /// Fitted slope (about `-1/2` for Monte Carlo noise, about `0` for a biased target).
    pub slope: f64,
    /// Fitted intercept.
    pub intercept: f64,
    /// Standard error of the slope propagated from the points' standard errors
    /// (`se(ln err_i) = se_i / err_i`; `Var(slope) = sum_i w_i^2 Var(y_i)`,
    /// `w_i = (x_i - xbar) / Sxx`); `None` when any point has no standard error.
    pub slope_se: Option<f64>,
}

/// Ordinary least squares of `ln(err)` on `ln(width)`. `None` with fewer than two distinct
/// widths or a non-positive error.
///
/// ```
/// use archconv::montecarlo::fit_loglog;
/// let w = [64.0, 256.0, 1024.0];
/// let e: Vec<f64> = w.iter().map(|m: &f64| 3.0 * m.powf(-0.5)).collect();
/// let fit = fit_loglog(&w, &e, None).unwrap();
/// assert!((fit.slope + 0.5).abs() < 1e-12 && (fit.intercept - 3f64.ln()).abs() < 1e-12);
/// ```
pub fn fit_loglog(widths: &[f64], errs: &[f64], ses: Option<&[f64]>) -> Option<SlopeFit> {
    let k = widths.len();
    if k < 2
        || errs.len() != k
        || errs.iter().any(|&e| e.is_nan() || e <= 0.0)
        || widths.iter().any(|&w| w.is_nan() || w <= 0.0)
    {
        return None;
    }
    let x: Array1<f64> = widths.iter().map(|w| w.ln()).collect();
    let y: Array1<f64> = errs.iter().map(|e| e.ln()).collect();
    let xbar = x.mean()?;
    let ybar = y.mean()?;
    let sxx: f64 = x.iter().map(|v| (v - xbar) * (v - xbar)).sum();
    if sxx.is_nan() || sxx <= 0.0 {
        return None;
    }
    let w: Vec<f64> = x.iter().map(|v| (v - xbar) / sxx).collect();
    let slope: f64 = w.iter().zip(y.iter()).map(|(a, b)| a * b).sum();
    let slope_se = ses.filter(|s| s.len() == k).map(|s| {
        w.iter()
            .zip(s)
            .zip(errs)
            .map(|((wi, si), ei)| wi * wi * (si / ei) * (si / ei))
            .sum::<f64>()
            .sqrt()
    });
    Some(SlopeFit {
        slope,
        intercept: ybar - slope * xbar,
        slope_se,
    })
}
