//! The NAS-Bench-201 skeleton ([`super`]'s docs) built from a cell, its forward pass, its
//! parameter count and its FLOPs.
//!
//! ```
//! use archconv::dag::format::Nb201Arch;
//! use archconv::nas::cnn::{Maps, Nb201Network, NetConfig};
//! let cell = Nb201Arch::from_ops(["nor_conv_1x1"; 6]);
//! let cfg = NetConfig { channels: 4, cells_per_stage: 1, classes: 3 };
//! let net = Nb201Network::new(&cell, &cfg, 7)?;
//! let x = Maps::from_nchw(&vec![0.5; 2 * 3 * 8 * 8], 2, 3, 8, 8);
//! let mut relus = 0;
//! let logits = net.forward(&x, &mut |_, times| { relus += times; Ok(()) })?;
//! assert_eq!((logits.len(), relus), (2 * 3, 3 * 6 + 2 * 2 + 1));
//! # Ok::<(), archconv::nas::cnn::CnnError>(())
//! ```

use super::conv::{uniform, Conv};
use super::norm::normalise;
use super::pool::{avg_pool2, avg_pool3};
use super::{cell_ops, CellOp, CnnError, Maps, NetConfig};
use crate::dag::format::Nb201Arch;
use rand::SeedableRng;

/// Called with a ReLU's input and how many ReLUs of the network read that same tensor
/// (convolution edges leaving one cell node all apply ReLU to it), in forward order.
pub type ReluHook<'a> = &'a mut dyn FnMut(&Maps, usize) -> Result<(), CnnError>;

/// A training-mode BN's output (`xhat`, scale 1 and shift 0 at initialisation) and its
/// per-channel `1 / sqrt(var + eps)`: what its backward pass needs.
#[derive(Debug, Clone, Default)]
pub(super) struct Bn {
    pub(super) xhat: Maps,
    pub(super) scale: Vec<f32>,
}

/// A cell's forward pass as the backward pass needs it: nodes 0, 1, 2 and each
/// convolution edge's BN (by edge position).
#[derive(Debug, Clone, Default)]
pub(super) struct CellRecord {
    pub(super) nodes: Vec<Maps>,
    pub(super) bn: Vec<Option<Bn>>,
}

/// A reduction block's input and its two BNs.
#[derive(Debug, Clone, Default)]
pub(super) struct ReductionRecord {
    pub(super) x: Maps,
    pub(super) a: Bn,
    pub(super) b: Bn,
}

/// One stage's records.
#[derive(Debug, Clone, Default)]
pub(super) struct StageRecord {
    pub(super) reduction: Option<ReductionRecord>,
    pub(super) cells: Vec<CellRecord>,
}

/// The whole forward pass's records (see [`super::grad`]).
#[derive(Debug, Clone, Default)]
pub(super) struct Record {
    pub(super) stem: Option<Bn>,
    pub(super) stages: Vec<StageRecord>,
    pub(super) head: Option<Bn>,
    /// Globally pooled ReLU of the head's BN, `batch x 4C`.
    pub(super) pooled: Vec<f64>,
}

/// One cell edge with its parameters.
#[derive(Debug, Clone)]
pub(super) enum Edge {
    None,
    Skip,
    Conv(Conv),
    Pool,
}

/// A cell at one width: its edges `(from, to, edge)`.
#[derive(Debug, Clone)]
pub(super) struct Cell {
    pub(super) edges: Vec<(usize, usize, Edge)>,
}

impl Cell {
    fn new(rng: &mut rand_chacha::ChaCha8Rng, ops: &[(usize, usize, CellOp)], c: usize) -> Cell {
        let edges = ops
            .iter()
            .map(|&(from, to, op)| {
                let e = match op {
                    CellOp::None => Edge::None,
                    CellOp::Skip => Edge::Skip,
                    CellOp::Conv1x1 => Edge::Conv(Conv::init(rng, c, c, 1, 1)),
                    CellOp::Conv3x3 => Edge::Conv(Conv::init(rng, c, c, 3, 1)),
                    CellOp::AvgPool3x3 => Edge::Pool,
                };
                (from, to, e)
            })
            .collect();
        Cell { edges }
    }

