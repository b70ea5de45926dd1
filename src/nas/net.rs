//! The reference NAS-Bench-201 network on candle's CPU tensors (feature `nas-cnn`): the
//! same skeleton, operations, initialisation and weights (one seeded stream, drawn in the
//! same order) as [`super::cnn::Nb201Network`], written with a tensor library's NCHW
//! convolutions and reductions. The tests compare the two forward passes (logits and every
//! ReLU's codes), and `benches/nas_cnn.rs` times both: the hand-written one is the one the
//! proxies use. See [`super::cnn`] for the skeleton.
//!
//! ```
//! use archconv::dag::format::Nb201Arch;
//! use archconv::nas::cnn::NetConfig;
//! use archconv::nas::net::Nb201Net;
//! let cell = Nb201Arch::parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|").unwrap();
//! let net = Nb201Net::new(&cell, &NetConfig::cifar10(), 0).unwrap();
//! assert_eq!(net.num_params(), 1_531_546); // the benchmark's largest CIFAR-10 network
//! ```

use super::cnn::{cell_ops, CellOp, CnnError, NetConfig};
use super::naswot::{pack_codes, CodeKernel, NaswotScore};
use crate::dag::format::Nb201Arch;
use candle_core::{DType, Device, Tensor, D};
use rand::SeedableRng;

/// What can go wrong building or running a network.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// The cell, the configuration or the proxy (shared with the hand-written network).
    #[error(transparent)]
    Cnn(#[from] CnnError),
    /// Images of the wrong shape.
    #[error("input batch has shape {shape:?}; the network takes (batch, 3, 32, 32)")]
    BadInput {
        /// The shape given.
        shape: Vec<usize>,
    },
    /// A tensor operation failed.
    #[error("tensor operation failed in {during}: {source}")]
    Tensor {
        /// Where.
        during: &'static str,
        /// candle's error.
        source: candle_core::Error,
    },
}

fn terr(during: &'static str) -> impl Fn(candle_core::Error) -> NetError {
    move |source| NetError::Tensor { during, source }
}

type R<T> = Result<T, NetError>;

/// A convolution (no bias) followed by training-mode BN.
#[derive(Debug)]
struct ConvBn {
    w: Tensor,
    gamma: Tensor,
    beta: Tensor,
    stride: usize,
    pad: usize,
}

/// PyTorch's default bound `1 / sqrt(fan_in)`, from the stream the hand-written network
/// draws from.
fn uniform(rng: &mut rand_chacha::ChaCha8Rng, shape: &[usize], fan_in: usize) -> R<Tensor> {
    let n: usize = shape.iter().product();
    let v = super::cnn::conv::uniform(rng, n, fan_in);
    let t = Tensor::from_vec(v, shape, &Device::Cpu).map_err(terr("initialising weights"))?;
    variable(t)
}

/// A tensor autograd differentiates ([`ntk`]).
fn variable(t: Tensor) -> R<Tensor> {
    Ok(candle_core::Var::from_tensor(&t)
        .map_err(terr("initialising weights"))?
        .as_tensor()
        .clone())
}

fn ones(n: usize) -> R<Tensor> {
    variable(Tensor::ones(n, DType::F32, &Device::Cpu).map_err(terr("BN"))?)
}

impl ConvBn {
    fn new(
        rng: &mut rand_chacha::ChaCha8Rng,
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        pad: usize,
    ) -> R<ConvBn> {
        Ok(ConvBn {
            w: uniform(rng, &[cout, cin, k, k], cin * k * k)?,
            gamma: ones(cout)?,
            beta: Tensor::zeros(cout, DType::F32, &Device::Cpu).map_err(terr("BN"))?,
            stride,
            pad,
        })
    }

    fn params(&self) -> usize {
        self.w.elem_count() + self.gamma.elem_count() + self.beta.elem_count()
    }

    fn forward(&self, x: &Tensor) -> R<Tensor> {
        let y = x
            .conv2d(&self.w, self.pad, self.stride, 1, 1)
            .map_err(terr("convolution"))?;
        batch_norm(&y, &self.gamma, &self.beta)
    }
}

