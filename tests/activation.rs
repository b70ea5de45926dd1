//! Activations and their Gaussian expectations (PAPER.md section 9): closed forms against
//! quadrature and Monte Carlo, derivatives against finite differences, matrices against
//! the scalar duals, parsing.
mod common;

use archconv::activation::{Activation, ActivationError, Dual, Route, NAMES};
use archconv::kernel::relu::{f_matrix, fdot_matrix};
use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

const DUALS: [Dual; 2] = [Dual::Nngp, Dual::Ntk];

/// Tolerance of the quadrature route, relative to the scale `sqrt(E[f(u)^2] E[f(v)^2])`:
/// 32 ulps. The rule's own truncation is far below this; what remains is the rounding of
/// ~1e4-1e5 weighted terms and of the double-precision nodes (a few ulps each, partly
/// cancelling), and the closed forms' own few ulps.
const QUAD_ULPS: f64 = 32.0;

fn closed_form_activations() -> Vec<Activation> {
    vec![
        Activation::Relu,
        Activation::AbRelu { a: 0.1, b: 1.0 },
        Activation::AbRelu { a: -0.5, b: 1.5 },
        Activation::Abs,
        Activation::Erf,
        Activation::Identity,
        Activation::Gelu,
    ]
}

fn all_activations() -> Vec<Activation> {
    let mut v = closed_form_activations();
    v.extend([
        Activation::Tanh,
        Activation::Softplus,
        Activation::Silu,
        Activation::custom("sin", f64::sin, f64::cos),
        // A kinked custom function: a ReLU written by hand, integrated by quadrature.
        Activation::custom(
            "my_relu",
            |x: f64| x.max(0.0),
            |x: f64| if x > 0.0 { 1.0 } else { 0.0 },
        ),
    ]);
    v
}

/// The closed form's sensitivity to the rounding of its inputs,
/// `|s11 dE/ds11| + |s22 dE/ds22| + |s12 dE/ds12|` (central differences, relative step
/// 1e-6). Near `rho = ±1`, or for large variances, two routes that round `rho` or
/// `s11 s22 - s12^2` differently may differ by a few ulps of the inputs times this.
fn sensitivity(act: &Activation, which: Dual, s11: f64, s22: f64, s12: f64) -> f64 {
    let h = 1e-6;
    let d = |a: [f64; 3], b: [f64; 3]| {
        (act.dual(which, a[0], a[1], a[2]) - act.dual(which, b[0], b[1], b[2])).abs() / (2.0 * h)
    };
    d([s11 * (1.0 + h), s22, s12], [s11 * (1.0 - h), s22, s12])
        + d([s11, s22 * (1.0 + h), s12], [s11, s22 * (1.0 - h), s12])
        + d([s11, s22, s12 * (1.0 + h)], [s11, s22, s12 * (1.0 - h)])
}

/// Tolerance between the closed form and quadrature: [`QUAD_ULPS`] of the scale plus 8
/// ulps of the inputs propagated through [`sensitivity`].
fn quad_tol(act: &Activation, which: Dual, s11: f64, s22: f64, s12: f64) -> f64 {
    QUAD_ULPS * common::EPS * scale(act, which, s11, s22)
        + 8.0 * common::EPS * sensitivity(act, which, s11, s22, s12)
}

/// `sqrt(E[f(u)^2] E[f(v)^2])`, the Cauchy–Schwarz bound of `|dual|`, from the activation's
/// own diagonal rule (`dual` at `s12 = s11 = s22`).
fn scale(act: &Activation, which: Dual, s11: f64, s22: f64) -> f64 {
    (act.dual(which, s11, s11, s11) * act.dual(which, s22, s22, s22))
        .sqrt()
        .max(f64::MIN_POSITIVE)
}

