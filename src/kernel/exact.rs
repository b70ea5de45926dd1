//! The exact infinite-width recursion and its independent-branch simplification
//! (PAPER.md section 7). One traversal in topological order; [`Rule`] says whether the
//! branch cross terms are kept.
//!
//! For node `t` with incoming edges `e = (s -> t)`, `a_e = mu^s` (skip) or
//! `sqrt(diag K^s / pi)` (linear), `mu^t = sum_e a_e`, and
//!
//! ```text
//! exact:   K^t = sum_{linear e} f(K^s) + sum_{skip e, skip e'} S^{s,s'}
//!               + mu^t mu^tT - A A^T - sum_{linear e} a_e a_e^T,      A = sum_{skip e} a_e
//! branch:  K^t = sum_{linear e} f(K^s) + sum_{skip e} K^s
//! ```
//!
//! The rank-one part is `sum_{e != e', not both skip} a_e a_e'^T` rewritten with the
//! full sum `mu mu^T`. Cross-node Grams are computed on demand and memoised:
//! `S^{t,u} = sum_{skip s->t} S^{s,u} + sum_{linear e into t} a_e (mu^u)^T` for `u < t`,
//! `S^{t,t} = K^t`, `S^{u,t} = (S^{t,u})^T`; all input nodes carry the same lifted
//! features, so `S` between inputs is `K^0`.
//!
//! ```
//! use archconv::{Dag, kernel::{Inputs, KernelKind, Lift, relu::h}};
//! use ndarray::array;
//! let c = 0.3;
//! let inp = Inputs::from_gram(array![[1.0, c], [c, 1.0]], Lift::Dense).unwrap();
//! // DAG#2 (1_01_222): node 3 sums three linear edges from nodes 0, 1, 2, which all
//! // equal the input here (skip chain 0 -> 1 -> 2). Exact: 3 f(c) + 6 (1/pi) cross terms.
//! let k = inp.kernel(&Dag::dag2(), KernelKind::Exact).unwrap();
//! let pi = std::f64::consts::PI;
//! assert!((k.output().gram[[0, 1]] - (3.0 * h(c) + 6.0 / pi)).abs() < 1e-14);
//! assert!((k.output().gram[[0, 0]] - (3.0 + 6.0 / pi)).abs() < 1e-14);
//! ```

use super::{relu, Inputs, KernelError, NodeState};
use crate::dag::{Dag, Op};
use crate::paths::DepthHistograms;
use ndarray::{Array1, Array2, Zip};
use std::collections::HashMap;

/// Which pair terms the recursion keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Every cross term (the exact infinite-width limit).
    Exact,
    /// No cross terms: each branch contributes its own kernel.
    IndependentBranch,
}

struct Traversal<'a> {
    dag: &'a Dag,
    inp: &'a Inputs,
    states: Vec<NodeState>,
    /// `f(K^s)` per source node, shared by all linear edges leaving `s`.
    fcache: HashMap<usize, Array2<f64>>,
    /// `S^{a,b}` for `a > b` (canonical nodes).
    cross: HashMap<(usize, usize), Array2<f64>>,
    first_input: usize,
}

