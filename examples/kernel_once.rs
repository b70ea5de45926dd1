//! One DAG#3 kernel of Gaussian data, computed `REPS` times, best time printed: a small
//! target for profilers and instruction counters (`scripts/bench-model.sh` runs it under
//! callgrind in an old and a new build, where wall-clock timings are too noisy).
//!
//! Usage: `kernel_once [N] [KIND] [REPS]`, KIND one of `path-sum`, `independent-branch`,
//! `exact`, `ntk-exact` (default: all of them), N default 4000, REPS default 5.
//! It uses only API that predates the network model, so the same file builds in the
//! base commit that the script compares against.
use archconv::kernel::{Inputs, KernelKind, Lift};
use archconv::Dag;
use std::time::Instant;

fn best<F: FnMut()>(mut f: F, reps: usize) -> f64 {
    let mut b = f64::INFINITY;
    for _ in 0..reps {
        let t = Instant::now();
        f();
        b = b.min(t.elapsed().as_secs_f64() * 1e3);
    }
    b
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(Ok(4000), |s| s.parse())?;
    let only = args.next();
    let reps: usize = args.next().map_or(Ok(5), |s| s.parse())?;
    let x = Inputs::gaussian(n, 64, 0);
    let inp = Inputs::from_data(x.view(), Lift::Dense)?;
    let dag = Dag::dag3();
    let wanted = |name: &str| only.as_deref().is_none_or(|o| o == name);
    for kind in KernelKind::ALL {
        if wanted(kind.name()) {
            let ms = best(|| drop(std::hint::black_box(inp.kernel(&dag, kind))), reps);
            println!("{:<20} {ms:8.1} ms", kind.name());
        }
    }
    if wanted("ntk-exact") {
        let rule = archconv::kernel::exact::Rule::Exact;
        let ms = best(|| drop(std::hint::black_box(inp.ntk(&dag, rule))), reps);
        println!("{:<20} {ms:8.1} ms", "ntk-exact");
    }
    Ok(())
}
