//! Finite-width Monte Carlo against the closed-form kernels and against each other
//! (issue 3). Every threshold comes from the sampling statistics: standard errors across
//! independent networks and Bonferroni-corrected normal quantiles (see `z_crit`).

mod common;

use archconv::montecarlo::{
    run, sample_network, width_sweep, McError, McInputs, McParams, McResult, Precision, Sampler,
    SweepParams,
};
use archconv::{Dag, Inputs, KernelKind, Lift};
use ndarray::Array2;
use statrs::distribution::{ContinuousCDF, Normal};

/// Two-sided normal critical value for `k` simultaneous tests at family-wise level
/// `alpha` (Bonferroni): `Phi^{-1}(1 - alpha / (2k))`.
fn z_crit(alpha: f64, k: usize) -> f64 {
    Normal::new(0.0, 1.0)
        .unwrap()
        .inverse_cdf(1.0 - alpha / (2.0 * k as f64))
}

fn inputs(n: usize, d: usize, seed: u64, lift: Lift) -> McInputs {
    let x = Inputs::gaussian(n, d, seed);
    McInputs::from_data(x.view(), lift).unwrap()
}

fn params(width: usize, seeds: usize, sampler: Sampler, seed: u64) -> McParams {
    McParams {
        width,
        seeds,
        sampler,
        seed,
        ..McParams::default()
    }
}

/// Counts entries (upper triangles of every node Gram, every mean entry) whose two-sample
/// z-score `|a - b| / sqrt(se_a^2 + se_b^2)` exceeds the Bonferroni bound, printing each.
fn two_sample_failures(a: &McResult, b: &McResult, alpha: f64) -> (usize, usize) {
    let mut zs = Vec::new();
    for (t, (na, nb)) in a.nodes.iter().zip(&b.nodes).enumerate() {
        let (sa, sb) = (na.gram_se.as_ref().unwrap(), nb.gram_se.as_ref().unwrap());
        let n = na.gram.nrows();
        for i in 0..n {
            for j in i..n {
                let se = (sa[[i, j]].powi(2) + sb[[i, j]].powi(2)).sqrt();
                zs.push((
                    format!("node {t} K[{i},{j}]"),
                    (na.gram[[i, j]] - nb.gram[[i, j]]) / se,
                    na.gram[[i, j]],
                    nb.gram[[i, j]],
                ));
            }
            let (ma, mb) = (na.mean_se.as_ref().unwrap(), nb.mean_se.as_ref().unwrap());
            let se = (ma[i].powi(2) + mb[i].powi(2)).sqrt();
            if se > 0.0 {
                zs.push((
                    format!("node {t} mu[{i}]"),
                    (na.mean[i] - nb.mean[i]) / se,
                    na.mean[i],
                    nb.mean[i],
                ));
            }
        }
    }
    let zc = z_crit(alpha, zs.len());
    let bad: Vec<_> = zs
        .iter()
        .filter(|z| z.1.is_nan() || z.1.abs() > zc)
        .collect();
    for (what, z, x, y) in &bad {
        eprintln!("{what}: z = {z:.2} (bound {zc:.2}): {x} vs {y}");
    }
    (bad.len(), zs.len())
}

fn lambda_z(a: &McResult, b: &McResult) -> f64 {
    let se = (a.lambda_min.se.unwrap().powi(2) + b.lambda_min.se.unwrap().powi(2)).sqrt();
    (a.lambda_min.mean - b.lambda_min.mean) / se
}

#[test]
fn explicit_and_conditional_samplers_agree_in_distribution() {
    // 64 networks each at m = 256. Each sampler's per-entry mean over networks is
    // approximately normal with the reported standard error, and the two samplers use
    // independent streams, so (a - b) / sqrt(se_a^2 + se_b^2) ~ N(0, 1) when they agree.
    // Family-wise false-alarm rate 1e-3 over all entries of all nodes (Bonferroni).
    // Cases: d > N (the conditional lift draws from a root of the data Gram), d < N
    // (node 0 has rank d and its edges draw d normals per row), both precisions.
    for (dag, lift, n, d, precision) in [
        (Dag::dag3(), Lift::ReluStem, 6, 10, Precision::F32),
        (Dag::dag2(), Lift::Dense, 6, 10, Precision::F64),
        (Dag::dag3(), Lift::Dense, 8, 3, Precision::F32),
    ] {
        let inp = inputs(n, d, 11, lift);
        let ex = run(&dag, &inp, &params(256, 64, Sampler::Explicit, 100), &|| {}).unwrap();
        let co = run(
            &dag,
            &inp,
            &McParams {
                precision,
                ..params(256, 64, Sampler::Conditional, 100)
            },
            &|| {},
        )
        .unwrap();
        let (bad, k) = two_sample_failures(&ex, &co, 1e-3);
        assert_eq!(
            bad,
            0,
            "{} of {k} entries differ between samplers ({lift} lift, N = {n}, d = {d}, \
             conditional {precision}, {})",
            bad,
            dag.describe()
        );
        let z = lambda_z(&ex, &co);
        assert!(
            z.abs() < z_crit(1e-3, 1),
            "lambda_min: explicit {:?} vs conditional {:?} (z = {z})",
            ex.lambda_min,
            co.lambda_min
        );
    }
}

