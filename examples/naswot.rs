//! Scores one NAS-Bench-201 cell by NASWOT on 128 CIFAR-10 images and prints the time:
//! `cargo run --release --example naswot -- [CELL]` (images from `$ARCHCONV_DATA`).
use archconv::dag::format::Nb201Arch;
use archconv::data::{load_cifar10, Split, CIFAR_NORMALIZE};
use archconv::nas::cnn::{Nb201Network, NetConfig};
use archconv::nas::naswot;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cell = std::env::args().nth(1).unwrap_or_else(|| {
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|".into()
    });
    let dir = archconv::data::data_dir(None).ok_or("set ARCHCONV_DATA to the data directory")?;
    let mut ds = load_cifar10(&dir, Split::Train)?;
    ds.standardize(&CIFAR_NORMALIZE.0, &CIFAR_NORMALIZE.1);
    let x = naswot::cifar_batch(&ds, 128)?;
    let cell = Nb201Arch::parse(&cell)?;
    println!("images: {}", ds.source);
    {
        let net = Nb201Network::new(&cell, &NetConfig::cifar10(), 0)?;
        let t = std::time::Instant::now();
        net.forward(&x, &mut |_, _| Ok(()))?;
        println!("forward alone: {:.3} s", t.elapsed().as_secs_f64());
    }
    for rep in 0..3 {
        let t = std::time::Instant::now();
        let net = Nb201Network::new(&cell, &NetConfig::cifar10(), 0)?;
        let s = naswot::score(&net, &x)?;
        println!(
            "run {rep}: NASWOT {:.3} ({} ReLUs, {} parameters, {:.2} MFLOPs) in {:.3} s",
            s.score,
            s.relus,
            net.num_params(),
            net.flops(32, 32) as f64 / 1e6,
            t.elapsed().as_secs_f64(),
        );
    }
    Ok(())
}
