#!/usr/bin/env python3
"""Writes the unexecuted notebooks in notebooks/ from the cell lists below.

Run `python3 scripts/notebooks.py` after editing, then `scripts/check-notebooks.sh --inplace`
to execute them (the executed notebooks, with outputs, are what is committed).
"""
import json, pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent / "notebooks"

SETUP = """:dep archconv = { path = ".." }
:dep ndarray = "0.16"
use archconv::*;
// Data directory: $ARCHCONV_DATA, else the project's shared datasets folder.
let data_dir = std::env::var("ARCHCONV_DATA").map(std::path::PathBuf::from)
    .unwrap_or_else(|_| std::path::PathBuf::from("../../shared/datasets"));
println!("data directory: {} (present: {})", data_dir.display(), data_dir.exists());"""

def md(s): return {"cell_type": "markdown", "metadata": {}, "source": s.strip("\n")}
def code(s): return {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": s.strip("\n")}

def notebook(name, figures, cells):
    nb = {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Rust", "language": "rust", "name": "rust"},
            "language_info": {"name": "Rust", "file_extension": ".rs", "mimetype": "text/rust"},
            "archconv": {"expected_figures": figures},
        },
        "nbformat": 4, "nbformat_minor": 5,
    }
    for i, c in enumerate(nb["cells"]):
        c["id"] = f"{name[:2]}-{i:02d}"
    (ROOT / f"{name}.ipynb").write_text(json.dumps(nb, indent=1) + "\n")

notebook("01-connectivity", 2, [
    md("""
# 01 · Connectivity: DAGs, paths, effective depth and width

Chen et al. (NeurIPS 2022) describe a network as a DAG: nodes `0..=H`, each edge a **zero**,
**skip** or **parameterized** (linear + ReLU) operation, each node the sum of its incoming edges.
What matters for convergence is the set of input-output **paths** and how many parameterized
edges `d_p` each one crosses. This notebook builds the paper's three example DAGs and looks at
their paths."""),
    code(SETUP),
    md("""
## The three DAGs of Fig. 3

The authors encode a 4-node DAG by its incoming edges per node: `2_21_112` means node 1 takes a
linear edge from 0; node 2 a linear edge from 0 and a skip from 1; node 3 skips from 0 and 1 and
a linear edge from 2. Solid blue = parameterized, dashed = skip, light grey = removed."""),
    code("""
// (a block: evcxr cannot keep variables that borrow other variables between cells;
// the figure is bound with its type so that evcxr displays it rather than Debug-printing it)
let fig3: plot::Figure = {
    let dags = Dag::paper_dags();
    let list: Vec<(&str, &Dag)> = dags.iter().map(|(n, d)| (*n, d)).collect();
    plot::Figure::render(plot::dags_figure_size(&list), |a| plot::draw_dags(a, &list))?
};
fig3"""),
    md("""
## Paths by dynamic programming

`PathStats` counts paths per depth exactly (`u128`), without enumerating them. DAG#3 has four
paths with `d_p = 0, 1, 2, 2`: effective depth `dbar = 5/4` and effective width
`mbar = #{d_p > 0} / dbar = 12/5` (Def. 4.1)."""),
    code("""
for (name, dag) in Dag::paper_dags() {
    let s = PathStats::of(&dag)?;
    let undefined = |r: Option<paths::Ratio>| r.map_or("undefined".to_string(), |r| r.to_string());
    println!("{name} {:<9} P = {}  depths {:?}  dbar = {}  mbar = {}", dag.describe(), s.num_paths(), s.depths(),
        undefined(s.effective_depth_exact()), undefined(s.effective_width_exact()));
}"""),
    code("""PathStats::of(&Dag::dag3())?"""),
    md("""
## Any DAG, any size

Counting is linear in the number of edges per depth, so a fully connected 64-node DAG with
`2^62` paths is no harder than DAG#3. When the effective depth or width is undefined (no path,
or only skip paths) the answer is `None` with a reason, never NaN."""),
    code("""
let big = PathStats::of(&Dag::complete(64, Op::Linear))?;
println!("complete 64-node DAG: P = {} = 2^62? {}", big.num_paths(), big.num_paths() == 1u128 << 62);
println!("effective depth {:?}", big.effective_depth());
let skips = PathStats::of(&Dag::complete(5, Op::Skip))?;
if let Some(why) = skips.undefined() { println!("all-skip DAG: width {:?} because {why}", skips.effective_width()); }"""),
    md("""
## A NAS-Bench-201 cell and a larger DAG

Benchmark operation names map to the three classes once: convolutions are parameterized,
pooling and `skip_connect` are skips, `none` removes the edge."""),
    code("""
let cell = Dag::parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|")?;
cell"""),
    code("""
let space = space::nb201_space();
println!("NAS-Bench-201: {} cells, center ({:.4}, {:.4}), half-radius ({:.4}, {:.4})",
    space.cells, space.center.0, space.center.1, space.half_radius.0, space.half_radius.1);
for (phi, kept) in &space.kept { println!("  radius factor {phi}: {kept} cells kept"); }"""),
])

