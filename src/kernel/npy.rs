//! Output kernels of large point sets written to a `.npy` file tile by tile, in bounded
//! memory and resumably (issue 14, item 2).
//!
//! [`KernelFn::write_npy`] runs the streamed pass of [`super::stream`] from the data
//! rows themselves: the lift `K^0` is formed a block at a time from `X X^T / d`, so no
//! `N x N` matrix is ever held, and the output (`N x N`, symmetric) is written in place
//! (positioned writes, Unix) into a `.npy` file (NumPy's format 1.0, C order,
//! little-endian `<f8` or `<f4`). Strips of rows `[i0, i1)` are computed over columns
//! `[i0, N)` and written twice, as rows and as columns, so each entry is computed once;
//! the next batch of strips is computed while one is written.
//!
//! **Memory.** The per-node vectors (`O(nodes x N)`), the data and the strips alive at
//! once are estimated and checked against the budget ([`crate::budget`], `--memory`)
//! before anything is allocated; strips are made thinner until they fit. The file's pages
//! are the operating system's cache, not counted.
//!
//! **Never a file that claims to be complete.** The run writes `PATH.partial` and, each
//! time it flushes that to disk (every 30 s, and when stopped), `PATH.partial.json` with
//! the rows done and a
//! fingerprint of everything the numbers depend on (DAG, lift, rule, quantity, data,
//! precision). Only a finished, synced file is renamed to `PATH`. An interrupted run
//! (a signal, a crash, or the progress callback asking to stop) leaves the partial pair;
//! [`NpyOptions::resume`] continues it after checking the fingerprint, and refuses a
//! partial file made from anything else.
//!
//! ```
//! use archconv::{Dag, kernel::{KernelFn, KernelKind, Lift, npy::{NpyOptions, What}}};
//! let x = archconv::Inputs::gaussian(50, 8, 0);
//! let k = KernelFn::new(&Dag::dag3(), Lift::Dense, KernelKind::Exact);
//! let dir = std::env::temp_dir().join(format!("archconv-npy-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let path = dir.join("k.npy");
//! let opts = NpyOptions { overwrite: true, ..NpyOptions::default() };
//! let report = k.write_npy(x.view(), What::Nngp, &path, &opts, &mut |_, _| std::ops::ControlFlow::Continue(()))?;
//! assert_eq!(report.n, 50);
//! let bytes = std::fs::read(&path)?;
//! assert_eq!(&bytes[..6], b"\x93NUMPY");
//! let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
//! let at = |i: usize, j: usize| {
//!     let o = 10 + header_len + 8 * (i * 50 + j);
//!     f64::from_le_bytes(bytes[o..o + 8].try_into().unwrap())
//! };
//! let whole = k.nngp(x.view(), None)?;
//! assert!((at(3, 7) - whole[[3, 7]]).abs() < 1e-12 && at(7, 3) == at(3, 7));
//! std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::function::KernelFn;
use super::ntk::NtkVariant;
use super::stream::{prepare, DataLift, LiftTiles};
use super::KernelError;
use ndarray::ArrayView2;
use rayon::prelude::*;
use std::fs::OpenOptions;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

/// Which kernel goes into the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum What {
    /// The output NNGP `K^H`.
    Nngp,
    /// The NTK with the parameters the variant trains.
    Ntk(NtkVariant),
}

/// Element type of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub enum Dtype {
    /// `<f8`.
    #[default]
    F64,
    /// `<f4` (half the disk; entries rounded once at the end).
    F32,
}

impl What {
    /// The NTK variant asked for, or `None` for the NNGP.
    pub fn ntk_variant(self) -> Option<NtkVariant> {
        match self {
            What::Nngp => None,
            What::Ntk(v) => Some(v),
        }
    }
}

impl Dtype {
    fn bytes(self) -> usize {
        match self {
            Dtype::F64 => 8,
            Dtype::F32 => 4,
        }
    }

    fn descr(self) -> &'static str {
        match self {
            Dtype::F64 => "<f8",
            Dtype::F32 => "<f4",
        }
    }

    fn max(self) -> f64 {
        match self {
            Dtype::F64 => f64::MAX,
            Dtype::F32 => f64::from(f32::MAX),
        }
    }
}

/// How [`KernelFn::write_npy`] treats existing files and sizes its strips.
#[derive(Debug, Clone, Default)]
pub struct NpyOptions {
    /// Element type.
    pub dtype: Dtype,
    /// Continue `PATH.partial` if it exists (after checking its fingerprint).
    pub resume: bool,
    /// Replace an existing `PATH`.
    pub overwrite: bool,
    /// Rows per strip (default: 256, thinner if the budget asks).
    pub strip_rows: Option<usize>,
}

