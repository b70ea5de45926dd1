//! The output node's exact (or independent-branch) NNGP and NTK of large DAGs, tile by
//! tile in bounded memory and in scaled form (PAPER.md sections 7-9).
//!
//! **Features as integer combinations.** In the infinite-width limit every linear edge
//! `e = (s -> u)` adds a fresh output `g_e = phi_e(W_e X^s)`, independent of every other
//! edge's given the inputs, with mean `a_e` and covariance `C_e = F_e(K^s) - a_e a_e^T`;
//! skip edges only add features. So node `t`'s features are `sum_u P(u, t) g_u +
//! c_t X^0`, where `g_u` sums the edges into `u`, `P(u, t)` counts the skip-only paths
//! from `u` to `t` and `c_t = sum_inputs P(i, t)`. Hence
//!
//! ```text
//! exact:   K^t = mu^t mu^tT + sum_u P(u,t)^2 D_u + c_t^2 (K^0 - mu^0 mu^0T),
//!          D_u = sum_{linear e into u} (F_e(K^s) - a_e a_e^T),  mu^t = sum_u P(u,t) A_u + c_t mu^0
//! branch:  K^t = sum_u P(u,t) G_u + c_t K^0,  G_u = sum_{linear e into u} F_e(K^s)
//! ```
//!
//! and the NTK follows forward in the same way: a linear edge's gradient component
//! `T_e = E[phi'phi'](Sigma) * (Sigma + sw2 Theta^s)` (`Sigma = sw2 K^s + sb2`; the first
//! term trains `W_e, b_e`, the second carries everything below `s`) is uncorrelated with
//! every other edge's, so `Theta^t = sum_u P(u,t)^2 E_u + c_t^2 Theta^0` (`E_u = sum_e T_e`,
//! branch rule: weights `P`, `c_t`), and the NTK of the network is `K^H + Theta^H`. This
//! equals [`super::Inputs::ntk`]'s backward recursion (tested), without storing every
//! node's state.
//!
//! **Tiles.** Every map is entrywise: `F_e(K)_ij` needs only `K_ij`, `K_ii` and `K_jj`,
//! and `a_e` only the diagonal. A first pass computes every node's diagonal and mean
//! (vectors of `N`); then rows of the output are computed a block at a time, running the
//! whole DAG on that block's entries only. A tile of node `s` lives from the node to its
//! last linear reader, and a pending sum from its first contribution to its node; the
//! peak over the DAG, times the tile size and the threads, is checked against the memory
//! budget ([`crate::budget`]) before anything is allocated, and the tile is made smaller
//! (down to one row) to fit.
//!
//! **Scale.** A DAG with `2^900` paths has kernel entries near `2^900`, past f64's range.
//! Each node keeps a log-scale `lambda_t` with its Gram stored as `K^t / e^lambda_t`
//! (largest diagonal entry 1; means by `e^(lambda_t / 2)`). For positively homogeneous
//! activations (ReLU, ABReLU, Abs, identity) `F(e^l S) = e^l F(S)`, the mean scales by
//! `e^(l/2)` and the NTK dual not at all, so maps are evaluated on the scaled matrices
//! (the bias as `sb2 e^-l`) and nothing ever overflows; other activations are evaluated on
//! unscaled values, which must then be in range ([`KernelError::ScaleOutOfRange`]).
//!
//! ```
//! use archconv::{Dag, kernel::{Inputs, KernelKind, Lift, exact::Rule, ntk::NtkVariant}};
//! let x = Inputs::gaussian(6, 4, 1);
//! let inp = Inputs::from_data(x.view(), Lift::Dense).unwrap();
//! let dag = Dag::dag3();
//! let out = inp.output_kernel(&dag, Rule::Exact, Some(NtkVariant::Full)).unwrap();
//! let k = inp.kernel(&dag, KernelKind::Exact).unwrap();
//! let nngp = out.nngp().to_unscaled().unwrap();
//! assert!((nngp[[0, 1]] - k.output().gram[[0, 1]]).abs() < 1e-13);
//! let theta = inp.ntk(&dag, Rule::Exact).unwrap().theta(NtkVariant::Full);
//! let ntk = out.ntk().unwrap().to_unscaled().unwrap();
//! assert!((ntk[[2, 3]] - theta[[2, 3]]).abs() < 1e-12 * theta[[2, 2]]);
//! ```

use super::exact::Rule;
use super::ntk::NtkVariant;
use super::{Inputs, KernelError};
use crate::activation::EntryMap;
use crate::dag::Dag;
use crate::plan::{Plan, Step};
use ndarray::{Array1, Array2};
use rayon::prelude::*;
use std::collections::BTreeMap;

/// Largest log-scale at which a non-homogeneous activation is evaluated on unscaled
/// values (`e^600 ~ 1e260`, so `sw2 K + sb2` and the duals stay finite).
const MAX_UNSCALED_LOG: f64 = 250.0;
/// Target entries per tile (rows times columns); a tile is at least one row.
const TILE_ENTRIES: usize = 4096;

/// A kernel matrix in scaled form: `K = e^log_scale * gram`.
///
/// ```
/// use archconv::kernel::stream::ScaledGram;
/// let g = ScaledGram::new(2000.0, ndarray::array![[1.0, 0.5], [0.5, 1.0]]);
/// assert!(g.to_unscaled().is_none());                     // e^2000 overflows
/// assert!((g.log10_scale() - 2000.0 / std::f64::consts::LN_10).abs() < 1e-12);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ScaledGram {
    log_scale: f64,
    gram: Array2<f64>,
}