    pub(super) fn forward(
        &self,
        x: Maps,
        hook: ReluHook<'_>,
        mut rec: Option<&mut CellRecord>,
    ) -> Result<Maps, CnnError> {
        if let Some(r) = rec.as_deref_mut() {
            r.bn = vec![None; self.edges.len()];
        }
        let mut nodes: Vec<Maps> = vec![x];
        for t in 1..=3 {
            // ReLU of each source node, computed once for all its convolution edges.
            let mut relu: Vec<Option<Maps>> = vec![None; t];
            for (from, r) in relu.iter_mut().enumerate() {
                let convs = self
                    .edges
                    .iter()
                    .filter(|(f, to, e)| *f == from && *to == t && matches!(e, Edge::Conv(_)))
                    .count();
                if convs > 0 {
                    hook(&nodes[from], convs)?;
                    *r = Some(nodes[from].relu());
                }
            }
            let mut acc: Option<Maps> = None;
            for (ei, (from, to, e)) in self.edges.iter().enumerate() {
                if *to != t {
                    continue;
                }
                let y = match e {
                    Edge::None => continue,
                    Edge::Skip => None,
                    Edge::Conv(c) => {
                        let mut y = c.forward(relu[*from].as_ref().expect("ReLU computed above"));
                        let scale = normalise(&mut y);
                        if let Some(r) = rec.as_deref_mut() {
                            r.bn[ei] = Some(Bn {
                                xhat: y.clone(),
                                scale,
                            });
                        }
                        Some(y)
                    }
                    Edge::Pool => Some(avg_pool3(&nodes[*from])),
                };
                let src = y.as_ref().unwrap_or(&nodes[*from]);
                match acc.as_mut() {
                    Some(a) => a.add_assign(src),
                    None => acc = Some(y.unwrap_or_else(|| nodes[*from].clone())),
                }
            }
            let x0 = &nodes[0];
            // A node with only `none` inputs carries zeros.
            nodes.push(acc.unwrap_or_else(|| Maps::zeros(x0.batch, x0.h, x0.w, x0.c)));
        }
        let out = nodes.pop().expect("node 3");
        if let Some(r) = rec {
            r.nodes = nodes;
        }
        Ok(out)
    }

    fn convs(&self) -> impl Iterator<Item = &Conv> {
        self.edges.iter().filter_map(|(_, _, e)| match e {
            Edge::Conv(c) => Some(c),
            Edge::None | Edge::Skip | Edge::Pool => None,
        })
    }
}

/// The residual reduction block `cin -> cout`, stride 2.
#[derive(Debug, Clone)]
pub(super) struct Reduction {
    pub(super) a: Conv,
    pub(super) b: Conv,
    pub(super) shortcut: Conv,
}

impl Reduction {
    fn new(rng: &mut rand_chacha::ChaCha8Rng, cin: usize, cout: usize) -> Reduction {
        Reduction {
            a: Conv::init(rng, cin, cout, 3, 2),
            b: Conv::init(rng, cout, cout, 3, 1),
            shortcut: Conv::init(rng, cin, cout, 1, 1),
        }
    }

    pub(super) fn forward(
        &self,
        x: &Maps,
        hook: ReluHook<'_>,
        rec: Option<&mut ReductionRecord>,
    ) -> Result<Maps, CnnError> {
        hook(x, 1)?;
        let mut a = self.a.forward(&x.relu());
        let sa = normalise(&mut a);
        hook(&a, 1)?;
        let mut y = self.b.forward(&a.relu());
        let sb = normalise(&mut y);
        if let Some(r) = rec {
            *r = ReductionRecord {
                x: x.clone(),
                a: Bn { xhat: a, scale: sa },
                b: Bn {
                    xhat: y.clone(),
                    scale: sb,
                },
            };
        }
        y.add_assign(&self.shortcut.forward(&avg_pool2(x)));
        Ok(y)
    }
}

