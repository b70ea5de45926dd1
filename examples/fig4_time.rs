//! Runs Fig. 4 in time rather than epochs (issue 14, study 4b) and prints its report
//! section: `cargo run --release --example fig4_time -- [quick|default|full]` with
//! `ARCHCONV_DATA` pointing at the shared datasets. Figures go to the current folder.

use archconv::train::fig4_time::{fig4_time, Fig4TimeBudget};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let budget = match std::env::args().nth(1).as_deref() {
        Some("quick") => Fig4TimeBudget::quick(),
        Some("full") => Fig4TimeBudget::full(),
        None | Some("default") => Fig4TimeBudget::default_budget(),
        Some(other) => {
            return Err(format!("unknown budget {other:?} (quick, default, full)").into())
        }
    };
    let dir = archconv::data::data_dir(None).ok_or("set ARCHCONV_DATA to the data directory")?;
    let study = fig4_time(&dir, &budget, &mut |m| eprintln!("{m}"))?;
    let section = archconv::report::fig4_time::section(&study, std::path::Path::new("."))?;
    println!("{}\n\n({:.1} s)", section.markdown, study.seconds);
    Ok(())
}
