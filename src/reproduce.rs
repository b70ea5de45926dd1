//! `archconv reproduce`: regenerates every figure, table and number the project can
//! produce, into one output folder with `report.md` and `report.json`.
//!
//! Steps (each appends one or more [`crate::report::Section`]s and figure files):
//! 1. `dags`, `figures` — path statistics and the three kernels' spectra of DAG#1-#3;
//!    Fig. 3 drawings and the bounds-versus-correlation figure (Sec. 3).
//! 2. `bounds` — the section-3 bounds `lambda_1..3(c)` against the three kernels'
//!    2-point `lambda_min` at the same correlation `c` (Sec. 3.3 / App. C).
//! 3. `nb201-space` — effective depth/width distribution, center, radius and filter
//!    counts of NAS-Bench-201 (Sec. 4).
//! 4. `nb201-fig5`, `nb201-filter`, `nb201-proxy`, `darts-space` — Fig. 5 bubble plots,
//!    the filter and random-search simulation, the exact-kernel proxy (needs the
//!    NAS-Bench-201 accuracy file), and the DARTS space.
//! 5. `fig4`, `rate-test` — training DAG-MLPs on MNIST and CIFAR-10 (Fig. 4) and the
//!    convergence-rate test (needs MNIST / CIFAR-10 files).
//! 6. `ntk-stepsize` — the NTK step-size study with its figure.
//! 7. `activations` — raw and normalised `lambda_min` of DAG#1-#3 for nine activations
//!    (exact NNGP and NTK), whether the paper's ordering survives outside ReLU, and a figure
//!    ([`crate::activation_study`]).
//! 8. `generalisation` — NNGP and NTK test accuracy of DAG#1-#3 and sampled NB201 cells
//!    on MNIST and CIFAR-10 beside raw and normalised `lambda_min`, with rank
//!    correlations and a scatter figure ([`crate::generalisation`]).
//! 9. `linearised` — the exact NTK's predicted training-loss curve against finite-width
//!    full-batch gradient descent at widths 256-4096, with the gap's slope in width
//!    ([`crate::train::linearised`]).
//! 10. `fig4-time` — Fig. 4 against the time `t = lr x steps`: the learning rates at
//!     which training curves collapse, DAG#1-#3 trained to the paper's time at the largest
//!     such rate, beside the exact standard-parameterisation NTK's prediction
//!     ([`crate::train::fig4_time`]).
//!
//! Steps that need data files are skipped with a message naming the missing file and how
//! to get it; `quick` shrinks every budget (about a minute on 2 cores).

use crate::analysis::{analyze, AnalyzeOptions};
use crate::kernel::{Inputs, Lift};
use crate::report::Report;
use crate::{Dag, Error};
use std::path::PathBuf;

/// Options for [`reproduce`].
#[derive(Debug, Clone)]
pub struct ReproduceOptions {
    /// Output folder (created).
    pub out: PathBuf,
    /// Data directory, if any (see [`crate::data::data_dir`]).
    pub data: Option<PathBuf>,
    /// Smaller budgets everywhere (about a minute on 2 cores).
    pub quick: bool,
    /// Overwrite files in `out` that an earlier `reproduce` did not write.
    pub force: bool,
}

/// The file in the output folder listing what `reproduce` wrote there, one name a line;
/// files not listed are not overwritten without [`ReproduceOptions::force`].
pub const MANIFEST: &str = ".archconv-reproduce";

/// Files in the output folder that `reproduce` would overwrite although it did not
/// write them.
#[derive(Debug)]
pub struct OverwriteError {
    /// The output folder.
    pub dir: PathBuf,
    /// The files, relative to `dir`.
    pub files: Vec<String>,
}

impl std::fmt::Display for OverwriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: Vec<String> = self
            .files
            .iter()
            .map(|n| self.dir.join(n).display().to_string())
            .collect();
        write!(
            f,
            "{} {} and {} not written by archconv reproduce; refusing to overwrite (pass --force, or choose another --out)",
            shown.join(", "),
            if shown.len() == 1 { "exists" } else { "exist" },
            if shown.len() == 1 { "was" } else { "were" },
        )
    }
}

