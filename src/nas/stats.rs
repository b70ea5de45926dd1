//! Small statistics for the NAS studies: summaries and quantiles, rank correlations
//! (Kendall's tau-b, Spearman's rho) with tie handling, and least-squares multiple
//! correlation with its F-test.
//!
//! ```
//! use archconv::nas::stats::{kendall_tau_b, spearman_rho};
//! // Five pairs: 7 concordant, 3 discordant, no ties -> tau = (7 - 3) / 10.
//! let x = [1.0, 2.0, 3.0, 4.0, 5.0];
//! let y = [3.0, 1.0, 2.0, 5.0, 4.0];
//! assert!((kendall_tau_b(&x, &y).unwrap() - 0.4).abs() < 1e-15);
//! // sum d^2 = 8 -> rho = 1 - 6 * 8 / (5 * 24).
//! assert!((spearman_rho(&x, &y).unwrap() - 0.6).abs() < 1e-15);
//! ```

use nalgebra::{DMatrix, DVector};
use serde::Serialize;
use statrs::distribution::{ContinuousCDF, FisherSnedecor};

/// Count, mean, sample standard deviation and quantiles of a sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Sample size `n`.
    pub n: usize,
    /// `sum x / n`.
    pub mean: f64,
    /// Sample standard deviation `sqrt(sum (x - mean)^2 / (n - 1))`; `None` for `n < 2`.
    pub std: Option<f64>,
    /// Minimum.
    pub min: f64,
    /// 10% quantile.
    pub q10: f64,
    /// 25% quantile.
    pub q25: f64,
    /// Median.
    pub median: f64,
    /// 75% quantile.
    pub q75: f64,
    /// 90% quantile.
    pub q90: f64,
    /// Maximum.
    pub max: f64,
}

impl Summary {
    /// Summarises `xs`; `None` when empty. Quantiles interpolate linearly between order
    /// statistics (see [`quantile`]).
    ///
    /// ```
    /// use archconv::nas::stats::Summary;
    /// let s = Summary::of(&[4.0, 1.0, 3.0, 2.0]).unwrap();
    /// assert_eq!((s.mean, s.median, s.min, s.max), (2.5, 2.5, 1.0, 4.0));
    /// assert!((s.std.unwrap() - (5.0f64 / 3.0).sqrt()).abs() < 1e-15);
    /// ```
    pub fn of(xs: &[f64]) -> Option<Summary> {
        if xs.is_empty() {
            return None;
        }
        let mut s = xs.to_vec();
        s.sort_by(f64::total_cmp);
        let (mean, std) = mean_std(xs);
        Some(Summary {
            n: xs.len(),
            mean,
            std,
            min: s[0],
            q10: quantile(&s, 0.10),
            q25: quantile(&s, 0.25),
            median: quantile(&s, 0.5),
            q75: quantile(&s, 0.75),
            q90: quantile(&s, 0.90),
            max: s[s.len() - 1],
        })
    }
}

/// Mean and sample standard deviation (`n - 1` in the denominator; `None` for `n < 2`).
/// The mean of an empty slice is NaN: callers check emptiness first.
pub fn mean_std(xs: &[f64]) -> (f64, Option<f64>) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let std = (xs.len() >= 2)
        .then(|| (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
    (mean, std)
}

/// Quantile `q` in `[0, 1]` of an ascending-sorted, non-empty slice, by linear
/// interpolation between order statistics: position `h = (n - 1) q`, value
/// `x[floor h] + (h - floor h)(x[floor h + 1] - x[floor h])` (Hyndman-Fan type 7, the
/// default of R and NumPy).
///
/// # Panics
/// When `sorted` is empty.
#[track_caller]
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    assert!(!sorted.is_empty(), "quantile of an empty sample");
    let h = (sorted.len() - 1) as f64 * q.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Ranks `1..=n` with ties given the average of the ranks they span ("fractional"
/// ranking), as Spearman's rho needs.
pub fn average_ranks(xs: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..xs.len()).collect();
    idx.sort_by(|&a, &b| xs[a].total_cmp(&xs[b]));
    let mut ranks = vec![0.0; xs.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i + 1;
        while j < idx.len() && xs[idx[j]] == xs[idx[i]] {
            j += 1;
        }
        // Positions i..j (0-based) share ranks i+1..=j, average (i + 1 + j) / 2.
        let r = (i + 1 + j) as f64 / 2.0;
        for &k in &idx[i..j] {
            ranks[k] = r;
        }
        i = j;
    }
    ranks
}

fn check_pair(x: &[f64], y: &[f64]) -> bool {
    assert_eq!(x.len(), y.len(), "paired samples must have equal length");
    x.len() >= 2 && x.iter().chain(y).all(|v| v.is_finite())
}

/// Pearson's correlation `sum (x - xbar)(y - ybar) / sqrt(sum (x - xbar)^2 sum (y - ybar)^2)`;
/// `None` for fewer than 2 pairs, a non-finite value or a constant sample.
///
/// # Panics
/// When the lengths differ.
#[track_caller]
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    if !check_pair(x, y) {
        return None;
    }
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    (sxx > 0.0 && syy > 0.0).then(|| (sxy / (sxx * syy).sqrt()).clamp(-1.0, 1.0))
}