impl ScaledGram {
    /// `e^log_scale * gram`.
    pub fn new(log_scale: f64, gram: Array2<f64>) -> ScaledGram {
        ScaledGram { log_scale, gram }
    }

    /// Natural logarithm of the scale.
    pub fn log_scale(&self) -> f64 {
        self.log_scale
    }

    /// Base-10 logarithm of the scale.
    pub fn log10_scale(&self) -> f64 {
        self.log_scale / std::f64::consts::LN_10
    }

    /// The scaled matrix (`K / e^log_scale`). Scale-free quantities (normalised spectra,
    /// correlations, condition numbers) can be computed from it directly.
    pub fn gram(&self) -> &Array2<f64> {
        &self.gram
    }

    /// The scaled matrix, by value.
    pub fn into_gram(self) -> Array2<f64> {
        self.gram
    }

    /// `K` itself, or `None` when an entry overflows f64.
    pub fn to_unscaled(&self) -> Option<Array2<f64>> {
        let c = self.log_scale.exp();
        let k = self.gram.mapv(|v| v * c);
        k.iter().all(|v| v.is_finite()).then_some(k)
    }
}

/// Which entries of the output kernel a streamed pass computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Region {
    /// The whole symmetric `N x N` matrix.
    Square,
    /// Rows `[0, split)` against columns `[split, N)`: the cross block of two point sets
    /// stacked into one input (diagonals and means still cover all `N` points).
    Cross {
        /// The first point set's size.
        split: usize,
    },
}

/// The output node's kernels from [`Inputs::output_kernel`].
#[derive(Debug, Clone)]
pub struct OutputKernel {
    rule: Rule,
    nngp: ScaledGram,
    mean: Array1<f64>,
    diag: Array1<f64>,
    ntk: Option<ScaledGram>,
    tile_rows: usize,
    peak_bytes: u64,
}

impl OutputKernel {
    /// The rule used.
    pub fn rule(&self) -> Rule {
        self.rule
    }

    /// The output NNGP `K^H` (largest diagonal entry of the scaled matrix: 1).
    pub fn nngp(&self) -> &ScaledGram {
        &self.nngp
    }

    /// The output mean `mu^H / e^(log_scale / 2)` (same scale as [`OutputKernel::nngp`]).
    pub fn mean(&self) -> &Array1<f64> {
        &self.mean
    }

    /// The output NNGP's diagonal `K^H_ii` over every point (same scale as
    /// [`OutputKernel::nngp`]), from the first pass: `O(N)` per node.
    pub fn diag(&self) -> &Array1<f64> {
        &self.diag
    }

    /// The NTK, in the NNGP's scale, if it was asked for.
    pub fn ntk(&self) -> Option<&ScaledGram> {
        self.ntk.as_ref()
    }

    /// Rows per tile that were used.
    pub fn tile_rows(&self) -> usize {
        self.tile_rows
    }

    /// The memory estimate the run was admitted under, in bytes.
    pub fn estimated_bytes(&self) -> u64 {
        self.peak_bytes
    }
}

/// One `(source, parameter set)` map: the linear edges from `s` with the same parameters.
#[derive(Debug, Clone, Copy)]
struct MapKey {
    src: usize,
    pid: usize,
}

/// The DAG's structure as the passes need it.
struct Structure {
    /// Whether node `t`'s Gram is needed (it has a linear out-edge, or is the output).
    need: Vec<bool>,
    /// Linear in-edge groups of each node: (map id, multiplicity).
    groups: Vec<Vec<(usize, f64)>>,
    maps: Vec<MapKey>,
    /// Maps read from each node.
    maps_of: Vec<Vec<usize>>,
    /// The targets of each map's edges, with multiplicity.
    map_targets: Vec<Vec<(usize, f64)>>,
    /// For each node with linear in-edges, the needed nodes `t` its edges reach through
    /// skip edges, with `ln P(u, t)`.
    reach: Vec<Vec<(usize, f64)>>,
    /// Needed nodes reached from the inputs, with `ln c_t`.
    lift_reach: Vec<(usize, f64)>,
    /// Largest number of tiles alive at once.
    peak_tiles: usize,
}

fn log_add(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY {
        return b;
    }
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    hi + (lo - hi).exp().ln_1p()
}

