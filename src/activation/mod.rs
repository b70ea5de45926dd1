//! Activations and their Gaussian expectations (PAPER.md section 9).
//!
//! A parameterized edge computes `phi(z)`, `z = sqrt(sw2/m) W x + sqrt(sb2) b`. At infinite
//! width the edge maps a Gram `K` to Gram matrices of its output through expectations over
//! a centred Gaussian pair
//!
//! ```text
//! (u, v) ~ N(0, [[s11, s12], [s12, s22]]),   Sigma = sw2 K + sb2 (sb2 added to every entry)
//! dual(Nngp) = E[phi(u) phi(v)]            (the NNGP map F_e of section 9)
//! dual(Ntk)  = E[phi'(u) phi'(v)]          (the NTK map Fd_e without its sw2 factor)
//! mean(s)    = E[phi(u)],  u ~ N(0, s)     (the edge mean a_e of sections 7 and 9)
//! ```
//!
//! | activation | `phi(x)` | duals | mean |
//! |---|---|---|---|
//! | [`Activation::Relu`] | `max(x, 0)` | arc-cosine, closed | `sqrt(s / 2 pi)` |
//! | [`Activation::AbRelu`] | `b x` (x >= 0), `a x` (x < 0) | closed (ReLU moments, `rho -> -rho` for the mixed terms) | `(b - a) sqrt(s / 2 pi)` |
//! | [`Activation::Abs`] | `\|x\|` | closed (= ABReLU(-1, 1)) | `sqrt(2 s / pi)` |
//! | [`Activation::Erf`] | `erf(x)` | closed (`asin`) | 0 |
//! | [`Activation::Identity`] | `x` | `s12`, 1 | 0 |
//! | [`Activation::Gelu`] | `x Phi(x)` | closed (derived in `gelu.rs`) | `s / sqrt(2 pi (1 + s))` |
//! | [`Activation::Tanh`], [`Activation::Softplus`], [`Activation::Silu`], [`Activation::Custom`] | | quadrature | quadrature |
//!
//! Each activation's formulas are in the doc of its file (`relu.rs`, `abrelu.rs`, ...).
//!
//! # Conventions
//!
//! * Kinks: `phi'(0) = 0` for ReLU, leaky ReLU, ABReLU and Abs (`relu'(0) = abs'(0) = 0`),
//!   except ABReLU with `a = b` (no kink, `phi'(0) = b`). This only matters where a
//!   variance is zero.
//! * Zero variance: a variable of variance 0 is the constant 0, so
//!   `E[f(0) f(v)] = f(0) E[f(v)]` and `f(0)^2` when both are (`f = phi` or `phi'`). For
//!   ReLU's NTK dual this gives 0, while [`crate::kernel::relu::fdot_matrix`] puts `1/2`
//!   (its value at correlation 0) on such rows; both are multiplied by zero Gram entries
//!   in the NTK recursion.
//! * `rho = s12 / sqrt(s11 s22)` is clamped to `[-1, 1]`: finite input that is PSD up to
//!   rounding never gives NaN; NaN input gives NaN.
//!
//! # Accuracy
//!
//! Quadrature (notes in `quadrature.rs`): Gauss–Legendre on panels split at the kinks
//! (`u = 0`, `v = 0`) and graded with the standard deviations. Against every closed form,
//! over `s11, s22 in {1e-3, 0.1, 1, 10, 1e3}` (and pairs up to 1e4) and
//! `rho in {-1, -0.999, -0.5, 0, 0.3, 0.999, 1}` (`tests/activation.rs`), the worst
//! difference relative to the scale `sqrt(E[f(u)^2] E[f(v)^2])` is
//!
//! | | NNGP dual | NTK dual |
//! |---|---|---|
//! | ReLU, leaky ReLU, ABReLU | 1.3e-15 | 1.1e-15 |
//! | Abs | 2.4e-15 | 7.8e-16 |
//! | erf | 2.5e-15 | 4.2e-14 (*) |
//! | identity | 1.9e-15 | 1.3e-15 |
//! | GELU | 1.3e-15 | 1.8e-15 |
//!
//! (*) at `s11 = s22 = 1e3, rho = -0.999`, where the dual's condition number in `s12` is
//! ~300: both routes are within a few ulps of the input times that. The tests allow 32 ulps
//! of the scale plus 8 ulps of the inputs propagated through the dual's sensitivity. Means
//! agree to the same level; tables in `theta` stay within 32 ulps of the scale of the
//! per-entry quadrature. Closed forms are accurate to a few ulps of the scale except where
//! the problem is ill-conditioned: near `rho = ±1` the duals of kinked activations move
//! like `sqrt(1 - |rho|)`, so correlations within 4 ulps of `±1` are taken as `±1`, and
//! diagonals use the one-dimensional formula.
//!
//! # Matrices and cost
//!
//! [`Activation::dual_matrix`] computes the strict lower triangle (rows in parallel), mirrors
//! it (exact symmetry) and takes the diagonal from the 1-D expectation.
//!
//! * Closed forms: one branch-free formula per entry on per-point data computed once
//!   (`sqrt(s)`, `1/sqrt(1 + 2 s)`, ...), vectorised; ABReLU, Abs, erf and GELU cost about
//!   what ReLU costs.
//! * Quadrature activations: the entries sharing a pair of diagonal values
//!   `(Sigma_ii, Sigma_jj)` (values within 4e-15 relative count as equal) lie on one function
//!   of `theta = arccos(rho)`; it is interpolated once per pair by an adaptive piecewise
//!   Chebyshev series (`table.rs`: 33–65 samples for variances up to ~10, a few hundred
//!   at 1e2, ~1000 at 1e4; each sample is one 2-D quadrature of ~1.5e4–4e4 evaluations of
//!   `phi`, ~0.2–0.5 ms) and evaluated per entry by Clenshaw's recurrence (~50 terms).
//!   With a constant diagonal (normalised inputs) there is one table per call.
//! * When there are so many distinct diagonal values that the tables would cost more than
//!   the entries (`pairs * 65 >= N (N - 1) / 2`), each entry is one 2-D quadrature instead
//!   (~0.2–0.5 ms per entry, rows in parallel): correct but slow for large `N`
//!   (`N = 1000` with all-distinct diagonal values: minutes).
//!
//! Measured per entry at `N = 1000` (constant diagonal, table build included, 2 cores
//! shared with other work; `cargo bench --bench model`, groups `model_dual_nngp` and `model_dual_ntk`):
//! ABReLU, erf and GELU cost 0.6–1.1 times what ReLU costs (~2–4 ns), tanh and SiLU
//! 9–21 times. The table build (33–65 quadratures, ~20–40 ms) dominates at this size, so
//! the quadrature ratio falls as `N` grows (the Clenshaw evaluation alone is ~1.5–3x ReLU).
//! Odd or even activations (tanh, erf, abs, identity) sample only half the angles
//! (`f(pi - theta) = ±f(theta)`).
//!
//! [`Activation::dual_matrix_by`] forces a route ([`Route`]); the tests use it to check tables
//! and per-entry quadrature against the closed forms.
//!
//! # Adding an activation
//!
//! One file, plus one line in each of three lists in `mod.rs`. Write `foo.rs` with a unit
//! struct implementing the private `Rule` trait (`phi`, `dphi`, `spec`; for a closed form
//! also `CLOSED = true`, `point`, `closed`, `means`, `diag`; without one the quadrature
//! defaults apply) and a `SPEC` (name, parameter names, constructor). Then add the variant
//! to [`Activation`], its arm to the `with_rule!` dispatch (the one `match` every method
//! goes through; the compiler flags a missing arm there and in `PartialEq`), and
//! `foo::SPEC` to the parser's list `SPECS` (which also feeds [`NAMES`]).
//!
//! ```
//! use archconv::activation::{Activation, Dual};
//! let erf: Activation = "erf".parse()?;
//! let k = ndarray::array![[1.0, 0.3], [0.3, 2.0]];
//! let f = erf.dual_matrix(k.view(), 1.0, 0.1, Dual::Nngp);
//! assert_eq!(f[[0, 1]], f[[1, 0]]);
//! assert!((f[[0, 1]] - erf.dual(Dual::Nngp, 1.1, 2.1, 0.4)).abs() < 1e-15);
//! # Ok::<(), archconv::activation::ActivationError>(())
//! ```