#[test]
fn closed_forms_match_quadrature_over_variances_and_correlations() {
    let variances: [f64; 5] = [1e-3, 0.1, 1.0, 10.0, 1e3];
    let rhos = [-1.0, -0.999, -0.5, 0.0, 0.3, 0.999, 1.0];
    for act in closed_form_activations() {
        for which in DUALS {
            let mut worst = (0.0, 0.0, 0.0, 0.0);
            let mut worst_scaled: f64 = 0.0;
            for &s11 in &variances {
                for &s22 in &variances {
                    for &rho in &rhos {
                        let s12 = rho * s11.sqrt() * s22.sqrt();
                        let exact = act.dual(which, s11, s22, s12);
                        let quad = act.dual_by_quadrature(which, s11, s22, s12);
                        let err = (quad - exact).abs() / quad_tol(&act, which, s11, s22, s12);
                        worst_scaled =
                            worst_scaled.max((quad - exact).abs() / scale(&act, which, s11, s22));
                        if err > worst.0 {
                            worst = (err, s11, s22, rho);
                        }
                    }
                }
            }
            let (err, s11, s22, rho) = worst;
            println!(
                "{act} {which:?}: worst |quadrature - closed| = {worst_scaled:.1e} of the scale; \
                 worst / tol = {err:.2} at ({s11}, {s22}, {rho})"
            );
            assert!(
                err <= 1.0,
                "{act} {which:?}: closed form vs quadrature differ by {err} tolerances at \
                 s11 = {s11}, s22 = {s22}, rho = {rho}"
            );
        }
    }
}

#[test]
fn closed_forms_match_quadrature_at_large_variance() {
    // Variances up to 1e4 (standard deviations up to 100): the panels scale with them.
    let rhos = [-1.0, -0.9, 0.0, 0.6, 0.99, 1.0];
    for act in closed_form_activations() {
        for which in DUALS {
            for (s11, s22) in [(1e4f64, 1e4f64), (1e4, 1e-2), (3e3, 1e4)] {
                for &rho in &rhos {
                    let s12 = rho * s11.sqrt() * s22.sqrt();
                    let exact = act.dual(which, s11, s22, s12);
                    let quad = act.dual_by_quadrature(which, s11, s22, s12);
                    let tol = quad_tol(&act, which, s11, s22, s12);
                    assert!(
                        (quad - exact).abs() <= tol,
                        "{act} {which:?} at ({s11}, {s22}, rho = {rho}): quadrature {quad} vs \
                         closed {exact} (tol {tol:e})"
                    );
                }
            }
        }
    }
}

#[test]
fn closed_form_means_and_diagonals_match_quadrature() {
    for act in closed_form_activations() {
        for s in [1e-3, 0.5, 1.0, 7.0, 1e3, 1e4] {
            let (m, q) = (act.mean(s), act.mean_by_quadrature(s));
            // Scale of a mean: sqrt(E[phi^2]).
            let sc = act.dual(Dual::Nngp, s, s, s).sqrt();
            assert!(
                (m - q).abs() <= QUAD_ULPS * common::EPS * sc,
                "{act} mean at s = {s}: {m} vs {q}"
            );
            for which in DUALS {
                let (d, q) = (
                    act.dual(which, s, s, s),
                    act.dual_by_quadrature(which, s, s, s),
                );
                assert!(
                    (d - q).abs() <= QUAD_ULPS * common::EPS * d.abs(),
                    "{act} {which:?} diagonal at s = {s}: {d} vs {q}"
                );
            }
        }
    }
}

