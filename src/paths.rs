//! Path statistics by dynamic programming (PAPER.md section 4, Def. 4.1).
//!
//! For every node `t` the DP keeps `n_t(d)`, the number of input-to-`t` paths with exactly
//! `d` linear edges:
//!
//! ```text
//! n_input(0) = 1,   n_t(d) = sum_{skip s->t} n_s(d) + sum_{linear s->t} n_s(d - 1)
//! ```
//!
//! From the output's histogram: `P = sum_d n(d)`, `sum_p d_p = sum_d d n(d)`,
//! `#{d_p > 0} = P - n(0)`, effective depth `dbar = sum_p d_p / P` and effective width
//! `mbar = #{d_p > 0} / dbar`. The same histograms give the path-sum kernel
//! `sum_d n(d) f^d(K^0)` (Eq. 12).
//!
//! # Exact counts of any size
//!
//! [`PathStats`] counts exactly however many paths there are: a [`Count`] is a `u128`
//! when it fits and a big integer (`num_bigint::BigUint`) above `2^128 - 1`. The DP itself
//! stores node `t`'s histogram in `w_t = ceil(bits(P_t) / 64)` machine words per depth,
//! where `P_t = sum_{s->t} P_s` is the exact number of input-to-`t` paths (every
//! `n_t(d) <= P_t`, so no addition can carry out of its slot): one word per count on
//! DAGs with fewer than `2^64` paths, which is the fast path. A node's histogram is
//! freed as soon as its last successor is done, so a chain keeps `O(1)` counts alive and
//! the whole computation takes `O(nodes + edges)` memory plus the live histograms; that
//! peak (plus half again for allocator fragmentation) is computed in `O(nodes + edges)`
//! and checked against the memory budget ([`crate::budget`]) before any histogram is
//! allocated.
//!
//! Effective depth and width are exact [`Ratio`]s while numerator and denominator fit in
//! `u128`. The `f64` values ([`PathStats::effective_depth`],
//! [`PathStats::effective_width`]) are always the `f64` nearest to the exact rational
//! (ties to even), computed from the exact integers: relative error at most `2^-53`.
//! When the value leaves `f64`'s normal range (an effective width above `1.8e308` needs
//! more than `2^1024` paths), [`PathStats::effective_width_float`] gives the same
//! 53-bit rounding with an unbounded exponent ([`WideFloat`]).
//!
//! ```
//! use archconv::{Dag, PathStats};
//! let s = PathStats::of(&Dag::dag3()).unwrap();
//! assert_eq!(s.num_paths(), 4);
//! assert_eq!(s.depths(), vec![0, 1, 2, 2]);
//! assert_eq!(s.effective_depth(), Some(1.25));
//! assert_eq!(s.effective_width(), Some(2.4));
//! // 64-node complete DAG: 2^62 paths, counted exactly.
//! let big = PathStats::of(&Dag::complete(64, archconv::Op::Linear)).unwrap();
//! assert_eq!(big.num_paths(), 1u128 << 62);
//! // 140 nodes: 2^138 paths, beyond u128 and still exact.
//! let huge = PathStats::of(&Dag::complete(140, archconv::Op::Linear)).unwrap();
//! assert_eq!(huge.num_paths_exact().to_string(), "348449143727040986586495598010130648530944");
//! assert_eq!(huge.effective_depth(), Some(70.0)); // 1 + 138 / 2
//! ```

use crate::dag::Dag;
use num_bigint::BigUint;
use num_traits::{ToPrimitive, Zero};
use serde::Serialize;
use std::cmp::Ordering;
use std::fmt;

/// Why an effective depth or width is not defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Undefined {
    /// No path connects an input to the output (`P = 0`).
    NoPath,
    /// Every path is made of skip edges only (`dbar = 0`), so `mbar = #{d_p>0}/dbar` is 0/0.
    ZeroDepth,
}

impl fmt::Display for Undefined {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Undefined::NoPath => "undefined: no path from the input to the output (P = 0)",
            Undefined::ZeroDepth => {
                "undefined: every path is skip-only (effective depth 0, width 0/0)"
            }
        })
    }
}

/// Path counts overflowed `u128` in [`DepthHistograms`] (only possible for DAGs of well
/// over 100 nodes; [`PathStats`] counts exactly at any size and never reports it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("path count overflows 128-bit integers at node {node}: the DAG has more than 2^128 paths")]
pub struct PathOverflow {
    /// The node where the count overflowed.
    pub node: usize,
}

/// An exact non-negative rational `num / den` in lowest terms (`den > 0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Ratio {
    /// Numerator (in JSON a number, or a decimal string above `u64::MAX`).
    #[serde(serialize_with = "ser_count")]
    pub num: u128,
    /// Denominator (> 0; in JSON like `num`).
    #[serde(serialize_with = "ser_count")]
    pub den: u128,
}

impl Ratio {
    /// `num / den` reduced; `den` must be positive.
    pub fn new(num: u128, den: u128) -> Ratio {
        assert!(den > 0, "Ratio with zero denominator");
        let g = gcd(num, den);
        Ratio {
            num: num / g,
            den: den / g,
        }
    }

    /// The `f64` nearest to `num / den` (ties to even).
    pub fn to_f64(self) -> f64 {
        const EXACT: u128 = 1 << 53;
        if self.num <= EXACT && self.den <= EXACT {
            // Both operands are exact in f64, so IEEE division rounds correctly.
            self.num as f64 / self.den as f64
        } else {
            WideFloat::from_ratio(&BigUint::from(self.num), &BigUint::from(self.den))
                .to_f64()
                .expect("a ratio of u128s is within f64's normal range")
        }
    }
}

impl fmt::Display for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.den == 1 {
            write!(f, "{}", self.num)
        } else {
            write!(f, "{}/{}", self.num, self.den)
        }
    }
}

/// Serialises a `u128` count exactly: as a JSON number when it fits in `u64`, else as a
/// decimal string (`serde_json` cannot write larger numbers, and most JSON readers would
/// round them). `archconv analyze --json` on a 70-node complete DAG writes
/// `"num_paths": "295147905179352825856"`.
pub(crate) fn ser_count<S: serde::Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
    match u64::try_from(*v) {
        Ok(small) => s.serialize_u64(small),
        Err(_) => s.serialize_str(&v.to_string()),
    }
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

