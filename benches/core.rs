//! Core benchmarks (issue 2): path statistics over NAS-Bench-201, the three kernels of
//! DAG#3 at N = 1000 and 4000 (and the exact NTK beside them), and lambda_min against
//! the full symmetric eigensolver.
//! Run: `cargo bench --bench core` (add `--features lapack` for the LAPACK backend).
use archconv::dag::format::Nb201Arch;
use archconv::kernel::{Inputs, KernelKind, Lift};
use archconv::spectrum::{eigenvalues, lambda_min};
use archconv::{Dag, PathStats};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::hint::black_box;
use std::time::Duration;

fn paths(c: &mut Criterion) {
    let dags: Vec<Dag> = Nb201Arch::all().map(|a| a.dag()).collect();
    c.bench_function("path_stats/nb201_all_15625", |b| {
        b.iter(|| {
            dags.iter()
                .map(|d| PathStats::of(d).unwrap().num_paths())
                .sum::<u128>()
        })
    });
}

fn kernels(c: &mut Criterion) {
    let mut g = c.benchmark_group("kernel_dag3");
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    for n in [1000usize, 4000] {
        let x = Inputs::gaussian(n, 64, 0);
        let inp = Inputs::from_data(x.view(), Lift::Dense).unwrap();
        for kind in KernelKind::ALL {
            g.bench_with_input(BenchmarkId::new(kind.name(), n), &n, |b, _| {
                b.iter(|| black_box(inp.kernel(&Dag::dag3(), kind).unwrap()))
            });
        }
        // Issue 14: the same exact NNGP streamed tile by tile (output node only).
        g.bench_with_input(BenchmarkId::new("exact-streamed", n), &n, |b, _| {
            b.iter(|| {
                black_box(
                    inp.output_kernel(&Dag::dag3(), archconv::kernel::exact::Rule::Exact, None)
                        .unwrap(),
                )
            })
        });
        // Issue 8: the exact NTK (forward NNGP + backward Grams + edge terms).
        g.bench_with_input(BenchmarkId::new("ntk-exact", n), &n, |b, _| {
            b.iter(|| {
                black_box(
                    inp.ntk(&Dag::dag3(), archconv::kernel::exact::Rule::Exact)
                        .unwrap(),
                )
            })
        });
    }
    g.finish();
}

fn spectra(c: &mut Criterion) {
    let mut g = c.benchmark_group("spectrum");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    for n in [1000usize, 4000] {
        let x = Inputs::gaussian(n, 64, 0);
        let inp = Inputs::from_data(x.view(), Lift::Dense).unwrap();
        let k = inp
            .kernel(&Dag::dag3(), KernelKind::Exact)
            .unwrap()
            .into_output_gram();
        g.bench_with_input(BenchmarkId::new("lambda_min", n), &n, |b, _| {
            b.iter(|| black_box(lambda_min(&k).unwrap()))
        });
        g.bench_with_input(BenchmarkId::new("full_eigenvalues", n), &n, |b, _| {
            b.iter(|| black_box(eigenvalues(&k).unwrap()))
        });
    }
    g.finish();
}

criterion_group!(benches, paths, kernels, spectra);
criterion_main!(benches);
