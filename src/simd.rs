//! Run-time CPU-feature dispatch for the few elementwise passes that gain from wider
//! vectors than the baseline `x86-64` target allows.

/// Defines `fn $name(args) -> ret` calling `$body` (an `#[inline(always)]` function
/// taking the same arguments): compiled with AVX2 and run when the processor has it,
/// compiled for the baseline target otherwise. The arithmetic is the same on both
/// paths, so results do not depend on the processor.
///
/// ```text
/// avx2_dispatch! {
///     /// Doc of the dispatcher.
///     fn scale[T: Real](x: &mut [T], a: T) => scale_in
/// }
/// ```
macro_rules! avx2_dispatch {
    (
        $(#[$attr:meta])*
        $vis:vis fn $name:ident $([$($gen:tt)*])? ($($arg:ident : $ty:ty),* $(,)?)
            $(-> $ret:ty)? => $body:ident
    ) => {
        $(#[$attr])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name $(<$($gen)*>)? ($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2")]
            #[allow(clippy::too_many_arguments)]
            fn avx2 $(<$($gen)*>)? ($($arg: $ty),*) $(-> $ret)? {
                $body($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the processor supports AVX2 (checked just above).
                    return unsafe { avx2($($arg),*) };
                }
            }
            $body($($arg),*)
        }
    };
}

pub(crate) use avx2_dispatch;
