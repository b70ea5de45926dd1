//! CUDA backend (issues 4 and 19).
//!
//! * Always run: typed errors instead of panics (sizes beyond cuBLAS's 32-bit limit; no
//!   GPU; a run too large for the GPU).
//! * `#[ignore]`d, each with its reason, so that a machine without them reports them as
//!   ignored rather than passed:
//!   - `nvrtc_*`: needs libnvrtc (CUDA 13). CI runs it with the PyPI NVRTC wheel
//!     (`scripts/nvrtc-check.sh`).
//!   - `gpu_*`: needs an NVIDIA GPU. `scripts/gpu-check.sh` runs them with
//!     `--include-ignored`; each fails loudly when no GPU can be used.
//!
//! With a GPU, the GPU samplers are checked against the CPU conditional sampler and the
//! exact kernel with the same z-tests as tests/montecarlo.rs.
#![cfg(feature = "cuda")]

use archconv::activation::Activation;
use archconv::model::{EdgeParams, LiftParams};
use archconv::montecarlo::{
    cuda, run, Backend, McError, McInputs, McParams, McResult, Precision, Sampler,
};
use archconv::{Dag, Inputs, KernelKind, Lift};
use statrs::distribution::{ContinuousCDF, Normal};

fn z_crit(alpha: f64, k: usize) -> f64 {
    Normal::new(0.0, 1.0)
        .unwrap()
        .inverse_cdf(1.0 - alpha / (2.0 * k as f64))
}

/// `n` Gaussian points in dimension `d`.
fn inputs_nd(n: usize, d: usize, lift: Lift) -> McInputs {
    McInputs::from_data(Inputs::gaussian(n, d, 5).view(), lift).unwrap()
}

fn inputs(lift: Lift) -> McInputs {
    inputs_nd(8, 12, lift)
}

fn gpu_params(sampler: Sampler, precision: Precision) -> McParams {
    McParams {
        width: 4096,
        seeds: 32,
        sampler,
        precision,
        backend: Backend::Cuda,
        seed: 17,
        ..McParams::default()
    }
}

/// The GPU every `gpu_*` test needs; panics (fails the test) with the probe's reason.
#[track_caller]
fn require_gpu() -> cuda::DeviceInfo {
    match cuda::probe() {
        Ok(info) => {
            eprintln!("GPU: {info:?}");
            info
        }
        Err(e) => panic!("this GPU test was run on a machine without a usable GPU: {e}"),
    }
}

#[test]
fn cuda_errors_are_typed_never_panics() {
    // Beyond cuBLAS's 32-bit dimensions: refused before the device is touched.
    let e = run(
        &Dag::dag3(),
        &inputs(Lift::Dense),
        &McParams {
            width: 1 << 31,
            ..gpu_params(Sampler::Conditional, Precision::F32)
        },
        &|| {},
    )
    .unwrap_err();
    assert!(
        matches!(e, McError::CudaDimension { value, .. } if value == 1 << 31),
        "{e}"
    );
    assert!(matches!(
        cuda::sgemm_tflops(1 << 31, 1, 1, 1),
        Err(McError::CudaDimension { .. })
    ));
    match cuda::probe() {
        Err(reason) => {
            eprintln!("no GPU here ({reason}): checking the unavailable path");
            let e = run(
                &Dag::dag3(),
                &inputs(Lift::Dense),
                &gpu_params(Sampler::Conditional, Precision::F32),
                &|| {},
            )
            .unwrap_err();
            assert!(matches!(e, McError::CudaUnavailable { .. }), "{e}");
            assert!(matches!(
                cuda::sgemm_tflops(64, 64, 64, 1),
                Err(McError::CudaUnavailable { .. })
            ));
            assert!(matches!(
                cuda::probe_report(&Dag::dag3(), 8, Sampler::Conditional, Precision::F32, &[64]),
                Err(McError::CudaUnavailable { .. })
            ));
        }
        Ok(info) => {
            // Far beyond any device's memory (2^30 x 2^10 f32 features, 4 TiB each):
            // refused by the estimate, before allocating.
            let e = run(
                &Dag::dag3(),
                &inputs_nd(1 << 10, 4, Lift::Dense),
                &McParams {
                    width: 1 << 30,
                    seeds: 1,
                    ..gpu_params(Sampler::Conditional, Precision::F32)
                },
                &|| {},
            )
            .unwrap_err();
            assert!(matches!(e, McError::TooLarge { .. }), "{}: {e}", info.name);
        }
    }
}

