//! `wasmtrade backtest --html`: one run as a single self-contained HTML page.
//!
//! The page holds the report's figures (the rows of the printed table, each
//! value in a cell with an id such as `final-equity`), the equity curve, the
//! drawdown and the traded instrument's close with the trades marked (each
//! chart an inline SVG drawn by plotters, long curves downsampled so a
//! million-bar run still gives a small page), and the closed trades. No
//! scripts, no network, no external styles or fonts: it opens anywhere,
//! from a file, and equal runs give byte-identical pages (no timings).

mod charts;

use std::fmt::Write;
use std::path::Path;

use anyhow::Context;
use wasmtrade_engine::BacktestResult;
use wasmtrade_model::{Bar, InstrumentId};
use wasmtrade_oms::ClosedTrade;

use charts::{Marked, TimeAxis};

/// Rows of the trades table on the page (`--trades-csv` has them all).
const PAGE_TRADES: usize = 500;

/// What the page shows: the run, the bars it ran on and where both came from.
pub(crate) struct Run<'a> {
    /// The backtest's result.
    pub result: &'a BacktestResult,
    /// The bars the backtest ran on (the price chart's close).
    pub bars: &'a [Bar],
    /// The strategy component, as the report names it.
    pub strategy: &'a str,
    /// Where the bars came from, as the report says it.
    pub data: &'a str,
}

/// Writes the page of `run` to `path`.
pub(crate) fn write(path: &Path, run: &Run<'_>) -> anyhow::Result<()> {
    let page = page(run)?;
    std::fs::write(path, page).with_context(|| format!("cannot write the HTML report to {}", path.display()))
}