/// Path statistics cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// A count overflowed `u128` ([`DepthHistograms`] only).
    #[error(transparent)]
    Overflow(#[from] PathOverflow),
    /// The depth histograms would not fit in the memory cap ([`crate::budget`]).
    #[error(transparent)]
    Memory(#[from] crate::budget::BudgetError),
}

/// An exact non-negative integer of any size: a path count, a depth sum or one entry of a
/// depth histogram.
///
/// Held as a `u128` when it fits and as a [`BigUint`] above `u128::MAX`; the two forms never
/// overlap, so equality, ordering and hashing are those of the integers. Compares with
/// `u128` directly. In JSON ([`serde::Serialize`]) a number when it fits in `u64`, else a
/// decimal string (most JSON readers would round larger numbers).
///
/// ```
/// use archconv::paths::Count;
/// use num_bigint::BigUint;
/// let small = Count::from(4u128);
/// assert_eq!(small, 4u128);
/// assert_eq!(serde_json::to_string(&small).unwrap(), "4");
/// let big = Count::from(BigUint::from(1u8) << 200);
/// assert!(big > small && big.to_u128().is_none());
/// assert_eq!(big.bits(), 201);
/// assert_eq!(big.to_f64(), 2f64.powi(200));
/// assert_eq!(serde_json::to_string(&big).unwrap(), format!("\"{big}\""));
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Count(CountRepr);

#[derive(Clone, PartialEq, Eq, Hash)]
enum CountRepr {
    Small(u128),
    /// Always above `u128::MAX`.
    Big(BigUint),
}

impl Count {
    /// Zero.
    pub const ZERO: Count = Count(CountRepr::Small(0));

    /// The value as `u128`, `None` above `u128::MAX`.
    pub fn to_u128(&self) -> Option<u128> {
        match &self.0 {
            CountRepr::Small(v) => Some(*v),
            CountRepr::Big(_) => None,
        }
    }

    /// The value as a big integer.
    pub fn to_biguint(&self) -> BigUint {
        match &self.0 {
            CountRepr::Small(v) => BigUint::from(*v),
            CountRepr::Big(b) => b.clone(),
        }
    }

    /// Whether the value is 0.
    pub fn is_zero(&self) -> bool {
        matches!(self.0, CountRepr::Small(0))
    }

    /// Number of bits, `floor(log2 v) + 1` (0 for 0).
    pub fn bits(&self) -> u64 {
        match &self.0 {
            CountRepr::Small(v) => u64::from(128 - v.leading_zeros()),
            CountRepr::Big(b) => b.bits(),
        }
    }

    /// The `f64` nearest to the value (ties to even); `f64::INFINITY` at or above
    /// `2^1024` (see [`WideFloat`] for a finite form).
    pub fn to_f64(&self) -> f64 {
        match &self.0 {
            CountRepr::Small(v) if *v <= 1 << 53 => *v as f64,
            _ => WideFloat::from_ratio(&self.to_biguint(), &BigUint::from(1u8))
                .to_f64()
                .unwrap_or(f64::INFINITY),
        }
    }
}

impl Default for Count {
    fn default() -> Count {
        Count::ZERO
    }
}

impl From<u128> for Count {
    fn from(v: u128) -> Count {
        Count(CountRepr::Small(v))
    }
}

impl From<u64> for Count {
    fn from(v: u64) -> Count {
        Count::from(u128::from(v))
    }
}

impl From<BigUint> for Count {
    fn from(v: BigUint) -> Count {
        match v.to_u128() {
            Some(s) => Count(CountRepr::Small(s)),
            None => Count(CountRepr::Big(v)),
        }
    }
}

impl From<&Count> for BigUint {
    fn from(c: &Count) -> BigUint {
        c.to_biguint()
    }
}

impl PartialEq<u128> for Count {
    fn eq(&self, other: &u128) -> bool {
        self.0 == CountRepr::Small(*other)
    }
}

impl PartialEq<Count> for u128 {
    fn eq(&self, other: &Count) -> bool {
        other == self
    }
}

impl Ord for Count {
    fn cmp(&self, other: &Count) -> Ordering {
        match (&self.0, &other.0) {
            (CountRepr::Small(a), CountRepr::Small(b)) => a.cmp(b),
            (CountRepr::Small(_), CountRepr::Big(_)) => Ordering::Less,
            (CountRepr::Big(_), CountRepr::Small(_)) => Ordering::Greater,
            (CountRepr::Big(a), CountRepr::Big(b)) => a.cmp(b),
        }
    }
}

impl PartialOrd for Count {
    fn partial_cmp(&self, other: &Count) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialOrd<u128> for Count {
    fn partial_cmp(&self, other: &u128) -> Option<Ordering> {
        Some(match &self.0 {
            CountRepr::Small(a) => a.cmp(other),
            CountRepr::Big(_) => Ordering::Greater,
        })
    }
}

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            CountRepr::Small(v) => fmt::Display::fmt(v, f),
            CountRepr::Big(b) => fmt::Display::fmt(b, f),
        }
    }
}

impl fmt::Debug for Count {
    /// The decimal value, as for integers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Count {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            CountRepr::Small(v) => ser_count(v, s),
            CountRepr::Big(b) => s.serialize_str(&b.to_string()),
        }
    }
}

/// A positive real number `m * 2^e` with a 53-bit significand `m` (as in `f64`) and an
/// unbounded exponent `e` (`i64`): the form of effective widths of DAGs with more than
/// `2^1024` paths, where `f64` overflows.
///
/// [`WideFloat::from_ratio`] rounds an exact big-integer ratio to the nearest such value
/// (ties to even), so the relative error is at most `2^-53`, as for a correctly rounded
/// `f64`; within `f64`'s normal range [`WideFloat::to_f64`] is exactly that `f64`.
/// `Display` writes what `f64` would (`1.25`) in the normal range and otherwise 17
/// significant digits in scientific notation (`1.2345678901234567e2000`, the decimal
/// value of `m * 2^e` rounded to 17 digits).
///
/// ```
/// use archconv::paths::WideFloat;
/// use num_bigint::BigUint;
/// let third = WideFloat::from_ratio(&BigUint::from(1u8), &BigUint::from(3u8));
/// assert_eq!(third.to_f64(), Some(1.0 / 3.0));
/// let huge = WideFloat::from_ratio(&(BigUint::from(1u8) << 3000), &BigUint::from(3u8));
/// assert_eq!(huge.to_f64(), None);
/// assert_eq!(huge.to_string(), "4.1007730738703904e902"); // 2^3000 / 3
/// assert!((huge.log2() - (3000.0 - 3f64.log2())).abs() < 1e-12);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WideFloat {
    /// `2^52 <= mantissa < 2^53`, or 0 for zero.
    mantissa: u64,
    exponent: i64,
}