notebook("02-nngp-kernels", 2, [
    md("""
# 02 · NNGP kernels: path-sum, independent-branch, exact — and the NTK

The paper bounds the convergence speed of gradient descent by `lambda_min` of the output
Gram matrix `K^H` of the infinitely wide network. It approximates `K^H` by a **path-sum**
(Eq. 12): every path contributes `f^{d_p}(K^0)`, with `f` the ReLU arc-cosine map. That
rule drops the cross terms between branches: after a ReLU, features have non-zero means, so two
branches summed at a node are correlated. archconv computes three kernels side by side."""),
    code(SETUP),
    code("""
let x = Inputs::gaussian(64, 32, 0);                      // seeded N = 64 points in R^32
let inputs = Inputs::from_data(x.view(), Lift::Dense)?;
let a = analyze(&Dag::dag3(), &inputs, &AnalyzeOptions::default())?;
a"""),
    md("""
## Where the kernels differ

On DAG#2 with the dense lift the exact kernel is the path-sum kernel plus exactly `6/pi` on every
entry: six ordered pairs of linear branches, each contributing the product of their means
`(1/sqrt(pi))^2`. The difference is rank one along the all-ones vector, so `lambda_min` barely moves
while every entry moves by O(1)."""),
    code("""
let ps = inputs.kernel(&Dag::dag2(), KernelKind::PathSum)?.into_output_gram();
let ex = inputs.kernel(&Dag::dag2(), KernelKind::Exact)?.into_output_gram();
let diff = &ex - &ps;
println!("exact - path-sum: min {:.6}, max {:.6}, 6/pi = {:.6}",
    diff.iter().cloned().fold(f64::INFINITY, f64::min), diff.iter().cloned().fold(f64::NEG_INFINITY, f64::max), 6.0 / std::f64::consts::PI);
println!("lambda_min: path-sum {:.6}, exact {:.6}", spectrum::lambda_min(&ps)?, spectrum::lambda_min(&ex)?);"""),
    md("""
## The bounds of Section 3 versus correlation

For two unit inputs with correlation `c` the paper's bounds are `lambda_1 = 1 - f^3(c)`,
`lambda_2 = 3 (1 - f(c))`, `lambda_3 = 4 - (c + f(c) + 2 f^2(c))`: DAG#1 < DAG#2 < DAG#3 for every
`c`. Markers show the exact kernel's 2x2 `lambda_min` at the same correlation."""),
    code("""
let grid: Vec<f64> = (0..=38).map(|i| -0.95 + 0.05 * i as f64).collect();
let bounds = spectrum::paper_bounds(&grid, &[-0.5, 0.0, 0.25, 0.5, 0.75, 0.9])?;
plot::Figure::bounds(&plot::BoundCurves::of(&bounds))?"""),
    md("""
## The normalisation caveat

The output diagonal grows with the number of paths (`P = 1, 3, 4`), so raw `lambda_min` partly
counts paths. Dividing by the mean diagonal changes the order: the chain comes out best."""),
    code("""
for (name, dag) in Dag::paper_dags() {
    let k = inputs.kernel(&dag, KernelKind::Exact)?.into_output_gram();
    let s = SpectrumSummary::of(&k)?;
    println!("{name}: lambda_min {:.4}  mean diagonal {:.3}  normalised {:.4}", s.lambda_min, s.mean_diagonal, s.normalized_lambda_min.unwrap_or(f64::NAN));
}"""),
    md("""
## NNGP versus NTK

Gradient descent on all layers is governed by the neural tangent kernel `Theta`, not the NNGP.
archconv's exact NTK keeps the forward mean cross terms and the backward skip-pair terms
(PAPER.md section 8); the independent-branch NTK (what neural-tangents computes when forced)
drops both. The raw order DAG#1 < #2 < #3 holds for both kernels; normalised, it changes."""),
    code("""
use archconv::kernel::{exact::Rule, ntk::NtkVariant};
println!("{:<6} {:>12} {:>12} {:>12} {:>12}", "DAG", "NNGP raw", "NNGP norm", "NTK raw", "NTK norm");
for (name, dag) in Dag::paper_dags() {
    let k = SpectrumSummary::of(&inputs.kernel(&dag, KernelKind::Exact)?.into_output_gram())?;
    let t = SpectrumSummary::of(&inputs.ntk(&dag, Rule::Exact)?.theta(NtkVariant::Full))?;
    println!("{name:<6} {:>12.4} {:>12.4} {:>12.4} {:>12.4}", k.lambda_min, k.normalized_lambda_min.unwrap_or(f64::NAN), t.lambda_min, t.normalized_lambda_min.unwrap_or(f64::NAN));
}"""),
    md("""
With one learning rate for every network (the paper's setting) the raw value sets the speed; with
a step tuned to each network's largest eigenvalue, the ratio `lambda_min / lambda_max` does.
`archconv reproduce` trains finite networks both ways (section *NTK step-size study*); here is
the per-term structure of one NTK:"""),
    code("""
let ntk = inputs.ntk(&Dag::dag3(), Rule::Exact)?;
println!("readout term trace {:.2}", ntk.readout().diag().sum());
for (e, t) in ntk.edge_terms() { println!("edge {} -> {} trace {:.2}", e.from, e.to, t.diag().sum()); }
println!("lift term trace {:.2}", ntk.lift().diag().sum());
// The NNGP's and NTK's normalised lambda_min of DAG#1-#3 on the same N = 64 points: the
// activation study for ReLU alone (variance-preserving sw2 = 2, the paper's edge).
use archconv::activation_study::{activation_study, StudyOptions};
let relu_study = activation_study(&StudyOptions { points: 64, dim: 32, seed: 0,
    activations: vec![archconv::activation::Activation::Relu] })?;"""),
    code("""
match report::activations::kernel_bars(&relu_study, "relu", true) {
    Some(bars) => plot::Figure::bars(&bars)?,
    None => plot::Figure::from_svg(String::from("<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'/>"), (10, 10)),
}"""),
])

