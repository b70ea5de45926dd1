//! Finite-width networks with general activations, weight and bias variances (PAPER.md
//! section 9; issue 13 item 4) converge to the exact kernel of section 7 with the maps
//! `F_e`, `a_e` of section 9, and not to the independent-branch kernel.
//!
//! Statistics (every threshold from the samples, none tuned):
//!
//! * Per network the relative Frobenius error `e(m) = ||K_MC - K||_F / ||K||_F` against the
//!   exact kernel is sampling noise of size `~ m^{-1/2}`, so the least-squares slope of
//!   `ln(mean_s e)` on `ln(m)` is `-1/2`. Its standard error `se` is propagated from each
//!   width's standard error over seeds ([`archconv::montecarlo::SlopeFit::slope_se`]). We
//!   allow `4 se` (two-sided p ~ 6e-5 for a Gaussian slope) plus `0.05` for what the noise
//!   model leaves out at small `m`: the `O(1/m)` bias of the Gram (a nonzero-mean
//!   activation's finite-width correction) next to its `O(m^{-1/2})` noise, and the norm
//!   of a non-Gaussian matrix — the same allowance as `tests/montecarlo.rs`.
//! * The independent-branch kernel differs from the exact one by the closed-form gap
//!   `g = ||K_ex - K_ib||_F / ||K_ib||_F`. At the largest width the exact error, plus 4 of
//!   its standard errors, must sit below `g / 4`, and the independent-branch error, less
//!   4 standard errors, above `g / 2`: the finite networks resolve the two kernels, and
//!   the distance to the independent-branch kernel stays at the gap (triangle inequality)
//!   while the exact error keeps falling. Its slope is checked to be far from `-1/2`.
//!
//! Each case samples 8 networks at 7 widths `64 ..= 4096` with `N = 8` points (the
//! largest width makes the exact error, `~ 0.06` on DAG#3, small next to the gap `~ 0.6`):
//! a few seconds in the test profile.

use archconv::activation::Activation;
use archconv::model::{EdgeParams, LiftParams};
use archconv::montecarlo::{width_sweep, McInputs, McParams, Sampler, SweepParams};
use archconv::{Dag, Inputs, KernelKind};

/// The DAG of the odd-activation cases: two skip-only routes from node 1 to the output
/// (`1 -> 3` and `1 -> 2 -> 3`), and a linear edge `0 -> 2`:
/// `X^2 = X^1 + phi(W X^0)`, `X^3 = X^1 + X^2`. An odd `phi` has mean 0, so every mean
/// cross term vanishes and the exact kernel differs from the independent-branch one only
/// by the skip-pair term `2 S^{2,1} = 2 K^1`.
const SKIP_PAIR_DAG: &str =
    r#"{"nodes":4,"edges":[[0,1,"linear"],[1,2,"skip"],[0,2,"linear"],[1,3,"skip"],[2,3,"skip"]]}"#;

fn rel(a: &ndarray::Array2<f64>, b: &ndarray::Array2<f64>) -> f64 {
    let d: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
    let n: f64 = b.iter().map(|y| y * y).sum();
    (d / n).sqrt()
}

/// Sweeps `dag` with edge parameters `p` and lift `lift` and checks the convergence
/// statistics of the module docs.
fn converges_to_exact_not_independent(name: &str, dag: Dag, p: EdgeParams, lift: LiftParams) {
    let dag = dag.with_all_params(&p);
    let x = Inputs::gaussian(8, 12, 31);
    let inp = McInputs::from_data_with(x.view(), &lift).unwrap();
    let kex = inp.inputs().kernel(&dag, KernelKind::Exact).unwrap();
    let kib = inp
        .inputs()
        .kernel(&dag, KernelKind::IndependentBranch)
        .unwrap();
    let gap = rel(&kex.output().gram, &kib.output().gram);
    let sp = SweepParams {
        widths: vec![64, 128, 256, 512, 1024, 2048, 4096],
        base: McParams {
            seeds: 8,
            sampler: Sampler::Conditional,
            seed: 3,
            ..McParams::default()
        },
    };
    let sw = width_sweep(&dag, &inp, &sp, &|| {}).unwrap();
    let ex = sw.slope(KernelKind::Exact).unwrap();
    let ib = sw.slope(KernelKind::IndependentBranch).unwrap();
    let last = sw.points.last().unwrap();
    let err = |k: KernelKind| {
        let s = &last.errors.iter().find(|(kk, _)| *kk == k).unwrap().1;
        (s.mean, s.se.unwrap())
    };
    let (e_ex, se_ex) = err(KernelKind::Exact);
    let (e_ib, se_ib) = err(KernelKind::IndependentBranch);
    let what = format!(
        "{name} ({p}, lift {lift}): gap {gap:.4}; exact slope {:.3} ± {:.3}, \
         independent-branch slope {:.3} ± {:.3}; at m = {}: exact error {e_ex:.4} ± {se_ex:.4}, \
         independent-branch error {e_ib:.4} ± {se_ib:.4}",
        ex.slope,
        ex.slope_se.unwrap(),
        ib.slope,
        ib.slope_se.unwrap(),
        last.width
    );
    eprintln!("{what}");
    let se = ex.slope_se.unwrap();
    assert!((ex.slope + 0.5).abs() < 4.0 * se + 0.05, "{what}");
    assert!(e_ex + 4.0 * se_ex < gap / 4.0, "{what}");
    assert!(e_ib - 4.0 * se_ib > gap / 2.0, "{what}");
    // Far shallower than the noise's -1/2: the error levels off at the gap.
    assert!(
        ib.slope > -0.5 + 4.0 * ib.slope_se.unwrap() + 0.05,
        "{what}"
    );
}

