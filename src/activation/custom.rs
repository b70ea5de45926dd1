//! User-supplied activations, by quadrature (PAPER.md section 9).
//!
//! A [`Custom`] activation is built in code with [`Activation::custom`] from `phi`, `phi'`
//! and a name. Its duals and means come from the module's quadrature, which splits the
//! integrals at `u = 0` and `v = 0`: a function that is analytic except for a kink at 0
//! (a custom ReLU variant) is integrated to the same accuracy as the built-in ones.
//! Kinks elsewhere, features much narrower than 1 in `phi`'s argument, or growth faster
//! than polynomial are not resolved to that accuracy. It prints as its name, is not
//! accepted by [`Activation::parse`] and does not deserialise; two custom activations are
//! equal when they share the same functions (clones of one another).

use super::rule::Rule;
use super::Activation;
use std::fmt;
use std::sync::Arc;

/// A user-supplied activation (library only): evaluated by quadrature.
///
/// ```
/// use archconv::activation::{Activation, Dual};
/// let cube = Activation::custom("cube", |x| x * x * x, |x| 3.0 * x * x);
/// // E[u^3 v^3] = 9 s11 s22 s12 + 6 s12^3 (Isserlis); here s11 = s22 = 1, s12 = 0.5.
/// let e = cube.dual(Dual::Nngp, 1.0, 1.0, 0.5);
/// assert!((e - (9.0 * 0.5 + 6.0 * 0.125)).abs() < 1e-13);
/// assert_eq!(cube.to_string(), "cube");
/// ```
#[derive(Clone)]
pub struct Custom {
    name: Arc<str>,
    phi: Arc<dyn Fn(f64) -> f64 + Send + Sync>,
    dphi: Arc<dyn Fn(f64) -> f64 + Send + Sync>,
}

impl fmt::Debug for Custom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Custom({})", self.name)
    }
}

impl Custom {
    pub(super) fn new(
        name: &str,
        phi: impl Fn(f64) -> f64 + Send + Sync + 'static,
        dphi: impl Fn(f64) -> f64 + Send + Sync + 'static,
    ) -> Custom {
        Custom {
            name: name.into(),
            phi: Arc::new(phi),
            dphi: Arc::new(dphi),
        }
    }

    /// The name it was given.
    ///
    /// ```
    /// use archconv::activation::Activation;
    /// let a = Activation::custom("cube", |x| x * x * x, |x| 3.0 * x * x);
    /// if let Activation::Custom(c) = &a {
    ///     assert_eq!(c.name(), "cube");
    /// }
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether both are clones of one custom activation (same functions).
    pub(super) fn same(&self, other: &Custom) -> bool {
        Arc::ptr_eq(&self.phi, &other.phi) && Arc::ptr_eq(&self.dphi, &other.dphi)
    }
}

impl Rule for Custom {
    const CLOSED: bool = false;

    #[inline]
    fn phi(&self, x: f64) -> f64 {
        (self.phi)(x)
    }

    #[inline]
    fn dphi(&self, x: f64) -> f64 {
        (self.dphi)(x)
    }

    fn spec(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

// Keeps the constructor's home next to the type.
impl Activation {
    /// A user-supplied activation `phi` with derivative `dphi` (module docs of
    /// [`Custom`]); evaluated by quadrature.
    ///
    /// ```
    /// use archconv::activation::{Activation, Dual};
    /// let sin = Activation::custom("sin", f64::sin, f64::cos);
    /// // E[sin(u) sin(v)] = e^{-(s11 + s22)/2} sinh(s12).
    /// let e = sin.dual(Dual::Nngp, 1.0, 2.0, 0.7);
    /// assert!((e - (-1.5f64).exp() * 0.7f64.sinh()).abs() < 1e-15);
    /// assert!(!sin.is_closed_form());
    /// ```
    pub fn custom(
        name: &str,
        phi: impl Fn(f64) -> f64 + Send + Sync + 'static,
        dphi: impl Fn(f64) -> f64 + Send + Sync + 'static,
    ) -> Activation {
        Activation::Custom(Custom::new(name, phi, dphi))
    }
}
