//! CUDA backend of the Monte Carlo samplers (feature `cuda`, cudarc 0.19 with libraries
//! loaded at run time).
//!
//! * Gaussians: cuRAND, one generator seeding per (network, sampler, edge, block), so
//!   results do not depend on launch order; buffers are filled with an even number of
//!   values (cuRAND's normal generator requires it).
//! * Large products: cuBLAS GEMM — `Z = E F^T` (conditional; `E` is `m x r` and `F` the
//!   `N x r` root of the source's Gram, `r` its rank), `Z = W X / sqrt(m)` with `W` drawn
//!   in column blocks and accumulated (explicit), the lift `W0 x^T / sqrt(d)`, and every
//!   node's Gram `(1/m) X^T X`.
//! * Fused element-wise kernels and the column means: CUDA C in `kernels.cu`, compiled with
//!   NVRTC when the sampler is created ([`KERNEL_NAMES`] lists what is loaded). The
//!   paper's ReLU edge runs `relu_scale_add` (`acc += sqrt(2) max(z, 0)`) as before; any
//!   other edge or lift (PAPER.md section 9) runs `act_scale_add`,
//!   `acc += phi(sqrt(sw2) z + sqrt(sb2) b_k)` with the activation's closed-form scalar
//!   map in double precision (identity, ABReLU and leaky ReLU, abs, erf, tanh, GELU via
//!   `erfc`, softplus, SiLU) and `b` (`m` values, one per unit, iid N(0, 1)) drawn by
//!   cuRAND from the edge's bias stream. A user-supplied
//!   [`Activation::Custom`] has no device code: [`GpuSampler::new`] refuses it with
//!   [`McError::UnsupportedActivation`] naming it.
//! * Roots of the node Grams: cuSOLVER Cholesky on the device when the Gram is positive
//!   definite to the working precision, the host's pivoted Cholesky (uploading `N x r`)
//!   when it is rank-deficient, or when cuSOLVER cannot be loaded (module `root`). The
//!   lift's factor and the data are uploaded once per run.
//!
//! Features are column-major `m x N` device matrices in [`Precision::F32`] (default) or
//! [`Precision::F64`]; Grams and means are returned in `f64`.
//!
//! Before any cudarc call, [`probe`] checks that the driver, NVRTC, cuRAND and cuBLAS
//! libraries can be loaded (cudarc panics on a missing library) and that a device exists;
//! without them every entry point returns [`McError::CudaUnavailable`]. One context is
//! created per run. Device memory is estimated ([`device_bytes`]) before anything large
//! is allocated, and every allocation is counted, so the estimate is checked on the GPU.

mod device;
mod root;

pub use device::KERNEL_NAMES;

use super::cpu::{last_use, reads_features, EdgeMap};
use super::rng::{bias_tag, edge_tag, Domain, LIFT_TAG};
use super::{GpuUsage, McError, McInputs, McParams, Precision, Sampler};
use crate::activation::Activation;
use crate::dag::{Dag, Role};
use crate::kernel::NodeState;
use crate::model::LiftParams;
use crate::plan::{Plan, Step};
use cudarc::curand::CudaRng;
use cudarc::driver::{CudaContext, CudaSlice};
use device::{cuda_err, fill_normal, Buf, Device, Scalar, BLAS_DIM_MAX};
use ndarray::{Array1, Array2};
use root::{col_major, DeviceRoot, RootCounts, RootScratch};
use serde::Serialize;
use std::sync::{Arc, Mutex};

/// The CUDA C source of the element-wise kernels.
pub const KERNELS_CU: &str = include_str!("kernels.cu");

/// Elements of a weight block in the explicit sampler (`m x b`, at most 2^28).
const EXPLICIT_BLOCK_ELEMS: usize = 1 << 28;

/// Device memory kept free beyond [`device_bytes`] for what the libraries allocate on
/// their own: cuBLAS's workspace (32 MiB on Hopper, 4 MiB before), cuRAND's generator
/// state, cuSOLVER's handle, the kernel module, and the allocator's rounding.
pub const LIBRARY_RESERVE_BYTES: u64 = 256 << 20;

