//! The scalar types the trainer runs in and its one GEMM entry point (faer, multi-threaded).

use faer::{MatMut, MatRef, Par};
use ndarray::{ArrayView2, ArrayViewMut2};

/// A floating-point type the DAG-MLP can be trained in: `f32` (the default: twice the
/// GEMM throughput and half the memory) or `f64` (gradient checks, reference runs).
pub trait Scalar:
    faer::traits::ComplexField
    + num_traits::Float
    + ndarray::LinalgScalar
    + ndarray::ScalarOperand
    + std::iter::Sum
    + std::ops::AddAssign
    + std::ops::SubAssign
    + std::ops::MulAssign
    + Send
    + Sync
    + std::fmt::Debug
    + std::fmt::Display
    + 'static
{
    /// Converts from `f64` (rounding for `f32`).
    fn of(x: f64) -> Self;
    /// Converts to `f64`.
    fn f64(self) -> f64;
    /// Converts from `f32` (exact for both types).
    fn of_f32(x: f32) -> Self;
    /// The type's name (`f32` / `f64`), for reports.
    const NAME: &'static str;
}

impl Scalar for f32 {
    fn of(x: f64) -> Self {
        x as f32
    }
    fn f64(self) -> f64 {
        f64::from(self)
    }
    fn of_f32(x: f32) -> Self {
        x
    }
    const NAME: &'static str = "f32";
}

impl Scalar for f64 {
    fn of(x: f64) -> Self {
        x
    }
    fn f64(self) -> f64 {
        self
    }
    fn of_f32(x: f32) -> Self {
        f64::from(x)
    }
    const NAME: &'static str = "f64";
}

/// Whether an operand enters the product as is or transposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tr {
    /// `A`.
    N,
    /// `A^T`.
    T,
}

fn view<'a, T: Scalar>(a: &'a ArrayView2<'_, T>) -> MatRef<'a, T> {
    let (r, c) = a.dim();
    let s = a
        .as_slice()
        .expect("gemm operands must be in standard (row-major, contiguous) layout");
    MatRef::from_row_major_slice(s, r, c)
}

/// `C = beta_acc * C + op(A) op(B)` on row-major `ndarray` matrices, through faer's
/// multi-threaded GEMM (`Par::rayon(0)`: all rayon threads). `accumulate = false`
/// overwrites `C`.
///
/// # Panics
/// If an operand is not in standard layout or the shapes do not match.
#[track_caller]
pub fn gemm<T: Scalar>(
    c: &mut ArrayViewMut2<'_, T>,
    a: ArrayView2<'_, T>,
    ta: Tr,
    b: ArrayView2<'_, T>,
    tb: Tr,
    accumulate: bool,
) {
    let fa = view(&a);
    let fb = view(&b);
    let fa = if ta == Tr::T { fa.transpose() } else { fa };
    let fb = if tb == Tr::T { fb.transpose() } else { fb };
    let (r, cc) = c.dim();
    assert_eq!(
        (fa.nrows(), fb.ncols(), fa.ncols()),
        (r, cc, fb.nrows()),
        "gemm shape mismatch"
    );
    let cs = c
        .as_slice_mut()
        .expect("gemm output must be in standard (row-major, contiguous) layout");
    let fc: MatMut<'_, T> = MatMut::from_row_major_slice_mut(cs, r, cc);
    let acc = if accumulate {
        faer::Accum::Add
    } else {
        faer::Accum::Replace
    };
    faer::linalg::matmul::matmul(fc, acc, fa, fb, T::of(1.0), Par::rayon(0));
}