#[test]
fn custom_activations_on_cuda_are_a_typed_error_naming_them() {
    // Refused before the device is touched (so also on a machine without a GPU), with
    // the activation's name and the edge (or the lift) that carries it.
    let sin = Activation::custom("my_sin", f64::sin, f64::cos);
    let p = EdgeParams::new(sin.clone(), 1.0, 0.0).unwrap();
    let dag = Dag::chain(2).with_all_params(&p);
    let x = Inputs::gaussian(6, 5, 1);
    let inp = McInputs::from_data(x.view(), Lift::Dense).unwrap();
    let e = run(
        &dag,
        &inp,
        &gpu_params(Sampler::Conditional, Precision::F32),
        &|| {},
    )
    .unwrap_err();
    assert!(
        matches!(&e, McError::UnsupportedActivation { activation, edge: Some(0) } if activation == "my_sin"),
        "{e:?}"
    );
    assert!(e.to_string().contains("my_sin"), "{e}");
    let stem = LiftParams::stem(sin, 1.0, 0.0).unwrap();
    let inp = McInputs::from_data_with(x.view(), &stem).unwrap();
    let e = run(
        &Dag::chain(2),
        &inp,
        &gpu_params(Sampler::Explicit, Precision::F32),
        &|| {},
    )
    .unwrap_err();
    assert!(
        matches!(&e, McError::UnsupportedActivation { edge: None, .. }),
        "{e:?}"
    );
}

#[test]
#[ignore = "needs an NVIDIA GPU: scripts/gpu-check.sh runs it"]
fn gpu_erf_with_bias_matches_cpu_and_exact_kernel() {
    require_gpu();
    // Erf edges with bias (act_scale_add with cuRAND biases) after a dense lift with
    // bias, on DAG#3 and on a DAG whose exact and independent-branch kernels differ only
    // by a skip-pair term: the GPU Gram has the CPU's distribution (per-entry two-sample
    // z-tests, Bonferroni at 1e-3) and is nearer the exact kernel.
    let p = EdgeParams::new(Activation::Erf, 1.5, 0.1).unwrap();
    let lift = LiftParams::dense_with(1.0, 0.2).unwrap();
    let skip_pair = Dag::parse(
        r#"{"nodes":4,"edges":[[0,1,"linear"],[1,2,"skip"],[0,2,"linear"],[1,3,"skip"],[2,3,"skip"]]}"#,
    )
    .unwrap();
    let inp = McInputs::from_data_with(Inputs::gaussian(8, 12, 5).view(), &lift).unwrap();
    for dag in [Dag::dag3(), skip_pair] {
        let dag = dag.with_all_params(&p);
        let cpu = run(
            &dag,
            &inp,
            &McParams {
                backend: Backend::Cpu,
                seed: 1000,
                ..gpu_params(Sampler::Conditional, Precision::F64)
            },
            &|| {},
        )
        .unwrap();
        for (sampler, precision) in [
            (Sampler::Conditional, Precision::F32),
            (Sampler::Explicit, Precision::F32),
        ] {
            let gpu = run(&dag, &inp, &gpu_params(sampler, precision), &|| {}).unwrap();
            let what = format!("GPU {sampler} {precision} vs CPU ({})", dag.describe());
            assert_same_distribution(&gpu, &cpu, &what);
            let ex = gpu.comparison(KernelKind::Exact).unwrap();
            let ib = gpu.comparison(KernelKind::IndependentBranch).unwrap();
            assert!(
                ex.rel_frobenius_of_mean < ib.rel_frobenius_of_mean,
                "{what}: exact {ex:?} vs independent-branch {ib:?}"
            );
        }
    }
}

#[test]
#[ignore = "needs libnvrtc (CUDA 13): CI runs it with the PyPI NVRTC wheel, scripts/nvrtc-check.sh"]
fn nvrtc_compiles_kernels_and_every_loaded_entry_point_exists() {
    let ptx = cudarc::nvrtc::compile_ptx(cuda::KERNELS_CU)
        .unwrap_or_else(|e| panic!("NVRTC failed on kernels.cu: {e:?}"));
    let src = ptx.to_src();
    for name in cuda::KERNEL_NAMES {
        for suffix in ["f32", "f64"] {
            let entry = format!(".entry {name}_{suffix}(");
            assert!(
                src.contains(&entry),
                "kernels.cu has no entry point {name}_{suffix}"
            );
        }
    }
    // Every entry point in the PTX is one the Rust code loads (no stale kernels).
    let entries = src.matches(".entry ").count();
    assert_eq!(entries, 2 * cuda::KERNEL_NAMES.len(), "PTX:\n{src}");
}