impl std::error::Error for OverwriteError {}

fn write_err(
    path: &std::path::Path,
) -> impl FnOnce(std::io::Error) -> crate::report::WriteError + '_ {
    move |source| crate::report::WriteError {
        path: path.to_path_buf(),
        source,
    }
}

/// Runs every step, reporting progress through `progress`, and writes the report.
///
/// Output is all or nothing: every step writes into a staging folder inside `out`, and
/// only when all succeeded are the files renamed into place, one atomic rename each
/// (`report.md` and `report.json` last). A file in `out` that an earlier run did not write
/// (it is not in [`MANIFEST`]) is not overwritten unless `force` is set
/// ([`OverwriteError`]). A missing data file skips its step with a message; a data file
/// that is present but corrupt is an error.
pub fn reproduce(opts: &ReproduceOptions, progress: &mut dyn FnMut(&str)) -> Result<Report, Error> {
    let out = &opts.out;
    std::fs::create_dir_all(out).map_err(write_err(out))?;
    let manifest_path = out.join(MANIFEST);
    let owned: std::collections::BTreeSet<String> = match std::fs::read_to_string(&manifest_path) {
        Ok(text) => text.lines().map(str::to_string).collect(),
        Err(_) => Default::default(),
    };
    let foreign = |names: &mut dyn Iterator<Item = String>| -> Vec<String> {
        names
            .filter(|n| !opts.force && !owned.contains(n) && out.join(n).exists())
            .collect()
    };
    // Fail fast on the two files every run writes.
    let clash = foreign(&mut ["report.md", "report.json"].iter().map(|s| s.to_string()));
    if !clash.is_empty() {
        return Err(OverwriteError {
            dir: out.clone(),
            files: clash,
        }
        .into());
    }
    let staging = out.join(format!(".archconv-staging-{}", std::process::id()));
    std::fs::create_dir_all(&staging).map_err(write_err(&staging))?;
    let staged_opts = ReproduceOptions {
        out: staging.clone(),
        ..opts.clone()
    };
    let result = run_steps(&staged_opts, progress).and_then(|report| {
        let mut names: Vec<String> = std::fs::read_dir(&staging)
            .map_err(write_err(&staging))?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let clash = foreign(&mut names.iter().cloned());
        if !clash.is_empty() {
            return Err(OverwriteError {
                dir: out.clone(),
                files: clash,
            }
            .into());
        }
        // Figures first, the reports last, so a report never names a missing figure.
        names.sort_by_key(|n| n.starts_with("report."));
        for n in &names {
            let target = out.join(n);
            std::fs::rename(staging.join(n), &target).map_err(write_err(&target))?;
        }
        let mut all = owned.clone();
        all.extend(names);
        let list: String = all.iter().map(|n| format!("{n}\n")).collect();
        crate::report::write_atomic(&manifest_path, list.as_bytes())?;
        Ok(report)
    });
    let _ = std::fs::remove_dir_all(&staging);
    result
}

fn run_steps(opts: &ReproduceOptions, progress: &mut dyn FnMut(&str)) -> Result<Report, Error> {
    let mut report = Report::default();
    progress("[1/13] path statistics and kernel spectra of DAG#1-#3; Fig. 3 and bound figures");
    step_dags(&mut report, opts)?;
    report
        .sections
        .push(crate::report::theory::theory_figures(&opts.out)?);
    progress("[2/13] section-3 bounds versus input correlation");
    step_bounds(&mut report)?;
    progress("[3/13] NAS-Bench-201 space: effective depth/width and filter");
    step_space(&mut report);
    progress("[4/13] NAS-Bench-201 accuracies: Fig. 5, filter, search simulation, kernel proxy; DARTS space");
    step_nas(&mut report, opts)?;
    progress("[5/13] finite-width Monte Carlo versus the three kernels; width sweep");
    step_montecarlo(&mut report, opts)?;
    progress("[6/13] training DAG-MLPs: Fig. 4");
    step_fig4(&mut report, opts, progress)?;
    progress("[7/13] convergence-rate test (full-batch GD on MNIST)");
    step_rate(&mut report, opts, progress)?;
    progress("[8/13] NTK step-size study: fixed versus tuned step (finite-width GD)");
    step_stepsize(&mut report, opts)?;
    progress("[9/13] the paper's ordering for other activations (exact NNGP and NTK)");
    step_activations(&mut report, opts)?;
    progress("[10/13] kernel-regime generalisation: NNGP/NTK accuracy against lambda_min");
    step_generalisation(&mut report, opts, progress)?;
    progress("[11/13] exact-NTK predicted training against finite-width gradient descent");
    step_linearised(&mut report, opts, progress)?;
    progress("[12/13] Fig. 4 against time t = lr x steps: learning-rate collapse, paper's time, NTK prediction");
    step_fig4_time(&mut report, opts, progress)?;
    progress("[13/13] training-free NAS on real NAS-Bench-201 networks: NASWOT, #params, FLOPs; Tables 1-3 search");
    step_nas_search(&mut report, opts, progress)?;
    report.write(&opts.out)?;
    Ok(report)
}

