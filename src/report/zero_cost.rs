//! The `nas-search` section of `archconv reproduce`: zero-cost proxies on real
//! NAS-Bench-201 networks and the authors' search with and without the filter
//! ([`crate::nas::zero_cost`]), with a figure of NASWOT against accuracy, one panel per
//! dataset, cells inside and outside the authors' box in two colours.

use super::Section;
use crate::nas::zero_cost::search::{Convention, SearchFilter};
use crate::nas::zero_cost::{CellScore, ZcReport};
use crate::nas::{Dataset, Nb201Table};
use crate::plot::{
    save_scatter_png, save_scatter_svg, PlotError, ScatterData, ScatterPanel, ScatterSeries,
};
use std::collections::HashMap;
use std::path::Path;

/// NASWOT (finite scores) against each dataset's accuracy, split by the authors' box.
pub fn scatter(table: &Nb201Table, records: &[CellScore]) -> ScatterData {
    let acc: HashMap<usize, [f64; 3]> = crate::nas::zero_cost::accuracies(table);
    let points = crate::space::nb201_points();
    let space = crate::space::summarize(&points).filter;
    let authors = Convention::AuthorsCode.nb201_filter();
    let inside = |i: usize| authors.keeps(&points[i], &space);
    let panels = Dataset::ALL
        .iter()
        .enumerate()
        .map(|(d, ds)| {
            let mut series = vec![
                ScatterSeries {
                    name: "inside the authors' box".into(),
                    x: vec![],
                    y: vec![],
                },
                ScatterSeries {
                    name: "outside (score -1, not built)".into(),
                    x: vec![],
                    y: vec![],
                },
            ];
            for r in records {
                if let (Some(s), Some(a)) = (r.naswot, acc.get(&r.index)) {
                    let k = usize::from(!inside(r.index));
                    series[k].x.push(s);
                    series[k].y.push(a[d]);
                }
            }
            ScatterPanel {
                title: ds.name().into(),
                series,
            }
        })
        .collect();
    ScatterData {
        title: "NASWOT at initialisation vs 200-epoch test accuracy (NAS-Bench-201)".into(),
        x_label: "NASWOT ln|K| (128 CIFAR-10 images)".into(),
        y_label: "test accuracy (%)".into(),
        panels,
    }
}

/// The section, writing `nas_search.svg` / `.png` into `dir`.
pub fn section(
    rep: &ZcReport,
    table: &Nb201Table,
    records: &[CellScore],
    dir: &Path,
) -> Result<Section, PlotError> {
    let fig = scatter(table, records);
    save_scatter_svg(dir.join("nas_search.svg"), &fig)?;
    save_scatter_png(dir.join("nas_search.png"), &fig)?;
    let mut md = rep.markdown();
    md.push_str(&format!(
        "\nThe paper reports 17-41% less search time at equal or better accuracy (Tables 1-2) and, for NASWOT on CIFAR-100, {} at radius factors 1, 3/4, 1/2, 1/4 (Table 3). The filtered rows here: {}.\n",
        "69.48, 69.51, 69.86, 69.97",
        rep.search.as_ref().map_or("none".to_string(), |s| s
            .rows
            .iter()
            .filter(|r| r.filter != SearchFilter::None)
            .map(|r| format!("{} {:.2} (saved {:.0}%)", r.filter.describe(), r.accuracy[1].mean, 100.0 * r.saved))
            .collect::<Vec<_>>()
            .join("; "))
    ));
    if let Some(t) = &rep.tenas_search {
        md.push_str(&format!(
            "TE-NAS ranking on the same draws (the paper's TE-NAS rows use TE-NAS's supernet pruning, not reproduced here): {}.\n",
            t.rows
                .iter()
                .map(|r| format!("{} {:.2} (saved {:.0}%)", r.filter.describe(), r.accuracy[1].mean, 100.0 * r.saved))
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    Ok(Section {
        id: "nas-search".into(),
        title: "Training-free NAS on real NAS-Bench-201 networks (Tables 1-3)".into(),
        markdown: md,
        data: serde_json::to_value(rep).unwrap_or_default(),
        files: vec!["nas_search.svg".into(), "nas_search.png".into()],
    })
}
