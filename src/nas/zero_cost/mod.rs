//! Zero-cost proxies on real NAS-Bench-201 networks (issue 16): every cell of a seeded
//! uniform sample is built at initialisation ([`super::cnn`]) and scored once; the scores
//! go to a sharded, resumable [`cache`]; [`study`] ranks them against the benchmark's
//! accuracies and [`search`] runs the authors' search protocol (Tables 1-3) on them.
//!
//! Per cell ([`CellScore`]): NASWOT ([`super::naswot`], one batch of `B` CIFAR-10 images,
//! network weights from `net_seed`), the parameter count and the FLOPs (multiply-adds of
//! one image), TE-NAS's two indicators ([`super::tenas`]: the NTK condition number on
//! the batch's first `ntk_batch` images, and the linear regions of the thin network), and
//! the seconds each evaluation took (what the filter saves). SynFlow
//! ([`synflow_scores`]) takes one forward pass of one image and is recomputed for the
//! report instead of cached.
//!
//! **Sample.** Space indices `0..15625` ([`Nb201Arch::all`] order) shuffled by a ChaCha8
//! stream of `sample_seed` (Fisher-Yates), the first `sample` kept ([`sample_indices`]).
//! Shard `k` of `m` takes the sample positions `p` with `p mod m = k`.
//!
//! ```no_run
//! use archconv::nas::zero_cost::{self, ZcSettings};
//! use archconv::data::{load_cifar10, Split, CIFAR_NORMALIZE};
//! let dir = std::path::Path::new("../shared/datasets");
//! let mut ds = load_cifar10(dir, Split::Train)?;
//! ds.standardize(&CIFAR_NORMALIZE.0, &CIFAR_NORMALIZE.1);
//! let settings = ZcSettings { sample: 20, images: ds.source.clone(), ..ZcSettings::default() };
//! let images = archconv::nas::naswot::cifar_batch(&ds, settings.batch)?;
//! let file = std::path::Path::new("cache/zero-cost-0-of-1.jsonl");
//! let done = zero_cost::run_shard(&settings, &images, file, (0, 1), &mut |_, _| {})?;
//! println!("{} cells scored", done.len());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod cache;
pub mod search;
pub mod study;

use super::cnn::{CnnError, Maps, Nb201Network, NetConfig};
use super::{naswot, tenas};
use crate::dag::format::Nb201Arch;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Cells in the NAS-Bench-201 space.
pub const SPACE: usize = 15_625;

/// What a zero-cost run is computed with (all of it goes into the cache header).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZcSettings {
    /// Cells in the sample (at most [`SPACE`]).
    pub sample: usize,
    /// Seed of the sample.
    pub sample_seed: u64,
    /// Images in the NASWOT batch.
    pub batch: usize,
    /// Seed of the network weights.
    pub net_seed: u64,
    /// Channels of the first stage (16).
    pub channels: usize,
    /// Cells per stage (5).
    pub cells_per_stage: usize,
    /// Where the images came from ([`crate::data::Dataset::source`]).
    pub images: String,
    /// Images of the TE-NAS NTK (the first of the NASWOT batch; TE-NAS uses 16).
    pub ntk_batch: usize,
    /// TE-NAS's linear-region count.
    pub regions: crate::nas::tenas::LinearRegionSettings,
}

impl Default for ZcSettings {
    /// 1,000 cells (seed 0), 128 images, weights seed 0, the benchmark's `C = 16`, `N = 5`;
    /// TE-NAS's NTK on 16 images and its default linear regions; `images` empty (the
    /// caller names them).
    fn default() -> Self {
        ZcSettings {
            sample: 1000,
            sample_seed: 0,
            batch: 128,
            net_seed: 0,
            channels: 16,
            cells_per_stage: 5,
            images: String::new(),
            ntk_batch: 16,
            regions: crate::nas::tenas::LinearRegionSettings::default(),
        }
    }
}

impl ZcSettings {
    /// The network configuration (CIFAR-10's 10 classes: NASWOT reads only the ReLUs, so
    /// the head's size does not change it).
    pub fn net_config(&self) -> NetConfig {
        NetConfig {
            channels: self.channels,
            cells_per_stage: self.cells_per_stage,
            classes: 10,
        }
    }