impl Structure {
    fn of(plan: &Plan<'_>) -> Result<Structure, KernelError> {
        let dag = plan.dag();
        let n = dag.num_nodes();
        let out = dag.output();
        let mut need = vec![false; n];
        need[out] = true;
        let mut maps = Vec::new();
        let mut map_id: std::collections::HashMap<(usize, usize), usize> = Default::default();
        let mut maps_of = vec![Vec::new(); n];
        let mut groups: Vec<Vec<(usize, f64)>> = vec![Vec::new(); n];
        let mut map_targets: Vec<Vec<(usize, f64)>> = Vec::new();
        for (t, group) in groups.iter_mut().enumerate() {
            // Input nodes carry the lift whatever reaches them (as in the recursion).
            if dag.is_input(t) {
                continue;
            }
            let mut g: BTreeMap<usize, f64> = BTreeMap::new();
            for &i in plan.in_edges(t) {
                match plan.step(i) {
                    Step::Layer { from, pid } => {
                        need[from] = true;
                        let id = *map_id.entry((from, pid)).or_insert_with(|| {
                            maps.push(MapKey { src: from, pid });
                            maps_of[from].push(maps.len() - 1);
                            maps.len() - 1
                        });
                        *g.entry(id).or_insert(0.0) += 1.0;
                    }
                    // Identity edges are folded into the skip-path coefficients below.
                    Step::Identity { .. } => {}
                }
            }
            map_targets.resize(maps.len(), Vec::new());
            for (&id, &c) in &g {
                map_targets[id].push((t, c));
            }
            *group = g.into_iter().collect();
        }
        // Skip-only path counts, in log form, from one start set.
        let mut reach_entries: u64 = 0;
        let mut walk = |starts: &[usize]| -> Result<Vec<(usize, f64)>, KernelError> {
            let mut front: BTreeMap<usize, f64> = BTreeMap::new();
            for &s in starts {
                let v = front.entry(s).or_insert(f64::NEG_INFINITY);
                *v = log_add(*v, 0.0);
            }
            let mut out = Vec::new();
            while let Some((v, lp)) = front.pop_first() {
                if need[v] {
                    out.push((v, lp));
                    reach_entries += 1;
                }
                for &i in plan.out_edges(v) {
                    let to = plan.edge(i).to;
                    match plan.step(i) {
                        Step::Identity { .. } if !dag.is_input(to) => {
                            let w = front.entry(to).or_insert(f64::NEG_INFINITY);
                            *w = log_add(*w, lp);
                        }
                        Step::Identity { .. } | Step::Layer { .. } => {}
                    }
                }
            }
            crate::budget::check(
                "the skip-path coefficients of the streamed kernel",
                reach_entries.checked_mul(16),
            )?;
            Ok(out)
        };
        let lift_reach = walk(dag.inputs())?;
        let mut reach = vec![Vec::new(); n];
        for u in 0..n {
            if !groups[u].is_empty() {
                reach[u] = walk(&[u])?;
            }
        }
        // Liveness of tiles: a node's tiles are pushed to their readers as soon as the
        // node is done, so what stays alive are pending sums, from their first
        // contribution to their node; plus four scratch tiles.
        let mut first_push = vec![usize::MAX; n];
        for &(t, _) in &lift_reach {
            first_push[t] = 0;
        }
        for (id, key) in maps.iter().enumerate() {
            for &(u, _) in &map_targets[id] {
                for &(t, _) in &reach[u] {
                    first_push[t] = first_push[t].min(key.src);
                }
            }
        }
        let mut delta = vec![0i64; n + 1];
        for t in 0..n {
            if first_push[t] != usize::MAX {
                delta[first_push[t]] += 1;
                delta[t + 1] -= 1;
            }
        }
        let (mut live, mut peak) = (0i64, 0i64);
        for d in &delta {
            live += d;
            peak = peak.max(live);
        }
        Ok(Structure {
            need,
            groups,
            maps,
            maps_of,
            map_targets,
            reach,
            lift_reach,
            peak_tiles: peak as usize + 4,
        })
    }
}

/// A map ready for evaluation: `Sigma_ij = sw2 k' M_ij + b'` on a source stored in scale
/// `lambda_s`, results in scale `sigma` (`lambda_s` for homogeneous activations, else 0).
struct ReadyMap {
    entries: EntryMap,
    sigma: f64,
    sw2: f64,
    /// `e^(lambda_s - sigma)`.
    kf: f64,
    /// `sb2 e^-sigma`.
    bias: f64,
}

/// The first pass: every needed node's log-scale, scaled diagonal and mean, and the maps.
struct Diagonals {
    lambda: Vec<f64>,
    mean: Vec<Option<Vec<f64>>>,
    /// Scaled diagonals `K^t_ii / e^lambda_t` of the needed nodes.
    diag: Vec<Option<Vec<f64>>>,
    maps: Vec<Option<ReadyMap>>,
}

/// A pending sum in the first pass: diagonal and mean at a scale that grows as needed.
struct DiagAcc {
    scale: f64,
    k: Vec<f64>,
    mu: Vec<f64>,
}

impl DiagAcc {
    /// Adds `e^(ck - scale) k` and `e^(cm - scale / 2) mu`.
    fn add(&mut self, ck: f64, k: &[f64], cm: f64, mu: &[f64]) {
        if ck > self.scale {
            let r = (self.scale - ck).exp();
            let rm = (0.5 * (self.scale - ck)).exp();
            self.k.iter_mut().for_each(|v| *v *= r);
            self.mu.iter_mut().for_each(|v| *v *= rm);
            self.scale = ck;
        }
        let (fk, fm) = ((ck - self.scale).exp(), (cm - 0.5 * self.scale).exp());
        self.k.iter_mut().zip(k).for_each(|(a, &b)| *a += fk * b);
        self.mu.iter_mut().zip(mu).for_each(|(a, &b)| *a += fm * b);
    }
}