/// Training-mode batch norm over (batch, height, width) per channel, `eps = 1e-5`.
fn batch_norm(x: &Tensor, gamma: &Tensor, beta: &Tensor) -> R<Tensor> {
    let e = terr("batch norm");
    let mean = x.mean_keepdim((0, 2, 3)).map_err(&e)?;
    let centred = x.broadcast_sub(&mean).map_err(&e)?;
    let var = centred
        .sqr()
        .map_err(&e)?
        .mean_keepdim((0, 2, 3))
        .map_err(&e)?;
    let inv = (var + 1e-5)
        .map_err(&e)?
        .sqrt()
        .map_err(&e)?
        .recip()
        .map_err(&e)?;
    let c = gamma.elem_count();
    let g = gamma.reshape((1, c, 1, 1)).map_err(&e)?;
    let b = beta.reshape((1, c, 1, 1)).map_err(&e)?;
    centred
        .broadcast_mul(&inv)
        .and_then(|t| t.broadcast_mul(&g))
        .and_then(|t| t.broadcast_add(&b))
        .map_err(e)
}

/// A hook called with every ReLU's input (batch first), in forward order.
pub type ReluHook<'a> = &'a mut dyn FnMut(&Tensor) -> R<()>;

fn relu(x: &Tensor, hook: &mut dyn FnMut(&Tensor) -> R<()>) -> R<Tensor> {
    hook(x)?;
    x.relu().map_err(terr("ReLU"))
}

/// 3x3 average pooling, stride 1, padding 1, dividing by the entries inside the image
/// (PyTorch's `count_include_pad=False`).
fn avg_pool3(x: &Tensor) -> R<Tensor> {
    let e = terr("average pooling");
    let (_, _, h, w) = x.dims4().map_err(&e)?;
    let padded = x
        .pad_with_zeros(D::Minus1, 1, 1)
        .and_then(|t| t.pad_with_zeros(D::Minus2, 1, 1))
        .map_err(&e)?;
    // The window sum as nine shifted views (candle's pooling has no backward pass for
    // stride 1).
    let mut sums: Option<Tensor> = None;
    for dy in 0..3 {
        for dx in 0..3 {
            let v = padded
                .narrow(2, dy, h)
                .and_then(|t| t.narrow(3, dx, w))
                .map_err(&e)?;
            sums = Some(match sums {
                None => v,
                Some(s) => (s + v).map_err(&e)?,
            });
        }
    }
    let sums = sums.expect("nine taps");
    // Entries of each window inside the image: (rows in) x (columns in).
    let count = |i: usize, n: usize| (3 - usize::from(i == 0) - usize::from(i + 1 == n)) as f32;
    let counts: Vec<f32> = (0..h)
        .flat_map(|i| (0..w).map(move |j| 1.0 / (count(i, h) * count(j, w))))
        .collect();
    let inv = Tensor::from_vec(counts, (1, 1, h, w), &Device::Cpu).map_err(&e)?;
    sums.broadcast_mul(&inv).map_err(e)
}

/// One cell edge, with its parameters.
#[derive(Debug)]
enum Edge {
    None,
    Skip,
    Conv(ConvBn),
    Pool,
}

impl Edge {
    fn forward(&self, x: &Tensor, hook: &mut dyn FnMut(&Tensor) -> R<()>) -> R<Option<Tensor>> {
        Ok(match self {
            Edge::None => None,
            Edge::Skip => Some(x.clone()),
            Edge::Conv(c) => Some(c.forward(&relu(x, hook)?)?),
            Edge::Pool => Some(avg_pool3(x)?),
        })
    }

    fn params(&self) -> usize {
        match self {
            Edge::Conv(c) => c.params(),
            Edge::None | Edge::Skip | Edge::Pool => 0,
        }
    }
}

/// The six edges `0->1, 0->2, 1->2, 0->3, 1->3, 2->3` of a cell at `c` channels.
#[derive(Debug)]
struct Cell {
    edges: Vec<(usize, usize, Edge)>,
}

impl Cell {
    fn new(rng: &mut rand_chacha::ChaCha8Rng, ops: &[(usize, usize, CellOp)], c: usize) -> R<Cell> {
        let mut edges = Vec::with_capacity(ops.len());
        for &(from, to, op) in ops {
            let e = match op {
                CellOp::None => Edge::None,
                CellOp::Skip => Edge::Skip,
                CellOp::Conv1x1 => Edge::Conv(ConvBn::new(rng, c, c, 1, 1, 0)?),
                CellOp::Conv3x3 => Edge::Conv(ConvBn::new(rng, c, c, 3, 1, 1)?),
                CellOp::AvgPool3x3 => Edge::Pool,
            };
            edges.push((from, to, e));
        }
        Ok(Cell { edges })
    }

