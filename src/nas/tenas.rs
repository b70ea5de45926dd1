//! TE-NAS's two training-free indicators (Chen, Gong and Wang, "Neural Architecture Search
//! on ImageNet in Four GPU Hours", ICLR 2021) on the networks of [`super::cnn`], as its
//! released code computes them:
//!
//! * **NTK condition number** ([`ntk_condition`]): `kappa = lambda_max / lambda_min` of
//!   the empirical NTK `Theta_ij = <J_i, J_j>` on one batch of `B` CIFAR images (TE-NAS
//!   uses `B = 16`), `J_i` the gradient of image `i`'s summed logits with respect to
//!   every weight, BN in training mode ([`super::cnn::grad`]). Lower is better.
//! * **Linear regions** ([`linear_regions`]): on a thin copy of the network (TE-NAS: one
//!   channel, one cell per stage), `R` batches of `S` inputs with i.i.d. `N(0, 1)`
//!   entries (TE-NAS: 3 batches of 1,000), every ReLU's activation pattern per input; the
//!   indicator is the number of distinct patterns among the `R S` inputs (TE-NAS's
//!   `sum_i 1 / #{j : pattern_j = pattern_i}`). Higher is better.
//!
//! TE-NAS ranks candidates by the sum of their two ranks (`kappa` ascending, regions
//! descending); [`rank_combination`] does that over a set of cells.
//!
//! Our skeleton keeps the benchmark's stem (3 input channels) and needs `H`, `W` multiples
//! of 4, so the thin network here takes `3 x 4 x 4` inputs where TE-NAS's stem-less one
//! takes `1 x 3 x 3`; [`LinearRegionSettings`] records the choice.
//!
//! ```
//! use archconv::dag::format::Nb201Arch;
//! use archconv::nas::tenas::{linear_regions, LinearRegionSettings};
//! let conv = Nb201Arch::from_ops(["nor_conv_3x3"; 6]);
//! let pool = Nb201Arch::from_ops(["avg_pool_3x3"; 6]);
//! let s = LinearRegionSettings { samples: 200, ..LinearRegionSettings::default() };
//! let (a, b) = (linear_regions(&conv, &s, 0)?, linear_regions(&pool, &s, 0)?);
//! assert!(a <= 600 && b <= 600);
//! // Pooling cells smooth the maps the reduction blocks' ReLUs see: fewer patterns.
//! assert!(a > b, "{a} vs {b}");
//! # Ok::<(), archconv::nas::cnn::CnnError>(())
//! ```

use super::cnn::{CnnError, Maps, Nb201Network, NetConfig};
use super::naswot::pack_codes;
use crate::dag::format::Nb201Arch;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// `kappa` of the empirical NTK of `net` on `images` (`None` when the kernel is singular
/// or the eigensolver fails; TE-NAS's code then records a large constant: rank it last).
///
/// ```
/// use archconv::dag::format::Nb201Arch;
/// use archconv::nas::cnn::{Maps, Nb201Network, NetConfig};
/// use archconv::nas::tenas::ntk_condition;
/// let cfg = NetConfig { channels: 4, cells_per_stage: 1, classes: 10 };
/// let net = Nb201Network::new(&Nb201Arch::from_ops(["nor_conv_1x1"; 6]), &cfg, 0)?;
/// let v: Vec<f32> = (0..4 * 3 * 8 * 8).map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0).collect();
/// let kappa = ntk_condition(&net, &Maps::from_nchw(&v, 4, 3, 8, 8))?;
/// assert!(kappa.unwrap() >= 1.0);
/// # Ok::<(), archconv::nas::cnn::CnnError>(())
/// ```
pub fn ntk_condition(net: &Nb201Network, images: &Maps) -> Result<Option<f64>, CnnError> {
    Ok(net.ntk(images)?.condition())
}

/// How the linear regions are counted (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinearRegionSettings {
    /// Channels of the thin network's first stage (TE-NAS: 1).
    pub channels: usize,
    /// Cells per stage (TE-NAS: 1).
    pub cells_per_stage: usize,
    /// Input height and width (a multiple of 4; 4 here, TE-NAS's 3 without a stem).
    pub size: usize,
    /// Inputs per batch `S` (TE-NAS: 1,000).
    pub samples: usize,
    /// Batches `R` (TE-NAS: 3).
    pub batches: usize,
    /// Seed of the Gaussian inputs.
    pub input_seed: u64,
}

