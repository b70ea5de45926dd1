//! CUDA backend of the Monte Carlo samplers (feature `cuda`, cudarc 0.19 with libraries
//! loaded at run time).
//!
//! * Gaussians: cuRAND, one generator seeding per (network, sampler, edge, block), so
//!   results do not depend on launch order; buffers are filled with an even number of
//!   values (cuRAND's normal generator requires it).
//! * Large products: cuBLAS GEMM — `Z = E L^T` (conditional), `Z = W X / sqrt(m)` with `W`
//!   drawn in column blocks and accumulated (explicit), the lift `W0 x^T / sqrt(d)`, and
//!   every node's Gram `(1/m) X^T X`.
//! * Fused element-wise kernels and the column means: CUDA C in `kernels.cu`, compiled with
//!   NVRTC when the sampler is created.
//! * Square roots of the `N x N` Grams are taken on the host ([`super::features`]; the same
//!   Cholesky-or-eigen routine as the CPU sampler).
//!
//! Features are column-major `m x N` device matrices in [`Precision::F32`] (default) or
//! [`Precision::F64`]; Grams and means are returned in `f64`.
//!
//! Before any cudarc call, [`probe`] checks that the driver, NVRTC, cuRAND and cuBLAS
//! libraries can be loaded (cudarc panics on a missing library) and that a device exists;
//! without them every entry point returns [`McError::CudaUnavailable`].

use super::features::{root_factor, Real};
use super::rng::{edge_tag, Domain, LIFT_TAG};
use super::{McError, McInputs, McParams, Precision, Sampler};
use crate::dag::{Dag, Op};
use crate::kernel::{Lift, NodeState};
use cudarc::cublas::{sys::cublasOperation_t, CudaBlas, Gemm, GemmConfig};
use cudarc::curand::{result::NormalFill, sys::curandGenerator_t, CudaRng};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, DeviceRepr, LaunchConfig, PushKernelArg,
    ValidAsZeroBits,
};
use ndarray::{Array1, Array2};
use std::sync::{Arc, Mutex};

/// The CUDA C source of the element-wise kernels.
pub const KERNELS_CU: &str = include_str!("kernels.cu");

/// Threads per block of every kernel launch (the column-mean reduction assumes 256).
const THREADS: u32 = 256;
/// Elements of a weight block in the explicit sampler (`m x b`, at most 2^28).
const EXPLICIT_BLOCK_ELEMS: usize = 1 << 28;

/// A usable GPU: its name, compute capability and memory.
#[derive(Debug, Clone, PartialEq, Eq)]
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

fn cuda_err<E: std::fmt::Debug>(during: &'static str) -> impl Fn(E) -> McError {
    move |e| McError::Cuda {
        during,
        message: format!("{e:?}"),
    }
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
    // SAFETY: these only try to dlopen the libraries; nothing is called through them.
    let libs = unsafe {
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
    };
    if let Some((name, _)) = libs.iter().find(|(_, ok)| !ok) {
        return Err(unavailable(format!("{name} not found")));
    }
    let count = std::panic::catch_unwind(CudaContext::device_count)
        .map_err(|_| unavailable("the CUDA driver library lacks a required symbol (driver too old for CUDA 13 bindings?)"))?
        .map_err(|e| unavailable(format!("cuInit/cuDeviceGetCount failed: {e:?}")))?;
    if count < 1 {
        return Err(unavailable("no CUDA device found"));
    }
    let ctx = CudaContext::new(0)
        .map_err(|e| unavailable(format!("cannot create a context on device 0: {e:?}")))?;
    Ok(DeviceInfo {
        name: ctx.name().unwrap_or_else(|_| "unknown".into()),
        compute_capability: ctx.compute_capability().unwrap_or((0, 0)),
        total_bytes: ctx.total_mem().unwrap_or(0),
    })
}

/// An element type on the device: a [`Real`] (conversions, and the epsilon that sets the
/// rank tolerance of a Gram's root, as on the CPU) that cuBLAS and cuRAND handle.
trait Scalar: Real + DeviceRepr + ValidAsZeroBits + Default
where
    CudaBlas: Gemm<Self>,
    curandGenerator_t: NormalFill<Self>,
{
}

impl Scalar for f32 {}
impl Scalar for f64 {}

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