/// Refuses any of `dims` past cuBLAS's and cuSOLVER's 32-bit `int`, before the device is
/// touched.
fn check_dims(dims: &[(&'static str, usize)]) -> Result<(), McError> {
    match dims.iter().find(|(_, v)| *v > BLAS_DIM_MAX) {
        Some(&(what, v)) => Err(McError::CudaDimension {
            what,
            value: v as u64,
        }),
        None => Ok(()),
    }
}

/// Device bytes a run may use: free memory less [`LIBRARY_RESERVE_BYTES`].
fn usable_bytes(dev: &Device) -> Result<u64, McError> {
    let (free, _) = dev
        .ctx
        .mem_get_info()
        .map_err(cuda_err("querying device memory"))?;
    Ok((free as u64).saturating_sub(LIBRARY_RESERVE_BYTES))
}

/// Admits a request of `needed` bytes (`None`: beyond `u64`) within `usable`, or refuses it
/// as [`McError::TooLarge`] for width `m` and `n` points.
fn admit(needed: Option<u64>, usable: u64, m: usize, n: usize) -> Result<u64, McError> {
    match needed {
        Some(b) if b <= usable => Ok(b),
        _ => Err(McError::TooLarge {
            needed,
            limit: usable,
            width: m,
            points: n,
        }),
    }
}

/// A usable GPU: its name, compute capability and memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceInfo {
    /// Device name.
    pub name: String,
    /// Compute capability (major, minor).
    pub compute_capability: (i32, i32),
    /// Total device memory in bytes.
    pub total_bytes: usize,
}

fn unavailable(reason: impl Into<String>) -> McError {
    McError::CudaUnavailable {
        reason: reason.into(),
    }
}

/// The four libraries every CUDA run needs, and whether each can be loaded.
fn libraries() -> [(&'static str, bool); 4] {
    // SAFETY: these only try to dlopen the libraries; nothing is called through them.
    unsafe {
        [
            (
                "CUDA driver (libcuda)",
                cudarc::driver::sys::is_culib_present(),
            ),
            ("NVRTC (libnvrtc)", cudarc::nvrtc::sys::is_culib_present()),
            (
                "cuRAND (libcurand)",
                cudarc::curand::sys::is_culib_present(),
            ),
            (
                "cuBLAS (libcublas)",
                cudarc::cublas::sys::is_culib_present(),
            ),
        ]
    }
}

/// Loads the libraries, finds device 0 and creates its context (once per run).
fn open() -> Result<(Arc<CudaContext>, DeviceInfo), McError> {
    if let Some((name, _)) = libraries().iter().find(|(_, ok)| !ok) {
        return Err(unavailable(format!(
            "{name} not found (searched the loader path: set LD_LIBRARY_PATH to the folder of the CUDA 13 libraries)"
        )));
    }
    let count = std::panic::catch_unwind(CudaContext::device_count)
        .map_err(|_| unavailable("the CUDA driver library lacks a required symbol (driver too old for CUDA 13 bindings?)"))?
        .map_err(|e| unavailable(format!("cuInit/cuDeviceGetCount failed: {e:?}")))?;
    if count < 1 {
        return Err(unavailable("no CUDA device found"));
    }
    let ctx = CudaContext::new(0)
        .map_err(|e| unavailable(format!("cannot create a context on device 0: {e:?}")))?;
    let info = DeviceInfo {
        name: ctx.name().unwrap_or_else(|_| "unknown".into()),
        compute_capability: ctx.compute_capability().unwrap_or((0, 0)),
        total_bytes: ctx.total_mem().unwrap_or(0),
    };
    Ok((ctx, info))
}

/// Checks, without panicking, that the CUDA libraries load and a device exists.
///
/// ```
/// // On a machine without a GPU this is an error with a reason, never a panic.
/// match archconv::montecarlo::cuda::probe() {
///     Ok(info) => println!("GPU: {}", info.name),
///     Err(e) => println!("skipped: {e}"),
/// }
/// ```
pub fn probe() -> Result<DeviceInfo, McError> {
    open().map(|(_, info)| info)
}

/// What [`probe_report`] found: the device, its free memory, the libraries, whether the
/// Grams' roots can be taken on the device, and the largest widths that fit.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeReport {
    /// The device.
    pub device: DeviceInfo,
    /// Free device memory in bytes when probed.
    pub free_bytes: u64,
    /// cuSOLVER loaded and checked (`None`), or why the roots will be taken on the host.
    pub cusolver_missing: Option<String>,
    /// For each `N` asked, the largest width whose run fits.
    pub fits: Vec<Fit>,
}

/// The largest width of a run at `points` inputs that fits in free device memory.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Fit {
    /// Inputs `N`.
    pub points: usize,
    /// Largest width `m` with `device_bytes + LIBRARY_RESERVE_BYTES <= free` and every
    /// GEMM dimension within cuBLAS's 32-bit limit (0: none fits).
    pub largest_width: usize,
    /// The largest power of two below or at `largest_width` (0: none fits).
    pub largest_power_of_two: usize,
}

