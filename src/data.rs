//! Data files: MNIST IDX (plain or gzip), numeric CSV matrices, and the data directory.
//!
//! The data directory is given by `--data` on the command line or the `ARCHCONV_DATA`
//! environment variable ([`data_dir`]). Its layout mirrors `datasets/README.md`:
//! `mnist/train-images-idx3-ubyte.gz`, `cifar10-subset200/...`, `sklearn-digits/...`,
//! `nats-bench-tss/nats_bench_tss_200ep.csv`.
//!
//! Every reader validates what it reads (magic numbers, sizes, finiteness) and returns a
//! [`DataError`] naming the file and the offending position.

use flate2::read::GzDecoder;
use ndarray::Array2;
use std::io::Read;
use std::path::{Path, PathBuf};

/// A data file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// Opening or reading failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file's content does not match its format.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the byte offset or row/column.
        message: String,
    },
    /// A numeric CSV file cannot be read as a matrix.
    #[error("{path}: {source}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// What is wrong, with line, column and value.
        source: CsvError,
    },
    /// The data directory given is not a directory.
    #[error("{path} is not a directory (--data and ARCHCONV_DATA name the data directory, not a file in it)")]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },
    /// A required file is absent from the data directory.
    #[error("missing data file {path}: {hint}")]
    Missing {
        /// The expected path.
        path: PathBuf,
        /// How to obtain it.
        hint: String,
    },
}

/// The data directory: `explicit` if given, else `$ARCHCONV_DATA`, else `None`.
pub fn data_dir(explicit: Option<&Path>) -> Option<PathBuf> {
    explicit
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("ARCHCONV_DATA").map(PathBuf::from))
}

/// Checks that `dir` (from `--data` or `ARCHCONV_DATA`) is a directory: a file there
/// would otherwise be reported as a missing file inside it. A path that does not exist
/// is left to the loaders, which name the file they expected.
pub fn check_data_dir(dir: &Path) -> Result<(), DataError> {
    if dir.exists() && !dir.is_dir() {
        return Err(DataError::NotADirectory {
            path: dir.to_path_buf(),
        });
    }
    Ok(())
}

/// Reads a whole file, transparently gunzipping `.gz` files (by magic bytes).
pub fn read_bytes(path: &Path) -> Result<Vec<u8>, DataError> {
    let io = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let raw = std::fs::read(path).map_err(io)?;
    if raw.len() >= 2 && raw[0] == 0x1f && raw[1] == 0x8b {
        // A small gzip file can expand to far more than memory holds: stop at the
        // memory cap (crate::budget) instead of letting the allocator abort.
        let cap = crate::budget::limit();
        let mut out = Vec::new();
        GzDecoder::new(&raw[..])
            .take(cap.saturating_add(1))
            .read_to_end(&mut out)
            .map_err(io)?;
        if out.len() as u64 > cap {
            return Err(format_err(
                path,
                format!(
                    "{} bytes of gzip decompress to more than the memory cap of {} (raise it with --memory MIB; a gzip bomb?)",
                    raw.len(),
                    crate::budget::fmt_bytes(Some(cap))
                ),
            ));
        }
        Ok(out)
    } else {
        Ok(raw)
    }
}