impl WideFloat {
    /// Zero.
    pub const ZERO: WideFloat = WideFloat {
        mantissa: 0,
        exponent: 0,
    };

    /// The value nearest to `num / den` (ties to even).
    ///
    /// # Panics
    /// If `den` is zero.
    #[track_caller]
    pub fn from_ratio(num: &BigUint, den: &BigUint) -> WideFloat {
        assert!(
            !den.is_zero(),
            "WideFloat::from_ratio with a zero denominator"
        );
        if num.is_zero() {
            return WideFloat::ZERO;
        }
        // Scale by 2^shift so the quotient q = floor(num 2^shift / den) has 54 or 55 bits:
        // num / den lies in [2^(e0 - 1), 2^(e0 + 1)).
        let e0 = num.bits() as i64 - den.bits() as i64;
        let shift = 54 - e0;
        let (x, y) = if shift >= 0 {
            (num << shift as u64, den.clone())
        } else {
            (num.clone(), den << (-shift) as u64)
        };
        let q = &x / &y;
        let inexact = &q * &y != x;
        let q = q.to_u64().expect("quotient below 2^55");
        let extra = (64 - q.leading_zeros() as i64) - 53; // 1 or 2 bits to round off
        let mut m = q >> extra;
        let rest = q & ((1u64 << extra) - 1);
        let half = 1u64 << (extra - 1);
        if rest > half || (rest == half && (inexact || m & 1 == 1)) {
            m += 1;
        }
        let mut exponent = extra - shift;
        if m == 1 << 53 {
            m >>= 1;
            exponent += 1;
        }
        WideFloat {
            mantissa: m,
            exponent,
        }
    }

    /// The significand `m` (`2^52 <= m < 2^53`, 0 for zero).
    pub fn mantissa(&self) -> u64 {
        self.mantissa
    }

    /// The exponent `e` of `m * 2^e`.
    pub fn exponent(&self) -> i64 {
        self.exponent
    }

    /// The value as `f64` when it is zero or in the normal range
    /// `[2^-1022, f64::MAX]` (then exactly the correctly rounded `f64`), else `None`.
    pub fn to_f64(&self) -> Option<f64> {
        if self.mantissa == 0 {
            return Some(0.0);
        }
        let e = self.exponent + 52;
        (-1022..=1023).contains(&e).then(|| {
            f64::from_bits((((e + 1023) as u64) << 52) | (self.mantissa & ((1 << 52) - 1)))
        })
    }

    /// `log2` of the value (`-inf` for zero), to `f64` precision.
    pub fn log2(&self) -> f64 {
        (self.mantissa as f64).log2() + self.exponent as f64
    }

    /// The exact value `m * 2^e` rounded to `digits` significant decimal digits (ties to
    /// even): `(digit string, decimal exponent)` with the value `0.d1d2... * 10^(exp+1)`,
    /// i.e. `d1.d2... * 10^exp`.
    fn decimal(&self, digits: usize) -> (Vec<u8>, i64) {
        let m = BigUint::from(self.mantissa);
        // N = floor(value * 10^k) with at least digits + 1 decimal digits, sticky = the
        // remainder is not zero.
        let (n, k, sticky) = if self.exponent >= 0 {
            (m << self.exponent as u64, 0i64, false)
        } else {
            let lg10 = (52 + self.exponent) as f64 * std::f64::consts::LOG10_2;
            let k = ((digits as f64 + 2.0 - lg10).ceil() as i64).max(0);
            let scaled = m * BigUint::from(10u8).pow(k as u32);
            let s = (-self.exponent) as u64;
            let n = &scaled >> s;
            let sticky = (&n << s) != scaled;
            (n, k, sticky)
        };
        let text = n.to_string().into_bytes();
        let exp10 = text.len() as i64 - 1 - k;
        if text.len() <= digits {
            return (text, exp10);
        }
        let (head, tail) = text.split_at(digits);
        let mut head = head.to_vec();
        let first = tail[0];
        let rest_nonzero = sticky || tail[1..].iter().any(|&c| c != b'0');
        let up =
            first > b'5' || (first == b'5' && (rest_nonzero || (head[digits - 1] - b'0') % 2 == 1));
        let mut exp10 = exp10;
        if up {
            let mut i = digits;
            loop {
                if i == 0 {
                    head.insert(0, b'1');
                    head.pop();
                    exp10 += 1;
                    break;
                }
                i -= 1;
                if head[i] == b'9' {
                    head[i] = b'0';
                } else {
                    head[i] += 1;
                    break;
                }
            }
        }
        (head, exp10)
    }
}

impl fmt::Display for WideFloat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(x) = self.to_f64() {
            return if x == 0.0 || (1e-5..1e16).contains(&x) {
                write!(f, "{x}")
            } else {
                write!(f, "{x:e}")
            };
        }
        let (digits, exp10) = self.decimal(17);
        let digits = std::str::from_utf8(&digits).expect("ASCII digits");
        let trimmed = digits.trim_end_matches('0');
        let (first, rest) = trimmed.split_at(1);
        if rest.is_empty() {
            write!(f, "{first}e{exp10}")
        } else {
            write!(f, "{first}.{rest}e{exp10}")
        }
    }
}

impl Serialize for WideFloat {
    /// A JSON number in `f64`'s normal range, else the `Display` string.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.to_f64() {
            Some(x) => s.serialize_f64(x),
            None => s.serialize_str(&self.to_string()),
        }
    }
}

/// Greatest common divisor of big integers (Euclid; `gcd(0, 0) = 0`).
fn big_gcd(a: &BigUint, b: &BigUint) -> BigUint {
    let (mut a, mut b) = (a.clone(), b.clone());
    while !b.is_zero() {
        let r = &a % &b;
        a = b;
        b = r;
    }
    a
}

/// Per-node depth histograms `n_t(d)` of a DAG (the DP table).
///
/// Each node keeps only the depths between its shortest and longest path, so a chain of
/// `H` nodes takes `O(H)` memory, not `O(H^2)`; the total is estimated in `O(nodes +
/// edges)` and checked against the memory budget ([`crate::budget`]) before the table is
/// allocated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepthHistograms {
    /// `hist[t] = (lo, counts)`: `counts[k]` paths of depth `lo + k` end at `t`.
    hist: Vec<(usize, Vec<u128>)>,
}