/// Probes the GPU ([`probe`]), checks cuSOLVER, and computes for each of `points` the
/// largest width `m` of a run of `dag` (input dimension `d`) that fits in free memory,
/// from [`device_bytes`].
pub fn probe_report(
    dag: &Dag,
    d: usize,
    sampler: Sampler,
    precision: Precision,
    points: &[usize],
) -> Result<ProbeReport, McError> {
    let (ctx, info) = open()?;
    let dev = Device::new(ctx)?;
    let usable = usable_bytes(&dev)?;
    let plan = Plan::of(dag);
    let mut fits = Vec::new();
    for &n in points {
        let lwork = potrf_lwork(&dev, n, precision)?;
        let ok = |m: usize| {
            check_dims(&[("width m", m), ("number of points N", n)]).is_ok()
                && admit(
                    device_bytes_of(&plan, n, d, m, sampler, precision, lwork),
                    usable,
                    m,
                    n,
                )
                .is_ok()
        };
        let (mut lo, mut hi) = (0usize, BLAS_DIM_MAX + 1);
        // Invariant: ok(lo) or lo == 0; !ok(hi). The estimate grows with m.
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if ok(mid) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        fits.push(Fit {
            points: n,
            largest_width: lo,
            largest_power_of_two: if lo == 0 { 0 } else { 1 << lo.ilog2() },
        });
    }
    Ok(ProbeReport {
        device: info,
        free_bytes: usable + LIBRARY_RESERVE_BYTES,
        cusolver_missing: dev.solver.as_ref().err().cloned(),
        fits,
    })
}

/// Workspace elements of cuSOLVER's `potrf` at order `n` (0 without cuSOLVER).
fn potrf_lwork(dev: &Device, n: usize, precision: Precision) -> Result<usize, McError> {
    fn query<T: Scalar>(dev: &Device, n: usize) -> Result<usize, McError> {
        let Ok(h) = dev.solver.as_ref() else {
            return Ok(0);
        };
        let nn = i32::try_from(n).map_err(|_| McError::CudaDimension {
            what: "Gram order N",
            value: n as u64,
        })?;
        let mut a = dev
            .stream
            .alloc_zeros::<T>(n.max(1) * n.max(1))
            .map_err(cuda_err("allocating device memory"))?;
        let (pa, _ra) = cudarc::driver::DevicePtrMut::device_ptr_mut(&mut a, &dev.stream);
        // SAFETY: `a` holds n * n elements (the query does not read them).
        let l = unsafe { T::potrf_lwork(h.cu(), nn, pa as *mut T) }?;
        Ok(l.max(0) as usize)
    }
    match precision {
        Precision::F32 => query::<f32>(dev, n),
        Precision::F64 => query::<f64>(dev, n),
    }
}

/// Whether node `s` needs a square root of its Gram: the conditional sampler draws every
/// linear edge leaving it from that root. `O(out-degree)`; the sampler and its memory
/// estimate share it, as they share [`reads_features`] and [`last_use`] with the CPU.
fn needs_root(plan: &Plan<'_>, s: usize, sampler: Sampler) -> bool {
    match sampler {
        Sampler::Explicit => false,
        Sampler::Conditional => plan.out_edges(s).iter().any(|&i| match plan.step(i) {
            Step::Layer { .. } => true,
            Step::Identity { .. } => false,
        }),
    }
}

/// Columns of `W` drawn per block by the explicit sampler for a product with inner
/// dimension `kdim`.
fn explicit_block(m: usize, kdim: usize) -> usize {
    (EXPLICIT_BLOCK_ELEMS / m.max(1)).clamp(1, kdim.max(1))
}

/// Bytes of device memory a GPU run holds at its peak (one network at a time), `None`
/// on `u64` overflow. With `e = 4` (f32) or `8` (f64) bytes per element:
///
/// * per run: the lift's factor (`N x min(d, N)`, conditional) or the data (`d x N`,
///   explicit);
/// * per network: the product `Z` and the noise `E` (`m x N` each; explicit: a weight
///   block `m x b` with `b = min(2^28 / m, max(m, d))` instead of `E`), the biases (`m + 1`),
///   the Gram (`N x N`),
///   the potrf workspace (`lwork`), and at node `t` its own features plus the stored
///   features still to be read (`(F_t + 1) m N`) and the roots still to be used plus its
///   own (`(R_t + 1) N^2`), replaying the plan's liveness.
///
/// Not counted: the libraries' own workspaces ([`LIBRARY_RESERVE_BYTES`] is kept free for
/// them). `tests/montecarlo_cuda.rs` checks on a GPU that every allocation the run makes
/// stays within this bound.
///
/// ```
/// use archconv::{Dag, montecarlo::{cuda::device_bytes, Precision, Sampler}};
/// let b = device_bytes(&Dag::dag3(), 1024, 32, 1 << 16, Sampler::Conditional, Precision::F32, 0).unwrap();
/// // At least the product and the noise, m x N f32 each.
/// assert!(b >= 2 * (1u64 << 16) * 1024 * 4);
/// assert!(device_bytes(&Dag::dag3(), usize::MAX, 32, usize::MAX, Sampler::Conditional, Precision::F32, 0).is_none());
/// ```
pub fn device_bytes(
    dag: &Dag,
    n: usize,
    d: usize,
    m: usize,
    sampler: Sampler,
    precision: Precision,
    lwork: usize,
) -> Option<u64> {
    device_bytes_of(&Plan::of(dag), n, d, m, sampler, precision, lwork)
}

