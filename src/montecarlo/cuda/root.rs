//! Square-root factors of node Grams for the conditional sampler, taken on the GPU.
//!
//! The CPU's rule ([`root_factor`], PAPER.md section 6) is kept: a Cholesky factor
//! `G = L L^T` when every pivot satisfies `L_ii^2 > tol = 4 N eps max_i G_ii` (`eps` of the
//! working precision), otherwise the diagonally pivoted Cholesky factor of rank `r < N`.
//! The first branch runs on the device (cuSOLVER `potrf` on the device Gram, `O(N^3 / 3)`
//! flops, no transfer but the `N` pivots); the second, for rank-deficient Grams, runs on
//! the host and uploads only the `N x r` factor, so that the noise `E` is `m x r` and the
//! product `E F^T` costs `2 m N r` flops instead of `2 m N^2`.

use super::super::features::root_factor;
use super::super::McError;
use super::device::{cuda_err, Buf, Device, Scalar};
use cudarc::driver::{CudaSlice, DevicePtrMut};
use ndarray::Array2;
use std::ffi::c_int;

/// A factor `F` (`N x rank`, column-major, leading dimension `N`) with `F F^T = G`.
pub(super) struct DeviceRoot<T: Scalar> {
    pub(super) f: Buf<T>,
    pub(super) rank: usize,
}

/// Scratch of the device Cholesky, allocated once per network.
pub(super) struct RootScratch<T: Scalar> {
    work: Buf<T>,
    lwork: c_int,
    info: Buf<c_int>,
    diag: Buf<T>,
}

impl<T: Scalar> RootScratch<T> {
    pub(super) fn new(dev: &Device, n: usize, lwork: usize) -> Result<RootScratch<T>, McError> {
        Ok(RootScratch {
            work: dev.alloc::<T>(lwork.max(1))?,
            lwork: c_int::try_from(lwork).map_err(|_| McError::CudaDimension {
                what: "cuSOLVER workspace",
                value: lwork as u64,
            })?,
            info: dev.alloc::<c_int>(1)?,
            diag: dev.alloc::<T>(n)?,
        })
    }
}

/// Counts of where the roots of a network were taken.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct RootCounts {
    /// Cholesky factors computed on the GPU.
    pub(super) device: u64,
    /// Factors computed on the host (rank-deficient Grams, or no cuSOLVER).
    pub(super) host: u64,
}

/// The factor of node `node`'s Gram: `g` on the device (`N x N`, column-major, in `T`) and
/// `gram` the same matrix on the host in `f64`. The device Cholesky is tried when
/// `scratch` is given (the caller passes `None` when the Gram's rank is known to be below
/// `N`) and cuSOLVER is loaded.
#[allow(clippy::too_many_arguments)]
pub(super) fn factor<T: Scalar>(
    dev: &Device,
    scratch: Option<&mut RootScratch<T>>,
    g: &CudaSlice<T>,
    gram: &Array2<f64>,
    node: usize,
    seed: u64,
    counts: &mut RootCounts,
) -> Result<DeviceRoot<T>, McError> {
    let n = gram.nrows();
    if let (Some(s), Ok(h)) = (scratch, dev.solver.as_ref()) {
        let dmax = (0..n).map(|i| gram[[i, i]]).fold(0.0f64, f64::max);
        let tol = 4.0 * n as f64 * T::EPS * dmax;
        let mut f = dev.alloc::<T>(n * n)?;
        dev.stream
            .memcpy_dtod(g, &mut *f)
            .map_err(cuda_err("copying a Gram on the device"))?;
        {
            let st = &dev.stream;
            let (pa, _ra) = f.device_ptr_mut(st);
            let (pw, _rw) = s.work.device_ptr_mut(st);
            let (pi, _ri) = s.info.device_ptr_mut(st);
            let nn = c_int::try_from(n).map_err(|_| McError::CudaDimension {
                what: "Gram order N",
                value: n as u64,
            })?;
            // SAFETY: f holds n * n elements, work lwork, info one int; all on this stream.
            unsafe {
                T::potrf(
                    h.cu(),
                    nn,
                    pa as *mut T,
                    pw as *mut T,
                    s.lwork,
                    pi as *mut c_int,
                )
            }?;
        }
        dev.zero_upper(&mut f, n)?;
        dev.diagonal(&f, n, &mut s.diag)?;
        let info = dev
            .stream
            .clone_dtoh(&*s.info)
            .map_err(cuda_err("copying potrf's status"))?;
        let diag = dev
            .stream
            .clone_dtoh(&*s.diag)
            .map_err(cuda_err("copying a factor's diagonal"))?;
        let ok = info[0] == 0
            && diag.iter().all(|&l| {
                let l = l.wide();
                l.is_finite() && l * l > tol
            });
        if ok {
            counts.device += 1;
            return Ok(DeviceRoot { f, rank: n });
        }
    }
    let fac = root_factor(gram, T::EPS).ok_or(McError::Factorization { node, seed })?;
    let r = fac.f.ncols();
    let host: Vec<T> = col_major(&fac.f).into_iter().map(T::of).collect();
    counts.host += 1;
    Ok(DeviceRoot {
        f: dev.upload(&host)?,
        rank: r,
    })
}

/// The `N x r` factor `F` as a column-major array with leading dimension `N` (what the
/// conditional GEMM reads as `op(B) = F^T`).
pub(super) fn col_major(f: &faer::Mat<f64>) -> Vec<f64> {
    let n = f.nrows();
    (0..n * f.ncols()).map(|k| f[(k % n, k / n)]).collect()
}