notebook("03-monte-carlo", 1, [
    md("""
# 03 · Finite width versus the kernels

Which closed form describes real networks? Sample width-`m` DAG networks with Kaiming weights and
compare their empirical Grams `(1/m) X^T X` with the three kernels. The **conditional** sampler
draws each linear edge's pre-activations directly from `N(0, G)`, `G` the current features' Gram,
so no `m x m` matrix is ever formed."""),
    code(SETUP),
    code("""
use archconv::montecarlo::{run, McInputs, McParams, Sampler};
use archconv::report::montecarlo::comparison_table;
let x = Inputs::gaussian(16, 16, 0);
let mc_in = McInputs::from_data(x.view(), Lift::ReluStem)?;
let params = McParams { width: 2048, seeds: 8, sampler: Sampler::Conditional, ..McParams::default() };
let r = run(&Dag::dag2(), &mc_in, &params, &|| {})?;
println!("{}", comparison_table(&r));"""),
    md("""
The exact kernel is within Monte Carlo noise; the path-sum kernel is off by an O(1) relative
amount that does not shrink with width. A sweep over widths makes that visible: the error to the
exact kernel falls like `m^{-1/2}`; the error to the path-sum kernel plateaus."""),
    code("""
use archconv::montecarlo::{width_sweep, SweepParams};
let sp = SweepParams::powers_of_two(6, 11, McParams { seeds: 6, ..params });
let sw = width_sweep(&Dag::dag2(), &mc_in, &sp, &|| {})?;
let mut fig = report::montecarlo::error_figure(&sw);
fig.title = "Monte Carlo Gram error vs width, DAG#2 (mean +- std over seeds)".into();
for (kind, fit) in &sw.slopes { if let Some(f) = fit { println!("{kind}: slope {:.3} +- {:.3}", f.slope, f.slope_se.unwrap_or(f64::NAN)); } }
plot::Figure::mc_error(&fig)?"""),
    md("""
## On a GPU

With the `cuda` feature, `McParams { backend: Backend::Cuda, .. }` samples on an NVIDIA GPU
(cuRAND, cuBLAS and NVRTC-compiled kernels from this repository). This cell asks for it and
explains what happened: on a machine without a GPU, or a build without the feature, you get a
clear error instead of a crash."""),
    code("""
use archconv::montecarlo::Backend;
let gpu = McParams { backend: Backend::Cuda, width: 4096, seeds: 2, ..McParams::default() };
match run(&Dag::dag3(), &mc_in, &gpu, &|| {}) {
    Ok(r) => println!("GPU run: lambda_min {:.4} ({:.3} s per network)", r.lambda_min.mean, r.seconds_per_network),
    Err(e) => println!("no GPU run here: {e}"),
}"""),
])

