//! One CUDA device opened for a run: the context (created once), its stream, the cuBLAS,
//! cuRAND and cuSOLVER handles, the NVRTC-compiled kernels, and a tally of every device
//! allocation and GEMM flop, so that the memory estimate and the throughput figures can be
//! checked against what actually ran.

use super::super::features::Real;
use super::super::McError;
use super::KERNELS_CU;
use cudarc::cublas::{sys::cublasOperation_t, CudaBlas, Gemm, GemmConfig};
use cudarc::curand::CudaRng;
use cudarc::cusolver::{sys as dn, DnHandle};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream, DevicePtr, DevicePtrMut,
    DeviceRepr, LaunchConfig, PushKernelArg, ValidAsZeroBits,
};
use std::ffi::c_int;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Threads per block of every kernel launch (the column-mean reduction assumes 256).
pub(super) const THREADS: u32 = 256;

/// The kernels the Rust code loads from `kernels.cu`, without their precision suffix
/// (`_f32`, `_f64`). CI compiles `kernels.cu` with NVRTC and checks that each one is an
/// entry point of the PTX (`tests/montecarlo_cuda.rs`).
///
/// ```
/// use archconv::montecarlo::cuda::{KERNEL_NAMES, KERNELS_CU};
/// for name in KERNEL_NAMES {
///     assert!(KERNELS_CU.contains(&format!("{name}_##S(")));
/// }
/// ```
pub const KERNEL_NAMES: [&str; 6] = [
    "relu_scale_add",
    "add",
    "column_means",
    "zero_upper",
    "diagonal",
    "act_scale_add",
];

/// The largest dimension or leading dimension cuBLAS and cuSOLVER take (`int`).
pub(super) const BLAS_DIM_MAX: usize = i32::MAX as usize;

pub(super) fn cuda_err<E: std::fmt::Debug>(during: &'static str) -> impl Fn(E) -> McError {
    move |e| McError::Cuda {
        during,
        message: format!("{e:?}"),
    }
}

/// Live and peak bytes of device memory held through [`Device::alloc`], and GEMM flops.
#[derive(Debug, Default)]
pub(super) struct Tally {
    live: AtomicU64,
    peak: AtomicU64,
    flops: AtomicU64,
}

impl Tally {
    fn add(&self, bytes: u64) {
        let now = self.live.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.peak.fetch_max(now, Ordering::Relaxed);
    }

    /// Peak bytes held at once since the last [`Tally::reset`].
    pub(super) fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }

    /// GEMM flops (`2 m n k` per product) since the last [`Tally::reset`].
    pub(super) fn flops(&self) -> u64 {
        self.flops.load(Ordering::Relaxed)
    }

    /// Starts a new measurement from the bytes live now.
    pub(super) fn reset(&self) {
        self.peak
            .store(self.live.load(Ordering::Relaxed), Ordering::Relaxed);
        self.flops.store(0, Ordering::Relaxed);
    }
}

/// A device buffer whose bytes are counted in the [`Tally`] while it lives.
pub(super) struct Buf<T: DeviceRepr> {
    s: CudaSlice<T>,
    bytes: u64,
    tally: Arc<Tally>,
}