/// Monte Carlo estimates of `E[f(u) f(v)]` and `E[phi(u)]` with their standard errors.
fn monte_carlo(
    act: &Activation,
    s11: f64,
    s22: f64,
    rho: f64,
    n: usize,
    seed: u64,
) -> ([(f64, f64); 2], (f64, f64)) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (a, b) = (s11.sqrt(), s22.sqrt());
    let rc = (1.0 - rho * rho).max(0.0).sqrt();
    let mut sums = [[0.0f64; 2]; 3];
    for _ in 0..n {
        let x: f64 = StandardNormal.sample(&mut rng);
        let y: f64 = StandardNormal.sample(&mut rng);
        let (u, v) = (a * x, b * (rho * x + rc * y));
        let vals = [
            act.phi(u) * act.phi(v),
            act.dphi(u) * act.dphi(v),
            act.phi(u),
        ];
        for (s, val) in sums.iter_mut().zip(vals) {
            s[0] += val;
            s[1] += val * val;
        }
    }
    let nf = n as f64;
    let est = |s: [f64; 2]| {
        let mean = s[0] / nf;
        let var = (s[1] / nf - mean * mean).max(0.0) * nf / (nf - 1.0);
        (mean, var.sqrt())
    };
    ([est(sums[0]), est(sums[1])], est(sums[2]))
}

#[test]
fn duals_and_means_agree_with_monte_carlo() {
    // 2e5 samples per case, fixed seed; tolerance 5 standard errors of the mean, the
    // standard deviation estimated from the same samples (two-sided false alarm ~6e-7
    // per check).
    let n = 200_000;
    let cases = [
        (1.0, 1.0, 0.5),
        (2.0, 0.5, -0.3),
        (0.3, 4.0, 0.9),
        (1.5, 1.5, -1.0),
    ];
    for (c, act) in all_activations().into_iter().enumerate() {
        for (k, &(s11, s22, rho)) in cases.iter().enumerate() {
            let seed = 1000 + 17 * c as u64 + k as u64;
            let (duals, (mean_mc, mean_sd)) = monte_carlo(&act, s11, s22, rho, n, seed);
            let s12 = rho * s11.sqrt() * s22.sqrt();
            for (which, (mc, sd)) in DUALS.into_iter().zip(duals) {
                let exact = act.dual(which, s11, s22, s12);
                let tol = common::mc_tol(sd, n, 5.0).max(1e-15);
                assert!(
                    (exact - mc).abs() <= tol,
                    "{act} {which:?} at ({s11}, {s22}, rho {rho}): exact {exact}, Monte Carlo \
                     {mc} +- {:e} (tol {tol:e})",
                    sd / (n as f64).sqrt()
                );
            }
            let exact = act.mean(s11);
            let tol = common::mc_tol(mean_sd, n, 5.0).max(1e-15);
            assert!(
                (exact - mean_mc).abs() <= tol,
                "{act} mean at s = {s11}: exact {exact}, Monte Carlo {mean_mc} (tol {tol:e})"
            );
        }
    }
}

#[test]
fn dphi_matches_central_differences_away_from_kinks() {
    // h = 1e-5: truncation h^2 |phi'''| / 6 <= ~1e-10 for these functions on [-4, 4],
    // rounding ~eps |phi| / h <= ~1e-10; tolerance 1e-8 (100x both).
    let h = 1e-5;
    for act in all_activations() {
        for i in -80..=80 {
            let x = i as f64 / 20.0 + 0.013; // never within 1e-3 of the kink at 0
            let fd = (act.phi(x + h) - act.phi(x - h)) / (2.0 * h);
            let d = act.dphi(x);
            assert!(
                (fd - d).abs() <= 1e-8 * d.abs().max(1.0),
                "{act}: phi'({x}) = {d}, central difference {fd}"
            );
        }
    }
}

#[test]
fn kink_conventions() {
    assert_eq!(Activation::Relu.dphi(0.0), 0.0);
    assert_eq!(Activation::Abs.dphi(0.0), 0.0);
    assert_eq!(Activation::AbRelu { a: 0.1, b: 1.0 }.dphi(0.0), 0.0);
    assert_eq!(Activation::AbRelu { a: 2.0, b: 2.0 }.dphi(0.0), 2.0);
    assert_eq!(Activation::Identity.dphi(0.0), 1.0);
    // Abs is ABReLU(-1, 1) everywhere, kink included.
    let ab = Activation::AbRelu { a: -1.0, b: 1.0 };
    for x in [-2.0, -0.0, 0.0, 3.0] {
        assert_eq!(Activation::Abs.phi(x), ab.phi(x));
        assert_eq!(Activation::Abs.dphi(x), ab.dphi(x));
    }
}