/// Spearman's rho: Pearson's correlation of the average ranks ([`average_ranks`]), the
/// tie-corrected form. `None` as for [`pearson`].
///
/// # Panics
/// When the lengths differ.
#[track_caller]
pub fn spearman_rho(x: &[f64], y: &[f64]) -> Option<f64> {
    if !check_pair(x, y) {
        return None;
    }
    pearson(&average_ranks(x), &average_ranks(y))
}

/// Kendall's tau-b:
///
/// ```text
/// tau_b = (C - D) / sqrt((n0 - n1)(n0 - n2)),   n0 = n(n-1)/2,
/// n1 = sum over groups of tied x of t(t-1)/2,   n2 = the same for y,
/// ```
///
/// `C`/`D` the concordant/discordant pairs (pairs tied in x or y count as neither).
/// Computed in `O(n log n)` by Knight's algorithm: sort by `(x, y)`, count the swaps a
/// stable merge sort on `y` makes, then `C - D = n0 - n1 - n2 + n3 - 2 swaps` with `n3`
/// the pairs tied in both. `None` for fewer than 2 pairs, non-finite values, or when
/// every pair is tied in x or in y.
///
/// # Panics
/// When the lengths differ.
#[track_caller]
pub fn kendall_tau_b(x: &[f64], y: &[f64]) -> Option<f64> {
    if !check_pair(x, y) {
        return None;
    }
    let n = x.len();
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]).then(y[a].total_cmp(&y[b])));
    let pairs = |t: u64| t * t.saturating_sub(1) / 2;
    let (mut n1, mut n3) = (0u64, 0u64);
    let (mut tx, mut txy) = (1u64, 1u64);
    for w in idx.windows(2) {
        let (a, b) = (w[0], w[1]);
        if x[a] == x[b] {
            tx += 1;
            if y[a] == y[b] {
                txy += 1;
            } else {
                n3 += pairs(txy);
                txy = 1;
            }
        } else {
            n1 += pairs(tx);
            n3 += pairs(txy);
            tx = 1;
            txy = 1;
        }
    }
    n1 += pairs(tx);
    n3 += pairs(txy);
    let mut ys: Vec<f64> = idx.iter().map(|&i| y[i]).collect();
    let mut buf = vec![0.0; n];
    let swaps = merge_count(&mut ys, &mut buf);
    let mut n2 = 0u64;
    let mut ty = 1u64;
    for w in ys.windows(2) {
        if w[0] == w[1] {
            ty += 1;
        } else {
            n2 += pairs(ty);
            ty = 1;
        }
    }
    n2 += pairs(ty);
    let n0 = pairs(n as u64);
    let s = n0 as i128 - n1 as i128 - n2 as i128 + n3 as i128 - 2 * swaps as i128;
    let den = ((n0 - n1) as f64) * ((n0 - n2) as f64);
    (den > 0.0).then(|| (s as f64 / den.sqrt()).clamp(-1.0, 1.0))
}

/// Stable merge sort of `v` ascending; returns the number of inversions (pairs `i < j`
/// with `v[i] > v[j]`; equal values are not inversions).
fn merge_count(v: &mut [f64], buf: &mut [f64]) -> u64 {
    let n = v.len();
    if n < 2 {
        return 0;
    }
    let mid = n / 2;
    let mut count =
        merge_count(&mut v[..mid], &mut buf[..mid]) + merge_count(&mut v[mid..], &mut buf[mid..]);
    let (mut i, mut j, mut k) = (0, mid, 0);
    while i < mid && j < n {
        if v[j] < v[i] {
            buf[k] = v[j];
            count += (mid - i) as u64;
            j += 1;
        } else {
            buf[k] = v[i];
            i += 1;
        }
        k += 1;
    }
    buf[k..k + mid - i].copy_from_slice(&v[i..mid]);
    k += mid - i;
    buf[k..k + n - j].copy_from_slice(&v[j..n]);
    v.copy_from_slice(&buf[..n]);
    count
}

/// A least-squares fit `y ~ b0 + sum_k b_k x_k` and its multiple correlation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Regression {
    /// Observations `n`.
    pub n: usize,
    /// Regressors `k` used by the F-test (the numerical rank of the centred design).
    pub k: usize,
    /// `R^2 = 1 - SS_res / SS_tot`.
    pub r2: f64,
    /// The multiple correlation `R = sqrt(R^2)`: the correlation between `y` and the
    /// fitted values.
    pub r: f64,
    /// `F = (R^2 / k) / ((1 - R^2) / (n - k - 1))`; `None` when `n - k - 1 < 1`; infinite
    /// for a perfect fit.
    pub f: Option<f64>,
    /// `P(F(k, n-k-1) > F)` (statrs `FisherSnedecor`); `None` with `f`.
    pub p_value: Option<f64>,
    /// Coefficients `[b0, b1, ..., bk]` in the original units.
    pub coefficients: Vec<f64>,
}

