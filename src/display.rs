//! Rich display in evcxr (Jupyter) notebooks.
//!
//! evcxr shows a value richly when its type has an inherent method
//! `evcxr_display(&self)` that prints
//!
//! ```text
//! EVCXR_BEGIN_CONTENT text/html
//! ...html...
//! EVCXR_END_CONTENT
//! ```
//!
//! to stdout. These types get one, plus the `to_html()` it prints (so tests and HTML
//! reports can use the same markup): [`Dag`] (inline SVG drawing and an edge
//! table), [`PathStats`], [`Analysis`],
//! [`SpectrumSummary`],
//! [`SpaceSummary`], [`Report`] and
//! [`Figure`]. In a notebook, ending a cell with such a value shows it:
//!
//! ```text
//! :dep archconv = { path = "." }
//! use archconv::{Dag, PathStats};
//! let dag = Dag::dag3();
//! dag                                  // drawing + edge table
//! PathStats::of(&dag)?                 // P, histogram, effective depth/width
//! ```
//!
//! Numbers are printed with [`fmt_num`]: six decimals, or six-digit scientific notation
//! outside `[1e-3, 1e6)`.

use crate::analysis::{depth_width_text, Analysis, PathReport};
use crate::paths::{Count, PathStats};
use crate::plot::Figure;
use crate::report::Report;
use crate::space::SpaceSummary;
use crate::spectrum::SpectrumSummary;
use crate::Dag;

/// Escapes `&`, `<`, `>` and `"` for HTML text and attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// A number as displayed: `{:.6}` for `1e-3 <= |v| < 1e6` (and 0), `{:.6e}` otherwise;
/// `NaN`/`inf` spelled out.
///
/// ```
/// use archconv::display::fmt_num;
/// assert_eq!(fmt_num(1.25), "1.250000");
/// assert_eq!(fmt_num(2.5e-7), "2.500000e-7");
/// ```
pub fn fmt_num(v: f64) -> String {
    if v == 0.0 || (v.abs() >= 1e-3 && v.abs() < 1e6) {
        format!("{v:.6}")
    } else {
        format!("{v:.6e}")
    }
}

fn opt_num(v: Option<f64>, none: &str) -> String {
    v.map_or_else(|| none.to_string(), fmt_num)
}

/// The block evcxr reads from stdout: `EVCXR_BEGIN_CONTENT <mime>\n<content>\nEVCXR_END_CONTENT\n`.
pub fn evcxr_block(mime: &str, content: &str) -> String {
    format!("EVCXR_BEGIN_CONTENT {mime}\n{content}\nEVCXR_END_CONTENT\n")
}

/// An HTML table with a header row; cells are escaped.
pub fn html_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = String::from("<table class=\"archconv\">\n<thead><tr>");
    for h in header {
        s.push_str(&format!("<th>{}</th>", escape(h)));
    }
    s.push_str("</tr></thead>\n<tbody>\n");
    for r in rows {
        s.push_str("<tr>");
        for c in r {
            s.push_str(&format!("<td>{}</td>", escape(c)));
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</tbody>\n</table>\n");
    s
}

/// Two-column key/value table.
fn kv_table(rows: &[(&str, String)]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|(k, v)| vec![k.to_string(), v.clone()])
        .collect();
    html_table(&["quantity", "value"], &rows)
}

fn histogram_rows(hist: &[Count]) -> Vec<Vec<String>> {
    hist.iter()
        .enumerate()
        .filter(|(_, n)| !n.is_zero())
        .map(|(d, n)| vec![d.to_string(), n.to_string()])
        .collect()
}

fn path_report_html(p: &PathReport) -> String {
    let mut rows = vec![
        ("paths P", p.num_paths.to_string()),
        ("sum of d_p", p.depth_sum.to_string()),
        ("paths with d_p > 0", p.parameterized_paths.to_string()),
    ];
    match &p.undefined_reason {
        Some(r) => rows.push(("effective depth / width", r.clone())),
        None => {
            rows.push((
                "effective depth d̄",
                depth_width_text(
                    p.effective_depth,
                    p.effective_depth_exact.as_deref(),
                    p.effective_depth_float.as_deref(),
                    fmt_num,
                ),
            ));
            rows.push((
                "effective width m̄",
                depth_width_text(
                    p.effective_width,
                    p.effective_width_exact.as_deref(),
                    p.effective_width_float.as_deref(),
                    fmt_num,
                ),
            ));
        }
    }
    format!(
        "{}<p>Paths by number of linear edges d:</p>\n{}",
        kv_table(&rows),
        html_table(&["d", "paths n(d)"], &histogram_rows(&p.depth_histogram))
    )
}