fn format_err(path: &Path, message: String) -> DataError {
    DataError::Format {
        path: path.to_path_buf(),
        message,
    }
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// MNIST-style images: `n` images of `rows x cols` bytes.
#[derive(Debug, Clone)]
pub struct IdxImages {
    /// Pixel bytes, one image per row (`n x rows*cols`).
    pub pixels: Array2<u8>,
    /// Image height.
    pub rows: usize,
    /// Image width.
    pub cols: usize,
}

impl IdxImages {
    /// Pixels scaled to `[0, 1]` as `f64`, first `limit` images.
    pub fn to_f64(&self, limit: usize) -> Array2<f64> {
        let n = limit.min(self.pixels.nrows());
        self.pixels
            .slice(ndarray::s![..n, ..])
            .mapv(|p| f64::from(p) / 255.0)
    }
}

/// Reads an IDX3 image file (magic `0x00000803`), gzip or plain.
pub fn read_idx_images(path: &Path) -> Result<IdxImages, DataError> {
    let b = read_bytes(path)?;
    if b.len() < 16 {
        return Err(format_err(
            path,
            format!("file has {} bytes, an IDX3 header needs 16", b.len()),
        ));
    }
    let magic = be_u32(&b, 0);
    if magic != 0x0803 {
        return Err(format_err(
            path,
            format!("bad magic number {magic:#010x} at byte 0 (IDX3 images have 0x00000803)"),
        ));
    }
    let (n, rows, cols) = (
        be_u32(&b, 4) as usize,
        be_u32(&b, 8) as usize,
        be_u32(&b, 12) as usize,
    );
    let need = n
        .checked_mul(rows)
        .and_then(|x| x.checked_mul(cols))
        .and_then(|x| x.checked_add(16))
        .ok_or_else(|| format_err(path, format!("header sizes {n} x {rows} x {cols} overflow")))?;
    if b.len() != need {
        return Err(format_err(
            path,
            format!("header says {n} images of {rows}x{cols} ({need} bytes) but the file has {} bytes (truncated or corrupt)", b.len()),
        ));
    }
    let pixels = Array2::from_shape_vec((n, rows * cols), b[16..].to_vec())
        .map_err(|e| format_err(path, e.to_string()))?;
    Ok(IdxImages { pixels, rows, cols })
}

/// Reads an IDX1 label file (magic `0x00000801`); every label must be below `classes`.
pub fn read_idx_labels(path: &Path, classes: u8) -> Result<Vec<u8>, DataError> {
    let b = read_bytes(path)?;
    if b.len() < 8 {
        return Err(format_err(
            path,
            format!("file has {} bytes, an IDX1 header needs 8", b.len()),
        ));
    }
    let magic = be_u32(&b, 0);
    if magic != 0x0801 {
        return Err(format_err(
            path,
            format!("bad magic number {magic:#010x} at byte 0 (IDX1 labels have 0x00000801)"),
        ));
    }
    let n = be_u32(&b, 4) as usize;
    if b.len() != 8 + n {
        return Err(format_err(
            path,
            format!(
                "header says {n} labels but the file has {} label bytes (truncated or corrupt)",
                b.len() - 8
            ),
        ));
    }
    if let Some((i, &l)) = b[8..].iter().enumerate().find(|(_, &l)| l >= classes) {
        return Err(format_err(
            path,
            format!(
                "label {l} of record {i} (byte {}) is not below {classes}",
                8 + i
            ),
        ));
    }
    Ok(b[8..].to_vec())
}

/// Reads a numeric CSV matrix (one point per row; gzip allowed). See
/// [`parse_csv_matrix`] for the exact rules; errors name the file, line, column and value.
pub fn read_csv_matrix(path: &Path) -> Result<Array2<f64>, DataError> {
    let bytes = read_bytes(path)?;
    let text =
        String::from_utf8(bytes).map_err(|e| format_err(path, format!("not UTF-8 text: {e}")))?;
    parse_csv_matrix(&text).map_err(|source| DataError::Csv {
        path: path.to_path_buf(),
        source,
    })
}

/// Why a numeric CSV text cannot be read as a matrix ([`parse_csv_matrix`]). Lines and
/// columns are 1-based, counted in the file as written (comment and blank lines included).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CsvError {
    /// A cell is not a number.
    #[error("line {line}, column {column}: `{value}` is not a number")]
    NotANumber {
        /// The line.
        line: usize,
        /// The column.
        column: usize,
        /// The cell as written.
        value: String,
    },
    /// A cell is NaN or infinite.
    #[error("line {line}, column {column}: non-finite value `{value}`")]
    NonFinite {
        /// The line.
        line: usize,
        /// The column.
        column: usize,
        /// The cell as written.
        value: String,
    },
    /// A cell between two separators (or at a line's end) is empty; empty cells are not
    /// skipped, since that would shift the columns after them.
    #[error("line {line}, column {column}: empty cell (missing value)")]
    EmptyCell {
        /// The line.
        line: usize,
        /// The column.
        column: usize,
    },
    /// A row has a different number of cells than the first row.
    #[error("line {line}: {found} cells, but line {first_line} has {expected}")]
    Ragged {
        /// The line.
        line: usize,
        /// Its cell count.
        found: usize,
        /// The first row's cell count.
        expected: usize,
        /// The first row (header or data).
        first_line: usize,
    },
    /// The first line mixes numbers and names: it is neither a header (all names) nor a
    /// data row (all numbers).
    #[error("line {line}, column {column}: `{value}` is not a number, but other cells of this first line are; a header line must consist of names only")]
    MixedHeader {
        /// The line.
        line: usize,
        /// The first non-numeric cell's column.
        column: usize,
        /// That cell.
        value: String,
    },
    /// No data row at all.
    #[error("no numeric rows (only blank lines, comments or a header)")]
    NoRows,
}