    fn forward(&self, x: &Tensor, hook: &mut dyn FnMut(&Tensor) -> R<()>) -> R<Tensor> {
        let mut nodes: Vec<Tensor> = vec![x.clone()];
        for t in 1..=3 {
            let mut acc: Option<Tensor> = None;
            for (from, to, e) in &self.edges {
                if *to != t {
                    continue;
                }
                if let Some(y) = e.forward(&nodes[*from], hook)? {
                    acc = Some(match acc {
                        None => y,
                        Some(a) => (a + y).map_err(terr("adding a cell edge"))?,
                    });
                }
            }
            // A node with only `none` inputs carries zeros.
            let node = match acc {
                Some(a) => a,
                None => x.zeros_like().map_err(terr("a zero node"))?,
            };
            nodes.push(node);
        }
        Ok(nodes.pop().expect("node 3"))
    }

    fn params(&self) -> usize {
        self.edges.iter().map(|(_, _, e)| e.params()).sum()
    }
}

/// The residual reduction block `cin -> cout`, stride 2.
#[derive(Debug)]
struct Reduction {
    a: ConvBn,
    b: ConvBn,
    shortcut: Tensor,
}

impl Reduction {
    fn new(rng: &mut rand_chacha::ChaCha8Rng, cin: usize, cout: usize) -> R<Reduction> {
        Ok(Reduction {
            a: ConvBn::new(rng, cin, cout, 3, 2, 1)?,
            b: ConvBn::new(rng, cout, cout, 3, 1, 1)?,
            shortcut: uniform(rng, &[cout, cin, 1, 1], cin)?,
        })
    }

    fn forward(&self, x: &Tensor, hook: &mut dyn FnMut(&Tensor) -> R<()>) -> R<Tensor> {
        let y = self.a.forward(&relu(x, hook)?)?;
        let y = self.b.forward(&relu(&y, hook)?)?;
        let s = x
            .avg_pool2d_with_stride((2, 2), (2, 2))
            .and_then(|t| t.conv2d(&self.shortcut, 0, 1, 1, 1))
            .map_err(terr("reduction shortcut"))?;
        (y + s).map_err(terr("reduction sum"))
    }

    fn params(&self) -> usize {
        self.a.params() + self.b.params() + self.shortcut.elem_count()
    }
}

/// A NAS-Bench-201 network at initialisation.
#[derive(Debug)]
pub struct Nb201Net {
    cell: String,
    stem: ConvBn,
    stages: Vec<(Option<Reduction>, Vec<Cell>)>,
    head_gamma: Tensor,
    head_beta: Tensor,
    head_w: Tensor,
    head_b: Tensor,
}

impl Nb201Net {
    /// Builds the network of `cell` with weights from `seed` (see the module docs).
    pub fn new(cell: &Nb201Arch, cfg: &NetConfig, seed: u64) -> Result<Nb201Net, NetError> {
        let ops = cell_ops(cell)?;
        cfg.validate()?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let c = cfg.channels;
        let stem = ConvBn::new(&mut rng, 3, c, 3, 1, 1)?;
        let mut stages = Vec::new();
        for (s, width) in [c, 2 * c, 4 * c].into_iter().enumerate() {
            let red = if s == 0 {
                None
            } else {
                Some(Reduction::new(&mut rng, width / 2, width)?)
            };
            let cells = (0..cfg.cells_per_stage)
                .map(|_| Cell::new(&mut rng, &ops, width))
                .collect::<R<Vec<_>>>()?;
            stages.push((red, cells));
        }
        let last = 4 * c;
        let dev = &Device::Cpu;
        Ok(Nb201Net {
            cell: cell.to_string(),
            stem,
            stages,
            head_gamma: ones(last)?,
            head_beta: Tensor::zeros(last, DType::F32, dev).map_err(terr("BN"))?,
            head_w: uniform(&mut rng, &[cfg.classes, last], last)?,
            head_b: uniform(&mut rng, &[cfg.classes], last)?,
        })
    }

    /// The cell's arch string.
    pub fn cell(&self) -> &str {
        &self.cell
    }