#[test]
fn gelu_abs_and_leaky_relu_on_dag3_converge_to_the_exact_kernel() {
    // Nonzero-mean activations: DAG#3's exact kernel has mean cross terms
    // `a_e a_e'^T` that the independent-branch rule drops.
    let cases = [
        (
            EdgeParams::new(Activation::Gelu, 2.0, 0.1).unwrap(),
            LiftParams::dense(),
        ),
        (
            EdgeParams::new(Activation::Abs, 1.0, 0.0).unwrap(),
            LiftParams::dense_with(1.0, 0.2).unwrap(),
        ),
        (
            EdgeParams::new(Activation::parse("leaky_relu(0.1)").unwrap(), 2.0, 0.05).unwrap(),
            LiftParams::stem(Activation::Tanh, 1.0, 0.1).unwrap(),
        ),
    ];
    for (p, lift) in cases {
        converges_to_exact_not_independent("DAG#3", Dag::dag3(), p, lift);
    }
}

#[test]
fn softplus_and_silu_on_dag3_converge_to_the_exact_kernel() {
    // The two quadrature activations with a nonzero mean (issue 13, item 6).
    let cases = [
        (
            EdgeParams::new(Activation::Softplus, 1.0, 0.1).unwrap(),
            LiftParams::dense(),
        ),
        (
            EdgeParams::new(Activation::Silu, 2.0, 0.0).unwrap(),
            LiftParams::dense_with(1.0, 0.3).unwrap(),
        ),
    ];
    for (p, lift) in cases {
        converges_to_exact_not_independent("DAG#3", Dag::dag3(), p, lift);
    }
}

#[test]
fn erf_and_tanh_with_bias_converge_through_the_skip_pair_term() {
    let dag = Dag::parse(SKIP_PAIR_DAG).unwrap();
    let cases = [
        (
            EdgeParams::new(Activation::Erf, 1.5, 0.1).unwrap(),
            LiftParams::dense(),
        ),
        (
            EdgeParams::new(Activation::Tanh, 1.0, 0.2).unwrap(),
            LiftParams::dense_with(1.0, 0.1).unwrap(),
        ),
    ];
    for (p, lift) in cases {
        // Odd activations: no mean cross term anywhere.
        let x = Inputs::gaussian(8, 12, 31);
        let inp = Inputs::from_data_with(x.view(), &lift).unwrap();
        let k = inp
            .kernel(&dag.clone().with_all_params(&p), KernelKind::Exact)
            .unwrap();
        assert!(
            k.nodes()
                .iter()
                .all(|s| s.mean.iter().all(|v| v.abs() < 1e-12)),
            "{p}: odd activation with nonzero mean"
        );
        converges_to_exact_not_independent("skip-pair DAG", dag.clone(), p, lift);
    }
}