/// What a finished run did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NpyReport {
    /// The file written.
    pub path: PathBuf,
    /// Points `N` (the file holds `N x N`).
    pub n: usize,
    /// Rows per strip.
    pub strip_rows: usize,
    /// The row the run started from (0 unless resumed).
    pub resumed_at_row: usize,
    /// Base-10 logarithm of the output's scale (largest diagonal entry).
    pub log10_scale: f64,
    /// The memory estimate the run was admitted under, in bytes.
    pub estimated_bytes: u64,
    /// Entries computed by this run (each stored twice but for the diagonal).
    pub entries_computed: u64,
    /// Wall-clock seconds of this run.
    pub seconds: f64,
}

/// What went wrong writing a kernel file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NpyError {
    /// The kernel itself could not be computed.
    #[error(transparent)]
    Kernel(#[from] KernelError),
    /// A file operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The output file exists and was not to be replaced.
    #[error("{} exists; pass --force (NpyOptions::overwrite) to replace it", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// An unfinished run of the same output exists.
    #[error("{} holds an unfinished run; continue it with --resume (NpyOptions::resume) or delete it", partial.display())]
    PartialExists {
        /// The partial file.
        partial: PathBuf,
    },
    /// The partial file was made from other inputs.
    #[error("cannot resume {}: {why}", partial.display())]
    ResumeMismatch {
        /// The partial file.
        partial: PathBuf,
        /// What differs.
        why: String,
    },
    /// The progress callback asked to stop.
    #[error("stopped after {rows} of {n} rows; {} holds them: continue with --resume", partial.display())]
    Interrupted {
        /// The partial file.
        partial: PathBuf,
        /// Rows complete.
        rows: usize,
        /// Rows in all.
        n: usize,
    },
    /// Entries past the element type's range.
    #[error("the output kernel is about 10^{log10_scale:.0}, past the range of {dtype}; use f64, or Inputs::output_kernel for the scaled form")]
    OutOfRange {
        /// Base-10 logarithm of the scale.
        log10_scale: f64,
        /// The element type.
        dtype: &'static str,
    },
    /// The path-sum rule has no streamed form.
    #[error(
        "the {rule} rule is not computed tile by tile; use the exact or independent-branch rule"
    )]
    NotTiled {
        /// The rule's name.
        rule: &'static str,
    },
}

/// Seconds between flushes of the file and its progress record: at most this much work
/// is redone after a crash.
const FLUSH_SECONDS: f64 = 30.0;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> NpyError + '_ {
    move |source| NpyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// FNV-1a, 64-bit: a stable fingerprint of the run's inputs (not a cryptographic hash).
pub(super) fn fnv(h: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(h, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// The `.npy` 1.0 header for an `n x n` C-order matrix, padded to 64 bytes.
fn header(dtype: Dtype, n: usize) -> Vec<u8> {
    let dict = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': ({n}, {n}), }}",
        dtype.descr()
    );
    let unpadded = 10 + dict.len() + 1;
    let pad = unpadded.div_ceil(64) * 64 - unpadded;
    let body = format!("{dict}{}\n", " ".repeat(pad));
    let mut h = b"\x93NUMPY\x01\x00".to_vec();
    h.extend_from_slice(&(body.len() as u16).to_le_bytes());
    h.extend_from_slice(body.as_bytes());
    h
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Meta {
    fingerprint: String,
    n: usize,
    rows_done: usize,
}

/// Allocates the file's blocks up front (Linux `posix_fallocate`), so that a full disk
/// is an error here rather than a fault while writing through the map.
#[cfg(target_os = "linux")]
fn reserve(file: &std::fs::File, len: u64) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let len = libc::off_t::try_from(len).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    // SAFETY: a valid open file descriptor and a non-negative range.
    match unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) } {
        0 => Ok(()),
        e => Err(std::io::Error::from_raw_os_error(e)),
    }
}