fn diagonals(
    plan: &Plan<'_>,
    st: &Structure,
    lift: &LiftTiles<'_>,
    rule: Rule,
) -> Result<Diagonals, KernelError> {
    let dag = plan.dag();
    let nn = dag.num_nodes();
    let n = lift.len();
    let exact = rule == Rule::Exact;
    let mut acc: Vec<Option<DiagAcc>> = (0..nn).map(|_| None).collect();
    let push = |acc: &mut Vec<Option<DiagAcc>>,
                targets: &[(usize, f64)],
                rho: f64,
                k: &[f64],
                mu: &[f64]| {
        for &(t, lp) in targets {
            let ck = rho + if exact { 2.0 * lp } else { lp };
            let cm = 0.5 * rho + lp;
            match &mut acc[t] {
                Some(a) => a.add(ck, k, cm, mu),
                slot @ None => {
                    let mut a = DiagAcc {
                        scale: ck,
                        k: vec![0.0; n],
                        mu: vec![0.0; n],
                    };
                    a.add(ck, k, cm, mu);
                    *slot = Some(a);
                }
            }
        }
    };
    // The lift: covariance K^0 - mu^0 mu^0T (exact) or K^0 (branch), in true values.
    let (k0, mu0) = (lift.diag0(), lift.mu0());
    let c0: Vec<f64> = (0..n)
        .map(|i| k0[i] - if exact { mu0[i] * mu0[i] } else { 0.0 })
        .collect();
    push(&mut acc, &st.lift_reach, 0.0, &c0, mu0);
    let mut lambda = vec![0.0; nn];
    let mut mean: Vec<Option<Vec<f64>>> = vec![None; nn];
    let mut diag: Vec<Option<Vec<f64>>> = vec![None; nn];
    let mut maps: Vec<Option<ReadyMap>> = (0..st.maps.len()).map(|_| None).collect();
    for t in 0..nn {
        if !st.groups[t].is_empty() {
            let r = st.groups[t]
                .iter()
                .map(|&(id, _)| maps[id].as_ref().expect("source done").sigma)
                .fold(f64::NEG_INFINITY, f64::max);
            let (mut dk, mut am) = (vec![0.0; n], vec![0.0; n]);
            for &(id, c) in &st.groups[t] {
                let m = maps[id].as_ref().expect("source done");
                let (f, fm) = (c * (m.sigma - r).exp(), c * (0.5 * (m.sigma - r)).exp());
                for i in 0..n {
                    let a = m.entries.mean(i);
                    let fii = m.entries.diag(i).0;
                    dk[i] += f * (fii - if exact { a * a } else { 0.0 });
                    am[i] += fm * a;
                }
            }
            push(&mut acc, &st.reach[t], r, &dk, &am);
        }
        if !st.need[t] {
            continue;
        }
        let (mut k, mut mu, scale) = match acc[t].take() {
            Some(a) => (a.k, a.mu, a.scale),
            None => (vec![0.0; n], vec![0.0; n], 0.0),
        };
        if exact {
            k.iter_mut().zip(&mu).for_each(|(v, &m)| *v += m * m);
        }
        if k.iter().chain(&mu).any(|v| !v.is_finite()) {
            return Err(KernelError::NonFiniteKernel { node: t });
        }
        let top = k.iter().fold(0.0f64, |a, &b| a.max(b));
        let lam = if top > 0.0 && top.is_finite() {
            k.iter_mut().for_each(|v| *v /= top);
            let s = top.sqrt();
            mu.iter_mut().for_each(|v| *v /= s);
            scale + top.ln()
        } else {
            scale
        };
        lambda[t] = lam;
        for &id in &st.maps_of[t] {
            maps[id] = Some(ready_map(plan, &st.maps[id], t, lam, &k)?);
        }
        mean[t] = Some(mu);
        diag[t] = Some(k);
    }
    Ok(Diagonals {
        lambda,
        mean,
        diag,
        maps,
    })
}

/// The map of edge group `key` read from node `t`, whose scaled diagonal is `k` at
/// log-scale `lam`.
fn ready_map(
    plan: &Plan<'_>,
    key: &MapKey,
    t: usize,
    lam: f64,
    k: &[f64],
) -> Result<ReadyMap, KernelError> {
    let p = plan.params(key.pid);
    let hom = p.activation().is_positively_homogeneous();
    if !hom && lam > MAX_UNSCALED_LOG {
        return Err(KernelError::ScaleOutOfRange {
            node: t,
            log10_scale: lam / std::f64::consts::LN_10,
            activation: p.activation().to_string(),
        });
    }
    let sigma = if hom { lam } else { 0.0 };
    let kf = (lam - sigma).exp();
    let bias = p.sb2() * (-sigma).exp();
    let var: Vec<f64> = k.iter().map(|&d| p.sw2() * kf * d + bias).collect();
    Ok(ReadyMap {
        entries: EntryMap::new(p.activation(), &var),
        sigma,
        sw2: p.sw2(),
        kf,
        bias,
    })
}

/// A first pass's per-point results, taken out of a [`Prepared`] or given back to one
/// ([`prepare`]): every node's log-scale, and the needed nodes' scaled diagonals and
/// means (`None` elsewhere).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Terms {
    pub(crate) lambda: Vec<f64>,
    pub(crate) diag: Vec<Option<Vec<f64>>>,
    pub(crate) mean: Vec<Option<Vec<f64>>>,
}

/// The first pass rebuilt from given per-point terms (their points in the lift's order):
/// the maps are built from the diagonals as [`diagonals`] builds them.
fn from_terms(plan: &Plan<'_>, st: &Structure, terms: Terms) -> Result<Diagonals, KernelError> {
    let nn = plan.dag().num_nodes();
    let mut maps: Vec<Option<ReadyMap>> = (0..st.maps.len()).map(|_| None).collect();
    for t in 0..nn {
        if let Some(k) = &terms.diag[t] {
            for &id in &st.maps_of[t] {
                maps[id] = Some(ready_map(plan, &st.maps[id], t, terms.lambda[t], k)?);
            }
        }
    }
    Ok(Diagonals {
        lambda: terms.lambda,
        mean: terms.mean,
        diag: terms.diag,
        maps,
    })
}

