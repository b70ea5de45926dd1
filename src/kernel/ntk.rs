//! The exact neural tangent kernel of DAG networks (PAPER.md section 8, beyond the paper).
//!
//! NTK parameterisation, everything trained: readout `u = v . X^H / sqrt(m)`, every
//! linear edge `phi(sqrt(sw2 / m) W_e X^s + sqrt(sb2) b_e)` (the paper's:
//! `sqrt(2) relu(W_e X^s / sqrt(m))`), and the lift's weights and biases. With the
//! forward Grams `K^s` of the NNGP recursion ([`super::exact`]) and each edge's NTK map
//! `Fd_e(K)_ij = sw2 E[phi'(u) phi'(v)]`, `(u, v) ~ N(0, sw2 K + sb2)` (PAPER.md section 9;
//! for the paper's edge `fdot(K)_ij = (pi - arccos C_ij) / pi`), the backward Grams
//! `Q^{a,b} = lim (1/m) <delta^a, delta^b>` (`delta^a = sqrt(m) du/dX^a`, `P^a = Q^{a,a}`)
//! follow in reverse topological order:
//!
//! ```text
//! Q^{H,H} = 1 1^T
//! Q^{a,b} = sum_{skip a->t} Q^{t,b}                                  (b > a)
//! P^a     = sum_{skip a->t, skip a->t'} Q^{t,t'} + sum_{linear e=(a->t)} Fd_e(K^a) * P^t
//! Theta   = K^H + sum_{linear e=(s->t)} (K^s + sb2/sw2) * Fd_e(K^s) * P^t + lift term
//! lift term: dense  K^0 * P^lift  (K^0 = sw2 K_data + sb2);
//!            stem   (K_data + sb2/sw2) * Fd_lift(K_data) * P^lift
//! ```
//!
//! (`(K^s + sb2/sw2) * Fd_e` is `E[phi'phi'] (sw2 K^s + sb2)`: the weights' and the bias's
//! gradients; for the paper's edge `K^s * fdot(K^s)`.)
//!
//! (`*` is the elementwise product; `K_data = X X^T / d`; `P^lift = sum_{i,j inputs} Q^{i,j}`.)
//! Linear out-edges contribute no backward cross terms: a fresh weight matrix enters the
//! backward signal linearly with mean zero. Routes that differ only by skip edges stay
//! correlated (the skip pairs with `t != t'`). The **independent-branch** NTK (what
//! neural-tangents computes when its `FanInSum` is forced) uses the independent-branch
//! forward Grams and drops those skip-pair terms.
//!
//! Every term is kept separately ([`Ntk::readout`], [`Ntk::edge_terms`], [`Ntk::lift`]),
//! and [`NtkVariant`] selects readout-only, frozen-lift or full sums. On a chain the exact
//! NTK reduces to the textbook recursion `Theta^l = K^l + Theta^{l-1} * fdot(K^{l-1})`.
//!
//! ```
//! use archconv::{Dag, kernel::{Inputs, Lift, exact::Rule, ntk::NtkVariant}};
//! let x = Inputs::gaussian(6, 4, 0);
//! let inp = Inputs::from_data(x.view(), Lift::Dense).unwrap();
//! let ntk = inp.ntk(&Dag::dag3(), Rule::Exact).unwrap();
//! let theta = ntk.theta(NtkVariant::Full);
//! assert_eq!(ntk.edge_terms().len(), 3);                 // one per linear edge
//! assert!(theta[[0, 0]] > ntk.readout()[[0, 0]]);          // training all layers adds terms
//! ```

use super::exact::{fused, recursion, Rule};
use super::{Inputs, KernelError, Lift};
use crate::dag::{Dag, Edge};
use crate::plan::{Plan, Step};
use ndarray::{Array1, Array2, Zip};
use std::collections::{BTreeMap, HashMap};

/// Which parameters are trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NtkVariant {
    /// Readout, every linear edge and the lift weights.
    Full,
    /// Readout and linear edges; the lift weights frozen.
    FrozenLift,
    /// Only the readout: `Theta = K^H` (the NNGP).
    ReadoutOnly,
}

/// The NTK of a DAG network, term by term.
#[derive(Debug, Clone)]
pub struct Ntk {
    rule: Rule,
    lift_kind: Lift,
    readout: Array2<f64>,
    edges: Vec<(Edge, Array2<f64>)>,
    lift: Array2<f64>,
    backward: Vec<Array2<f64>>,
    plift: Array2<f64>,
}

impl Ntk {
    pub(crate) fn from_parts(
        rule: Rule,
        lift_kind: Lift,
        readout: Array2<f64>,
        edges: Vec<(Edge, Array2<f64>)>,
        lift: Array2<f64>,
        backward: Vec<Array2<f64>>,
        plift: Array2<f64>,
    ) -> Ntk {
        Ntk {
            rule,
            lift_kind,
            readout,
            edges,
            lift,
            backward,
            plift,
        }
    }

    /// Which forward/backward rule was used.
    pub fn rule(&self) -> Rule {
        self.rule
    }