fn step_dags(report: &mut Report, opts: &ReproduceOptions) -> Result<(), Error> {
    let n = if opts.quick { 64 } else { 256 };
    let x = Inputs::gaussian(n, 32, 0);
    let inputs = Inputs::from_data(x.view(), Lift::Dense)?;
    let mut analyses = Vec::new();
    for (name, dag) in Dag::paper_dags() {
        analyses.push((name, analyze(&dag, &inputs, &AnalyzeOptions::default())?));
    }
    report
        .sections
        .push(crate::report::dags::section(&analyses, n));
    Ok(())
}

/// The section-3 bounds and each kernel's 2-point `lambda_min` at correlation `c`
/// ([`crate::spectrum::paper_pair_table`] as [`crate::report::bounds::kernel_table`]
/// writes it; kept here for compatibility).
pub fn bounds_table(cs: &[f64]) -> Result<Vec<serde_json::Value>, Error> {
    Ok(crate::report::bounds::kernel_table(
        &crate::spectrum::paper_pair_table(cs)?,
    ))
}

fn step_bounds(report: &mut Report) -> Result<(), Error> {
    use crate::report::bounds::{correlations, kernel_table, section};
    let cs = correlations();
    let bounds = crate::spectrum::paper_bounds(&cs, &cs)?;
    let table = crate::spectrum::paper_pair_table(&cs)?;
    report.sections.push(section(&bounds, kernel_table(&table)));
    Ok(())
}

fn step_space(report: &mut Report) {
    report
        .sections
        .push(crate::report::space::section(&crate::space::nb201_space()));
}

/// Why [`mnist_binary`] has no data: absent (skip the MNIST variant) or corrupt (fail).
enum MnistSkip {
    Absent(String),
    Corrupt(crate::data::DataError),
}

/// MNIST test images `0..n` with labels mapped to `+1` (even digit) / `-1` (odd), if the
/// data directory has them; otherwise why not.
fn mnist_binary(
    opts: &ReproduceOptions,
    n: usize,
) -> Result<(ndarray::Array2<f64>, ndarray::Array1<f64>, String), MnistSkip> {
    use MnistSkip::{Absent, Corrupt};
    let dir = opts
        .data
        .as_ref()
        .ok_or_else(|| Absent("no data directory (--data or ARCHCONV_DATA)".into()))?;
    crate::data::check_data_dir(dir).map_err(Corrupt)?;
    let img = dir.join("mnist/t10k-images-idx3-ubyte.gz");
    let lab = dir.join("mnist/t10k-labels-idx1-ubyte.gz");
    for p in [&img, &lab] {
        if !p.exists() {
            return Err(Absent(format!(
                "missing {} (see datasets/README.md)",
                p.display()
            )));
        }
    }
    // Present but corrupt: an error (the caller stops), not a reason to skip.
    let images = crate::data::read_idx_images(&img).map_err(Corrupt)?;
    let labels = crate::data::read_idx_labels(&lab, 10).map_err(Corrupt)?;
    let x = images.to_f64(n);
    let y = ndarray::Array1::from_iter(labels.iter().take(x.nrows()).map(|&l| {
        if l % 2 == 0 {
            1.0
        } else {
            -1.0
        }
    }));
    Ok((
        x,
        y,
        format!("MNIST test images 0..{n}, target +1 for even digits, -1 for odd"),
    ))
}