/// Where a tile's input-level entries come from.
pub(crate) enum LiftTiles<'a> {
    /// Sliced from the lifted inputs' stored matrices.
    Gram {
        k0: &'a Array2<f64>,
        mu0: &'a Array1<f64>,
        /// The lift's own NTK term (`None`: frozen or no NTK).
        theta0: Option<Array2<f64>>,
    },
    /// Computed from the data, a block at a time (no `N x N` matrix anywhere).
    Data(Box<DataLift<'a>>),
}

/// The lift evaluated from the data rows: `K_data = X X^T / d` a block at a time, then
/// the dense lift `sw2 K_data + sb2` or the stem's dual (module [`super`]'s `Inputs`
/// computes the same from the whole Gram).
pub(crate) struct DataLift<'a> {
    x: ndarray::ArrayView2<'a, f64>,
    inv_d: f64,
    /// Rows scaled to `||x_i||^2 = d`: their `K_data_ii` is exactly 1 (nonzero rows).
    unit: Option<Vec<bool>>,
    sw2: f64,
    sb2: f64,
    /// The stem's dual at every point (`None`: dense lift).
    stem: Option<EntryMap>,
    /// Whether tiles need the lift's own NTK term.
    theta: bool,
    diag0: Vec<f64>,
    mu0: Vec<f64>,
}

impl<'a> DataLift<'a> {
    /// The lift of the rows of `x` (normalised by the caller if `normalized`) with
    /// `lift`; `theta` when tiles need the lift's NTK term.
    pub(crate) fn new(
        x: ndarray::ArrayView2<'a, f64>,
        normalized: bool,
        lift: &crate::model::LiftParams,
        theta: bool,
    ) -> DataLift<'a> {
        let (n, d) = x.dim();
        let inv_d = 1.0 / d as f64;
        let unit = normalized.then(|| {
            x.rows()
                .into_iter()
                .map(|r| r.iter().any(|&v| v != 0.0))
                .collect::<Vec<bool>>()
        });
        let kd: Vec<f64> = (0..n)
            .map(|i| match &unit {
                Some(u) => f64::from(u8::from(u[i])),
                None => x.row(i).dot(&x.row(i)) * inv_d,
            })
            .collect();
        let (sw2, sb2) = lift.variances();
        let (stem, diag0, mu0) = match lift.stem_params() {
            None => (
                None,
                kd.iter().map(|&v| sw2 * v + sb2).collect(),
                vec![0.0; n],
            ),
            Some(p) => {
                let var: Vec<f64> = kd.iter().map(|&v| sw2 * v + sb2).collect();
                let m = EntryMap::new(p.activation(), &var);
                let diag0 = (0..n).map(|i| m.diag(i).0).collect();
                let mu0 = m.means().to_vec();
                (Some(m), diag0, mu0)
            }
        };
        DataLift {
            x,
            inv_d,
            unit,
            sw2,
            sb2,
            stem,
            theta,
            diag0,
            mu0,
        }
    }

    /// `(K^0, Theta^0)` on rows `[i0, i1)` x columns `[c0, c1)`, row-major.
    fn block(
        &self,
        i0: usize,
        i1: usize,
        (c0, c1): (usize, usize),
    ) -> (Vec<f64>, Option<Vec<f64>>) {
        let w = c1 - c0;
        let a = self.x.slice(ndarray::s![i0..i1, ..]);
        let b = self.x.slice(ndarray::s![c0..c1, ..]);
        let mut g = a.dot(&b.t());
        g.mapv_inplace(|v| v * self.inv_d);
        if let Some(u) = &self.unit {
            for i in i0.max(c0)..i1.min(c1) {
                g[[i - i0, i - c0]] = f64::from(u8::from(u[i]));
            }
        }
        let mut g = g.into_raw_vec_and_offset().0;
        debug_assert_eq!(g.len(), (i1 - i0) * w);
        let (sw2, sb2) = (self.sw2, self.sb2);
        match &self.stem {
            None => {
                g.iter_mut().for_each(|v| *v = sw2 * *v + sb2);
                let theta = self.theta.then(|| g.clone());
                (g, theta)
            }
            Some(m) => {
                let sigma: Vec<f64> = g.iter().map(|&v| sw2 * v + sb2).collect();
                let mut k0 = vec![0.0; g.len()];
                let mut ed = vec![0.0; if self.theta { g.len() } else { 0 }];
                for r in 0..(i1 - i0) {
                    let span = r * w..(r + 1) * w;
                    m.row_pairs(
                        i0 + r,
                        c0,
                        &sigma[span.clone()],
                        &mut k0[span.clone()],
                        ed.get_mut(span),
                    );
                }
                let theta = self.theta.then(|| {
                    ed.iter_mut().zip(&sigma).for_each(|(e, &s)| *e *= s);
                    ed
                });
                (k0, theta)
            }
        }
    }
}

