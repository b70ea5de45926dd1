//! `archconv mc`: finite-width Monte Carlo against the closed-form kernels.

use super::inputs::InputArgs;
use super::CliResult;
use archconv::montecarlo::{self, Backend, McInputs, McParams, Precision, Sampler, SweepParams};
use archconv::Dag;
use clap::ValueEnum;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum SamplerArg {
    /// Draw every m x m weight matrix and multiply (O(m^2 N) per edge).
    Explicit,
    /// Draw pre-activations from N(0, X^T X / m) (O(m N r) per edge, r <= N the rank of X).
    Conditional,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum DeviceArg {
    /// Rayon threads.
    Cpu,
    /// An NVIDIA GPU (build with --features cuda).
    Cuda,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum PrecisionArg {
    F32,
    F64,
}

#[derive(clap::Args)]
pub struct Args {
    /// The DAG: MLP code (2_21_112), NAS-Bench-201 string, DARTS genotype or JSON edge
    /// list with optional per-edge activation/sw2/sb2, or a seeded Watts-Strogatz graph
    /// ws(nodes=N, k=K, p=P, seed=S) (format auto-detected). Use @FILE to read it from a file.
    dag: String,
    #[command(flatten)]
    inputs: InputArgs,
    #[command(flatten)]
    network: super::network::NetworkArgs,
    /// Width m of every node.
    #[arg(long, default_value_t = 4096)]
    width: usize,
    /// Number of independent networks.
    #[arg(long, default_value_t = 16)]
    seeds: usize,
    /// Base seed of the networks (network s uses seed BASE + s).
    #[arg(long, default_value_t = 0)]
    mc_seed: u64,
    /// Sampler.
    #[arg(long, value_enum, default_value_t = SamplerArg::Conditional)]
    sampler: SamplerArg,
    /// Precision of the sampled features and products (both samplers; Grams are summed
    /// in f64).
    #[arg(long, value_enum, default_value_t = PrecisionArg::F32)]
    precision: PrecisionArg,
    /// Where to sample.
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    device: DeviceArg,
    /// Memory cap in MiB (default: --memory, else 90% of MemAvailable); kept for
    /// compatibility, same as the global --memory.
    #[arg(long)]
    memory_limit_mib: Option<u64>,
    /// Sweep widths 2^SWEEP_MIN ..= 2^SWEEP_MAX and fit the error slopes.
    #[arg(long)]
    sweep: bool,
    /// Smallest sweep exponent (0 to 62).
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(0..=62))]
    sweep_min: u32,
    /// Largest sweep exponent (0 to 62: a width must fit in 63 bits; the memory
    /// estimate then refuses what does not fit).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(0..=62))]
    sweep_max: u32,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// With --device cuda: measure cuBLAS SGEMM throughput for C (M x N) = A (M x K) B (K x N),
    /// print TFLOP/s and exit. Takes M N K or M,N,K.
    #[arg(long, value_delimiter = ',', num_args = 1..=3, value_names = ["M", "N", "K"])]
    gemm_peak: Option<Vec<usize>>,
    /// With --device cuda: probe the GPU (device, free memory, cuSOLVER) and print, for
    /// N = 256, 1024, 4096 and -n, the largest width of this DAG, sampler and precision
    /// that fits in device memory; exit 1 when no GPU can be used.
    #[arg(long)]
    probe: bool,
}

fn bar(total: u64) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::with_draw_target(
        Some(total),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{msg} [{bar:30}] {pos}/{len} networks, {elapsed} (eta {eta})",
    ) {
        pb.set_style(style.progress_chars("=> "));
    }
    pb
}