    /// Trainable parameters (convolution and linear weights, biases, BN scales and shifts;
    /// not BN's running statistics), as the benchmark counts them.
    pub fn num_params(&self) -> usize {
        let stages: usize = self
            .stages
            .iter()
            .map(|(r, cells)| {
                r.as_ref().map_or(0, Reduction::params)
                    + cells.iter().map(Cell::params).sum::<usize>()
            })
            .sum();
        self.stem.params()
            + stages
            + self.head_gamma.elem_count()
            + self.head_beta.elem_count()
            + self.head_w.elem_count()
            + self.head_b.elem_count()
    }

    /// Logits (`batch x classes`) of images `x` (`batch x 3 x 32 x 32`, `f32`), calling
    /// `hook` with the input of every ReLU in forward order (each cell convolution's, each
    /// reduction block's two, and the head's).
    pub fn forward(&self, x: &Tensor, hook: ReluHook<'_>) -> Result<Tensor, NetError> {
        let dims = x.dims().to_vec();
        if dims.len() != 4 || dims[1] != 3 || dims[2] != 32 || dims[3] != 32 || dims[0] == 0 {
            return Err(NetError::BadInput { shape: dims });
        }
        let mut h = self.stem.forward(x)?;
        for (red, cells) in &self.stages {
            if let Some(r) = red {
                h = r.forward(&h, hook)?;
            }
            for c in cells {
                h = c.forward(&h, hook)?;
            }
        }
        let h = batch_norm(&h, &self.head_gamma, &self.head_beta)?;
        let h = relu(&h, hook)?;
        let pooled = h.mean((2, 3)).map_err(terr("global pooling"))?;
        pooled
            .matmul(&self.head_w.t().map_err(terr("head"))?)
            .and_then(|t| t.broadcast_add(&self.head_b))
            .map_err(terr("head"))
    }
}

/// NASWOT ([`super::naswot`]) on the reference network, each ReLU's codes packed in
/// NCHW order.
pub fn naswot(net: &Nb201Net, images: &Tensor) -> Result<NaswotScore, NetError> {
    let b = images.dims().first().copied().unwrap_or(0);
    let mut k = CodeKernel::new(b);
    net.forward(images, &mut |x: &Tensor| {
        let rows: Vec<Vec<f32>> = x
            .flatten_from(1)
            .and_then(|t| t.to_vec2())
            .map_err(terr("NASWOT codes"))?;
        let units = rows.first().map_or(0, Vec::len);
        let codes: Vec<Vec<u64>> = rows
            .iter()
            .map(|r| pack_codes(std::iter::once(r.as_slice()), units))
            .collect();
        k.add(&codes, units, 1);
        Ok(())
    })?;
    Ok(k.finish()?)
}

impl Nb201Net {
    /// The weights TE-NAS differentiates (convolution and head weights, BN scales).
    fn weights(&self) -> Vec<&Tensor> {
        let mut out = vec![&self.stem.w, &self.stem.gamma];
        for (r, cells) in &self.stages {
            if let Some(r) = r {
                out.extend([&r.a.w, &r.a.gamma, &r.b.w, &r.b.gamma, &r.shortcut]);
            }
            for c in cells {
                for (_, _, e) in &c.edges {
                    if let Edge::Conv(k) = e {
                        out.push(&k.w);
                        out.push(&k.gamma);
                    }
                }
            }
        }
        out.push(&self.head_gamma);
        out.push(&self.head_w);
        out
    }
}

/// The empirical NTK `Theta_ij = <J_i, J_j>` (`B x B`, row-major, sums in `f64`) of
/// [`super::cnn::grad`] by candle's autograd: one backward pass of each image's summed
/// logits through the batch's graph (training-mode BN), as TE-NAS computes it.
pub fn ntk(net: &Nb201Net, images: &Tensor) -> Result<Vec<f64>, NetError> {
    let logits = net.forward(images, &mut |_| Ok(()))?;
    let b = images.dims().first().copied().unwrap_or(0);
    let e = terr("the NTK's backward pass");
    let weights = net.weights();
    let mut j: Vec<Vec<f32>> = Vec::with_capacity(b);
    for i in 0..b {
        let s = logits
            .narrow(0, i, 1)
            .and_then(|t| t.sum_all())
            .map_err(&e)?;
        let g = s.backward().map_err(&e)?;
        let mut v = Vec::new();
        for w in &weights {
            match g.get(w) {
                Some(d) => v.extend(
                    d.flatten_all()
                        .and_then(|t| t.to_vec1::<f32>())
                        .map_err(&e)?,
                ),
                None => v.extend(std::iter::repeat_n(0.0, w.elem_count())),
            }
        }
        j.push(v);
    }
    let mut gram = vec![0.0f64; b * b];
    for p in 0..b {
        for q in 0..b {
            gram[p * b + q] = j[p]
                .iter()
                .zip(&j[q])
                .map(|(x, y)| f64::from(*x) * f64::from(*y))
                .sum();
        }
    }
    Ok(gram)
}

