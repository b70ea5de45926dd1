//! A kernel function of two point sets, built once from a network: `k.nngp(x1, x2)` and
//! `k.ntk(x1, x2)`, as neural-tangents' `kernel_fn(x1, x2)` (issue 14).
//!
//! A [`KernelFn`] holds a [`Dag`], its lift ([`LiftParams`]), one rule ([`KernelKind`],
//! shared by the NNGP and the NTK) and whether rows are normalised. Every closed-form map
//! is entrywise: `F_e(K)_ij` needs `K_ij`, `K_ii` and `K_jj` only, and the means `a_e`
//! only diagonals (PAPER.md sections 4, 7-9). So the `N1 x N2` block between `x1` and
//! `x2` is the matching block of the kernel of the stacked set `[x1; x2]`, and it is
//! computed without the `N1 x N1` and `N2 x N2` blocks: one pass over every node's
//! diagonal and mean (`O(N1 + N2)` per node), then the cross entries tile by tile
//! ([`super::stream`]). With `x2 = None` the symmetric kernel of `x1` is the output node
//! alone, block by block ([`KernelFn::point_terms`] then one [`KernelFn::tile`] over the
//! set: `64 x 64` blocks of the upper triangle in parallel, mirrored), so no other node's
//! `N x N` state is held: the memory is the result plus a few blocks per thread, and the
//! entries equal the stored-state recursion's ([`Inputs::kernel`], [`Inputs::ntk`]) to
//! rounding (tested).
//!
//! | rule | NNGP `x1` alone | NNGP `(x1, x2)` | NTK |
//! |---|---|---|---|
//! | exact, independent-branch | output blocks | streamed cross block | output blocks / streamed cross block |
//! | path-sum | recursion | block of the kernel of `[x1; x2]` (costs `(N1 + N2)^2`) | not defined: refused |
//!
//! Row normalisation (the default, as [`Inputs::from_data`]) scales each point on its
//! own, so it commutes with stacking; the unnormalised kernel ([`KernelFn::unnormalized`])
//! uses the raw `X X^T / d`.
//!
//! ```
//! use archconv::{Dag, kernel::{Inputs, KernelFn, KernelKind, Lift, ntk::NtkVariant}};
//! let x1 = Inputs::gaussian(5, 3, 0);
//! let x2 = Inputs::gaussian(4, 3, 1);
//! let k = KernelFn::new(&Dag::dag3(), Lift::Dense, KernelKind::Exact);
//! let cross = k.nngp(x1.view(), Some(x2.view()))?;
//! assert_eq!(cross.dim(), (5, 4));
//! // The same block of the kernel of the stacked set.
//! let both = ndarray::concatenate![ndarray::Axis(0), x1, x2];
//! let joint = k.nngp(both.view(), None)?;
//! assert!((cross[[1, 2]] - joint[[1, 5 + 2]]).abs() < 1e-13);
//! let theta = k.ntk(x1.view(), Some(x2.view()), NtkVariant::Full)?;
//! assert!(theta[[0, 0]] > cross[[0, 0]]);
//! # Ok::<(), archconv::kernel::KernelError>(())
//! ```

use super::exact::Rule;
use super::npy::What;
use super::ntk::NtkVariant;
use super::stream::{prepare, LiftTiles, Region, ScaledGram};
use super::{Inputs, KernelError, KernelKind, NodeState};
use crate::dag::Dag;
use crate::model::LiftParams;
use ndarray::{s, Array1, Array2, ArrayView2, Axis};

/// A network's kernel function of two point sets (module docs).
#[derive(Debug, Clone)]
pub struct KernelFn {
    dag: Dag,
    lift: LiftParams,
    kind: KernelKind,
    normalize: bool,
}

/// One node's blocks for two point sets: `K^t(x1, x2)` and the means over each set.
#[derive(Debug, Clone, PartialEq)]
pub struct CrossState {
    /// `K^t(x1, x2)`, `N1 x N2`.
    pub gram: Array2<f64>,
    /// `mu^t` over `x1`.
    pub mean1: Array1<f64>,
    /// `mu^t` over `x2`.
    pub mean2: Array1<f64>,
}

impl KernelFn {
    /// The kernel function of `dag` with `lift` (a [`super::Lift`] or any
    /// [`LiftParams`]) under `kind`; rows are normalised to `||x_i||^2 = d`.
    pub fn new(dag: &Dag, lift: impl Into<LiftParams>, kind: KernelKind) -> KernelFn {
        KernelFn {
            dag: dag.clone(),
            lift: lift.into(),
            kind,
            normalize: true,
        }
    }

    /// The same function on unnormalised rows (`K_data = X X^T / d` as given).
    pub fn unnormalized(mut self) -> KernelFn {
        self.normalize = false;
        self
    }

