use super::CliResult;
use archconv::space::nb201_space;

#[derive(clap::Args)]
pub struct Args {
    /// The space: only `nb201` (NAS-Bench-201) for now.
    #[arg(value_parser = ["nb201"])]
    space: String,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> CliResult {
    let _ = a.space;
    let s = nb201_space();
    if a.json {
        super::emit(&(serde_json::to_string_pretty(&s)? + "\n"));
    } else {
        super::emit(&s.to_string());
    }
    Ok(())
}