#[test]
fn samplers_agree_when_the_gram_is_singular() {
    // N = 20 points (one duplicated) at width m = 8 < N: every empirical Gram has rank
    // <= 8, so the conditional sampler must use a semidefinite square root. Same z-test.
    let mut x = Inputs::gaussian(20, 6, 5);
    let row = x.row(3).to_owned();
    x.row_mut(7).assign(&row);
    let inp = McInputs::from_data(x.view(), Lift::Dense).unwrap();
    let dag = Dag::dag3();
    let ex = run(&dag, &inp, &params(8, 256, Sampler::Explicit, 1), &|| {}).unwrap();
    let co = run(&dag, &inp, &params(8, 256, Sampler::Conditional, 1), &|| {}).unwrap();
    let (bad, k) = two_sample_failures(&ex, &co, 1e-3);
    assert_eq!(
        bad, 0,
        "{bad} of {k} entries differ between samplers with a singular Gram"
    );
    // Identical inputs give identical features in every network: columns 3 and 7 agree.
    // In exact arithmetic they are equal. In floating point the data rows are equal, so
    // are the Gram's columns 3 and 7, and the pivoted root computes every row by one
    // formula, so its rows 3 and 7 are equal too (a unit test in `features` checks this
    // with a duplicate as pivot). Rounding can then enter only through different
    // summation orders of equal terms: a sum of `k` products differs by at most
    // `2 gamma_k ~ 2 k u` times its absolute sum, ReLU and edge sums are 1-Lipschitz, and
    // each of the `h` nodes adds a product of `k <= N` terms and a Gram of `m` terms, so
    // to first order `|G_3j - G_7j| <= 2 h (N + m + 2) u sqrt(G_33 G_jj)` (Cauchy-Schwarz
    // bounds the absolute sums).
    let nodes =
        sample_network(&dag, &inp, 8, Sampler::Conditional, Precision::F64, 9, None).unwrap();
    let (n, m, h) = (20.0, 8.0, nodes.len() as f64);
    let u = f64::EPSILON / 2.0;
    for (t, st) in nodes.iter().enumerate() {
        for j in 0..20 {
            let (a, b) = (st.gram[[3, j]], st.gram[[7, j]]);
            let tol = 2.0 * h * (n + m + 2.0) * u * (st.gram[[3, 3]] * st.gram[[j, j]]).sqrt();
            assert!(
                (a - b).abs() <= tol,
                "node {t} column {j}: {a} vs {b} (tolerance {tol:e})"
            );
        }
    }
}

#[test]
fn mc_node_grams_match_the_exact_kernel_entrywise() {
    // At m = 4096 with 32 networks the standard error of each entry is ~ 1/sqrt(mS) =
    // 3e-3 while the finite-width bias is O(1/m) = 2.4e-4, so the per-entry z-score
    // against the exact kernel is ~ N(0, 1) up to a 0.1 shift; Bonferroni at 1e-3.
    // On a chain all three kernels agree, so MC must match each of them.
    let inp = inputs(8, 12, 3, Lift::ReluStem);
    for dag in [Dag::dag3(), Dag::chain(3)] {
        let r = run(
            &dag,
            &inp,
            &params(4096, 32, Sampler::Conditional, 7),
            &|| {},
        )
        .unwrap();
        let kinds: &[KernelKind] = if dag == Dag::chain(3) {
            &KernelKind::ALL
        } else {
            &[KernelKind::Exact]
        };
        for &kind in kinds {
            let k = r.kernel(kind).unwrap();
            let mut zs = Vec::new();
            for (t, ns) in r.nodes.iter().enumerate() {
                let kt = k.node(t);
                let se = ns.gram_se.as_ref().unwrap();
                for ((i, j), v) in ns.gram.indexed_iter() {
                    if i <= j {
                        zs.push((
                            t,
                            i,
                            j,
                            (v - kt.gram[[i, j]]) / se[[i, j]],
                            *v,
                            kt.gram[[i, j]],
                        ));
                    }
                }
                let mse = ns.mean_se.as_ref().unwrap();
                for i in 0..ns.mean.len() {
                    if mse[i] > 0.0 {
                        zs.push((
                            t,
                            i,
                            usize::MAX,
                            (ns.mean[i] - kt.mean[i]) / mse[i],
                            ns.mean[i],
                            kt.mean[i],
                        ));
                    }
                }
            }
            let zc = z_crit(1e-3, zs.len()) + 0.1;
            for &(t, i, j, z, a, b) in &zs {
                assert!(
                    z.abs() < zc,
                    "{} vs {kind}: node {t} entry ({i},{j}) z = {z:.2} > {zc:.2}: MC {a} vs {b}",
                    dag.describe()
                );
            }
        }
        if dag == Dag::chain(3) {
            let d: Vec<f64> = r
                .comparisons
                .iter()
                .map(|c| c.rel_frobenius_of_mean)
                .collect();
            assert!(
                (d[0] - d[2]).abs() < 1e-9 && (d[1] - d[2]).abs() < 1e-9,
                "chain: kernels differ {d:?}"
            );
        }
    }
}