    /// The DAG.
    pub fn dag(&self) -> &Dag {
        &self.dag
    }

    /// The rule.
    pub fn kind(&self) -> KernelKind {
        self.kind
    }

    /// The lift.
    pub fn lift(&self) -> &LiftParams {
        &self.lift
    }

    /// Whether rows are normalised to `||x_i||^2 = d` first.
    pub fn normalizes(&self) -> bool {
        self.normalize
    }

    /// The lifted inputs of `x1`, or of `[x1; x2]` with the split.
    fn inputs(
        &self,
        x1: ArrayView2<'_, f64>,
        x2: Option<ArrayView2<'_, f64>>,
    ) -> Result<(Inputs, Option<usize>), KernelError> {
        let stacked = match x2 {
            None => None,
            Some(x2) => {
                if x1.ncols() != x2.ncols() {
                    return Err(KernelError::DimensionMismatch {
                        d1: x1.ncols(),
                        d2: x2.ncols(),
                    });
                }
                if x1.nrows() == 0 || x2.nrows() == 0 {
                    return Err(KernelError::TooFewPoints {
                        n: x1.nrows().min(x2.nrows()),
                    });
                }
                crate::budget::check(
                    format!(
                        "the stacked inputs of N1 = {} and N2 = {} points (d = {})",
                        x1.nrows(),
                        x2.nrows(),
                        x1.ncols()
                    ),
                    crate::budget::bytes(x1.nrows() + x2.nrows(), x1.ncols())
                        .and_then(|b| b.checked_mul(8)),
                )?;
                Some(ndarray::concatenate(Axis(0), &[x1.view(), x2.view()]).expect("same columns"))
            }
        };
        let split = stacked.as_ref().map(|_| x1.nrows());
        let x = match &stacked {
            Some(s) => s.view(),
            None => x1.view(),
        };
        let inp = if self.normalize {
            Inputs::from_data_with(x, &self.lift)?
        } else {
            Inputs::from_data_unnormalized_with(x, &self.lift)?
        };
        Ok((inp, split))
    }

    /// The rule as the NTK and the streamed kernels name it (`None`: path-sum).
    pub(crate) fn rule(&self) -> Option<Rule> {
        match self.kind {
            KernelKind::Exact => Some(Rule::Exact),
            KernelKind::IndependentBranch => Some(Rule::IndependentBranch),
            KernelKind::PathSum => None,
        }
    }

    /// The output NNGP `K^H(x1, x2)` (`N1 x N2`), or `K^H(x1, x1)` when `x2` is `None`.
    ///
    /// Errors: bad data as [`Inputs::from_data`], no path and the memory budget (for the
    /// path-sum rule, those of [`Inputs::kernel`]), [`KernelError::DimensionMismatch`] when the sets' dimensions
    /// differ, and [`KernelError::OutOfRange`] when an entry is past f64's range
    /// ([`Inputs::output_kernel`] keeps such kernels in scaled form).
    pub fn nngp(
        &self,
        x1: ArrayView2<'_, f64>,
        x2: Option<ArrayView2<'_, f64>>,
    ) -> Result<Array2<f64>, KernelError> {
        if x2.is_none() && x1.nrows() == 1 {
            // One point: its 1 x 1 kernel is the cross block with itself.
            return self.nngp(x1, Some(x1));
        }
        if let (None, Some(_)) = (x2, self.rule()) {
            // The output node alone, block by block ([`KernelFn::tile`]): no node's
            // `N x N` state is ever held.
            let terms = self.point_terms(x1)?;
            return self.tile(x1, &terms, None, What::Nngp);
        }
        let (inp, split) = self.inputs(x1, x2)?;
        match (split, self.rule()) {
            (None, _) => Ok(inp.kernel(&self.dag, self.kind)?.into_output_gram()),
            (Some(split), Some(rule)) => {
                let out = inp.streamed(&self.dag, rule, None, Region::Cross { split })?;
                unscaled(&self.dag, out.nngp())
            }
            (Some(split), None) => {
                let k = inp.kernel(&self.dag, self.kind)?.into_output_gram();
                Ok(k.slice(s![..split, split..]).to_owned())
            }
        }
    }