fn spectrum_row(name: &str, s: &SpectrumSummary, bound: Option<f64>) -> Vec<String> {
    vec![
        name.to_string(),
        fmt_num(s.lambda_min),
        opt_num(s.normalized_lambda_min, "undefined"),
        fmt_num(s.lambda_max),
        opt_num(s.condition, "inf (singular)"),
        fmt_num(s.mean_diagonal),
        opt_num(bound, "-"),
        format!("{:?}", s.method),
    ]
}

const SPECTRUM_HEADER: [&str; 8] = [
    "kernel",
    "λ_min",
    "λ_min / mean diag",
    "λ_max",
    "condition",
    "mean diagonal",
    "2x2 bound",
    "method",
];

impl Dag {
    /// HTML: the drawing (inline SVG, Fig. 3 style) and a table of edges
    /// (from, to, class, name).
    ///
    /// ```
    /// let html = archconv::Dag::dag2().to_html();
    /// assert!(html.contains("<svg") && html.contains("<td>linear</td>"));
    /// ```
    pub fn to_html(&self) -> String {
        let svg = match Figure::dag(self, &self.describe()) {
            Ok(f) => f.svg().to_string(),
            Err(e) => format!("<p>drawing failed: {}</p>", escape(&e.to_string())),
        };
        let rows: Vec<Vec<String>> = self
            .edges()
            .iter()
            .map(|e| {
                vec![
                    e.from.to_string(),
                    e.to.to_string(),
                    e.op.name().to_string(),
                    e.name.clone().unwrap_or_default(),
                ]
            })
            .collect();
        format!(
            "<div class=\"archconv-dag\">\n<p>DAG with nodes 0..={} (inputs {:?}), {} edges: {} linear, {} skip, {} removed</p>\n<div>{svg}</div>\n{}</div>",
            self.output(),
            self.inputs(),
            self.edges().len(),
            self.count(crate::Op::Linear),
            self.count(crate::Op::Skip),
            self.count(crate::Op::Zero),
            html_table(&["from", "to", "class", "name"], &rows)
        )
    }

    /// Prints [`Dag::to_html`] for evcxr (module docs).
    pub fn evcxr_display(&self) {
        print!("{}", evcxr_block("text/html", &self.to_html()));
    }
}

impl PathStats {
    /// HTML tables: `P`, `sum d_p`, `#{d_p > 0}`, effective depth and width (decimal and
    /// exact) or why they are undefined, and the depth histogram `n(d)`.
    ///
    /// ```
    /// use archconv::{Dag, PathStats};
    /// let html = PathStats::of(&Dag::dag3()).unwrap().to_html();
    /// assert!(html.contains("1.250000 (5/4)"));
    /// ```
    pub fn to_html(&self) -> String {
        path_report_html(&PathReport::from(self))
    }

    /// Prints [`PathStats::to_html`] for evcxr.
    pub fn evcxr_display(&self) {
        print!("{}", evcxr_block("text/html", &self.to_html()));
    }
}

impl SpectrumSummary {
    /// HTML table of `lambda_min`, normalised `lambda_min`, `lambda_max`, condition
    /// number, mean diagonal and method.
    pub fn to_html(&self) -> String {
        let row = spectrum_row("K", self, None);
        let rows: Vec<(&str, String)> = SPECTRUM_HEADER[1..]
            .iter()
            .zip(row.into_iter().skip(1))
            .filter(|(h, _)| **h != "2x2 bound")
            .map(|(h, v)| (*h, v))
            .collect();
        kv_table(&rows)
    }

    /// Prints [`SpectrumSummary::to_html`] for evcxr.
    pub fn evcxr_display(&self) {
        print!("{}", evcxr_block("text/html", &self.to_html()));
    }
}

impl Analysis {
    /// HTML: the DAG, the path statistics tables and one row per kernel with its spectrum
    /// and Lemma 3.3's 2x2 bound.
    pub fn to_html(&self) -> String {
        let mut s = format!(
            "<div class=\"archconv-analysis\">\n<p>DAG <code>{}</code>, {} points, {} lift</p>\n",
            escape(&self.dag),
            self.points,
            self.lift
        );
        s.push_str(&path_report_html(&self.paths));
        if self.kernels.is_empty() {
            s.push_str("<p>No input-output path: no kernel to evaluate.</p>\n");
        } else {
            let rows: Vec<Vec<String>> = self
                .kernels
                .iter()
                .map(|k| spectrum_row(k.kind.name(), &k.spectrum, k.pair_bound.map(|b| b.value)))
                .collect();
            s.push_str("<p>Output-kernel spectra:</p>\n");
            s.push_str(&html_table(&SPECTRUM_HEADER, &rows));
        }
        s.push_str("</div>");
        s
    }

    /// Prints [`Analysis::to_html`] for evcxr.
    pub fn evcxr_display(&self) {
        print!("{}", evcxr_block("text/html", &self.to_html()));
    }
}