mod abrelu;
mod abs;
mod custom;
mod erf;
mod gelu;
mod identity;
mod matrix;
mod quadrature;
mod relu;
mod rule;
mod silu;
mod softplus;
mod table;
mod tanh;

pub use custom::Custom;

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use rule::How;
use std::fmt;
use std::str::FromStr;

/// Which Gaussian expectation of a pair `(u, v) ~ N(0, [[s11, s12], [s12, s22]])`
/// (PAPER.md section 9).
///
/// ```
/// use archconv::activation::{Activation, Dual};
/// // ReLU: E[relu(u) relu(v)] at rho = 0 is the product of the means; E[1 1] = 1/4.
/// let r = Activation::Relu;
/// assert!((r.dual(Dual::Nngp, 1.0, 1.0, 0.0) - 1.0 / (2.0 * std::f64::consts::PI)).abs() < 1e-16);
/// assert!((r.dual(Dual::Ntk, 1.0, 1.0, 0.0) - 0.25).abs() < 1e-16);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dual {
    /// `E[phi(u) phi(v)]` (NNGP dual).
    Nngp,
    /// `E[phi'(u) phi'(v)]` (NTK dual, without the `sw2` factor).
    Ntk,
}

/// An edge's activation `phi` (PAPER.md section 9). Specification strings: see
/// [`Activation::parse`]; formulas: the module docs.
///
/// ```
/// use archconv::activation::Activation;
/// let a = Activation::parse("leaky_relu(0.1)")?;
/// assert_eq!(a, Activation::AbRelu { a: 0.1, b: 1.0 });
/// assert_eq!(a.phi(-2.0), -0.2);
/// assert_eq!(Activation::default(), Activation::Relu);
/// # Ok::<(), archconv::activation::ActivationError>(())
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum Activation {
    /// `max(x, 0)`.
    #[default]
    Relu,
    /// `a x` for `x < 0`, `b x` for `x >= 0` (leaky ReLU: `a` = slope, `b = 1`).
    AbRelu {
        /// Slope below zero.
        a: f64,
        /// Slope above zero.
        b: f64,
    },
    /// `|x|`.
    Abs,
    /// `erf(x)`.
    Erf,
    /// `x` (a linear edge without activation).
    Identity,
    /// `x Phi(x)` (exact GELU).
    Gelu,
    /// `tanh(x)`.
    Tanh,
    /// `ln(1 + e^x)`.
    Softplus,
    /// `x / (1 + e^-x)`.
    Silu,
    /// A user-supplied function.
    Custom(Custom),
}