impl DepthHistograms {
    /// Runs the DP (module docs) in topological order `0..=H`.
    pub fn of(dag: &Dag) -> Result<DepthHistograms, PathError> {
        let n = dag.num_nodes();
        // Depth extents [lo, hi] of the paths reaching each node (None: no path).
        let mut ext: Vec<Option<(usize, usize)>> = vec![None; n];
        for &i in dag.inputs() {
            ext[i] = Some((0, 0));
        }
        let mut cells: u64 = 0;
        for t in 0..n {
            for e in dag.in_edges(t) {
                let Some(shift) = e.op.depth() else { continue };
                if let Some((lo, hi)) = ext[e.from] {
                    let (lo, hi) = (lo + shift, hi + shift);
                    ext[t] = Some(match ext[t] {
                        Some((a, b)) => (a.min(lo), b.max(hi)),
                        None => (lo, hi),
                    });
                }
            }
            if let Some((lo, hi)) = ext[t] {
                cells = cells.saturating_add((hi - lo + 1) as u64);
            }
        }
        crate::budget::check(
            format!("path statistics (depth histograms of {n} nodes, {cells} counts)"),
            cells
                .checked_mul(16)
                .and_then(|b| b.checked_add(crate::budget::bytes(n, 32)?)),
        )?;
        let mut hist: Vec<(usize, Vec<u128>)> = ext
            .iter()
            .map(|x| x.map_or((0, Vec::new()), |(lo, hi)| (lo, vec![0; hi - lo + 1])))
            .collect();
        for &i in dag.inputs() {
            hist[i].1[0] = 1;
        }
        for t in 0..n {
            for e in dag.in_edges(t) {
                if e.from == t || ext[e.from].is_none() {
                    continue;
                }
                let Some(shift) = e.op.depth() else { continue };
                // e.from < t: split the table to borrow the source and the target.
                let (before, after) = hist.split_at_mut(t);
                let (src_lo, src) = &before[e.from];
                let (dst_lo, dst) = &mut after[0];
                let offset = src_lo + shift - *dst_lo;
                for (k, &add) in src.iter().enumerate() {
                    if add == 0 {
                        continue;
                    }
                    let slot = &mut dst[offset + k];
                    *slot = slot.checked_add(add).ok_or(PathOverflow { node: t })?;
                }
            }
        }
        Ok(DepthHistograms { hist })
    }

    /// `n_t(d)` for all `d` (index = depth) at node `t`, as a dense vector of length
    /// (longest path + 1), or empty when no path reaches `t`. Allocates; see
    /// [`DepthHistograms::sparse`] for the stored form.
    pub fn node(&self, t: usize) -> Vec<u128> {
        let (lo, counts) = &self.hist[t];
        if counts.is_empty() {
            return Vec::new();
        }
        let mut out = vec![0; lo + counts.len()];
        out[*lo..].copy_from_slice(counts);
        out
    }

    /// The stored form at node `t`: `(lo, counts)` with `counts[k] = n_t(lo + k)`, `lo`
    /// the shortest path's depth (`counts` empty when no path reaches `t`).
    pub fn sparse(&self, t: usize) -> (usize, &[u128]) {
        let (lo, counts) = &self.hist[t];
        (*lo, counts)
    }

    /// Whether any input-to-`t` path exists.
    pub fn reaches(&self, t: usize) -> bool {
        self.hist[t].1.iter().any(|&c| c > 0)
    }
}

/// Path statistics of a DAG's input-to-output paths (paths from several inputs pooled).
///
/// Counts are exact at any size ([`Count`]); the `u128` accessors
/// ([`PathStats::num_paths`], [`PathStats::histogram`], …) serve the common case where
/// every count fits ([`PathStats::fits_u128`]), the `_exact` ones every case.
///
/// ```
/// use archconv::{Dag, Op, PathStats};
/// // Complete DAG on 140 nodes: n(d) = C(138, d - 1) paths of depth d, 2^138 in all.
/// let s = PathStats::of(&Dag::complete(140, Op::Linear))?;
/// assert!(!s.fits_u128());
/// assert_eq!(s.num_paths_exact().bits(), 139);
/// assert_eq!(s.histogram_exact()[2], 138u128);
/// assert_eq!(s.effective_depth(), Some(70.0));
/// // mbar = (P - n(0)) / dbar = 2^138 / 70
/// assert_eq!(s.effective_width(), Some(2f64.powi(138) / 70.0));
/// # Ok::<(), archconv::paths::PathError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathStats {
    /// `histogram[d]` = number of paths with `d` linear edges (trailing zeros trimmed).
    histogram: Vec<Count>,
    /// The same as `u128`s, when every count fits.
    small: Option<SmallStats>,
    num_paths: Count,
    depth_sum: Count,
    nonzero: Count,
}

/// [`PathStats`] counts as `u128`, kept when they all fit.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SmallStats {
    histogram: Vec<u128>,
    num_paths: u128,
    depth_sum: u128,
    nonzero: u128,
}

impl Serialize for PathStats {
    /// `{"histogram": [...], "num_paths": P, "depth_sum": ..., "nonzero": ...}`, counts as
    /// in [`Count`].
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("PathStats", 4)?;
        st.serialize_field("histogram", &self.histogram)?;
        st.serialize_field("num_paths", &self.num_paths)?;
        st.serialize_field("depth_sum", &self.depth_sum)?;
        st.serialize_field("nonzero", &self.nonzero)?;
        st.end()
    }
}

impl PathStats {
    /// Path statistics of `dag` by dynamic programming (module docs; no enumeration).
    ///
    /// Time: `O(nodes + edges)` plus one word addition per stored word of each edge's
    /// source histogram (`sum_{s->t} (hi_s - lo_s + 1) w_s`). Memory: `O(nodes + edges)`
    /// plus the live depth histograms, whose peak is checked against the memory budget
    /// ([`crate::budget`]) before any is allocated. A 100,000-node chain takes about
    /// 10 ms and 16 MB.
    ///
    /// ```
    /// use archconv::{Dag, PathStats};
    /// let s = PathStats::of(&Dag::chain(99_999))?;    // 100,000 nodes
    /// assert_eq!((s.num_paths(), s.depth_sum()), (1, 99_999));
    /// # Ok::<(), archconv::paths::PathError>(())
    /// ```
    pub fn of(dag: &Dag) -> Result<PathStats, PathError> {
        Ok(PathStats::from_histogram(output_histogram(dag)?))
    }

