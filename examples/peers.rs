//! archconv's side of the peer harness (`scripts/peers/run.py`, issue 15): one workload per
//! process, timed as the harness times the peers (one warm-up call, then `reps` timed
//! calls; the first call's time is reported separately), with the inputs read from and the
//! results written to `.npy` files so that the harness checks agreement.
//!
//! ```text
//! cargo run --release --example peers -- dags OUTDIR              # the DAGs as JSON
//! cargo run --release --example peers -- inputs N D SEED OUT.npy  # seeded Gaussian points
//! cargo run --release --example peers -- WORKLOAD DAG X.npy REPS OUT.npy
//! ```
//!
//! Workloads: `nngp-exact`, `nngp-indep` (the output node's Gram, [`KernelFn::nngp`]),
//! `ntk-exact`, `ntk-indep` (full NTK: readout, every linear edge, the lift;
//! [`KernelFn::ntk`]), `lambda-min` and `spectrum` (of the exact NNGP output Gram,
//! computed once, untimed), and `mc` (one conditional-sampler network of width 4096 in
//! f32; the result is its output Gram). Prints one JSON line: `{"workload", "n",
//! "first_s", "times_s": [...], "median_s", "value", "peak_mib"}` (`value`: `lambda_min`,
//! or the smallest eigenvalue for `spectrum`; `peak_mib`: the process's peak resident
//! memory).
use archconv::kernel::ntk::NtkVariant;
use archconv::montecarlo::{sample_network, McInputs, Precision, Sampler};
use archconv::{Dag, Inputs, KernelFn, KernelKind, Lift, Op};
use ndarray::Array2;
use std::io::{Read, Write};
use std::time::Instant;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// Writes a C-order `f64` matrix as `.npy` (format 1.0).
fn write_npy(path: &str, a: &Array2<f64>) -> Res<()> {
    let (r, c) = a.dim();
    let mut header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': ({r}, {c}), }}");
    // Magic (6) + version (2) + length (2) + header + '\n', padded to a multiple of 64.
    let pad = 64 - (10 + header.len() + 1) % 64;
    header.push_str(&" ".repeat(pad % 64));
    header.push('\n');
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    f.write_all(b"\x93NUMPY\x01\x00")?;
    f.write_all(&(header.len() as u16).to_le_bytes())?;
    f.write_all(header.as_bytes())?;
    for v in a.iter() {
        f.write_all(&v.to_le_bytes())?;
    }
    Ok(())
}

/// Reads a C-order `<f8` 2-D `.npy` file written by [`write_npy`] or NumPy.
fn read_npy(path: &str) -> Res<Array2<f64>> {
    let mut buf = Vec::new();
    std::fs::File::open(path)?.read_to_end(&mut buf)?;
    if buf.len() < 10 || &buf[..6] != b"\x93NUMPY" {
        return Err(format!("{path}: not a .npy file").into());
    }
    let (hl, start) = match buf[6] {
        1 => (u16::from_le_bytes([buf[8], buf[9]]) as usize, 10),
        _ => (
            u32::from_le_bytes([buf[8], buf[9], buf[10], buf[11]]) as usize,
            12,
        ),
    };
    let header = std::str::from_utf8(&buf[start..start + hl])?;
    if !header.contains("'<f8'") || header.contains("'fortran_order': True") {
        return Err(format!("{path}: need C-order <f8, header {header}").into());
    }
    let shape = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .ok_or(format!("{path}: no shape in {header}"))?;
    let dims: Vec<usize> = shape
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let [r, c] = dims[..] else {
        return Err(format!("{path}: not 2-D: {shape}").into());
    };
    let data = &buf[start + hl..];
    if data.len() != r * c * 8 {
        return Err(format!("{path}: {} data bytes for {r} x {c}", data.len()).into());
    }
    let v: Vec<f64> = data
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
        .collect();
    Ok(Array2::from_shape_vec((r, c), v)?)
}

fn dag_json(dag: &Dag) -> String {
    let edges: Vec<String> = dag
        .edges()
        .iter()
        .map(|e| {
            let op = match e.op {
                Op::Linear => "linear",
                Op::Skip => "skip",
                Op::Zero => "zero",
            };
            format!("[{}, {}, \"{op}\"]", e.from, e.to)
        })
        .collect();
    let inputs: Vec<String> = dag.inputs().iter().map(|i| i.to_string()).collect();
    format!(
        "{{\"code\": \"{}\", \"nodes\": {}, \"inputs\": [{}], \"output\": {}, \"edges\": [{}]}}",
        dag.describe(),
        dag.num_nodes(),
        inputs.join(", "),
        dag.output(),
        edges.join(", ")
    )
}