#[test]
fn ntk_dual_is_the_derivative_of_the_nngp_dual_in_s12() {
    // Price's theorem for smooth phi: d/ds12 E[phi(u) phi(v)] = E[phi'(u) phi'(v)].
    // Central difference with h = 1e-4: truncation h^2/6 |d^3 E / ds12^3| ~ 1e-9, rounding
    // (of the duals, <= 32 ulps of the scale) / h ~ 1e-11; tolerance 1e-7 of the scale.
    let smooth = [
        Activation::Erf,
        Activation::Gelu,
        Activation::Identity,
        Activation::Tanh,
        Activation::Softplus,
        Activation::Silu,
        Activation::custom("sin", f64::sin, f64::cos),
    ];
    let h = 1e-4;
    for act in smooth {
        for (s11, s22, rho) in [(1.0, 1.0, 0.3), (0.5, 2.0, -0.6), (3.0, 0.7, 0.8)] {
            let s12 = rho * f64::sqrt(s11 * s22);
            let fd = (act.dual(Dual::Nngp, s11, s22, s12 + h)
                - act.dual(Dual::Nngp, s11, s22, s12 - h))
                / (2.0 * h);
            let ntk = act.dual(Dual::Ntk, s11, s22, s12);
            let sc = scale(&act, Dual::Ntk, s11, s22);
            assert!(
                (fd - ntk).abs() <= 1e-7 * sc,
                "{act} at ({s11}, {s22}, {s12}): NTK dual {ntk}, d/ds12 of the NNGP dual {fd}"
            );
        }
    }
}

/// A PSD `n x n` kernel `X X^T / d` whose rows are scaled so the diagonal varies.
fn random_kernel(n: usize, d: usize, seed: u64) -> Array2<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x = Array2::from_shape_fn((n, d), |(i, _)| {
        let z: f64 = StandardNormal.sample(&mut rng);
        z * (0.3 + (i % 7) as f64 * 0.4)
    });
    x.dot(&x.t()) / d as f64
}

/// `random_kernel` with rows rescaled to norms `norms[i % norms.len()]`: few distinct
/// diagonal values (one table per pair of them).
fn kernel_with_norms(n: usize, d: usize, seed: u64, norms: &[f64]) -> Array2<f64> {
    let mut k = random_kernel(n, d, seed);
    let sd: Vec<f64> = (0..n).map(|i| k[[i, i]].sqrt()).collect();
    for i in 0..n {
        for j in 0..n {
            k[[i, j]] *= norms[i % norms.len()] * norms[j % norms.len()] / (sd[i] * sd[j]);
        }
    }
    k
}

/// Every entry of `m` against the scalar dual; the tolerance is `ulps` of the entry's scale.
#[track_caller]
fn assert_matches_scalar(
    act: &Activation,
    m: &Array2<f64>,
    k: &Array2<f64>,
    (sw2, sb2): (f64, f64),
    which: Dual,
    ulps: f64,
    what: &str,
) {
    let n = k.nrows();
    for i in 0..n {
        for j in 0..n {
            let (a, b, c) = (
                sw2 * k[[i, i]] + sb2,
                sw2 * k[[j, j]] + sb2,
                sw2 * k[[i, j]] + sb2,
            );
            let want = act.dual(which, a, b, c);
            let tol = ulps * common::EPS * scale(act, which, a, b);
            assert!(
                (m[[i, j]] - want).abs() <= tol,
                "{act} {which:?} {what}: entry ({i}, {j}) = {} vs scalar {want} (tol {tol:e})",
                m[[i, j]]
            );
            assert_eq!(
                m[[i, j]].to_bits(),
                m[[j, i]].to_bits(),
                "symmetric at ({i}, {j})"
            );
        }
    }
}