#[test]
fn mc_gram_converges_to_exact_kernel_not_pathsum() {
    // Per-network relative error against the exact kernel is pure sampling noise and
    // falls like m^{-1/2}; against the path-sum kernel it tends to the closed-form gap
    // ||K_exact - K_pathsum|| / ||K_pathsum|| (slope ~ 0). The slope's standard error is
    // propagated from each width's standard error (SlopeFit::slope_se); we allow 4 of
    // them plus 0.05 for the O(1/m) bias and the non-Gaussian norm at finite m.
    let inp = inputs(12, 16, 21, Lift::Dense);
    for dag in [Dag::dag2(), Dag::dag3()] {
        let sp = SweepParams {
            widths: vec![1024, 4096, 16384],
            base: params(0, 12, Sampler::Conditional, 1),
        };
        let sw = width_sweep(&dag, &inp, &sp, &|| {}).unwrap();
        let ex = sw.slope(KernelKind::Exact).unwrap();
        let ps = sw.slope(KernelKind::PathSum).unwrap();
        eprintln!(
            "{}: exact slope {ex:?}, path-sum slope {ps:?}",
            dag.describe()
        );
        assert!(
            (ex.slope + 0.5).abs() < 4.0 * ex.slope_se.unwrap() + 0.05,
            "exact slope {ex:?}"
        );
        assert!(
            ps.slope.abs() < 4.0 * ps.slope_se.unwrap() + 0.05,
            "path-sum slope {ps:?}"
        );
        let kex = inp.inputs().kernel(&dag, KernelKind::Exact).unwrap();
        let kps = inp.inputs().kernel(&dag, KernelKind::PathSum).unwrap();
        let gap = common::rel_frobenius(&kex.output().gram, &kps.output().gram);
        let last = sw.points.last().unwrap();
        let err = |k: KernelKind| last.errors.iter().find(|(kk, _)| *kk == k).unwrap().1.mean;
        // At m = 16384 the MC Gram sits within a small fraction of the gap from the exact
        // kernel, and at an O(1) distance from the path-sum kernel.
        assert!(
            gap > 0.3,
            "inputs should separate exact and path-sum (gap {gap})"
        );
        assert!(
            err(KernelKind::Exact) < 0.1 * gap,
            "exact error {} vs gap {gap}",
            err(KernelKind::Exact)
        );
        assert!(
            err(KernelKind::PathSum) > 0.5 * gap,
            "path-sum error {} vs gap {gap}",
            err(KernelKind::PathSum)
        );
    }
}

#[test]
fn lambda_min_orders_dag1_dag2_dag3_at_width_4096() {
    // Paper Sec. 3: lambda_min(DAG#1) < lambda_min(DAG#2) < lambda_min(DAG#3) (raw
    // scale). Each gap must exceed 4 standard errors of the difference of means.
    let inp = inputs(10, 16, 4, Lift::Dense);
    let r: Vec<McResult> = Dag::paper_dags()
        .iter()
        .map(|(_, d)| run(d, &inp, &params(4096, 12, Sampler::Conditional, 3), &|| {}).unwrap())
        .collect();
    for w in r.windows(2) {
        let z = lambda_z(&w[1], &w[0]);
        assert!(
            z > 4.0,
            "lambda_min not ordered: {:?} then {:?} (z = {z})",
            w[0].lambda_min,
            w[1].lambda_min
        );
    }
}

