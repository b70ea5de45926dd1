//! Rough timing of the core pieces (the benchmarks are in benches/core.rs).
use archconv::kernel::relu::f_matrix;
use archconv::kernel::{Inputs, KernelKind, Lift};
use archconv::spectrum::{eigenvalues, lambda_min};
use archconv::Dag;
use std::time::Instant;

fn main() {
    {
        let v: Vec<f64> = (0..1_000_000)
            .map(|i| -1.0 + 2.0 * i as f64 / 1e6)
            .collect();
        let mut o = vec![0.0; v.len()];
        let t = Instant::now();
        for (a, b) in o.iter_mut().zip(&v) {
            *a = archconv::kernel::relu::h(*b);
        }
        let th = t.elapsed();
        std::hint::black_box(&o);
        let t = Instant::now();
        for (a, b) in o.iter_mut().zip(&v) {
            *a = b.asin();
        }
        let ta = t.elapsed();
        std::hint::black_box(&o);
        let t = Instant::now();
        for (a, b) in o.iter_mut().zip(&v) {
            *a = b.sqrt() + 1.0;
        }
        let ts = t.elapsed();
        std::hint::black_box(&o);
        println!(
            "per value: h {:.2} ns, libm asin {:.2} ns, sqrt {:.2} ns",
            th.as_nanos() as f64 / 1e6,
            ta.as_nanos() as f64 / 1e6,
            ts.as_nanos() as f64 / 1e6
        );
    }
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let x = Inputs::gaussian(n, 64, 0);
    {
        let t = Instant::now();
        let mut z = ndarray::Array2::<f64>::zeros((n, n));
        let t1 = t.elapsed();
        z.par_mapv_inplace(|v| v + 1.0);
        let t2 = t.elapsed();
        z.par_mapv_inplace(|v| v + 1.0);
        let t3 = t.elapsed();
        let c = z.clone();
        let t4 = t.elapsed();
        std::hint::black_box((&z, &c));
        println!(
            "alloc {t1:?}, first touch {:?}, second pass {:?}, clone {:?}",
            t2 - t1,
            t3 - t2,
            t4 - t3
        );
    }
    let t = Instant::now();
    let inp = Inputs::from_data(x.view(), Lift::Dense).unwrap();
    println!("inputs {:?}", t.elapsed());
    let t = Instant::now();
    let f = f_matrix(inp.k0().view());
    println!(
        "f_matrix {:?} ({:.1} ns/entry)",
        t.elapsed(),
        t.elapsed().as_nanos() as f64 / (n * n) as f64
    );
    std::hint::black_box(f);
    for kind in KernelKind::ALL.iter().rev().copied().chain(KernelKind::ALL) {
        let t = Instant::now();
        let k = inp.kernel(&Dag::dag3(), kind).unwrap();
        println!("{kind} {:?}", t.elapsed());
        std::hint::black_box(k);
    }
    let k = inp
        .kernel(&Dag::dag3(), KernelKind::Exact)
        .unwrap()
        .into_output_gram();
    let t = Instant::now();
    let l = lambda_min(&k).unwrap();
    println!("lambda_min {:?} = {l}", t.elapsed());
    let t = Instant::now();
    let ev = eigenvalues(&k).unwrap();
    println!("eigenvalues {:?} min {}", t.elapsed(), ev[0]);
}

#[allow(dead_code)]
fn micro() {}
