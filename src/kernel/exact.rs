//! The exact infinite-width recursion and its independent-branch simplification
//! (PAPER.md section 7). One traversal in topological order; [`Rule`] says whether the
//! branch cross terms are kept.
//!
//! For node `t` with incoming edges `e = (s -> t)`, `a_e = mu^s` (skip) or
//! `a_e,i = E[phi_e(u)]`, `u ~ N(0, sw2 K^s_ii + sb2)` (linear; `sqrt(diag K^s / pi)` for
//! the paper's ReLU edge), `mu^t = sum_e a_e`, and with `F_e` the edge's NNGP map
//! ([`crate::model::EdgeParams::nngp_map`], PAPER.md section 9; the arc-cosine `f` for
//! the paper's edge):
//!
//! ```text
//! exact:   K^t = sum_{linear e} F_e(K^s) + sum_{skip e, skip e'} S^{s,s'}
//!               + mu^t mu^tT - A A^T - sum_{linear e} a_e a_e^T,      A = sum_{skip e} a_e
//! branch:  K^t = sum_{linear e} F_e(K^s) + sum_{skip e} K^s
//! ```
//!
//! Each map is computed once per source node and parameter set ([`crate::plan::Plan`]).
//! Odd activations (erf, tanh) have `a_e = 0`, so their exact and independent-branch
//! kernels differ only through the skip-pair terms.
//!
//! The rank-one part is `sum_{e != e', not both skip} a_e a_e'^T` rewritten with the
//! full sum `mu mu^T`. Cross-node Grams are never stored as dense matrices: unrolling the
//! recursion shows every `S^{a,b}` is a combination `sum_x c_x K^x + sum_b w_b (mu^b)^T +
//! sum_b mu^b z_b^T` of node Grams (symmetric) and rank-one terms, so each node's Gram is
//! one fused pass over `N x N` entries. Cross-node Grams are computed on demand and memoised:
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
use crate::dag::Dag;
use crate::paths::DepthHistograms;
use crate::plan::{Plan, Step};
use ndarray::{Array1, Array2};
use std::collections::{BTreeMap, HashMap};

/// Which pair terms the recursion keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Every cross term (the exact infinite-width limit).
    Exact,
    /// No cross terms: each branch contributes its own kernel.
    IndependentBranch,
}

/// A symbolic `N x N` matrix `sum_x c_x K^x + sum_b right_b (mu^b)^T + sum_b mu^b (left_b)^T`.
#[derive(Debug, Clone, Default)]
struct Combo {
    grams: BTreeMap<usize, f64>,
    right: BTreeMap<usize, Array1<f64>>,
    left: BTreeMap<usize, Array1<f64>>,
}

fn merge(map: &mut BTreeMap<usize, Array1<f64>>, key: usize, v: &Array1<f64>) {
    match map.get_mut(&key) {
        Some(acc) => *acc += v,
        None => {
            map.insert(key, v.clone());
        }
    }
}

impl Combo {
    fn gram(x: usize) -> Combo {
        let mut c = Combo::default();
        c.grams.insert(x, 1.0);
        c
    }

    fn add(&mut self, other: &Combo) {
        for (&x, &c) in &other.grams {
            *self.grams.entry(x).or_insert(0.0) += c;
        }
        for (&b, v) in &other.right {
            merge(&mut self.right, b, v);
        }
        for (&b, v) in &other.left {
            merge(&mut self.left, b, v);
        }
    }

    fn transposed(&self) -> Combo {
        Combo {
            grams: self.grams.clone(),
            right: self.left.clone(),
            left: self.right.clone(),
        }
    }
}

/// Where `f(K^s)` lives: its own matrix, or the Gram of a node that is exactly `f(K^s)`
/// (a single linear edge from `s`), which took the matrix over instead of copying it.
enum FMap {
    Own(Array2<f64>),
    Node(usize),
}

/// A linear edge's map `F_e(K^s)` is keyed by its source and parameter-set id.
type MapKey = (usize, usize);

struct Traversal<'a> {
    dag: &'a Dag,
    plan: &'a Plan<'a>,
    states: Vec<NodeState>,
    /// `F_e(K^s)` per (source node, parameter set), shared by the linear edges leaving `s`
    /// with the same parameters.
    fcache: HashMap<MapKey, FMap>,
    /// `S^{a,b}` for `a > b` (canonical nodes), symbolically.
    cross: HashMap<(usize, usize), Combo>,
    first_input: usize,
}