/// Runs `$body` with `$r` bound to the activation's rule (a concrete type, so the body is
/// compiled, and inlined, once per activation). The one dispatch point of the module.
macro_rules! with_rule {
    ($act:expr, $r:ident => $body:expr) => {
        match $act {
            Activation::Relu => {
                let $r = &relu::Relu;
                $body
            }
            Activation::AbRelu { a, b } => {
                let $r = &abrelu::AbRelu { a: *a, b: *b };
                $body
            }
            Activation::Abs => {
                let $r = &abs::Abs;
                $body
            }
            Activation::Erf => {
                let $r = &erf::Erf;
                $body
            }
            Activation::Identity => {
                let $r = &identity::Identity;
                $body
            }
            Activation::Gelu => {
                let $r = &gelu::Gelu;
                $body
            }
            Activation::Tanh => {
                let $r = &tanh::Tanh;
                $body
            }
            Activation::Softplus => {
                let $r = &softplus::Softplus;
                $body
            }
            Activation::Silu => {
                let $r = &silu::Silu;
                $body
            }
            Activation::Custom(c) => {
                let $r = c;
                $body
            }
        }
    };
}

// After `with_rule!`, which it uses.
mod entry;
pub(crate) use entry::ClosedRows;
pub use entry::EntryMap;