    fn from_histogram(mut histogram: Vec<Count>) -> PathStats {
        if histogram.is_empty() {
            histogram.push(Count::ZERO);
        }
        while histogram.len() > 1 && histogram.last().is_some_and(Count::is_zero) {
            histogram.pop();
        }
        let small = small_stats(&histogram);
        let (num_paths, depth_sum) = match &small {
            Some(s) => (Count::from(s.num_paths), Count::from(s.depth_sum)),
            None => {
                let mut p = BigUint::zero();
                let mut sum = BigUint::zero();
                for (d, c) in histogram.iter().enumerate() {
                    let c = c.to_biguint();
                    sum += &c * BigUint::from(d);
                    p += c;
                }
                (Count::from(p), Count::from(sum))
            }
        };
        let nonzero = match (&small, &histogram[0]) {
            (Some(s), _) => Count::from(s.nonzero),
            (None, zero) => Count::from(num_paths.to_biguint() - zero.to_biguint()),
        };
        PathStats {
            histogram,
            small,
            num_paths,
            depth_sum,
            nonzero,
        }
    }

    /// Whether every count (`P`, `sum_p d_p` and each `n(d)`) fits in `u128`, so that the
    /// `u128` accessors can be used. True for any DAG with fewer than about `2^120` paths.
    pub fn fits_u128(&self) -> bool {
        self.small.is_some()
    }

    #[track_caller]
    fn small(&self, what: &str) -> &SmallStats {
        match &self.small {
            Some(s) => s,
            None => panic!(
                "PathStats::{what}: the DAG has {} paths, a count beyond u128; use PathStats::{what}_exact",
                self.num_paths
            ),
        }
    }

    /// `P`, the number of input-to-output paths.
    ///
    /// # Panics
    /// When a count exceeds `u128` (see [`PathStats::fits_u128`]); use
    /// [`PathStats::num_paths_exact`] for DAGs of any size.
    #[track_caller]
    pub fn num_paths(&self) -> u128 {
        self.small("num_paths").num_paths
    }

    /// `P`, exactly, at any size.
    pub fn num_paths_exact(&self) -> &Count {
        &self.num_paths
    }

    /// `n(d)`: the number of paths with `d` linear edges, index = `d`.
    ///
    /// # Panics
    /// When a count exceeds `u128` (see [`PathStats::fits_u128`]); use
    /// [`PathStats::histogram_exact`] for DAGs of any size.
    #[track_caller]
    pub fn histogram(&self) -> &[u128] {
        &self.small("histogram").histogram
    }

    /// `n(d)` by depth `d`, exactly, at any size.
    pub fn histogram_exact(&self) -> &[Count] {
        &self.histogram
    }

    /// `sum_p d_p`.
    ///
    /// # Panics
    /// When a count exceeds `u128` (see [`PathStats::fits_u128`]); use
    /// [`PathStats::depth_sum_exact`] for DAGs of any size.
    #[track_caller]
    pub fn depth_sum(&self) -> u128 {
        self.small("depth_sum").depth_sum
    }

    /// `sum_p d_p = sum_d d n(d)`, exactly, at any size.
    pub fn depth_sum_exact(&self) -> &Count {
        &self.depth_sum
    }

    /// `#{p : d_p > 0}`.
    ///
    /// # Panics
    /// When a count exceeds `u128` (see [`PathStats::fits_u128`]); use
    /// [`PathStats::num_parameterized_paths_exact`] for DAGs of any size.
    #[track_caller]
    pub fn num_parameterized_paths(&self) -> u128 {
        self.small("num_parameterized_paths").nonzero
    }

    /// `#{p : d_p > 0} = P - n(0)`, exactly, at any size.
    pub fn num_parameterized_paths_exact(&self) -> &Count {
        &self.nonzero
    }

    /// Every path's depth `d_p`, sorted ascending (only sensible for small `P`; panics
    /// above 2^24 paths).
    #[track_caller]
    pub fn depths(&self) -> Vec<usize> {
        assert!(self.num_paths <= 1u128 << 24, "too many paths to list");
        let mut out = Vec::new();
        for (d, c) in self.histogram.iter().enumerate() {
            let c = c.to_u128().expect("at most 2^24") as usize;
            out.extend(std::iter::repeat_n(d, c));
        }
        out
    }

    /// Why depth/width are undefined, or `None` when both are defined.
    pub fn undefined(&self) -> Option<Undefined> {
        if self.num_paths.is_zero() {
            Some(Undefined::NoPath)
        } else if self.depth_sum.is_zero() {
            Some(Undefined::ZeroDepth)
        } else {
            None
        }
    }

    /// Effective depth `dbar = sum_p d_p / P` (Def. 4.1) as an exact ratio; `None` when
    /// `P = 0` (see [`PathStats::undefined`]) or when the reduced ratio does not fit in
    /// `u128` (then [`PathStats::effective_depth`] and
    /// [`PathStats::effective_depth_float`] give it rounded).
    pub fn effective_depth_exact(&self) -> Option<Ratio> {
        if self.num_paths.is_zero() {
            return None;
        }
        match (self.depth_sum.to_u128(), self.num_paths.to_u128()) {
            (Some(d), Some(p)) => Some(Ratio::new(d, p)),
            _ => big_ratio(&self.depth_sum.to_biguint(), &self.num_paths.to_biguint()),
        }
    }

    /// Effective width `mbar = #{d_p > 0} / dbar = #{d_p>0} P / sum_p d_p` (Def. 4.1),
    /// exact; `None` when `P = 0` or `dbar = 0`, or when the reduced ratio does not fit in
    /// `u128` (then [`PathStats::effective_width`] and
    /// [`PathStats::effective_width_float`] give it rounded).
    pub fn effective_width_exact(&self) -> Option<Ratio> {
        if self.undefined().is_some() {
            return None;
        }
        if let (Some(nonzero), Some(p), Some(sum)) = (
            self.nonzero.to_u128(),
            self.num_paths.to_u128(),
            self.depth_sum.to_u128(),
        ) {
            // nonzero * P can exceed u128: reduce first.
            let g1 = gcd(nonzero, sum);
            let g2 = gcd(p, sum / g1);
            if let Some(num) = (nonzero / g1).checked_mul(p / g2) {
                return Some(Ratio::new(num, sum / g1 / g2));
            }
        }
        let (num, den) = self.width_ratio();
        big_ratio(&num, &den)
    }

    /// `(#{d_p > 0} P, sum_p d_p)`, unreduced.
    fn width_ratio(&self) -> (BigUint, BigUint) {
        (
            self.nonzero.to_biguint() * self.num_paths.to_biguint(),
            self.depth_sum.to_biguint(),
        )
    }

    /// Effective depth as the `f64` nearest to the exact ratio (ties to even, relative
    /// error at most `2^-53`); `None` when undefined or, only for DAGs with more than
    /// `2^1022` paths, below `f64`'s normal range (see [`PathStats::effective_depth_float`]).
    pub fn effective_depth(&self) -> Option<f64> {
        match self.effective_depth_exact() {
            Some(r) => Some(r.to_f64()),
            None => self.effective_depth_float()?.to_f64(),
        }
    }