impl Default for LinearRegionSettings {
    /// TE-NAS's thin network and sample sizes on `3 x 4 x 4` inputs, input seed 0.
    fn default() -> Self {
        LinearRegionSettings {
            channels: 1,
            cells_per_stage: 1,
            size: 4,
            samples: 1000,
            batches: 3,
            input_seed: 0,
        }
    }
}

/// Distinct ReLU activation patterns of `cell`'s thin network (weights from `net_seed`)
/// over the Gaussian inputs of `s` (see the module docs): at most `s.samples s.batches`.
pub fn linear_regions(
    cell: &Nb201Arch,
    s: &LinearRegionSettings,
    net_seed: u64,
) -> Result<usize, CnnError> {
    let cfg = NetConfig {
        channels: s.channels,
        cells_per_stage: s.cells_per_stage,
        classes: 10,
    };
    if s.samples == 0 || s.batches == 0 {
        return Err(CnnError::BadConfig {
            what: "linear-region samples and batches",
        });
    }
    let net = Nb201Network::new(cell, &cfg, net_seed)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(s.input_seed);
    let mut seen: std::collections::HashSet<Vec<u64>> = std::collections::HashSet::new();
    let n = s.samples * 3 * s.size * s.size;
    for _ in 0..s.batches {
        let v: Vec<f32> = (0..n)
            .map(|_| rng.sample::<f64, _>(rand_distr::StandardNormal) as f32)
            .collect();
        let x = Maps::from_nchw(&v, s.samples, 3, s.size, s.size);
        let mut codes: Vec<Vec<u64>> = vec![Vec::new(); s.samples];
        // ReLUs reading the same tensor give the same pattern: each tensor once.
        net.forward(&x, &mut |m, _times| {
            for (b, c) in codes.iter_mut().enumerate() {
                c.extend(pack_codes(m.image_rows(b), m.units()));
            }
            Ok(())
        })?;
        seen.extend(codes);
    }
    Ok(seen.len())
}

/// TE-NAS's ranking: each cell's rank by `kappa` ascending (singular kernels last) plus
/// its rank by linear regions descending, ranks from 0 (ties share the mean rank). Lower
/// is better.
///
/// ```
/// use archconv::nas::tenas::rank_combination;
/// let r = rank_combination(&[Some(10.0), Some(5.0), None], &[100, 300, 200]);
/// assert_eq!(r, vec![3.0, 0.0, 3.0]);
/// ```
pub fn rank_combination(kappa: &[Option<f64>], regions: &[usize]) -> Vec<f64> {
    let k: Vec<f64> = kappa.iter().map(|v| v.unwrap_or(f64::INFINITY)).collect();
    let r: Vec<f64> = regions.iter().map(|v| -(*v as f64)).collect();
    let (rk, rr) = (ranks(&k), ranks(&r));
    rk.iter().zip(&rr).map(|(a, b)| a + b).collect()
}

/// Ranks from 0, ascending, ties at their mean rank.
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|a, b| v[*a].total_cmp(&v[*b]));
    let mut out = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let mean = (i + j) as f64 / 2.0;
        for &p in &idx[i..=j] {
            out[p] = mean;
        }
        i = j + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_count_distinct_patterns_and_grow_with_samples() {
        let cell = Nb201Arch::from_ops(["nor_conv_1x1"; 6]);
        let small = LinearRegionSettings {
            samples: 50,
            batches: 1,
            ..LinearRegionSettings::default()
        };
        let big = LinearRegionSettings {
            samples: 400,
            batches: 1,
            ..LinearRegionSettings::default()
        };
        let (a, b) = (
            linear_regions(&cell, &small, 0).unwrap(),
            linear_regions(&cell, &big, 0).unwrap(),
        );
        assert!(a <= 50 && b <= 400 && a <= b, "{a} {b}");
        // All-`none` cells: node 3 is zero, so only the reduction blocks' and head's
        // ReLUs of a zero input remain: BN of a constant map is 0, one pattern.
        let none = Nb201Arch::from_ops(["none"; 6]);
        assert_eq!(linear_regions(&none, &big, 0).unwrap(), 1);
        let bad = LinearRegionSettings {
            samples: 0,
            ..small
        };
        assert!(linear_regions(&cell, &bad, 0).is_err());
    }
}