    /// Which input lift the lift term belongs to (dense or ReLU stem).
    pub fn lift_kind(&self) -> Lift {
        self.lift_kind
    }

    /// Readout term `K^H`.
    pub fn readout(&self) -> &Array2<f64> {
        &self.readout
    }

    /// Per linear edge `(s -> t)`: `(K^s + sb2/sw2) * Fd_e(K^s) * P^t` (`K^s * fdot(K^s) *
    /// P^t` for the paper's edge).
    pub fn edge_terms(&self) -> &[(Edge, Array2<f64>)] {
        &self.edges
    }

    /// Lift term (`K_data * P^lift`, or `K_data * fdot(K_data) * P^lift` for the stem).
    pub fn lift(&self) -> &Array2<f64> {
        &self.lift
    }

    /// Backward Gram `P^t` of node `t`.
    pub fn backward(&self, t: usize) -> &Array2<f64> {
        &self.backward[t]
    }

    /// The lift's backward Gram `P^lift = sum_{i,j inputs} Q^{i,j}` (what multiplies the
    /// lift's own factor in [`Ntk::lift`]).
    pub fn lift_backward(&self) -> &Array2<f64> {
        &self.plift
    }

    /// The NTK for a choice of trained parameters.
    pub fn theta(&self, variant: NtkVariant) -> Array2<f64> {
        let mut out = self.readout.clone();
        if variant == NtkVariant::ReadoutOnly {
            return out;
        }
        for (_, term) in &self.edges {
            out += term;
        }
        if variant == NtkVariant::Full {
            out += &self.lift;
        }
        out
    }
}

/// A symmetric combination `sum_x c_x P^x` of backward Grams. Unrolling
/// `Q^{a,b} = sum_{skip a->t} Q^{t,b}` ends in `Q^{b,b} = P^b` (or a transpose of such a
/// sum), and every `P` is symmetric, so cross Grams never need their own matrices.
type Combo = BTreeMap<usize, f64>;

fn add_combo(acc: &mut Combo, other: &Combo, scale: f64) {
    for (&x, &c) in other {
        *acc.entry(x).or_insert(0.0) += scale * c;
    }
}

struct Backward<'a> {
    plan: &'a Plan<'a>,
    /// `Q^{a,b}` for `a < b`, symbolically.
    cross: HashMap<(usize, usize), Combo>,
}

impl Backward<'_> {
    /// `Q^{a,b}` as a combination of `P`s.
    fn q(&mut self, a: usize, b: usize) -> Combo {
        if a == b {
            return Combo::from([(a, 1.0)]);
        }
        let (a, b) = (a.min(b), a.max(b));
        if let Some(q) = self.cross.get(&(a, b)) {
            return q.clone();
        }
        let mut acc = Combo::new();
        let outs: Vec<usize> = skip_targets(self.plan, a);
        for t in outs {
            let q = self.q(t, b);
            add_combo(&mut acc, &q, 1.0);
        }
        self.cross.insert((a, b), acc.clone());
        acc
    }
}

/// Targets of node `a`'s skip edges (with multiplicity), in edge order.
fn skip_targets(plan: &Plan<'_>, a: usize) -> Vec<usize> {
    plan.out_edges(a)
        .iter()
        .filter_map(|&i| match plan.step(i) {
            Step::Identity { .. } => Some(plan.edge(i).to),
            Step::Layer { .. } => None,
        })
        .collect()
}

/// `a * b * c` elementwise (any of `b` may be absent), rows in parallel.
fn product3(a: &Array2<f64>, b: Option<&Array2<f64>>, c: &Array2<f64>) -> Array2<f64> {
    let mut out = crate::linalg::zeros_fast(a.nrows(), a.ncols());
    let par = crate::linalg::parallel(a.len());
    match b {
        Some(b) => {
            let zip = Zip::from(&mut out).and(a).and(b).and(c);
            let f = |x: &mut f64, &p: &f64, &q: &f64, &r: &f64| *x = p * q * r;
            if par {
                zip.par_for_each(f)
            } else {
                zip.for_each(f)
            }
        }
        None => {
            let zip = Zip::from(&mut out).and(a).and(c);
            let f = |x: &mut f64, &p: &f64, &r: &f64| *x = p * r;
            if par {
                zip.par_for_each(f)
            } else {
                zip.for_each(f)
            }
        }
    }
    out
}