    /// Effective width as the `f64` nearest to the exact ratio (ties to even, relative
    /// error at most `2^-53`); `None` when undefined or, only for DAGs with more than
    /// `2^1024` paths, above `f64::MAX` (see [`PathStats::effective_width_float`]).
    pub fn effective_width(&self) -> Option<f64> {
        match self.effective_width_exact() {
            Some(r) => Some(r.to_f64()),
            None => self.effective_width_float()?.to_f64(),
        }
    }

    /// Effective depth rounded to 53 bits with an unbounded exponent (relative error at
    /// most `2^-53`); `None` only when undefined (`P = 0`).
    pub fn effective_depth_float(&self) -> Option<WideFloat> {
        (!self.num_paths.is_zero()).then(|| {
            WideFloat::from_ratio(&self.depth_sum.to_biguint(), &self.num_paths.to_biguint())
        })
    }

    /// Effective width rounded to 53 bits with an unbounded exponent (relative error at
    /// most `2^-53`), finite however many paths the DAG has; `None` only when undefined.
    ///
    /// ```
    /// use archconv::{Dag, Edge, Op, PathStats};
    /// // Nodes 0..=1100, consecutive ones joined by two linear edges: P = 2^1100 paths of
    /// // depth 1100, so mbar = P / 1100, beyond f64.
    /// let edges = (0..1100)
    ///     .flat_map(|i| [Edge::new(i, i + 1, Op::Linear), Edge::new(i, i + 1, Op::Linear)])
    ///     .collect();
    /// let s = PathStats::of(&Dag::new(1101, edges).unwrap())?;
    /// assert_eq!(s.effective_width(), None);
    /// let w = s.effective_width_float().unwrap();
    /// assert!((w.log2() - (1100.0 - 1100f64.log2())).abs() < 1e-9);
    /// assert_eq!(w.to_string(), "1.2348168445903508e328");
    /// # Ok::<(), archconv::paths::PathError>(())
    /// ```
    pub fn effective_width_float(&self) -> Option<WideFloat> {
        if self.undefined().is_some() {
            return None;
        }
        let (num, den) = self.width_ratio();
        Some(WideFloat::from_ratio(&num, &den))
    }
}

/// `num / den` in lowest terms as a [`Ratio`], when both fit in `u128`.
fn big_ratio(num: &BigUint, den: &BigUint) -> Option<Ratio> {
    let g = big_gcd(num, den);
    let (n, d) = ((num / &g).to_u128()?, (den / &g).to_u128()?);
    Some(Ratio { num: n, den: d })
}

/// The `u128` form of a histogram, with `P`, `sum d n(d)` and `P - n(0)`, when all fit.
fn small_stats(histogram: &[Count]) -> Option<SmallStats> {
    let histogram: Vec<u128> = histogram
        .iter()
        .map(Count::to_u128)
        .collect::<Option<_>>()?;
    let mut num_paths: u128 = 0;
    let mut depth_sum: u128 = 0;
    for (d, &c) in histogram.iter().enumerate() {
        num_paths = num_paths.checked_add(c)?;
        depth_sum = (d as u128).checked_mul(c)?.checked_add(depth_sum)?;
    }
    let nonzero = num_paths - histogram[0];
    Some(SmallStats {
        histogram,
        num_paths,
        depth_sum,
        nonzero,
    })
}

/// One live node of the output-histogram DP: counts of depths `lo..lo + cells`, each in
/// `stride` little-endian 64-bit words, followed by the node's path count `P_t` (also
/// `stride` words).
struct LiveHistogram {
    lo: usize,
    stride: usize,
    words: Vec<u64>,
}

impl LiveHistogram {
    fn counts(&self) -> &[u64] {
        &self.words[..self.words.len() - self.stride]
    }

    fn total(&self) -> &[u64] {
        &self.words[self.words.len() - self.stride..]
    }
}

/// Per-node facts of the first pass.
#[derive(Clone, Copy)]
struct NodeInfo {
    /// Shortest and longest path depth (`lo > hi`: no path reaches the node).
    lo: usize,
    hi: usize,
    /// `P_t` in floating point (for the memory estimate only; infinite above `2^1024`,
    /// then [`output_histogram`] redoes the sums in `log2`).
    paths: f64,
    /// The last successor (the node's histogram is freed after it).
    last_use: usize,
    /// Successors not yet processed.
    pending: usize,
}

impl NodeInfo {
    fn reached(&self) -> bool {
        self.lo <= self.hi
    }
}

const UNREACHED: NodeInfo = NodeInfo {
    lo: 1,
    hi: 0,
    paths: 0.0,
    last_use: 0,
    pending: 0,
};

/// Checks an estimate against the budget, formatting the description only on refusal.
fn check_budget(
    what: impl FnOnce() -> String,
    needed: Option<u64>,
) -> Result<(), crate::budget::BudgetError> {
    crate::budget::check(String::new(), needed).or_else(|_| crate::budget::check(what(), needed))
}