struct Kernels {
    relu_scale_add: CudaFunction,
    add: CudaFunction,
    column_means: CudaFunction,
}

struct Device {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    blas: CudaBlas,
    f32k: Kernels,
    f64k: Kernels,
}

/// A GPU sampler bound to one DAG, input set and options; networks run one at a time.
pub struct GpuSampler {
    dev: Mutex<Device>,
    dag: Dag,
    n: usize,
    d: usize,
    m: usize,
    sampler: Sampler,
    precision: Precision,
    relu_lift: bool,
    /// Row-major `N x d` data = column-major `d x N` (explicit lift).
    xt: Vec<f64>,
    /// Column-major square root of `x x^T / d` (conditional lift).
    l0: Vec<f64>,
}

impl std::fmt::Debug for GpuSampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuSampler")
            .field("m", &self.m)
            .field("n", &self.n)
            .field("sampler", &self.sampler)
            .finish()
    }
}

fn load_kernels(
    ctx: &Arc<CudaContext>,
    module: &Arc<cudarc::driver::CudaModule>,
    s: &str,
) -> Result<Kernels, McError> {
    let _ = ctx;
    let f = |name: &str| {
        module
            .load_function(&format!("{name}_{s}"))
            .map_err(cuda_err("loading a kernel"))
    };
    Ok(Kernels {
        relu_scale_add: f("relu_scale_add")?,
        add: f("add")?,
        column_means: f("column_means")?,
    })
}

/// A factor (`N x r`, `r <= N`) as an `N x N` column-major array, zero-padded: the layout
/// the conditional GEMM reads.
fn col_major(f: &faer::Mat<f64>) -> Vec<f64> {
    let n = f.nrows();
    (0..n * n)
        .map(|k| {
            if k / n < f.ncols() {
                f[(k % n, k / n)]
            } else {
                0.0
            }
        })
        .collect()
}