impl Inputs {
    /// The lift's own NTK factor `Theta^0` (what multiplies `P^lift`): dense
    /// `K^0 = sw2 K_data + sb2`; stem `(K_data + sb2/sw2) * Fd_lift(K_data)`.
    pub(crate) fn lift_ntk_term(&self) -> std::borrow::Cow<'_, Array2<f64>> {
        let kd = self.data_gram();
        match self.lift_params().stem_params() {
            None => std::borrow::Cow::Borrowed(self.k0()),
            Some(sp) => {
                let fd = sp.ntk_map(kd.view());
                std::borrow::Cow::Owned(if sp.sb2() == 0.0 {
                    ndarray::Zip::from(kd).and(&fd).map_collect(|&a, &b| a * b)
                } else {
                    sp.ntk_param_factor(kd.view(), &fd)
                })
            }
        }
    }

    /// The NTK of `dag` under `rule` ([`Rule::Exact`] or [`Rule::IndependentBranch`]).
    pub fn ntk(&self, dag: &Dag, rule: Rule) -> Result<Ntk, KernelError> {
        self.ntk_parts(dag, rule).map(|(ntk, _)| ntk)
    }

    /// [`Inputs::ntk`] and the forward states it was built from (every node's `K^t`).
    pub(crate) fn ntk_parts(
        &self,
        dag: &Dag,
        rule: Rule,
    ) -> Result<(Ntk, Vec<super::NodeState>), KernelError> {
        // Forward states, the backward P^a per node and caches (estimate checked first).
        self.check_states(dag, "NTK", 4)?;
        let plan = Plan::of(dag);
        let forward = recursion(&plan, self, rule)?;
        let n = self.len();
        let h = dag.output();
        let mut bw = Backward {
            plan: &plan,
            cross: HashMap::new(),
        };
        let mut p: Vec<Option<Array2<f64>>> = vec![None; dag.num_nodes()];
        // Fd_e(K^s) per (source, parameter set).
        let mut fdot_cache: HashMap<(usize, usize), Array2<f64>> = HashMap::new();
        let ones = Array1::<f64>::ones(n);
        for a in (0..dag.num_nodes()).rev() {
            let skips: Vec<usize> = skip_targets(&plan, a);
            let linears: Vec<(usize, usize)> = plan
                .out_edges(a)
                .iter()
                .filter_map(|&i| match plan.step(i) {
                    Step::Layer { pid, .. } => Some((plan.edge(i).to, pid)),
                    Step::Identity { .. } => None,
                })
                .collect();
            let mut combo = Combo::new();
            for (i, &t) in skips.iter().enumerate() {
                *combo.entry(t).or_insert(0.0) += 1.0;
                if rule == Rule::Exact {
                    for &t2 in &skips[i + 1..] {
                        // Q^{t,t'} + Q^{t',t} = 2 Q^{t,t'} (a symmetric combination).
                        let q = bw.q(t, t2);
                        add_combo(&mut combo, &q, 2.0);
                    }
                }
            }
            for &(_, pid) in &linears {
                fdot_cache
                    .entry((a, pid))
                    .or_insert_with(|| plan.params(pid).ntk_map(forward[a].gram.view()));
            }
            let pa = {
                let dense: Vec<(f64, &Array2<f64>)> = combo
                    .iter()
                    .filter(|(_, &c)| c != 0.0)
                    .map(|(&x, &c)| (c, p[x].as_ref().expect("later node")))
                    .collect();
                let products: Vec<(&Array2<f64>, &Array2<f64>)> = linears
                    .iter()
                    .map(|&(t, pid)| (&fdot_cache[&(a, pid)], p[t].as_ref().expect("later node")))
                    .collect();
                // P^H = 1 1^T enters as a rank-one term.
                let rank1: Vec<(f64, &Array1<f64>, &Array1<f64>)> = if a == h {
                    vec![(1.0, &ones, &ones)]
                } else {
                    vec![]
                };
                fused(n, &dense, &rank1, &products)
            };
            p[a] = Some(pa);
        }
        // Edge terms (K^s + sb2/sw2) * Fd_e(K^s) * P^t (K^s * fdot(K^s) * P^t for ReLU).
        let mut edges = Vec::new();
        for (i, e) in dag.edges().iter().enumerate() {
            let Some(pid) = plan.pid(i) else { continue };
            let s = e.from;
            let params = plan.params(pid);
            fdot_cache
                .entry((s, pid))
                .or_insert_with(|| params.ntk_map(forward[s].gram.view()));
            let fd = &fdot_cache[&(s, pid)];
            let pt = p[e.to].as_ref().expect("computed");
            let term = if params.sb2() == 0.0 {
                product3(&forward[s].gram, Some(fd), pt)
            } else {
                product3(
                    &params.ntk_param_factor(forward[s].gram.view(), fd),
                    None,
                    pt,
                )
            };
            edges.push((e.clone(), term));
        }
        // Lift term: P^lift = sum over input pairs of Q^{i,j} (inputs share the lift).
        let inputs = dag.inputs().to_vec();
        let mut combo = Combo::new();
        for &i in &inputs {
            for &j in &inputs {
                if i == j || rule == Rule::Exact {
                    let q = bw.q(i, j);
                    add_combo(&mut combo, &q, 1.0);
                }
            }
        }
        let plift = {
            let dense: Vec<(f64, &Array2<f64>)> = combo
                .iter()
                .filter(|(_, &c)| c != 0.0)
                .map(|(&x, &c)| (c, p[x].as_ref().expect("node")))
                .collect();
            fused(n, &dense, &[], &[])
        };
        let lift = product3(&self.lift_ntk_term(), None, &plift);
        let backward = p.into_iter().map(|x| x.expect("all nodes")).collect();
        let readout = forward[h].gram.clone();
        Ok((
            Ntk {
                rule,
                lift_kind: self.lift(),
                readout,
                edges,
                lift,
                backward,
                plift,
            },
            forward,
        ))
    }
}
