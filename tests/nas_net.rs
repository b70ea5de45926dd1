//! NAS-Bench-201 networks at initialisation and NASWOT (issue 16, feature `nas-cnn`).
#![cfg(feature = "nas-cnn")]
mod common;

use archconv::dag::format::Nb201Arch;
use archconv::nas::naswot;
use archconv::nas::net::{cell_ops, CellOp, Nb201Net, NetConfig};
use candle_core::{Device, Tensor};

/// The parameter count by the skeleton's closed form: stem `27 C + 2 C`; per cell, each
/// convolution edge `C^2 k^2 + 2 C`; reduction `C -> 2C`: `9 C 2C + 2 (2C) + 9 (2C)^2 +
/// 2 (2C) + C 2C`; head `2 (4C) + 4C classes + classes`.
fn closed_form_params(cell: &Nb201Arch, cfg: &NetConfig) -> usize {
    let ops = cell_ops(cell).unwrap();
    let per_cell = |c: usize| -> usize {
        ops.iter()
            .map(|&(_, _, op)| match op {
                CellOp::Conv1x1 => c * c + 2 * c,
                CellOp::Conv3x3 => 9 * c * c + 2 * c,
                CellOp::None | CellOp::Skip | CellOp::AvgPool3x3 => 0,
            })
            .sum()
    };
    let red = |c: usize| 9 * c * 2 * c + 4 * c + 9 * 4 * c * c + 4 * c + 2 * c * c;
    let c = cfg.channels;
    let n = cfg.cells_per_stage;
    29 * c
        + n * (per_cell(c) + per_cell(2 * c) + per_cell(4 * c))
        + red(c)
        + red(2 * c)
        + 8 * c
        + 4 * c * cfg.classes
        + cfg.classes
}

#[test]
fn parameter_counts_match_the_closed_form_and_the_benchmarks_range() {
    let cfg = NetConfig::cifar10();
    // The benchmark's published extremes for CIFAR-10 (NAS-Bench-201 `get_cost_info`):
    // 0.073306 M parameters for a cell without convolutions, 1.531546 M for all 3x3.
    let smallest = Nb201Arch::from_ops(["avg_pool_3x3"; 6]);
    let largest = Nb201Arch::from_ops(["nor_conv_3x3"; 6]);
    assert_eq!(
        Nb201Net::new(&smallest, &cfg, 0).unwrap().num_params(),
        73_306
    );
    assert_eq!(
        Nb201Net::new(&largest, &cfg, 0).unwrap().num_params(),
        1_531_546
    );
    // Every 97th cell of the space against the closed form.
    for cell in Nb201Arch::all().step_by(97) {
        let net = Nb201Net::new(&cell, &cfg, 3).unwrap();
        assert_eq!(net.num_params(), closed_form_params(&cell, &cfg), "{cell}");
    }
}

#[test]
fn same_seed_same_network_and_scores_differ_between_cells() {
    let cfg = NetConfig {
        channels: 8,
        cells_per_stage: 1,
        classes: 10,
    };
    let x = Tensor::randn(0f32, 1.0, (8, 3, 32, 32), &Device::Cpu).unwrap();
    let cell = Nb201Arch::parse(
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
    )
    .unwrap();
    let a = naswot::score(&Nb201Net::new(&cell, &cfg, 5).unwrap(), &x).unwrap();
    let b = naswot::score(&Nb201Net::new(&cell, &cfg, 5).unwrap(), &x).unwrap();
    assert_eq!(a.kernel, b.kernel);
    // ReLUs: 3 convolutions in each of the 3 cells, 2 per reduction block, the head's.
    assert_eq!(a.relus, 3 * 3 + 2 * 2 + 1);
    // K_ii is the number of hooked units: each ReLU input is batch x C x H x W.
    let units: usize = [(8, 32), (16, 16), (32, 8)]
        .iter()
        .map(|&(c, h)| 3 * c * h * h)
        .sum::<usize>()
        + 8 * 32 * 32 + 16 * 16 * 16 // reduction 1: input 8x32x32, then 16x16x16
        + 16 * 16 * 16 + 32 * 8 * 8 // reduction 2
        + 32 * 8 * 8; // head
    for i in 0..a.batch {
        assert_eq!(a.kernel[i * a.batch + i], units as f64);
    }
    let skip = Nb201Arch::from_ops(["skip_connect"; 6]);
    let s = naswot::score(&Nb201Net::new(&skip, &cfg, 5).unwrap(), &x).unwrap();
    assert_ne!(s.score, a.score);
}