/// [`device_bytes`] from the DAG's plan, built once by the caller: `O(nodes + edges)`.
fn device_bytes_of(
    plan: &Plan<'_>,
    n: usize,
    d: usize,
    m: usize,
    sampler: Sampler,
    precision: Precision,
    lwork: usize,
) -> Option<u64> {
    let e = precision.bytes();
    let (n64, d64, m64) = (n as u64, d as u64, m as u64);
    let mn = m64.checked_mul(n64)?;
    let nn = n64.checked_mul(n64)?;
    let fixed = match sampler {
        Sampler::Conditional => n64.checked_mul(d64.min(n64))?,
        Sampler::Explicit => d64.checked_mul(n64)?,
    };
    let noise = match sampler {
        Sampler::Conditional => mn.checked_add(1)?,
        Sampler::Explicit => {
            let b = explicit_block(m, m.max(d)) as u64;
            m64.checked_mul(b)?.checked_add(1)?
        }
    };
    // Z, the noise, the biases (m, even), the Gram, potrf's workspace and diagonal; the
    // means are f64.
    let mut elems = fixed
        .checked_add(mn)?
        .checked_add(m64.checked_add(1)?)?
        .checked_add(noise)?
        .checked_add(nn)?
        .checked_add(lwork as u64)?
        .checked_add(n64)?;
    let nodes = plan.dag().num_nodes();
    // Node s's features (roots) are held at node t while s < t <= last_use(s): count them
    // at every t with difference arrays, O(nodes) instead of O(nodes^2).
    let mut dfeats = vec![0i64; nodes + 1];
    let mut droots = vec![0i64; nodes + 1];
    for s in 0..nodes {
        let last = last_use(plan, s);
        if last > s {
            for (delta, keep) in [
                (&mut dfeats, reads_features(plan, s, sampler)),
                (&mut droots, needs_root(plan, s, sampler)),
            ] {
                if keep {
                    delta[s + 1] += 1;
                    delta[last + 1] -= 1;
                }
            }
        }
    }
    let (mut live_feats, mut live_roots) = (0i64, 0i64);
    let mut peak = 0u64;
    for t in 0..nodes {
        live_feats += dfeats[t];
        live_roots += droots[t];
        let feats = live_feats as u64 + 1;
        let roots = live_roots as u64 + 1;
        let here = feats.checked_mul(mn)?.checked_add(roots.checked_mul(nn)?)?;
        peak = peak.max(here);
    }
    elems = elems.checked_add(peak)?;
    elems
        .checked_mul(e)?
        .checked_add(n64.checked_mul(8)?)?
        .checked_add(64)
}

/// A GPU sampler bound to one DAG (borrowed for its life), input set and options; networks
/// run one at a time.
pub struct GpuSampler<'a> {
    dev: Mutex<Device>,
    /// The DAG's traversal plan, built once for the sampler and all its networks.
    plan: Plan<'a>,
    n: usize,
    d: usize,
    m: usize,
    sampler: Sampler,
    precision: Precision,
    lift: LiftParams,
    lwork: usize,
    /// What the last network used: GEMM flops, peak device bytes, where its roots came from.
    last: Mutex<GpuUsage>,
    /// The bound [`device_bytes`] gave for this run.
    estimated_bytes: u64,
    /// The lift's input on the device, uploaded once: the data factor `N x r0`
    /// (conditional, with its rank) or the data `d x N` (explicit), in both precisions'
    /// slot of the one in use.
    lift_f32: Option<(Buf<f32>, usize)>,
    lift_f64: Option<(Buf<f64>, usize)>,
}

impl std::fmt::Debug for GpuSampler<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuSampler")
            .field("m", &self.m)
            .field("n", &self.n)
            .field("sampler", &self.sampler)
            .finish()
    }
}

/// The lifted features, shared by every input node: its state, and its features and root
/// while an input node's edges still read them (`None` once released, or when none does).
struct Lifted<T: Scalar> {
    x0: Option<Arc<Buf<T>>>,
    state: NodeState,
    root: Option<Arc<DeviceRoot<T>>>,
}

/// Picks the lift slot of the element type in use.
trait LiftSlot: Scalar {
    fn slot<'s>(s: &'s GpuSampler<'_>) -> Option<&'s (Buf<Self>, usize)>;
}
impl LiftSlot for f32 {
    fn slot<'s>(s: &'s GpuSampler<'_>) -> Option<&'s (Buf<f32>, usize)> {
        s.lift_f32.as_ref()
    }
}
impl LiftSlot for f64 {
    fn slot<'s>(s: &'s GpuSampler<'_>) -> Option<&'s (Buf<f64>, usize)> {
        s.lift_f64.as_ref()
    }
}

