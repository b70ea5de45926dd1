//! Run-time CPU-feature dispatch for the few elementwise passes that gain from wider
//! vectors than the baseline `x86-64` target allows.

/// Defines `fn $name(args) -> ret { body }` so that `body` is compiled three times: with
/// AVX-512 (8 lanes) and with AVX2 (4 lanes), each run when the processor has it, and for
/// the baseline target otherwise. The arithmetic is the same on every path (no FMA
/// contraction: each lane does the same IEEE operations in the same order), so results do
/// not depend on the processor.
///
/// ```text
/// avx2_dispatch! {
///     /// Doc of the function.
///     fn scale[T: Real](x: &mut [T], a: T) {
///         x.iter_mut().for_each(|v| *v = *v * a)
///     }
/// }
/// ```
macro_rules! avx2_dispatch {
    (
        $(#[$attr:meta])*
        $vis:vis fn $name:ident $([$($gen:tt)*])? ($($arg:ident : $ty:ty),* $(,)?)
            $(-> $ret:ty)? $body:block
    ) => {
        $(#[$attr])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name $(<$($gen)*>)? ($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn imp $(<$($gen)*>)? ($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2")]
            #[allow(clippy::too_many_arguments)]
            fn avx2 $(<$($gen)*>)? ($($arg: $ty),*) $(-> $ret)? {
                imp($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f")]
            #[allow(clippy::too_many_arguments)]
            fn avx512 $(<$($gen)*>)? ($($arg: $ty),*) $(-> $ret)? {
                imp($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the processor supports AVX-512F (checked just above).
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the processor supports AVX2 (checked just above).
                    return unsafe { avx2($($arg),*) };
                }
            }
            imp($($arg),*)
        }
    };
}

pub(crate) use avx2_dispatch;
