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

/// Reads a whole file, transparently gunzipping `.gz` files (by magic bytes).
pub fn read_bytes(path: &Path) -> Result<Vec<u8>, DataError> {
    let io = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let raw = std::fs::read(path).map_err(io)?;
    if raw.len() >= 2 && raw[0] == 0x1f && raw[1] == 0x8b {
        let mut out = Vec::new();
        GzDecoder::new(&raw[..]).read_to_end(&mut out).map_err(io)?;
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

/// Reads a numeric CSV matrix (one point per row; comma, semicolon, tab or space
/// separated; gzip allowed). A first line that does not parse as numbers is taken as a
/// header. Every row must have the same number of finite values.
pub fn read_csv_matrix(path: &Path) -> Result<Array2<f64>, DataError> {
    let bytes = read_bytes(path)?;
    let text =
        String::from_utf8(bytes).map_err(|e| format_err(path, format!("not UTF-8 text: {e}")))?;
    parse_csv_matrix(&text).map_err(|m| format_err(path, m))
}

/// Parses CSV text into a matrix (see [`read_csv_matrix`]); the error names the line
/// (1-based) and column (1-based).
pub fn parse_csv_matrix(text: &str) -> Result<Array2<f64>, String> {
    let mut values = Vec::new();
    let mut width = None;
    let mut rows = 0;
    for (li, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line
            .split(|c: char| c == ',' || c == ';' || c == '\t' || c == ' ')
            .filter(|f| !f.is_empty())
            .collect();
        let parsed: Vec<Result<f64, _>> = fields.iter().map(|f| f.parse::<f64>()).collect();
        if rows == 0 && width.is_none() && parsed.iter().any(|p| p.is_err()) {
            continue; // header
        }
        for (ci, (p, f)) in parsed.iter().zip(&fields).enumerate() {
            match p {
                Ok(v) if v.is_finite() => values.push(*v),
                Ok(v) => {
                    return Err(format!(
                        "line {}, column {}: non-finite value {v}",
                        li + 1,
                        ci + 1
                    ))
                }
                Err(_) => {
                    return Err(format!(
                        "line {}, column {}: `{f}` is not a number",
                        li + 1,
                        ci + 1
                    ))
                }
            }
        }
        match width {
            None => width = Some(fields.len()),
            Some(w) if w != fields.len() => {
                return Err(format!(
                    "line {}: {} values, but earlier rows have {w}",
                    li + 1,
                    fields.len()
                ))
            }
            _ => {}
        }
        rows += 1;
    }
    let w = width.ok_or_else(|| "no numeric rows".to_string())?;
    Array2::from_shape_vec((rows, w), values).map_err(|e| e.to_string())
}
