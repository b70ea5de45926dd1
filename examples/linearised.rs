//! Runs the predicted-against-measured training study (issue 14, study 4a) and prints its
//! report section: `cargo run --release --example linearised -- [quick|default|full]` with
//! `ARCHCONV_DATA` pointing at the shared datasets. Figures go to the current folder.

use archconv::train::linearised::{linearised, LinearisedBudget};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let budget = match std::env::args().nth(1).as_deref() {
        Some("quick") => LinearisedBudget::quick(),
        Some("full") => LinearisedBudget::full(),
        None | Some("default") => LinearisedBudget::default_budget(),
        Some(other) => {
            return Err(format!("unknown budget {other:?} (quick, default, full)").into())
        }
    };
    let dir = archconv::data::data_dir(None).ok_or("set ARCHCONV_DATA to the data directory")?;
    let t0 = std::time::Instant::now();
    let study = linearised(&dir, &budget, &mut |m| eprintln!("{m}"))?;
    let section = archconv::report::linearised::section(&study, std::path::Path::new("."))?;
    println!(
        "{}\n\n({:.1} s)",
        section.markdown,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}