/// Why a regression cannot be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RegressionError {
    /// Columns of different lengths, or no column.
    #[error("regressor column {column} has {len} rows but y has {n}")]
    Shape {
        /// The column.
        column: usize,
        /// Its length.
        len: usize,
        /// Length of y.
        n: usize,
    },
    /// Fewer than 2 observations.
    #[error("need at least 2 observations, got {n}")]
    TooFew {
        /// Observations.
        n: usize,
    },
    /// y is constant, so R is 0/0.
    #[error("the response is constant over all {n} observations: R is undefined")]
    ConstantResponse {
        /// Observations.
        n: usize,
    },
    /// A NaN or infinity in the data.
    #[error("non-finite value {value} at row {row} of {what}")]
    NonFinite {
        /// "y" or "column j".
        what: String,
        /// Row.
        row: usize,
        /// Value.
        value: f64,
    },
}

/// Ordinary least squares of `y` on the given regressor columns plus an intercept, by
/// SVD (nalgebra) of the centred and scaled design, so that columns like `d, d^2` stay
/// well conditioned. `R^2 = 1 - sum (y - yhat)^2 / sum (y - ybar)^2`; the F-test of
/// "all slopes zero" uses `k` = numerical rank of the centred design (singular values
/// above `1e-10` times the largest) and `n - k - 1` residual degrees of freedom.
///
/// ```
/// use archconv::nas::stats::multiple_regression;
/// // y = 1 + 2x exactly: R = 1.
/// let x = vec![0.0, 1.0, 2.0, 3.0];
/// let y: Vec<f64> = x.iter().map(|v| 1.0 + 2.0 * v).collect();
/// let fit = multiple_regression(&[x], &y).unwrap();
/// assert!((fit.r - 1.0).abs() < 1e-12);
/// assert!((fit.coefficients[1] - 2.0).abs() < 1e-12);
/// ```
pub fn multiple_regression(columns: &[Vec<f64>], y: &[f64]) -> Result<Regression, RegressionError> {
    let n = y.len();
    if n < 2 {
        return Err(RegressionError::TooFew { n });
    }
    for (row, &value) in y.iter().enumerate() {
        if !value.is_finite() {
            return Err(RegressionError::NonFinite {
                what: "y".into(),
                row,
                value,
            });
        }
    }
    for (column, c) in columns.iter().enumerate() {
        if c.len() != n {
            return Err(RegressionError::Shape {
                column,
                len: c.len(),
                n,
            });
        }
        for (row, &value) in c.iter().enumerate() {
            if !value.is_finite() {
                return Err(RegressionError::NonFinite {
                    what: format!("column {column}"),
                    row,
                    value,
                });
            }
        }
    }
    let ybar = y.iter().sum::<f64>() / n as f64;
    let sst: f64 = y.iter().map(|v| (v - ybar).powi(2)).sum();
    if sst <= 0.0 {
        return Err(RegressionError::ConstantResponse { n });
    }
    let p = columns.len();
    // Centre and scale every column (constant columns get scale 1 and vanish).
    let mut means = Vec::with_capacity(p);
    let mut scales = Vec::with_capacity(p);
    let mut design = DMatrix::<f64>::zeros(n, p);
    for (j, c) in columns.iter().enumerate() {
        let m = c.iter().sum::<f64>() / n as f64;
        let s = (c.iter().map(|v| (v - m).powi(2)).sum::<f64>() / n as f64).sqrt();
        let s = if s > 0.0 { s } else { 1.0 };
        for (i, v) in c.iter().enumerate() {
            design[(i, j)] = (v - m) / s;
        }
        means.push(m);
        scales.push(s);
    }
    let yc = DVector::from_iterator(n, y.iter().map(|v| v - ybar));
    let (beta, rank) = if p == 0 {
        (DVector::zeros(0), 0)
    } else {
        let svd = design.clone().svd(true, true);
        let smax = svd.singular_values.max();
        let tol = 1e-10 * smax.max(f64::MIN_POSITIVE);
        let rank = svd.singular_values.iter().filter(|&&s| s > tol).count();
        let beta = svd.solve(&yc, tol).expect("U and V^T were computed");
        (beta, rank)
    };
    let fitted = if p == 0 {
        DVector::zeros(n)
    } else {
        &design * &beta
    };
    let ssr: f64 = (&yc - &fitted).iter().map(|r| r * r).sum();
    let r2 = (1.0 - ssr / sst).clamp(0.0, 1.0);
    let mut coefficients = vec![ybar];
    for j in 0..p {
        let b = beta[j] / scales[j];
        coefficients[0] -= b * means[j];
        coefficients.push(b);
    }
    let dof = n as i64 - rank as i64 - 1;
    let (f, p_value) = if rank == 0 || dof < 1 {
        (None, None)
    } else if r2 >= 1.0 {
        (Some(f64::INFINITY), Some(0.0))
    } else {
        let f = (r2 / rank as f64) / ((1.0 - r2) / dof as f64);
        let p = FisherSnedecor::new(rank as f64, dof as f64)
            .map(|d| d.sf(f))
            .ok();
        (Some(f), p)
    };
    Ok(Regression {
        n,
        k: rank,
        r2,
        r: r2.sqrt(),
        f,
        p_value,
        coefficients,
    })
}
