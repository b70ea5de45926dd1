//! The NAS-Bench-201 / NATS-Bench topology-space accuracy table (CSV).
//!
//! Layout (one header line, one row per cell, comma-separated, no quoting):
//!
//! ```text
//! CIFAR10TestAccuracy200Epochs,CIFAR100TestAccuracy200Epochs,ImageNetTestAccuracy200Epochs,ArchitectureString,UniqueString
//! 93.66,70.29,44.03,|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|,...
//! ```
//!
//! Columns are found by name (any order; extra columns are ignored). Each row is
//! validated: the right number of fields, accuracies that parse, are finite and lie in
//! `[0, 100]` (percent), and an architecture string that the NB201 parser accepts and
//! that is one of the 15,625 cells of [`Nb201Arch::all`]. Errors name the file, the
//! line (1-based), the column (1-based character position) and the field.
//! Duplicated architectures (the first row is kept) and architectures of the space with
//! no row are reported by the table, not treated as errors: a partial table is still
//! usable, and [`Nb201Table::require_complete`] turns them into an error when needed.
//!
//! **Getting the file.** With the official benchmark package (`pip install nats_bench`)
//! and its topology-space benchmark file (`NATS-tss-v1_0-3ffb9-simple`) in the folder
//! `$TORCH_HOME`, a short script writes one row per architecture index:
//!
//! ```text
//! import csv
//! from nats_bench import create
//! api = create(None, 'tss', fast_mode=True, verbose=False)
//! sets = ['cifar10', 'cifar100', 'ImageNet16-120']
//! with open('nats_bench_tss_200ep.csv', 'w', newline='') as f:
//!     out = csv.writer(f)
//!     out.writerow(['CIFAR10TestAccuracy200Epochs', 'CIFAR100TestAccuracy200Epochs',
//!                   'ImageNetTestAccuracy200Epochs', 'ArchitectureString', 'UniqueString'])
//!     for i in range(len(api)):
//!         acc = [api.get_more_info(i, d, hp='200', is_random=False)['test-accuracy'] for d in sets]
//!         out.writerow(acc + [api.arch(i), api.arch(i)])
//! ```
//!
//! (`UniqueString` is not used by archconv; any text without commas will do.)
//!
//! ```
//! use archconv::nas::{Dataset, Nb201Table};
//! let csv = "CIFAR10TestAccuracy200Epochs,CIFAR100TestAccuracy200Epochs,ImageNetTestAccuracy200Epochs,ArchitectureString,UniqueString\n\
//!            93.5,70.25,44.0,|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|,x\n";
//! let t = Nb201Table::parse(csv, "inline.csv").unwrap();
//! assert_eq!(t.len(), 1);
//! assert_eq!(t.records()[0].accuracy(Dataset::Cifar100), 70.25);
//! assert_eq!(t.missing().len(), 15_624);
//! ```

use super::NasError;
use crate::dag::format::Nb201Arch;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Where the table lives inside a data directory.
pub const NB201_FILE: &str = "nats-bench-tss/nats_bench_tss_200ep.csv";

/// How to obtain the file (used in "missing file" errors).
pub const NB201_HINT: &str = "export the 200-epoch test accuracies of all 15,625 NAS-Bench-201 / NATS-Bench \
    topology cells with the official `nats_bench` API (see the README section \"NAS-Bench-201 data\"), \
    save them as nats-bench-tss/nats_bench_tss_200ep.csv under the data directory, and pass it with \
    --data DIR or ARCHCONV_DATA";

/// The three datasets of the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
pub enum Dataset {
    /// CIFAR-10 (`cifar10` in the API).
    Cifar10,
    /// CIFAR-100.
    Cifar100,
    /// ImageNet16-120 (ImageNet downsampled to 16x16, 120 classes).
    ImageNet16,
}

impl Dataset {
    /// All three, in column order.
    pub const ALL: [Dataset; 3] = [Dataset::Cifar10, Dataset::Cifar100, Dataset::ImageNet16];

    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            Dataset::Cifar10 => "CIFAR-10",
            Dataset::Cifar100 => "CIFAR-100",
            Dataset::ImageNet16 => "ImageNet16-120",
        }
    }

    /// The CSV column holding its accuracy.
    pub fn column(self) -> &'static str {
        match self {
            Dataset::Cifar10 => "CIFAR10TestAccuracy200Epochs",
            Dataset::Cifar100 => "CIFAR100TestAccuracy200Epochs",
            Dataset::ImageNet16 => "ImageNetTestAccuracy200Epochs",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The architecture column's name.
pub const ARCH_COLUMN: &str = "ArchitectureString";

/// What is wrong with one field of one row.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RowProblem {
    /// Too few or too many fields (a truncated or merged row).
    #[error("expected {expected} comma-separated fields, found {found}")]
    FieldCount {
        /// Fields in the header.
        expected: usize,
        /// Fields in this row.
        found: usize,
    },
    /// The accuracy does not parse as a number.
    #[error("`{text}` is not a number")]
    NotANumber {
        /// The field text.
        text: String,
    },
    /// NaN or infinite accuracy.
    #[error("accuracy {value} is not finite")]
    NonFinite {
        /// The value.
        value: f64,
    },
    /// Accuracy outside `[0, 100]` percent.
    #[error("accuracy {value} is outside [0, 100] (percent)")]
    OutOfRange {
        /// The value.
        value: f64,
    },
    /// The architecture string does not parse or is not a cell of the space.
    #[error("bad architecture string: {message}")]
    BadArch {
        /// Why.
        message: String,
    },
}

