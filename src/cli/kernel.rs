//! `archconv kernel`: the output kernel of a point set written to a `.npy` file strip by
//! strip, in bounded memory, with a progress bar; resumable.

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
    #[arg(long, short = 'o')]
    out: PathBuf,
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
    let r = kf.write_npy(x.view(), what, &a.out, &opts, &mut progress);
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