impl LiftTiles<'_> {
    fn len(&self) -> usize {
        match self {
            LiftTiles::Gram { mu0, .. } => mu0.len(),
            LiftTiles::Data(d) => d.mu0.len(),
        }
    }

    fn diag0(&self) -> Vec<f64> {
        match self {
            LiftTiles::Gram { k0, .. } => k0.diag().to_vec(),
            LiftTiles::Data(d) => d.diag0.clone(),
        }
    }

    fn mu0(&self) -> &[f64] {
        match self {
            LiftTiles::Gram { mu0, .. } => mu0.as_slice().expect("contiguous"),
            LiftTiles::Data(d) => &d.mu0,
        }
    }

    /// The lift's covariance `K^0 - mu^0 mu^0T` (exact) or `K^0` (branch) on rows
    /// `[i0, i1)` x columns `[c0, c1)`, and its NTK term when asked for.
    fn block(
        &self,
        (i0, i1): (usize, usize),
        (c0, c1): (usize, usize),
        exact: bool,
        ntk: bool,
    ) -> (Vec<f64>, Option<Vec<f64>>) {
        let w = c1 - c0;
        let (mut c, e) = match self {
            LiftTiles::Gram { k0, theta0, .. } => {
                let c: Vec<f64> = (i0..i1)
                    .flat_map(|i| k0.row(i).slice(ndarray::s![c0..c1]).to_vec())
                    .collect();
                let e = theta0.as_ref().filter(|_| ntk).map(|t| {
                    (i0..i1)
                        .flat_map(|i| t.row(i).slice(ndarray::s![c0..c1]).to_vec())
                        .collect()
                });
                (c, e)
            }
            LiftTiles::Data(d) => {
                let (c, e) = d.block(i0, i1, (c0, c1));
                (c, e.filter(|_| ntk))
            }
        };
        if exact {
            let mu0 = self.mu0();
            for (r, row) in c.chunks_mut(w.max(1)).enumerate() {
                let mi = mu0[i0 + r];
                row.iter_mut()
                    .zip(&mu0[c0..])
                    .for_each(|(x, &mj)| *x -= mi * mj);
            }
        }
        (c, e)
    }
}

/// One block of output rows `[i0, i1)`, columns `[c0, c1)`, row-major: `(K rows, Theta
/// rows)`.
#[allow(clippy::too_many_arguments)]
fn tile(
    st: &Structure,
    dg: &Diagonals,
    lift: &LiftTiles<'_>,
    rule: Rule,
    ntk: bool,
    out: usize,
    (i0, i1): (usize, usize),
    (c0, c1): (usize, usize),
) -> (Vec<f64>, Vec<f64>) {
    let exact = rule == Rule::Exact;
    let w = c1 - c0;
    let len = (i1 - i0) * w;
    let nn = st.need.len();
    let mut acc_k: Vec<Option<Vec<f64>>> = vec![None; nn];
    let mut acc_t: Vec<Option<Vec<f64>>> = vec![None; nn];
    // `slot += f v`; the first contribution is written, not added (no zeroing pass).
    let add_into = |slot: &mut Option<Vec<f64>>, f: f64, v: &[f64]| match slot {
        Some(a) => a.iter_mut().zip(v).for_each(|(x, &y)| *x += f * y),
        None => *slot = Some(v.iter().map(|&y| f * y).collect()),
    };
    let weight = |lp: f64| if exact { 2.0 * lp } else { lp };
    // Row `r` of the tile (point `i0 + r`) within a row-major buffer.
    fn rows(buf: &mut [f64], w: usize, i0: usize) -> impl Iterator<Item = (usize, &mut [f64])> {
        buf.chunks_mut(w.max(1))
            .enumerate()
            .map(move |(r, c)| (i0 + r, c))
    }
    // The lift's contributions, in true values (scale 0).
    {
        let (c0v, e0) = lift.block((i0, i1), (c0, c1), exact, ntk);
        for &(t, lp) in &st.lift_reach {
            let f = (weight(lp) - dg.lambda[t]).exp();
            add_into(&mut acc_k[t], f, &c0v);
            if let (true, Some(e0)) = (ntk, &e0) {
                add_into(&mut acc_t[t], f, e0);
            }
        }
    }
    let (mut d, mut e) = (vec![0.0; len], vec![0.0; if ntk { len } else { 0 }]);
    let mut s12 = vec![0.0; w];
    for t in 0..nn {
        if !st.need[t] {
            continue;
        }
        let mut k = acc_k[t].take().unwrap_or_else(|| vec![0.0; len]);
        if exact {
            let mu = dg.mean[t].as_ref().expect("needed node");
            for (i, row) in rows(&mut k, w, i0) {
                let mi = mu[i];
                row.iter_mut()
                    .zip(&mu[c0..])
                    .for_each(|(x, &mj)| *x += mi * mj);
            }
        }
        let th = if ntk {
            Some(acc_t[t].take().unwrap_or_else(|| vec![0.0; len]))
        } else {
            None
        };
        if t == out {
            return (k, th.unwrap_or_default());
        }
        // Each map from t once, pushed to every node its edges reach.
        for &id in &st.maps_of[t] {
            let m = dg.maps[id].as_ref().expect("node done");
            let a = m.entries.means();
            let (fk, bias) = (m.sw2 * m.kf, m.bias);
            for r in 0..(i1 - i0) {
                let i = i0 + r;
                let span = r * w..(r + 1) * w;
                s12.iter_mut()
                    .zip(&k[span.clone()])
                    .for_each(|(s, &kv)| *s = fk * kv + bias);
                let (dr, er) = (&mut d[span.clone()], e.get_mut(span.clone()));
                m.entries.row_pairs(i, c0, &s12, dr, er);
                if exact {
                    let ai = a[i];
                    dr.iter_mut()
                        .zip(&a[c0..])
                        .for_each(|(x, &aj)| *x -= ai * aj);
                }
                if let Some(th) = &th {
                    let er = &mut e[span.clone()];
                    er.iter_mut()
                        .zip(&s12)
                        .zip(&th[span])
                        .for_each(|((x, &s), &tv)| *x *= s + fk * tv);
                }
            }
            for &(u, c) in &st.map_targets[id] {
                for &(v, lp) in &st.reach[u] {
                    let f = c * (weight(lp) + m.sigma - dg.lambda[v]).exp();
                    add_into(&mut acc_k[v], f, &d);
                    if ntk {
                        add_into(&mut acc_t[v], f, &e);
                    }
                }
            }
        }
    }
    unreachable!("the output node is the last node")
}