impl<'a> GpuSampler<'a> {
    /// Probes the GPU, compiles the kernels and checks device memory for the run.
    pub fn new(
        dag: &'a Dag,
        inputs: &McInputs,
        params: &McParams,
    ) -> Result<GpuSampler<'a>, McError> {
        let (n, d, m) = (inputs.len(), inputs.dim(), params.width);
        check_dims(&[
            ("width m", m),
            ("number of points N", n),
            ("input dimension d", d),
        ])?;
        check_activations(dag, inputs.lift_params())?;
        let (ctx, _info) = open()?;
        let dev = Device::new(ctx)?;
        let lwork = match params.sampler {
            Sampler::Conditional => potrf_lwork(&dev, n, params.precision)?,
            Sampler::Explicit => 0,
        };
        let plan = Plan::of(dag);
        let estimated_bytes = admit(
            device_bytes_of(&plan, n, d, m, params.sampler, params.precision, lwork),
            usable_bytes(&dev)?,
            m,
            n,
        )?;
        // The lift's input, once per run.
        let lift: (Vec<f64>, usize) = match params.sampler {
            Sampler::Conditional => {
                let l = inputs.data_factor().ok_or(McError::Factorization {
                    node: 0,
                    seed: params.seed,
                })?;
                (col_major(&l.f), l.f.ncols())
            }
            // Row-major N x d = column-major d x N.
            Sampler::Explicit => (inputs.data().iter().copied().collect(), d),
        };
        let (mut lift_f32, mut lift_f64) = (None, None);
        match params.precision {
            Precision::F32 => {
                let h: Vec<f32> = lift.0.iter().map(|&v| v as f32).collect();
                lift_f32 = Some((dev.upload(&h)?, lift.1));
            }
            Precision::F64 => lift_f64 = Some((dev.upload(&lift.0)?, lift.1)),
        }
        Ok(GpuSampler {
            dev: Mutex::new(dev),
            plan,
            n,
            d,
            m,
            sampler: params.sampler,
            precision: params.precision,
            lift: inputs.lift_params().clone(),
            lwork,
            last: Mutex::new(GpuUsage::default()),
            estimated_bytes,
            lift_f32,
            lift_f64,
        })
    }

    /// The device-memory bound of this run ([`device_bytes`]).
    pub fn estimated_bytes(&self) -> u64 {
        self.estimated_bytes
    }

    /// What the last sampled network used.
    pub fn last_network(&self) -> GpuUsage {
        self.last.lock().map(|g| *g).unwrap_or_default()
    }

    /// Samples network `seed`: every node's empirical Gram and mean.
    pub fn simulate(&self, seed: u64) -> Result<Vec<NodeState>, McError> {
        let dev = self
            .dev
            .lock()
            .map_err(|_| unavailable("a previous GPU run panicked"))?;
        dev.ctx
            .bind_to_thread()
            .map_err(cuda_err("binding the context"))?;
        dev.tally.reset();
        let mut roots = RootCounts::default();
        let states = match self.precision {
            Precision::F32 => self.simulate_t::<f32>(&dev, seed, &mut roots),
            Precision::F64 => self.simulate_t::<f64>(&dev, seed, &mut roots),
        }?;
        if let Ok(mut last) = self.last.lock() {
            *last = GpuUsage {
                gemm_flops_per_network: dev.tally.flops(),
                peak_device_bytes: dev.tally.peak(),
                estimated_device_bytes: self.estimated_bytes,
                roots_on_device: roots.device,
                roots_on_host: roots.host,
            };
        }
        Ok(states)
    }

    /// `(1/m) X^T X` into `g` (device) and the column means, both copied to the host.
    fn gram_mean<T: Scalar>(
        &self,
        dev: &Device,
        x: &CudaSlice<T>,
        g: &mut CudaSlice<T>,
        mu: &mut CudaSlice<f64>,
    ) -> Result<NodeState, McError> {
        let (m, n) = (self.m, self.n);
        dev.gemm(
            true,
            false,
            (n, n, m),
            1.0 / m as f64,
            x,
            m,
            x,
            m,
            0.0,
            g,
            n,
        )?;
        dev.column_means(x, m, n, mu)?;
        let gh = dev
            .stream
            .clone_dtoh(&*g)
            .map_err(cuda_err("copying a Gram to the host"))?;
        let muh = dev
            .stream
            .clone_dtoh(&*mu)
            .map_err(cuda_err("copying a mean to the host"))?;
        let mut gram = Array2::from_shape_fn((n, n), |(i, j)| gh[i + j * n].wide());
        for i in 0..n {
            for j in 0..i {
                let v = 0.5 * (gram[[i, j]] + gram[[j, i]]);
                gram[[i, j]] = v;
                gram[[j, i]] = v;
            }
        }
        Ok(NodeState {
            gram,
            mean: Array1::from_vec(muh),
        })
    }

    fn simulate_t<T: LiftSlot>(
        &self,
        dev: &Device,
        seed: u64,
        roots: &mut RootCounts,
    ) -> Result<Vec<NodeState>, McError> {
        let (m, n, d) = (self.m, self.n, self.d);
        let len = m * n;
        let plan = &self.plan;
        let (lift_in, lift_rank) = T::slot(self).ok_or(McError::Cuda {
            during: "selecting the lift's input",
            message: "no device copy in this precision".into(),
        })?;
        let mut rng = dev.rng()?;
        let mut z = dev.alloc::<T>(len)?;
        // Noise: E (m x r, r <= N) for the conditional sampler, a weight block (m x b)
        // for the explicit one; cuRAND fills an even number of values.
        let wcols = explicit_block(m, m.max(d));
        let noise_len = match self.sampler {
            Sampler::Conditional => len,
            Sampler::Explicit => m * wcols,
        };
        let mut noise = dev.alloc::<T>(noise_len + (noise_len & 1))?;
        let mut bias = dev.alloc::<T>(m + 1)?;
        let mut g = dev.alloc::<T>(n * n)?;
        let mut mu = dev.alloc::<f64>(n)?;
        let mut scratch = match (self.sampler, dev.solver.is_ok()) {
            (Sampler::Conditional, true) => Some(RootScratch::<T>::new(dev, n, self.lwork)?),
            _ => None,
        };
        let dag = plan.dag();
        let nodes = dag.num_nodes();
        let mut feats: Vec<Option<Arc<Buf<T>>>> = (0..nodes).map(|_| None).collect();
        let mut factors: Vec<Option<DeviceRoot<T>>> = (0..nodes).map(|_| None).collect();
        let mut states: Vec<NodeState> = Vec::with_capacity(nodes);
        let mut lifted: Option<Lifted<T>> = None;
        let mut lift_roots: Vec<Option<Arc<DeviceRoot<T>>>> = (0..nodes).map(|_| None).collect();
        let inputs = dag.inputs();
        let lift_read = inputs
            .iter()
            .any(|&s| reads_features(plan, s, self.sampler));
        let lift_needs_root = inputs.iter().any(|&s| needs_root(plan, s, self.sampler));
        // The node after which no input node is read any more.
        let lift_last = inputs.iter().map(|&s| last_use(plan, s)).max();
        for t in 0..nodes {
            let read = reads_features(plan, t, self.sampler);
            let root = needs_root(plan, t, self.sampler);
            if dag.is_input(t) {
                if lifted.is_none() {
                    // Z0 = E0 F0^T (conditional) or W0 x^T / sqrt(d) (explicit).
                    match self.sampler {
                        Sampler::Conditional => self.conditional_product(
                            dev, &mut rng, &mut noise, lift_in, *lift_rank, &mut z, seed, LIFT_TAG,
                        )?,
                        Sampler::Explicit => self.explicit_product(
                            dev,
                            &mut rng,
                            &mut noise,
                            lift_in,
                            d,
                            1.0 / (d as f64).sqrt(),
                            &mut z,
                            seed,
                            LIFT_TAG,
                        )?,
                    }
                    let mut x0 = dev.alloc::<T>(len)?;
                    let map = EdgeMap::of_lift(&self.lift);
                    self.apply_map(dev, &mut rng, &mut bias, &mut x0, &z, map, seed, LIFT_TAG)?;
                    let s = self.gram_mean(dev, &x0, &mut g, &mut mu)?;
                    // Dense lift: rank <= min(d (+ 1 with a bias), m) < N means a
                    // rank-deficient Gram, factored on the host without trying the device.
                    let rank_bound = match self.lift.stem_params() {
                        Some(_) => m,
                        None => m.min(d + usize::from(self.lift.variances().1 != 0.0)),
                    };
                    let root = if lift_needs_root {
                        let sc = if rank_bound < n {
                            None
                        } else {
                            scratch.as_mut()
                        };
                        Some(Arc::new(root::factor(
                            dev, sc, &g, &s.gram, t, seed, roots,
                        )?))
                    } else {
                        None
                    };
                    lifted = Some(Lifted {
                        x0: lift_read.then(|| Arc::new(x0)),
                        state: s,
                        root,
                    });
                }
                let l = lifted.as_ref().expect("set above");
                if read {
                    feats[t] = l.x0.clone();
                }
                if root {
                    lift_roots[t] = l.root.clone();
                }
                states.push(l.state.clone());
            } else {
                let mut acc = dev.alloc::<T>(len)?;
                for &index in plan.in_edges(t) {
                    match plan.step(index) {
                        Step::Identity { from } => {
                            let src = feats[from].as_ref().ok_or(McError::Cuda {
                                during: "reading a skip edge's source",
                                message: format!("features of node {from} were not kept"),
                            })?;
                            dev.add(&mut acc, src, len)?;
                        }
                        Step::Layer { from, pid } => {
                            let tag = edge_tag(index);
                            match self.sampler {
                                Sampler::Conditional => {
                                    let f = match (&factors[from], &lift_roots[from]) {
                                        (Some(f), _) => f,
                                        (None, Some(f)) => f.as_ref(),
                                        (None, None) => {
                                            return Err(McError::Factorization { node: from, seed })
                                        }
                                    };
                                    self.conditional_product(
                                        dev, &mut rng, &mut noise, &f.f, f.rank, &mut z, seed, tag,
                                    )?;
                                }
                                Sampler::Explicit => {
                                    let src = feats[from].as_ref().ok_or(McError::Cuda {
                                        during: "reading a linear edge's source",
                                        message: format!("features of node {from} were not kept"),
                                    })?;
                                    self.explicit_product(
                                        dev,
                                        &mut rng,
                                        &mut noise,
                                        src,
                                        m,
                                        1.0 / (m as f64).sqrt(),
                                        &mut z,
                                        seed,
                                        tag,
                                    )?;
                                }
                            }
                            let map = EdgeMap::of_edge(plan.params(pid));
                            self.apply_map(dev, &mut rng, &mut bias, &mut acc, &z, map, seed, tag)?;
                        }
                    }
                }
                let s = self.gram_mean(dev, &acc, &mut g, &mut mu)?;
                if root {
                    factors[t] = Some(root::factor(
                        dev,
                        scratch.as_mut(),
                        &g,
                        &s.gram,
                        t,
                        seed,
                        roots,
                    )?);
                }
                states.push(s);
                if read {
                    feats[t] = Some(Arc::new(acc));
                }
            }
            for s in super::cpu::released_at(plan, t) {
                feats[s] = None;
                factors[s] = None;
                lift_roots[s] = None;
            }
            // Once every input node has been read for the last time, the lift's features
            // and root go too (the per-node copies above are the only other holders).
            if let Some(l) = lifted.as_mut() {
                if lift_last.is_some_and(|last| last <= t) {
                    l.x0 = None;
                    l.root = None;
                }
            }
        }
        drop(lifted);
        dev.stream
            .synchronize()
            .map_err(cuda_err("synchronising the stream"))?;
        for (t, s) in states.iter().enumerate() {
            if !s.gram.iter().chain(s.mean.iter()).all(|v| v.is_finite()) {
                return Err(McError::NonFinite { node: t, seed });
            }
        }
        Ok(states)
    }

    /// `acc += map(z)` for a linear edge or the lift with weight tag `tag`: the paper's
    /// ReLU (and any ReLU without bias) through `relu_scale_add`, anything else through
    /// `act_scale_add` with the biases drawn from the bias stream (`sb2 > 0`).
    #[allow(clippy::too_many_arguments)]
    fn apply_map<T: Scalar>(
        &self,
        dev: &Device,
        rng: &mut CudaRng,
        bias: &mut CudaSlice<T>,
        acc: &mut CudaSlice<T>,
        z: &CudaSlice<T>,
        map: EdgeMap<'_>,
        seed: u64,
        tag: u64,
    ) -> Result<(), McError> {
        let (m, len) = (self.m, self.m * self.n);
        match map {
            EdgeMap::Identity => dev.relu_add(acc, z, len, 1.0, false),
            EdgeMap::Relu(gain) => dev.relu_add(acc, z, len, gain, true),
            EdgeMap::General {
                act,
                scale,
                bias: bsd,
            } => {
                let code = gpu_activation(act).ok_or_else(|| McError::UnsupportedActivation {
                    activation: act.to_string(),
                    edge: None,
                })?;
                if bsd != 0.0 {
                    let domain = match self.sampler {
                        Sampler::Conditional => Domain::Conditional,
                        Sampler::Explicit => Domain::Explicit,
                    };
                    let mut bv = bias.slice_mut(0..m + (m & 1));
                    fill_normal::<T, _>(rng, &mut bv, curand_seed(seed, domain, bias_tag(tag), 0))?;
                }
                dev.act_add(acc, z, len, m, scale, bsd, bias, code)
            }
        }
    }

    /// Conditional draw of one edge: `z = E F^T` with `E` (`m x r`) iid N(0, 1) from the
    /// edge's stream and `F` the source's root (`N x r`, column-major, ld `N`).
    #[allow(clippy::too_many_arguments)]
    fn conditional_product<T: Scalar>(
        &self,
        dev: &Device,
        rng: &mut CudaRng,
        e: &mut CudaSlice<T>,
        factor: &CudaSlice<T>,
        rank: usize,
        z: &mut CudaSlice<T>,
        seed: u64,
        tag: u64,
    ) -> Result<(), McError> {
        let (m, n) = (self.m, self.n);
        let len = m * rank;
        let mut ev = e.slice_mut(0..len + (len & 1));
        fill_normal::<T, _>(rng, &mut ev, curand_seed(seed, Domain::Conditional, tag, 0))?;
        dev.gemm(false, true, (m, n, rank), 1.0, &ev, m, factor, n, 0.0, z, m)
    }

    /// `z = alpha W x` with `W` (`m x kdim`, iid N(0,1)) drawn in column blocks (one
    /// cuRAND seeding each) into `w` and accumulated by GEMM; `x` is `kdim x N`, ld `kdim`.
    #[allow(clippy::too_many_arguments)]
    fn explicit_product<T: Scalar>(
        &self,
        dev: &Device,
        rng: &mut CudaRng,
        w: &mut CudaSlice<T>,
        x: &CudaSlice<T>,
        kdim: usize,
        alpha: f64,
        z: &mut CudaSlice<T>,
        seed: u64,
        tag: u64,
    ) -> Result<(), McError> {
        let (m, n) = (self.m, self.n);
        let b = explicit_block(m, kdim);
        for (blk, c0) in (0..kdim).step_by(b).enumerate() {
            let bc = b.min(kdim - c0);
            let wl = m * bc;
            let mut wv = w.slice_mut(0..wl + (wl & 1));
            fill_normal::<T, _>(
                rng,
                &mut wv,
                curand_seed(seed, Domain::Explicit, tag, blk as u64),
            )?;
            // z (m x N) += alpha * W[:, c0..c0+bc] (m x bc) * x[c0..c0+bc, :] (bc x N, ld kdim)
            let xv = x.slice(c0..);
            dev.gemm(
                false,
                false,
                (m, n, bc),
                alpha,
                &wv,
                m,
                &xv,
                kdim,
                if blk == 0 { 0.0 } else { 1.0 },
                z,
                m,
            )?;
        }
        Ok(())
    }
}