fn step_nas(report: &mut Report, opts: &ReproduceOptions) -> Result<(), Error> {
    use crate::nas::{DartsSpace, Nb201Study, Nb201Table, StudyOptions};
    use crate::plot::{save_bubbles_png, save_bubbles_svg};
    use crate::report::nas::{darts_section, study_sections};
    let table = match &opts.data {
        None => Err(format!(
            "no data directory (--data or ARCHCONV_DATA); NAS-Bench-201 studies need {} (see datasets/README.md)",
            "nats-bench-tss/nats_bench_tss_200ep.csv"
        )),
        Some(dir) => match Nb201Table::load_from_dir(dir) {
            Ok(t) => Ok(t),
            Err(crate::nas::NasError::Data(e @ crate::data::DataError::Missing { .. })) => {
                Err(e.to_string())
            }
            // Present but unreadable or corrupt: an error, not a skipped step.
            Err(e) => return Err(e.into()),
        },
    };
    match table {
        Err(why) => report
            .skipped
            .push(format!("Fig. 5 and NAS-Bench-201 studies: {why}")),
        Ok(table) => {
            let sopts = if opts.quick {
                StudyOptions::quick()
            } else {
                StudyOptions::default()
            };
            let study = Nb201Study::compute(&table, &sopts)?;
            let bubbles = crate::report::nas::fig5_bubbles(&study);
            save_bubbles_svg(opts.out.join("fig5_nb201_bubbles.svg"), &bubbles)?;
            save_bubbles_png(opts.out.join("fig5_nb201_bubbles.png"), &bubbles)?;
            let mut secs = study_sections(&study);
            if let Some(first) = secs.first_mut() {
                first.markdown.push_str(
                    "\nThe bubble plot's legend R is the quadratic multiple correlation over group means (the paper's dots are groups).\n",
                );
                first.files.push("fig5_nb201_bubbles.svg".into());
                first.files.push("fig5_nb201_bubbles.png".into());
            }
            report.sections.extend(secs);
        }
    }
    report.sections.push(darts_section(&DartsSpace::compute(4)));
    Ok(())
}

