//! Training throughput of the DAG-MLP (issue 6): samples per second of one SGD step
//! (forward + backward + update) at width 1024, batch 128, MNIST-sized input (784), for
//! DAG#1/#2/#3 in f32 and f64, next to a plain faer GEMM of the edge size
//! (128 x 1024 x 1024) measured in the same run. Achieved GFLOP/s = (training FLOPs per
//! example x 128) / step time; the ratio to the plain GEMM's rate is printed.
//!
//! Short run: `cargo bench --bench train -- --warm-up-time 1 --measurement-time 3`.

use archconv::data::Dataset;
use archconv::train::gemm::{gemm, Scalar, Tr};
use archconv::train::{loss_and_grad, DagMlp, Loss};
use archconv::Dag;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ndarray::Array2;
use std::time::Instant;

const WIDTH: usize = 1024;
const BATCH: usize = 128;
const DIM: usize = 784;

fn step<T: Scalar>(net: &mut DagMlp<T>, x: &Array2<T>, y: &[u8]) {
    let f = net.forward(x.view()).expect("shapes");
    let out = loss_and_grad(Loss::CrossEntropy, f.logits.view(), y);
    let g = net.backward(x.view(), &f, out.grad.view()).expect("shapes");
    net.sgd_step(&g, 1e-5);
}

/// Seconds per call, median of `reps` timed calls after one warm-up.
fn median_secs(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut v: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v[reps / 2]
}

fn gemm_rate<T: Scalar>() -> f64 {
    let a = Array2::<T>::from_elem((BATCH, WIDTH), T::of(0.5));
    let b = Array2::<T>::from_elem((WIDTH, WIDTH), T::of(0.25));
    let mut c = Array2::<T>::zeros((BATCH, WIDTH));
    let s = median_secs(30, || {
        gemm(&mut c.view_mut(), a.view(), Tr::N, b.view(), Tr::T, false)
    });
    2.0 * (BATCH * WIDTH * WIDTH) as f64 / s / 1e9
}

fn bench_precision<T: Scalar>(c: &mut Criterion) {
    let data = Dataset::synthetic(BATCH, DIM, 10, 0);
    let x = data.x.mapv(T::of_f32);
    let peak = gemm_rate::<T>();
    let mut group = c.benchmark_group(format!("train_step_{}", T::NAME));
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function(BenchmarkId::new("faer_gemm_128x1024x1024", T::NAME), |b| {
        let a = Array2::<T>::from_elem((BATCH, WIDTH), T::of(0.5));
        let w = Array2::<T>::from_elem((WIDTH, WIDTH), T::of(0.25));
        let mut out = Array2::<T>::zeros((BATCH, WIDTH));
        b.iter(|| gemm(&mut out.view_mut(), a.view(), Tr::N, w.view(), Tr::T, false));
    });
    for (name, dag) in Dag::paper_dags() {
        let mut net = DagMlp::<T>::new(&dag, DIM, WIDTH, 10, 0).expect("valid");
        let flops = net.train_flops() * BATCH as f64;
        let s = median_secs(10, || step(&mut net, &x, &data.y));
        eprintln!(
            "{name} {}: {:.0} samples/s, {:.1} GFLOP/s achieved vs plain GEMM {:.1} GFLOP/s ({:.0} %)",
            T::NAME,
            BATCH as f64 / s,
            flops / s / 1e9,
            peak,
            100.0 * flops / s / 1e9 / peak
        );
        group.bench_function(BenchmarkId::new("sgd_step", name), |b| {
            b.iter(|| step(&mut net, &x, &data.y))
        });
    }
    group.finish();
}

fn benches(c: &mut Criterion) {
    bench_precision::<f32>(c);
    bench_precision::<f64>(c);
}

criterion_group!(train_benches, benches);
criterion_main!(train_benches);
