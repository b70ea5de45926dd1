//! The network model: what a parameterized edge and the input lift compute
//! (PAPER.md section 9).
//!
//! A parameterized (linear) edge `e = (s -> t)` computes
//!
//! ```text
//! X^t += phi(z),   z = sqrt(sw2 / m) W X^s + sqrt(sb2) b,   W, b iid N(0, 1), one pair per edge
//! ```
//!
//! and the lift computes the same map from the data `x in R^d` (with `m = d`), without an
//! activation (dense lift) or with one (stem). At infinite width, with
//! `Sigma_e = sw2 K^s + sb2` (sb2 added to every entry) and `(u, v)` centred Gaussian with
//! covariance `Sigma_e` restricted to points `i, j`:
//!
//! ```text
//! F_e(K^s)_ij  = E[phi(u) phi(v)]          NNGP map (ReLU, sw2 = 2: the arc-cosine f)
//! Fd_e(K^s)_ij = sw2 E[phi'(u) phi'(v)]    NTK map  (ReLU, sw2 = 2: fdot)
//! a_e,i        = E[phi(u_i)]               mean     (ReLU, sw2 = 2: sqrt(K_ii / pi))
//! ```
//!
//! The paper's edge is `phi = relu, sw2 = 2, sb2 = 0` ([`EdgeParams::default`]); the
//! paper's lift is dense with `sw2 = 1, sb2 = 0` ([`LiftParams::dense`]); the authors' MLP
//! uses a ReLU stem with `sw2 = 2` ([`LiftParams::relu_stem`]). These defaults reproduce
//! the crate's ReLU numbers bit for bit: the kernels call the optimised arc-cosine maps
//! for them.
//!
//! ```
//! use archconv::model::EdgeParams;
//! use archconv::activation::Activation;
//! let p = EdgeParams::new(Activation::Erf, 1.5, 0.1).unwrap();
//! assert_eq!(p.to_string(), "erf(sw2=1.5, sb2=0.1)");
//! assert!(EdgeParams::new(Activation::Relu, -1.0, 0.0).is_err());
//! assert!(EdgeParams::default().is_paper_relu());
//! ```

use crate::activation::{Activation, Dual};
use crate::kernel::relu;
use ndarray::{Array1, Array2, ArrayView2};
use std::fmt;
use std::hash::{Hash, Hasher};

/// A variance that is negative or not finite.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// `sw2` or `sb2` is NaN, infinite or negative.
    #[error("{what} = {value} is not a variance: it must be finite and >= 0")]
    BadVariance {
        /// `sw2` or `sb2`.
        what: &'static str,
        /// The value given.
        value: f64,
    },
}

fn check_variance(what: &'static str, value: f64) -> Result<f64, ModelError> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(ModelError::BadVariance { what, value })
    }
}

/// What a parameterized edge computes: activation `phi`, weight variance `sw2` and bias
/// variance `sb2` (module docs). Validated on construction.
#[derive(Debug, Clone)]
pub struct EdgeParams {
    activation: Activation,
    sw2: f64,
    sb2: f64,
}

impl Default for EdgeParams {
    /// The paper's edge: `relu`, `sw2 = 2`, `sb2 = 0`.
    fn default() -> Self {
        EdgeParams {
            activation: Activation::Relu,
            sw2: 2.0,
            sb2: 0.0,
        }
    }
}

impl PartialEq for EdgeParams {
    fn eq(&self, other: &Self) -> bool {
        self.activation == other.activation
            && self.sw2.to_bits() == other.sw2.to_bits()
            && self.sb2.to_bits() == other.sb2.to_bits()
    }
}

impl Eq for EdgeParams {}

impl Hash for EdgeParams {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.activation.to_string().hash(state);
        self.sw2.to_bits().hash(state);
        self.sb2.to_bits().hash(state);
    }
}

impl serde::Serialize for EdgeParams {
    /// `{"activation": "erf", "sw2": 1.5, "sb2": 0.1}`.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("EdgeParams", 3)?;
        st.serialize_field("activation", &self.activation.to_string())?;
        st.serialize_field("sw2", &self.sw2)?;
        st.serialize_field("sb2", &self.sb2)?;
        st.end()
    }
}

impl fmt::Display for EdgeParams {
    /// `relu(sw2=2, sb2=0)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(sw2={}, sb2={})", self.activation, self.sw2, self.sb2)
    }
}