/// This process's peak resident memory in MiB (`VmHWM` of `/proc/self/status`; Linux).
fn peak_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

/// One warm-up call (its time is `first`), then `reps` timed calls.
fn time<T>(reps: usize, mut f: impl FnMut() -> Res<T>) -> Res<(f64, Vec<f64>, T)> {
    let t = Instant::now();
    let mut out = f()?;
    let first = t.elapsed().as_secs_f64();
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        out = std::hint::black_box(f()?);
        times.push(t.elapsed().as_secs_f64());
    }
    Ok((first, times, out))
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("dags") => {
            let dir = args.get(1).ok_or("dags OUTDIR")?;
            for (name, dag) in Dag::paper_dags() {
                let file = format!("{dir}/{}.json", name.replace('#', ""));
                std::fs::write(&file, dag_json(&dag))?;
                println!("{name} {} -> {file}", dag.describe());
            }
            Ok(())
        }
        Some("inputs") => {
            let [_, n, d, seed, out] = &args[..] else {
                return Err("inputs N D SEED OUT.npy".into());
            };
            write_npy(
                out,
                &Inputs::gaussian(n.parse()?, d.parse()?, seed.parse()?),
            )
        }
        Some(workload) => {
            let [_, dag, x, reps, out] = &args[..] else {
                return Err("WORKLOAD DAG X.npy REPS OUT.npy".into());
            };
            let dag = Dag::parse(dag)?;
            let x = read_npy(x)?;
            let reps: usize = reps.parse()?;
            let n = x.nrows();
            let mut value = None;
            let (first, times, result) = match workload {
                "nngp-exact" | "nngp-indep" => {
                    let kind = if workload == "nngp-exact" {
                        KernelKind::Exact
                    } else {
                        KernelKind::IndependentBranch
                    };
                    let kf = KernelFn::new(&dag, Lift::Dense, kind);
                    time(reps, || Ok(kf.nngp(x.view(), None)?))?
                }
                "ntk-exact" | "ntk-indep" => {
                    let kind = if workload == "ntk-exact" {
                        KernelKind::Exact
                    } else {
                        KernelKind::IndependentBranch
                    };
                    let kf = KernelFn::new(&dag, Lift::Dense, kind);
                    time(reps, || Ok(kf.ntk(x.view(), None, NtkVariant::Full)?))?
                }
                "lambda-min" | "spectrum" => {
                    let k =
                        KernelFn::new(&dag, Lift::Dense, KernelKind::Exact).nngp(x.view(), None)?;
                    let (first, times, v) = if workload == "lambda-min" {
                        time(reps, || Ok(archconv::spectrum::lambda_min(&k)?))?
                    } else {
                        time(reps, || Ok(archconv::spectrum::eigenvalues(&k)?[0]))?
                    };
                    value = Some(v);
                    (first, times, k)
                }
                "mc" => {
                    let inp = McInputs::from_data(x.view(), Lift::Dense)?;
                    let mut seed = 0u64;
                    time(reps, || {
                        seed += 1;
                        let nodes = sample_network(
                            &dag,
                            &inp,
                            4096,
                            Sampler::Conditional,
                            Precision::F32,
                            seed,
                            None,
                        )?;
                        Ok(nodes.last().ok_or("no nodes")?.gram.clone())
                    })?
                }
                other => return Err(format!("unknown workload {other}").into()),
            };
            write_npy(out, &result)?;
            let mut sorted = times.clone();
            sorted.sort_by(f64::total_cmp);
            let median = sorted.get(sorted.len() / 2).copied().unwrap_or(first);
            let times: Vec<String> = times.iter().map(|t| format!("{t:.6}")).collect();
            println!(
                "{{\"workload\": \"{workload}\", \"n\": {n}, \"first_s\": {first:.6}, \"times_s\": [{}], \"median_s\": {median:.6}, \"value\": {}, \"peak_mib\": {}}}",
                times.join(", "),
                value.map_or("null".into(), |v: f64| format!("{v:e}")),
                peak_mib().map_or("null".into(), |v| v.to_string())
            );
            Ok(())
        }
        None => Err("usage: see the doc comment of examples/peers.rs".into()),
    }
}
