//! Benchmarks of the NAS studies: the exact-kernel proxy over all 15,625 NAS-Bench-201
//! cells (729 op-class graphs x 3 kernels, N = 32), the same proxy with one kernel
//! evaluation per cell (no class cache, a 500-cell sample) for comparison, and the DARTS
//! space enumeration.

use archconv::dag::format::Nb201Arch;
use archconv::kernel::{Inputs, KernelKind, Lift};
use archconv::nas::darts::DartsSpace;
use archconv::nas::proxy::{ProxyOptions, ProxyScores};
use archconv::spectrum::SpectrumSummary;
use criterion::{criterion_group, criterion_main, Criterion};

fn proxy(c: &mut Criterion) {
    let mut g = c.benchmark_group("nas");
    g.sample_size(10);
    g.bench_function("proxy_all_15625_cells_cached", |b| {
        b.iter(|| ProxyScores::compute(ProxyOptions::default()).unwrap())
    });
    let o = ProxyOptions::default();
    let x = Inputs::gaussian(o.n, o.dim, o.seed);
    let inputs = Inputs::from_data(x.view(), Lift::Dense).unwrap();
    let cells: Vec<Nb201Arch> = Nb201Arch::all().step_by(31).take(500).collect();
    g.bench_function("proxy_500_cells_uncached_exact_only", |b| {
        b.iter(|| {
            cells
                .iter()
                .filter_map(|a| inputs.kernel(&a.dag(), KernelKind::Exact).ok())
                .map(|k| SpectrumSummary::of(&k.output().gram).unwrap().lambda_min)
                .sum::<f64>()
        })
    });
    g.bench_function("darts_space_k4", |b| b.iter(|| DartsSpace::compute(4)));
    g.finish();
}

criterion_group!(benches, proxy);
criterion_main!(benches);