impl EdgeParams {
    /// An edge computing `phi(sqrt(sw2/m) W x + sqrt(sb2) b)`; `sw2, sb2` finite and `>= 0`.
    pub fn new(activation: Activation, sw2: f64, sb2: f64) -> Result<EdgeParams, ModelError> {
        Ok(EdgeParams {
            activation,
            sw2: check_variance("sw2", sw2)?,
            sb2: check_variance("sb2", sb2)?,
        })
    }

    /// The activation `phi`.
    pub fn activation(&self) -> &Activation {
        &self.activation
    }

    /// Weight variance `sw2`.
    pub fn sw2(&self) -> f64 {
        self.sw2
    }

    /// Bias variance `sb2`.
    pub fn sb2(&self) -> f64 {
        self.sb2
    }

    /// Whether this is the paper's edge (`relu`, `sw2 = 2`, `sb2 = 0`).
    pub fn is_paper_relu(&self) -> bool {
        self.is_relu_without_bias() && self.sw2 == 2.0
    }

    /// ReLU without bias: the maps are the arc-cosine ones scaled by `sw2 / 2`.
    fn is_relu_without_bias(&self) -> bool {
        matches!(self.activation, Activation::Relu) && self.sb2 == 0.0
    }

    /// `Sigma_e = sw2 K + sb2` at one entry.
    #[inline]
    pub fn sigma(&self, k: f64) -> f64 {
        self.sw2 * k + self.sb2
    }

    /// The NNGP map `F_e(K)_ij = E[phi(u) phi(v)]`, `(u, v) ~ N(0, sw2 K + sb2)`
    /// (PAPER.md section 9; Eq. 12's `f` for the paper's edge).
    ///
    /// ```
    /// use archconv::{model::EdgeParams, kernel::relu};
    /// let k = ndarray::array![[1.0, 0.3], [0.3, 2.0]];
    /// assert_eq!(EdgeParams::default().nngp_map(k.view()), relu::f_matrix(k.view()));
    /// ```
    pub fn nngp_map(&self, k: ArrayView2<'_, f64>) -> Array2<f64> {
        if self.is_relu_without_bias() {
            let mut f = relu::f_matrix(k);
            if self.sw2 != 2.0 {
                let c = self.sw2 / 2.0;
                f.mapv_inplace(|v| c * v);
            }
            return f;
        }
        self.activation
            .dual_matrix(k, self.sw2, self.sb2, Dual::Nngp)
    }

    /// The NTK map `Fd_e(K)_ij = sw2 E[phi'(u) phi'(v)]` (PAPER.md sections 8-9;
    /// `fdot` for the paper's edge).
    pub fn ntk_map(&self, k: ArrayView2<'_, f64>) -> Array2<f64> {
        if self.is_relu_without_bias() {
            let mut f = relu::fdot_matrix(k);
            if self.sw2 != 2.0 {
                let c = self.sw2 / 2.0;
                f.mapv_inplace(|v| c * v);
            }
            return f;
        }
        let mut d = self
            .activation
            .dual_matrix(k, self.sw2, self.sb2, Dual::Ntk);
        let sw2 = self.sw2;
        d.mapv_inplace(|v| sw2 * v);
        d
    }

    /// The NTK weight-and-bias factor `E[phi'(u) phi'(v)] (sw2 K + sb2)` of this edge's
    /// parameters (PAPER.md section 9: `K^s * Fd_e + (sb2/sw2) Fd_e`), so that the edge's
    /// NTK term is this times `P^t`. For the paper's edge `K * fdot(K)`.
    pub fn ntk_param_factor(&self, k: ArrayView2<'_, f64>, fd: &Array2<f64>) -> Array2<f64> {
        if self.sb2 == 0.0 {
            return ndarray::Zip::from(k).and(fd).map_collect(|&a, &b| a * b);
        }
        // sw2 E[phi'phi'] = fd, so E[phi'phi'] (sw2 K + sb2) = fd (K + sb2 / sw2) when
        // sw2 > 0; with sw2 = 0 the weights do nothing and only the bias term is left.
        if self.sw2 > 0.0 {
            let r = self.sb2 / self.sw2;
            ndarray::Zip::from(k)
                .and(fd)
                .map_collect(|&a, &b| (a + r) * b)
        } else {
            let d = self
                .activation
                .dual_matrix(k, self.sw2, self.sb2, Dual::Ntk);
            d.mapv(|v| self.sb2 * v)
        }
    }