/// SynFlow's pair of maps through the network without BN, all weights `|w|` and an
/// all-ones input: `v`, the activation (every entry is a sum over input-to-unit paths of
/// the product of weights along the path), and `u`, the same sum with each path weighted
/// by the number of weight layers it has passed.
#[derive(Debug, Clone)]
struct Flow {
    v: Maps,
    u: Maps,
}

impl Flow {
    /// Through a weight layer: `v' = f(v)`, `u' = f(u + v)` (each path gains one layer).
    fn conv(&self, k: &Conv) -> Flow {
        let mut s = self.u.clone();
        s.add_assign(&self.v);
        Flow {
            v: k.forward(&self.v),
            u: k.forward(&s),
        }
    }

    /// Through a linear operation without weights.
    fn map(&self, f: impl Fn(&Maps) -> Maps) -> Flow {
        Flow {
            v: f(&self.v),
            u: f(&self.u),
        }
    }

    fn add(&mut self, o: &Flow) {
        self.v.add_assign(&o.v);
        self.u.add_assign(&o.u);
    }

    /// Divides both maps by `max v` (when positive) and returns `ln max v`: the flows grow
    /// by up to about 2e3 per cell, beyond `f32` after a few cells, so they are rescaled
    /// at every cell boundary, where only one flow is live.
    fn rescale(&mut self) -> f64 {
        let m = self.v.data.iter().fold(0.0f32, |a, &b| a.max(b));
        if m > 0.0 && m.is_finite() {
            let inv = 1.0 / m;
            self.v.data.iter_mut().for_each(|x| *x *= inv);
            self.u.data.iter_mut().for_each(|x| *x *= inv);
            f64::from(m).ln()
        } else {
            0.0
        }
    }
}

impl Cell {
    fn flow(&self, x: Flow) -> Flow {
        let mut nodes = vec![x];
        for t in 1..=3 {
            let mut acc: Option<Flow> = None;
            for (from, to, e) in &self.edges {
                if *to != t {
                    continue;
                }
                // Every entry is >= 0, so each ReLU is the identity here.
                let y = match e {
                    Edge::None => continue,
                    Edge::Skip => nodes[*from].clone(),
                    Edge::Conv(k) => nodes[*from].conv(k),
                    Edge::Pool => nodes[*from].map(avg_pool3),
                };
                match acc.as_mut() {
                    Some(a) => a.add(&y),
                    None => acc = Some(y),
                }
            }
            let z = &nodes[0].v;
            let zero = || Maps::zeros(z.batch, z.h, z.w, z.c);
            nodes.push(acc.unwrap_or_else(|| Flow {
                v: zero(),
                u: zero(),
            }));
        }
        nodes.pop().expect("node 3")
    }
}

/// A NAS-Bench-201 network at initialisation.
#[derive(Debug, Clone)]
pub struct Nb201Network {
    cell: String,
    pub(super) cfg: NetConfig,
    pub(super) stem: Conv,
    pub(super) stages: Vec<(Option<Reduction>, Vec<Cell>)>,
    /// `classes x 4C`, row-major.
    pub(super) head_w: Vec<f32>,
    pub(super) head_b: Vec<f32>,
}

impl Nb201Network {
    /// Builds the network of `cell` with weights from `seed` (see [`super`]'s docs).
    pub fn new(cell: &Nb201Arch, cfg: &NetConfig, seed: u64) -> Result<Nb201Network, CnnError> {
        cfg.validate()?;
        let ops = cell_ops(cell)?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let c = cfg.channels;
        let stem = Conv::init(&mut rng, 3, c, 3, 1);
        let mut stages = Vec::with_capacity(3);
        for (s, width) in [c, 2 * c, 4 * c].into_iter().enumerate() {
            let red = (s > 0).then(|| Reduction::new(&mut rng, width / 2, width));
            let cells = (0..cfg.cells_per_stage)
                .map(|_| Cell::new(&mut rng, &ops, width))
                .collect();
            stages.push((red, cells));
        }
        let last = 4 * c;
        Ok(Nb201Network {
            cell: cell.to_string(),
            cfg: *cfg,
            stem,
            stages,
            head_w: uniform(&mut rng, cfg.classes * last, last),
            head_b: uniform(&mut rng, cfg.classes, last),
        })
    }

