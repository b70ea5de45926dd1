//! Per-network edge settings shared by `analyze`, `mc` and `train`: the activation and
//! variances of every linear edge that has none of its own (PAPER.md section 9).

use archconv::activation::Activation;
use archconv::model::EdgeParams;
use archconv::Dag;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct NetworkArgs {
    /// Activation of every linear edge without its own: relu, leaky_relu(0.1),
    /// abrelu(-0.5,1.5), abs, erf, identity, gelu, tanh, softplus, silu (default relu).
    #[arg(long)]
    pub activation: Option<String>,
    /// Weight variance sw2 of those edges: z = sqrt(sw2/m) W x + sqrt(sb2) b (default 2).
    #[arg(long, allow_negative_numbers = true)]
    pub sw2: Option<f64>,
    /// Bias variance sb2 of those edges (default 0).
    #[arg(long, allow_negative_numbers = true)]
    pub sb2: Option<f64>,
}

impl NetworkArgs {
    /// Whether any setting was given.
    pub fn is_set(&self) -> bool {
        self.activation.is_some() || self.sw2.is_some() || self.sb2.is_some()
    }

    /// The edge parameters these flags describe.
    pub fn params(&self) -> Result<EdgeParams, Box<dyn std::error::Error>> {
        let activation = match &self.activation {
            Some(a) => Activation::parse(a).map_err(|e| format!("--activation: {e}"))?,
            None => Activation::Relu,
        };
        let p = EdgeParams::new(activation, self.sw2.unwrap_or(2.0), self.sb2.unwrap_or(0.0))
            .map_err(|e| format!("--sw2/--sb2: {e}"))?;
        Ok(p)
    }

    /// `dag` with these settings on every linear edge without its own.
    pub fn apply(&self, dag: Dag) -> Result<Dag, Box<dyn std::error::Error>> {
        if !self.is_set() {
            return Ok(dag);
        }
        Ok(dag.with_default_params(&self.params()?))
    }
}