/// The cell separator of a numeric CSV text, chosen from its first line.
#[derive(Clone, Copy)]
enum Separator {
    Char(char),
    Whitespace,
}

impl Separator {
    fn of(line: &str) -> Separator {
        [',', ';', '\t']
            .into_iter()
            .find(|&c| line.contains(c))
            .map_or(Separator::Whitespace, Separator::Char)
    }

    fn split(self, line: &str) -> Vec<&str> {
        match self {
            Separator::Char(c) => line.split(c).map(|cell| cell.trim()).collect(),
            Separator::Whitespace => line.split_whitespace().collect(),
        }
    }
}

/// Parses numeric CSV text into a matrix, one point per row.
///
/// * A leading UTF-8 byte-order mark is ignored; blank lines and lines starting with `#`
///   are skipped.
/// * The separator is taken from the first line: comma, else semicolon, else tab, else
///   runs of spaces. With a comma, semicolon or tab every cell counts, so an empty cell
///   is an error ([`CsvError::EmptyCell`]), never skipped (which would shift columns).
/// * Only the first line may be a header, and only if none of its cells is a number;
///   a first line mixing names and numbers is an error ([`CsvError::MixedHeader`]).
///   Any later non-numeric cell is an error, never a dropped row.
/// * Every row has the first row's number of cells, all finite.
///
/// ```
/// use archconv::data::{parse_csv_matrix, CsvError};
/// let x = parse_csv_matrix("\u{feff}a,b\n1,2\n3,4\n").unwrap();
/// assert_eq!(x.dim(), (2, 2));
/// assert_eq!(
///     parse_csv_matrix("1,,2\n").unwrap_err(),
///     CsvError::EmptyCell { line: 1, column: 2 }
/// );
/// ```
pub fn parse_csv_matrix(text: &str) -> Result<Array2<f64>, CsvError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut values = Vec::new();
    // (cells per row, line of the first row)
    let mut width: Option<(usize, usize)> = None;
    let mut sep = None;
    let mut rows = 0;
    for (li, line) in text.lines().enumerate() {
        let line_no = li + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let sep = *sep.get_or_insert_with(|| Separator::of(trimmed));
        // Trim only spaces around a tab-separated line, so a trailing empty cell counts.
        let line = line.trim_matches(|c: char| c.is_whitespace() && c != '\t');
        let cells = sep.split(line);
        if let Some(ci) = cells.iter().position(|c| c.is_empty()) {
            return Err(CsvError::EmptyCell {
                line: line_no,
                column: ci + 1,
            });
        }
        if let Some((expected, first_line)) = width {
            if cells.len() != expected {
                return Err(CsvError::Ragged {
                    line: line_no,
                    found: cells.len(),
                    expected,
                    first_line,
                });
            }
        } else {
            width = Some((cells.len(), line_no));
            let numeric = cells.iter().filter(|c| c.parse::<f64>().is_ok()).count();
            if numeric == 0 {
                continue; // a header: names only
            }
            if let Some((ci, c)) = cells
                .iter()
                .enumerate()
                .find(|(_, c)| c.parse::<f64>().is_err())
            {
                return Err(CsvError::MixedHeader {
                    line: line_no,
                    column: ci + 1,
                    value: (*c).to_string(),
                });
            }
        }
        for (ci, c) in cells.iter().enumerate() {
            let column = ci + 1;
            match c.parse::<f64>() {
                Ok(v) if v.is_finite() => values.push(v),
                Ok(_) => {
                    return Err(CsvError::NonFinite {
                        line: line_no,
                        column,
                        value: (*c).to_string(),
                    })
                }
                Err(_) => {
                    return Err(CsvError::NotANumber {
                        line: line_no,
                        column,
                        value: (*c).to_string(),
                    })
                }
            }
        }
        rows += 1;
    }
    let (w, _) = width.ok_or(CsvError::NoRows)?;
    if rows == 0 {
        return Err(CsvError::NoRows);
    }
    Ok(Array2::from_shape_vec((rows, w), values).expect("rows x width values were pushed"))
}