    /// The cell's arch string.
    pub fn cell(&self) -> &str {
        &self.cell
    }

    /// The skeleton's sizes.
    pub fn config(&self) -> &NetConfig {
        &self.cfg
    }

    pub(super) fn convs(&self) -> impl Iterator<Item = (&Conv, usize)> {
        // (convolution, its output resolution divisor: 1, 2 or 4).
        std::iter::once((&self.stem, 1)).chain(self.stages.iter().enumerate().flat_map(
            |(s, (r, cells))| {
                let div = 1 << s;
                r.iter()
                    .flat_map(move |r| [(&r.a, div), (&r.b, div), (&r.shortcut, div)])
                    .chain(
                        cells
                            .iter()
                            .flat_map(move |c| c.convs().map(move |k| (k, div))),
                    )
            },
        ))
    }

    /// Trainable parameters (convolution and linear weights, biases, BN scales and shifts;
    /// not BN's running statistics), as the benchmark counts them: a convolution
    /// followed by BN has `C_out C_in k^2 + 2 C_out`; the shortcut's 1x1 convolution has
    /// no BN; the head has `2 (4C) + 4C classes + classes`.
    pub fn num_params(&self) -> usize {
        let mut n: usize = self.convs().map(|(k, _)| k.params()).sum();
        // BN after every convolution but the shortcuts: 2 per output channel.
        n += 2 * self.cfg.channels; // stem
        for (s, (r, cells)) in self.stages.iter().enumerate() {
            let width = self.cfg.channels << s;
            if r.is_some() {
                n += 2 * 2 * width;
            }
            n += cells
                .iter()
                .map(|c| c.convs().count() * 2 * width)
                .sum::<usize>();
        }
        let last = 4 * self.cfg.channels;
        n + 2 * last + self.head_w.len() + self.head_b.len()
    }

    /// Multiply-adds of one forward pass per image on `h x w` inputs: every convolution's
    /// `H_out W_out C_in k^2 C_out` and the head's `4C classes` (pooling, BN and additions
    /// not counted), as the benchmark's FLOPs column counts them.
    pub fn flops(&self, h: usize, w: usize) -> usize {
        let convs: usize = self
            .convs()
            .map(|(k, div)| (h / div) * (w / div) * k.macs_per_pixel())
            .sum();
        convs + self.head_w.len()
    }

    /// SynFlow (Tanaka et al. 2020, as the zero-cost-proxy benchmarks run it on
    /// NAS-Bench-201: the network without BN, every weight and bias replaced by its
    /// absolute value, one all-ones `3 x h x w` input, `R = sum of the logits`):
    ///
    /// ```text
    /// SynFlow = sum over convolution and linear weights w of |w dR/dw|
    /// ```
    ///
    /// returned as `ln SynFlow` (`-inf` when it is zero; the value itself, about `1e50` for
    /// the all-3x3 cell, would overflow the `f32` maps, which are rescaled per cell). With positive weights and input every ReLU is the identity, so
    /// `R` is linear in each layer's weights and `sum_{w in layer} w dR/dw` is the part of
    /// `R` carried by paths through that layer: SynFlow is the sum over input-to-output
    /// paths of the path's product times its number of weight layers, computed by one
    /// forward pass carrying both sums, `v` and the layer-weighted `u` (no backward
    /// pass). `h` and `w` must be positive multiples of 4.
    ///
    /// ```
    /// use archconv::dag::format::Nb201Arch;
    /// use archconv::nas::cnn::{Nb201Network, NetConfig};
    /// let cfg = NetConfig::cifar10();
    /// let big = Nb201Network::new(&Nb201Arch::from_ops(["nor_conv_3x3"; 6]), &cfg, 0)?;
    /// let small = Nb201Network::new(&Nb201Arch::from_ops(["nor_conv_1x1"; 6]), &cfg, 0)?;
    /// assert!(big.synflow(32, 32)? > small.synflow(32, 32)?);
    /// # Ok::<(), archconv::nas::cnn::CnnError>(())
    /// ```
    pub fn synflow(&self, h: usize, w: usize) -> Result<f64, CnnError> {
        Ok(self.synflow_parts(h, w)?.1)
    }

