//! The cache of per-cell zero-cost scores: one JSON-lines file per shard.
//!
//! Line 1 is a header naming the format, the crate version and the [`ZcSettings`]; every
//! further line is one [`CellScore`]. A file is reused only when its header equals the
//! current run's exactly; anything else (another version, other settings, a damaged or
//! truncated line, a cell that is not in the sample) is refused with an error naming
//! the file, the line and what differs, so a stale score is never mixed in silently.
//! Records are appended and flushed one at a time, so an interrupted run resumes where it
//! stopped (a half-written last line is reported as such: delete that line, or the file).
//!
//! ```
//! use archconv::nas::zero_cost::{cache::Cache, ZcSettings};
//! let dir = std::env::temp_dir().join(format!("archconv-doc-cache-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let file = dir.join("shard.jsonl");
//! let settings = ZcSettings { sample: 4, ..ZcSettings::default() };
//! let cache = Cache::open(&file, &settings).unwrap(); // created with its header
//! assert!(cache.records().is_empty());
//! let other = ZcSettings { sample: 5, ..settings.clone() };
//! let e = Cache::open(&file, &other).unwrap_err();
//! assert!(e.to_string().contains("sample"), "{e}");
//! std::fs::remove_dir_all(&dir).unwrap();
//! ```

use super::{CellScore, ZcError, ZcSettings};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The cache format's name, in every header.
pub const KIND: &str = "archconv nas zero-cost scores";

/// Bumped whenever a score's definition or the file layout changes.
pub const FORMAT: u32 = 2;

/// The header line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// [`KIND`].
    pub kind: String,
    /// [`FORMAT`].
    pub format: u32,
    /// The crate version that wrote the file.
    pub version: String,
    /// The settings the scores were computed with.
    pub settings: ZcSettings,
}

impl Header {
    /// The header of the current build for `settings`.
    pub fn current(settings: &ZcSettings) -> Header {
        Header {
            kind: KIND.into(),
            format: FORMAT,
            version: env!("CARGO_PKG_VERSION").into(),
            settings: settings.clone(),
        }
    }

    /// The first field that differs from `want`, as (name, cached, wanted).
    fn difference(&self, want: &Header) -> Option<(String, String, String)> {
        let (a, b) = (
            serde_json::to_value(self).unwrap_or_default(),
            serde_json::to_value(want).unwrap_or_default(),
        );
        let flat = |v: &serde_json::Value| -> Vec<(String, String)> {
            let mut out = Vec::new();
            if let Some(o) = v.as_object() {
                for (k, x) in o {
                    match x.as_object() {
                        Some(inner) => {
                            for (k2, y) in inner {
                                out.push((format!("settings.{k2}"), y.to_string()));
                            }
                        }
                        None => out.push((k.clone(), x.to_string())),
                    }
                }
            }
            out
        };
        let (fa, fb) = (flat(&a), flat(&b));
        for (k, vb) in &fb {
            let va = fa.iter().find(|(k2, _)| k2 == k).map(|(_, v)| v.clone());
            if va.as_deref() != Some(vb.as_str()) {
                return Some((
                    k.clone(),
                    va.unwrap_or_else(|| "(absent)".into()),
                    vb.clone(),
                ));
            }
        }
        None
    }
}

/// An open shard file and the records it already holds.
#[derive(Debug)]
pub struct Cache {
    file: PathBuf,
    records: Vec<CellScore>,
    out: std::fs::File,
}

impl Cache {
    /// Opens `file` for `settings`: reads and validates it when it exists, creates it with
    /// its header otherwise.
    pub fn open(file: &Path, settings: &ZcSettings) -> Result<Cache, ZcError> {
        let io = |source| ZcError::Io {
            file: file.to_path_buf(),
            source,
        };
        let want = Header::current(settings);
        let records = if file.exists() {
            read(file, Some(&want))?.1
        } else {
            if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(io)?;
            }
            let mut f = std::fs::File::create(file).map_err(io)?;
            let line = serde_json::to_string(&want).expect("header serialises");
            writeln!(f, "{line}").map_err(io)?;
            Vec::new()
        };
        let out = std::fs::OpenOptions::new()
            .append(true)
            .open(file)
            .map_err(io)?;
        Ok(Cache {
            file: file.to_path_buf(),
            records,
            out,
        })
    }

    /// The records read or appended so far.
    pub fn records(&self) -> &[CellScore] {
        &self.records
    }

    /// Appends one record and flushes it to the file.
    pub fn append(&mut self, r: CellScore) -> Result<(), ZcError> {
        let io = |source| ZcError::Io {
            file: self.file.clone(),
            source,
        };
        let line = serde_json::to_string(&r).expect("record serialises");
        writeln!(self.out, "{line}").map_err(io)?;
        self.out.flush().map_err(io)?;
        self.records.push(r);
        Ok(())
    }
}

/// Reads a cache file: its header (checked against `want` when given) and records.
pub fn read(file: &Path, want: Option<&Header>) -> Result<(Header, Vec<CellScore>), ZcError> {
    let text = std::fs::read(file).map_err(|source| ZcError::Io {
        file: file.to_path_buf(),
        source,
    })?;
    let corrupt = |line: usize, reason: String| ZcError::Corrupt {
        file: file.to_path_buf(),
        line,
        reason,
    };
    let text = String::from_utf8(text).map_err(|e| corrupt(0, format!("not UTF-8 text ({e})")))?;
    let mut lines = text.split_inclusive('\n').enumerate();
    let header: Header = match lines.next() {
        None => return Err(corrupt(1, "empty file: no header line".into())),
        Some((_, l)) => serde_json::from_str(l.trim_end())
            .map_err(|e| corrupt(1, format!("not a zero-cost cache header ({e})")))?,
    };
    if header.kind != KIND {
        return Err(corrupt(
            1,
            format!("header kind '{}', expected '{KIND}'", header.kind),
        ));
    }
    if let Some(w) = want {
        if let Some((field, cached, wanted)) = header.difference(w) {
            return Err(ZcError::OtherSettings {
                file: file.to_path_buf(),
                field,
                cached,
                wanted,
            });
        }
    }
    let mut records = Vec::new();
    for (i, l) in lines {
        let n = i + 1;
        if !l.ends_with('\n') {
            return Err(corrupt(
                n,
                "the last line is incomplete (an interrupted write?): delete it, or the file"
                    .into(),
            ));
        }
        let r: CellScore = serde_json::from_str(l.trim_end())
            .map_err(|e| corrupt(n, format!("not a cell record ({e})")))?;
        records.push((n, r));
    }
    // Every record names a cell of the sample, by its space index and arch string.
    let sample = super::sample_indices(header.settings.sample, header.settings.sample_seed);
    let in_sample: std::collections::HashSet<usize> = sample.into_iter().collect();
    let archs: Vec<String> = crate::dag::format::Nb201Arch::all()
        .map(|a| a.to_string())
        .collect();
    let mut seen = std::collections::HashSet::new();
    for (n, r) in &records {
        if !in_sample.contains(&r.index) || archs.get(r.index) != Some(&r.arch) {
            return Err(corrupt(
                *n,
                format!(
                    "cell {} ({}) is not in the sample of these settings",
                    r.index, r.arch
                ),
            ));
        }
        if !seen.insert(r.index) {
            return Err(corrupt(
                *n,
                format!("cell {} ({}) is recorded twice", r.index, r.arch),
            ));
        }
    }
    Ok((header, records.into_iter().map(|(_, r)| r).collect()))
}
