//! The NTK of a network in **standard parameterisation** (SP) at a finite width `m`: the
//! kernel that gradient descent on the weights of [`crate::train::DagMlp`] (PyTorch's
//! `Linear`, Kaiming-normal) follows at small steps (PAPER.md sections 5 and 8).
//!
//! An SP layer computes `z = W x + b` with `W_ij ~ N(0, sw2 / fan_in)`, and its gradient
//! step moves `W` itself. The same function written in the NTK parameterisation of
//! [`super::ntk`] is `z = sqrt(sw2 / fan_in) W' x + b`, so the SP weight gradient is
//! `sqrt(fan_in / sw2)` times the NTK one and each layer's NTK term is multiplied by
//! `fan_in / sw2`. The SP readout `W_r ~ N(0, sr2 / m)` scales every backward Gram by
//! `sr2` (the NTK parameterisation's readout has variance 1). Writing
//! `E_e = E[phi_e'(u) phi_e'(v)] = Fd_e(K^s) / sw2_e` and keeping every bias (SP trains
//! them from their initial values; their terms are `O(1)` beside the weights' `O(m)`):
//!
//! ```text
//! Theta_SP = m K^H + 1                                                   readout W_r, b_r
//!          + sum_{linear e = (s -> t)} sr2 E_e(K^s) * P^t * (m K^s + 1)   W_e, b_e
//!          + sr2 E_0(K_data) * P^lift * (d K_data + 1)                    stem W_0, b_0
//! ```
//!
//! (`*` elementwise; `K_data = X X^T / d` on the inputs as the network sees them; `E_0 = 1`
//! for a dense lift; `P^t`, `P^lift` the backward Grams of [`super::ntk::Ntk`].) For the
//! authors' network (`sw2 = sr2 = 2`, zero biases) this is
//! `m Theta_FrozenLift + d T_lift + O(1)`, with `T_lift` the lift term of
//! [`super::ntk::Ntk::lift`]: SP's NTK grows with the width, which is why the step that
//! keeps training stable shrinks like `1 / m`. The kernel is the same for every output
//! class (the cross-class blocks vanish as `m` grows).
//!
//! ```
//! use archconv::{Dag, kernel::{Inputs, KernelFn, KernelKind, Lift, ntk::NtkVariant}};
//! let x = Inputs::gaussian(4, 3, 0);
//! let k = KernelFn::new(&Dag::dag3(), Lift::ReluStem, KernelKind::Exact).unnormalized();
//! let sp = k.ntk_standard(x.view(), 512)?;
//! let frozen = k.ntk(x.view(), None, NtkVariant::FrozenLift)?;
//! // The O(m) part dominates: Theta_SP / m is close to Theta_FrozenLift.
//! assert!((sp[[0, 1]] / 512.0 - frozen[[0, 1]]).abs() < 0.05 * frozen[[0, 1]].abs() + 0.02);
//! # Ok::<(), archconv::kernel::KernelError>(())
//! ```

use super::{Inputs, KernelError};
use crate::activation::Dual;
use crate::dag::Dag;
use crate::model::EdgeParams;
use crate::plan::Plan;
use ndarray::{Array2, ArrayView2, Zip};

/// Width and readout variance of a standard-parameterised network.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StandardParams {
    /// Width `m` of the stem and every node.
    pub width: usize,
    /// Input dimension `d` (the stem's fan-in).
    pub input_dim: usize,
    /// Readout weight variance `sr2` (`W_r ~ N(0, sr2 / m)`; Kaiming: 2).
    pub readout_sw2: f64,
}

/// `E[phi'(u) phi'(v)]` of an edge at `k`: `Fd_e / sw2`, or the dual itself at `sw2 = 0`.
fn slope_dual(p: &EdgeParams, k: ArrayView2<'_, f64>) -> Array2<f64> {
    if p.sw2() > 0.0 {
        let mut fd = p.ntk_map(k);
        let inv = 1.0 / p.sw2();
        fd.mapv_inplace(|v| v * inv);
        fd
    } else {
        p.activation().dual_matrix(k, p.sw2(), p.sb2(), Dual::Ntk)
    }
}

impl Inputs {
    /// The SP NTK `Theta_SP` of `dag` (module docs) for these inputs, under `rule`
    /// ([`super::exact::Rule::Exact`] or independent-branch).
    ///
    /// Errors: those of [`Inputs::ntk`], and [`KernelError::BadParameter`] for a zero width
    /// or input dimension or a non-finite or negative readout variance.
    pub fn ntk_standard(
        &self,
        dag: &Dag,
        rule: super::exact::Rule,
        sp: &StandardParams,
    ) -> Result<Array2<f64>, KernelError> {
        for (what, v) in [("width", sp.width), ("input dimension", sp.input_dim)] {
            if v == 0 {
                return Err(KernelError::BadParameter {
                    what,
                    value: 0.0,
                    why: "must be positive",
                });
            }
        }
        if !(sp.readout_sw2.is_finite() && sp.readout_sw2 >= 0.0) {
            return Err(KernelError::BadParameter {
                what: "readout variance",
                value: sp.readout_sw2,
                why: "must be finite and non-negative",
            });
        }

        let (ntk, forward) = self.ntk_parts(dag, rule)?;
        let plan = Plan::of(dag);
        let m = sp.width as f64;
        let sr2 = sp.readout_sw2;
        let mut theta = ntk.readout().mapv(|k| m * k + 1.0);
        for (i, e) in dag.edges().iter().enumerate() {
            let Some(pid) = plan.pid(i) else { continue };
            let ks = &forward[e.from].gram;
            let slope = slope_dual(plan.params(pid), ks.view());
            Zip::from(&mut theta)
                .and(&slope)
                .and(ntk.backward(e.to))
                .and(ks)
                .par_for_each(|o, &s, &p, &k| *o += sr2 * s * p * (m * k + 1.0));
        }
        let kd = self.data_gram();
        let d = sp.input_dim as f64;
        let plift = ntk.lift_backward();
        match self.lift_params().stem_params() {
            Some(p) => {
                let slope = slope_dual(p, kd.view());
                Zip::from(&mut theta)
                    .and(&slope)
                    .and(plift)
                    .and(kd)
                    .par_for_each(|o, &s, &p, &k| *o += sr2 * s * p * (d * k + 1.0));
            }
            None => Zip::from(&mut theta)
                .and(plift)
                .and(kd)
                .par_for_each(|o, &p, &k| *o += sr2 * p * (d * k + 1.0)),
        }
        Ok(theta)
    }
}
