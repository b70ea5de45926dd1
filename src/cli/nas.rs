use super::CliResult;
use archconv::data::{load_cifar10, Split, CIFAR_NORMALIZE};
use archconv::nas::zero_cost::{
    self,
    search::{Convention, SearchOptions},
    ZcSettings,
};
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
    /// Training-free search on real NAS-Bench-201 networks (the paper's Tables 1-3):
    /// scores a seeded sample of cells by NASWOT, #params and FLOPs into a resumable cache,
    /// rank-correlates the proxies with the accuracies, and runs the authors' search with
    /// and without the filter (needs the CIFAR-10 fixture and the NATS-Bench CSV).
    Search {
        /// Data directory (default: $ARCHCONV_DATA).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Cache directory (one file per shard; reused only with identical settings).
        #[arg(long, default_value = "archconv-cache/nas-zero-cost")]
        cache: PathBuf,
        /// Cells in the seeded sample (at most 15625).
        #[arg(long, default_value_t = 1000)]
        sample: usize,
        /// Seed of the sample.
        #[arg(long, default_value_t = 0)]
        sample_seed: u64,
        /// CIFAR-10 images in the NASWOT batch (at most the 200 of the fixture).
        #[arg(long, default_value_t = 128)]
        batch: usize,
        /// Seed of the network weights.
        #[arg(long, default_value_t = 0)]
        net_seed: u64,
        /// Images of the TE-NAS NTK (the first of the NASWOT batch; TE-NAS uses 16).
        #[arg(long, default_value_t = 16)]
        ntk_batch: usize,
        /// Gaussian inputs per batch of TE-NAS's linear-region count (3 batches).
        #[arg(long, default_value_t = 1000)]
        region_samples: usize,
        /// Score only shard K of M (`K/M`, 0-based), then stop unless every shard is done.
        #[arg(long, value_parser = parse_shard)]
        shard: Option<(usize, usize)>,
        /// Searches (the authors: 500).
        #[arg(long, default_value_t = 500)]
        runs: usize,
        /// Cells drawn per search (the authors: 100).
        #[arg(long, default_value_t = 100)]
        per_run: usize,
        /// Seed of the searches.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Which filter box is "the filter": the paper's text (half radius of the
        /// space's box) or the authors' code (depth [0.99, 2.51], width [0.99, 3.01]).
        #[arg(long, value_enum, default_value_t = ConventionArg::AuthorsCode)]
        convention: ConventionArg,
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

#[derive(Clone, Copy, clap::ValueEnum)]
enum ConventionArg {
    PaperText,
    AuthorsCode,
}

impl From<ConventionArg> for Convention {
    fn from(c: ConventionArg) -> Convention {
        match c {
            ConventionArg::PaperText => Convention::PaperText,
            ConventionArg::AuthorsCode => Convention::AuthorsCode,
        }
    }
}

fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let bad = || format!("--shard takes K/M with 0 <= K < M (e.g. 0/4), not '{s}'");
    let (k, m) = s.split_once('/').ok_or_else(bad)?;
    let (k, m) = (
        k.trim().parse::<usize>().map_err(|_| bad())?,
        m.trim().parse::<usize>().map_err(|_| bad())?,
    );
    if m == 0 || k >= m {
        return Err(bad());
    }
    Ok((k, m))
}

#[allow(clippy::too_many_arguments)]
fn search(
    data: Option<PathBuf>,
    cache: PathBuf,
    settings: ZcSettings,
    shard: Option<(usize, usize)>,
    options: SearchOptions,
    convention: Convention,
    json: bool,
) -> CliResult {
    let dir = archconv::data::data_dir(data.as_deref())
        .ok_or("no data directory: pass --data DIR or set ARCHCONV_DATA (it needs cifar10-subset200/ and nats-bench-tss/)")?;
    // Accuracies first: a missing table is reported before minutes of scoring.
    let table = Nb201Table::load_from_dir(&dir)?;
    let mut ds = load_cifar10(&dir, Split::Train)?;
    ds.standardize(&CIFAR_NORMALIZE.0, &CIFAR_NORMALIZE.1);
    if settings.batch > ds.len() {
        return Err(format!(
            "--batch {} exceeds the {} images of {}",
            settings.batch,
            ds.len(),
            ds.source
        )
        .into());
    }
    let settings = ZcSettings {
        images: ds.source.clone(),
        ..settings
    };
    let images = archconv::nas::naswot::cifar_batch(&ds, settings.batch)?;
    let (k, m) = shard.unwrap_or((0, 1));
    let file = zero_cost::shard_file(&cache, (k, m));
    eprintln!("images: {}\ncache: {}", ds.source, file.display());
    let t0 = Instant::now();
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "scoring {pos}/{len} cells [{elapsed_precise}, eta {eta}]",
        )
        .expect("progress template"),
    );
    zero_cost::run_shard(&settings, &images, &file, (k, m), &mut |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })?;
    bar.finish_and_clear();
    eprintln!("timing: scoring {:.1} s", t0.elapsed().as_secs_f64());
    let records = zero_cost::collect(&cache, &settings)?;
    if records.len() < settings.sample {
        eprintln!(
            "{} of {} sampled cells are scored in {}; run the other shards (--shard K/{m}), then this command again for the tables",
            records.len(),
            settings.sample,
            cache.display()
        );
        if shard.is_some() {
            return Ok(());
        }
    }
    let kernel = ProxyScores::compute(Default::default())?;
    let rep = zero_cost::report(&table, &records, &settings, &kernel, convention, options)?;
    if json {
        super::emit(&(serde_json::to_string_pretty(&rep)? + "\n"));
    } else {
        super::emit(&(rep.markdown() + "\n"));
    }
    Ok(())
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
        Study::Search {
            data,
            cache,
            sample,
            sample_seed,
            batch,
            net_seed,
            ntk_batch,
            region_samples,
            shard,
            runs,
            per_run,
            seed,
            convention,
            json,
        } => {
            let settings = ZcSettings {
                sample,
                sample_seed,
                batch,
                net_seed,
                ntk_batch,
                regions: archconv::nas::tenas::LinearRegionSettings {
                    samples: region_samples,
                    ..Default::default()
                },
                ..ZcSettings::default()
            };
            let options = SearchOptions {
                runs,
                per_run,
                seed,
            };
            search(
                data,
                cache,
                settings,
                shard,
                options,
                convention.into(),
                json,
            )?;
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
