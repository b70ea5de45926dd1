//! The output kernels of a large random DAG, streamed (issue 13, item 5): a seeded
//! Watts-Strogatz graph in the RandWire style, exact NNGP and NTK at N points.
//!
//! ```text
//! cargo run --release --example large_dag -- [NODES=10000] [P=0.75] [N=256]
//! ```
//!
//! Prints the time, the kernel's scale (entries past f64's range are kept scaled), the
//! rows per tile and the memory estimate the run was admitted under. Wrap it in
//! `/usr/bin/time -v` for the peak resident memory.

use archconv::dag::random::WattsStrogatz;
use archconv::kernel::{exact::Rule, ntk::NtkVariant, Inputs, Lift};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let nodes: usize = args.get(1).map_or(Ok(10000), |s| s.parse())?;
    let p: f64 = args.get(2).map_or(Ok(0.75), |s| s.parse())?;
    let n: usize = args.get(3).map_or(Ok(256), |s| s.parse())?;
    let ws = WattsStrogatz::new(nodes, 4, p)?.with_seed(1);
    let dag = ws.dag()?;
    println!(
        "{ws}: {} nodes, {} edges, N = {n}",
        dag.num_nodes(),
        dag.edges().len()
    );
    let x = Inputs::gaussian(n, 32, 0);
    let inp = Inputs::from_data(x.view(), Lift::Dense)?;
    for ntk in [None, Some(NtkVariant::Full)] {
        let t = std::time::Instant::now();
        let out = inp.output_kernel(&dag, Rule::Exact, ntk)?;
        println!(
            "{:<14} {:>7.2} s   scale 10^{:.1}   {} rows per tile   estimate {} MiB",
            if ntk.is_some() {
                "NNGP and NTK"
            } else {
                "NNGP"
            },
            t.elapsed().as_secs_f64(),
            out.nngp().log10_scale(),
            out.tile_rows(),
            out.estimated_bytes() >> 20
        );
    }
    Ok(())
}
