//! One memory budget shared by every command: estimate before allocating, refuse clearly.
//!
//! Sizes that come from the input (node counts, `-n`, `--dim`, `--width`, `--seeds`,
//! DARTS ranges, file headers) can ask for far more memory than the machine has; the
//! allocator would then abort the process. Every large allocation is therefore preceded
//! by an estimate checked here, and a request that does not fit is refused with a
//! [`BudgetError`] naming what needed the memory, about how much, and the cap:
//!
//! ```text
//! path statistics (depth histograms of 100001 nodes) needs about 74.5 GiB but the memory cap is 12.0 GiB
//! ```
//!
//! The cap is process-wide: [`set_limit`] (the CLI's `--memory MIB`; `mc` also accepts
//! its older `--memory-limit-mib`) or, by default, 90% of the available memory
//! ([`crate::montecarlo::memory::default_limit`], read once). Estimates below
//! [`SMALL`] are accepted without reading the cap, so the check costs nothing in loops
//! over small cells.
//!
//! ```
//! use archconv::budget;
//! assert!(budget::check("a small table", Some(1 << 20)).is_ok());
//! let e = budget::check_within("a huge table", Some(1 << 50), 1 << 30).unwrap_err();
//! assert_eq!(e.to_string(), "a huge table needs about 1.00 PiB but the memory cap is 1.00 GiB \
//! (raise it with --memory MIB, or make the input smaller)");
//! assert!(budget::check_within("beyond u64", None, 1 << 30).is_err());
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// Estimates at or below this many bytes (64 MiB) pass without consulting the cap.
pub const SMALL: u64 = 64 << 20;

/// A request that does not fit in the memory cap.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} needs {} but the memory cap is {} (raise it with --memory MIB, or make the input smaller)", needs(*needed), fmt_bytes(Some(*limit)))]
pub struct BudgetError {
    /// What needed the memory, with the sizes that drive it.
    pub what: String,
    /// Estimated bytes (`None`: beyond `u64`, more than 16 EiB).
    pub needed: Option<u64>,
    /// The cap in bytes.
    pub limit: u64,
}

static LIMIT: AtomicU64 = AtomicU64::new(0);
static DEFAULT: OnceLock<u64> = OnceLock::new();

/// Sets the process-wide cap in bytes (`0` restores the default).
pub fn set_limit(bytes: u64) {
    LIMIT.store(bytes, Ordering::Relaxed);
}

/// Sets the cap from a `--memory MIB` option (`None` keeps the default).
pub fn set_limit_mib(mib: Option<u64>) {
    if let Some(m) = mib {
        set_limit(m.saturating_mul(1 << 20).max(1));
    }
}

/// The cap in bytes: the value given to [`set_limit`], else 90% of `MemAvailable` (read
/// once per process), else 8 GiB.
pub fn limit() -> u64 {
    match LIMIT.load(Ordering::Relaxed) {
        0 => *DEFAULT.get_or_init(crate::montecarlo::memory::default_limit),
        l => l,
    }
}

/// Checks an estimate against the process-wide cap ([`limit`]).
pub fn check(what: impl Into<String>, needed: Option<u64>) -> Result<(), BudgetError> {
    if let Some(n) = needed {
        if n <= SMALL && LIMIT.load(Ordering::Relaxed) == 0 {
            return Ok(());
        }
    }
    check_within(what, needed, limit())
}

/// Checks an estimate against an explicit cap.
pub fn check_within(
    what: impl Into<String>,
    needed: Option<u64>,
    limit: u64,
) -> Result<(), BudgetError> {
    match needed {
        Some(n) if n <= limit => Ok(()),
        _ => Err(BudgetError {
            what: what.into(),
            needed,
            limit,
        }),
    }
}

fn needs(b: Option<u64>) -> String {
    match b {
        Some(_) => format!("about {}", fmt_bytes(b)),
        None => fmt_bytes(b),
    }
}

/// `count * bytes_each`, `None` on overflow: the usual shape of an estimate.
pub fn bytes(count: usize, bytes_each: usize) -> Option<u64> {
    (count as u64).checked_mul(bytes_each as u64)
}

/// Bytes in a readable binary unit with three significant digits (`12.3 GiB`); `None`
/// reads "more than 16 EiB".
pub fn fmt_bytes(b: Option<u64>) -> String {
    let Some(b) = b else {
        return "more than 16 EiB".to_string();
    };
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else if v < 10.0 {
        format!("{v:.2} {}", UNITS[u])
    } else if v < 100.0 {
        format!("{v:.1} {}", UNITS[u])
    } else {
        format!("{v:.0} {}", UNITS[u])
    }
}