impl SpaceSummary {
    /// HTML: cell counts, ranges, filter center and half-radius, cells kept per radius
    /// factor, and the `(dbar, mbar)` groups.
    pub fn to_html(&self) -> String {
        let pair = |p: (f64, f64)| format!("({}, {})", fmt_num(p.0), fmt_num(p.1));
        let summary = kv_table(&[
            ("cells", self.cells.to_string()),
            ("no path (undefined)", self.no_path.to_string()),
            ("skip-only (undefined)", self.zero_depth.to_string()),
            ("effective depth range", pair(self.depth_range)),
            ("effective width range", pair(self.width_range)),
            ("center (d̄, m̄)", pair(self.center)),
            ("half-radius", pair(self.half_radius)),
        ]);
        let kept: Vec<Vec<String>> = self
            .kept
            .iter()
            .map(|(phi, k)| vec![phi.to_string(), k.to_string()])
            .collect();
        let groups: Vec<Vec<String>> = self
            .groups
            .iter()
            .map(|(d, m, c)| {
                vec![
                    d.to_string(),
                    fmt_num(d.to_f64()),
                    m.to_string(),
                    fmt_num(m.to_f64()),
                    c.to_string(),
                ]
            })
            .collect();
        format!(
            "<div class=\"archconv-space\">\n{summary}<p>Cells kept by radius factor:</p>\n{}<p>{} (d̄, m̄) groups:</p>\n{}</div>",
            html_table(&["radius factor", "cells kept"], &kept),
            self.groups.len(),
            html_table(&["d̄", "d̄ (decimal)", "m̄", "m̄ (decimal)", "cells"], &groups)
        )
    }

    /// Prints [`SpaceSummary::to_html`] for evcxr.
    pub fn evcxr_display(&self) {
        print!("{}", evcxr_block("text/html", &self.to_html()));
    }
}

/// Minimal markdown to HTML for report sections: `|`-tables become tables, fenced code
/// blocks `<pre>`, other non-empty lines paragraphs (escaped, no inline markup).
fn markdown_html(md: &str) -> String {
    let mut out = String::new();
    let mut table: Vec<Vec<String>> = Vec::new();
    let mut in_code = false;
    let flush = |table: &mut Vec<Vec<String>>, out: &mut String| {
        if table.is_empty() {
            return;
        }
        let header: Vec<String> = table.remove(0);
        let rows: Vec<Vec<String>> = table
            .drain(..)
            .filter(|r| !r.iter().all(|c| c.chars().all(|ch| ch == '-' || ch == ':')))
            .collect();
        let h: Vec<&str> = header.iter().map(String::as_str).collect();
        out.push_str(&html_table(&h, &rows));
    };
    for line in md.lines() {
        let t = line.trim();
        if t.starts_with("```") {
            flush(&mut table, &mut out);
            out.push_str(if in_code { "</pre>\n" } else { "<pre>" });
            in_code = !in_code;
            continue;
        }
        if in_code {
            out.push_str(&escape(line));
            out.push('\n');
            continue;
        }
        if t.starts_with('|') {
            let cells = t
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect();
            table.push(cells);
            continue;
        }
        flush(&mut table, &mut out);
        if !t.is_empty() {
            out.push_str(&format!("<p>{}</p>\n", escape(t)));
        }
    }
    flush(&mut table, &mut out);
    if in_code {
        out.push_str("</pre>\n");
    }
    out
}

impl Report {
    /// HTML: each section's title, its markdown body (tables as HTML tables) and its
    /// files, then the skipped steps.
    pub fn to_html(&self) -> String {
        let mut s = String::from("<div class=\"archconv-report\">\n");
        for sec in &self.sections {
            s.push_str(&format!(
                "<h3>{}</h3>\n{}",
                escape(&sec.title),
                markdown_html(&sec.markdown)
            ));
            if !sec.files.is_empty() {
                let files: Vec<String> = sec
                    .files
                    .iter()
                    .map(|f| format!("<code>{}</code>", escape(f)))
                    .collect();
                s.push_str(&format!("<p>Files: {}</p>\n", files.join(", ")));
            }
        }
        if !self.skipped.is_empty() {
            s.push_str("<h3>Skipped</h3>\n<ul>\n");
            for k in &self.skipped {
                s.push_str(&format!("<li>{}</li>\n", escape(k)));
            }
            s.push_str("</ul>\n");
        }
        s.push_str("</div>");
        s
    }

    /// Prints [`Report::to_html`] for evcxr.
    pub fn evcxr_display(&self) {
        print!("{}", evcxr_block("text/html", &self.to_html()));
    }
}

impl Figure {
    /// HTML: the SVG inline in a `div`.
    pub fn to_html(&self) -> String {
        format!("<div class=\"archconv-figure\">{}</div>", self.svg())
    }

    /// Shows the figure inline in evcxr (as HTML with the SVG embedded).
    pub fn evcxr_display(&self) {
        print!("{}", evcxr_block("text/html", &self.to_html()));
    }
}