/// One accepted form of a specification string: `name` or `name(p1,p2,...)`.
pub(crate) struct Spec {
    /// Canonical name (what [`NAMES`] lists).
    name: &'static str,
    /// Other accepted names.
    aliases: &'static [&'static str],
    /// Parameter names, in order.
    params: &'static [&'static str],
    /// Builds the activation from finite parameters.
    build: fn(&[f64]) -> Activation,
}

/// Every specification the parser accepts, in the order of [`NAMES`].
const SPECS: [Spec; 10] = [
    relu::SPEC,
    abrelu::LEAKY,
    abrelu::SPEC,
    abs::SPEC,
    erf::SPEC,
    identity::SPEC,
    gelu::SPEC,
    tanh::SPEC,
    softplus::SPEC,
    silu::SPEC,
];

/// The activation names [`Activation::parse`] accepts (parameters in parentheses:
/// `leaky_relu(ALPHA)`, `abrelu(A,B)`; `linear` is an alias of `identity`), for help text.
///
/// ```
/// use archconv::activation::{Activation, NAMES};
/// assert_eq!(NAMES[0], "relu");
/// assert!(NAMES.contains(&"gelu"));
/// for name in NAMES.iter().filter(|n| !n.contains("relu") || **n == "relu") {
///     assert_eq!(Activation::parse(name)?.to_string(), *name);
/// }
/// # Ok::<(), archconv::activation::ActivationError>(())
/// ```
pub const NAMES: &[&str] = &{
    let mut names = [""; SPECS.len()];
    let mut i = 0;
    while i < SPECS.len() {
        names[i] = SPECS[i].name;
        i += 1;
    }
    names
};

/// `relu, leaky_relu(alpha), abrelu(a,b), ..., identity (alias linear), ...`.
fn usage_list() -> String {
    SPECS
        .iter()
        .map(|s| {
            let mut u = s.name.to_string();
            if !s.params.is_empty() {
                u.push('(');
                u.push_str(&s.params.join(","));
                u.push(')');
            }
            for a in s.aliases {
                u.push_str(&format!(" (alias {a})"));
            }
            u
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A bad activation specification ([`Activation::parse`]).
///
/// ```
/// use archconv::activation::{Activation, ActivationError};
/// let e = Activation::parse("leaky_relu(nan)").unwrap_err();
/// assert!(matches!(e, ActivationError::NonFinite { .. }));
/// assert!(e.to_string().contains("alpha"));
/// let e = Activation::parse("swish").unwrap_err();
/// assert!(e.to_string().contains("gelu"), "lists the known names: {e}");
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ActivationError {
    /// Unknown name.
    #[error(
        "unknown activation `{name}`; known: {known} (custom activations are built in code \
         with Activation::custom and cannot be parsed or deserialised)",
        known = usage_list()
    )]
    Unknown {
        /// The name given.
        name: String,
    },
    /// A known name with the wrong number of parameters.
    #[error("activation `{name}` takes {expected} parameter(s) ({usage}), got {got}")]
    Arity {
        /// The name given.
        name: String,
        /// Parameters it takes.
        expected: usize,
        /// Parameters given.
        got: usize,
        /// Its syntax, e.g. `leaky_relu(alpha)`.
        usage: String,
    },
    /// A parameter that is not a number.
    #[error("activation `{name}`: parameter `{param}` = `{text}` is not a number")]
    BadNumber {
        /// The name given.
        name: String,
        /// The parameter's name.
        param: &'static str,
        /// The text given for it.
        text: String,
    },
    /// A parameter that is NaN or infinite.
    #[error("activation `{name}`: parameter `{param}` = {value} must be finite")]
    NonFinite {
        /// The name given.
        name: String,
        /// The parameter's name.
        param: &'static str,
        /// The value given.
        value: f64,
    },
    /// A string that is not `NAME` or `NAME(P1,P2,...)`.
    #[error(
        "activation specification `{spec}`: {reason}; write NAME or NAME(P1,...), e.g. \
         relu or leaky_relu(0.1)"
    )]
    Syntax {
        /// The string given.
        spec: String,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Splits `name(p1, p2)` into `("name", ["p1", "p2"])`.
fn split_spec(spec: &str) -> Result<(&str, Vec<&str>), ActivationError> {
    let syntax = |reason| ActivationError::Syntax {
        spec: spec.to_string(),
        reason,
    };
    let s = spec.trim();
    let (head, args) = match s.find('(') {
        None => (s, Vec::new()),
        Some(open) => {
            let rest = s[open + 1..]
                .strip_suffix(')')
                .ok_or_else(|| syntax("missing closing `)` at the end"))?;
            if rest.contains(['(', ')']) {
                return Err(syntax("nested parentheses"));
            }
            let args = if rest.trim().is_empty() {
                Vec::new()
            } else {
                rest.split(',').map(str::trim).collect()
            };
            (s[..open].trim_end(), args)
        }
    };
    if head.is_empty() {
        return Err(syntax("empty name"));
    }
    if !head.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(syntax(
            "a name has only letters, digits and `_` (parameters go in parentheses)",
        ));
    }
    Ok((head, args))
}