pub fn run(a: Args) -> CliResult {
    archconv::budget::set_limit_mib(a.memory_limit_mib);
    if let Some(shape) = &a.gemm_peak {
        let [m, n, k] = shape[..] else {
            return Err(format!(
                "--gemm-peak takes three sizes M N K (or M,N,K), got {}",
                shape.len()
            )
            .into());
        };
        return gemm_peak(m, n, k);
    }
    if a.sweep && a.sweep_min > a.sweep_max {
        return Err(format!(
            "--sweep-min {} is above --sweep-max {}: the sweep would be empty",
            a.sweep_min, a.sweep_max
        )
        .into());
    }
    // Per-network results are kept for the statistics: refuse absurd seed counts before
    // anything is sized by them.
    archconv::budget::check(
        format!("{} Monte Carlo networks' per-network results", a.seeds),
        archconv::budget::bytes(a.seeds, 64),
    )?;
    let dag = a.network.apply(super::read_dag(&a.dag)?)?;
    let (x, desc) = a.inputs.data()?;
    let lift = a.inputs.lift_params()?;
    let inp = if a.inputs.no_normalize {
        McInputs::from_data_unnormalized_with(x.view(), &lift)
    } else {
        // Normalise scale-invariantly first (no squares of raw entries, so data of
        // magnitude 1e-170 or 1e200 work); McInputs' own scaling is then the identity.
        let xn = archconv::Inputs::normalize_rows(x.view());
        McInputs::from_data_with(xn.view(), &lift)
    }
    .map_err(|e| format!("inputs {desc}: {e}"))?;
    let params = McParams {
        width: a.width,
        seeds: a.seeds,
        seed: a.mc_seed,
        sampler: match a.sampler {
            SamplerArg::Explicit => Sampler::Explicit,
            SamplerArg::Conditional => Sampler::Conditional,
        },
        precision: match a.precision {
            PrecisionArg::F32 => Precision::F32,
            PrecisionArg::F64 => Precision::F64,
        },
        backend: match a.device {
            DeviceArg::Cpu => Backend::Cpu,
            DeviceArg::Cuda => Backend::Cuda,
        },
        memory_limit: Some(archconv::budget::limit()),
        ..McParams::default()
    };
    if a.probe {
        return probe(&dag, inp.dim(), inp.len(), &params, a.json);
    }
    let start = std::time::Instant::now();
    let head = format!(
        "DAG {} | network: {} | inputs: {desc}, lift {lift} | sampler {}, {} on {}",
        dag.describe(),
        network_settings(&dag),
        params.sampler,
        params.precision,
        params.backend
    );
    if a.sweep {
        let sp = SweepParams::powers_of_two(a.sweep_min, a.sweep_max, params);
        let pb = bar((sp.widths.len() * sp.base.seeds) as u64);
        pb.set_message("sweep");
        let sw = montecarlo::width_sweep(&dag, &inp, &sp, &|| pb.inc(1))?;
        pb.finish_and_clear();
        let secs = start.elapsed().as_secs_f64();
        if a.json {
            let v = serde_json::json!({"dag": dag.describe(), "network": network_settings(&dag), "lift": lift.to_string(), "inputs": desc, "params": sp, "sweep": sw, "seconds": secs});
            super::emit(&(serde_json::to_string_pretty(&v)? + "\n"));
        } else {
            super::emit(&format!(
                "{head}\nwidth sweep, {} networks per width (relative Frobenius error of the output Gram, mean ± se; slope of ln error vs ln m):\n\n{}\n{}\n",
                sp.base.seeds,
                archconv::report::montecarlo::sweep_table(&sw),
                super::duration(secs)
            ));
        }
        return Ok(());
    }
    let pb = bar(params.seeds as u64);
    pb.set_message(format!("m = {}", params.width));
    let r = montecarlo::run(&dag, &inp, &params, &|| pb.inc(1))?;
    pb.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    if a.json {
        let v = serde_json::json!({"dag": dag.describe(), "network": network_settings(&dag), "lift": lift.to_string(), "inputs": desc, "result": r, "seconds": secs});
        super::emit(&(serde_json::to_string_pretty(&v)? + "\n"));
    } else {
        super::emit(&format!(
            "{head}\nwidth {}, {} networks ({} at once, ~{:.0} MiB), {} in all, {} sampling per network\n\n{}",
            params.width,
            params.seeds,
            r.concurrency,
            r.estimated_bytes as f64 / (1u64 << 20) as f64,
            super::duration(secs),
            super::duration(r.seconds_per_network),
            archconv::report::montecarlo::comparison_table(&r)
        ));
        if let Some(g) = &r.gpu {
            let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
            super::emit(&format!(
                "GPU: {:.3} TFLOP of GEMM per network ({:.2} TFLOP/s), peak device memory {:.2} GiB of {:.2} GiB estimated, Gram roots {} on the device and {} on the host\n",
                g.gemm_flops_per_network as f64 / 1e12,
                g.gemm_flops_per_network as f64 / 1e12 / r.seconds_per_network.max(1e-12),
                gib(g.peak_device_bytes),
                gib(g.estimated_device_bytes),
                g.roots_on_device,
                g.roots_on_host
            ));
        }
    }
    Ok(())
}

