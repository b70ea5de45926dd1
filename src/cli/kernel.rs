//! `archconv kernel`: the output kernel of a point set written to a `.npy` file strip by
//! strip, in bounded memory, with a progress bar; resumable. With `--lambda-min`, the
//! output kernel alone is held in memory (no other node's state) and its smallest
//! eigenvalue is computed, both timed.

use super::inputs::{InputArgs, RuleArg};
use super::CliResult;
use archconv::kernel::npy::{Dtype, NpyOptions, What};
use archconv::kernel::ntk::NtkVariant;
use archconv::kernel::{KernelFn, KernelKind};
use indicatif::{ProgressBar, ProgressStyle};
use std::ops::ControlFlow;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// The DAG (any format `analyze` accepts; @FILE reads it from a file).
    dag: String,
    #[command(flatten)]
    inputs: InputArgs,
    #[command(flatten)]
    network: super::network::NetworkArgs,
    /// The .npy file to write (NumPy's format 1.0; `numpy.load(path, mmap_mode="r")`).
    #[arg(
        long,
        short = 'o',
        required_unless_present = "lambda_min",
        conflicts_with = "lambda_min"
    )]
    out: Option<PathBuf>,
    /// Instead of writing a file: hold the output kernel in memory (the output node
    /// only, block by block) and report its smallest eigenvalue, each step timed. Needs
    /// about 2 N^2 x 8 bytes (the kernel and its Cholesky factor), checked first.
    #[arg(long)]
    lambda_min: bool,
    /// Kernel rule (exact or independent-branch: the path-sum rule is not tiled).
    #[arg(long, value_enum, default_value_t = RuleArg::Exact)]
    rule: RuleArg,
    /// Write the NTK (all parameters trained) instead of the NNGP.
    #[arg(long)]
    ntk: bool,
    /// Store f32 instead of f64 (half the disk).
    #[arg(long)]
    f32: bool,
    /// Rows per strip (thinner if the memory cap asks).
    #[arg(long, default_value_t = 256)]
    strip_rows: usize,
    /// Continue OUT.partial from an interrupted run.
    #[arg(long)]
    resume: bool,
    /// Replace OUT if it exists.
    #[arg(long)]
    force: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> CliResult {
    let dag = a.network.apply(super::read_dag(&a.dag)?)?;
    let (x, desc) = a.inputs.data()?;
    let kind = KernelKind::from(a.rule);
    let mut kf = KernelFn::new(&dag, a.inputs.lift_params()?, kind);
    if a.inputs.no_normalize {
        kf = kf.unnormalized();
    }
    let what = if a.ntk {
        What::Ntk(NtkVariant::Full)
    } else {
        What::Nngp
    };
    let out = match a.out {
        Some(out) => out,
        None => return lambda_min(&kf, x.view(), what, &desc, a.json),
    };
    let opts = NpyOptions {
        dtype: if a.f32 { Dtype::F32 } else { Dtype::F64 },
        resume: a.resume,
        overwrite: a.force,
        strip_rows: Some(a.strip_rows.max(1)),
    };
    let bar = ProgressBar::new(x.nrows() as u64);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} rows, eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let mut progress = |done: usize, _n: usize| {
        bar.set_position(done as u64);
        ControlFlow::Continue(())
    };
    let r = kf.write_npy(x.view(), what, &out, &opts, &mut progress);
    bar.finish_and_clear();
    let r = r?;
    let ns = r.seconds * 1e9 / (r.entries_computed.max(1) as f64);
    if a.json {
        let mut v = serde_json::to_value(&r)?;
        v["inputs"] = serde_json::Value::String(desc);
        v["ns_per_computed_entry"] = serde_json::json!(ns);
        super::emit(&(serde_json::to_string_pretty(&v)? + "\n"));
    } else {
        super::emit(&format!(
            "wrote {} ({} x {}, {}; {} of {desc}) in {}: {:.1} ns per computed entry ({} entries{}), strips of {} rows, memory estimate {}, scale 1e{:.1}\n",
            r.path.display(),
            r.n,
            r.n,
            if a.f32 { "f32" } else { "f64" },
            if a.ntk { "NTK" } else { "NNGP" },
            super::duration(r.seconds),
            ns,
            r.entries_computed,
            if r.resumed_at_row > 0 {
                format!(", resumed at row {}", r.resumed_at_row)
            } else {
                String::new()
            },
            r.strip_rows,
            archconv::budget::fmt_bytes(Some(r.estimated_bytes)),
            r.log10_scale,
        ));
    }
    Ok(())
}

/// `--lambda-min`: the output kernel in memory, then `lambda_min`, each timed.
fn lambda_min(
    kf: &KernelFn,
    x: ndarray::ArrayView2<'_, f64>,
    what: What,
    desc: &str,
    json: bool,
) -> CliResult {
    use std::time::Instant;
    let n = x.nrows();
    // The kernel, the Cholesky factor of lambda_min (the same size) and the points.
    let needed = archconv::budget::bytes(n, n)
        .and_then(|b| b.checked_mul(16))
        .and_then(|b| b.checked_add(archconv::budget::bytes(n, x.ncols())?.checked_mul(8)?));
    archconv::budget::check(
        format!("the output kernel of N = {n} points and its Cholesky factor (lambda_min)"),
        needed,
    )?;
    let t = Instant::now();
    let k = match what {
        What::Nngp => kf.nngp(x, None)?,
        What::Ntk(v) => kf.ntk(x, None, v)?,
    };
    let kernel_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let lmin = archconv::spectrum::lambda_min(&k)?;
    let lambda_s = t.elapsed().as_secs_f64();
    let name = if matches!(what, What::Nngp) {
        "NNGP"
    } else {
        "NTK"
    };
    if json {
        let v = serde_json::json!({
            "n": n,
            "kernel": name,
            "inputs": desc,
            "lambda_min": lmin,
            "kernel_seconds": kernel_s,
            "lambda_min_seconds": lambda_s,
            "estimated_bytes": needed,
        });
        super::emit(&(serde_json::to_string_pretty(&v)? + "\n"));
    } else {
        super::emit(&format!(
            "output {name} of {desc} ({n} x {n}): computed in {}; lambda_min = {lmin:.6e} in {}; memory estimate {}\n",
            super::duration(kernel_s),
            super::duration(lambda_s),
            archconv::budget::fmt_bytes(needed),
        ));
    }
    Ok(())
}