/// Whether some path leads from an input to the output.
fn reaches_output(plan: &Plan<'_>) -> bool {
    let dag = plan.dag();
    let mut seen = vec![false; dag.num_nodes()];
    for &i in dag.inputs() {
        seen[i] = true;
    }
    for t in 0..dag.num_nodes() {
        if !seen[t] {
            continue;
        }
        for &i in plan.out_edges(t) {
            let to = plan.edge(i).to;
            if !dag.is_input(to) {
                seen[to] = true;
            }
        }
    }
    seen[dag.output()]
}

/// A streamed pass after its first pass (module docs): the structure, every needed
/// node's diagonal, mean and maps, and the lift; tiles are computed on demand.
pub(crate) struct Prepared<'a> {
    st: Structure,
    dg: Diagonals,
    lift: LiftTiles<'a>,
    rule: Rule,
    /// Whether tiles carry the NTK.
    ntk: bool,
    out: usize,
    /// Rows per tile that fit the budget.
    pub(crate) rows: usize,
    /// The memory estimate the pass was admitted under.
    pub(crate) estimate: Option<u64>,
}

impl Prepared<'_> {
    /// Rows `[i0, i1)` x columns `[c0, c1)` of the output NNGP (and NTK part), scaled by
    /// `e^-log_scale`, row-major.
    pub(crate) fn tile(&self, rows: (usize, usize), cols: (usize, usize)) -> (Vec<f64>, Vec<f64>) {
        tile(
            &self.st, &self.dg, &self.lift, self.rule, self.ntk, self.out, rows, cols,
        )
    }

    /// The output's log-scale.
    pub(crate) fn log_scale(&self) -> f64 {
        self.dg.lambda[self.out]
    }

    /// The first pass's per-point results.
    pub(crate) fn terms(&self) -> Terms {
        Terms {
            lambda: self.dg.lambda.clone(),
            diag: self.dg.diag.clone(),
            mean: self.dg.mean.clone(),
        }
    }

    /// The output node.
    pub(crate) fn output(&self) -> usize {
        self.out
    }

    /// The output's diagonal `K^H_ii / e^log_scale` over every point (first pass).
    pub(crate) fn diag(&self) -> &[f64] {
        self.dg.diag[self.out]
            .as_deref()
            .expect("the output is needed")
    }
}

/// Plans a streamed pass of `dag`'s output kernel over `rows x width` entries (tiles of
/// whole rows of `width` columns, `row_end` rows) from `lift`, checks its memory (the
/// per-node vectors, `extra` fixed bytes, and the tiles alive at the peak per thread)
/// against the budget with tiles of `target_rows` rows (default: about 4096 entries)
/// halved until they fit, and runs the first pass.
pub(crate) fn prepare<'a>(
    dag: &Dag,
    lift: LiftTiles<'a>,
    rule: Rule,
    ntk: Option<NtkVariant>,
    dims: (usize, usize),
    extra: u64,
    target_rows: Option<usize>,
) -> Result<Prepared<'a>, KernelError> {
    prepare_with(dag, lift, rule, ntk, dims, extra, target_rows, None)
}

/// [`prepare`], with the first pass given as `terms` (of the lift's points, in order)
/// instead of computed.
#[allow(clippy::too_many_arguments)]
pub(crate) fn prepare_with<'a>(
    dag: &Dag,
    lift: LiftTiles<'a>,
    rule: Rule,
    ntk: Option<NtkVariant>,
    (row_end, width): (usize, usize),
    extra: u64,
    target_rows: Option<usize>,
    terms: Option<Terms>,
) -> Result<Prepared<'a>, KernelError> {
    let n = lift.len();
    let nn = dag.num_nodes() as u64;
    let plan = Plan::of(dag);
    let limit = crate::budget::limit();
    let st = Structure::of(&plan)?;
    let out = dag.output();
    if !reaches_output(&plan) {
        return Err(KernelError::NoPath { node: out });
    }
    let with_ntk = matches!(ntk, Some(NtkVariant::Full | NtkVariant::FrozenLift));
    // Fixed memory: diagonals and means of every node and the maps' per-point data.
    let per_point = 8 * (2 + 6) as u64;
    let fixed = (nn * n as u64 * per_point).saturating_add(extra);
    let tiles_per_row = if with_ntk { 2 } else { 1 } * (st.peak_tiles as u64);
    let threads = rayon::current_num_threads().max(1) as u64;
    let bytes_for = |rows: usize| {
        let len = (rows * width) as u64;
        len.checked_mul(8 * tiles_per_row)
            .and_then(|b| b.checked_mul(threads))
            .and_then(|b| b.checked_add(fixed))
    };
    let mut rows = target_rows
        .unwrap_or(TILE_ENTRIES / width.max(1))
        .clamp(1, row_end.max(1));
    while rows > 1 && bytes_for(rows).is_none_or(|b| b > limit) {
        rows /= 2;
    }
    let estimate = bytes_for(rows);
    crate::budget::check(
        format!(
            "the streamed {} kernel of {nn} nodes at N = {n} ({} tiles of {rows} x {width} alive at the peak, per thread)",
            if with_ntk { "NNGP and NTK" } else { "NNGP" },
            tiles_per_row
        ),
        estimate,
    )?;
    let dg = match terms {
        None => diagonals(&plan, &st, &lift, rule)?,
        Some(terms) => from_terms(&plan, &st, terms)?,
    };
    Ok(Prepared {
        st,
        dg,
        lift,
        rule,
        ntk: with_ntk,
        out,
        rows,
        estimate,
    })
}