impl Activation {
    /// Parses a specification: `NAME` or `NAME(P1,P2,...)`, names case-insensitive,
    /// spaces allowed around tokens. Accepted: `relu`, `leaky_relu(ALPHA)`,
    /// `abrelu(A,B)`, `abs`, `erf`, `identity` (alias `linear`), `gelu`, `tanh`,
    /// `softplus`, `silu` ([`NAMES`]). Parameters are finite numbers. `Display` writes the
    /// canonical form, which parses back to an equal activation.
    ///
    /// # Errors
    ///
    /// [`ActivationError`]: unknown name (the message lists the known ones), wrong number
    /// of parameters, a parameter that is not a number or not finite, bad syntax.
    ///
    /// ```
    /// use archconv::activation::Activation;
    /// assert_eq!(Activation::parse("ReLU")?, Activation::Relu);
    /// assert_eq!(Activation::parse("abrelu(-0.5, 1.5)")?, Activation::AbRelu { a: -0.5, b: 1.5 });
    /// assert_eq!(Activation::parse("linear")?.to_string(), "identity");
    /// assert!(Activation::parse("leaky_relu").is_err()); // alpha is required
    /// # Ok::<(), archconv::activation::ActivationError>(())
    /// ```
    pub fn parse(spec: &str) -> Result<Activation, ActivationError> {
        let (head, args) = split_spec(spec)?;
        let lower = head.to_ascii_lowercase();
        let s = SPECS
            .iter()
            .find(|s| s.name == lower || s.aliases.contains(&lower.as_str()))
            .ok_or_else(|| ActivationError::Unknown {
                name: head.to_string(),
            })?;
        if args.len() != s.params.len() {
            let usage = if s.params.is_empty() {
                s.name.to_string()
            } else {
                format!("{}({})", s.name, s.params.join(","))
            };
            return Err(ActivationError::Arity {
                name: head.to_string(),
                expected: s.params.len(),
                got: args.len(),
                usage,
            });
        }
        let mut values = Vec::with_capacity(args.len());
        for (&text, &param) in args.iter().zip(s.params) {
            let value: f64 = text.parse().map_err(|_| ActivationError::BadNumber {
                name: head.to_string(),
                param,
                text: text.to_string(),
            })?;
            if !value.is_finite() {
                return Err(ActivationError::NonFinite {
                    name: head.to_string(),
                    param,
                    value,
                });
            }
            values.push(value);
        }
        Ok((s.build)(&values))
    }

    /// `phi(x)`.
    ///
    /// ```
    /// use archconv::activation::Activation;
    /// assert_eq!(Activation::Relu.phi(-1.0), 0.0);
    /// assert_eq!(Activation::Abs.phi(-1.5), 1.5);
    /// assert!((Activation::Softplus.phi(0.0) - 2f64.ln()).abs() < 1e-16);
    /// ```
    pub fn phi(&self, x: f64) -> f64 {
        with_rule!(self, r => rule::Rule::phi(r, x))
    }

