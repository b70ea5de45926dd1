//! The hand-written NAS-Bench-201 network ([`archconv::nas::cnn`]) against the candle
//! reference ([`archconv::nas::net`], feature `nas-cnn`): same weights from the same seed,
//! two independent implementations of the forward pass (issue 16).
#![cfg(feature = "nas-cnn")]

use archconv::dag::format::Nb201Arch;
use archconv::nas::cnn::{Maps, Nb201Network, NetConfig};
use archconv::nas::naswot;
use archconv::nas::net::{self, Nb201Net};
use candle_core::{Device, Tensor};

fn images(b: usize) -> (Vec<f32>, Maps, Tensor) {
    let v: Vec<f32> = (0..b * 3 * 32 * 32)
        .map(|i| (((i * 7919) % 1009) as f32 / 504.5 - 1.0) * 1.7)
        .collect();
    let m = Maps::from_nchw(&v, b, 3, 32, 32);
    let t = Tensor::from_vec(v.clone(), (b, 3, 32, 32), &Device::Cpu).unwrap();
    (v, m, t)
}

#[test]
fn parameter_counts_agree() {
    let cfg = NetConfig::cifar10();
    for cell in Nb201Arch::all().step_by(131) {
        assert_eq!(
            Nb201Net::new(&cell, &cfg, 0).unwrap().num_params(),
            Nb201Network::new(&cell, &cfg, 0).unwrap().num_params(),
            "{cell}"
        );
    }
}

#[test]
fn logits_and_naswot_kernels_agree_with_the_candle_reference() {
    let cfg = NetConfig {
        channels: 8,
        cells_per_stage: 2,
        classes: 10,
    };
    let (_, m, t) = images(16);
    for cell in [
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
        "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|",
        "|avg_pool_3x3~0|+|none~0|skip_connect~1|+|nor_conv_1x1~0|none~1|avg_pool_3x3~2|",
        "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    ] {
        let cell = Nb201Arch::parse(cell).unwrap();
        let hand = Nb201Network::new(&cell, &cfg, 11).unwrap();
        let refn = Nb201Net::new(&cell, &cfg, 11).unwrap();
        let a = hand.forward(&m, &mut |_, _| Ok(())).unwrap();
        let b: Vec<f32> = refn
            .forward(&t, &mut |_| Ok(()))
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        // Both are f32 with the same operations in a different order (and BN statistics
        // in f64 here, f32 there): after about 30 layers of normalised O(1) activations
        // the rounding differences are a few 1e-5 relative; 1e-3 of the largest logit
        // leaves a margin and still fails on any wrong tap, weight or statistic.
        let scale = b.iter().fold(0f32, |s, v| s.max(v.abs())).max(1e-3);
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert!((x - y).abs() <= 1e-3 * scale, "{cell} logit {i}: {x} vs {y}");
        }
        let ka = naswot::score(&hand, &m).unwrap();
        let kb = net::naswot(&refn, &t).unwrap();
        assert_eq!(ka.relus, kb.relus, "{cell}");
        // K counts agreeing units; a unit whose pre-activation is within rounding of 0
        // can flip its code. Such units are a fraction of about 1e-5 of the total, so the
        // entries agree to 1e-4 relative.
        let kmax = ka.kernel[0].max(1.0);
        for (i, (x, y)) in ka.kernel.iter().zip(&kb.kernel).enumerate() {
            assert!((x - y).abs() <= 1e-4 * kmax, "{cell} K[{i}]: {x} vs {y}");
        }
        if ka.score.is_finite() || kb.score.is_finite() {
            assert!((ka.score - kb.score).abs() < 1e-2, "{cell}: {} vs {}", ka.score, kb.score);
        }
    }
}

#[test]
fn the_ntk_agrees_with_candle_autograd() {
    // Two independent backward passes: the hand-written layer-by-layer rules and
    // candle's autograd over its own forward graph (training-mode BN differentiated
    // through the batch statistics). Both forward passes are f32 and agree to a few 1e-5
    // relative (see above); the gradients carry those differences through ~30 layers
    // once more, so the Gram entries are compared at 1e-3 of the largest diagonal entry.
    let cfg = NetConfig {
        channels: 4,
        cells_per_stage: 1,
        classes: 10,
    };
    let (_, m, t) = images(6);
    for cell in [
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
        "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|",
        // Node 1 reaches nothing: its convolution's gradients are zero on both sides.
        "|nor_conv_1x1~0|+|avg_pool_3x3~0|none~1|+|skip_connect~0|none~1|nor_conv_3x3~2|",
    ] {
        let cell = Nb201Arch::parse(cell).unwrap();
        let hand = Nb201Network::new(&cell, &cfg, 5).unwrap().ntk(&m).unwrap();
        let refn = net::ntk(&Nb201Net::new(&cell, &cfg, 5).unwrap(), &t).unwrap();
        let scale = (0..6).map(|i| hand.gram[i * 7]).fold(0.0, f64::max);
        for (i, (a, b)) in hand.gram.iter().zip(&refn).enumerate() {
            assert!(
                (a - b).abs() < 1e-3 * scale,
                "{cell} entry {i}: {a} vs {b} (scale {scale})"
            );
        }
    }
}