/// One row: a cell and its test accuracies.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Nb201Record {
    /// Row number among the data rows (0-based; the benchmark's architecture index for
    /// files exported in index order).
    pub row: usize,
    /// Line in the file (1-based, header = line 1).
    pub line: usize,
    /// Position of the cell in [`Nb201Arch::all`] (`0..15625`).
    pub space_index: usize,
    /// The arch string, canonical form.
    pub arch: String,
    /// Test accuracy (percent) on CIFAR-10, CIFAR-100, ImageNet16-120.
    pub accuracies: [f64; 3],
}

impl Nb201Record {
    /// Test accuracy on `dataset` (percent).
    pub fn accuracy(&self, dataset: Dataset) -> f64 {
        self.accuracies[dataset.index()]
    }
}

/// An architecture listed more than once.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Duplicate {
    /// The arch string.
    pub arch: String,
    /// Line of the row that was kept.
    pub first_line: usize,
    /// Line of the repeated row (ignored).
    pub line: usize,
    /// Whether the repeated row's accuracies equal the kept row's.
    pub same_accuracies: bool,
}

/// The validated table: one record per distinct cell, plus what was duplicated/missing.
#[derive(Debug, Clone, Serialize)]
pub struct Nb201Table {
    file: PathBuf,
    records: Vec<Nb201Record>,
    duplicates: Vec<Duplicate>,
    missing: Vec<String>,
}

/// Map from canonical arch string to position in [`Nb201Arch::all`].
fn space_lookup() -> &'static HashMap<String, usize> {
    static MAP: OnceLock<HashMap<String, usize>> = OnceLock::new();
    MAP.get_or_init(|| {
        Nb201Arch::all()
            .enumerate()
            .map(|(i, a)| (a.to_string(), i))
            .collect()
    })
}

struct Columns {
    count: usize,
    acc: [usize; 3],
    arch: usize,
}

impl Nb201Table {
    /// Reads `<data_dir>/nats-bench-tss/nats_bench_tss_200ep.csv` ([`NB201_FILE`]); a
    /// missing file gives [`crate::data::DataError::Missing`] with the expected path and
    /// how to obtain it.
    pub fn load_from_dir(data_dir: &Path) -> Result<Nb201Table, NasError> {
        crate::data::check_data_dir(data_dir)?;
        let path = data_dir.join(NB201_FILE);
        if !path.is_file() {
            return Err(crate::data::DataError::Missing {
                path,
                hint: NB201_HINT.to_string(),
            }
            .into());
        }
        Nb201Table::load(&path)
    }

    /// Reads and validates a CSV file (gzip accepted); the first bad row is an error.
    pub fn load(path: &Path) -> Result<Nb201Table, NasError> {
        let bytes = crate::data::read_bytes(path)?;
        let text = String::from_utf8(bytes).map_err(|e| NasError::NotUtf8 {
            file: path.to_path_buf(),
            byte: e.utf8_error().valid_up_to(),
        })?;
        Nb201Table::parse(&text, path)
    }

    /// Parses CSV text; `file` only labels errors. The first bad row is an error.
    pub fn parse(text: &str, file: impl AsRef<Path>) -> Result<Nb201Table, NasError> {
        let (table, mut bad) = Nb201Table::parse_lenient(text, file)?;
        if bad.is_empty() {
            Ok(table)
        } else {
            Err(bad.swap_remove(0))
        }
    }