    /// `phi'(x)`; at a kink the convention of the module docs (`relu'(0) = abs'(0) = 0`).
    ///
    /// ```
    /// use archconv::activation::Activation;
    /// assert_eq!(Activation::Relu.dphi(0.0), 0.0);
    /// assert_eq!(Activation::Relu.dphi(2.0), 1.0);
    /// assert_eq!(Activation::AbRelu { a: 0.1, b: 1.0 }.dphi(-3.0), 0.1);
    /// assert!((Activation::Tanh.dphi(0.5) - 1.0 / 0.5f64.cosh().powi(2)).abs() < 1e-16);
    /// ```
    pub fn dphi(&self, x: f64) -> f64 {
        with_rule!(self, r => rule::Rule::dphi(r, x))
    }

    /// `E[phi(u)]`, `u ~ N(0, s)` (the edge mean `a_e` of PAPER.md sections 7 and 9);
    /// `s <= 0` gives `phi(0)`.
    ///
    /// ```
    /// use archconv::activation::Activation;
    /// use std::f64::consts::PI;
    /// // ReLU with sw2 = 2: sqrt(K_ii / pi).
    /// assert!((Activation::Relu.mean(2.0) - (1.0 / PI).sqrt()).abs() < 1e-16);
    /// assert_eq!(Activation::Tanh.mean(3.0), 0.0);
    /// let silu = Activation::Silu.mean(1.0);
    /// assert!(silu > 0.0 && silu < 0.5);
    /// ```
    pub fn mean(&self, s: f64) -> f64 {
        if s.is_nan() {
            return f64::NAN;
        }
        with_rule!(self, r => if s > 0.0 {
            rule::mean_of(r, Dual::Nngp, s, How::Auto)
        } else {
            rule::Rule::phi(r, 0.0)
        })
    }

    /// [`Activation::mean`] by quadrature even where a closed form exists (for checking
    /// closed forms).
    ///
    /// ```
    /// use archconv::activation::Activation;
    /// let a = Activation::Gelu;
    /// assert!((a.mean(2.0) - a.mean_by_quadrature(2.0)).abs() < 1e-15);
    /// ```
    pub fn mean_by_quadrature(&self, s: f64) -> f64 {
        if s.is_nan() {
            return f64::NAN;
        }
        with_rule!(self, r => if s > 0.0 {
            rule::mean_of(r, Dual::Nngp, s, How::Quadrature)
        } else {
            rule::Rule::phi(r, 0.0)
        })
    }

    /// `E[phi(u) phi(v)]` ([`Dual::Nngp`]) or `E[phi'(u) phi'(v)]` ([`Dual::Ntk`]) for
    /// `(u, v) ~ N(0, [[s11, s12], [s12, s22]])` (PAPER.md section 9): closed form where
    /// the activation has one, quadrature otherwise (one 2-D quadrature per call). Zero
    /// variances follow the module's rule; `rho` is clamped to `[-1, 1]`.
    ///
    /// ```
    /// use archconv::activation::{Activation, Dual};
    /// use std::f64::consts::PI;
    /// // erf: (2/pi) asin(2 s12 / sqrt((1 + 2 s11)(1 + 2 s22))).
    /// let e = Activation::Erf.dual(Dual::Nngp, 1.0, 1.0, 0.5);
    /// assert!((e - 2.0 / PI * (1.0f64 / 3.0).asin()).abs() < 1e-15);
    /// // Identity: s12 and 1.
    /// assert_eq!(Activation::Identity.dual(Dual::Nngp, 2.0, 3.0, 1.5), 1.5);
    /// assert_eq!(Activation::Identity.dual(Dual::Ntk, 2.0, 3.0, 1.5), 1.0);
    /// ```
    pub fn dual(&self, which: Dual, s11: f64, s22: f64, s12: f64) -> f64 {
        with_rule!(self, r => rule::dual(r, which, s11, s22, s12, How::Auto))
    }

