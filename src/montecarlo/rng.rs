//! Reproducible random streams.
//!
//! Every block of Gaussians is drawn from its own ChaCha8 stream whose 256-bit key is the
//! tuple `(network seed, sampler domain, edge tag, chunk index)` written out little-endian.
//! The key is injective in the tuple, so distinct blocks get independent streams, and a
//! block's numbers depend only on its key: never on the number of threads or on which
//! thread fills it. Edge tags: `0` for the input lift, `1 + i` for edge `i` of
//! [`crate::Dag::edges`].

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// Which sampler draws from a stream: keeps the explicit and conditional samplers'
/// numbers independent of each other for the same seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub(crate) enum Domain {
    /// Weight blocks of the explicit sampler.
    Explicit = 0x6578_706c_6963_6974,
    /// Noise blocks of the conditional sampler.
    Conditional = 0x636f_6e64_6974_696f,
}

/// Tag of the input lift's weights.
pub(crate) const LIFT_TAG: u64 = 0;

/// Tag of edge `index` (position in [`crate::Dag::edges`]).
pub(crate) fn edge_tag(index: usize) -> u64 {
    1 + index as u64
}

/// The stream for one block.
pub(crate) fn stream(seed: u64, domain: Domain, tag: u64, chunk: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&(domain as u64).to_le_bytes());
    key[16..24].copy_from_slice(&tag.to_le_bytes());
    key[24..].copy_from_slice(&chunk.to_le_bytes());
    ChaCha8Rng::from_seed(key)
}

/// Fills `out` with iid standard normals from `rng` (ziggurat, in order).
pub(crate) fn fill_normal_f64(rng: &mut ChaCha8Rng, out: &mut [f64]) {
    for v in out {
        *v = rng.sample(StandardNormal);
    }
}

/// Fills `out` with iid standard normals in `f32`.
pub(crate) fn fill_normal_f32(rng: &mut ChaCha8Rng, out: &mut [f32]) {
    for v in out {
        *v = rng.sample(StandardNormal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_differ_by_every_key_component() {
        let draw = |s, d, t, c| {
            let mut v = [0.0; 4];
            fill_normal_f64(&mut stream(s, d, t, c), &mut v);
            v
        };
        let base = draw(1, Domain::Explicit, 2, 3);
        assert_eq!(base, draw(1, Domain::Explicit, 2, 3));
        assert_ne!(base, draw(2, Domain::Explicit, 2, 3));
        assert_ne!(base, draw(1, Domain::Conditional, 2, 3));
        assert_ne!(base, draw(1, Domain::Explicit, 3, 3));
        assert_ne!(base, draw(1, Domain::Explicit, 2, 4));
    }
}