#[test]
fn dual_matrix_equals_the_scalar_dual_on_every_route() {
    let k = random_kernel(24, 5, 7);
    for act in all_activations() {
        for which in DUALS {
            let auto = act.dual_matrix(k.view(), 1.3, 0.2, which);
            // Closed forms: the same formula per entry (4 ulps of slack). Quadrature: a
            // non-constant diagonal makes Auto take per-entry quadrature, the scalar route
            // itself, but with the two variables swapped for the upper triangle.
            let ulps = if act.is_closed_form() { 4.0 } else { QUAD_ULPS };
            assert_matches_scalar(&act, &auto, &k, (1.3, 0.2), which, ulps, "auto");
            // Tables: three distinct diagonal values, six tables.
            let k3 = kernel_with_norms(24, 5, 8, &[1.0, 2.0, 0.5]);
            let tables = act.dual_matrix_by(k3.view(), 1.3, 0.2, which, Route::Tables);
            assert_matches_scalar(&act, &tables, &k3, (1.3, 0.2), which, QUAD_ULPS, "tables");
        }
    }
    // Direct route for the closed forms (and the default one for the quadrature ones).
    for act in closed_form_activations() {
        for which in DUALS {
            let direct = act.dual_matrix_by(k.view(), 0.7, 0.0, which, Route::Direct);
            assert_matches_scalar(&act, &direct, &k, (0.7, 0.0), which, QUAD_ULPS, "direct");
        }
    }
}

#[test]
fn constant_diagonal_takes_one_table_that_matches_the_scalar_dual() {
    // 150 unit-norm points: one pair of diagonal values, so Auto builds one table.
    let n = 150;
    let k = kernel_with_norms(n, 6, 11, &[1.0]);
    for act in [Activation::Tanh, Activation::Silu, Activation::Erf] {
        for which in DUALS {
            let m = act.dual_matrix_by(k.view(), 1.5, 0.1, which, Route::Tables);
            let auto = act.dual_matrix(k.view(), 1.5, 0.1, which);
            if !act.is_closed_form() {
                assert_eq!(m, auto, "{act}: Auto takes the table route here");
            }
            // Check a spread of entries against per-entry quadrature.
            for (i, j) in (0..n)
                .step_by(13)
                .flat_map(|i| (0..n).step_by(17).map(move |j| (i, j)))
            {
                let (a, b, c) = (
                    1.5 * k[[i, i]] + 0.1,
                    1.5 * k[[j, j]] + 0.1,
                    1.5 * k[[i, j]] + 0.1,
                );
                let want = act.dual_by_quadrature(which, a, b, c);
                let tol = QUAD_ULPS * common::EPS * scale(&act, which, a, b);
                assert!(
                    (m[[i, j]] - want).abs() <= tol,
                    "{act} {which:?} ({i}, {j}): table {} vs quadrature {want}",
                    m[[i, j]]
                );
            }
        }
    }
}

#[test]
fn relu_with_kaiming_scale_is_the_arc_cosine_map() {
    let k = random_kernel(60, 4, 3);
    let ours = Activation::Relu.dual_matrix(k.view(), 2.0, 0.0, Dual::Nngp);
    let f = f_matrix(k.view());
    for ((i, j), &x) in ours.indexed_iter() {
        let y = f[[i, j]];
        assert!(
            (x - y).abs() <= 4.0 * common::EPS * (f[[i, i]] * f[[j, j]]).sqrt(),
            "({i}, {j}): {x} vs f_matrix {y}"
        );
    }
    // NTK: sw2 E[relu' relu'] is fdot.
    let ntk = Activation::Relu.dual_matrix(k.view(), 2.0, 0.0, Dual::Ntk) * 2.0;
    common::assert_matrix_close(&ntk, &fdot_matrix(k.view()), 8.0 * common::EPS, "fdot");
}