notebook("04-training", 1, [
    md("""
# 04 · Training DAG-MLPs (Fig. 4)

The paper trains the three DAGs as MLPs (ReLU stem, Kaiming-normal weights, SGD batch 128,
learning rate 1e-5, MNIST and CIFAR-10) and reports DAG#3 rising fastest. Here: a quick budget
so the notebook runs in seconds; `archconv reproduce` runs the default budget and
`archconv train --fig4 paper` the paper's."""),
    code(SETUP),
    code("""
use archconv::train::fig4::{fig4, Fig4Budget};
let budget = Fig4Budget::quick();
let (panels, skipped) = fig4(Some(&data_dir), &budget, &mut |m: &str| println!("{m}"))?;
for s in &skipped { println!("skipped: {s}"); }
for p in &panels { println!("{} {}: ordering {:?}", p.label, p.setting, p.ordering()); }"""),
    md("""
Train accuracy (mean +- std over seeds) per epoch. At the paper's learning rate the curves barely
move in a few epochs; the larger, clearly labelled learning rate shows the shape."""),
    code("""
let fig = report::fig4::figure(&panels);
if fig.panels.is_empty() {
    println!("no training data found under {}: see datasets/README.md", data_dir.display());
    plot::Figure::from_svg(String::from("<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'/>"), (10, 10))
} else { plot::Figure::training(&fig)? }"""),
])