/// The device code of an activation for `act_scale_add`: `(code, a, b)` with the
/// ABReLU slopes `a, b` (code 1; unused otherwise), or `None` for a user-supplied one.
fn gpu_activation(act: &Activation) -> Option<(i32, f64, f64)> {
    Some(match act {
        Activation::Identity => (0, 0.0, 0.0),
        Activation::Relu => (1, 0.0, 1.0),
        Activation::AbRelu { a, b } => (1, *a, *b),
        Activation::Abs => (2, 0.0, 0.0),
        Activation::Erf => (3, 0.0, 0.0),
        Activation::Tanh => (4, 0.0, 0.0),
        Activation::Gelu => (5, 0.0, 0.0),
        Activation::Softplus => (6, 0.0, 0.0),
        Activation::Silu => (7, 0.0, 0.0),
        Activation::Custom(_) => return None,
    })
}

/// Refuses, before the device is touched, a DAG or lift with an activation that has no
/// device code ([`McError::UnsupportedActivation`], naming it and its edge).
fn check_activations(dag: &Dag, lift: &LiftParams) -> Result<(), McError> {
    if let Some(p) = lift.stem_params() {
        if gpu_activation(p.activation()).is_none() {
            return Err(McError::UnsupportedActivation {
                activation: p.activation().to_string(),
                edge: None,
            });
        }
    }
    for (i, e) in dag.edges().iter().enumerate() {
        let params = match e.role() {
            Role::Layer { params, .. } => params,
            Role::Identity { .. } | Role::Absent => continue,
        };
        if gpu_activation(params.activation()).is_none() {
            return Err(McError::UnsupportedActivation {
                activation: params.activation().to_string(),
                edge: Some(i),
            });
        }
    }
    Ok(())
}

