//! Cost of the network model's activations per kernel entry (issue 13).
//!
//! * `model_dag3_exact`, `model_nngp_map`: the exact NNGP of DAG#3 at N = 1000 for the
//!   paper's ReLU (the optimised arc-cosine path), ReLU with a bias (the general
//!   closed-form path), the other closed-form activations and the quadrature ones; and one
//!   edge's NNGP map alone. `scripts/bench-model.sh` runs this and prints each time as a
//!   ratio to the paper's ReLU, measured in the same run.
//! * `model_dual_nngp`, `model_dual_ntk`: `Activation::dual_matrix` at N = 1000 on a
//!   unit-diagonal Gram (`sw2 = 2`, `sb2 = 0`; one table per call for the quadrature
//!   activations, its build included), with `kernel::relu::f_matrix` / `fdot_matrix`
//!   beside them. Throughput is per entry of the N x N output; the ratio to `relu` in the
//!   same group is each activation's per-entry cost relative to ReLU.
//! * `model_table_build`: one interpolation table in `theta` (tanh, softplus; both duals)
//!   for variances 0.5 to 1e4: `Route::Tables` on a 2 x 2 Gram, one off-diagonal entry.
//! * `model_routes`: `Route::Tables` against `Route::Direct` (one 2-D quadrature per entry)
//!   at N = 32, and a single 2-D quadrature (`dual_by_quadrature`).

use archconv::activation::{Activation, Dual, Route};
use archconv::kernel::relu::{f_matrix, fdot_matrix};
use archconv::kernel::{Inputs, KernelKind, Lift};
use archconv::model::EdgeParams;
use archconv::Dag;
use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use ndarray::Array2;
use std::hint::black_box;
use std::time::Duration;

/// `X X^T` of `n` Gaussian points in dimension `d` with rows scaled to unit norm: the
/// diagonal is 1 up to rounding, so a quadrature activation builds one table per call.
fn unit_diagonal_gram(n: usize, d: usize, seed: u64) -> Array2<f64> {
    let mut x = Inputs::gaussian(n, d, seed);
    for mut row in x.rows_mut() {
        let norm = row.dot(&row).sqrt();
        row /= norm;
    }
    x.dot(&x.t())
}

fn dual_name(which: Dual) -> &'static str {
    match which {
        Dual::Nngp => "nngp",
        Dual::Ntk => "ntk",
    }
}

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

/// Each activation's dual matrix per entry, beside ReLU's (`relu`, the closed form through
/// `dual_matrix`) and the arc-cosine kernels of `kernel::relu`.
fn dual_matrices(c: &mut Criterion) {
    let n = 1000usize;
    let k = unit_diagonal_gram(n, 20, 21);
    let acts = [
        ("relu", Activation::Relu),
        ("leaky_relu", Activation::AbRelu { a: 0.1, b: 1.0 }),
        ("erf", Activation::Erf),
        ("gelu", Activation::Gelu),
        ("tanh", Activation::Tanh),
        ("silu", Activation::Silu),
    ];
    for which in [Dual::Nngp, Dual::Ntk] {
        let mut g = c.benchmark_group(format!("model_dual_{}", dual_name(which)));
        g.sample_size(10)
            .measurement_time(Duration::from_secs(3))
            .throughput(Throughput::Elements((n * n) as u64));
        // ReLU's arc-cosine kernels of `kernel::relu` (sw2 = 2, sb2 = 0 built in).
        match which {
            Dual::Nngp => g.bench_with_input(BenchmarkId::new("f_matrix", n), &n, |b, _| {
                b.iter(|| black_box(f_matrix(k.view())))
            }),
            Dual::Ntk => g.bench_with_input(BenchmarkId::new("fdot_matrix", n), &n, |b, _| {
                b.iter(|| black_box(fdot_matrix(k.view())))
            }),
        };
        for (name, act) in &acts {
            g.bench_with_input(BenchmarkId::new(*name, n), &n, |b, _| {
                b.iter(|| black_box(act.dual_matrix(k.view(), 2.0, 0.0, which)))
            });
        }
        g.finish();
    }
}

/// The cost of one table in `theta` as the variance grows (33-65 samples up to ~10, ~1000
/// at 1e4; each sample one 2-D quadrature).
fn table_build(c: &mut Criterion) {
    let mut g = c.benchmark_group("model_table_build");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    let k = ndarray::array![[1.0, 0.3], [0.3, 1.0]];
    for (name, act) in [
        ("tanh", Activation::Tanh),
        ("softplus", Activation::Softplus),
    ] {
        for which in [Dual::Nngp, Dual::Ntk] {
            for s in [0.5, 2.0, 10.0, 100.0, 1e4] {
                let id = BenchmarkId::new(format!("{name}-{}", dual_name(which)), s);
                g.bench_with_input(id, &s, |b, &s| {
                    b.iter(|| black_box(act.dual_matrix_by(k.view(), s, 0.0, which, Route::Tables)))
                });
            }
        }
    }
    g.finish();
}

/// Tables (one build, then Clenshaw per entry) against one 2-D quadrature per entry, and
/// the cost of that single quadrature.
fn routes(c: &mut Criterion) {
    let mut g = c.benchmark_group("model_routes");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let n = 32usize;
    let k = unit_diagonal_gram(n, 20, 22);
    g.throughput(Throughput::Elements((n * n) as u64));
    for (name, act) in [
        ("tanh", Activation::Tanh),
        ("softplus", Activation::Softplus),
    ] {
        for (route_name, route) in [("tables", Route::Tables), ("direct", Route::Direct)] {
            let id = BenchmarkId::new(format!("{name}-{route_name}"), n);
            g.bench_with_input(id, &n, |b, _| {
                b.iter(|| black_box(act.dual_matrix_by(k.view(), 1.0, 0.0, Dual::Nngp, route)))
            });
        }
    }
    g.throughput(Throughput::Elements(1));
    g.bench_function("tanh-one-quadrature", |b| {
        b.iter(|| {
            black_box(Activation::Tanh.dual_by_quadrature(
                Dual::Nngp,
                black_box(1.96),
                1.96,
                1.96 * 0.3,
            ))
        })
    });
    g.finish();
}

criterion_group!(benches, activations, dual_matrices, table_build, routes);
criterion_main!(benches);