notebook("05-nas-bench-201", 1, [
    md("""
# 05 · NAS-Bench-201: Fig. 5 and the filter

The paper's practical claim: cells with extreme effective depth or width train badly, so a free
filter on `(dbar, mbar)` speeds up architecture search. We test it on the real 200-epoch test
accuracies of all 15,625 NAS-Bench-201 cells."""),
    code(SETUP),
    code("""
use archconv::nas::{Nb201Table, Nb201Study, StudyOptions};
let table = Nb201Table::load_from_dir(&data_dir);
match &table { Ok(_) => println!("loaded NAS-Bench-201 accuracies"), Err(e) => println!("{e}") }"""),
    md("""
## Fig. 5: accuracy over effective depth and width

One bubble per `(dbar, mbar)` group: colour = mean accuracy, size = spread. The relation is not
monotone, so R is the multiple correlation with quadratic terms (over group means)."""),
    code("""
let study: Option<Nb201Study> = match &table { Ok(t) => Some(Nb201Study::compute(t, &StudyOptions::quick())?), Err(_) => None };
let bubbles: plot::BubbleData = study.as_ref().map(report::nas::fig5_bubbles).unwrap_or_else(plot::BubbleData::new);"""),
    code("""
if bubbles.panels.is_empty() {
    println!("NAS-Bench-201 file absent; see datasets/README.md");
    plot::Figure::from_svg(String::from("<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'/>"), (10, 10))
} else { plot::Figure::bubbles(&bubbles)? }"""),
    md("""
## The filter and a simulated random search

Keep cells within half the radius of the space's center on both axes. Then simulate random
search with and without the filter: the expected best accuracy at equal evaluations, and how many
evaluations the filtered search saves. (A data-driven stand-in for the paper's Tables 2-3, which
also used NAS-WOT / TE-NAS scores we do not compute.)"""),
    code("""
if let Some(s) = &study {
    for sec in archconv::report::nas::study_sections(s).iter().filter(|x| x.id == "nb201-filter" || x.id == "nb201-proxy") {
        println!("## {}\\n{}", sec.title, sec.markdown.lines().take(40).collect::<Vec<_>>().join("\\n"));
    }
}"""),
])
notebook("06-predictions", 4, [
    md("""
# 06 · Cross kernels, predictions and training curves

The infinite-width network is a kernel machine: its NNGP `K` and NTK `Theta` predict what a
finite network computes at initialisation and how it trains. This notebook uses the kernel
facade (`KernelFn`: any DAG, any lift, one rule for NNGP and NTK, train/test cross blocks), the
predictions built on it (`predict`), and three studies of issue 14, each on a small budget so the
notebook runs in a few minutes; `archconv reproduce` runs them at the default budgets."""),
    code(SETUP),
    md("""
## The kernel facade: cross blocks equal blocks of the joint kernel

`KernelFn::nngp(x1, Some(x2))` computes only the `N1 x N2` block, from every node's diagonal and
the cross entries. It must equal the matching block of the kernel of the stacked set."""),
    code("""
let k = KernelFn::new(&Dag::dag3(), Lift::ReluStem, KernelKind::Exact);
let x1 = Inputs::gaussian(40, 8, 0);
let x2 = Inputs::gaussian(25, 8, 1);
let cross = k.nngp(x1.view(), Some(x2.view()))?;
let both = ndarray::concatenate![ndarray::Axis(0), x1, x2];
let joint = k.nngp(both.view(), None)?;
let worst = cross.indexed_iter().map(|((i, j), v)| (v - joint[[i, 40 + j]]).abs()).fold(0.0, f64::max);
println!("cross block {:?}, largest difference to the joint kernel's block: {worst:.2e}", cross.dim());
let diag = k.nngp_diag(x1.view())?;
println!("diagonal alone (O(N) per node): first entries {:.4} {:.4}", diag[0], diag[1]);"""),
    md("""
## Predictions on MNIST: NNGP posterior and NTK gradient descent

One-hot targets on 500 training images, 500 test images. The NNGP posterior mean is kernel
regression; the NTK mean prediction follows gradient descent at any step count, up to the
largest stable learning rate `2 / lambda_max`."""),
    code("""
use archconv::predict::{nngp_posterior, one_hot, accuracy, NtkDynamics, Time};
use archconv::kernel::ntk::NtkVariant;
let mnist = (data::load_mnist(&data_dir, data::Split::Train), data::load_mnist(&data_dir, data::Split::Test));
match mnist {
    (Ok(tr), Ok(te)) => {
        let (tr, te) = (tr.head(500), te.head(500));
        let (xtr, xte) = (tr.x_f64(), te.x_f64());
        let y = one_hot(&tr.y, 10);
        let k = KernelFn::new(&Dag::dag3(), Lift::ReluStem, KernelKind::Exact);
        let post = nngp_posterior(&k.nngp(xtr.view(), None)?, &y, &k.nngp(xte.view(), Some(xtr.view()))?, None, 0.0)?;
        println!("NNGP posterior test accuracy {:.3} (jitter {:.1e})", accuracy(&post.mean, &te.y).unwrap_or(f64::NAN), post.jitter);
        let theta = k.ntk(xtr.view(), None, NtkVariant::Full)?;
        let dynamics = NtkDynamics::new(&theta, &y)?;
        let cross = k.ntk(xte.view(), Some(xtr.view()), NtkVariant::Full)?;
        let lr = 1.0 / dynamics.lambda_max();
        println!("2 / lambda_max = {:.3e}", dynamics.max_stable_lr());
        for steps in [10u64, 100, 1000, 10000] {
            let f = dynamics.test_mean(&cross, Time::Steps { lr, steps })?;
            println!("  {steps:>5} steps at lr 1/lambda_max: train loss {:.3}, test accuracy {:.3}",
                dynamics.train_loss(Time::Steps { lr, steps })?, accuracy(&f, &te.y).unwrap_or(f64::NAN));
        }
    }
    (Err(e), _) | (_, Err(e)) => println!("MNIST absent ({e}); see datasets/README.md"),
}"""),
    md("""
## Study 4a: predicted against measured training

The NTK-parameterised network trained by full-batch gradient descent at growing widths, against
the exact NTK's loss curve conditional on each network's own initial outputs: the gap shrinks
with width (slope of `ln gap` on `ln m` near `-1/2`)."""),
    code("""
use archconv::train::linearised::{linearised, LinearisedBudget};
// Computed in one cell and drawn in the next: evcxr displays a figure reliably when the
// cell that ends in it defines no new variables.
let lin = linearised(&data_dir, &LinearisedBudget::quick(), &mut |_| {});
match &lin {
    Ok(s) => {
        let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
        for d in &s.dags { println!("{}: slope of ln gap on ln m {} +- {}", d.dag, f(d.slope), f(d.slope_se)); }
    }
    Err(e) => println!("study skipped: {e}"),
}"""),
    code("""
match &lin {
    Ok(s) => plot::Figure::training(&report::linearised::figure(s))?,
    Err(_) => plot::Figure::from_svg(String::from("<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'/>"), (10, 10)),
}"""),
    md("""
## Study 4b: Fig. 4 against time `t = lr x steps`

At small steps SGD follows gradient flow, so training curves at different learning rates
coincide when drawn against `t`. The ladder finds where that stops; then DAG#1-#3 train at the
largest collapsing rate beside the exact standard-parameterisation NTK's prediction. A small
budget here (width 128, 256 images, `t = 0.5`); the default budget is the paper's width 1024
and time 4.69."""),
    code("""
use archconv::train::fig4_time::{fig4_time, Fig4TimeBudget};
let budget = Fig4TimeBudget { width: 128, train_n: 256, ladder: vec![1e-3, 1e-2, 1e-1], rung_steps: 10,
    seeds: 2, ladder_seeds: 1, time: 0.5, checkpoints: 10, ..Fig4TimeBudget::quick() };
let f4t = fig4_time(&data_dir, &budget, &mut |_| {});
match &f4t {
    Ok(s) => {
        for r in &s.rungs { println!("lr {:e} -> {:e}: worst gap {:.3}, collapses: {}", r.lr_small, r.lr_large, r.worst_gap, r.collapses); }
        println!("largest collapsing rate {:e}; ordering {:?} (predicted {:?})", s.lr_star, s.ordering, s.predicted_ordering);
    }
    Err(e) => println!("study skipped: {e}"),
}"""),
    code("""
match &f4t {
    Ok(s) => plot::Figure::training(&report::fig4_time::collapse_figure(s))?,
    Err(_) => plot::Figure::from_svg(String::from("<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'/>"), (10, 10)),
}"""),
    code("""
match &f4t {
    Ok(s) => plot::Figure::training(&report::fig4_time::figure(s))?,
    Err(_) => plot::Figure::from_svg(String::from("<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'/>"), (10, 10)),
}"""),
    md("""
## Study 4c: does connectivity matter for generalisation in the kernel regime?

NNGP and NTK test accuracy of DAG#1-#3 and sampled NAS-Bench-201 cells against the normalised
`lambda_min` of their training kernels. At these sizes accuracy differences between
architectures are within binomial noise; the section of `archconv reproduce` says so with the
numbers."""),
    code("""
use archconv::generalisation::{generalisation, GenBudget};
let gen_study = generalisation(&data_dir, &GenBudget::quick(), &mut |_| {});
match &gen_study {
    Ok(s) => {
        let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:+.2}"));
        for c in &s.correlations { println!("{} (N = {}) {}: Spearman {}, Kendall {}", c.dataset, c.n_train, c.what, f(c.spearman), f(c.kendall)); }
    }
    Err(e) => println!("study skipped: {e}"),
}"""),
    code("""
match &gen_study {
    Ok(s) => plot::Figure::scatter(&report::generalisation::scatter(s))?,
    Err(_) => plot::Figure::from_svg(String::from("<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'/>"), (10, 10)),
}"""),
])
print("wrote", sorted(p.name for p in ROOT.glob("*.ipynb")))