/// The first `b` images of a CIFAR dataset as a `b x 3 x 32 x 32` tensor.
pub fn cifar_tensor(ds: &crate::data::Dataset, b: usize) -> Result<Tensor, NetError> {
    if ds.dim() != 3 * 32 * 32 || b == 0 || b > ds.len() {
        return Err(NetError::BadInput {
            shape: vec![ds.len(), ds.dim()],
        });
    }
    let v: Vec<f32> = ds.x.rows().into_iter().take(b).flatten().copied().collect();
    Tensor::from_vec(v, (b, 3, 32, 32), &Device::Cpu).map_err(terr("building the image batch"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t4(v: Vec<f32>, shape: (usize, usize, usize, usize)) -> Tensor {
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    #[test]
    fn avg_pool_divides_by_the_entries_inside_the_image() {
        let (b, c, h, w) = (2, 3, 5, 4);
        let v: Vec<f32> = (0..b * c * h * w)
            .map(|i| ((i * 37) % 11) as f32 - 5.0)
            .collect();
        let got: Vec<f32> = avg_pool3(&t4(v.clone(), (b, c, h, w)))
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        for p in 0..b * c {
            for i in 0..h {
                for j in 0..w {
                    let (mut s, mut k) = (0.0f32, 0);
                    for di in -1i64..=1 {
                        for dj in -1i64..=1 {
                            let (r, q) = (i as i64 + di, j as i64 + dj);
                            if r >= 0 && q >= 0 && (r as usize) < h && (q as usize) < w {
                                s += v[p * h * w + r as usize * w + q as usize];
                                k += 1;
                            }
                        }
                    }
                    let want = s / k as f32;
                    let g = got[p * h * w + i * w + j];
                    // Sums of at most 9 small integers and one division: a few ulps.
                    assert!(
                        (g - want).abs() <= 4.0 * f32::EPSILON * want.abs().max(1.0),
                        "({p}, {i}, {j}): {g} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn batch_norm_gives_each_channel_zero_mean_and_unit_variance() {
        let (b, c, h, w) = (4, 3, 2, 2);
        let v: Vec<f32> = (0..b * c * h * w)
            .map(|i| (i as f32 * 0.7).sin() * (1.0 + (i % 3) as f32))
            .collect();
        let x = t4(v, (b, c, h, w));
        let g = Tensor::ones(c, DType::F32, &Device::Cpu).unwrap();
        let z = Tensor::zeros(c, DType::F32, &Device::Cpu).unwrap();
        let y = batch_norm(&x, &g, &z).unwrap();
        let mean: Vec<f32> = y.mean((0, 2, 3)).unwrap().to_vec1().unwrap();
        let var: Vec<f32> = y.sqr().unwrap().mean((0, 2, 3)).unwrap().to_vec1().unwrap();
        for ch in 0..c {
            // 16 entries per channel in f32; eps = 1e-5 shrinks the variance by var / (var + eps).
            assert!(mean[ch].abs() < 1e-5, "channel {ch} mean {}", mean[ch]);
            assert!(
                (var[ch] - 1.0).abs() < 1e-3,
                "channel {ch} variance {}",
                var[ch]
            );
        }
    }

    #[test]
    fn cells_outside_the_space_are_typed_errors() {
        let two = Nb201Arch::parse("|nor_conv_3x3~0|+|skip_connect~0|none~1|").unwrap();
        assert!(matches!(cell_ops(&two), Err(CnnError::NotNb201 { .. })));
        let x = Tensor::zeros((1, 3, 16, 16), DType::F32, &Device::Cpu).unwrap();
        let cell = Nb201Arch::from_ops(["skip_connect"; 6]);
        let net = Nb201Net::new(
            &cell,
            &NetConfig {
                channels: 4,
                cells_per_stage: 1,
                classes: 3,
            },
            1,
        )
        .unwrap();
        assert!(matches!(
            net.forward(&x, &mut |_| Ok(())),
            Err(NetError::BadInput { .. })
        ));
    }
}