fn launch_cfg(len: usize) -> LaunchConfig {
    let blocks = len.div_ceil(THREADS as usize).clamp(1, 65_535 * 8) as u32;
    LaunchConfig {
        grid_dim: (blocks, 1, 1),
        block_dim: (THREADS, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// Peak number of `m x N` device buffers alive at once: node features (by liveness) plus
/// the noise and product buffers.
fn peak_buffers(dag: &Dag) -> usize {
    let nodes = dag.num_nodes();
    let mut last_use: Vec<usize> = (0..nodes).collect();
    for e in dag.edges().iter().filter(|e| e.op != Op::Zero) {
        last_use[e.from] = last_use[e.from].max(e.to);
    }
    (0..nodes)
        .map(|t| {
            (0..t)
                .filter(|&s| !dag.is_input(s) && last_use[s] >= t)
                .count()
                + 2
        })
        .max()
        .unwrap_or(1)
        + 2
}

impl GpuSampler {
    /// Probes the GPU, compiles the kernels and checks device memory for the run.
    pub fn new(dag: &Dag, inputs: &McInputs, params: &McParams) -> Result<GpuSampler, McError> {
        probe()?;
        let ctx = CudaContext::new(0).map_err(cuda_err("creating the context"))?;
        let (n, d, m) = (inputs.len(), inputs.dim(), params.width);
        let elem = match params.precision {
            Precision::F32 => 4u64,
            Precision::F64 => 8,
        };
        let mn = (m as u64).checked_mul(n as u64);
        let mut needed = mn
            .and_then(|v| v.checked_mul(elem))
            .and_then(|v| v.checked_mul(peak_buffers(dag) as u64));
        if params.sampler == Sampler::Explicit {
            let block = (m as u64)
                .min(EXPLICIT_BLOCK_ELEMS as u64 / (m.max(d).max(1) as u64))
                .max(1);
            needed = needed.and_then(|v| {
                v.checked_add((m.max(d) as u64).checked_mul(block)?.checked_mul(elem)?)
            });
        }
        let (free, _total) = ctx
            .mem_get_info()
            .map_err(cuda_err("querying device memory"))?;
        match needed {
            Some(b) if b <= free as u64 => {}
            _ => {
                return Err(McError::TooLarge {
                    needed,
                    limit: free as u64,
                    width: m,
                    points: n,
                })
            }
        }
        let ptx = cudarc::nvrtc::compile_ptx(KERNELS_CU)
            .map_err(cuda_err("compiling kernels.cu with NVRTC"))?;
        let module = ctx
            .load_module(ptx)
            .map_err(cuda_err("loading the kernel module"))?;
        let f32k = load_kernels(&ctx, &module, "f32")?;
        let f64k = load_kernels(&ctx, &module, "f64")?;
        let stream = ctx.default_stream();
        let blas = CudaBlas::new(stream.clone()).map_err(cuda_err("creating the cuBLAS handle"))?;
        let l0 = match params.sampler {
            Sampler::Conditional => {
                let l = inputs.data_factor().ok_or(McError::Factorization {
                    node: 0,
                    seed: params.seed,
                })?;
                col_major(&l.f)
            }
            Sampler::Explicit => Vec::new(),
        };
        Ok(GpuSampler {
            dev: Mutex::new(Device {
                ctx,
                stream,
                blas,
                f32k,
                f64k,
            }),
            dag: dag.clone(),
            n,
            d,
            m,
            sampler: params.sampler,
            precision: params.precision,
            relu_lift: inputs.lift() == Lift::ReluStem,
            xt: inputs.data().iter().copied().collect(),
            l0,
        })
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
        match self.precision {
            Precision::F32 => self.simulate_t::<f32>(&dev, &dev.f32k, seed),
            Precision::F64 => self.simulate_t::<f64>(&dev, &dev.f64k, seed),
        }
    }

    fn fill_normal<T: Scalar>(
        &self,
        rng: &mut CudaRng,
        buf: &mut CudaSlice<T>,
        domain: Domain,
        seed: u64,
        tag: u64,
        block: u64,
    ) -> Result<(), McError>
    where
        CudaBlas: Gemm<T>,
        curandGenerator_t: NormalFill<T>,
    {
        rng.set_seed(curand_seed(seed, domain, tag, block))
            .map_err(cuda_err("seeding cuRAND"))?;
        rng.set_offset(0).map_err(cuda_err("seeding cuRAND"))?;
        rng.fill_with_normal(buf, T::of(0.0), T::of(1.0))
            .map_err(cuda_err("cuRAND normal fill"))
    }

    /// Column-major GEMM `C = alpha op(A) op(B) + beta C`.
    #[allow(clippy::too_many_arguments)]
    fn gemm<T: Scalar, A, B, C>(
        blas: &CudaBlas,
        ta: bool,
        tb: bool,
        (m, n, k): (usize, usize, usize),
        alpha: f64,
        a: &A,
        lda: usize,
        b: &B,
        ldb: usize,
        beta: f64,
        c: &mut C,
        ldc: usize,
    ) -> Result<(), McError>
    where
        CudaBlas: Gemm<T>,
        curandGenerator_t: NormalFill<T>,
        A: cudarc::driver::DevicePtr<T>,
        B: cudarc::driver::DevicePtr<T>,
        C: cudarc::driver::DevicePtrMut<T>,
    {
        let int = |v: usize| {
            i32::try_from(v).map_err(|_| {
                unavailable(format!(
                    "matrix dimension {v} exceeds cuBLAS's 32-bit limit"
                ))
            })
        };
        let op = |t: bool| {
            if t {
                cublasOperation_t::CUBLAS_OP_T
            } else {
                cublasOperation_t::CUBLAS_OP_N
            }
        };
        let cfg = GemmConfig {
            transa: op(ta),
            transb: op(tb),
            m: int(m)?,
            n: int(n)?,
            k: int(k)?,
            alpha: T::of(alpha),
            lda: int(lda)?,
            ldb: int(ldb)?,
            beta: T::of(beta),
            ldc: int(ldc)?,
        };
        // Stored shapes (column-major): A is (ta ? k x m : m x k), B is (tb ? n x k : k x n),
        // C is m x n. Each buffer must reach its last element: ld * (cols - 1) + rows.
        let fits = |len: usize, ld: usize, rows: usize, cols: usize| {
            ld >= rows.max(1)
                && (cols == 0
                    || ld
                        .checked_mul(cols - 1)
                        .and_then(|v| v.checked_add(rows))
                        .is_some_and(|need| need <= len))
        };
        let (ar, ac) = if ta { (k, m) } else { (m, k) };
        let (br, bc) = if tb { (n, k) } else { (k, n) };
        if !(fits(a.len(), lda, ar, ac) && fits(b.len(), ldb, br, bc) && fits(c.len(), ldc, m, n)) {
            return Err(McError::Cuda {
                during: "GEMM shape check",
                message: format!(
                    "({m} x {k}) x ({k} x {n}) with ld {lda}, {ldb}, {ldc} overruns a buffer"
                ),
            });
        }
        // SAFETY: every operand's extent was checked against its buffer length above.
        unsafe { blas.gemm(cfg, a, b, c) }.map_err(cuda_err("cuBLAS GEMM"))
    }

    fn launch_relu_add<T: Scalar>(
        dev: &Device,
        k: &Kernels,
        acc: &mut CudaSlice<T>,
        z: &CudaSlice<T>,
        len: usize,
        gain: f64,
        relu: bool,
    ) -> Result<(), McError>
    where
        CudaBlas: Gemm<T>,
        curandGenerator_t: NormalFill<T>,
    {
        let (len64, g, r) = (len as u64, T::of(gain), relu as i32);
        let mut b = dev.stream.launch_builder(&k.relu_scale_add);
        b.arg(acc).arg(z).arg(&len64).arg(&g).arg(&r);
        // SAFETY: acc and z hold at least `len` elements; the kernel is grid-stride bounded.
        unsafe { b.launch(launch_cfg(len)) }
            .map(|_| ())
            .map_err(cuda_err("relu_scale_add kernel"))
    }

    fn gram_mean<T: Scalar>(
        &self,
        dev: &Device,
        k: &Kernels,
        x: &CudaSlice<T>,
        g: &mut CudaSlice<T>,
        mu: &mut CudaSlice<f64>,
    ) -> Result<NodeState, McError>
    where
        CudaBlas: Gemm<T>,
        curandGenerator_t: NormalFill<T>,
    {
        let (m, n) = (self.m, self.n);
        Self::gemm::<T, _, _, _>(
            &dev.blas,
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
        let m64 = m as u64;
        let mut b = dev.stream.launch_builder(&k.column_means);
        b.arg(x).arg(&m64).arg(&mut *mu);
        let cfg = LaunchConfig {
            grid_dim: (n as u32, 1, 1),
            block_dim: (THREADS, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: x is m x N column-major, mu holds N doubles, one block per column.
        unsafe { b.launch(cfg) }.map_err(cuda_err("column_means kernel"))?;
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

    fn simulate_t<T: Scalar>(
        &self,
        dev: &Device,
        k: &Kernels,
        seed: u64,
    ) -> Result<Vec<NodeState>, McError>
    where
        CudaBlas: Gemm<T>,
        curandGenerator_t: NormalFill<T>,
    {
        let (m, n, d) = (self.m, self.n, self.d);
        let len = m * n;
        let even = len + (len & 1);
        let st = &dev.stream;
        let alloc = |l: usize| {
            st.alloc_zeros::<T>(l)
                .map_err(cuda_err("allocating device memory"))
        };
        let mut rng =
            CudaRng::new(0, st.clone()).map_err(cuda_err("creating the cuRAND generator"))?;
        let mut e = alloc(even)?;
        let mut z = alloc(len)?;
        let mut g = alloc(n * n)?;
        let mut mu = st
            .alloc_zeros::<f64>(n)
            .map_err(cuda_err("allocating device memory"))?;
        let nodes = self.dag.num_nodes();
        let mut last_use: Vec<usize> = (0..nodes).collect();
        for ed in self.dag.edges().iter().filter(|e| e.op != Op::Zero) {
            last_use[ed.from] = last_use[ed.from].max(ed.to);
        }
        let mut feats: Vec<Option<Arc<CudaSlice<T>>>> = vec![None; nodes];
        let mut factors: Vec<Option<CudaSlice<T>>> = (0..nodes).map(|_| None).collect();
        let mut states: Vec<NodeState> = Vec::with_capacity(nodes);
        let mut lifted: Option<(Arc<CudaSlice<T>>, NodeState)> = None;
        // Explicit weight blocks: m x b columns of W (or of W0, m x d).
        let explicit_block = |kdim: usize| (EXPLICIT_BLOCK_ELEMS / m.max(1)).clamp(1, kdim);
        for t in 0..nodes {
            if self.dag.is_input(t) {
                if lifted.is_none() {
                    // Z0 = W0 x^T / sqrt(d) (explicit) or E L0^T (conditional).
                    match self.sampler {
                        Sampler::Conditional => {
                            let l0: Vec<T> = self.l0.iter().map(|&v| T::of(v)).collect();
                            let l0d = st.clone_htod(&l0).map_err(cuda_err("uploading a factor"))?;
                            self.conditional_product(
                                dev, &mut rng, &mut e, &l0d, &mut z, seed, LIFT_TAG,
                            )?;
                        }
                        Sampler::Explicit => {
                            let xt: Vec<T> = self.xt.iter().map(|&v| T::of(v)).collect();
                            let xtd = st.clone_htod(&xt).map_err(cuda_err("uploading the data"))?;
                            self.explicit_product(
                                dev,
                                &mut rng,
                                &xtd,
                                d,
                                1.0 / (d as f64).sqrt(),
                                &mut z,
                                seed,
                                LIFT_TAG,
                                explicit_block(d),
                            )?;
                        }
                    }
                    let mut x0 = alloc(len)?;
                    Self::launch_relu_add(
                        dev,
                        k,
                        &mut x0,
                        &z,
                        len,
                        if self.relu_lift {
                            std::f64::consts::SQRT_2
                        } else {
                            1.0
                        },
                        self.relu_lift,
                    )?;
                    let s = self.gram_mean(dev, k, &x0, &mut g, &mut mu)?;
                    lifted = Some((Arc::new(x0), s));
                }
                let (x0, s) = lifted.as_ref().expect("set above");
                feats[t] = Some(Arc::clone(x0));
                states.push(s.clone());
            } else {
                let mut acc = alloc(len)?;
                for (index, ed) in self.dag.edges().iter().enumerate() {
                    if ed.to != t || ed.op == Op::Zero {
                        continue;
                    }
                    let src = Arc::clone(feats[ed.from].as_ref().expect("alive until last use"));
                    match ed.op {
                        Op::Skip => {
                            let l64 = len as u64;
                            let mut b = st.launch_builder(&k.add);
                            b.arg(&mut acc).arg(&*src).arg(&l64);
                            // SAFETY: both buffers hold m x N elements.
                            unsafe { b.launch(launch_cfg(len)) }.map_err(cuda_err("add kernel"))?;
                        }
                        Op::Linear => {
                            let tag = edge_tag(index);
                            match self.sampler {
                                Sampler::Conditional => {
                                    if factors[ed.from].is_none() {
                                        let l = root_factor(&states[ed.from].gram, T::EPS).ok_or(
                                            McError::Factorization {
                                                node: ed.from,
                                                seed,
                                            },
                                        )?;
                                        let lh: Vec<T> =
                                            col_major(&l.f).into_iter().map(T::of).collect();
                                        factors[ed.from] = Some(
                                            st.clone_htod(&lh)
                                                .map_err(cuda_err("uploading a factor"))?,
                                        );
                                    }
                                    let l = factors[ed.from].as_ref().expect("set above");
                                    self.conditional_product(
                                        dev, &mut rng, &mut e, l, &mut z, seed, tag,
                                    )?;
                                }
                                Sampler::Explicit => {
                                    self.explicit_product(
                                        dev,
                                        &mut rng,
                                        &src,
                                        m,
                                        1.0 / (m as f64).sqrt(),
                                        &mut z,
                                        seed,
                                        tag,
                                        explicit_block(m),
                                    )?;
                                }
                            }
                            Self::launch_relu_add(
                                dev,
                                k,
                                &mut acc,
                                &z,
                                len,
                                std::f64::consts::SQRT_2,
                                true,
                            )?;
                        }
                        Op::Zero => {}
                    }
                }
                let s = self.gram_mean(dev, k, &acc, &mut g, &mut mu)?;
                states.push(s);
                feats[t] = Some(Arc::new(acc));
            }
            for s in 0..=t {
                if last_use[s] <= t {
                    feats[s] = None;
                    factors[s] = None;
                }
            }
        }
        st.synchronize()
            .map_err(cuda_err("synchronising the stream"))?;
        for (t, s) in states.iter().enumerate() {
            if !s.gram.iter().chain(s.mean.iter()).all(|v| v.is_finite()) {
                return Err(McError::NonFinite { node: t, seed });
            }
        }
        Ok(states)
    }

    /// Conditional draw of one edge: `z = E L^T` with `E` (`m x N`) iid N(0, 1) from the
    /// edge's stream and `L` the source's square root factor (`N x N`, column-major).
    #[allow(clippy::too_many_arguments)]
    fn conditional_product<T: Scalar>(
        &self,
        dev: &Device,
        rng: &mut CudaRng,
        e: &mut CudaSlice<T>,
        factor: &CudaSlice<T>,
        z: &mut CudaSlice<T>,
        seed: u64,
        tag: u64,
    ) -> Result<(), McError>
    where
        CudaBlas: Gemm<T>,
        curandGenerator_t: NormalFill<T>,
    {
        let (m, n) = (self.m, self.n);
        self.fill_normal(rng, e, Domain::Conditional, seed, tag, 0)?;
        Self::gemm::<T, _, _, _>(
            &dev.blas,
            false,
            true,
            (m, n, n),
            1.0,
            &*e,
            m,
            factor,
            n,
            0.0,
            z,
            m,
        )
    }

    /// `z = alpha W x` with `W` (`m x kdim`, iid N(0,1)) drawn in column blocks of `b`
    /// (one cuRAND seeding each) and accumulated by GEMM; `x` is `kdim x N`, ld `kdim`.
    #[allow(clippy::too_many_arguments)]
    fn explicit_product<T: Scalar>(
        &self,
        dev: &Device,
        rng: &mut CudaRng,
        x: &CudaSlice<T>,
        kdim: usize,
        alpha: f64,
        z: &mut CudaSlice<T>,
        seed: u64,
        tag: u64,
        b: usize,
    ) -> Result<(), McError>
    where
        CudaBlas: Gemm<T>,
        curandGenerator_t: NormalFill<T>,
    {
        let (m, n) = (self.m, self.n);
        let wlen = m * b;
        let mut w = dev
            .stream
            .alloc_zeros::<T>(wlen + (wlen & 1))
            .map_err(cuda_err("allocating device memory"))?;
        for (blk, c0) in (0..kdim).step_by(b).enumerate() {
            let bc = b.min(kdim - c0);
            self.fill_normal(rng, &mut w, Domain::Explicit, seed, tag, blk as u64)?;
            // z (m x N) += alpha * W[:, c0..c0+bc] (m x bc) * x[c0..c0+bc, :] (bc x N, ld kdim)
            let xv = x.slice(c0..);
            Self::gemm::<T, _, _, _>(
                &dev.blas,
                false,
                false,
                (m, n, bc),
                alpha,
                &w,
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

/// Measured cuBLAS SGEMM throughput in TFLOP/s for `C (m x n) = A (m x k) B (k x n)`
/// (`reps` timed calls after one warm-up; `2 m n k` flops each) on device 0.
pub fn sgemm_tflops(m: usize, n: usize, k: usize, reps: usize) -> Result<f64, McError> {
    probe()?;
    let ctx = CudaContext::new(0).map_err(cuda_err("creating the context"))?;
    let stream = ctx.default_stream();
    let blas = CudaBlas::new(stream.clone()).map_err(cuda_err("creating the cuBLAS handle"))?;
    let alloc = |l: usize| {
        stream
            .alloc_zeros::<f32>(l)
            .map_err(cuda_err("allocating device memory"))
    };
    let (a, b, mut c) = (alloc(m * k)?, alloc(k * n)?, alloc(m * n)?);
    let call = |c: &mut CudaSlice<f32>| {
        GpuSampler::gemm::<f32, _, _, _>(
            &blas,
            false,
            false,
            (m, n, k),
            1.0,
            &a,
            m,
            &b,
            k,
            0.0,
            c,
            m,
        )
    };
    call(&mut c)?;
    stream
        .synchronize()
        .map_err(cuda_err("synchronising the stream"))?;
    let start = std::time::Instant::now();
    for _ in 0..reps.max(1) {
        call(&mut c)?;
    }
    stream
        .synchronize()
        .map_err(cuda_err("synchronising the stream"))?;
    let secs = start.elapsed().as_secs_f64();
    Ok(2.0 * (m * n * k) as f64 * reps.max(1) as f64 / secs / 1e12)
}