    /// Parses CSV text, skipping bad rows: returns the table of good rows and every bad
    /// row's error (in file order). Only a bad header or an empty file is fatal.
    pub fn parse_lenient(
        text: &str,
        file: impl AsRef<Path>,
    ) -> Result<(Nb201Table, Vec<NasError>), NasError> {
        let file = file.as_ref().to_path_buf();
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim_end_matches('\r')));
        let header = loop {
            match lines.next() {
                Some((_, l)) if l.trim().is_empty() => continue,
                Some(h) => break h,
                None => return Err(NasError::EmptyFile { file }),
            }
        };
        let cols = Nb201Table::header(&file, header)?;
        let lookup = space_lookup();
        let mut records: Vec<Nb201Record> = Vec::new();
        let mut seen: HashMap<usize, usize> = HashMap::new();
        let mut duplicates = Vec::new();
        let mut bad = Vec::new();
        let mut row = 0;
        for (line, text) in lines {
            if text.trim().is_empty() {
                continue;
            }
            let this_row = row;
            row += 1;
            match parse_row(&file, line, text, &cols, lookup) {
                Err(e) => bad.push(e),
                Ok((space_index, arch, accuracies)) => match seen.get(&space_index) {
                    Some(&k) => duplicates.push(Duplicate {
                        arch,
                        first_line: records[k].line,
                        line,
                        same_accuracies: records[k].accuracies == accuracies,
                    }),
                    None => {
                        seen.insert(space_index, records.len());
                        records.push(Nb201Record {
                            row: this_row,
                            line,
                            space_index,
                            arch,
                            accuracies,
                        });
                    }
                },
            }
        }
        let missing = Nb201Arch::all()
            .enumerate()
            .filter(|(i, _)| !seen.contains_key(i))
            .map(|(_, a)| a.to_string())
            .collect();
        Ok((
            Nb201Table {
                file,
                records,
                duplicates,
                missing,
            },
            bad,
        ))
    }

    fn header(file: &Path, (line, text): (usize, &str)) -> Result<Columns, NasError> {
        let names: Vec<&str> = text.split(',').map(str::trim).collect();
        let find = |name: &'static str| {
            names
                .iter()
                .position(|n| *n == name)
                .ok_or_else(|| NasError::Header {
                    file: file.to_path_buf(),
                    line,
                    missing: name,
                    found: text.to_string(),
                })
        };
        Ok(Columns {
            count: names.len(),
            acc: [
                find(Dataset::Cifar10.column())?,
                find(Dataset::Cifar100.column())?,
                find(Dataset::ImageNet16.column())?,
            ],
            arch: find(ARCH_COLUMN)?,
        })
    }

    /// The file the table came from.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// One record per distinct cell, in file order.
    pub fn records(&self) -> &[Nb201Record] {
        &self.records
    }

    /// Number of distinct cells.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether no row was read.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Rows whose architecture was already listed (ignored).
    pub fn duplicates(&self) -> &[Duplicate] {
        &self.duplicates
    }

    /// Cells of [`Nb201Arch::all`] with no row, as arch strings in space order.
    pub fn missing(&self) -> &[String] {
        &self.missing
    }

    /// Errors unless every one of the 15,625 cells appears exactly once.
    pub fn require_complete(&self) -> Result<(), NasError> {
        if self.duplicates.is_empty() && self.missing.is_empty() {
            Ok(())
        } else {
            Err(NasError::Incomplete {
                file: self.file.clone(),
                duplicates: self.duplicates.len(),
                missing: self.missing.len(),
                first_missing: self.missing.first().cloned(),
            })
        }
    }
}

fn parse_row(
    file: &Path,
    line: usize,
    text: &str,
    cols: &Columns,
    lookup: &HashMap<String, usize>,
) -> Result<(usize, String, [f64; 3]), NasError> {
    // Fields with their 1-based starting character column.
    let mut fields: Vec<(usize, &str)> = Vec::with_capacity(cols.count);
    let mut start = 0;
    for f in text.split(',') {
        fields.push((text[..start].chars().count() + 1, f));
        start += f.len() + 1;
    }
    let err = |column: usize, field: &str, problem: RowProblem| NasError::Row {
        file: file.to_path_buf(),
        line,
        column,
        field: field.to_string(),
        problem,
    };
    if fields.len() != cols.count {
        return Err(err(
            1,
            "row",
            RowProblem::FieldCount {
                expected: cols.count,
                found: fields.len(),
            },
        ));
    }
    let mut acc = [0.0; 3];
    for d in Dataset::ALL {
        let (column, raw) = fields[cols.acc[d.index()]];
        let t = raw.trim();
        let v: f64 = t.parse().map_err(|_| {
            err(
                column,
                d.column(),
                RowProblem::NotANumber {
                    text: t.to_string(),
                },
            )
        })?;
        if !v.is_finite() {
            return Err(err(column, d.column(), RowProblem::NonFinite { value: v }));
        }
        if !(0.0..=100.0).contains(&v) {
            return Err(err(column, d.column(), RowProblem::OutOfRange { value: v }));
        }
        acc[d.index()] = v;
    }
    let (column, raw) = fields[cols.arch];
    let arch = Nb201Arch::parse(raw).map_err(|e| {
        err(
            column,
            ARCH_COLUMN,
            RowProblem::BadArch {
                message: e.to_string(),
            },
        )
    })?;
    let canonical = arch.to_string();
    let idx = *lookup.get(&canonical).ok_or_else(|| {
        err(
            column,
            ARCH_COLUMN,
            RowProblem::BadArch {
                message: format!(
                    "`{canonical}` is not a NAS-Bench-201 cell (3 nodes with edges 0->1 | 0->2, 1->2 | 0->3, 1->3, 2->3 \
                     and ops from none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3)"
                ),
            },
        )
    })?;
    Ok((idx, canonical, acc))
}
