//! The sweep's self-contained HTML page: summary, heatmap (inline SVG drawn
//! by plotters), the ranked table and the walk-forward windows. No scripts,
//! no network: it opens anywhere, from a file.

use std::fmt::Write;

use wasmtrade_engine::Report;

use super::{Fold, Summary, Sweep, span_text, walk_forward_totals};
use crate::sweep::grid::plain;

/// Rows of the ranked table on the page (the CSV has them all).
const PAGE_ROWS: usize = 200;

use crate::commands::backtest_html::escape as esc;

fn cells(tag: &str, values: impl IntoIterator<Item = String>) -> String {
    let mut row = String::from("<tr>");
    for v in values {
        let _ = write!(row, "<{tag}>{}</{tag}>", esc(&v));
    }
    row.push_str("</tr>\n");
    row
}

fn figures(metric: crate::sweep::rank::Metric, r: &Result<Report, String>) -> Vec<String> {
    match r {
        Ok(r) => vec![
            format!("{:.3}", metric.of(r)),
            format!("{:.2}", r.total_return_pct),
            format!("{:.3}", r.sharpe),
            format!("{:.2}", r.max_drawdown_pct),
            r.trades.to_string(),
            r.final_equity.clone(),
        ],
        Err(e) => vec![
            format!("failed: {e}"),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ],
    }
}

/// The page.
pub(super) fn page(s: &Summary<'_>, sweep: &Sweep) -> anyhow::Result<String> {
    let metric = s.args.metric;
    let mut html = String::new();
    let title = format!("wasmtrade sweep: {}", s.args.backtest.strategy.display());
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\n<style>\
         body{{font-family:sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse;margin:1em 0}}\
         td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}th{{background:#f3f3f3}}\
         dt{{font-weight:bold;float:left;clear:left;width:11em}}dd{{margin-left:12em}}</style></head><body>\n<h1>{}</h1>\n<dl>\n",
        esc(&title),
        esc(&title)
    );
    let mut facts = vec![
        ("Data".to_string(), format!("{} ({} bars)", s.data, s.bars.len())),
        (
            "Search".to_string(),
            format!(
                "{} of {} grid combinations ({}), ranked by {}",
                s.combos,
                s.setup.grid.size(),
                s.args.grid.join(" "),
                metric.as_str()
            ),
        ),
    ];
    if !s.args.constraints.is_empty() {
        facts.push(("Constraints".into(), s.args.constraints.join(", ")));
    }
    facts.push(("Timings".into(), s.timing.to_string()));
    match sweep {
        Sweep::Split(sw) => {
            facts.push(("In-sample".into(), span_text(sw.in_sample, s.bars)));
            facts.push((
                "Out-of-sample".into(),
                sw.out_of_sample.map_or("none".into(), |o| span_text(o, s.bars)),
            ));
        }
        Sweep::WalkForward(folds) => {
            let (mean, compounded) = walk_forward_totals(folds, metric);
            facts.push((
                "Walk-forward".into(),
                format!(
                    "{} windows; out-of-sample mean {} {}, compounded return {:.2} %",
                    folds.len(),
                    metric.as_str(),
                    mean.map_or("n/a".into(), |m| format!("{m:.3}")),
                    compounded
                ),
            ));
        }
    }
    for (k, v) in facts {
        let _ = writeln!(html, "<dt>{}</dt><dd>{}</dd>", esc(&k), esc(&v));
    }
    html.push_str("</dl>\n");
    if let Some(h) = s.heatmap {
        html.push_str("<h2>Heatmap</h2>\n<figure id=\"heatmap\">\n");
        html.push_str(&h.svg()?);
        html.push_str("\n</figure>\n");
    }
    match sweep {
        Sweep::Split(sw) => {
            let split = sw.out_of_sample.is_some();
            let _ = writeln!(html, "<h2>Ranking</h2>\n<table id=\"ranking\">");
            let mut head: Vec<String> = vec!["#".into()];
            head.extend(s.setup.grid.params.iter().map(|p| p.name.clone()));
            let fig = |prefix: &str| -> Vec<String> {
                [
                    metric.as_str(),
                    "return %",
                    "sharpe",
                    "max dd %",
                    "trades",
                    "final equity",
                ]
                .iter()
                .map(|n| format!("{prefix}{n}"))
                .collect()
            };
            head.extend(fig(""));
            if split {
                head.extend(fig("oos "));
            }
            html.push_str(&cells("th", head));
            for (rank, &i) in sw.order.iter().take(PAGE_ROWS).enumerate() {
                let row = &sw.rows[i];
                let mut line = vec![(rank + 1).to_string()];
                line.extend(row.combo.iter().map(plain));
                line.extend(figures(metric, &row.in_sample));
                if split {
                    match &row.out_of_sample {
                        Some(o) => line.extend(figures(metric, o)),
                        None => line.extend(std::iter::repeat_n(String::new(), 6)),
                    }
                }
                html.push_str(&cells("td", line));
            }
            html.push_str("</table>\n");
            if sw.rows.len() > PAGE_ROWS {
                let _ = writeln!(
                    html,
                    "<p>{} more rows in the CSV (--csv).</p>",
                    sw.rows.len() - PAGE_ROWS
                );
            }
        }
        Sweep::WalkForward(folds) => folds_table(&mut html, s, folds),
    }
    html.push_str("</body></html>\n");
    Ok(html)
}

fn folds_table(html: &mut String, s: &Summary<'_>, folds: &[Fold]) {
    let metric = s.args.metric;
    html.push_str("<h2>Walk-forward windows</h2>\n<table id=\"walk-forward\">\n");
    let mut head: Vec<String> = vec!["window".into(), "in-sample".into(), "out-of-sample".into()];
    head.extend(s.setup.grid.params.iter().map(|p| p.name.clone()));
    head.extend(
        [
            metric.as_str(),
            "return %",
            "sharpe",
            "max dd %",
            "trades",
            "final equity",
        ]
        .iter()
        .map(|n| format!("oos {n}")),
    );
    html.push_str(&cells("th", head));
    for (n, f) in folds.iter().enumerate() {
        let mut line = vec![
            (n + 1).to_string(),
            span_text(f.in_sample, s.bars),
            span_text(f.out_of_sample, s.bars),
        ];
        match &f.best {
            Some(c) => line.extend(c.iter().map(plain)),
            None => line.extend(s.setup.grid.params.iter().map(|_| "-".to_string())),
        }
        match &f.out_of_sample_outcome {
            Some(o) => line.extend(figures(metric, o)),
            None => line.extend(figures(metric, &f.best_in_sample)),
        }
        html.push_str(&cells("td", line));
    }
    html.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }
}