    /// `(ln R, ln SynFlow)` (see [`Nb201Network::synflow`]).
    fn synflow_parts(&self, h: usize, w: usize) -> Result<(f64, f64), CnnError> {
        if h == 0 || w == 0 || !h.is_multiple_of(4) || !w.is_multiple_of(4) {
            return Err(CnnError::BadInput {
                shape: vec![1, 3, h, w],
                channels: 3,
            });
        }
        let ones = Maps::from_nchw(&vec![1.0; 3 * h * w], 1, 3, h, w);
        let zero = Maps::zeros(1, h, w, 3);
        let mut f = Flow { v: ones, u: zero }.conv(&self.stem.abs());
        let mut log = f.rescale();
        for (red, cells) in &self.stages {
            if let Some(r) = red {
                let mut y = f.conv(&r.a.abs()).conv(&r.b.abs());
                y.add(&f.map(avg_pool2).conv(&r.shortcut.abs()));
                f = y;
                log += f.rescale();
            }
            for c in cells {
                let abs = Cell {
                    edges: c
                        .edges
                        .iter()
                        .map(|(a, b, e)| {
                            let e = match e {
                                Edge::Conv(k) => Edge::Conv(k.abs()),
                                Edge::None => Edge::None,
                                Edge::Skip => Edge::Skip,
                                Edge::Pool => Edge::Pool,
                            };
                            (*a, *b, e)
                        })
                        .collect(),
                };
                f = abs.flow(f);
                log += f.rescale();
            }
        }
        let (pv, pu) = (f.v.global_mean(), f.u.global_mean());
        let last = f.v.c;
        let (mut r, mut s) = (0.0f64, 0.0f64);
        for k in 0..self.cfg.classes {
            let wk = &self.head_w[k * last..(k + 1) * last];
            for c in 0..last {
                let a = f64::from(wk[c].abs());
                r += a * pv[c];
                // The head is a weight layer: every path gains one.
                s += a * (pu[c] + pv[c]);
            }
        }
        // The head's bias adds |b| to R on paths without weights (not counted in SynFlow).
        let bias: f64 = self.head_b.iter().map(|b| f64::from(b.abs())).sum();
        let ln_r = (r + bias * (-log).exp()).ln() + log;
        Ok((ln_r, s.ln() + log))
    }

    /// Logits (`batch x classes`, row-major) of images `x` (`x.c = 3`; `H` and `W`
    /// positive multiples of 4), calling `hook` with the input of every ReLU (each cell
    /// node read by convolution edges, each reduction block's two, the head's).
    pub fn forward(&self, x: &Maps, hook: ReluHook<'_>) -> Result<Vec<f32>, CnnError> {
        self.forward_recorded(x, hook, None)
    }