/// The linear edges' settings: `relu(sw2=2, sb2=0)` when they all agree, else each
/// distinct setting with its edge count (`erf(sw2=1, sb2=0.1) x 3, relu(sw2=2, sb2=0) x 1`).
fn network_settings(dag: &Dag) -> String {
    let mut seen: Vec<(String, usize)> = Vec::new();
    for e in dag.edges().iter().filter(|e| e.op.is_parameterized()) {
        let p = e.params().to_string();
        match seen.iter_mut().find(|(q, _)| *q == p) {
            Some((_, c)) => *c += 1,
            None => seen.push((p, 1)),
        }
    }
    match seen.len() {
        0 => "no linear edges".to_string(),
        1 => format!("linear edges {}", seen[0].0),
        _ => seen
            .iter()
            .map(|(p, c)| format!("{p} x {c}"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

#[cfg(feature = "cuda")]
fn gemm_peak(m: usize, n: usize, k: usize) -> CliResult {
    let tflops = montecarlo::cuda::sgemm_tflops(m, n, k, 20)?;
    super::emit(&format!("cuBLAS SGEMM {m}x{n}x{k}: {tflops:.2} TFLOP/s\n"));
    Ok(())
}

#[cfg(not(feature = "cuda"))]
fn gemm_peak(_m: usize, _n: usize, _k: usize) -> CliResult {
    Err(montecarlo::McError::CudaUnavailable {
        reason: "this build of archconv lacks the `cuda` feature (--gemm-peak)".into(),
    }
    .into())
}

#[cfg(feature = "cuda")]
fn probe(dag: &Dag, d: usize, n: usize, params: &McParams, json: bool) -> CliResult {
    let mut points = vec![256, 1024, 4096];
    if !points.contains(&n) {
        points.push(n);
    }
    let r = montecarlo::cuda::probe_report(dag, d, params.sampler, params.precision, &points)?;
    if json {
        super::emit(&(serde_json::to_string_pretty(&r)? + "\n"));
    } else {
        let mut s = format!(
            "GPU {} (compute {}.{}), {:.1} GiB total, {:.1} GiB free; roots of the Grams on {}\n",
            r.device.name,
            r.device.compute_capability.0,
            r.device.compute_capability.1,
            r.device.total_bytes as f64 / (1u64 << 30) as f64,
            r.free_bytes as f64 / (1u64 << 30) as f64,
            match &r.cusolver_missing {
                None => "the device (cuSOLVER)".to_string(),
                Some(why) => format!("the host ({why})"),
            }
        );
        for f in &r.fits {
            s += &format!(
                "N = {:>6}: largest width {} (power of two: {})\n",
                f.points, f.largest_width, f.largest_power_of_two
            );
        }
        super::emit(&s);
    }
    Ok(())
}

#[cfg(not(feature = "cuda"))]
fn probe(_dag: &Dag, _d: usize, _n: usize, _params: &McParams, _json: bool) -> CliResult {
    Err(montecarlo::McError::CudaUnavailable {
        reason: "this build of archconv lacks the `cuda` feature (--probe)".into(),
    }
    .into())
}