    /// Both duals at once, `(E[phi(u) phi(v)], E[phi'(u) phi'(v)])`; closed forms share
    /// the angle and square roots between the two.
    ///
    /// ```
    /// use archconv::activation::{Activation, Dual};
    /// let (nngp, ntk) = Activation::Gelu.dual_pair(1.0, 2.0, 0.5);
    /// assert_eq!(nngp, Activation::Gelu.dual(Dual::Nngp, 1.0, 2.0, 0.5));
    /// assert_eq!(ntk, Activation::Gelu.dual(Dual::Ntk, 1.0, 2.0, 0.5));
    /// ```
    pub fn dual_pair(&self, s11: f64, s22: f64, s12: f64) -> (f64, f64) {
        let p = with_rule!(self, r => rule::dual_pair(r, s11, s22, s12));
        (p.nngp, p.ntk)
    }

    /// [`Activation::dual`] by 2-D quadrature even where a closed form exists (zero
    /// variances by 1-D quadrature), for checking closed forms against the numerical route.
    ///
    /// ```
    /// use archconv::activation::{Activation, Dual};
    /// let r = Activation::Relu;
    /// for rho in [-1.0, -0.999, 0.0, 0.5, 1.0] {
    ///     let (a, b) = (r.dual(Dual::Nngp, 2.0, 0.5, rho), r.dual_by_quadrature(Dual::Nngp, 2.0, 0.5, rho));
    ///     assert!((a - b).abs() < 1e-15, "rho {rho}: {a} vs {b}");
    /// }
    /// ```
    pub fn dual_by_quadrature(&self, which: Dual, s11: f64, s22: f64, s12: f64) -> f64 {
        with_rule!(self, r => rule::dual(r, which, s11, s22, s12, How::Quadrature))
    }

    /// Entrywise dual on `Sigma = sw2 K + sb2` (sb2 added to every entry), `K` symmetric
    /// PSD `N x N`: `F_ij = dual(which, Sigma_ii, Sigma_jj, Sigma_ij)` (PAPER.md section 9;
    /// for ReLU with `sw2 = 2, sb2 = 0` the NNGP map is the arc-cosine `f` of section 2).
    /// Exactly symmetric (the lower triangle of `K` is used and mirrored); the diagonal is
    /// the 1-D expectation `E[f(u)^2]`. Cost and routes: module docs ([`Route::Auto`]).
    ///
    /// # Panics
    ///
    /// If `K` is not square, or `sw2` or `sb2` is negative or not finite.
    ///
    /// ```
    /// use archconv::activation::{Activation, Dual};
    /// use archconv::kernel::relu::f_matrix;
    /// let k = ndarray::array![[1.0, 0.5, 0.1], [0.5, 2.0, -0.3], [0.1, -0.3, 0.7]];
    /// let a = Activation::Relu.dual_matrix(k.view(), 2.0, 0.0, Dual::Nngp);
    /// let b = f_matrix(k.view());
    /// assert!(a.iter().zip(b.iter()).all(|(x, y)| (x - y).abs() <= 1e-15 * y.abs()));
    /// let t = Activation::Tanh.dual_matrix(k.view(), 1.0, 0.0, Dual::Ntk);
    /// assert!((t[[0, 1]] - Activation::Tanh.dual(Dual::Ntk, 1.0, 2.0, 0.5)).abs() < 1e-14);
    /// ```
    #[track_caller]
    pub fn dual_matrix(
        &self,
        k: ArrayView2<'_, f64>,
        sw2: f64,
        sb2: f64,
        which: Dual,
    ) -> Array2<f64> {
        self.dual_matrix_by(k, sw2, sb2, which, Route::Auto)
    }

    /// [`Activation::dual_matrix`] through a chosen [`Route`].
    ///
    /// # Panics
    ///
    /// As [`Activation::dual_matrix`].
    ///
    /// ```
    /// use archconv::activation::{Activation, Dual, Route};
    /// let k = ndarray::array![[1.0, 0.5], [0.5, 2.0]];
    /// let a = Activation::Erf.dual_matrix_by(k.view(), 1.0, 0.0, Dual::Ntk, Route::Auto);
    /// let b = Activation::Erf.dual_matrix_by(k.view(), 1.0, 0.0, Dual::Ntk, Route::Direct);
    /// assert!((a[[0, 1]] - b[[0, 1]]).abs() < 1e-15);
    /// ```
    #[track_caller]
    pub fn dual_matrix_by(
        &self,
        k: ArrayView2<'_, f64>,
        sw2: f64,
        sb2: f64,
        which: Dual,
        route: Route,
    ) -> Array2<f64> {
        with_rule!(self, r => matrix::dual_matrix(r, k, sw2, sb2, which, route))
    }