/// NASWOT and the other zero-cost proxies on a seeded sample of real networks (1,000
/// cells; 24 with `quick`, on 32 images), cached under `OUT/zero-cost-cache` so a rerun
/// resumes; then the correlation table and the authors' search (500 runs of 100 cells;
/// 50 of 10 with `quick`).
fn step_nas_search(
    report: &mut Report,
    opts: &ReproduceOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<(), Error> {
    use crate::nas::zero_cost::{self, search::Convention, search::SearchOptions, ZcSettings};
    let Some(dir) = &opts.data else {
        report.skipped.push("training-free NAS search: no data directory (--data or ARCHCONV_DATA); it needs nats-bench-tss/ and cifar10-subset200/".into());
        return Ok(());
    };
    let table = match crate::nas::Nb201Table::load_from_dir(dir) {
        Ok(t) => t,
        Err(crate::nas::NasError::Data(e @ crate::data::DataError::Missing { .. })) => {
            report
                .skipped
                .push(format!("training-free NAS search: {e}"));
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let mut ds = match crate::data::load_cifar10(dir, crate::data::Split::Train) {
        Ok(d) => d,
        Err(e @ crate::data::DataError::Missing { .. }) => {
            report
                .skipped
                .push(format!("training-free NAS search: {e}"));
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    ds.standardize(
        &crate::data::CIFAR_NORMALIZE.0,
        &crate::data::CIFAR_NORMALIZE.1,
    );
    // Quick: a smaller TE-NAS NTK (8 images) and linear-region sample (3 x 200).
    let (sample, batch, ntk_batch, region_samples, options) = if opts.quick {
        (
            24,
            32,
            8,
            200,
            SearchOptions {
                runs: 50,
                per_run: 10,
                seed: 0,
            },
        )
    } else {
        (1000, 128, 16, 1000, SearchOptions::default())
    };
    let settings = ZcSettings {
        sample,
        batch,
        ntk_batch,
        regions: crate::nas::tenas::LinearRegionSettings {
            samples: region_samples,
            ..Default::default()
        },
        images: ds.source.clone(),
        ..ZcSettings::default()
    };
    let images = crate::nas::naswot::cifar_batch(&ds, batch).map_err(zero_cost::ZcError::from)?;
    let cache = opts.out.join("zero-cost-cache");
    let mut last = 0;
    zero_cost::run_shard(
        &settings,
        &images,
        &zero_cost::shard_file(&cache, (0, 1)),
        (0, 1),
        &mut |done, total| {
            if done == total || done >= last + 100 {
                last = done;
                progress(&format!("  scored {done}/{total} cells"));
            }
        },
    )?;
    let records = zero_cost::collect(&cache, &settings)?;
    let kernel = crate::nas::ProxyScores::compute(Default::default())?;
    let rep = zero_cost::report(
        &table,
        &records,
        &settings,
        &kernel,
        Convention::AuthorsCode,
        options,
    )?;
    report.sections.push(crate::report::zero_cost::section(
        &rep, &table, &records, &opts.out,
    )?);
    Ok(())
}

fn step_montecarlo(report: &mut Report, opts: &ReproduceOptions) -> Result<(), Error> {
    let study = crate::montecarlo::paper::paper_study(opts.quick)?;
    report
        .sections
        .push(crate::report::montecarlo::section_with_figure(
            &study, &opts.out,
        )?);
    Ok(())
}

fn step_fig4(
    report: &mut Report,
    opts: &ReproduceOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<(), Error> {
    use crate::train::fig4::{fig4, Fig4Budget};
    let budget = if opts.quick {
        Fig4Budget::quick()
    } else {
        Fig4Budget::default_budget()
    };
    let (panels, skipped) = fig4(opts.data.as_deref(), &budget, progress)?;
    let mut outcome =
        crate::report::fig4::fig4_section_with_figure(&panels, skipped, &budget, &opts.out)?;
    report.skipped.append(&mut outcome.skipped);
    if let Some(section) = outcome.section {
        report.sections.push(section);
    }
    Ok(())
}

fn step_rate(
    report: &mut Report,
    opts: &ReproduceOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<(), Error> {
    use crate::report::rate::rate_section;
    use crate::train::rate::RateBudget;
    let budget = if opts.quick {
        RateBudget::quick()
    } else {
        RateBudget::default_budget()
    };
    let mut outcome = rate_section(opts.data.as_deref(), &budget, progress)?;
    report.skipped.append(&mut outcome.skipped);
    if let Some(section) = outcome.section {
        report.sections.push(section);
    }
    Ok(())
}

fn step_stepsize(report: &mut Report, opts: &ReproduceOptions) -> Result<(), Error> {
    use crate::stepsize::{step_size_study, StepSizeOptions};
    let n = if opts.quick { 32 } else { 64 };
    let (x, y, desc) = match mnist_binary(opts, n) {
        Ok(v) => v,
        Err(MnistSkip::Corrupt(e)) => return Err(e.into()),
        Err(MnistSkip::Absent(why)) => {
            report.skipped.push(format!(
                "NTK step-size study on MNIST: {why}; used seeded Gaussian inputs instead"
            ));
            let x = Inputs::gaussian(n, 16, 5);
            let y =
                ndarray::Array1::from_iter(
                    (0..n).map(|i| if x[[i, 0]] > 0.0 { 1.0 } else { -1.0 }),
                );
            (
                x,
                y,
                format!("seeded Gaussian N={n} d=16, target sign(x_0)"),
            )
        }
    };
    let sopts = StepSizeOptions {
        width: if opts.quick { 256 } else { 1024 },
        steps: if opts.quick { 40 } else { 100 },
        seeds: if opts.quick { 2 } else { 3 },
        lift: Lift::ReluStem,
    };
    let study = step_size_study(x.view(), &y, &sopts)?;
    report
        .sections
        .push(crate::report::stepsize::section(&study, &desc, &opts.out)?);
    Ok(())
}

fn step_activations(report: &mut Report, opts: &ReproduceOptions) -> Result<(), Error> {
    use crate::activation_study::{activation_study, StudyOptions};
    let sopts = StudyOptions {
        points: if opts.quick { 64 } else { 256 },
        dim: 32,
        seed: 0,
        activations: StudyOptions::default_activations(),
    };
    let study = activation_study(&sopts)?;
    report
        .sections
        .push(crate::report::activations::section(&study, &opts.out)?);
    Ok(())
}

fn step_generalisation(
    report: &mut Report,
    opts: &ReproduceOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<(), Error> {
    use crate::generalisation::{generalisation, GenBudget};
    let Some(dir) = opts.data.as_deref() else {
        report.skipped.push(
            "generalisation: no data directory (--data or ARCHCONV_DATA); it needs MNIST and/or CIFAR-10 (see datasets/README.md)".into(),
        );
        return Ok(());
    };
    let budget = if opts.quick {
        GenBudget::quick()
    } else {
        GenBudget::default_budget()
    };
    let study = generalisation(dir, &budget, progress)?;
    report
        .skipped
        .extend(study.skipped.iter().map(|s| format!("generalisation: {s}")));
    if study.rows.is_empty() {
        return Ok(());
    }
    report
        .sections
        .push(crate::report::generalisation::section(&study, &opts.out)?);
    Ok(())
}

/// A step that needs MNIST: skipped with a message without a data directory or when the
/// files are missing (`missing` picks that error out), otherwise `run`'s section.
fn mnist_step<E: Into<Error>>(
    report: &mut Report,
    opts: &ReproduceOptions,
    id: &str,
    run: impl FnOnce(&std::path::Path) -> Result<crate::report::Section, E>,
    missing: impl Fn(&E) -> Option<String>,
) -> Result<(), Error> {
    let Some(dir) = opts.data.as_deref() else {
        report.skipped.push(format!(
            "{id}: no data directory (--data or ARCHCONV_DATA); it needs MNIST (see datasets/README.md)"
        ));
        return Ok(());
    };
    match run(dir) {
        Ok(section) => {
            report.sections.push(section);
            Ok(())
        }
        Err(e) => match missing(&e) {
            Some(why) => {
                report.skipped.push(format!("{id}: {why}"));
                Ok(())
            }
            None => Err(e.into()),
        },
    }
}

fn step_linearised(
    report: &mut Report,
    opts: &ReproduceOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<(), Error> {
    use crate::train::linearised::{linearised, LinearisedBudget, LinearisedError};
    let budget = if opts.quick {
        LinearisedBudget::quick()
    } else {
        LinearisedBudget::default_budget()
    };
    mnist_step(
        report,
        opts,
        "linearised",
        |dir| -> Result<_, Error> {
            let study = linearised(dir, &budget, progress)?;
            Ok(crate::report::linearised::section(&study, &opts.out)?)
        },
        |e| match e {
            Error::Linearised(LinearisedError::Data(
                e @ crate::data::DataError::Missing { .. },
            )) => Some(e.to_string()),
            _ => None,
        },
    )
}

fn step_fig4_time(
    report: &mut Report,
    opts: &ReproduceOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<(), Error> {
    use crate::train::fig4_time::{fig4_time, Fig4TimeBudget, Fig4TimeError};
    let budget = if opts.quick {
        Fig4TimeBudget::quick()
    } else {
        Fig4TimeBudget::default_budget()
    };
    mnist_step(
        report,
        opts,
        "fig4-time",
        |dir| -> Result<_, Error> {
            let study = fig4_time(dir, &budget, progress)?;
            Ok(crate::report::fig4_time::section(&study, &opts.out)?)
        },
        |e| match e {
            Error::Fig4Time(Fig4TimeError::Data(e @ crate::data::DataError::Missing { .. })) => {
                Some(e.to_string())
            }
            _ => None,
        },
    )
}