/// The output's depth histogram `n_H(d)`, `d = 0..=longest` (empty: no path), by the DP of
/// the module docs with histograms freed after their last use.
fn output_histogram(dag: &Dag) -> Result<Vec<Count>, PathError> {
    let n = dag.num_nodes();
    let output = dag.output();
    // The node table, the histogram slots, the release list (16) and log2 sums (8).
    let per_node =
        std::mem::size_of::<NodeInfo>() + std::mem::size_of::<Option<LiveHistogram>>() + 24;
    check_budget(
        || format!("path statistics (node table of {n} nodes)"),
        crate::budget::bytes(n, per_node),
    )?;
    // Pass 1: depth extents, approximate path counts, last use, out-degrees.
    let mut info = vec![UNREACHED; n];
    for &i in dag.inputs() {
        info[i] = NodeInfo {
            lo: 0,
            hi: 0,
            paths: 1.0,
            ..UNREACHED
        };
    }
    let edges = dag.edges();
    for e in edges {
        let src = info[e.from];
        let Some(shift) = e.op.depth() else { continue };
        if !src.reached() {
            continue;
        }
        let dst = &mut info[e.to];
        if dst.reached() {
            (dst.lo, dst.hi) = (dst.lo.min(src.lo + shift), dst.hi.max(src.hi + shift));
        } else {
            (dst.lo, dst.hi) = (src.lo + shift, src.hi + shift);
        }
        dst.paths += src.paths;
        let src = &mut info[e.from];
        src.last_use = e.to; // edges are sorted by target: the last one seen is the max
        src.pending += 1;
    }
    // Words per count: floor(log2 P_t / 64) + 1, from the f64 exponent, or from log2 sums
    // when some count is beyond f64 (above 2^1024).
    let log2_paths: Option<Vec<f64>> = info.iter().any(|x| x.paths.is_infinite()).then(|| {
        let mut l: Vec<f64> = info
            .iter()
            .enumerate()
            .map(|(t, _)| {
                if dag.is_input(t) {
                    0.0
                } else {
                    f64::NEG_INFINITY
                }
            })
            .collect();
        for e in edges {
            if !e.op.is_absent() && info[e.from].reached() {
                l[e.to] = log2_add(l[e.to], l[e.from]);
            }
        }
        l
    });
    let words_of = |t: usize| -> u64 {
        let log2 = match &log2_paths {
            Some(l) => l[t].max(0.0).floor() as u64,
            None => ((info[t].paths.to_bits() >> 52) & 0x7ff).saturating_sub(1023),
        };
        log2 / 64 + 1
    };
    // Memory: a node's histogram (and P_t) lives from the node to its last successor.
    let live_at = |t: usize, x: &NodeInfo| x.reached() && (x.pending > 0 || t == output);
    let mut release = vec![(0u64, 0u64); n + 1];
    let (mut live, mut peak, mut live_counts, mut peak_counts) = (0u64, 0u64, 0u64, 0u64);
    for t in 0..n {
        let x = &info[t];
        if live_at(t, x) {
            let cells = (x.hi - x.lo + 1) as u64;
            let bytes = (cells + 1).saturating_mul(words_of(t) * 8) + 48;
            live = live.saturating_add(bytes);
            live_counts += cells;
            let end = if t == output { n } else { x.last_use + 1 };
            release[end].0 += bytes;
            release[end].1 += cells;
        }
        peak = peak.max(live);
        peak_counts = peak_counts.max(live_counts);
        live = live.saturating_sub(release[t + 1].0);
        live_counts -= release[t + 1].1;
    }
    drop(release);
    let out = info[output];
    let out_bytes = if out.reached() {
        ((out.hi + 1) as u64).saturating_mul(48 + 8 * words_of(output))
    } else {
        0
    };
    check_budget(
        || {
            format!(
                "path statistics (depth histograms of {n} nodes, up to {peak_counts} counts live)"
            )
        },
        // Half again for the allocator: histograms of many sizes freed in interleaved
        // order fragment the heap (WS(10000, 4, 0.1): 592 MiB live, 896 MiB resident).
        peak.saturating_add(peak / 2).checked_add(out_bytes),
    )?;
    drop(log2_paths);
    // Pass 2: the exact DP over nodes in index (topological) order.
    let mut hist: Vec<Option<LiveHistogram>> = (0..n).map(|_| None).collect();
    let mut scratch: Vec<u64> = Vec::new();
    let mut next = 0;
    for t in 0..n {
        let first = next;
        while next < edges.len() && edges[next].to == t {
            next += 1;
        }
        let incoming = &edges[first..next];
        let x = info[t];
        if dag.is_input(t) {
            hist[t] = Some(LiveHistogram {
                lo: 0,
                stride: 1,
                words: vec![1, 1],
            });
        } else if live_at(t, &x) {
            let preds = || {
                incoming
                    .iter()
                    .filter(|e| !e.op.is_absent() && info[e.from].reached())
                    .map(|e| (e, hist[e.from].as_ref().expect("a live predecessor")))
            };
            // P_t = sum of the predecessors' counts, exactly.
            let width = preds().map(|(_, h)| h.stride).max().expect("reached") + 1;
            scratch.clear();
            scratch.resize(width, 0);
            for (_, src) in preds() {
                add_words(&mut scratch, src.total());
            }
            while scratch.len() > 1 && scratch.last() == Some(&0) {
                scratch.pop();
            }
            let stride = scratch.len();
            let cells = x.hi - x.lo + 1;
            let mut words = vec![0; (cells + 1) * stride];
            words[cells * stride..].copy_from_slice(&scratch);
            for (e, src) in preds() {
                let offset = src.lo + e.op.depth().expect("a present edge") - x.lo;
                add_cells(&mut words, stride, src.counts(), src.stride, offset);
            }
            hist[t] = Some(LiveHistogram {
                lo: x.lo,
                stride,
                words,
            });
        }
        // Free the predecessors whose last successor this was.
        for e in incoming {
            if e.op.is_absent() || !info[e.from].reached() {
                continue;
            }
            let s = &mut info[e.from];
            s.pending -= 1;
            if s.pending == 0 && e.from != output {
                hist[e.from] = None;
            }
        }
    }
    let Some(out) = hist[output].take() else {
        return Ok(Vec::new());
    };
    drop(hist);
    let mut dense = Vec::with_capacity(out.lo + out.counts().len() / out.stride);
    dense.resize(out.lo, Count::ZERO);
    dense.extend(out.counts().chunks_exact(out.stride).map(words_to_count));
    Ok(dense)
}

/// `log2(2^a + 2^b)` without overflow (`-inf` is the log of 0).
fn log2_add(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a >= b { (a, b) } else { (b, a) };
    if lo == f64::NEG_INFINITY {
        hi
    } else {
        hi + (lo - hi).exp2().ln_1p() * std::f64::consts::LOG2_E
    }
}

/// `acc += x` on little-endian words, `x.len() <= acc.len()`; the sum must fit in `acc`
/// (a carry out of the top word is a bug, caught in debug builds).
#[inline]
fn add_words(acc: &mut [u64], x: &[u64]) {
    let (low, high) = acc.split_at_mut(x.len());
    let mut carry = false;
    for (a, &b) in low.iter_mut().zip(x) {
        let (s1, c1) = a.overflowing_add(b);
        let (s2, c2) = s1.overflowing_add(u64::from(carry));
        *a = s2;
        carry = c1 | c2;
    }
    if carry {
        for a in high.iter_mut() {
            let (s, c) = a.overflowing_add(1);
            *a = s;
            carry = c;
            if !c {
                break;
            }
        }
    }
    debug_assert!(!carry, "sum wider than its accumulator");
}