// ---------------------------------------------------------------------------------------
// Labelled datasets for training (issue 6).
// ---------------------------------------------------------------------------------------

/// A labelled dataset: one flattened example per row of `x` (`f32`, pixels scaled to
/// `[0, 1]`), its class in `y`, and the number of classes.
///
/// `f32` halves the memory of full MNIST (60000 x 784 = 188 MB) and is what the trainer
/// consumes in its default `f32` precision; [`Dataset::x_f64`] converts for the kernels.
///
/// ```
/// use archconv::data::Dataset;
/// let d = Dataset::synthetic(100, 8, 3, 7);
/// assert_eq!((d.len(), d.dim(), d.classes), (100, 8, 3));
/// assert!(d.y.iter().all(|&l| l < 3));
/// ```
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Examples, one per row (`n x d`).
    pub x: Array2<f32>,
    /// Labels, each below `classes`.
    pub y: Vec<u8>,
    /// Number of classes.
    pub classes: usize,
    /// Where the data came from (file names, subset), for reports.
    pub source: String,
}

/// Which split of a dataset to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// The training split.
    Train,
    /// The test split.
    Test,
}

impl Dataset {
    /// Builds a dataset, checking that `x` and `y` have the same length and every label is
    /// below `classes`.
    pub fn new(
        x: Array2<f32>,
        y: Vec<u8>,
        classes: usize,
        source: impl Into<String>,
    ) -> Result<Dataset, DataError> {
        let source = source.into();
        let path = PathBuf::from(&source);
        if x.nrows() != y.len() {
            return Err(format_err(
                &path,
                format!("{} examples but {} labels", x.nrows(), y.len()),
            ));
        }
        if let Some((i, &l)) = y
            .iter()
            .enumerate()
            .find(|(_, &l)| usize::from(l) >= classes)
        {
            return Err(format_err(
                &path,
                format!("label {l} of example {i} is not below {classes}"),
            ));
        }
        if let Some(((i, j), v)) = x.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(format_err(
                &path,
                format!("non-finite value {v} at example {i}, feature {j}"),
            ));
        }
        Ok(Dataset {
            x,
            y,
            classes,
            source,
        })
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// Number of features per example.
    pub fn dim(&self) -> usize {
        self.x.ncols()
    }