/// The page of `run`.
pub(crate) fn page(run: &Run<'_>) -> anyhow::Result<String> {
    let result = run.result;
    let title = format!("wasmtrade backtest: {}", run.strategy);
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title>\n<style>{STYLE}</style></head><body>\n<h1>{title}</h1>\n",
        title = escape(&title)
    );
    html.push_str("<dl id=\"run\">\n");
    let mut facts = vec![
        ("Strategy", run.strategy.to_string()),
        ("Data", run.data.to_string()),
    ];
    for s in &result.strategies {
        facts.push(("Guest", format!("{} as `{}`", s.info, s.id)));
    }
    for (k, v) in facts {
        let _ = writeln!(html, "<dt>{}</dt><dd>{}</dd>", escape(k), escape(&v));
    }
    html.push_str("</dl>\n");
    figures(&mut html, &result.report.rows());

    let instrument = traded_instrument(result, run.bars);
    let axis = TimeAxis::of(run.bars, result);
    html.push_str("<h2>Equity</h2>\n<figure id=\"equity-chart\">\n");
    html.push_str(&charts::equity(&axis, result)?);
    html.push_str("\n</figure>\n<h2>Drawdown</h2>\n<figure id=\"drawdown-chart\">\n");
    html.push_str(&charts::drawdown(&axis, result)?);
    html.push_str("\n</figure>\n<h2>Price and trades</h2>\n<figure id=\"price-chart\">\n");
    let symbol = instrument
        .and_then(|id| result.instruments.get(id))
        .map_or_else(|| "?".to_string(), |i| i.symbol.to_string());
    let closes: Vec<&Bar> = run
        .bars
        .iter()
        .filter(|b| Some(b.instrument) == instrument)
        .collect();
    let trades: Vec<&ClosedTrade> = result
        .trades
        .iter()
        .filter(|t| Some(t.instrument) == instrument)
        .collect();
    let marked = Marked::of(&trades);
    html.push_str(&charts::price(&axis, &symbol, &closes, &marked)?);
    let _ = writeln!(
        html,
        "\n<figcaption>{}</figcaption>\n</figure>",
        escape(&price_caption(&symbol, result, &marked))
    );
    trades_table(&mut html, result);
    html.push_str("</body></html>\n");
    Ok(html)
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222;max-width:1200px}\
    table{border-collapse:collapse;margin:1em 0}\
    td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}\
    th{background:#f3f3f3}#figures th{text-align:left}\
    dt{font-weight:bold;float:left;clear:left;width:6em}dd{margin-left:7em}\
    figure{margin:1em 0}svg{max-width:100%;height:auto}\
    figcaption{color:#555;font-size:90%}\
    .long{color:#1a7f37}.short{color:#c62828}.loss{color:#c62828}.note{color:#555}";

/// The report's figures as a two-column table; each value cell has the id
/// of its label (`Final equity` → `final-equity`).
fn figures(html: &mut String, rows: &[(&'static str, String)]) {
    html.push_str("<h2>Figures</h2>\n<table id=\"figures\">\n");
    let mut ids: Vec<String> = Vec::new();
    for (label, value) in rows {
        let id = slug(label);
        let id = if id.is_empty() || ids.contains(&id) {
            String::new()
        } else {
            ids.push(id.clone());
            format!(" id=\"{id}\"")
        };
        let _ = writeln!(
            html,
            "<tr><th scope=\"row\">{}</th><td{id}>{}</td></tr>",
            escape(label),
            escape(value)
        );
    }
    html.push_str("</table>\n");
}

/// The closed trades, at most [`PAGE_TRADES`] of them.
fn trades_table(html: &mut String, result: &BacktestResult) {
    let n = result.trades.len();
    html.push_str("<h2>Trades</h2>\n");
    if n == 0 {
        html.push_str("<p class=\"note\">No closed trades.</p>\n");
        return;
    }
    if n > PAGE_TRADES {
        let _ = writeln!(
            html,
            "<p class=\"note\">The first {PAGE_TRADES} of {n} closed trades; \
             <code>--trades-csv</code> writes them all.</p>"
        );
    }
    html.push_str(
        "<table id=\"trades\">\n<thead><tr><th>#</th><th>direction</th><th>symbol</th>\
         <th>quantity</th><th>entry time</th><th>entry price</th><th>exit time</th>\
         <th>exit price</th><th>commission</th><th>net P&amp;L</th><th>return [%]</th></tr></thead>\n<tbody>\n",
    );
    for (i, t) in result.trades.iter().take(PAGE_TRADES).enumerate() {
        let symbol = result
            .instruments
            .get(t.instrument)
            .map_or("?", |i| i.symbol.as_str());
        let entry = t.entry_notional().to_f64();
        let ret = if entry > 0.0 {
            t.net_pnl.to_f64() / entry * 100.0
        } else {
            0.0
        };
        let pnl_class = if t.net_pnl.is_negative() {
            " class=\"loss\""
        } else {
            ""
        };
        let _ = writeln!(
            html,
            "<tr class=\"trade\"><td>{}</td><td class=\"{dir}\">{dir}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td{pnl_class}>{}</td>\
             <td{pnl_class}>{ret:.2}</td></tr>",
            i + 1,
            escape(symbol),
            t.quantity,
            t.entry_ts,
            t.entry_price,
            t.exit_ts,
            t.exit_price,
            t.commission,
            t.net_pnl,
            dir = t.direction.as_str(),
        );
    }
    html.push_str("</tbody>\n</table>\n");
}

/// The instrument the price chart shows: the first one filled, else the
/// first bar's.
fn traded_instrument(result: &BacktestResult, bars: &[Bar]) -> Option<InstrumentId> {
    result
        .fills
        .first()
        .map(|f| f.instrument)
        .or_else(|| bars.first().map(|b| b.instrument))
}

fn price_caption(symbol: &str, result: &BacktestResult, marked: &Marked<'_>) -> String {
    let mut text = format!(
        "Close of {symbol}; ▲ long entry, ▼ short entry, ✕ exit (green long, red short), \
         at the fill prices of the closed trades."
    );
    if marked.every > 1 {
        let _ = write!(
            text,
            " One in {} of the {} trades is marked.",
            marked.every, marked.total
        );
    }
    let others = result
        .trades
        .iter()
        .filter(|t| !marked.trades.iter().any(|m| m.instrument == t.instrument))
        .count();
    if others > 0 && !marked.trades.is_empty() {
        let _ = write!(
            text,
            " {others} trades in other instruments are in the table, not on this chart."
        );
    }
    text
}

/// `Total return [%]` → `total-return`: lowercase ASCII letters and digits,
/// other runs of characters as one `-`, units in brackets dropped.
fn slug(label: &str) -> String {
    let label = label.split('[').next().unwrap_or_default();
    let mut out = String::new();
    for c in label.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

/// Escapes text for HTML element content and quoted attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use wasmtrade_engine::{EngineStats, EquityPoint, GuestLogSummary, Report, ReportInputs, TradeOutcome};
    use wasmtrade_model::{Instruments, Money, Quantity, StrategyId};
    use wasmtrade_oms::Direction;

    use super::*;

    /// The embedded synthetic bars, an equity curve over them and two
    /// trades (a long and a short) with a symbol that needs escaping.
    fn fixture(trades: usize) -> (BacktestResult, Vec<Bar>) {
        let mut instruments = Instruments::new();
        let bars =
            wasmtrade_market::generate(&super::super::data::default_config(), &mut instruments).unwrap();
        let curve: Vec<EquityPoint> = bars
            .iter()
            .enumerate()
            .map(|(i, b)| EquityPoint {
                ts: b.ts,
                equity: Money::from_f64(10_000.0 + 500.0 * (i as f64 / 90.0).sin()).unwrap(),
                exposed: i % 3 == 0,
            })
            .collect();
        let trades: Vec<ClosedTrade> = (0..trades)
            .map(|n| {
                let (a, b) = (&bars[(n * 7) % 2000], &bars[(n * 7) % 2000 + 5]);
                ClosedTrade {
                    strategy: StrategyId::new("s"),
                    instrument: a.instrument,
                    direction: if n % 2 == 0 {
                        Direction::Long
                    } else {
                        Direction::Short
                    },
                    quantity: Quantity::from_int(3),
                    entry_ts: a.ts,
                    entry_price: a.close,
                    exit_ts: b.ts,
                    exit_price: b.close,
                    gross_pnl: Money::from_int(-4),
                    commission: Money::from_int(1),
                    net_pnl: Money::from_int(-5),
                }
            })
            .collect();
        let outcomes: Vec<TradeOutcome> = trades
            .iter()
            .map(|t| TradeOutcome {
                net_pnl: t.net_pnl,
                return_pct: -0.01,
            })
            .collect();
        let report = Report::compute(
            &curve,
            &outcomes,
            ReportInputs {
                initial: Money::from_int(10_000),
                bars: bars.len() as u64,
                commissions: Money::ZERO,
                rejected_orders: 0,
                rejections: BTreeMap::new(),
                guest_logs: GuestLogSummary::default(),
                periods_per_year: None,
            },
        );
        let result = BacktestResult {
            report,
            trades,
            fills: Vec::new(),
            equity_curve: curve,
            initial_equity: Money::from_int(10_000),
            stats: EngineStats::default(),
            strategies: Vec::new(),
            instruments: Arc::new(instruments),
        };
        (result, bars)
    }

    fn page_of(result: &BacktestResult, bars: &[Bar]) -> String {
        page(&Run {
            result,
            bars,
            strategy: "guests/<odd> & \"name\".wasm",
            data: "synthetic",
        })
        .unwrap()
    }

    #[test]
    fn the_page_has_the_figures_three_charts_and_the_trades() {
        let (result, bars) = fixture(2);
        let html = page_of(&result, &bars);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert_eq!(html.matches("<svg").count(), 3, "equity, drawdown, price");
        let cell = format!("<td id=\"final-equity\">{}</td>", result.report.final_equity);
        assert!(html.contains(&cell), "{cell} not in the page");
        for (label, _) in result.report.rows() {
            assert!(html.contains(&format!(">{}</th>", escape(label))), "{label}");
        }
        assert!(html.contains("<td id=\"total-return\">"));
        assert!(html.contains("<td id=\"volatility-ann\">"));
        assert_eq!(html.matches("<tr class=\"trade\">").count(), 2);
        assert!(html.contains("long entry") && html.contains("short entry"));
        assert!(html.contains("guests/&lt;odd&gt; &amp; &quot;name&quot;.wasm"));
        assert!(!html.contains("<odd>"));
        assert!(!html.contains("<script") && !html.contains("http://") && !html.contains("https://"));
        assert_eq!(html, page_of(&result, &bars), "equal runs, equal pages");
    }

    #[test]
    fn the_trades_table_stops_at_the_cap_with_a_note() {
        let (result, bars) = fixture(PAGE_TRADES + 40);
        let html = page_of(&result, &bars);
        assert_eq!(html.matches("<tr class=\"trade\">").count(), PAGE_TRADES);
        assert!(html.contains(&format!(
            "The first {PAGE_TRADES} of {} closed trades",
            PAGE_TRADES + 40
        )));
        assert!(html.contains("One in 2 of the 540 trades is marked."));
    }

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(escape("a<b>&\"c\"'d'"), "a&lt;b&gt;&amp;&quot;c&quot;&#39;d&#39;");
        assert_eq!(escape("plain ünïcode"), "plain ünïcode");
    }

    #[test]
    fn figure_ids_come_from_the_labels() {
        assert_eq!(slug("Final equity"), "final-equity");
        assert_eq!(slug("Total return [%]"), "total-return");
        assert_eq!(slug("Volatility (ann.) [%]"), "volatility-ann");
        assert_eq!(slug(""), "");
        let mut html = String::new();
        figures(
            &mut html,
            &[("Guest warnings", "1".into()), ("", "a".into()), ("", "b".into())],
        );
        assert!(html.contains("<td id=\"guest-warnings\">1</td>") && html.contains("<td>b</td>"));
    }
}