#[test]
fn zero_variance_rows_follow_the_deterministic_rule() {
    // Point 2 is the origin: K_22 = 0 and its row is zero; sb2 = 0 keeps Sigma_22 = 0, so
    // u_2 = 0 and E[f(0) f(v)] = f(0) E[f(v)]. E[phi'(v)] comes from Stein's lemma,
    // E[phi'(v)] = E[v phi(v)] / s, an independent integrand.
    let mut k = kernel_with_norms(6, 3, 5, &[1.0, 1.5]);
    for j in 0..6 {
        k[[2, j]] = 0.0;
        k[[j, 2]] = 0.0;
    }
    for act in all_activations() {
        let a2 = act.clone();
        let v_phi = Activation::custom("v_phi", move |x| x * a2.phi(x), |_| 0.0);
        for which in DUALS {
            let f0 = match which {
                Dual::Nngp => act.phi(0.0),
                Dual::Ntk => act.dphi(0.0),
            };
            let want = |j: usize| {
                let s = k[[j, j]];
                if j == 2 {
                    f0 * f0
                } else {
                    f0 * match which {
                        Dual::Nngp => act.mean(s),
                        Dual::Ntk => v_phi.mean(s) / s,
                    }
                }
            };
            for route in [Route::Auto, Route::Tables, Route::Direct] {
                let m = act.dual_matrix_by(k.view(), 1.0, 0.0, which, route);
                for j in 0..6 {
                    let w = want(j);
                    assert_eq!(m[[j, 2]].to_bits(), m[[2, j]].to_bits());
                    assert!(
                        (m[[2, j]] - w).abs() <= 64.0 * common::EPS * w.abs(),
                        "{act} {which:?} {route:?} (2, {j}): {} vs {w}",
                        m[[2, j]]
                    );
                    let scalar = act.dual(which, 0.0, k[[j, j]], 0.0);
                    assert!((m[[2, j]] - scalar).abs() <= 64.0 * common::EPS * w.abs());
                }
            }
        }
    }
    // Closed values: ReLU gives 0 for both duals, erf's NTK dual (4/pi)/sqrt(1 + 2 s).
    let s = 2.5;
    assert_eq!(Activation::Relu.dual(Dual::Ntk, 0.0, s, 0.0), 0.0);
    assert_eq!(Activation::Relu.dual(Dual::Nngp, s, 0.0, 0.0), 0.0);
    let erf = Activation::Erf.dual(Dual::Ntk, 0.0, s, 0.0);
    let want = 4.0 / std::f64::consts::PI / (1.0 + 2.0 * s).sqrt();
    assert!((erf - want).abs() <= 4.0 * common::EPS * want);
    let gelu = Activation::Gelu.dual(Dual::Ntk, s, 0.0, 0.0);
    assert!((gelu - 0.25).abs() <= 4.0 * common::EPS);
}

#[test]
fn no_nan_at_full_correlation_or_zero_diagonal() {
    for act in all_activations() {
        for which in DUALS {
            for (s11, s22) in [
                (1.0f64, 1.0f64),
                (1e-3, 1e3),
                (0.0, 2.0),
                (0.0, 0.0),
                (1e4, 1e4),
            ] {
                let c = (s11 * s22).sqrt();
                // rho = ±1 exactly and just outside (rounding of a PSD matrix).
                for s12 in [c, -c, c * (1.0 + 1e-15), -c * (1.0 + 1e-15)] {
                    for v in [
                        act.dual(which, s11, s22, s12),
                        act.dual_by_quadrature(which, s11, s22, s12),
                    ] {
                        assert!(
                            v.is_finite(),
                            "{act} {which:?} at ({s11}, {s22}, {s12}): {v}"
                        );
                    }
                }
            }
            // A rank-one kernel (every rho = ±1) with a zero diagonal entry.
            let x = [1.0, -1.0, 0.0, 1.0, -1.0];
            let k = Array2::from_shape_fn((5, 5), |(i, j)| x[i] * x[j]);
            for route in [Route::Auto, Route::Tables, Route::Direct] {
                let m = act.dual_matrix_by(k.view(), 1.0, 0.0, which, route);
                assert!(
                    m.iter().all(|v| v.is_finite()),
                    "{act} {which:?} {route:?}: {m}"
                );
            }
            assert!(act.mean(0.0).is_finite() && act.mean(1e4).is_finite());
        }
    }
}