    /// The output NTK `Theta(x1, x2)` with the parameters `variant` trains (readout,
    /// every linear edge and the lift for [`NtkVariant::Full`]; PAPER.md section 8).
    ///
    /// Errors: as [`KernelFn::nngp`], and [`KernelError::NoNtkRule`] for the path-sum
    /// rule, which defines no NTK.
    pub fn ntk(
        &self,
        x1: ArrayView2<'_, f64>,
        x2: Option<ArrayView2<'_, f64>>,
        variant: NtkVariant,
    ) -> Result<Array2<f64>, KernelError> {
        let rule = self.rule().ok_or(KernelError::NoNtkRule {
            rule: self.kind.name(),
        })?;
        if x2.is_none() && x1.nrows() == 1 {
            return self.ntk(x1, Some(x1), variant);
        }
        if x2.is_none() {
            let terms = self.point_terms(x1)?;
            return self.tile(x1, &terms, None, What::Ntk(variant));
        }
        let (inp, split) = self.inputs(x1, x2)?;
        match split {
            None => Ok(inp.ntk(&self.dag, rule)?.theta(variant)),
            Some(split) => {
                let out = inp.streamed(&self.dag, rule, Some(variant), Region::Cross { split })?;
                unscaled(&self.dag, out.ntk().expect("asked for"))
            }
        }
    }

    /// The NTK of the standard-parameterised network of width `width` on `x`
    /// ([`super::standard`]: `Theta_SP = m K^H + 1 + ...`), with a Kaiming readout
    /// (`sr2 = 2`) and the stem's fan-in `d = x.ncols()`: the kernel that gradient descent
    /// on [`crate::train::DagMlp`]'s weights follows at small steps. Use
    /// [`KernelFn::unnormalized`] to get it on the inputs as the network sees them.
    ///
    /// Errors: as [`KernelFn::ntk`], and [`KernelError::BadParameter`] for a zero width.
    pub fn ntk_standard(
        &self,
        x: ArrayView2<'_, f64>,
        width: usize,
    ) -> Result<Array2<f64>, KernelError> {
        let rule = self.rule().ok_or(KernelError::NoNtkRule {
            rule: self.kind.name(),
        })?;
        let (inp, _) = self.inputs(x, None)?;
        inp.ntk_standard(
            &self.dag,
            rule,
            &super::StandardParams {
                width,
                input_dim: x.ncols(),
                readout_sw2: 2.0,
            },
        )
    }

    /// The output NNGP's diagonal `K^H_ii` alone, `O(N)` per node (the first pass of
    /// [`super::stream`]); for the path-sum rule, the diagonal of its recursion.
    ///
    /// Errors: as [`KernelFn::nngp`].
    pub fn nngp_diag(&self, x: ArrayView2<'_, f64>) -> Result<Array1<f64>, KernelError> {
        if x.nrows() == 1 {
            return Ok(self.nngp(x, None)?.diag().to_owned());
        }
        let (inp, _) = self.inputs(x, None)?;
        match self.rule() {
            Some(rule) => {
                // The streamed pass's first pass alone: no tile is computed.
                let lift = LiftTiles::Gram {
                    k0: inp.k0(),
                    mu0: inp.mu0(),
                    theta0: None,
                };
                let pass = prepare(&self.dag, lift, rule, None, (0, inp.len()), 0, None)?;
                let c = pass.log_scale().exp();
                let d: Array1<f64> = pass.diag().iter().map(|v| v * c).collect();
                if d.iter().all(|v| v.is_finite()) {
                    Ok(d)
                } else {
                    Err(KernelError::OutOfRange {
                        node: self.dag.output(),
                        log10_scale: pass.log_scale() / std::f64::consts::LN_10,
                    })
                }
            }
            None => Ok(inp
                .kernel(&self.dag, self.kind)?
                .output()
                .gram
                .diag()
                .to_owned()),
        }
    }

    /// Every node's blocks `K^t(x1, x2)` with its means over each set, from the
    /// stored-state recursion on `[x1; x2]` (so it costs `(N1 + N2)^2` per node; the
    /// output block alone is cheaper with [`KernelFn::nngp`]).
    ///
    /// Errors: as [`KernelFn::nngp`].
    pub fn nodes(
        &self,
        x1: ArrayView2<'_, f64>,
        x2: ArrayView2<'_, f64>,
    ) -> Result<Vec<CrossState>, KernelError> {
        let (inp, split) = self.inputs(x1, Some(x2))?;
        let split = split.expect("two sets");
        let k = inp.kernel(&self.dag, self.kind)?;
        Ok(k.nodes()
            .iter()
            .map(|st: &NodeState| CrossState {
                gram: st.gram.slice(s![..split, split..]).to_owned(),
                mean1: st.mean.slice(s![..split]).to_owned(),
                mean2: st.mean.slice(s![split..]).to_owned(),
            })
            .collect())
    }
}

/// `K` from its scaled form, or [`KernelError::OutOfRange`].
fn unscaled(dag: &Dag, g: &ScaledGram) -> Result<Array2<f64>, KernelError> {
    g.to_unscaled().ok_or(KernelError::OutOfRange {
        node: dag.output(),
        log10_scale: g.log10_scale(),
    })
}
