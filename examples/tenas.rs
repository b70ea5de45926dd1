//! TE-NAS's two indicators of one NAS-Bench-201 cell, with times:
//! `cargo run --release --example tenas -- [CELL] [BATCH]` (images from `$ARCHCONV_DATA`).
use archconv::dag::format::Nb201Arch;
use archconv::data::{load_cifar10, Split, CIFAR_NORMALIZE};
use archconv::nas::cnn::{Nb201Network, NetConfig};
use archconv::nas::naswot;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let cell = args.next().unwrap_or_else(|| {
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|".into()
    });
    let batch: usize = args.next().map(|b| b.parse()).transpose()?.unwrap_or(16);
    let dir = archconv::data::data_dir(None).ok_or("set ARCHCONV_DATA to the data directory")?;
    let mut ds = load_cifar10(&dir, Split::Train)?;
    ds.standardize(&CIFAR_NORMALIZE.0, &CIFAR_NORMALIZE.1);
    let x = naswot::cifar_batch(&ds, batch)?;
    let cell = Nb201Arch::parse(&cell)?;
    println!("images: {}", ds.source);
    for rep in 0..2 {
        let t = std::time::Instant::now();
        let net = Nb201Network::new(&cell, &NetConfig::cifar10(), 0)?;
        let ntk = net.ntk(&x)?;
        println!(
            "run {rep}: NTK on {batch} images ({} weights): condition {:?} in {:.3} s",
            ntk.params,
            ntk.condition(),
            t.elapsed().as_secs_f64()
        );
    }
    let s = archconv::nas::tenas::LinearRegionSettings::default();
    let t = std::time::Instant::now();
    let lr = archconv::nas::tenas::linear_regions(&cell, &s, 0)?;
    println!(
        "linear regions: {lr} of {} inputs in {:.3} s",
        s.samples * s.batches,
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