#[test]
fn output_is_exactly_symmetric_even_for_an_asymmetric_upper_triangle() {
    let mut k = random_kernel(30, 4, 9);
    for i in 0..30 {
        for j in i + 1..30 {
            k[[i, j]] *= 1.0 + 1e-9; // the upper triangle is ignored
        }
    }
    for act in [Activation::Gelu, Activation::Tanh] {
        let m = act.dual_matrix(k.view(), 1.0, 0.0, Dual::Nngp);
        assert_eq!(m, m.t(), "{act}");
    }
}

#[test]
fn results_do_not_depend_on_the_number_of_threads() {
    // Constant diagonal (Auto: one table for tanh) and a small varying one (Direct).
    let big = kernel_with_norms(300, 5, 13, &[1.0]);
    let small = random_kernel(30, 5, 14);
    for act in [Activation::Relu, Activation::Tanh, Activation::Gelu] {
        for (route, k) in [
            (Route::Auto, &big),
            (Route::Tables, &big),
            (Route::Direct, &small),
        ] {
            let run = |threads| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .expect("thread pool")
                    .install(|| act.dual_matrix_by(k.view(), 1.0, 0.0, Dual::Ntk, route))
            };
            assert_eq!(run(1), run(3), "{act} {route:?}");
        }
    }
}

#[test]
fn mean_vector_applies_the_mean_to_each_variance() {
    let diag = ndarray::array![1.0, 0.0, 2.5, 1.0];
    for act in all_activations() {
        let m = act.mean_vector(diag.view(), 1.5, 0.2);
        for (i, &k) in diag.iter().enumerate() {
            assert_eq!(m[i], act.mean(1.5 * k + 0.2), "{act} {i}");
        }
    }
    let zero = Activation::Softplus.mean_vector(ndarray::array![0.0].view(), 1.0, 0.0);
    assert_eq!(zero[0], 2f64.ln());
}

#[test]
fn display_round_trips_through_parse() {
    let specs = [
        "relu",
        "leaky_relu(0.1)",
        "abrelu(-0.5,1.5)",
        "abs",
        "erf",
        "identity",
        "gelu",
        "tanh",
        "softplus",
        "silu",
        "leaky_relu(-0)",
        "abrelu(1e-300,123456789.125)",
    ];
    for s in specs {
        let a = Activation::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        let back = Activation::parse(&a.to_string()).expect("display parses");
        assert_eq!(back, a, "{s} -> {a}");
        assert_eq!(back.to_string(), a.to_string());
        let json = serde_json::to_string(&a).expect("serialises");
        let de: Activation = serde_json::from_str(&json).expect("deserialises");
        assert_eq!(de, a, "{json}");
    }
    for name in NAMES {
        let spec = match *name {
            "leaky_relu" => "leaky_relu(0.2)".to_string(),
            "abrelu" => "abrelu(0.2,2)".to_string(),
            other => other.to_string(),
        };
        assert!(Activation::parse(&spec).is_ok(), "{spec}");
    }
    assert_eq!(
        Activation::parse(" Leaky_ReLU( 0.25 ) "),
        Ok(Activation::AbRelu { a: 0.25, b: 1.0 })
    );
    assert_eq!(Activation::parse("linear"), Ok(Activation::Identity));
    assert_eq!("GELU".parse::<Activation>(), Ok(Activation::Gelu));
}