#[cfg(not(target_os = "linux"))]
fn reserve(_file: &std::fs::File, _len: u64) -> std::io::Result<()> {
    Ok(())
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

impl KernelFn {
    /// Writes the output kernel of the points `x` (`N x d`) to the `.npy` file `path`,
    /// strip by strip in bounded memory (module docs). `progress(rows_done, N)` is called
    /// after every batch of strips; returning `ControlFlow::Break(())` flushes and stops
    /// the run cleanly ([`NpyError::Interrupted`]), to be resumed later.
    ///
    /// The numbers equal [`KernelFn::nngp`] / [`KernelFn::ntk`] of `x` to rounding
    /// (tested).
    pub fn write_npy(
        &self,
        x: ArrayView2<'_, f64>,
        what: What,
        path: &Path,
        opts: &NpyOptions,
        progress: &mut dyn FnMut(usize, usize) -> ControlFlow<()>,
    ) -> Result<NpyReport, NpyError> {
        let start = std::time::Instant::now();
        let rule = self.rule().ok_or(NpyError::NotTiled {
            rule: self.kind().name(),
        })?;
        let (n, d) = x.dim();
        if n < 2 {
            return Err(KernelError::TooFewPoints { n }.into());
        }
        let xs = self.stream_rows(x, "data matrix")?;
        if xs.iter().all(|&v| v == 0.0) {
            return Err(KernelError::ZeroData { n, d }.into());
        }
        let normalize = self.normalizes();
        let ntk = what.ntk_variant();
        let lift = DataLift::new(
            xs.view(),
            normalize,
            self.lift(),
            ntk == Some(NtkVariant::Full),
        );
        let strip = opts.strip_rows.unwrap_or(256).max(1);
        let data_bytes = (n as u64).saturating_mul(d as u64).saturating_mul(8);
        let pass = prepare(
            self.dag(),
            LiftTiles::Data(Box::new(lift)),
            rule,
            ntk,
            (n, n),
            data_bytes,
            Some(strip),
        )?;
        let scale = pass.log_scale().exp();
        if !(scale.is_finite() && scale <= opts.dtype.max()) {
            return Err(NpyError::OutOfRange {
                log10_scale: pass.log_scale() / std::f64::consts::LN_10,
                dtype: opts.dtype.descr(),
            });
        }
        // The fingerprint of everything the numbers depend on.
        let mut h = self.fingerprint_of(&format!(
            "{what:?} {:?} normalize={normalize} n={n} d={d}",
            opts.dtype
        ));
        for v in x.iter() {
            h = fnv(h, &v.to_bits().to_le_bytes());
        }
        let fingerprint = format!("{h:016x}");
        // Files.
        let partial = with_suffix(path, ".partial");
        let meta_path = with_suffix(path, ".partial.json");
        if path.exists() && !opts.overwrite {
            return Err(NpyError::Exists {
                path: path.to_path_buf(),
            });
        }
        let head = header(opts.dtype, n);
        let elem = opts.dtype.bytes();
        let total = (head.len() as u64)
            .checked_add((n as u64 * n as u64).saturating_mul(elem as u64))
            .expect("file size fits u64");
        let mut rows_done = 0;
        if partial.exists() {
            if !opts.resume {
                return Err(NpyError::PartialExists { partial });
            }
            let text = std::fs::read_to_string(&meta_path).map_err(io(&meta_path))?;
            let meta: Meta = serde_json::from_str(&text).map_err(|e| NpyError::ResumeMismatch {
                partial: partial.clone(),
                why: format!(
                    "its progress file {} is unreadable: {e}",
                    meta_path.display()
                ),
            })?;
            if meta.fingerprint != fingerprint || meta.n != n {
                return Err(NpyError::ResumeMismatch {
                    partial,
                    why: "it was made from another DAG, lift, rule, quantity, precision or data"
                        .into(),
                });
            }
            let len = std::fs::metadata(&partial).map_err(io(&partial))?.len();
            if len != total || meta.rows_done > n {
                return Err(NpyError::ResumeMismatch {
                    partial,
                    why: format!("it has {len} bytes, not {total}"),
                });
            }
            rows_done = meta.rows_done;
        }
        let resumed_at_row = rows_done;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&partial)
            .map_err(io(&partial))?;
        if rows_done == 0 {
            file.set_len(total).map_err(io(&partial))?;
            reserve(&file, total).map_err(|source| NpyError::Io {
                path: partial.clone(),
                source: std::io::Error::new(
                    source.kind(),
                    format!(
                        "cannot reserve {} on disk for the {n} x {n} file: {source}",
                        crate::budget::fmt_bytes(Some(total))
                    ),
                ),
            })?;
        }
        use std::os::unix::fs::FileExt;
        file.write_all_at(&head, 0).map_err(io(&partial))?;
        let hl = head.len() as u64;
        let write_meta = |rows: usize| -> Result<(), NpyError> {
            let meta = Meta {
                fingerprint: fingerprint.clone(),
                n,
                rows_done: rows,
            };
            let tmp = with_suffix(&meta_path, ".tmp");
            std::fs::write(&tmp, serde_json::to_string(&meta).expect("plain struct"))
                .map_err(io(&tmp))?;
            std::fs::rename(&tmp, &meta_path).map_err(io(&meta_path))
        };
        write_meta(rows_done)?;
        let rows = pass.rows;
        let threads = rayon::current_num_threads().max(1);
        let mut computed = 0u64;
        // Writes `vals` at row `i` from column `j0` (one contiguous run of the file).
        // Writes `vals` at row `i` from column `j0` (one contiguous run of the file).
        let put = |buf: &mut Vec<u8>, i: usize, j0: usize, vals: &mut dyn Iterator<Item = f64>| {
            buf.clear();
            for v in vals {
                let v = v * scale;
                match opts.dtype {
                    Dtype::F64 => buf.extend_from_slice(&v.to_le_bytes()),
                    Dtype::F32 => buf.extend_from_slice(&(v as f32).to_le_bytes()),
                }
            }
            let at = hl + ((i * n + j0) * elem) as u64;
            file.write_all_at(buf, at).map_err(io(&partial))
        };
        type Part = (usize, usize, Vec<f64>);
        // Strips of a batch, one per thread, from row `from`.
        let compute = |from: usize| -> Vec<Part> {
            let strips: Vec<(usize, usize)> = (from..n)
                .step_by(rows)
                .take(threads)
                .map(|i0| (i0, (i0 + rows).min(n)))
                .collect();
            strips
                .par_iter()
                .map(|&(i0, i1)| {
                    let (k, t) = pass.tile((i0, i1), (i0, n));
                    let v = if t.is_empty() {
                        k
                    } else {
                        k.iter().zip(&t).map(|(a, b)| a + b).collect()
                    };
                    (i0, i1, v)
                })
                .collect()
        };
        // Each strip's rows i0..i1 (columns i0..N), then the same entries as columns: the
        // batch's strips are adjacent, so row j below them gets one run from all strips
        // that end at or above it.
        let write = |parts: &[Part]| -> Result<(), NpyError> {
            let mut buf = Vec::new();
            for (i0, _, v) in parts {
                let w = n - i0;
                if let Some(bad) = v.iter().position(|x| !x.is_finite()) {
                    return Err(KernelError::NonFinite {
                        what: "output kernel",
                        row: i0 + bad / w,
                        col: i0 + bad % w,
                        value: v[bad],
                    }
                    .into());
                }
                for (r, row) in v.chunks(w).enumerate() {
                    put(&mut buf, i0 + r, *i0, &mut row.iter().copied())?;
                }
            }
            let Some(&(first, first_end, _)) = parts.first() else {
                return Ok(());
            };
            for j in first_end..n {
                let done = parts.iter().take_while(|p| p.1 <= j);
                let mut vals = done.flat_map(|(i0, i1, v)| {
                    let w = n - i0;
                    (0..i1 - i0).map(move |r| v[r * w + (j - i0)])
                });
                put(&mut buf, j, first, &mut vals)?;
            }
            Ok(())
        };
        let mut last_flush = std::time::Instant::now();
        let mut pending = compute(rows_done);
        while let Some(&(_, end, _)) = pending.last() {
            // The next batch is computed while this one is written.
            let (next, written) = rayon::join(
                || if end < n { compute(end) } else { Vec::new() },
                || write(&pending),
            );
            written?;
            computed += pending.iter().map(|p| p.2.len() as u64).sum::<u64>();
            rows_done = end;
            let stop = progress(rows_done, n).is_break() && rows_done < n;
            // On disk (then recorded) every FLUSH_SECONDS, and when stopping: syncing
            // after every batch would stall the pipeline on the disk.
            if stop || last_flush.elapsed().as_secs_f64() >= FLUSH_SECONDS {
                file.sync_data().map_err(io(&partial))?;
                write_meta(rows_done)?;
                last_flush = std::time::Instant::now();
            }
            if stop {
                return Err(NpyError::Interrupted {
                    partial,
                    rows: rows_done,
                    n,
                });
            }
            pending = next;
        }
        file.sync_all().map_err(io(&partial))?;
        drop(file);
        std::fs::rename(&partial, path).map_err(io(path))?;
        let _ = std::fs::remove_file(&meta_path);
        Ok(NpyReport {
            path: path.to_path_buf(),
            n,
            strip_rows: rows,
            resumed_at_row,
            log10_scale: pass.log_scale() / std::f64::consts::LN_10,
            estimated_bytes: pass.estimate.unwrap_or(0),
            entries_computed: computed,
            seconds: start.elapsed().as_secs_f64(),
        })
    }
}
