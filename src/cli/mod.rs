//! Subcommands, one file each.

mod analyze;
mod dataset;
mod inputs;
mod kernel;
mod mc;
mod nas;
mod network;
mod predict;
mod reproduce;
mod space;
mod train;

use clap::{Parser, Subcommand};

/// Deep architecture connectivity and convergence: path statistics, exact NNGP kernels,
/// spectra (Chen et al., NeurIPS 2022).
#[derive(Parser)]
#[command(name = "archconv", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Memory cap for every large allocation, estimated before it is made: MiB, or with
    /// a unit (512MiB, 4GiB, 2GB; default: 90% of the available memory). Requests above
    /// it are refused with the estimate.
    #[arg(long, global = true, value_name = "SIZE", value_parser = parse_memory)]
    memory: Option<u64>,
}

#[derive(Subcommand)]
enum Command {
    /// Path statistics and the three kernels' eigenvalue summary of one DAG.
    Analyze(analyze::Args),
    /// Search-space statistics (NAS-Bench-201): d/m distribution, center, radius, filter.
    Space(space::Args),
    /// NAS studies: `nb201` (Fig. 5, filter, kernel proxy) and `darts` (space ranges).
    Nas(nas::Args),
    /// Finite-width Monte Carlo of a DAG network against the closed-form kernels.
    Mc(mc::Args),
    /// Regenerate every figure, table and report the project can produce.
    Reproduce(reproduce::Args),
    /// Train DAG-MLPs (Fig. 4) over seeds, or run the Fig. 4 / convergence-rate studies.
    Train(train::Args),
    /// The output kernel of a point set written to a .npy file strip by strip (bounded
    /// memory, progress bar, resumable).
    Kernel(kernel::Args),
    /// Infinite-width predictions on a labelled dataset: NNGP posterior, NTK mean
    /// prediction along gradient flow or descent, 2 / lambda_max.
    Predict(predict::Args),
}

pub type CliResult = Result<(), Box<dyn std::error::Error>>;

/// `--memory`: a number of MiB, or a number with a unit (`KiB`, `MiB`, `GiB`, `TiB`;
/// `KB`, `MB`, `GB`, `TB` as powers of 1000), in MiB (rounded up).
fn parse_memory(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let v: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size (examples: 4096, 512MiB, 4GiB)"))?;
    let bytes = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "m" | "mib" => v * (1u64 << 20) as f64,
        "k" | "kib" => v * 1024.0,
        "g" | "gib" => v * (1u64 << 30) as f64,
        "t" | "tib" => v * (1u64 << 40) as f64,
        "kb" => v * 1e3,
        "mb" => v * 1e6,
        "gb" => v * 1e9,
        "tb" => v * 1e12,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {s:?} (use KiB, MiB, GiB, TiB)"
            ))
        }
    };
    if !(bytes.is_finite() && bytes >= 1.0) {
        return Err(format!("{s:?}: the memory cap must be at least one byte"));
    }
    Ok((bytes / (1u64 << 20) as f64).ceil() as u64)
}

/// Writes to stdout; a closed pipe (`archconv ... | head`) ends the program quietly.
pub fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to stdout: {e}");
        std::process::exit(1);
    }
}

/// A duration with three significant digits in a readable unit: `812 us`, `3.41 ms`,
/// `27.3 ms`, `1.37 s`, `95.2 s`.
pub(crate) fn duration(secs: f64) -> String {
    let (v, unit) = if secs < 1e-3 {
        (secs * 1e6, "us")
    } else if secs < 1.0 {
        (secs * 1e3, "ms")
    } else {
        (secs, "s")
    };
    let digits = if v < 10.0 {
        2
    } else if v < 100.0 {
        1
    } else {
        0
    };
    format!("{v:.digits$} {unit}")
}

/// The DAG argument of `analyze`, `mc` and `train`: the text itself, or `@FILE`.
pub(crate) fn read_dag(arg: &str) -> Result<archconv::Dag, Box<dyn std::error::Error>> {
    let text = match arg.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read DAG file {path}: {e}"))?,
        None => arg.to_string(),
    };
    Ok(archconv::Dag::parse(&text)?)
}

pub fn run() -> CliResult {
    let cli = Cli::parse();
    archconv::budget::set_limit_mib(cli.memory);
    match cli.command {
        Command::Analyze(a) => analyze::run(a),
        Command::Space(a) => space::run(a),
        Command::Nas(a) => nas::run(a),
        Command::Mc(a) => mc::run(a),
        Command::Reproduce(a) => reproduce::run(a),
        Command::Train(a) => train::run(a),
        Command::Predict(a) => predict::run(a),
        Command::Kernel(a) => kernel::run(a),
    }
}

#[cfg(test)]
mod tests {
    use super::duration;

    #[test]
    fn durations_keep_three_significant_digits() {
        assert_eq!(duration(0.000_812_4), "812 us");
        assert_eq!(duration(0.003_414), "3.41 ms");
        assert_eq!(duration(0.027_34), "27.3 ms");
        assert_eq!(duration(1.372), "1.37 s");
        assert_eq!(duration(95.24), "95.2 s");
    }
}
