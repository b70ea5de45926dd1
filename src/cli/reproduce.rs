use super::CliResult;
use archconv::reproduce::{reproduce, ReproduceOptions};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Output folder for figures, report.md and report.json.
    #[arg(long, default_value = "figures")]
    out: PathBuf,
    /// Data directory (default: $ARCHCONV_DATA); steps needing absent files are skipped.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Small budgets (about a minute on 2 cores).
    #[arg(long)]
    quick: bool,
    /// Overwrite files in the output folder that an earlier reproduce did not write.
    #[arg(long)]
    force: bool,
}

pub fn run(a: Args) -> CliResult {
    let opts = ReproduceOptions {
        out: a.out.clone(),
        data: archconv::data::data_dir(a.data.as_deref()),
        quick: a.quick,
        force: a.force,
    };
    let start = std::time::Instant::now();
    let report = reproduce(&opts, &mut |msg| eprintln!("{msg}"))?;
    for s in &report.skipped {
        eprintln!("skipped: {s}");
    }
    eprintln!(
        "wrote {} sections to {}/report.md and report.json in {:.1} s",
        report.sections.len(),
        a.out.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