    /// [`Nb201Network::forward`], keeping what the backward pass needs in `rec`.
    pub(super) fn forward_recorded(
        &self,
        x: &Maps,
        hook: ReluHook<'_>,
        mut rec: Option<&mut Record>,
    ) -> Result<Vec<f32>, CnnError> {
        if x.c != 3
            || x.batch == 0
            || x.h == 0
            || x.w == 0
            || !x.h.is_multiple_of(4)
            || !x.w.is_multiple_of(4)
        {
            return Err(CnnError::BadInput {
                shape: vec![x.batch, x.c, x.h, x.w],
                channels: 3,
            });
        }
        // Live at once in a stage-1 cell: the input, four nodes, up to three ReLU copies,
        // a convolution's output and a pooled map; twelve maps bound it.
        let one = Maps::bytes(x.batch, x.h, x.w, self.cfg.channels);
        crate::budget::check(
            format!(
                "the NAS-Bench-201 forward pass on {} images of {} x {} ({} channels)",
                x.batch, x.h, x.w, self.cfg.channels
            ),
            one.and_then(|b| b.checked_mul(12)),
        )?;
        let mut h = self.stem.forward(x);
        let scale = normalise(&mut h);
        if let Some(r) = rec.as_deref_mut() {
            r.stem = Some(Bn {
                xhat: h.clone(),
                scale,
            });
            r.stages.clear();
        }
        for (red, cells) in &self.stages {
            let mut stage = StageRecord::default();
            let recording = rec.is_some();
            if let Some(r) = red {
                let mut rr = ReductionRecord::default();
                h = r.forward(&h, hook, recording.then_some(&mut rr))?;
                stage.reduction = recording.then_some(rr);
            }
            for c in cells {
                let mut cr = CellRecord::default();
                h = c.forward(h, hook, recording.then_some(&mut cr))?;
                if recording {
                    stage.cells.push(cr);
                }
            }
            if let Some(r) = rec.as_deref_mut() {
                r.stages.push(stage);
            }
        }
        let scale = normalise(&mut h);
        hook(&h, 1)?;
        let pooled = h.relu().global_mean();
        let (last, classes) = (h.c, self.cfg.classes);
        let mut logits = vec![0.0f32; x.batch * classes];
        for (b, out) in logits.chunks_exact_mut(classes).enumerate() {
            let p = &pooled[b * last..(b + 1) * last];
            for (k, o) in out.iter_mut().enumerate() {
                let wk = &self.head_w[k * last..(k + 1) * last];
                let dot: f64 = p.iter().zip(wk).map(|(a, w)| a * f64::from(*w)).sum();
                *o = (dot + f64::from(self.head_b[k])) as f32;
            }
        }
        if let Some(r) = rec {
            r.head = Some(Bn { xhat: h, scale });
            r.pooled = pooled;
        }
        Ok(logits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The network with weight layer `l` set to zero, in the order stem, then per stage
    /// the reduction's `a`, `b`, shortcut and the cells' convolutions, then the head.
    fn zero_layer(net: &Nb201Network, l: usize) -> Option<Nb201Network> {
        let mut n = net.clone();
        let mut i = 0usize;
        let mut hit = |k: &mut Conv| {
            if i == l {
                *k = k.zeroed();
            }
            i += 1;
        };
        hit(&mut n.stem);
        for (red, cells) in &mut n.stages {
            if let Some(r) = red {
                hit(&mut r.a);
                hit(&mut r.b);
                hit(&mut r.shortcut);
            }
            for c in cells {
                for (_, _, e) in &mut c.edges {
                    if let Edge::Conv(k) = e {
                        hit(k);
                    }
                }
            }
        }
        if i == l {
            n.head_w.iter_mut().for_each(|w| *w = 0.0);
        } else if l > i {
            return None;
        }
        Some(n)
    }

    #[test]
    fn synflow_equals_the_sum_of_layer_ablations() {
        // R is linear in each layer's weights W_l (positive weights and input: ReLU is
        // the identity), so sum_{w in l} w dR/dw = R - R(W_l = 0): SynFlow by one
        // ablated forward pass per layer, a second route to the path count.
        let cfg = NetConfig {
            channels: 3,
            cells_per_stage: 2,
            classes: 4,
        };
        for cell in [
            "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|",
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
        ] {
            let net = Nb201Network::new(&Nb201Arch::parse(cell).unwrap(), &cfg, 4).unwrap();
            let (ln_r, ln_s) = net.synflow_parts(8, 8).unwrap();
            let r = ln_r.exp();
            let mut sum = 0.0;
            let mut l = 0;
            while let Some(z) = zero_layer(&net, l) {
                sum += r - z.synflow_parts(8, 8).unwrap().0.exp();
                l += 1;
            }
            // f32 forward passes of about 40 layers: each R to a few 1e-6 relative; the
            // differences lose at most the ratio R / (R - R_l), below 1e2 here.
            let rel = (sum - ln_s.exp()).abs() / ln_s.exp();
            assert!(rel < 1e-3, "{cell}: ablations {sum} vs flow {} (rel {rel:e})", ln_s.exp());
            assert!(l > 10);
        }
    }
}