/// `dst[offset + k] += src[k]` for every count `k`, counts of `ds` and `ss` words
/// (`ss <= ds`; every sum fits in `ds` words because it is at most the node's `P_t`).
fn add_cells(dst: &mut [u64], ds: usize, src: &[u64], ss: usize, offset: usize) {
    let dst = &mut dst[offset * ds..];
    match (ds, ss) {
        (1, 1) => {
            for (d, &s) in dst.iter_mut().zip(src) {
                *d += s;
            }
        }
        (2, _) => {
            for (d, s) in dst.chunks_exact_mut(2).zip(src.chunks_exact(ss)) {
                let a = u128::from(d[0]) | (u128::from(d[1]) << 64);
                let b = u128::from(s[0]) | (s.get(1).map_or(0, |&h| u128::from(h)) << 64);
                let c = a + b;
                d[0] = c as u64;
                d[1] = (c >> 64) as u64;
            }
        }
        _ => {
            for (d, s) in dst.chunks_exact_mut(ds).zip(src.chunks_exact(ss)) {
                add_words(d, s);
            }
        }
    }
}

/// A count from little-endian 64-bit words.
fn words_to_count(words: &[u64]) -> Count {
    match words {
        [a] => Count::from(u128::from(*a)),
        [a, b] => Count::from(u128::from(*a) | (u128::from(*b) << 64)),
        _ => Count::from(BigUint::new(
            words
                .iter()
                .flat_map(|&w| [w as u32, (w >> 32) as u32])
                .collect(),
        )),
    }
}

/// One enumerated path: the nodes it visits and its number of linear edges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    /// Edge indices into [`Dag::edges`], in order.
    pub edges: Vec<usize>,
    /// Number of linear edges `d_p`.
    pub depth: usize,
}

/// Depth-first enumeration of all input-to-output paths (for small DAGs and for checking
/// the DP). Multi-edges give distinct paths.
///
/// ```
/// use archconv::{Dag, paths::enumerate_paths};
/// let mut d: Vec<usize> = enumerate_paths(&Dag::dag3()).map(|p| p.depth).collect();
/// d.sort();
/// assert_eq!(d, vec![0, 1, 2, 2]);
/// ```
pub fn enumerate_paths(dag: &Dag) -> impl Iterator<Item = Path> + '_ {
    let out = dag.output();
    let mut by_source: Vec<Vec<usize>> = vec![Vec::new(); dag.num_nodes()];
    for (i, e) in dag.edges().iter().enumerate() {
        if !e.op.is_absent() {
            by_source[e.from].push(i);
        }
    }
    // Stack of (node, edges so far).
    let mut stack: Vec<(usize, Vec<usize>)> =
        dag.inputs().iter().rev().map(|&i| (i, vec![])).collect();
    std::iter::from_fn(move || {
        while let Some((node, edges)) = stack.pop() {
            if node == out {
                let depth = edges
                    .iter()
                    .filter_map(|&i| dag.edges()[i].op.depth())
                    .sum();
                return Some(Path { edges, depth });
            }
            for &i in by_source[node].iter().rev() {
                let mut next = edges.clone();
                next.push(i);
                stack.push((dag.edges()[i].to, next));
            }
        }
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wide(num: u128, den: u128) -> WideFloat {
        WideFloat::from_ratio(&BigUint::from(num), &BigUint::from(den))
    }

    #[test]
    fn wide_float_rounds_ties_to_even_like_f64() {
        let two53 = 1u128 << 53;
        // 2^53 + 1 is halfway between 2^53 and 2^53 + 2: even wins (2^53).
        assert_eq!(wide(two53 + 1, 1).to_f64(), Some(two53 as f64));
        // 2^53 + 3 is halfway between 2^53 + 2 and 2^53 + 4: even wins (2^53 + 4).
        assert_eq!(wide(two53 + 3, 1).to_f64(), Some((two53 + 4) as f64));
        // Just above a tie rounds up; u128 -> f64 casts round to nearest too.
        let x = (two53 << 70) + (1 << 70) + 1;
        assert_eq!(wide(x, 1).to_f64(), Some(x as f64));
        for (num, den) in [(1, 3), (2, 3), (10, 7), (1, 1 << 100), (u128::MAX, 3)] {
            let want = num as f64 / den as f64;
            // Reference: exact operands below 2^53, else the cast (one rounding each) is
            // within an ulp; exact equality is asserted where the reference is exact.
            if num <= two53 && den <= two53 {
                assert_eq!(wide(num, den).to_f64(), Some(want), "{num}/{den}");
            } else {
                let got = wide(num, den).to_f64().unwrap();
                assert!((got - want).abs() <= want * f64::EPSILON, "{num}/{den}");
            }
        }
        assert_eq!(wide(0, 5), WideFloat::ZERO);
        assert_eq!(WideFloat::ZERO.to_f64(), Some(0.0));
    }

    #[test]
    fn wide_float_decimal_digits_are_rounded_from_the_exact_value() {
        // 2^1100 = 1.3582985290493858492...e331: 17 digits rounded from the exact integer.
        let w = WideFloat::from_ratio(&(BigUint::from(1u8) << 1100u32), &BigUint::from(1u8));
        let exact = (BigUint::from(1u8) << 1100u32).to_string();
        let (digits, exp10) = w.decimal(17);
        assert_eq!(exp10 as usize, exact.len() - 1);
        let head: u64 = exact[..17].parse().unwrap();
        let next = exact.as_bytes()[17] - b'0';
        let want = head + u64::from(next >= 5);
        assert_eq!(std::str::from_utf8(&digits).unwrap(), want.to_string());
        // Below f64's range: 2^-1100.
        let tiny = WideFloat::from_ratio(&BigUint::from(1u8), &(BigUint::from(1u8) << 1100u32));
        assert_eq!(tiny.to_f64(), None);
        assert!(tiny.to_string().ends_with("e-332"), "{tiny}");
        assert!((tiny.log2() + 1100.0).abs() < 1e-12);
    }

    #[test]
    fn word_additions_carry_across_words() {
        let mut acc = [u64::MAX, u64::MAX, 0];
        add_words(&mut acc, &[1]);
        assert_eq!(acc, [0, 0, 1]);
        let mut cells = [u64::MAX, 0, 0, 5, 0, 0];
        add_cells(&mut cells, 3, &[1, 2], 1, 0);
        assert_eq!(cells, [0, 1, 0, 7, 0, 0]);
        let mut two = [u64::MAX, 0, 1, 1];
        add_cells(&mut two, 2, &[1, 0, 2, 3], 2, 0);
        assert_eq!(two, [0, 1, 3, 4]);
        assert_eq!(words_to_count(&[5]), 5u128);
        assert_eq!(words_to_count(&[0, 1]), 1u128 << 64);
        assert_eq!(
            words_to_count(&[0, 0, 1]).to_biguint(),
            BigUint::from(1u8) << 128u32
        );
        assert_eq!(words_to_count(&[7, 0, 0]), 7u128);
    }
}