impl Traversal<'_> {
    fn edge_mean(&self, s: usize, op: Op) -> Array1<f64> {
        match op {
            Op::Linear => super::relu_mean(&self.states[s].gram),
            _ => self.states[s].mean.clone(),
        }
    }

    fn f_of(&mut self, s: usize) -> &Array2<f64> {
        if !self.fcache.contains_key(&s) {
            let fk = relu::f_matrix(self.states[s].gram.view());
            self.fcache.insert(s, fk);
        }
        &self.fcache[&s]
    }

    fn canon(&self, x: usize) -> usize {
        if self.dag.is_input(x) {
            self.first_input
        } else {
            x
        }
    }

    /// `S^{a,b}` as an owned matrix.
    fn cross_gram(&mut self, a: usize, b: usize) -> Array2<f64> {
        let (a, b) = (self.canon(a), self.canon(b));
        if a == b {
            return self.states[a].gram.clone();
        }
        if a < b {
            return self
                .cross_gram(b, a)
                .reversed_axes()
                .as_standard_layout()
                .to_owned();
        }
        if let Some(s) = self.cross.get(&(a, b)) {
            return s.clone();
        }
        let n = self.inp.len();
        let mut s = Array2::<f64>::zeros((n, n));
        let edges: Vec<(usize, Op)> = self.dag.in_edges(a).map(|e| (e.from, e.op)).collect();
        let mu_b = self.states[b].mean.clone();
        for (src, op) in edges {
            match op {
                Op::Skip => s += &self.cross_gram(src, b),
                Op::Linear => {
                    let ae = self.edge_mean(src, Op::Linear);
                    add_outer(&mut s, 1.0, &ae, &mu_b);
                }
                Op::Zero => {}
            }
        }
        self.cross.insert((a, b), s.clone());
        s
    }
}

/// `m += alpha u v^T`, rows in parallel.
pub(crate) fn add_outer(m: &mut Array2<f64>, alpha: f64, u: &Array1<f64>, v: &Array1<f64>) {
    Zip::from(m.rows_mut()).and(u).par_for_each(|mut row, &ui| {
        let c = alpha * ui;
        row.zip_mut_with(v, |x, &vj| *x += c * vj);
    });
}

pub(crate) fn recursion(
    dag: &Dag,
    inp: &Inputs,
    rule: Rule,
) -> Result<Vec<NodeState>, KernelError> {
    let n = inp.len();
    let out = dag.output();
    if let Ok(h) = DepthHistograms::of(dag) {
        if h.node(out).iter().all(|&c| c == 0) {
            return Err(KernelError::NoPath { node: out });
        }
    }
    let mut tr = Traversal {
        dag,
        inp,
        states: Vec::with_capacity(dag.num_nodes()),
        fcache: HashMap::new(),
        cross: HashMap::new(),
        first_input: dag.inputs().iter().copied().min().unwrap_or(0),
    };
    for t in 0..dag.num_nodes() {
        if dag.is_input(t) {
            tr.states.push(NodeState {
                gram: inp.k0().clone(),
                mean: inp.mu0().clone(),
            });
            continue;
        }
        let edges: Vec<(usize, Op)> = dag.in_edges(t).map(|e| (e.from, e.op)).collect();
        let mut gram = Array2::<f64>::zeros((n, n));
        let mut mu = Array1::<f64>::zeros(n);
        let mut skip_sum = Array1::<f64>::zeros(n);
        let mut linear_means = Vec::new();
        let mut skips = Vec::new();
        for &(s, op) in &edges {
            let a = tr.edge_mean(s, op);
            mu += &a;
            match op {
                Op::Linear => {
                    gram += tr.f_of(s);
                    linear_means.push(a);
                }
                Op::Skip => {
                    skip_sum += &a;
                    skips.push(s);
                }
                Op::Zero => {}
            }
        }
        match rule {
            Rule::IndependentBranch => {
                for &s in &skips {
                    gram += &tr.states[s].gram;
                }
            }
            Rule::Exact => {
                for (i, &s) in skips.iter().enumerate() {
                    gram += &tr.states[s].gram;
                    for &s2 in &skips[i + 1..] {
                        let c = tr.cross_gram(s, s2);
                        gram += &c;
                        gram += &c.t();
                    }
                }
                add_outer(&mut gram, 1.0, &mu, &mu);
                add_outer(&mut gram, -1.0, &skip_sum, &skip_sum);
                for a in &linear_means {
                    add_outer(&mut gram, -1.0, a, a);
                }
            }
        }
        tr.states.push(NodeState { gram, mean: mu });
    }
    Ok(tr.states)
}