impl Traversal<'_> {
    /// `a_e`: the mean of a linear edge's output (`pid` its parameters), or the source's
    /// mean for a skip edge (`pid = None`).
    /// The mean an edge passes on: `mu^s` through the identity, `a_e(K^s)` from a layer.
    fn edge_mean(&self, step: Step) -> Array1<f64> {
        match step {
            Step::Layer { from, pid } => self.plan.params(pid).mean(&self.states[from].gram),
            Step::Identity { from } => self.states[from].mean.clone(),
        }
    }

    fn ensure_f(&mut self, key: MapKey) {
        if !self.fcache.contains_key(&key) {
            let fk = self
                .plan
                .params(key.1)
                .nngp_map(self.states[key.0].gram.view());
            self.fcache.insert(key, FMap::Own(fk));
        }
    }

    fn f_of(&self, key: MapKey) -> &Array2<f64> {
        match &self.fcache[&key] {
            FMap::Own(m) => m,
            FMap::Node(t) => &self.states[*t].gram,
        }
    }

    /// `f(K^s)` as an owned matrix for node `t` whose Gram is exactly `f(K^s)`: moved out
    /// of the cache (which then points at node `t`), copied only if another node owns it.
    fn take_f(&mut self, key: MapKey, t: usize) -> Array2<f64> {
        if let Some(FMap::Node(u)) = self.fcache.get(&key) {
            return crate::linalg::clone_fast(&self.states[*u].gram);
        }
        match self.fcache.insert(key, FMap::Node(t)) {
            Some(FMap::Own(m)) => m,
            _ => unreachable!("ensure_f runs first"),
        }
    }

    fn canon(&self, x: usize) -> usize {
        if self.dag.is_input(x) {
            self.first_input
        } else {
            x
        }
    }

    /// `S^{a,b}` symbolically.
    fn cross_gram(&mut self, a: usize, b: usize) -> Combo {
        let (a, b) = (self.canon(a), self.canon(b));
        if a == b {
            return Combo::gram(a);
        }
        if a < b {
            return self.cross_gram(b, a).transposed();
        }
        if let Some(s) = self.cross.get(&(a, b)) {
            return s.clone();
        }
        let mut s = Combo::default();
        let steps: Vec<Step> = self
            .plan
            .in_edges(a)
            .iter()
            .map(|&i| self.plan.step(i))
            .collect();
        for step in steps {
            match step {
                Step::Identity { from } => {
                    let c = self.cross_gram(from, b);
                    s.add(&c);
                }
                Step::Layer { .. } => {
                    let ae = self.edge_mean(step);
                    merge(&mut s.right, b, &ae);
                }
            }
        }
        self.cross.insert((a, b), s.clone());
        s
    }
}

/// `sum_k c_k M_k + sum_r alpha_r u_r v_r^T + sum_q F_q * G_q` (elementwise products) in
/// one pass over the rows, in parallel. Shared by the NNGP recursions and the NTK's
/// backward pass.
pub(crate) fn fused(
    n: usize,
    dense: &[(f64, &Array2<f64>)],
    rank1: &[(f64, &Array1<f64>, &Array1<f64>)],
    products: &[(&Array2<f64>, &Array2<f64>)],
) -> Array2<f64> {
    fused_with_maps(n, &[], dense, rank1, products)
}

