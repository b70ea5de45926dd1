//! NASWOT on NAS-Bench-201 networks (feature `nas-cnn`): one cell scored on 128 CIFAR-10
//! images (the 200-record fixture from `$ARCHCONV_DATA` or `../shared/datasets`; seeded
//! uniform images when neither exists, which the output says), by the hand-written network
//! (`nas::cnn`, what the proxies use) and by the candle reference (`nas::net`), in one
//! run. Target: under 1 s per cell on 2 cores.
use archconv::dag::format::Nb201Arch;
use archconv::data::{load_cifar10, Split, CIFAR_NORMALIZE};
use archconv::nas::cnn::{Maps, Nb201Network, NetConfig};
use archconv::nas::naswot;
use archconv::nas::net::{self, Nb201Net};
use criterion::{criterion_group, criterion_main, Criterion};

fn images() -> Vec<f32> {
    let dir = std::env::var_os("ARCHCONV_DATA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/datasets").into());
    match load_cifar10(&dir, Split::Train) {
        Ok(mut ds) => {
            ds.standardize(&CIFAR_NORMALIZE.0, &CIFAR_NORMALIZE.1);
            eprintln!("images: {}", ds.source);
            ds.x.rows()
                .into_iter()
                .take(128)
                .flatten()
                .copied()
                .collect()
        }
        Err(e) => {
            eprintln!("images: seeded uniform ({e})");
            (0..128 * 3 * 32 * 32)
                .map(|i| ((i * 7919) % 1009) as f32 / 504.5 - 1.0)
                .collect()
        }
    }
}

fn bench(c: &mut Criterion) {
    let v = images();
    let maps = Maps::from_nchw(&v, 128, 3, 32, 32);
    let tensor = candle_core::Tensor::from_vec(v, (128, 3, 32, 32), &candle_core::Device::Cpu)
        .expect("image tensor");
    let mut g = c.benchmark_group("naswot_128_cifar");
    g.sample_size(10);
    for (name, cell) in [
        ("no_conv", "|avg_pool_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|skip_connect~0|none~1|avg_pool_3x3~2|"),
        ("typical", "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"),
        ("all_3x3", "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"),
    ] {
        let cell = Nb201Arch::parse(cell).expect("cell");
        g.bench_function(format!("{name}/hand_written"), |b| {
            b.iter(|| {
                let net = Nb201Network::new(&cell, &NetConfig::cifar10(), 0).expect("network");
                naswot::score(&net, &maps).expect("score").score
            })
        });
        g.bench_function(format!("{name}/candle"), |b| {
            b.iter(|| {
                let net = Nb201Net::new(&cell, &NetConfig::cifar10(), 0).expect("network");
                net::naswot(&net, &tensor).expect("score").score
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