    /// The examples `range` (clamped to the dataset), e.g. the first 10000.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Dataset {
        let end = range.end.min(self.len());
        let start = range.start.min(end);
        Dataset {
            x: self.x.slice(ndarray::s![start..end, ..]).to_owned(),
            y: self.y[start..end].to_vec(),
            classes: self.classes,
            source: format!("{} [examples {start}..{end}]", self.source),
        }
    }

    /// The first `n` examples (all of them if fewer).
    pub fn head(&self, n: usize) -> Dataset {
        self.slice(0..n)
    }

    /// Standardises channel-wise, `x <- (x - mean_c) / std_c`, where the features are
    /// `mean.len()` equal contiguous channel blocks (CHW order, as stored by the MNIST and
    /// CIFAR-10 readers): torchvision's `Normalize(mean, std)` after `ToTensor`.
    ///
    /// # Panics
    /// If the channel count does not divide the feature count or lengths differ.
    #[track_caller]
    pub fn standardize(&mut self, mean: &[f32], std: &[f32]) {
        assert_eq!(mean.len(), std.len(), "mean and std lengths differ");
        let c = mean.len();
        assert!(
            c > 0 && self.dim().is_multiple_of(c),
            "{c} channels do not divide {} features",
            self.dim()
        );
        let block = self.dim() / c;
        for mut row in self.x.rows_mut() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = (*v - mean[j / block]) / std[j / block];
            }
        }
        self.source
            .push_str(&format!(" standardised (mean {mean:?}, std {std:?})"));
    }

    /// The examples as `f64` (for the closed-form kernels).
    pub fn x_f64(&self) -> Array2<f64> {
        self.x.mapv(f64::from)
    }

    /// Examples per class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut c = vec![0; self.classes];
        for &l in &self.y {
            c[usize::from(l)] += 1;
        }
        c
    }

    /// A seeded synthetic classification set for runs without data files: `classes`
    /// Gaussian blobs in `R^dim`, class means `mu_c ~ N(0, I)`, examples
    /// `x = mu_y + 0.5 z` with `z ~ N(0, I)`, labels cycling `0, 1, ..., classes-1`.
    /// Identical for a given `(n, dim, classes, seed)` on every machine.
    ///
    /// # Panics
    /// If `classes` is 0 or above 256.
    #[track_caller]
    pub fn synthetic(n: usize, dim: usize, classes: usize, seed: u64) -> Dataset {
        use rand::SeedableRng;
        use rand_distr::{Distribution, StandardNormal};
        assert!(
            (1..=256).contains(&classes),
            "classes must be in 1..=256, got {classes}"
        );
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let means =
            Array2::<f32>::from_shape_simple_fn((classes, dim), || StandardNormal.sample(&mut rng));
        let y: Vec<u8> = (0..n).map(|i| (i % classes) as u8).collect();
        let x = Array2::from_shape_fn((n, dim), |(i, j)| {
            let z: f32 = StandardNormal.sample(&mut rng);
            means[[usize::from(y[i]), j]] + 0.5 * z
        });
        Dataset {
            x,
            y,
            classes,
            source: format!("synthetic Gaussian blobs n={n} d={dim} classes={classes} seed={seed}"),
        }
    }
}

fn missing(path: PathBuf, hint: &str) -> DataError {
    DataError::Missing {
        path,
        hint: hint.to_string(),
    }
}

/// First existing file among `dir/name.gz` and `dir/name`.
fn find_file(dir: &Path, name: &str, hint: &str) -> Result<PathBuf, DataError> {
    let gz = dir.join(format!("{name}.gz"));
    let plain = dir.join(name);
    if gz.is_file() {
        Ok(gz)
    } else if plain.is_file() {
        Ok(plain)
    } else {
        Err(missing(gz, hint))
    }
}

/// MNIST pixel mean and standard deviation (of `[0, 1]` pixels over the training set),
/// the constants the authors' scripts normalise with.
pub const MNIST_NORMALIZE: ([f32; 1], [f32; 1]) = ([0.1307], [0.3081]);

/// CIFAR-10 per-channel (R, G, B) mean and standard deviation used by the authors'
/// scripts.
pub const CIFAR_NORMALIZE: ([f32; 3], [f32; 3]) = (
    [0.491_399_7, 0.482_158_3, 0.446_531_2],
    [0.2023, 0.1994, 0.2010],
);

/// How to get MNIST (used in [`DataError::Missing`]).
pub const MNIST_HINT: &str = "put the four MNIST IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, \
t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz; gzip or plain) into DATA/mnist/ and pass --data DATA or set ARCHCONV_DATA";

/// How to get CIFAR-10 (used in [`DataError::Missing`]).
pub const CIFAR_HINT: &str = "put the CIFAR-10 binary version (cifar-10-batches-bin/data_batch_1.bin ... test_batch.bin) \
or the 200-record fixture cifar10-subset200/cifar10_data_batch_1_first200.bin into DATA and pass --data DATA or set ARCHCONV_DATA";