    /// The edge's mean vector `a_e,i = E[phi(u)]`, `u ~ N(0, sw2 K_ii + sb2)` (PAPER.md
    /// sections 7 and 9; `sqrt(K_ii / pi)` for the paper's edge).
    pub fn mean(&self, k: &Array2<f64>) -> Array1<f64> {
        if self.is_relu_without_bias() {
            let m = crate::kernel::relu_mean(k);
            if self.sw2 == 2.0 {
                return m;
            }
            let c = (self.sw2 / 2.0).sqrt();
            return m.mapv(|v| c * v);
        }
        self.activation.mean_vector(k.diag(), self.sw2, self.sb2)
    }
}

/// What the input lift computes (PAPER.md section 7, "The input lift matters", and
/// section 9): `X^0 = sqrt(sw2 / d) W x + sqrt(sb2) b` (dense) or `phi` of that (stem).
///
/// ```
/// use archconv::model::LiftParams;
/// use archconv::activation::Activation;
/// assert_eq!(LiftParams::dense().to_string(), "dense(sw2=1, sb2=0)");
/// let stem = LiftParams::stem(Activation::Erf, 1.0, 0.05).unwrap();
/// assert_eq!(stem.to_string(), "stem erf(sw2=1, sb2=0.05)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LiftParams {
    /// `None`: dense lift; `Some(p)`: stem with `p`'s activation and variances.
    stem: Option<EdgeParams>,
    /// The dense lift's variances (unused by a stem).
    dense: (u64, u64),
}

impl LiftParams {
    /// The paper's dense lift: `K^0 = X X^T / d`, `mu^0 = 0`.
    pub fn dense() -> LiftParams {
        LiftParams {
            stem: None,
            dense: (1f64.to_bits(), 0f64.to_bits()),
        }
    }

    /// A dense lift with its own variances: `K^0 = sw2 X X^T / d + sb2`, `mu^0 = 0`.
    pub fn dense_with(sw2: f64, sb2: f64) -> Result<LiftParams, ModelError> {
        Ok(LiftParams {
            stem: None,
            dense: (
                check_variance("sw2", sw2)?.to_bits(),
                check_variance("sb2", sb2)?.to_bits(),
            ),
        })
    }

    /// The authors' MLP stem `Linear + ReLU`, Kaiming scale: `K^0 = f(X X^T / d)`,
    /// `mu^0 = sqrt(diag / pi)`.
    pub fn relu_stem() -> LiftParams {
        LiftParams {
            stem: Some(EdgeParams::default()),
            dense: (1f64.to_bits(), 0f64.to_bits()),
        }
    }

    /// A stem with any activation: `K^0 = F(X X^T / d)`, `mu^0 = a(X X^T / d)`.
    pub fn stem(activation: Activation, sw2: f64, sb2: f64) -> Result<LiftParams, ModelError> {
        Ok(LiftParams {
            stem: Some(EdgeParams::new(activation, sw2, sb2)?),
            dense: (1f64.to_bits(), 0f64.to_bits()),
        })
    }

    /// The stem's parameters (`None` for a dense lift).
    pub fn stem_params(&self) -> Option<&EdgeParams> {
        self.stem.as_ref()
    }

    /// The lift's weight and bias variances.
    pub fn variances(&self) -> (f64, f64) {
        match &self.stem {
            Some(p) => (p.sw2, p.sb2),
            None => (f64::from_bits(self.dense.0), f64::from_bits(self.dense.1)),
        }
    }

    /// Whether this is one of the two defaults ([`LiftParams::dense`],
    /// [`LiftParams::relu_stem`]).
    pub fn is_default(&self) -> bool {
        *self == LiftParams::dense() || *self == LiftParams::relu_stem()
    }

    /// The coarse kind ([`crate::Lift::Dense`] or [`crate::Lift::ReluStem`], the latter
    /// for a stem of any activation).
    pub fn kind(&self) -> crate::Lift {
        if self.stem.is_some() {
            crate::Lift::ReluStem
        } else {
            crate::Lift::Dense
        }
    }
}

impl From<crate::Lift> for LiftParams {
    fn from(l: crate::Lift) -> Self {
        match l {
            crate::Lift::Dense => LiftParams::dense(),
            crate::Lift::ReluStem => LiftParams::relu_stem(),
        }
    }
}

impl fmt::Display for LiftParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.stem {
            Some(p) => write!(f, "stem {p}"),
            None => {
                let (w, b) = self.variances();
                write!(f, "dense(sw2={w}, sb2={b})")
            }
        }
    }
}