#[test]
fn bad_specifications_are_typed_errors_that_say_what_is_wrong() {
    let e = Activation::parse("swish").unwrap_err();
    assert_eq!(
        e,
        ActivationError::Unknown {
            name: "swish".into()
        }
    );
    let msg = e.to_string();
    for name in NAMES {
        assert!(msg.contains(name), "`{msg}` lists {name}");
    }
    assert!(matches!(
        Activation::parse("leaky_relu"),
        Err(ActivationError::Arity {
            expected: 1,
            got: 0,
            ..
        })
    ));
    assert!(matches!(
        Activation::parse("relu(1)"),
        Err(ActivationError::Arity {
            expected: 0,
            got: 1,
            ..
        })
    ));
    assert!(matches!(
        Activation::parse("abrelu(1,x)"),
        Err(ActivationError::BadNumber { param: "b", .. })
    ));
    for bad in ["leaky_relu(inf)", "leaky_relu(NaN)", "abrelu(1,-inf)"] {
        let e = Activation::parse(bad).unwrap_err();
        assert!(
            matches!(e, ActivationError::NonFinite { .. }),
            "{bad}: {e:?}"
        );
        assert!(e.to_string().contains("finite"), "{e}");
    }
    for bad in ["", "leaky_relu(0.1", "leaky_relu:0.1", "relu((1))", "(1)"] {
        let e = Activation::parse(bad).unwrap_err();
        assert!(
            matches!(e, ActivationError::Syntax { .. }),
            "{bad:?}: {e:?}"
        );
    }
}

#[test]
fn custom_activations_compare_by_identity_and_do_not_deserialise() {
    let a = Activation::custom("cube", |x| x * x * x, |x| 3.0 * x * x);
    let b = a.clone();
    let c = Activation::custom("cube", |x| x * x * x, |x| 3.0 * x * x);
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_ne!(a, Activation::Relu);
    assert_eq!(serde_json::to_string(&a).expect("serialises"), "\"cube\"");
    let e = serde_json::from_str::<Activation>("\"cube\"").unwrap_err();
    assert!(e.to_string().contains("unknown activation `cube`"), "{e}");
    assert!(e.to_string().contains("custom"), "{e}");
    assert!(!a.is_closed_form());
    assert!(closed_form_activations()
        .iter()
        .all(Activation::is_closed_form));
}

#[test]
fn nan_input_gives_nan_not_a_silent_number() {
    let mut k = kernel_with_norms(5, 3, 2, &[1.0]);
    k[[1, 1]] = f64::NAN;
    for act in [Activation::Relu, Activation::Tanh] {
        for route in [Route::Auto, Route::Tables, Route::Direct] {
            let m = act.dual_matrix_by(k.view(), 1.0, 0.0, Dual::Nngp, route);
            assert!(
                m.row(1).iter().chain(m.column(1)).all(|v| v.is_nan()),
                "{act} {route:?}"
            );
            assert!(
                m[[0, 2]].is_finite() && m[[3, 3]].is_finite(),
                "{act} {route:?}"
            );
        }
        assert!(act.dual(Dual::Nngp, 1.0, 1.0, f64::NAN).is_nan());
        assert!(act.mean(f64::NAN).is_nan());
    }
}

#[test]
fn empty_and_single_point_kernels() {
    for act in [Activation::Relu, Activation::Tanh] {
        for route in [Route::Auto, Route::Tables, Route::Direct] {
            let empty =
                act.dual_matrix_by(Array2::zeros((0, 0)).view(), 1.0, 0.0, Dual::Ntk, route);
            assert_eq!(empty.dim(), (0, 0));
            let one =
                act.dual_matrix_by(ndarray::array![[2.0]].view(), 1.5, 0.5, Dual::Nngp, route);
            let want = act.dual_by_quadrature(Dual::Nngp, 3.5, 3.5, 3.5);
            assert!(
                (one[[0, 0]] - want).abs() <= QUAD_ULPS * common::EPS * want,
                "{act} {route:?}"
            );
        }
    }
}