    fn validate(&self) -> Result<(), ZcError> {
        if self.sample == 0 || self.sample > SPACE {
            return Err(ZcError::BadSettings(format!(
                "the sample must hold 1 to {SPACE} cells, not {}",
                self.sample
            )));
        }
        if self.batch < 2 {
            return Err(ZcError::BadSettings(format!(
                "NASWOT needs a batch of at least 2 images, not {}",
                self.batch
            )));
        }
        if self.ntk_batch < 2 || self.ntk_batch > self.batch {
            return Err(ZcError::BadSettings(format!(
                "the TE-NAS NTK needs 2 to {} images (the NASWOT batch), not {}",
                self.batch, self.ntk_batch
            )));
        }
        if self.regions.samples == 0 || self.regions.batches == 0 {
            return Err(ZcError::BadSettings(
                "linear regions need at least one batch of one input".into(),
            ));
        }
        Ok(())
    }
}

/// One cell's scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellScore {
    /// Position in [`Nb201Arch::all`].
    pub index: usize,
    /// Arch string.
    pub arch: String,
    /// NASWOT `ln |det K|`; `None` when `K` is singular (`-inf`).
    pub naswot: Option<f64>,
    /// ReLUs hooked.
    pub relus: usize,
    /// Trainable parameters.
    pub params: usize,
    /// Multiply-adds of one 32 x 32 image.
    pub flops: usize,
    /// Seconds of the NASWOT evaluation (building the network and scoring it).
    pub seconds: f64,
    /// TE-NAS's NTK condition number `kappa`; `None` when the NTK is singular.
    pub ntk_condition: Option<f64>,
    /// TE-NAS's linear regions (distinct activation patterns).
    pub regions: usize,
    /// Seconds of the TE-NAS evaluation (building both networks, both indicators).
    pub tenas_seconds: f64,
}

impl CellScore {
    /// NASWOT as a number (`-inf` when singular).
    pub fn naswot_value(&self) -> f64 {
        self.naswot.unwrap_or(f64::NEG_INFINITY)
    }
}

/// Errors of the zero-cost runs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ZcError {
    /// Building or running a network.
    #[error(transparent)]
    Cnn(#[from] CnnError),
    /// Reading or writing a cache file.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A cache file that cannot be read as one.
    #[error(
        "{file}, line {line}: {reason}; the cache is not reused (delete the file to start over)"
    )]
    Corrupt {
        /// The file.
        file: PathBuf,
        /// 1-based line (0: the whole file).
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A cache file written with other settings or by another version.
    #[error("{file} was written with {field} = {cached}, this run has {wanted}; the cache is not reused (delete it, or point --cache elsewhere)")]
    OtherSettings {
        /// The file.
        file: PathBuf,
        /// The first field that differs.
        field: String,
        /// Its value in the file.
        cached: String,
        /// Its value now.
        wanted: String,
    },
    /// Settings or options out of range.
    #[error("{0}")]
    BadSettings(String),
    /// The images do not match the settings.
    #[error("the settings ask for {want} images, the batch has {got}")]
    BatchMismatch {
        /// `settings.batch`.
        want: usize,
        /// Images given.
        got: usize,
    },
}

/// Accuracies per dataset by space index, for the cells `table` holds.
pub fn accuracies(table: &crate::nas::Nb201Table) -> std::collections::HashMap<usize, [f64; 3]> {
    table
        .records()
        .iter()
        .map(|r| (r.space_index, r.accuracies))
        .collect()
}

/// The sample's space indices, in sample order (see the module docs).
///
/// ```
/// use archconv::nas::zero_cost::{sample_indices, SPACE};
/// let s = sample_indices(1000, 0);
/// assert_eq!(s.len(), 1000);
/// assert_eq!(s, sample_indices(1000, 0));
/// let mut all = sample_indices(SPACE, 3);
/// all.sort();
/// assert!(all.iter().copied().eq(0..SPACE));
/// ```
pub fn sample_indices(n: usize, seed: u64) -> Vec<usize> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut idx: Vec<usize> = (0..SPACE).collect();
    let n = n.min(SPACE);
    for i in 0..n {
        let j = rng.random_range(i..SPACE);
        idx.swap(i, j);
    }
    idx.truncate(n);
    idx
}

