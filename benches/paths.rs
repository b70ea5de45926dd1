//! Path-statistics benchmarks on large DAGs (issue 13, item 5): a 100,000-node chain,
//! seeded Watts-Strogatz (RandWire) DAGs of 1,000 and 10,000 nodes (k = 4, p = 0.75; path
//! counts below 2^64, the one-word fast path), and a 10,000-node one with p = 0.25
//! (about 2^906 paths, multi-word counts).
//! Run: `cargo bench --bench paths`.
use archconv::dag::random::WattsStrogatz;
use archconv::{Dag, PathStats};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use std::time::Duration;

fn large(c: &mut Criterion) {
    let mut g = c.benchmark_group("path_stats");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    let chain = Dag::chain(99_999);
    g.bench_function("chain_100000", |b| {
        b.iter(|| black_box(PathStats::of(&chain).unwrap()))
    });
    for (n, p) in [(1_000usize, 0.75), (10_000, 0.75), (10_000, 0.25)] {
        let dag = WattsStrogatz::new(n, 4, p)
            .unwrap()
            .with_seed(1)
            .dag()
            .unwrap();
        g.bench_function(format!("ws_{n}_k4_p{p}"), |b| {
            b.iter(|| black_box(PathStats::of(&dag).unwrap()))
        });
    }
    g.finish();
}

criterion_group!(benches, large);
criterion_main!(benches);
