//! Cost of the network model's activations per kernel entry (issue 13): the exact NNGP of
//! DAG#3 at N = 1000 for the paper's ReLU (the optimised arc-cosine path), ReLU with a
//! bias (the general closed-form path), the other closed-form activations and the
//! quadrature ones. `scripts/bench-model.sh` runs this and prints each time as a ratio to
//! the paper's ReLU, measured in the same run.

use archconv::activation::Activation;
use archconv::kernel::{Inputs, KernelKind, Lift};
use archconv::model::EdgeParams;
use archconv::Dag;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::hint::black_box;
use std::time::Duration;

fn activations(c: &mut Criterion) {
    let mut g = c.benchmark_group("model_dag3_exact");
    g.sample_size(10).measurement_time(Duration::from_secs(4));
    let n = 1000usize;
    let x = Inputs::gaussian(n, 64, 0);
    let inp = Inputs::from_data(x.view(), Lift::Dense).unwrap();
    let cases: Vec<(&str, Option<EdgeParams>)> = vec![
        ("paper-relu", None),
        (
            "relu-bias",
            Some(EdgeParams::new(Activation::Relu, 2.0, 0.1).unwrap()),
        ),
        (
            "leaky_relu",
            Some(EdgeParams::new(Activation::AbRelu { a: 0.1, b: 1.0 }, 2.0, 0.0).unwrap()),
        ),
        (
            "abs",
            Some(EdgeParams::new(Activation::Abs, 1.0, 0.0).unwrap()),
        ),
        (
            "erf",
            Some(EdgeParams::new(Activation::Erf, 1.5, 0.1).unwrap()),
        ),
        (
            "identity",
            Some(EdgeParams::new(Activation::Identity, 1.0, 0.1).unwrap()),
        ),
        (
            "gelu",
            Some(EdgeParams::new(Activation::Gelu, 2.0, 0.0).unwrap()),
        ),
        (
            "tanh",
            Some(EdgeParams::new(Activation::Tanh, 1.5, 0.1).unwrap()),
        ),
        (
            "softplus",
            Some(EdgeParams::new(Activation::Softplus, 1.0, 0.0).unwrap()),
        ),
        (
            "silu",
            Some(EdgeParams::new(Activation::Silu, 2.0, 0.0).unwrap()),
        ),
    ];
    for (name, p) in &cases {
        let dag = match p {
            None => Dag::dag3(),
            Some(p) => Dag::dag3().with_all_params(p),
        };
        g.bench_with_input(BenchmarkId::new(*name, n), &n, |b, _| {
            b.iter(|| black_box(inp.kernel(&dag, KernelKind::Exact).unwrap()))
        });
    }
    g.finish();
    // One edge's NNGP map alone, on the DAG#3 input Gram: the activation's own cost.
    let mut g = c.benchmark_group("model_nngp_map");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    for (name, p) in &cases {
        let p = p.clone().unwrap_or_default();
        g.bench_with_input(BenchmarkId::new(*name, n), &n, |b, _| {
            b.iter(|| black_box(p.nngp_map(inp.k0().view())))
        });
    }
    g.finish();
}

criterion_group!(benches, activations);
criterion_main!(benches);
