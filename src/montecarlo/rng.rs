//! Reproducible random streams.
//!
//! Every block of Gaussians is drawn from its own stream whose 256-bit key is the tuple
//! `(network seed, sampler domain, edge tag, block index)` written out little-endian.
//! The key is injective in the tuple; a ChaCha8 generator keyed by it produces the
//! 256-bit state of a xoshiro256++ generator (Blackman and Vigna, 2018) that then draws
//! the block. ChaCha8 decorrelates neighbouring keys (blocks `c` and `c + 1` start from
//! unrelated states), xoshiro256++ draws a 64-bit word in about a third of ChaCha8's
//! time, and the ziggurat of `rand_distr` turns each word into a standard normal. A
//! block's numbers depend only on its key: never on the number of threads or on which
//! thread fills it. Edge tags: `0` for the input lift, `1 + i` for edge `i` of
//! [`crate::Dag::edges`]; the biases of an edge (or lift) with `sb2 > 0` use its tag with
//! bit 63 set (`bias_tag`), one normal per unit row, drawn per block of rows like the
//! weights.

use super::features::Real;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// The generator of one block.
pub(crate) type BlockRng = Xoshiro256PlusPlus;

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

/// Bit set in the tag of a bias stream (PAPER.md section 9: `sqrt(sb2) b` per unit).
const BIAS_BIT: u64 = 1 << 63;

/// Tag of the biases of the edge (or lift) with weight tag `tag`: the same tag with the
/// top bit set, so bias streams never coincide with any weight or noise stream (tags of
/// real edges stay below `2^63`) and drawing biases leaves every existing stream, hence
/// every bias-free network, bit-identical.
pub(crate) fn bias_tag(tag: u64) -> u64 {
    debug_assert!(tag & BIAS_BIT == 0, "edge tag {tag} uses the bias bit");
    tag | BIAS_BIT
}

/// The stream for one block.
pub(crate) fn stream(seed: u64, domain: Domain, tag: u64, chunk: u64) -> BlockRng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&(domain as u64).to_le_bytes());
    key[16..24].copy_from_slice(&tag.to_le_bytes());
    key[24..].copy_from_slice(&chunk.to_le_bytes());
    let mut keyed = ChaCha8Rng::from_seed(key);
    Xoshiro256PlusPlus::from_rng(&mut keyed)
}

/// Fills `out` with iid standard normals from `rng` (ziggurat, in order).
pub(crate) fn fill_normal<T: Real>(rng: &mut BlockRng, out: &mut [T]) {
    for v in out {
        *v = T::normal(rng);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_differ_by_every_key_component() {
        let draw = |s, d, t, c| {
            let mut v = [0.0f64; 4];
            fill_normal(&mut stream(s, d, t, c), &mut v);
            v
        };
        let base = draw(1, Domain::Explicit, 2, 3);
        assert_eq!(base, draw(1, Domain::Explicit, 2, 3));
        assert_ne!(base, draw(2, Domain::Explicit, 2, 3));
        assert_ne!(base, draw(1, Domain::Conditional, 2, 3));
        assert_ne!(base, draw(1, Domain::Explicit, 3, 3));
        assert_ne!(base, draw(1, Domain::Explicit, 2, 4));
    }

    #[test]
    fn block_normals_have_unit_moments_and_neighbouring_blocks_are_uncorrelated() {
        // 2^16 draws per block: the sample mean has standard error 1/256, the sample
        // variance (Gaussian, kurtosis 3) sqrt(2/n) = 0.0055, the correlation of two
        // independent blocks 1/256. Bounds at 5 standard errors (two-sided p ~ 6e-7).
        let n = 1 << 16;
        let mut a = vec![0.0f64; n];
        let mut b = vec![0.0f64; n];
        fill_normal(&mut stream(7, Domain::Conditional, 1, 0), &mut a);
        fill_normal(&mut stream(7, Domain::Conditional, 1, 1), &mut b);
        let nf = n as f64;
        for v in [&a, &b] {
            let mean = v.iter().sum::<f64>() / nf;
            let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (nf - 1.0);
            assert!(mean.abs() < 5.0 / 256.0, "mean {mean}");
            assert!(
                (var - 1.0).abs() < 5.0 * (2.0 / nf).sqrt(),
                "variance {var}"
            );
        }
        let corr = a.iter().zip(&b).map(|(x, y)| x * y).sum::<f64>() / nf;
        assert!(
            corr.abs() < 5.0 / 256.0,
            "correlation of blocks 0 and 1: {corr}"
        );
    }
}