#[test]
fn same_seed_same_numbers_for_any_thread_count() {
    let inp = inputs(9, 7, 8, Lift::ReluStem);
    let dag = Dag::dag3();
    for (sampler, precision) in [
        (Sampler::Explicit, Precision::F32),
        (Sampler::Explicit, Precision::F64),
        (Sampler::Conditional, Precision::F32),
        (Sampler::Conditional, Precision::F64),
    ] {
        let sample = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| sample_network(&dag, &inp, 3000, sampler, precision, 42, None).unwrap())
        };
        let one = sample(1);
        for threads in [2, 3] {
            let other = sample(threads);
            for (t, (a, b)) in one.iter().zip(&other).enumerate() {
                assert!(
                    a == b,
                    "{sampler} {precision}: node {t} differs between 1 and {threads} threads"
                );
            }
        }
        let again = sample_network(&dag, &inp, 3000, sampler, precision, 43, None).unwrap();
        assert!(
            again[3].gram != one[3].gram,
            "different seeds must give different networks"
        );
    }
    // Whole runs: statistics are accumulated in seed order.
    let p = params(512, 6, Sampler::Conditional, 5);
    let a = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| run(&dag, &inp, &p, &|| {}).unwrap());
    let b = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap()
        .install(|| run(&dag, &inp, &p, &|| {}).unwrap());
    assert_eq!(a.output().gram, b.output().gram);
    assert_eq!(a.lambda_min, b.lambda_min);
}

#[test]
fn bad_input_gives_typed_errors_before_allocating() {
    let inp = inputs(4, 3, 0, Lift::Dense);
    let dag = Dag::dag1();
    assert!(matches!(
        run(&dag, &inp, &params(0, 4, Sampler::Conditional, 0), &|| {}),
        Err(McError::ZeroWidth)
    ));
    assert!(matches!(
        run(&dag, &inp, &params(64, 0, Sampler::Conditional, 0), &|| {}),
        Err(McError::ZeroSeeds)
    ));
    assert!(matches!(
        sample_network(&dag, &inp, 0, Sampler::Explicit, Precision::F32, 0, None),
        Err(McError::ZeroWidth)
    ));
    // A 2^40-wide explicit network needs ~2^40 x N x 8 bytes of features: refused by the
    // estimate, not by the allocator.
    let huge = run(
        &dag,
        &inp,
        &params(1 << 40, 2, Sampler::Explicit, 0),
        &|| {},
    );
    assert!(
        matches!(huge, Err(McError::TooLarge { width, points: 4, .. }) if width == 1 << 40),
        "{huge:?}"
    );
    let capped = McParams {
        memory_limit: Some(1 << 20),
        ..params(1 << 16, 2, Sampler::Conditional, 0)
    };
    let e = run(&dag, &inp, &capped, &|| {}).unwrap_err();
    assert!(matches!(e, McError::TooLarge { limit: 1048576, .. }), "{e}");
    assert!(e.to_string().contains("cap is 1.0 MiB"), "{e}");
    // 100000 points would need 240 GB of N x N Grams: refused before the Gram is formed.
    let x = Array2::<f64>::ones((100_000, 1));
    let e = McInputs::from_data_capped(x.view(), Lift::Dense, 1 << 30).unwrap_err();
    assert!(
        matches!(
            e,
            McError::TooManyPoints {
                points: 100_000,
                ..
            }
        ),
        "{e}"
    );
    // A DAG whose output is unreachable.
    let cut = Dag::parse("2_00_002").unwrap();
    assert!(matches!(
        run(&cut, &inp, &params(64, 2, Sampler::Conditional, 0), &|| {}),
        Err(McError::NoPath { node: 3 })
    ));
    let sw = SweepParams {
        widths: vec![64],
        base: McParams::default(),
    };
    assert!(matches!(
        width_sweep(&dag, &inp, &sw, &|| {}),
        Err(McError::BadSweep { .. })
    ));
}

#[cfg(not(feature = "cuda"))]
#[test]
fn cuda_without_the_feature_is_a_clear_error() {
    let inp = inputs(4, 3, 0, Lift::Dense);
    let p = McParams {
        backend: archconv::montecarlo::Backend::Cuda,
        ..params(64, 2, Sampler::Conditional, 0)
    };
    let e = run(&Dag::dag1(), &inp, &p, &|| {}).unwrap_err();
    assert!(
        matches!(e, McError::CudaUnavailable { .. }) && e.to_string().contains("feature"),
        "{e}"
    );
}