/// An edge map computed row by row: the paper's arc-cosine map ([`relu::FRows`]) or any
/// closed-form activation's ([`crate::activation::ClosedRows`]).
pub(crate) enum RowMap<'a> {
    /// The paper's ReLU edge.
    Relu(relu::FRows<'a>),
    /// Another closed-form edge.
    Closed(crate::activation::ClosedRows<'a>),
}

impl<'a> RowMap<'a> {
    /// The row map of `params`' NNGP map on `k`, if it can be computed row by row.
    fn of(params: &crate::model::EdgeParams, k: ndarray::ArrayView2<'a, f64>) -> Option<Self> {
        if params.is_paper_relu() {
            return Some(RowMap::Relu(relu::FRows::new(k)));
        }
        crate::activation::ClosedRows::new(
            params.activation(),
            k,
            params.sw2(),
            params.sb2(),
            crate::activation::Dual::Nngp,
        )
        .map(RowMap::Closed)
    }

    fn row(&self, i: usize, o: &mut [f64]) {
        match self {
            RowMap::Relu(f) => f.row(i, o),
            RowMap::Closed(f) => f.row(i, o),
        }
    }
}

/// [`fused`] plus terms `c F_e(K)` whose map is computed row by row in the same pass
/// instead of being stored ([`RowMap`]): a map read by one node only costs no `N x N`
/// write and read.
pub(crate) fn fused_with_maps(
    n: usize,
    maps: &[(f64, &RowMap<'_>)],
    dense: &[(f64, &Array2<f64>)],
    rank1: &[(f64, &Array1<f64>, &Array1<f64>)],
    products: &[(&Array2<f64>, &Array2<f64>)],
) -> Array2<f64> {
    // The same matrix may appear twice (a node that took over f(K^s) read both as f(K^s)
    // and as a node Gram): read it once with the summed coefficient.
    let mut merged: Vec<(f64, &Array2<f64>)> = Vec::with_capacity(dense.len());
    for &(c, m) in dense {
        match merged.iter_mut().find(|(_, x)| std::ptr::eq(*x, m)) {
            Some((acc, _)) => *acc += c,
            None => merged.push((c, m)),
        }
    }
    let dense = &merged[..];
    let mut out = crate::linalg::zeros_fast(n, n);
    let fill = |(i, mut row): (usize, ndarray::ArrayViewMut1<'_, f64>)| {
        let o = row.as_slice_mut().expect("contiguous row");
        if !maps.is_empty() {
            let mut buf = vec![0.0; n];
            for &(c, f) in maps {
                f.row(i, &mut buf);
                if c == 1.0 {
                    o.iter_mut().zip(&buf).for_each(|(x, &y)| *x += y);
                } else {
                    o.iter_mut().zip(&buf).for_each(|(x, &y)| *x += c * y);
                }
            }
        }
        for &(c, m) in dense {
            let src = m.row(i);
            let src = src.as_slice().expect("contiguous row");
            if c == 1.0 {
                o.iter_mut().zip(src).for_each(|(x, &y)| *x += y);
            } else {
                o.iter_mut().zip(src).for_each(|(x, &y)| *x += c * y);
            }
        }
        for &(alpha, u, v) in rank1 {
            let cu = alpha * u[i];
            if cu != 0.0 {
                let v = v.as_slice().expect("contiguous vector");
                o.iter_mut().zip(v).for_each(|(x, &y)| *x += cu * y);
            }
        }
        for &(f, p) in products {
            let (fr, pr) = (f.row(i), p.row(i));
            o.iter_mut()
                .zip(fr.as_slice().expect("contiguous row"))
                .zip(pr.as_slice().expect("contiguous row"))
                .for_each(|((x, &a), &b)| *x += a * b);
        }
    };
    crate::linalg::for_each_row(&mut out, fill);
    out
}

/// The recursion over `plan`'s DAG (module docs): every node's state.
pub(crate) fn recursion(
    plan: &Plan<'_>,
    inp: &Inputs,
    rule: Rule,
) -> Result<Vec<NodeState>, KernelError> {
    let dag = plan.dag();
    let n = inp.len();
    let out = dag.output();
    if let Ok(h) = DepthHistograms::of(dag) {
        if !h.reaches(out) {
            return Err(KernelError::NoPath { node: out });
        }
    }
    let mut tr = Traversal {
        dag,
        plan,
        states: Vec::with_capacity(dag.num_nodes()),
        fcache: HashMap::new(),
        cross: HashMap::new(),
        first_input: dag.inputs().iter().copied().min().unwrap_or(0),
    };
    // Last node that reads F_e(K^s), so the cache can be released early, and the nodes
    // that read it (a ReLU map read by one node is computed inside that node's pass).
    let mut last_use: HashMap<MapKey, usize> = HashMap::new();
    let mut first_use: HashMap<MapKey, usize> = HashMap::new();
    for (i, e) in dag.edges().iter().enumerate() {
        if let Some(pid) = tr.plan.pid(i) {
            let l = last_use.entry((e.from, pid)).or_insert(0);
            *l = (*l).max(e.to);
            let f = first_use.entry((e.from, pid)).or_insert(usize::MAX);
            *f = (*f).min(e.to);
        }
    }
    for t in 0..dag.num_nodes() {
        if dag.is_input(t) {
            tr.states.push(NodeState {
                gram: crate::linalg::clone_fast(inp.k0()),
                mean: inp.mu0().clone(),
            });
            continue;
        }
        let edges: Vec<Step> = tr
            .plan
            .in_edges(t)
            .iter()
            .map(|&i| tr.plan.step(i))
            .collect();
        let mut mu = Array1::<f64>::zeros(n);
        let mut skip_sum = Array1::<f64>::zeros(n);
        let mut linear_means = Vec::new();
        let mut linear_sources: BTreeMap<MapKey, f64> = BTreeMap::new();
        let mut skips = Vec::new();
        for &step in &edges {
            let a = tr.edge_mean(step);
            mu += &a;
            match step {
                Step::Layer { from: s, pid } => {
                    let key = (s, pid);
                    // Streamed row by row when one node reads it and it has a closed
                    // form (its rows are cheap to recompute); otherwise stored.
                    if first_use[&key] != last_use[&key]
                        || edges.len() == 1
                        || !tr.plan.params(pid).activation().is_closed_form()
                        || tr.states[s].gram.diag().iter().any(|v| !v.is_finite())
                    {
                        tr.ensure_f(key);
                    }
                    *linear_sources.entry(key).or_insert(0.0) += 1.0;
                    linear_means.push(a);
                }
                Step::Identity { from: s } => {
                    skip_sum += &a;
                    skips.push(s);
                }
            }
        }
        // Skip part: sum over ordered skip pairs of S^{s,s'} (branch rule: diagonal only).
        let mut combo = Combo::default();
        for (i, &s) in skips.iter().enumerate() {
            combo.add(&Combo::gram(tr.canon(s)));
            if rule == Rule::Exact {
                for &s2 in &skips[i + 1..] {
                    let c = tr.cross_gram(s, s2);
                    combo.add(&c);
                    combo.add(&c.transposed());
                }
            }
        }
        // A single linear edge: K^t = f(K^s) exactly (mu^t = a_e, no pair terms).
        if let [Step::Layer { from: s, pid }] = edges[..] {
            let gram = tr.take_f((s, pid), t);
            tr.states.push(NodeState { gram, mean: mu });
            tr.fcache.retain(|key, _| last_use[key] > t);
            continue;
        }
        let gram = {
            let rows: Vec<(f64, RowMap<'_>)> = linear_sources
                .iter()
                .filter(|(key, _)| !tr.fcache.contains_key(key))
                .map(|(&(s, pid), &c)| {
                    let map = RowMap::of(tr.plan.params(pid), tr.states[s].gram.view());
                    (c, map.expect("only row maps are left out of the cache"))
                })
                .collect();
            let maps: Vec<(f64, &RowMap<'_>)> = rows.iter().map(|(c, f)| (*c, f)).collect();
            let mut dense: Vec<(f64, &Array2<f64>)> = Vec::new();
            for (&key, &c) in &linear_sources {
                if tr.fcache.contains_key(&key) {
                    dense.push((c, tr.f_of(key)));
                }
            }
            for (&x, &c) in &combo.grams {
                if c != 0.0 {
                    dense.push((c, &tr.states[x].gram));
                }
            }
            let mut rank1: Vec<(f64, &Array1<f64>, &Array1<f64>)> = Vec::new();
            for (&b, w) in &combo.right {
                rank1.push((1.0, w, &tr.states[b].mean));
            }
            for (&b, z) in &combo.left {
                rank1.push((1.0, &tr.states[b].mean, z));
            }
            // With a single incoming edge the pair terms cancel exactly (mu = a_e).
            if rule == Rule::Exact && edges.len() > 1 {
                rank1.push((1.0, &mu, &mu));
                rank1.push((-1.0, &skip_sum, &skip_sum));
                for a in &linear_means {
                    rank1.push((-1.0, a, a));
                }
            }
            fused_with_maps(n, &maps, &dense, &rank1, &[])
        };
        tr.states.push(NodeState { gram, mean: mu });
        tr.fcache.retain(|key, _| last_use[key] > t);
    }
    Ok(tr.states)
}