/// Per-entry z-scores of the output Gram of `a` against `b` (two-sample) are within the
/// Bonferroni bound at family-wise level 1e-3.
fn assert_same_distribution(a: &McResult, b: &McResult, what: &str) {
    let (ga, gb) = (a.output(), b.output());
    let (sa, sb) = (ga.gram_se.as_ref().unwrap(), gb.gram_se.as_ref().unwrap());
    let n = ga.gram.nrows();
    let zc = z_crit(1e-3, n * (n + 1) / 2);
    for i in 0..n {
        for j in i..n {
            let z = (ga.gram[[i, j]] - gb.gram[[i, j]])
                / (sa[[i, j]].powi(2) + sb[[i, j]].powi(2)).sqrt();
            assert!(
                z.abs() < zc,
                "{what}: K[{i},{j}] z = {z:.2}: {} vs {}",
                ga.gram[[i, j]],
                gb.gram[[i, j]]
            );
        }
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU: scripts/gpu-check.sh runs it"]
fn gpu_samplers_match_cpu_and_exact_kernel() {
    require_gpu();
    // (N, d): N < d, and N > d (rank-deficient lift under the dense lift: rank-d roots).
    for (n, d) in [(8, 12), (24, 6)] {
        for lift in [Lift::Dense, Lift::ReluStem] {
            let inp = inputs_nd(n, d, lift);
            let dag = Dag::dag3();
            let cpu = run(
                &dag,
                &inp,
                &McParams {
                    backend: Backend::Cpu,
                    seed: 1000,
                    ..gpu_params(Sampler::Conditional, Precision::F64)
                },
                &|| {},
            )
            .unwrap();
            for (sampler, precision) in [
                (Sampler::Conditional, Precision::F32),
                (Sampler::Conditional, Precision::F64),
                (Sampler::Explicit, Precision::F32),
            ] {
                let gpu = run(&dag, &inp, &gpu_params(sampler, precision), &|| {}).unwrap();
                let what = format!("GPU {sampler} {precision} vs CPU ({lift}, N = {n}, d = {d})");
                assert_same_distribution(&gpu, &cpu, &what);
                let ex = gpu.comparison(KernelKind::Exact).unwrap();
                let ps = gpu.comparison(KernelKind::PathSum).unwrap();
                assert!(
                    ex.rel_frobenius_of_mean < ps.rel_frobenius_of_mean,
                    "{what}: exact {ex:?} vs path-sum {ps:?}"
                );
                // Same seed, same numbers.
                let again = run(&dag, &inp, &gpu_params(sampler, precision), &|| {}).unwrap();
                assert_eq!(
                    again.output().gram,
                    gpu.output().gram,
                    "{what}: not reproducible"
                );
            }
        }
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU: scripts/gpu-check.sh runs it"]
fn gpu_conditional_draws_only_rank_columns() {
    require_gpu();
    // Chain input -> 1 -> 2 under the dense lift with d = 6 < N = 64 <= m: the lift's and
    // the input node's roots have rank d, node 1's has rank N (ReLU features). GEMM flops
    // per network: lift 2 m N d, edge 0->1 2 m N d, edge 1->2 2 m N N, three Grams
    // 2 N N m each. Padding the roots to N x N would give 2 m N N for all three draws.
    let (n, d, m) = (64usize, 6usize, 1usize << 12);
    let p = McParams {
        width: m,
        seeds: 2,
        ..gpu_params(Sampler::Conditional, Precision::F64)
    };
    let r = run(&Dag::chain(2), &inputs_nd(n, d, Lift::Dense), &p, &|| {}).unwrap();
    let g = r.gpu.expect("a CUDA run reports its usage");
    let (n, d, m) = (n as u64, d as u64, m as u64);
    let want = 2 * m * n * d * 2 + 2 * m * n * n + 3 * 2 * n * n * m;
    // The two rank-d roots have rank d in exact arithmetic; the pivoted Cholesky's
    // tolerance (4 N eps max G_ii) may keep a rounding-level column or two beyond it, each
    // costing 2 m N flops. Padded roots would cost 2 m N (N - d) more per draw.
    let slack = 2 * 2 * (2 * m * n);
    assert!(
        (want..=want + slack).contains(&g.gemm_flops_per_network),
        "GEMM flops {} per network, want {want} (+ at most {slack}): {g:?}",
        g.gemm_flops_per_network
    );
    // The input node's root is taken on the host (rank d < N) in each network.
    assert!(g.roots_on_host >= 2, "{g:?}");
}

#[test]
#[ignore = "needs an NVIDIA GPU: scripts/gpu-check.sh runs it"]
fn gpu_memory_stays_within_the_estimate() {
    require_gpu();
    for (dag, n, d) in [(Dag::dag3(), 48, 8), (Dag::chain(3), 16, 32)] {
        for lift in [Lift::Dense, Lift::ReluStem] {
            for sampler in [Sampler::Conditional, Sampler::Explicit] {
                for precision in [Precision::F32, Precision::F64] {
                    let m = 2048usize;
                    let p = McParams {
                        width: m,
                        seeds: 2,
                        ..gpu_params(sampler, precision)
                    };
                    let r = run(&dag, &inputs_nd(n, d, lift), &p, &|| {}).unwrap();
                    let g = r.gpu.expect("a CUDA run reports its usage");
                    let what = format!(
                        "{} N={n} d={d} {lift} {sampler} {precision}",
                        dag.describe()
                    );
                    assert!(
                        g.peak_device_bytes <= g.estimated_device_bytes,
                        "{what}: allocated {} bytes, estimate {}",
                        g.peak_device_bytes,
                        g.estimated_device_bytes
                    );
                    // The product Z and the lifted features (m x N each) are certainly
                    // held at once: the tally is not empty.
                    let elem = if precision == Precision::F32 { 4 } else { 8 };
                    assert!(
                        g.peak_device_bytes >= 2 * (m * n) as u64 * elem,
                        "{what}: tally {g:?}"
                    );
                }
            }
        }
    }
}