impl Inputs {
    /// The output node's NNGP and, with `ntk = Some(variant)`, NTK of `dag` under `rule`,
    /// in bounded memory and scaled form (module docs): for DAGs whose per-node states
    /// [`Inputs::kernel`] and [`Inputs::ntk`] could not hold (ten thousand nodes), and
    /// whose entries pass f64's range. The same numbers as those (to rounding; tested).
    ///
    /// Errors: [`KernelError::NoPath`] when the output has no path from an input,
    /// [`KernelError::Memory`] when even one-row tiles do not fit the memory budget,
    /// [`KernelError::ScaleOutOfRange`] for a non-homogeneous activation on a node whose
    /// kernel is past f64's range.
    pub fn output_kernel(
        &self,
        dag: &Dag,
        rule: Rule,
        ntk: Option<NtkVariant>,
    ) -> Result<OutputKernel, KernelError> {
        self.streamed(dag, rule, ntk, Region::Square)
    }

    /// The streamed output kernel over `region` (module docs): the whole symmetric
    /// matrix, or the block of rows `[0, split)` against columns `[split, N)`.
    pub(crate) fn streamed(
        &self,
        dag: &Dag,
        rule: Rule,
        ntk: Option<NtkVariant>,
        region: Region,
    ) -> Result<OutputKernel, KernelError> {
        let n = self.len();
        let (row_end, width) = match region {
            Region::Square => (n, n),
            Region::Cross { split } => (split, n - split),
        };
        let theta0 = match ntk {
            Some(NtkVariant::Full) => Some(self.lift_ntk_term().into_owned()),
            _ => None,
        };
        let lift = LiftTiles::Gram {
            k0: self.k0(),
            mu0: self.mu0(),
            theta0,
        };
        // The input-level matrices (K^0, its NTK term, the data Gram) and the outputs.
        let stored = 4u64
            .saturating_mul(n as u64)
            .saturating_mul(n as u64)
            .saturating_mul(8);
        let pass = prepare(dag, lift, rule, ntk, (row_end, width), stored, None)?;
        let (dg, out, rows, estimate) = (&pass.dg, pass.out, pass.rows, pass.estimate);
        let with_ntk = pass.ntk;
        let blocks: Vec<(usize, usize)> = (0..row_end)
            .step_by(rows)
            .map(|i0| (i0, (i0 + rows).min(row_end)))
            .collect();
        let c0_of = |i0: usize| match region {
            Region::Square => i0,
            Region::Cross { split } => split,
        };
        let parts: Vec<(usize, usize, Vec<f64>, Vec<f64>)> = blocks
            .par_iter()
            .map(|&(i0, i1)| {
                let (k, t) = pass.tile((i0, i1), (c0_of(i0), n));
                (i0, i1, k, t)
            })
            .collect();
        let mut k = Array2::<f64>::zeros((row_end, width));
        let mut th = with_ntk.then(|| Array2::<f64>::zeros((row_end, width)));
        for (i0, i1, kp, tp) in parts {
            let c0 = c0_of(i0);
            let w = n - c0;
            for i in i0..i1 {
                let j0 = match region {
                    Region::Square => i,
                    Region::Cross { .. } => c0,
                };
                for j in j0..n {
                    let q = (i - i0) * w + (j - c0);
                    match region {
                        Region::Square => {
                            k[[i, j]] = kp[q];
                            k[[j, i]] = kp[q];
                            if let Some(th) = th.as_mut() {
                                th[[i, j]] = tp[q];
                                th[[j, i]] = tp[q];
                            }
                        }
                        Region::Cross { split } => {
                            k[[i, j - split]] = kp[q];
                            if let Some(th) = th.as_mut() {
                                th[[i, j - split]] = tp[q];
                            }
                        }
                    }
                }
            }
        }
        if k.iter().chain(th.iter().flatten()).any(|v| !v.is_finite()) {
            return Err(KernelError::NonFiniteKernel { node: out });
        }
        let lam = dg.lambda[out];
        let ntk = match (th, ntk) {
            (Some(mut t), _) => {
                t += &k;
                Some(ScaledGram::new(lam, t))
            }
            // Readout only: the NTK is the NNGP.
            (None, Some(NtkVariant::ReadoutOnly)) => Some(ScaledGram::new(lam, k.clone())),
            (None, _) => None,
        };
        Ok(OutputKernel {
            rule,
            nngp: ScaledGram::new(lam, k),
            mean: Array1::from(dg.mean[out].clone().expect("output needed")),
            diag: Array1::from(dg.diag[out].clone().expect("output needed")),
            ntk,
            tile_rows: rows,
            peak_bytes: estimate.unwrap_or(0),
        })
    }
}