/// Scores one cell on `images`.
pub fn score_cell(
    index: usize,
    arch: &Nb201Arch,
    settings: &ZcSettings,
    images: &Maps,
) -> Result<CellScore, ZcError> {
    let t = std::time::Instant::now();
    let net = Nb201Network::new(arch, &settings.net_config(), settings.net_seed)?;
    let s = naswot::score(&net, images)?;
    let seconds = t.elapsed().as_secs_f64();
    let t = std::time::Instant::now();
    let net = Nb201Network::new(arch, &settings.net_config(), settings.net_seed)?;
    let ntk_condition = tenas::ntk_condition(&net, &images.first(settings.ntk_batch))?;
    let regions = tenas::linear_regions(arch, &settings.regions, settings.net_seed)?;
    Ok(CellScore {
        index,
        arch: arch.to_string(),
        naswot: s.score.is_finite().then_some(s.score),
        relus: s.relus,
        params: net.num_params(),
        flops: net.flops(32, 32),
        seconds,
        ntk_condition,
        regions,
        tenas_seconds: t.elapsed().as_secs_f64(),
    })
}

/// The file of shard `k` of `m` in a cache directory.
pub fn shard_file(dir: &Path, (k, m): (usize, usize)) -> PathBuf {
    dir.join(format!("zero-cost-{k}-of-{m}.jsonl"))
}

/// Scores the cells of shard `k` of `m` that `file` does not hold yet, appending each to
/// it; returns every record of the shard. `progress(done, total)` is called after each.
pub fn run_shard(
    settings: &ZcSettings,
    images: &Maps,
    file: &Path,
    (k, m): (usize, usize),
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<CellScore>, ZcError> {
    settings.validate()?;
    if m == 0 || k >= m {
        return Err(ZcError::BadSettings(format!(
            "shard {k} of {m}: need 0 <= k < m"
        )));
    }
    if images.batch != settings.batch {
        return Err(ZcError::BatchMismatch {
            want: settings.batch,
            got: images.batch,
        });
    }
    let mut cache = cache::Cache::open(file, settings)?;
    let archs: Vec<Nb201Arch> = Nb201Arch::all().collect();
    let mine: Vec<usize> = sample_indices(settings.sample, settings.sample_seed)
        .into_iter()
        .enumerate()
        .filter(|(p, _)| p % m == k)
        .map(|(_, i)| i)
        .collect();
    let done: std::collections::HashSet<usize> = cache.records().iter().map(|r| r.index).collect();
    if let Some(r) = cache.records().iter().find(|r| !mine.contains(&r.index)) {
        return Err(ZcError::Corrupt {
            file: file.to_path_buf(),
            line: 0,
            reason: format!("cell {} belongs to another shard than {k} of {m}", r.index),
        });
    }
    let total = mine.len();
    let mut count = done.len();
    progress(count, total);
    for &i in mine.iter().filter(|i| !done.contains(i)) {
        cache.append(score_cell(i, &archs[i], settings, images)?)?;
        count += 1;
        progress(count, total);
    }
    Ok(cache.records().to_vec())
}

/// Every record of the cache files `zero-cost-*.jsonl` in `dir` whose header matches
/// `settings` (a file with another header is an error, not skipped), by space index.
pub fn collect(dir: &Path, settings: &ZcSettings) -> Result<Vec<CellScore>, ZcError> {
    let io = |source| ZcError::Io {
        file: dir.to_path_buf(),
        source,
    };
    let want = cache::Header::current(settings);
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("zero-cost-") && n.ends_with(".jsonl"))
        })
        .collect();
    files.sort();
    let mut by_index = std::collections::BTreeMap::new();
    for f in &files {
        for r in cache::read(f, Some(&want))?.1 {
            // Shard files of two shardings may overlap; equal settings give equal scores.
            by_index.entry(r.index).or_insert(r);
        }
    }
    Ok(by_index.into_values().collect())
}

