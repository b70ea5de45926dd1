//! NAS-Bench-201 networks at initialisation, hand-written ([`archconv::nas::cnn`]), and
//! NASWOT on them (issue 16). The comparison with the candle reference network is in
//! `tests/nas_net.rs` (feature `nas-cnn`).
use archconv::dag::format::Nb201Arch;
use archconv::nas::cnn::{cell_ops, CellOp, CnnError, Maps, Nb201Network, NetConfig};
use archconv::nas::naswot;

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
        Nb201Network::new(&smallest, &cfg, 0).unwrap().num_params(),
        73_306
    );
    assert_eq!(
        Nb201Network::new(&largest, &cfg, 0).unwrap().num_params(),
        1_531_546
    );
    for cell in Nb201Arch::all().step_by(97) {
        let net = Nb201Network::new(&cell, &cfg, 3).unwrap();
        assert_eq!(net.num_params(), closed_form_params(&cell, &cfg), "{cell}");
    }
}

#[test]
fn flops_match_the_benchmarks_range_and_the_closed_form() {
    // The benchmark's CIFAR-10 FLOPs (multiply-adds of convolutions and the head) range
    // from 7.78 M (no convolution in the cell) to 220.12 M (all 3x3); by hand: stem
    // 32^2 27 16 = 442,368; each reduction 1,179,648 + 2,359,296 + 131,072; head 640; a
    // 3x3 cell edge 32^2 9 16^2 = 2,359,296 at every stage, a 1x1 edge a ninth of it.
    let cfg = NetConfig::cifar10();
    let fixed = 442_368 + 2 * (1_179_648 + 2_359_296 + 131_072) + 640;
    for cell in Nb201Arch::all().step_by(89) {
        let ops = cell_ops(&cell).unwrap();
        let per_stage: usize = ops
            .iter()
            .map(|&(_, _, op)| match op {
                CellOp::Conv3x3 => 2_359_296,
                CellOp::Conv1x1 => 2_359_296 / 9,
                CellOp::None | CellOp::Skip | CellOp::AvgPool3x3 => 0,
            })
            .sum();
        let net = Nb201Network::new(&cell, &cfg, 0).unwrap();
        assert_eq!(net.flops(32, 32), fixed + 3 * 5 * per_stage, "{cell}");
    }
    let mflops = |ops| {
        Nb201Network::new(&Nb201Arch::from_ops(ops), &cfg, 0)
            .unwrap()
            .flops(32, 32) as f64
            / 1e6
    };
    assert_eq!(format!("{:.2}", mflops(["avg_pool_3x3"; 6])), "7.78");
    assert_eq!(format!("{:.2}", mflops(["nor_conv_3x3"; 6])), "220.12");
}

fn images(b: usize, h: usize) -> Maps {
    let v: Vec<f32> = (0..b * 3 * h * h)
        .map(|i| (((i * 7919) % 1009) as f32 / 504.5 - 1.0) * 1.7)
        .collect();
    Maps::from_nchw(&v, b, 3, h, h)
}

#[test]
fn naswot_is_deterministic_counts_every_unit_and_separates_cells() {
    let cfg = NetConfig {
        channels: 8,
        cells_per_stage: 1,
        classes: 10,
    };
    let x = images(8, 32);
    let cell = Nb201Arch::parse(
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
    )
    .unwrap();
    let a = naswot::score(&Nb201Network::new(&cell, &cfg, 5).unwrap(), &x).unwrap();
    let b = naswot::score(&Nb201Network::new(&cell, &cfg, 5).unwrap(), &x).unwrap();
    assert_eq!(a.kernel, b.kernel);
    // ReLUs: 3 convolutions in each of the 3 cells, 2 per reduction block, the head's.
    assert_eq!(a.relus, 3 * 3 + 2 * 2 + 1);
    // K_ii is the number of hooked units, with multiplicity: the cell's convolutions read
    // node 0 twice and node 1 once.
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
    // Off the diagonal, K_ij < K_ii (distinct images disagree somewhere) and K is
    // positive definite here, so the score is finite.
    assert!(a.kernel[1] < a.kernel[0] && a.score.is_finite());
    let skip = Nb201Arch::from_ops(["skip_connect"; 6]);
    let s = naswot::score(&Nb201Network::new(&skip, &cfg, 5).unwrap(), &x).unwrap();
    assert_ne!(s.score, a.score);
}

#[test]
fn bad_input_and_configurations_are_typed_errors() {
    let cell = Nb201Arch::from_ops(["skip_connect"; 6]);
    let cfg = NetConfig {
        channels: 4,
        cells_per_stage: 1,
        classes: 3,
    };
    let net = Nb201Network::new(&cell, &cfg, 1).unwrap();
    let e = net.forward(&images(1, 18), &mut |_, _| Ok(())).unwrap_err();
    assert!(matches!(e, CnnError::BadInput { .. }), "{e}");
    assert!(e.to_string().contains("[1, 3, 18, 18]"), "{e}");
    let gray = Maps::from_nchw(&[0.0; 16 * 16], 1, 1, 16, 16);
    assert!(matches!(
        net.forward(&gray, &mut |_, _| Ok(())),
        Err(CnnError::BadInput { .. })
    ));
    let zero = NetConfig { channels: 0, ..cfg };
    assert!(matches!(
        Nb201Network::new(&cell, &zero, 1),
        Err(CnnError::BadConfig { what: "channels" })
    ));
    let two = Nb201Arch::parse("|nor_conv_3x3~0|+|skip_connect~0|none~1|").unwrap();
    assert!(matches!(
        Nb201Network::new(&two, &cfg, 1),
        Err(CnnError::NotNb201 { .. })
    ));
    let e = Nb201Arch::parse("|conv_5x5~0|+|skip_connect~0|none~1|+|none~0|none~1|none~2|")
        .unwrap_err();
    assert!(e.to_string().contains("conv_5x5"), "{e}");
    // A forward pass whose activations exceed the memory cap is refused before
    // allocating them. The other tests here stay below budget::SMALL, so they never read
    // the (process-wide) cap this one lowers.
    let wide = NetConfig {
        channels: 16,
        ..cfg
    };
    let net = Nb201Network::new(&cell, &wide, 1).unwrap();
    let x = images(128, 32);
    archconv::budget::set_limit(1 << 20);
    let e = net.forward(&x, &mut |_, _| Ok(()));
    archconv::budget::set_limit(0);
    let e = e.unwrap_err();
    assert!(matches!(e, CnnError::Budget(_)), "{e}");
    assert!(e.to_string().contains("128 images of 32 x 32"), "{e}");
}
