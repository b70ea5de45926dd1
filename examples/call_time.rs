//! The time of one `KernelFn::nngp` call from Rust (issue 18's Python overhead benchmark,
//! `python/bench/bench.py`, compares it with the same call from Python).
//!
//! `cargo run --release --example call_time -- [N] [D] [REPS]` prints one JSON line:
//! the median and the quartiles of REPS calls on N seeded Gaussian points in D dimensions
//! (DAG#3, exact rule, dense lift), after 20 warm-up calls.

use archconv::kernel::{Inputs, KernelFn, KernelKind, Lift};
use archconv::Dag;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let (n, d, reps) = (
        *args.first().unwrap_or(&64),
        *args.get(1).unwrap_or(&16),
        (*args.get(2).unwrap_or(&2000)).max(1),
    );
    let x = Inputs::gaussian(n, d, 0);
    let k = KernelFn::new(&Dag::dag3(), Lift::Dense, KernelKind::Exact);
    for _ in 0..20 {
        std::hint::black_box(k.nngp(x.view(), None)?);
    }
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            let r = k.nngp(x.view(), None);
            let e = s.elapsed().as_secs_f64();
            std::hint::black_box(r).map(|_| e)
        })
        .collect::<Result<_, _>>()?;
    t.sort_by(f64::total_cmp);
    let q = |p: f64| t[((t.len() - 1) as f64 * p).round() as usize] * 1e6;
    println!(
        "{{\"n\": {n}, \"d\": {d}, \"reps\": {reps}, \"median_us\": {:.3}, \"q25_us\": {:.3}, \"q75_us\": {:.3}}}",
        q(0.5),
        q(0.25),
        q(0.75)
    );
    Ok(())
}