/// The filters [`report`] compares: the convention's box, the other convention's, and
/// Table 3's radius factors (duplicates dropped).
pub fn filters(convention: search::Convention) -> Vec<search::SearchFilter> {
    let other = match convention {
        search::Convention::PaperText => search::Convention::AuthorsCode,
        search::Convention::AuthorsCode => search::Convention::PaperText,
    };
    let mut out = vec![convention.nb201_filter(), other.nb201_filter()];
    for phi in crate::space::RADIUS_FACTORS {
        let f = search::SearchFilter::Radius(phi);
        if !out.contains(&f) {
            out.push(f);
        }
    }
    out
}

/// Correlations and searches over cached scores.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ZcReport {
    /// The settings of the scores.
    pub settings: ZcSettings,
    /// The filter convention the first filtered row follows.
    pub convention: search::Convention,
    /// Rank correlations.
    pub correlations: study::ZeroCostStudy,
    /// The NASWOT searches (`None` when fewer cells are scored than one search draws).
    pub search: Option<search::SearchStudy>,
    /// The TE-NAS searches (same draws).
    pub tenas_search: Option<search::SearchStudy>,
}

/// `ln SynFlow` ([`Nb201Network::synflow`], 32 x 32 input) of each record's network
/// (same configuration and weights seed as its NASWOT score), computed in parallel. It
/// needs one forward pass of one image, so it is recomputed rather than cached.
pub fn synflow_scores(records: &[CellScore], settings: &ZcSettings) -> Result<Vec<f64>, ZcError> {
    use rayon::prelude::*;
    let archs: Vec<Nb201Arch> = Nb201Arch::all().collect();
    records
        .par_iter()
        .map(|r| {
            let net =
                Nb201Network::new(&archs[r.index], &settings.net_config(), settings.net_seed)?;
            Ok(net.synflow(32, 32)?)
        })
        .collect()
}

/// Builds the [`ZcReport`] of `records` (computing SynFlow, see [`synflow_scores`]).
pub fn report(
    table: &crate::nas::Nb201Table,
    records: &[CellScore],
    settings: &ZcSettings,
    kernel: &crate::nas::ProxyScores,
    convention: search::Convention,
    options: search::SearchOptions,
) -> Result<ZcReport, ZcError> {
    let synflow = synflow_scores(records, settings)?;
    Ok(ZcReport {
        settings: settings.clone(),
        convention,
        correlations: study::ZeroCostStudy::compute(
            table,
            records,
            Some(&synflow),
            settings.sample,
            kernel,
        ),
        search: search::SearchStudy::compute(
            table,
            records,
            &filters(convention),
            options,
            search::SearchProxy::Naswot,
        ),
        tenas_search: search::SearchStudy::compute(
            table,
            records,
            &filters(convention),
            options,
            search::SearchProxy::TeNas,
        ),
    })
}

impl ZcReport {
    /// Both tables as Markdown.
    pub fn markdown(&self) -> String {
        let mut s = format!(
            "Networks: NAS-Bench-201 CIFAR skeleton (C = {}, N = {}) at initialisation, weights seed {}; NASWOT on {} images: {}; TE-NAS NTK on the first {} of them, linear regions of the thin network (C = {}, N = {}) over {} x {} Gaussian {}x{} inputs. Sample: {} cells, seed {}. Filter convention: {:?}.\n\n",
            self.settings.channels,
            self.settings.cells_per_stage,
            self.settings.net_seed,
            self.settings.batch,
            self.settings.images,
            self.settings.ntk_batch,
            self.settings.regions.channels,
            self.settings.regions.cells_per_stage,
            self.settings.regions.batches,
            self.settings.regions.samples,
            self.settings.regions.size,
            self.settings.regions.size,
            self.settings.sample,
            self.settings.sample_seed,
            self.convention
        );
        s.push_str(&self.correlations.markdown());
        s.push('\n');
        match &self.search {
            Some(x) => s.push_str(&x.markdown()),
            None => s.push_str("Search: not run (fewer scored cells than one search draws).\n"),
        }
        if let Some(x) = &self.tenas_search {
            s.push('\n');
            s.push_str(&x.markdown());
        }
        s
    }
}