impl<T: DeviceRepr> Drop for Buf<T> {
    fn drop(&mut self) {
        self.tally.live.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

impl<T: DeviceRepr> std::ops::Deref for Buf<T> {
    type Target = CudaSlice<T>;
    fn deref(&self) -> &CudaSlice<T> {
        &self.s
    }
}

impl<T: DeviceRepr> std::ops::DerefMut for Buf<T> {
    fn deref_mut(&mut self) -> &mut CudaSlice<T> {
        &mut self.s
    }
}

/// The kernels of one precision.
pub(super) struct Kernels {
    pub(super) relu_scale_add: CudaFunction,
    pub(super) add: CudaFunction,
    pub(super) column_means: CudaFunction,
    pub(super) zero_upper: CudaFunction,
    pub(super) diagonal: CudaFunction,
    pub(super) act_scale_add: CudaFunction,
}

fn load_kernels(module: &Arc<CudaModule>, s: &str) -> Result<Kernels, McError> {
    let f = |name: &str| {
        module
            .load_function(&format!("{name}_{s}"))
            .map_err(cuda_err("loading a kernel"))
    };
    // Same order as KERNEL_NAMES.
    Ok(Kernels {
        relu_scale_add: f(KERNEL_NAMES[0])?,
        add: f(KERNEL_NAMES[1])?,
        column_means: f(KERNEL_NAMES[2])?,
        zero_upper: f(KERNEL_NAMES[3])?,
        diagonal: f(KERNEL_NAMES[4])?,
        act_scale_add: f(KERNEL_NAMES[5])?,
    })
}

/// An element type on the device: a [`Real`] (conversions, and the epsilon that sets the
/// rank tolerance of a Gram's root, as on the CPU) with its cuBLAS GEMM, cuRAND normal
/// fill and cuSOLVER Cholesky (`potrf`).
pub(super) trait Scalar: Real + DeviceRepr + ValidAsZeroBits + Default {
    /// This precision's kernels.
    fn kernels(dev: &Device) -> &Kernels;
    /// `C = alpha op(A) op(B) + beta C` (cuBLAS `sgemm` / `dgemm`).
    ///
    /// # Safety
    /// Every operand's extent must lie within its buffer.
    unsafe fn gemm<A: DevicePtr<Self>, B: DevicePtr<Self>, C: DevicePtrMut<Self>>(
        blas: &CudaBlas,
        cfg: GemmConfig<Self>,
        a: &A,
        b: &B,
        c: &mut C,
    ) -> Result<(), cudarc::cublas::result::CublasError>;
    /// Fills `dst` with iid N(0, 1) draws.
    fn fill_normal<D: DevicePtrMut<Self>>(
        rng: &CudaRng,
        dst: &mut D,
    ) -> Result<(), cudarc::curand::result::CurandError>;
    /// Workspace elements of `potrf` (lower) for an `n x n` matrix.
    ///
    /// # Safety
    /// `a` must point to `n * n` device elements.
    unsafe fn potrf_lwork(
        h: dn::cusolverDnHandle_t,
        n: c_int,
        a: *mut Self,
    ) -> Result<c_int, McError>;
    /// In-place lower Cholesky factor of the `n x n` column-major matrix at `a`.
    ///
    /// # Safety
    /// `a`: `n * n` elements; `work`: `lwork`; `info`: one `int`, all on the device.
    unsafe fn potrf(
        h: dn::cusolverDnHandle_t,
        n: c_int,
        a: *mut Self,
        work: *mut Self,
        lwork: c_int,
        info: *mut c_int,
    ) -> Result<(), McError>;
}

macro_rules! scalar_impl {
    ($t:ty, $k:ident, $buf:ident, $potrf:ident) => {
        impl Scalar for $t {
            fn kernels(dev: &Device) -> &Kernels {
                &dev.$k
            }
            unsafe fn gemm<A: DevicePtr<$t>, B: DevicePtr<$t>, C: DevicePtrMut<$t>>(
                blas: &CudaBlas,
                cfg: GemmConfig<$t>,
                a: &A,
                b: &B,
                c: &mut C,
            ) -> Result<(), cudarc::cublas::result::CublasError> {
                // SAFETY: forwarded to the caller.
                unsafe { blas.gemm(cfg, a, b, c) }
            }
            fn fill_normal<D: DevicePtrMut<$t>>(
                rng: &CudaRng,
                dst: &mut D,
            ) -> Result<(), cudarc::curand::result::CurandError> {
                rng.fill_with_normal(dst, 0.0, 1.0)
            }
            unsafe fn potrf_lwork(
                h: dn::cusolverDnHandle_t,
                n: c_int,
                a: *mut $t,
            ) -> Result<c_int, McError> {
                let mut lwork: c_int = 0;
                // SAFETY: forwarded to the caller; lwork is a host int.
                unsafe {
                    dn::$buf(
                        h,
                        dn::cublasFillMode_t::CUBLAS_FILL_MODE_LOWER,
                        n,
                        a,
                        n,
                        &mut lwork,
                    )
                }
                .result()
                .map_err(cuda_err("cuSOLVER potrf workspace query"))?;
                Ok(lwork)
            }
            unsafe fn potrf(
                h: dn::cusolverDnHandle_t,
                n: c_int,
                a: *mut $t,
                work: *mut $t,
                lwork: c_int,
                info: *mut c_int,
            ) -> Result<(), McError> {
                // SAFETY: forwarded to the caller.
                unsafe {
                    dn::$potrf(
                        h,
                        dn::cublasFillMode_t::CUBLAS_FILL_MODE_LOWER,
                        n,
                        a,
                        n,
                        work,
                        lwork,
                        info,
                    )
                }
                .result()
                .map_err(cuda_err("cuSOLVER potrf"))
            }
        }
    };
}

scalar_impl!(f32, f32k, cusolverDnSpotrf_bufferSize, cusolverDnSpotrf);
scalar_impl!(f64, f64k, cusolverDnDpotrf_bufferSize, cusolverDnDpotrf);

/// An opened device: one context for the whole run.
pub(super) struct Device {
    pub(super) ctx: Arc<CudaContext>,
    pub(super) stream: Arc<CudaStream>,
    pub(super) blas: CudaBlas,
    /// cuSOLVER's dense handle, or why there is none (the roots are then taken on the host).
    pub(super) solver: Result<DnHandle, String>,
    f32k: Kernels,
    f64k: Kernels,
    pub(super) tally: Arc<Tally>,
}

impl Device {
    /// Compiles the kernels and creates the library handles on `ctx`.
    pub(super) fn new(ctx: Arc<CudaContext>) -> Result<Device, McError> {
        let ptx = cudarc::nvrtc::compile_ptx(KERNELS_CU)
            .map_err(cuda_err("compiling kernels.cu with NVRTC"))?;
        let module = ctx
            .load_module(ptx)
            .map_err(cuda_err("loading the kernel module"))?;
        let f32k = load_kernels(&module, "f32")?;
        let f64k = load_kernels(&module, "f64")?;
        let stream = ctx.default_stream();
        let blas = CudaBlas::new(stream.clone()).map_err(cuda_err("creating the cuBLAS handle"))?;
        let solver = open_solver(&stream);
        Ok(Device {
            ctx,
            stream,
            blas,
            solver,
            f32k,
            f64k,
            tally: Arc::new(Tally::default()),
        })
    }

    /// A zeroed buffer of `len` elements, counted in the tally.
    pub(super) fn alloc<T: DeviceRepr + ValidAsZeroBits>(
        &self,
        len: usize,
    ) -> Result<Buf<T>, McError> {
        let s = self
            .stream
            .alloc_zeros::<T>(len)
            .map_err(cuda_err("allocating device memory"))?;
        let bytes = (len * std::mem::size_of::<T>()) as u64;
        self.tally.add(bytes);
        Ok(Buf {
            s,
            bytes,
            tally: Arc::clone(&self.tally),
        })
    }

    /// A device copy of `host`, counted in the tally.
    pub(super) fn upload<T: DeviceRepr + ValidAsZeroBits>(
        &self,
        host: &[T],
    ) -> Result<Buf<T>, McError> {
        let mut b = self.alloc::<T>(host.len())?;
        self.stream
            .memcpy_htod(host, &mut *b)
            .map_err(cuda_err("copying to the device"))?;
        Ok(b)
    }

    /// A cuRAND generator on this device's stream (one per network: cuRAND handles are
    /// not `Send`).
    pub(super) fn rng(&self) -> Result<CudaRng, McError> {
        CudaRng::new(0, self.stream.clone()).map_err(cuda_err("creating the cuRAND generator"))
    }
}

/// Seeds `rng` with `seed` (offset 0) and fills `dst` with N(0, 1) draws. `dst.len()` must
/// be even (cuRAND's normal generator requires it).
pub(super) fn fill_normal<T: Scalar, D: DevicePtrMut<T>>(
    rng: &mut CudaRng,
    dst: &mut D,
    seed: u64,
) -> Result<(), McError> {
    assert!(
        dst.len() % 2 == 0,
        "cuRAND normal fills need an even length"
    );
    rng.set_seed(seed).map_err(cuda_err("seeding cuRAND"))?;
    rng.set_offset(0).map_err(cuda_err("seeding cuRAND"))?;
    T::fill_normal(rng, dst).map_err(cuda_err("cuRAND normal fill"))
}

impl Device {
    /// Column-major GEMM `C = alpha op(A) op(B) + beta C`, with every operand's extent
    /// checked against its buffer and the flops (`2 m n k`) counted.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn gemm<T: Scalar, A: DevicePtr<T>, B: DevicePtr<T>, C: DevicePtrMut<T>>(
        &self,
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
    ) -> Result<(), McError> {
        let int = |what: &'static str, v: usize| {
            i32::try_from(v).map_err(|_| McError::CudaDimension {
                what,
                value: v as u64,
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
            m: int("GEMM dimension m", m)?,
            n: int("GEMM dimension n", n)?,
            k: int("GEMM dimension k", k)?,
            alpha: T::of(alpha),
            lda: int("GEMM leading dimension", lda)?,
            ldb: int("GEMM leading dimension", ldb)?,
            beta: T::of(beta),
            ldc: int("GEMM leading dimension", ldc)?,
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
        unsafe { T::gemm(&self.blas, cfg, a, b, c) }.map_err(cuda_err("cuBLAS GEMM"))?;
        let flops = 2u64
            .saturating_mul(m as u64)
            .saturating_mul(n as u64)
            .saturating_mul(k as u64);
        self.tally.flops.fetch_add(flops, Ordering::Relaxed);
        Ok(())
    }

    /// `acc += gain * relu(z)` (`relu`) or `acc += gain * z` over the first `len` elements.
    pub(super) fn relu_add<T: Scalar>(
        &self,
        acc: &mut CudaSlice<T>,
        z: &CudaSlice<T>,
        len: usize,
        gain: f64,
        relu: bool,
    ) -> Result<(), McError> {
        assert!(
            acc.len() >= len && z.len() >= len,
            "relu_add: buffers shorter than len"
        );
        let (len64, g, r) = (len as u64, T::of(gain), relu as i32);
        let mut b = self.stream.launch_builder(&T::kernels(self).relu_scale_add);
        b.arg(acc).arg(z).arg(&len64).arg(&g).arg(&r);
        // SAFETY: acc and z hold at least `len` elements; the kernel is grid-stride bounded.
        unsafe { b.launch(launch_cfg(len)) }
            .map(|_| ())
            .map_err(cuda_err("relu_scale_add kernel"))
    }

    /// `acc += phi(scale z + bsd bias_k)` over the first `len` elements of the
    /// column-major `m x N` buffers, `k` the unit row (`bias` holds `m` values, read only
    /// when `bsd != 0`); `act = (code, a, b)` from `gpu_activation`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn act_add<T: Scalar>(
        &self,
        acc: &mut CudaSlice<T>,
        z: &CudaSlice<T>,
        len: usize,
        m: usize,
        scale: f64,
        bsd: f64,
        bias: &CudaSlice<T>,
        act: (i32, f64, f64),
    ) -> Result<(), McError> {
        assert!(
            acc.len() >= len && z.len() >= len && len.is_multiple_of(m.max(1)) && bias.len() >= m,
            "act_add: buffers shorter than len or the bias shorter than m"
        );
        let (len64, m64) = (len as u64, m as u64);
        let (code, a, b2) = act;
        let mut b = self.stream.launch_builder(&T::kernels(self).act_scale_add);
        b.arg(acc)
            .arg(z)
            .arg(&len64)
            .arg(&m64)
            .arg(&scale)
            .arg(&bsd)
            .arg(bias)
            .arg(&code)
            .arg(&a)
            .arg(&b2);
        // SAFETY: acc and z hold at least `len` elements and bias `m`, and the kernel reads
        // bias only at `i % m`; the kernel is grid-stride bounded.
        unsafe { b.launch(launch_cfg(len)) }
            .map(|_| ())
            .map_err(cuda_err("act_scale_add kernel"))
    }

    /// `acc += x` over the first `len` elements (a skip edge).
    pub(super) fn add<T: Scalar>(
        &self,
        acc: &mut CudaSlice<T>,
        x: &CudaSlice<T>,
        len: usize,
    ) -> Result<(), McError> {
        assert!(
            acc.len() >= len && x.len() >= len,
            "add: buffers shorter than len"
        );
        let l64 = len as u64;
        let mut b = self.stream.launch_builder(&T::kernels(self).add);
        b.arg(acc).arg(x).arg(&l64);
        // SAFETY: both buffers hold at least `len` elements.
        unsafe { b.launch(launch_cfg(len)) }
            .map(|_| ())
            .map_err(cuda_err("add kernel"))
    }

    /// `out[i] = (1/m) sum_k x[k + i m]` for the `n` columns of `x` (`m x n`).
    pub(super) fn column_means<T: Scalar>(
        &self,
        x: &CudaSlice<T>,
        m: usize,
        n: usize,
        out: &mut CudaSlice<f64>,
    ) -> Result<(), McError> {
        assert!(
            x.len() >= m * n && out.len() >= n,
            "column_means: short buffers"
        );
        let m64 = m as u64;
        let mut b = self.stream.launch_builder(&T::kernels(self).column_means);
        b.arg(x).arg(&m64).arg(out);
        let cfg = LaunchConfig {
            grid_dim: (n as u32, 1, 1),
            block_dim: (THREADS, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: x is m x n column-major, out holds n doubles, one block per column.
        unsafe { b.launch(cfg) }
            .map(|_| ())
            .map_err(cuda_err("column_means kernel"))
    }

    /// Zeroes the strict upper triangle of the `n x n` matrix `a`.
    pub(super) fn zero_upper<T: Scalar>(
        &self,
        a: &mut CudaSlice<T>,
        n: usize,
    ) -> Result<(), McError> {
        assert!(a.len() >= n * n, "zero_upper: short buffer");
        let n64 = n as u64;
        let mut b = self.stream.launch_builder(&T::kernels(self).zero_upper);
        b.arg(a).arg(&n64);
        // SAFETY: a holds n * n elements; the kernel is grid-stride bounded by n * n.
        unsafe { b.launch(launch_cfg(n * n)) }
            .map(|_| ())
            .map_err(cuda_err("zero_upper kernel"))
    }

    /// Copies the diagonal of the `n x n` matrix `a` into `out`.
    pub(super) fn diagonal<T: Scalar>(
        &self,
        a: &CudaSlice<T>,
        n: usize,
        out: &mut CudaSlice<T>,
    ) -> Result<(), McError> {
        assert!(
            a.len() >= n * n && out.len() >= n,
            "diagonal: short buffers"
        );
        let n64 = n as u64;
        let mut b = self.stream.launch_builder(&T::kernels(self).diagonal);
        b.arg(a).arg(&n64).arg(out);
        // SAFETY: a holds n * n elements and out n.
        unsafe { b.launch(launch_cfg(n)) }
            .map(|_| ())
            .map_err(cuda_err("diagonal kernel"))
    }
}

/// Opens cuSOLVER's dense handle and runs `potrf` once on a 1 x 1 matrix in both
/// precisions, so that a missing library or symbol (cudarc panics on those) is found here,
/// under `catch_unwind`, and the run falls back to roots on the host.
fn open_solver(stream: &Arc<CudaStream>) -> Result<DnHandle, String> {
    // SAFETY: only tries to dlopen the library.
    if !unsafe { dn::is_culib_present() } {
        return Err("cuSOLVER (libcusolver) not found".into());
    }
    let stream = Arc::clone(stream);
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(
        move || -> Result<DnHandle, String> {
            let h = DnHandle::new(Arc::clone(&stream))
                .map_err(|e| format!("cusolverDnCreate: {e:?}"))?;
            fn smoke<T: Scalar>(stream: &Arc<CudaStream>, h: &DnHandle) -> Result<(), String> {
                let mut a = stream
                    .clone_htod(&[T::of(4.0)])
                    .map_err(|e| format!("{e:?}"))?;
                let mut info = stream
                    .alloc_zeros::<c_int>(1)
                    .map_err(|e| format!("{e:?}"))?;
                let (pa, _ra) = a.device_ptr_mut(stream);
                // SAFETY: a holds one element.
                let lwork = unsafe { T::potrf_lwork(h.cu(), 1, pa as *mut T) }
                    .map_err(|e| e.to_string())?;
                let mut work = stream
                    .alloc_zeros::<T>((lwork.max(1)) as usize)
                    .map_err(|e| format!("{e:?}"))?;
                {
                    let (pw, _rw) = work.device_ptr_mut(stream);
                    let (pi, _ri) = info.device_ptr_mut(stream);
                    // SAFETY: a: 1 element, work: lwork, info: 1 int.
                    unsafe {
                        T::potrf(
                            h.cu(),
                            1,
                            pa as *mut T,
                            pw as *mut T,
                            lwork,
                            pi as *mut c_int,
                        )
                    }
                    .map_err(|e| e.to_string())?;
                }
                drop(_ra);
                let l = stream.clone_dtoh(&a).map_err(|e| format!("{e:?}"))?;
                let i = stream.clone_dtoh(&info).map_err(|e| format!("{e:?}"))?;
                if i[0] != 0 || (l[0].wide() - 2.0).abs() > 1e-6 {
                    return Err(format!("potrf of [4] gave {} (info {})", l[0].wide(), i[0]));
                }
                Ok(())
            }
            smoke::<f32>(&stream, &h)?;
            smoke::<f64>(&stream, &h)?;
            Ok(h)
        },
    ))
    .unwrap_or_else(|_| Err("cuSOLVER lacks a required symbol".into()))
}

/// A 1-D grid-stride launch over `len` elements.
pub(super) fn launch_cfg(len: usize) -> LaunchConfig {
    let blocks = len.div_ceil(THREADS as usize).clamp(1, 65_535 * 8) as u32;
    LaunchConfig {
        grid_dim: (blocks, 1, 1),
        block_dim: (THREADS, 1, 1),
        shared_mem_bytes: 0,
    }
}