/// A 64-bit cuRAND seed from a block key (SplitMix64 finaliser over the four words).
fn curand_seed(seed: u64, domain: Domain, tag: u64, block: u64) -> u64 {
    let mut h = 0x243f_6a88_85a3_08d3u64;
    for w in [seed, domain as u64, tag, block] {
        h ^= w;
        h = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = h;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        h = z ^ (z >> 31);
    }
    h
}

/// Measured cuBLAS SGEMM throughput in TFLOP/s for `C (m x n) = A (m x k) B (k x n)`
/// (`reps` timed calls after one warm-up; `2 m n k` flops each) on device 0.
pub fn sgemm_tflops(m: usize, n: usize, k: usize, reps: usize) -> Result<f64, McError> {
    check_dims(&[
        ("GEMM dimension m", m),
        ("GEMM dimension n", n),
        ("GEMM dimension k", k),
    ])?;
    let (ctx, _) = open()?;
    let dev = Device::new(ctx)?;
    let bytes = [m * k, k * n, m * n]
        .iter()
        .try_fold(0u64, |acc, &l| acc.checked_add((l as u64).checked_mul(4)?));
    admit(bytes, usable_bytes(&dev)?, m, n)?;
    let (a, b, mut c) = (
        dev.alloc::<f32>(m * k)?,
        dev.alloc::<f32>(k * n)?,
        dev.alloc::<f32>(m * n)?,
    );
    let call =
        |c: &mut CudaSlice<f32>| dev.gemm(false, false, (m, n, k), 1.0, &*a, m, &*b, k, 0.0, c, m);
    call(&mut c)?;
    dev.stream
        .synchronize()
        .map_err(cuda_err("synchronising the stream"))?;
    let start = std::time::Instant::now();
    for _ in 0..reps.max(1) {
        call(&mut c)?;
    }
    dev.stream
        .synchronize()
        .map_err(cuda_err("synchronising the stream"))?;
    let secs = start.elapsed().as_secs_f64();
    Ok(2.0 * (m as f64) * (n as f64) * (k as f64) * reps.max(1) as f64 / secs / 1e12)
}