/// How to get the scikit-learn digits (used in [`DataError::Missing`]).
pub const DIGITS_HINT: &str =
    "copy sklearn/datasets/data/digits.csv.gz from a scikit-learn wheel into \
DATA/sklearn-digits/ and pass --data DATA or set ARCHCONV_DATA";

/// Pairs an IDX3 image file with an IDX1 label file (counts must agree; labels < 10);
/// pixels scaled to `[0, 1]`.
pub fn read_idx_dataset(images: &Path, labels: &Path) -> Result<Dataset, DataError> {
    let img = read_idx_images(images)?;
    let y = read_idx_labels(labels, 10)?;
    if img.pixels.nrows() != y.len() {
        return Err(format_err(
            labels,
            format!(
                "{} labels but {} has {} images",
                y.len(),
                images.display(),
                img.pixels.nrows()
            ),
        ));
    }
    let x = img.pixels.mapv(|p| f32::from(p) / 255.0);
    Ok(Dataset {
        x,
        y,
        classes: 10,
        source: format!("{} + {}", images.display(), labels.display()),
    })
}

/// MNIST from `dir/mnist/` (or `dir` itself if it holds the files directly):
/// `train-*` (60000) or `t10k-*` (10000) images and labels, gzip or plain.
pub fn load_mnist(dir: &Path, split: Split) -> Result<Dataset, DataError> {
    check_data_dir(dir)?;
    let sub = dir.join("mnist");
    let base = if sub.is_dir() { sub } else { dir.to_path_buf() };
    let prefix = match split {
        Split::Train => "train",
        Split::Test => "t10k",
    };
    let images = find_file(&base, &format!("{prefix}-images-idx3-ubyte"), MNIST_HINT)?;
    let labels = find_file(&base, &format!("{prefix}-labels-idx1-ubyte"), MNIST_HINT)?;
    read_idx_dataset(&images, &labels)
}

/// Bytes per CIFAR-10 binary record: 1 label byte + 3 x 32 x 32 pixel bytes.
pub const CIFAR_RECORD: usize = 3073;

/// Reads a CIFAR-10 binary batch: records of `<label 0..9><1024 R><1024 G><1024 B>`.
/// The file size must be a positive multiple of 3073 and every label below 10. Pixels are
/// scaled to `[0, 1]` and kept in the file's channel-major order (3072 features).
pub fn read_cifar10_bin(path: &Path) -> Result<Dataset, DataError> {
    let b = read_bytes(path)?;
    if b.is_empty() || b.len() % CIFAR_RECORD != 0 {
        return Err(format_err(
            path,
            format!(
                "file has {} bytes, not a positive multiple of the {CIFAR_RECORD}-byte CIFAR-10 record \
                 ({} whole records and {} bytes left over: truncated or not a CIFAR-10 binary batch)",
                b.len(),
                b.len() / CIFAR_RECORD,
                b.len() % CIFAR_RECORD
            ),
        ));
    }
    let n = b.len() / CIFAR_RECORD;
    let mut y = Vec::with_capacity(n);
    for r in 0..n {
        let l = b[r * CIFAR_RECORD];
        if l >= 10 {
            return Err(format_err(
                path,
                format!(
                    "label {l} of record {r} (byte {}) is not below 10",
                    r * CIFAR_RECORD
                ),
            ));
        }
        y.push(l);
    }
    let x = Array2::from_shape_fn((n, CIFAR_RECORD - 1), |(r, j)| {
        f32::from(b[r * CIFAR_RECORD + 1 + j]) / 255.0
    });
    Ok(Dataset {
        x,
        y,
        classes: 10,
        source: path.display().to_string(),
    })
}