#[test]
fn explicit_and_conditional_samplers_agree_with_activations_and_biases() {
    // The explicit sampler forms every weight matrix and bias vector; the conditional one
    // draws each unit's pre-activation row from N(0, sw2 G + sb2 1 1^T) given the source
    // (its bias from the same per-block bias stream layout). Same law, so every node's
    // Gram and mean agree across 24 networks each: per-entry two-sample z-scores
    // `|a - b| / sqrt(se_a^2 + se_b^2)` within the Bonferroni bound at family-wise level
    // 1e-3 (normal quantile; 24 networks make the t-correction small next to it).
    use archconv::montecarlo::{run, McResult};
    use statrs::distribution::{ContinuousCDF, Normal};
    let dag = Dag::parse(SKIP_PAIR_DAG)
        .unwrap()
        .with_all_params(&EdgeParams::new(Activation::Gelu, 1.5, 0.1).unwrap());
    let lift = LiftParams::dense_with(1.0, 0.1).unwrap();
    let x = Inputs::gaussian(6, 9, 2);
    let inp = McInputs::from_data_with(x.view(), &lift).unwrap();
    let go = |sampler, seed| -> McResult {
        let p = McParams {
            width: 256,
            seeds: 24,
            sampler,
            seed,
            ..McParams::default()
        };
        run(&dag, &inp, &p, &|| {}).unwrap()
    };
    let (a, b) = (go(Sampler::Explicit, 0), go(Sampler::Conditional, 100));
    let n = inp.len();
    let tests = dag.num_nodes() * (n * (n + 1) / 2 + n);
    let zc = Normal::new(0.0, 1.0)
        .unwrap()
        .inverse_cdf(1.0 - 1e-3 / (2.0 * tests as f64));
    for (t, (na, nb)) in a.nodes.iter().zip(&b.nodes).enumerate() {
        let (sa, sb) = (na.gram_se.as_ref().unwrap(), nb.gram_se.as_ref().unwrap());
        let (ma, mb) = (na.mean_se.as_ref().unwrap(), nb.mean_se.as_ref().unwrap());
        for i in 0..n {
            for j in i..n {
                let se = (sa[[i, j]].powi(2) + sb[[i, j]].powi(2)).sqrt();
                let z = (na.gram[[i, j]] - nb.gram[[i, j]]) / se;
                assert!(
                    z.abs() < zc,
                    "node {t} K[{i},{j}]: z = {z:.2} (bound {zc:.2}): explicit {} vs conditional {}",
                    na.gram[[i, j]],
                    nb.gram[[i, j]]
                );
            }
            let se = (ma[i].powi(2) + mb[i].powi(2)).sqrt();
            let z = (na.mean[i] - nb.mean[i]) / se;
            assert!(
                z.abs() < zc,
                "node {t} mu[{i}]: z = {z:.2} (bound {zc:.2}): explicit {} vs conditional {}",
                na.mean[i],
                nb.mean[i]
            );
        }
    }
    // GELU has a nonzero mean, which the bias shifts: the means are really tested.
    assert!(
        a.output().mean.iter().all(|&v| v > 0.1),
        "{:?}",
        a.output().mean
    );
}

#[test]
fn general_activation_pass_reproduces_the_relu_fast_path() {
    // ABReLU(0, 1) is ReLU but takes the general per-entry pass, while the paper's ReLU
    // takes the vectorised `sqrt(2) max(v, 0)` pass; without a bias neither draws anything
    // beyond the weights, so in f64 (where `phi(sqrt(2) v)` and `sqrt(2) max(v, 0)` round
    // alike) every node's Gram and mean must be equal, for both samplers and for the stem.
    use archconv::montecarlo::{sample_network, Precision};
    let relu_as_abrelu = Activation::AbRelu { a: 0.0, b: 1.0 };
    let general = EdgeParams::new(relu_as_abrelu.clone(), 2.0, 0.0).unwrap();
    let x = Inputs::gaussian(7, 9, 4);
    let fast_in = McInputs::from_data_with(x.view(), &LiftParams::relu_stem()).unwrap();
    let slow_in = McInputs::from_data_with(
        x.view(),
        &LiftParams::stem(relu_as_abrelu, 2.0, 0.0).unwrap(),
    )
    .unwrap();
    let fast_dag = Dag::dag3();
    let slow_dag = Dag::dag3().with_all_params(&general);
    for sampler in [Sampler::Explicit, Sampler::Conditional] {
        let go = |dag: &Dag, inp: &McInputs| {
            sample_network(dag, inp, 300, sampler, Precision::F64, 9, None).unwrap()
        };
        let (a, b) = (go(&fast_dag, &fast_in), go(&slow_dag, &slow_in));
        for (t, (sa, sb)) in a.iter().zip(&b).enumerate() {
            assert!(
                sa.gram == sb.gram && sa.mean == sb.mean,
                "{sampler}, node {t}: fast {sa:?} vs general {sb:?}"
            );
        }
    }
}
