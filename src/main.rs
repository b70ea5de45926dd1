//! The `archconv` command-line tool: argument parsing and printing only; every number
//! comes from the library.

mod cli;

fn main() {
    if let Err(e) = cli::run() {
        let top = e.to_string();
        eprintln!("error: {top}");
        let mut source = std::error::Error::source(e.as_ref());
        while let Some(s) = source {
            let msg = s.to_string();
            if !top.contains(&msg) {
                eprintln!("  caused by: {msg}");
            }
            source = s.source();
        }
        std::process::exit(1);
    }
}