/// CIFAR-10 from `dir`: the official binary batches in `dir/cifar-10-batches-bin/`
/// (`data_batch_1..5.bin` for [`Split::Train`], `test_batch.bin` for [`Split::Test`]) if
/// present, else (train split only) the 200-record fixture
/// `dir/cifar10-subset200/cifar10_data_batch_1_first200.bin`. The returned `source`
/// says which.
pub fn load_cifar10(dir: &Path, split: Split) -> Result<Dataset, DataError> {
    check_data_dir(dir)?;
    let full = dir.join("cifar-10-batches-bin");
    if full.is_dir() {
        let names: Vec<String> = match split {
            Split::Train => (1..=5).map(|i| format!("data_batch_{i}.bin")).collect(),
            Split::Test => vec!["test_batch.bin".to_string()],
        };
        let mut parts = Vec::new();
        for name in &names {
            let p = full.join(name);
            if !p.is_file() {
                return Err(missing(p, CIFAR_HINT));
            }
            parts.push(read_cifar10_bin(&p)?);
        }
        let views: Vec<_> = parts.iter().map(|d| d.x.view()).collect();
        let x = ndarray::concatenate(ndarray::Axis(0), &views)
            .map_err(|e| format_err(&full, e.to_string()))?;
        let y = parts.iter().flat_map(|d| d.y.iter().copied()).collect();
        return Ok(Dataset {
            x,
            y,
            classes: 10,
            source: format!("{} ({})", full.display(), names.join(", ")),
        });
    }
    let fixture = dir
        .join("cifar10-subset200")
        .join("cifar10_data_batch_1_first200.bin");
    match split {
        Split::Train if fixture.is_file() => {
            let mut d = read_cifar10_bin(&fixture)?;
            d.source = format!(
                "{} (fixture: first {} records of data_batch_1)",
                fixture.display(),
                d.len()
            );
            Ok(d)
        }
        Split::Train => Err(missing(full.join("data_batch_1.bin"), CIFAR_HINT)),
        Split::Test => Err(missing(full.join("test_batch.bin"), CIFAR_HINT)),
    }
}

/// Reads the scikit-learn digits CSV (gzip or plain, no header): 65 integer fields per
/// line, 64 pixel counts in `0..=16` (8 x 8, row-major) then the label `0..=9`. Pixels are
/// scaled to `[0, 1]` by dividing by 16.
pub fn read_digits_csv(path: &Path) -> Result<Dataset, DataError> {
    let bytes = read_bytes(path)?;
    let text =
        String::from_utf8(bytes).map_err(|e| format_err(path, format!("not UTF-8 text: {e}")))?;
    let mut xs = Vec::new();
    let mut y = Vec::new();
    for (li, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != 65 {
            return Err(format_err(
                path,
                format!(
                    "line {}: {} fields, expected 65 (64 pixels + label)",
                    li + 1,
                    fields.len()
                ),
            ));
        }
        for (ci, f) in fields.iter().enumerate() {
            let v: u8 = f.parse().map_err(|_| {
                format_err(
                    path,
                    format!(
                        "line {}, column {}: `{f}` is not a non-negative integer",
                        li + 1,
                        ci + 1
                    ),
                )
            })?;
            if ci < 64 {
                if v > 16 {
                    return Err(format_err(
                        path,
                        format!(
                            "line {}, column {}: pixel count {v} is above 16",
                            li + 1,
                            ci + 1
                        ),
                    ));
                }
                xs.push(f32::from(v) / 16.0);
            } else {
                if v >= 10 {
                    return Err(format_err(
                        path,
                        format!("line {}, column 65: label {v} is not below 10", li + 1),
                    ));
                }
                y.push(v);
            }
        }
    }
    if y.is_empty() {
        return Err(format_err(path, "no data lines".to_string()));
    }
    let x =
        Array2::from_shape_vec((y.len(), 64), xs).map_err(|e| format_err(path, e.to_string()))?;
    Ok(Dataset {
        x,
        y,
        classes: 10,
        source: path.display().to_string(),
    })
}

/// The scikit-learn digits from `dir/sklearn-digits/digits.csv.gz` (or `digits.csv`).
pub fn load_digits(dir: &Path) -> Result<Dataset, DataError> {
    check_data_dir(dir)?;
    let p = find_file(&dir.join("sklearn-digits"), "digits.csv", DIGITS_HINT)?;
    read_digits_csv(&p)
}
