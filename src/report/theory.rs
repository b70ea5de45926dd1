//! The theory section of `archconv reproduce`: Fig. 3 (DAG#1-#3 drawn) and the Sec. 3.3
//! bounds against the input correlation `c` ([`crate::spectrum::paper_bounds`]).

use super::{md_table, Section};
use crate::plot::{
    dags_figure_size, draw_dags, save_bounds_png, save_bounds_svg, save_png, save_svg, BoundCurves,
};
use crate::spectrum::paper_bounds;
use crate::{Dag, Error};
use std::path::Path;

/// Writes `fig3_dags.{svg,png}` and `bounds_vs_c.{svg,png}` into `dir` (created if
/// missing) and returns the report section `figures` listing them, with the bound values
/// at `c = 0, 0.25, 0.5, 0.75` as a table and the curves as JSON.
pub fn theory_figures(dir: &Path) -> Result<Section, Error> {
    let dags = Dag::paper_dags();
    let list: Vec<(&str, &Dag)> = dags.iter().map(|(n, d)| (*n, d)).collect();
    let size = dags_figure_size(&list);
    save_svg(dir.join("fig3_dags.svg"), size, |a| draw_dags(a, &list))?;
    save_png(dir.join("fig3_dags.png"), size, |a| draw_dags(a, &list))?;
    let grid: Vec<f64> = (0..=99).map(|i| -0.98 + 1.97 * i as f64 / 99.0).collect();
    let marks = [0.0, 0.25, 0.5, 0.75];
    let data = BoundCurves::of(&paper_bounds(&grid, &marks)?);
    save_bounds_svg(dir.join("bounds_vs_c.svg"), &data)?;
    save_bounds_png(dir.join("bounds_vs_c.png"), &data)?;
    let mark_data = BoundCurves::of(&paper_bounds(&marks, &marks)?);
    let rows: Vec<Vec<String>> = marks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut r = vec![format!("{c}")];
            for s in &mark_data.series {
                r.push(format!("{:.6}", s.bound[i]));
                r.push(format!("{:.6}", s.exact[i].1));
            }
            r
        })
        .collect();
    let header = [
        "c",
        "DAG#1 bound",
        "DAG#1 exact λ_min",
        "DAG#2 bound",
        "DAG#2 exact λ_min",
        "DAG#3 bound",
        "DAG#3 exact λ_min",
    ];
    let markdown = format!(
        "Fig. 3: the three example DAGs (solid blue = parameterized, dashed = skip, light grey = removed). \
         Bounds on lambda_min(K^H) against the input correlation c: path-sum bound (lines) and the exact \
         kernel's lambda_min for two unit inputs (markers).\n\n{}",
        md_table(&header, &rows)
    );
    Ok(Section {
        id: "figures".to_string(),
        title: "Figures: DAGs and eigenvalue bounds".to_string(),
        markdown,
        data: serde_json::to_value(&data).unwrap_or(serde_json::Value::Null),
        files: vec![
            "fig3_dags.svg".to_string(),
            "fig3_dags.png".to_string(),
            "bounds_vs_c.svg".to_string(),
            "bounds_vs_c.png".to_string(),
        ],
    })
}
