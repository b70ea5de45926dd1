use super::inputs::InputArgs;
use super::CliResult;
use archconv::{analyze, AnalyzeOptions};

#[derive(clap::Args)]
pub struct Args {
    /// The DAG: MLP code (2_21_112), NAS-Bench-201 string, DARTS genotype or JSON edge
    /// list with optional per-edge activation/sw2/sb2, or a seeded Watts-Strogatz graph
    /// ws(nodes=N, k=K, p=P, seed=S) (format auto-detected). Use @FILE to read it from a file.
    dag: String,
    #[command(flatten)]
    inputs: InputArgs,
    #[command(flatten)]
    network: super::network::NetworkArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> CliResult {
    let dag = a.network.apply(super::read_dag(&a.dag)?)?;
    let (inputs, desc) = a.inputs.inputs()?;
    let report = analyze(&dag, &inputs, &AnalyzeOptions::default())?;
    if a.json {
        let mut v = serde_json::to_value(&report)?;
        v["inputs"] = serde_json::Value::String(desc);
        super::emit(&(serde_json::to_string_pretty(&v)? + "\n"));
    } else {
        super::emit(&format!("inputs: {desc}\n{report}"));
    }
    Ok(())
}
