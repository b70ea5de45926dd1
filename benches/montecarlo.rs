//! Monte Carlo sampler benchmarks (issue 3).
//!
//! * `dag3_n64_m4096`: conditional vs explicit sampler, DAG#3, N = 64, d = 32, m = 4096,
//!   16 networks (the CLI's default), whole [`run`]s (sampling + closed-form kernels +
//!   spectra + statistics), as `archconv mc 2_21_112 --sampler ...` runs them.
//! * `dag3_n64_m4096_sampling`: 2 networks, sampling only ([`sample_network`], one
//!   network per thread as `run` schedules them).
//! * `conditional_large`: conditional sampler, DAG#3, N = 256, m = 65536, 8 networks.
//! * `gemm_peak`: plain faer GEMMs of the explicit sampler's shape (4096 x 4096 times
//!   4096 x 64, f64 and f32, all threads); throughput is reported in FLOP/s ("elem/s"),
//!   like the explicit sampler's group, so achieved/peak is read off directly.
//!
//! Short run: `cargo bench --bench montecarlo -- --warm-up-time 1 --measurement-time 3`.

use archconv::montecarlo::{run, sample_network, McInputs, McParams, Precision, Sampler};
use archconv::{Dag, Inputs, Lift, Op};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use faer::{Accum, Mat, Par};
use rayon::prelude::*;
use std::hint::black_box;

fn explicit_flops(dag: &Dag, m: usize, n: usize, d: usize, seeds: usize) -> u64 {
    let linear = dag.count(Op::Linear) as u64;
    let (m, n, d) = (m as u64, n as u64, d as u64);
    seeds as u64 * (linear * 2 * m * m * n + 2 * m * d * n)
}

fn samplers(c: &mut Criterion) {
    let (n, d, m, seeds) = (64, 32, 4096, 16);
    let x = Inputs::gaussian(n, d, 0);
    let inp = McInputs::from_data(x.view(), Lift::Dense).unwrap();
    let dag = Dag::dag3();
    let mut g = c.benchmark_group("dag3_n64_m4096");
    g.sample_size(10);
    for (sampler, precision) in [
        (Sampler::Conditional, Precision::F32),
        (Sampler::Conditional, Precision::F64),
        (Sampler::Explicit, Precision::F32),
        (Sampler::Explicit, Precision::F64),
    ] {
        if sampler == Sampler::Explicit {
            g.throughput(Throughput::Elements(explicit_flops(&dag, m, n, d, seeds)));
        }
        let p = McParams {
            width: m,
            seeds,
            sampler,
            precision,
            ..McParams::default()
        };
        g.bench_function(BenchmarkId::new(sampler.to_string(), precision), |b| {
            b.iter(|| black_box(run(&dag, &inp, &p, &|| {}).unwrap().lambda_min.mean))
        });
    }
    g.finish();
    let seeds = 2;
    let mut g = c.benchmark_group("dag3_n64_m4096_sampling");
    g.sample_size(10);
    for (sampler, precision) in [
        (Sampler::Conditional, Precision::F32),
        (Sampler::Explicit, Precision::F32),
    ] {
        if sampler == Sampler::Explicit {
            g.throughput(Throughput::Elements(explicit_flops(&dag, m, n, d, seeds)));
        }
        g.bench_function(BenchmarkId::new(sampler.to_string(), precision), |b| {
            b.iter(|| {
                let grams: Vec<f64> = (0..seeds as u64)
                    .into_par_iter()
                    .map(|s| {
                        let nodes =
                            sample_network(&dag, &inp, m, sampler, precision, s, None).unwrap();
                        nodes.last().unwrap().gram[[0, 0]]
                    })
                    .collect();
                black_box(grams)
            })
        });
    }
    g.finish();
}

fn conditional_large(c: &mut Criterion) {
    let (n, d) = (256, 64);
    let x = Inputs::gaussian(n, d, 0);
    let inp = McInputs::from_data(x.view(), Lift::Dense).unwrap();
    let dag = Dag::dag3();
    let mut g = c.benchmark_group("conditional_large");
    g.sample_size(10);
    let p = McParams {
        width: 1 << 16,
        seeds: 8,
        ..McParams::default()
    };
    g.bench_function("dag3_n256_m65536_8seeds", |b| {
        b.iter(|| black_box(run(&dag, &inp, &p, &|| {}).unwrap().lambda_min.mean))
    });
    g.finish();
}

fn gemm_peak(c: &mut Criterion) {
    let (m, n) = (4096, 64);
    let mut g = c.benchmark_group("gemm_peak");
    g.sample_size(10);
    g.throughput(Throughput::Elements(2 * (m * m * n) as u64));
    let a64 = Mat::<f64>::from_fn(m, m, |i, j| ((i * 7 + j * 3) % 13) as f64 - 6.0);
    let b64 = Mat::<f64>::from_fn(m, n, |i, j| ((i + j * 5) % 11) as f64 - 5.0);
    let mut c64 = Mat::<f64>::zeros(m, n);
    g.bench_function("faer_f64_4096x4096x64", |b| {
        b.iter(|| {
            faer::linalg::matmul::matmul(
                c64.as_mut(),
                Accum::Replace,
                a64.as_ref(),
                b64.as_ref(),
                1.0,
                Par::rayon(0),
            )
        })
    });
    let a32 = Mat::<f32>::from_fn(m, m, |i, j| a64[(i, j)] as f32);
    let b32 = Mat::<f32>::from_fn(m, n, |i, j| b64[(i, j)] as f32);
    let mut c32 = Mat::<f32>::zeros(m, n);
    g.bench_function("faer_f32_4096x4096x64", |b| {
        b.iter(|| {
            faer::linalg::matmul::matmul(
                c32.as_mut(),
                Accum::Replace,
                a32.as_ref(),
                b32.as_ref(),
                1.0,
                Par::rayon(0),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, samplers, conditional_large, gemm_peak);
criterion_main!(benches);
