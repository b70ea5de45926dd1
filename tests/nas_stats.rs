//! Statistics of the NAS studies (issue 7): rank correlations against hand-computed cases
//! and an O(n^2) pair count, least squares against closed forms, the F-test against the
//! F(2, n) survival function, and the random-search expectation against brute force.

mod common;

use archconv::nas::filter::{expected_best, simulate_search};
use archconv::nas::stats::{
    average_ranks, kendall_tau_b, multiple_regression, pearson, quantile, spearman_rho, Summary,
};
use rand::{Rng, SeedableRng};

/// Tau-b by counting every pair (the definition), for checking Knight's algorithm.
fn tau_b_naive(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len();
    let (mut c, mut d, mut tx, mut ty) = (0i64, 0i64, 0i64, 0i64);
    for i in 0..n {
        for j in i + 1..n {
            let (a, b) = ((x[i] - x[j]).signum(), (y[i] - y[j]).signum());
            if x[i] == x[j] {
                tx += 1;
            }
            if y[i] == y[j] {
                ty += 1;
            }
            if x[i] != x[j] && y[i] != y[j] {
                if a == b {
                    c += 1;
                } else {
                    d += 1;
                }
            }
        }
    }
    let n0 = (n * (n - 1) / 2) as i64;
    let den = ((n0 - tx) as f64) * ((n0 - ty) as f64);
    (den > 0.0).then(|| (c - d) as f64 / den.sqrt())
}

#[test]
fn kendall_and_spearman_match_hand_counts_without_ties() {
    // Pairs of y = [3,1,2,5,4]: discordant (1,2), (1,3), (4,5); the other 7 concordant.
    let x = [1.0, 2.0, 3.0, 4.0, 5.0];
    let y = [3.0, 1.0, 2.0, 5.0, 4.0];
    assert!((kendall_tau_b(&x, &y).unwrap() - 0.4).abs() < 1e-15);
    // d = x - rank(y) = [-2, 1, 1, -1, 1], sum d^2 = 8, rho = 1 - 6*8/(5*24) = 0.6.
    assert!((spearman_rho(&x, &y).unwrap() - 0.6).abs() < 1e-15);
    // Reversal flips the sign exactly.
    let yr: Vec<f64> = y.iter().map(|v| -v).collect();
    assert!((kendall_tau_b(&x, &yr).unwrap() + 0.4).abs() < 1e-15);
}

#[test]
fn kendall_and_spearman_handle_ties_by_hand() {
    // x = [1,1,2,3], y = [1,2,2,3]: pair (1,2) tied in x, pair (2,3) tied in y, the other
    // four concordant: tau_b = 4 / sqrt((6-1)(6-1)) = 0.8.
    let x = [1.0, 1.0, 2.0, 3.0];
    let y = [1.0, 2.0, 2.0, 3.0];
    assert!((kendall_tau_b(&x, &y).unwrap() - 0.8).abs() < 1e-15);
    // Average ranks [1.5,1.5,3,4] and [1,2.5,2.5,4]: centred products 3.75, squares 4.5
    // each -> rho = 3.75 / 4.5 = 5/6.
    assert_eq!(average_ranks(&x), vec![1.5, 1.5, 3.0, 4.0]);
    assert!((spearman_rho(&x, &y).unwrap() - 5.0 / 6.0).abs() < 1e-15);
    // Constant input: undefined, never NaN.
    assert_eq!(kendall_tau_b(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), None);
    assert_eq!(spearman_rho(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), None);
    assert_eq!(kendall_tau_b(&[1.0], &[1.0]), None);
    assert_eq!(kendall_tau_b(&[1.0, f64::NAN], &[1.0, 2.0]), None);
}

#[test]
fn knight_tau_b_equals_pair_count_on_tied_random_data() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    for n in [2usize, 3, 7, 50, 301] {
        for levels in [2u32, 5, 1000] {
            let x: Vec<f64> = (0..n).map(|_| rng.random_range(0..levels) as f64).collect();
            let y: Vec<f64> = (0..n)
                .map(|i| {
                    if rng.random_bool(0.5) {
                        x[i]
                    } else {
                        rng.random_range(0..levels) as f64
                    }
                })
                .collect();
            match (kendall_tau_b(&x, &y), tau_b_naive(&x, &y)) {
                (Some(a), Some(b)) => {
                    assert!((a - b).abs() < 1e-12, "n={n} levels={levels}: {a} vs {b}")
                }
                (a, b) => assert_eq!(a.is_some(), b.is_some(), "n={n} levels={levels}"),
            }
        }
    }
}

#[test]
fn spearman_equals_the_rank_difference_formula_without_ties() {
    // Without ties rho = 1 - 6 sum d^2 / (n (n^2 - 1)).
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let n = 200;
    let x: Vec<f64> = (0..n).map(|_| rng.random::<f64>()).collect();
    let y: Vec<f64> = x.iter().map(|v| v + 0.3 * rng.random::<f64>()).collect();
    let (rx, ry) = (average_ranks(&x), average_ranks(&y));
    let d2: f64 = rx.iter().zip(&ry).map(|(a, b)| (a - b) * (a - b)).sum();
    let formula = 1.0 - 6.0 * d2 / (n as f64 * ((n * n) as f64 - 1.0));
    assert!((spearman_rho(&x, &y).unwrap() - formula).abs() < 1e-12);
}