    /// `a_i = E[phi(u)]`, `u ~ N(0, sw2 K_ii + sb2)` (PAPER.md sections 7 and 9), one
    /// evaluation per distinct diagonal value.
    ///
    /// ```
    /// use archconv::activation::Activation;
    /// let a = Activation::Relu.mean_vector(ndarray::array![1.0, 4.0].view(), 2.0, 0.0);
    /// let pi = std::f64::consts::PI;
    /// assert!((a[0] - (1.0 / pi).sqrt()).abs() < 1e-16 && (a[1] - (4.0 / pi).sqrt()).abs() < 1e-16);
    /// ```
    pub fn mean_vector(&self, diag: ArrayView1<'_, f64>, sw2: f64, sb2: f64) -> Array1<f64> {
        let mut cache = std::collections::HashMap::<u64, f64>::new();
        diag.mapv(|k| {
            let s = sw2 * k + sb2;
            *cache.entry(s.to_bits()).or_insert_with(|| self.mean(s))
        })
    }

    /// Whether the duals and mean have closed forms (otherwise: quadrature).
    ///
    /// ```
    /// use archconv::activation::Activation;
    /// assert!(Activation::Gelu.is_closed_form());
    /// assert!(!Activation::Tanh.is_closed_form());
    /// ```
    pub fn is_closed_form(&self) -> bool {
        with_rule!(self, r => closed_of(r))
    }
}

fn closed_of<R: rule::Rule>(_: &R) -> bool {
    R::CLOSED
}

/// How [`Activation::dual_matrix_by`] evaluates entries (module docs, "Matrices and cost").
///
/// ```
/// use archconv::activation::Route;
/// assert_eq!(Route::default(), Route::Auto);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Route {
    /// Closed form if the activation has one; otherwise tables in `theta` per pair of
    /// diagonal values, or per-entry quadrature when tables would cost more.
    #[default]
    Auto,
    /// Tables in `theta` built by quadrature (also for closed-form activations).
    Tables,
    /// One 2-D quadrature per entry (also for closed-form activations).
    Direct,
}

impl fmt::Display for Activation {
    /// The canonical specification (`relu`, `leaky_relu(0.1)`, `abrelu(-0.5,1.5)`, ...;
    /// a custom activation prints its name).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        with_rule!(self, r => rule::Rule::spec(r, f))
    }
}

impl FromStr for Activation {
    type Err = ActivationError;

    /// [`Activation::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Activation::parse(s)
    }
}

impl PartialEq for Activation {
    /// Same variant and parameters; custom activations are equal when they are clones of
    /// one another (same functions, compared by pointer).
    fn eq(&self, other: &Self) -> bool {
        use Activation as A;
        match self {
            A::Relu => matches!(other, A::Relu),
            A::AbRelu { a, b } => matches!(other, A::AbRelu { a: c, b: d } if a == c && b == d),
            A::Abs => matches!(other, A::Abs),
            A::Erf => matches!(other, A::Erf),
            A::Identity => matches!(other, A::Identity),
            A::Gelu => matches!(other, A::Gelu),
            A::Tanh => matches!(other, A::Tanh),
            A::Softplus => matches!(other, A::Softplus),
            A::Silu => matches!(other, A::Silu),
            A::Custom(x) => matches!(other, A::Custom(y) if x.same(y)),
        }
    }
}

impl serde::Serialize for Activation {
    /// As its specification string (a custom activation: its name).
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Activation {
    /// From a specification string ([`Activation::parse`]); custom activations do not
    /// deserialise (an unknown-name error says so).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Activation::parse(&s).map_err(serde::de::Error::custom)
    }
}
