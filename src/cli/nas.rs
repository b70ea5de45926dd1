use super::CliResult;
use archconv::nas::{self, DartsSpace, Nb201Study, Nb201Table, ProxyScores, StudyOptions};
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    study: Study,
}

#[derive(clap::Subcommand)]
enum Study {
    /// NAS-Bench-201: Fig. 5 groups and R, the filter with a simulated random search, and
    /// the exact-kernel proxy (needs nats-bench-tss/nats_bench_tss_200ep.csv).
    Nb201 {
        /// Data directory (default: $ARCHCONV_DATA).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Random-search trials per budget (at least 1; checked against the memory
        /// budget).
        #[arg(long, default_value_t = 1000)]
        trials: usize,
        /// Seed of the random search.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// DARTS normal cell: op-class space, effective depth/width ranges vs the paper's box.
    Darts {
        /// Intermediate nodes (DARTS: 4). Up to 5: 6 would enumerate 232 million cells
        /// (about 28 GiB and hours of work), so it is refused.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u8).range(1..=5))]
        nodes: u8,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(a: Args) -> CliResult {
    match a.study {
        Study::Nb201 {
            data,
            trials,
            seed,
            json,
        } => {
            if trials == 0 {
                return Err(
                    "--trials must be at least 1 (the search statistics of 0 trials are undefined)"
                        .into(),
                );
            }
            // Each random-search simulation keeps one best value per trial.
            archconv::budget::check(
                format!("{trials} random-search trials"),
                archconv::budget::bytes(trials, 8),
            )?;
            let dir = archconv::data::data_dir(data.as_deref()).ok_or_else(|| {
                format!(
                    "no data directory: pass --data DIR or set ARCHCONV_DATA; the file is expected at DIR/{}; to get it: {}",
                    nas::table::NB201_FILE,
                    nas::table::NB201_HINT
                )
            })?;
            let t0 = Instant::now();
            let table = Nb201Table::load_from_dir(&dir)?;
            let t_load = t0.elapsed();
            let mut opts = StudyOptions::default();
            opts.search.trials = trials;
            opts.search.seed = seed;
            let t1 = Instant::now();
            let scores = ProxyScores::compute(opts.proxy)?;
            let t_proxy = t1.elapsed();
            let t2 = Instant::now();
            let study = Nb201Study::with_scores(&table, &opts, &scores)?;
            let t_rest = t2.elapsed();
            eprintln!(
                "timing: load {:.2} s, kernel proxy ({} classes x 3 kernels) {:.2} s, groups + search + correlations {:.2} s",
                t_load.as_secs_f64(),
                scores.classes,
                t_proxy.as_secs_f64(),
                t_rest.as_secs_f64()
            );
            if json {
                super::emit(&(serde_json::to_string_pretty(&study)? + "\n"));
            } else {
                for s in archconv::report::nas::study_sections(&study) {
                    super::emit(&format!("## {}\n\n{}\n", s.title, s.markdown));
                }
            }
        }
        Study::Darts { nodes, json } => {
            let t0 = Instant::now();
            let s = DartsSpace::try_compute(nodes as usize)?;
            eprintln!("timing: enumeration {:.2} s", t0.elapsed().as_secs_f64());
            if json {
                super::emit(&(serde_json::to_string_pretty(&s)? + "\n"));
            } else {
                super::emit(&(archconv::report::nas::darts_markdown(&s) + "\n"));
            }
        }
    }
    Ok(())
}