#[test]
fn one_regressor_r_is_the_absolute_pearson_correlation() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let x: Vec<f64> = (0..100).map(|_| rng.random::<f64>()).collect();
    let y: Vec<f64> = x
        .iter()
        .map(|v| 3.0 - 2.0 * v + rng.random::<f64>())
        .collect();
    let fit = multiple_regression(std::slice::from_ref(&x), &y).unwrap();
    assert!((fit.r - pearson(&x, &y).unwrap().abs()).abs() < 1e-12);
    // Slope = r sy / sx.
    let (n, mx, my) = (
        x.len() as f64,
        x.iter().sum::<f64>() / 100.0,
        y.iter().sum::<f64>() / 100.0,
    );
    let sxy: f64 = x
        .iter()
        .zip(&y)
        .map(|(a, b)| (a - mx) * (b - my))
        .sum::<f64>()
        / n;
    let sxx: f64 = x.iter().map(|a| (a - mx) * (a - mx)).sum::<f64>() / n;
    assert!((fit.coefficients[1] - sxy / sxx).abs() < 1e-10);
    assert!((fit.coefficients[0] - (my - sxy / sxx * mx)).abs() < 1e-10);
}

#[test]
fn f_test_p_value_matches_the_f2_survival_function() {
    // For k = 2 regressors, P(F(2, v) > f) = (1 + 2 f / v)^(-v/2) in closed form.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    let n = 40;
    let a: Vec<f64> = (0..n).map(|_| rng.random::<f64>()).collect();
    let b: Vec<f64> = (0..n).map(|_| rng.random::<f64>()).collect();
    let y: Vec<f64> = (0..n).map(|i| 0.3 * a[i] + rng.random::<f64>()).collect();
    let fit = multiple_regression(&[a, b], &y).unwrap();
    assert_eq!(fit.k, 2);
    let v = (n - 3) as f64;
    let f = (fit.r2 / 2.0) / ((1.0 - fit.r2) / v);
    assert!((fit.f.unwrap() - f).abs() < 1e-12 * f.max(1.0));
    let p = (1.0 + 2.0 * f / v).powf(-v / 2.0);
    assert!(
        (fit.p_value.unwrap() - p).abs() < 1e-10,
        "{:?} vs {p}",
        fit.p_value
    );
}

#[test]
fn regression_handles_exact_fits_rank_deficiency_and_bad_input() {
    let d = vec![1.0, 2.0, 3.0, 4.0, 5.0];
    let y: Vec<f64> = d.iter().map(|v| 2.0 + v * v).collect();
    let sq: Vec<f64> = d.iter().map(|v| v * v).collect();
    let fit = multiple_regression(&[d.clone(), sq.clone()], &y).unwrap();
    assert!((fit.r - 1.0).abs() < 1e-12 && fit.p_value == Some(0.0));
    // A duplicated column is rank deficient: k counts it once.
    let fit = multiple_regression(&[d.clone(), d.clone()], &y).unwrap();
    assert_eq!(fit.k, 1);
    assert!(
        multiple_regression(std::slice::from_ref(&d), &[1.0; 5]).is_err(),
        "constant response"
    );
    assert!(multiple_regression(&[vec![1.0, f64::NAN, 2.0, 3.0, 4.0]], &y).is_err());
    assert!(multiple_regression(&[vec![1.0]], &y).is_err(), "shape");
}

#[test]
fn quantiles_interpolate_between_order_statistics() {
    let s = [10.0, 20.0, 30.0, 40.0, 50.0];
    // h = 4 q: q = 0.1 -> 10 + 0.4 * 10; q = 0.75 -> x[3] = 40.
    assert!((quantile(&s, 0.1) - 14.0).abs() < 1e-12);
    assert_eq!(quantile(&s, 0.75), 40.0);
    let sum = Summary::of(&[50.0, 10.0, 40.0, 20.0, 30.0]).unwrap();
    assert_eq!((sum.min, sum.median, sum.max), (10.0, 30.0, 50.0));
    assert!(Summary::of(&[]).is_none());
}

/// Brute force: the mean of the max over every B-subset.
fn best_over_all_subsets(v: &[f64], b: usize) -> f64 {
    let n = v.len();
    let (mut sum, mut count) = (0.0, 0usize);
    for mask in 0u32..(1 << n) {
        if mask.count_ones() as usize == b {
            sum += (0..n)
                .filter(|i| mask >> i & 1 == 1)
                .map(|i| v[i])
                .fold(f64::NEG_INFINITY, f64::max);
            count += 1;
        }
    }
    sum / count as f64
}

#[test]
fn expected_best_equals_subset_enumeration() {
    let v = [3.0, 9.0, 1.0, 4.0, 4.0, 7.5, 2.0, 6.0, 0.5, 8.0];
    for b in 1..=v.len() {
        let e = expected_best(&v, b).unwrap();
        assert!((e - best_over_all_subsets(&v, b)).abs() < 1e-12, "B = {b}");
    }
    assert_eq!(
        expected_best(&v, 50),
        Some(9.0),
        "budget above n evaluates everything"
    );
    assert_eq!(expected_best(&[], 3), None);
}

#[test]
fn simulated_search_converges_to_the_closed_form_and_ignores_thread_count() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(21);
    let v: Vec<f64> = (0..500).map(|_| rng.random::<f64>() * 100.0).collect();
    let trials = 4000;
    for b in [1, 5, 40] {
        let (mean, sem) = simulate_search(&v, b, trials, 7, 0);
        let exact = expected_best(&v, b).unwrap();
        // 4.5 standard errors (estimated from the trials themselves).
        let tol = common::mc_tol(sem * (trials as f64).sqrt(), trials, 4.5);
        assert!(
            (mean - exact).abs() <= tol,
            "B = {b}: {mean} vs {exact} (tol {tol})"
        );
    }
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let two = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let a = one.install(|| simulate_search(&v, 20, 300, 1, 4));
    let b = two.install(|| simulate_search(&v, 20, 300, 1, 4));
    assert_eq!(a, b);
}
