//! Ranking a sweep's runs by a metric, and writing them as a table, CSV and
//! JSON.

use std::cmp::Ordering;
use std::io::Write;

use anyhow::Context;
use serde_json::{Value, json};
use wasmtrade_engine::Report;

use super::Outcome;
use super::grid::{Combo, Grid, plain};

/// What a sweep ranks by; every metric ranks higher as better (drawdown is
/// negative, so the shallowest drawdown ranks first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Metric {
    /// Annualised Sharpe ratio.
    Sharpe,
    /// Total return [%].
    Return,
    /// Compound annual growth rate [%].
    Cagr,
    /// Max drawdown [%] (closer to zero is better).
    Drawdown,
    /// Win rate of closed trades [%].
    WinRate,
    /// Gross profits / gross losses.
    ProfitFactor,
    /// Return [%] / |max drawdown [%]| (the Calmar ratio over the run).
    ReturnOverDrawdown,
}

impl Metric {
    /// The metric's name on the command line and in the output.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Sharpe => "sharpe",
            Metric::Return => "return",
            Metric::Cagr => "cagr",
            Metric::Drawdown => "drawdown",
            Metric::WinRate => "win-rate",
            Metric::ProfitFactor => "profit-factor",
            Metric::ReturnOverDrawdown => "return-over-drawdown",
        }
    }

    /// The metric's value in `report`; NaN when it is undefined (no trades,
    /// no drawdown), which ranks last.
    pub fn of(self, report: &Report) -> f64 {
        let v = match self {
            Metric::Sharpe => report.sharpe,
            Metric::Return => report.total_return_pct,
            Metric::Cagr => report.cagr_pct,
            Metric::Drawdown => report.max_drawdown_pct,
            Metric::WinRate => report.win_rate_pct,
            Metric::ProfitFactor => report.profit_factor,
            Metric::ReturnOverDrawdown => {
                if report.max_drawdown_pct < 0.0 {
                    report.total_return_pct / -report.max_drawdown_pct
                } else {
                    f64::NAN
                }
            }
        };
        if v.is_nan() { f64::NAN } else { v }
    }

    /// The metric of an outcome; NaN for a failed run.
    pub fn of_outcome(self, outcome: &Outcome) -> f64 {
        outcome.as_ref().map_or(f64::NAN, |r| self.of(r))
    }
}

/// One combination's results.
#[derive(Clone, Debug)]
pub struct Row {
    /// The combination.
    pub combo: Combo,
    /// On the in-sample bars (all bars without a split).
    pub in_sample: Outcome,
    /// On the out-of-sample bars, for the best rows of a split sweep.
    pub out_of_sample: Option<Outcome>,
}

/// Indices of `outcomes` best first: by `metric` descending, undefined and
/// failed runs last, ties in grid order. Deterministic.
pub fn ranking(outcomes: &[Outcome], metric: Metric) -> Vec<usize> {
    let mut order: Vec<usize> = (0..outcomes.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (metric.of_outcome(&outcomes[a]), metric.of_outcome(&outcomes[b]));
        match (x.is_nan(), y.is_nan()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => y.partial_cmp(&x).unwrap_or(Ordering::Equal),
        }
        .then(a.cmp(&b))
    });
    order
}

/// Reads one field of a report as JSON.
type Field = fn(&Report) -> Value;

/// The report fields a sweep shows per run, with their column names.
const FIELDS: [(&str, Field); 10] = [
    ("total_return_pct", |r| json!(r.total_return_pct)),
    ("cagr_pct", |r| json!(r.cagr_pct)),
    ("sharpe", |r| json!(r.sharpe)),
    ("max_drawdown_pct", |r| json!(r.max_drawdown_pct)),
    ("trades", |r| json!(r.trades)),
    ("win_rate_pct", |r| json!(r.win_rate_pct)),
    ("profit_factor", |r| json!(r.profit_factor)),
    ("exposure_pct", |r| json!(r.exposure_pct)),
    ("final_equity", |r| json!(r.final_equity)),
    ("rejected_orders", |r| json!(r.rejected_orders)),
];

/// A JSON number that may be NaN or infinite (JSON has neither): `null`.
fn finite(v: f64) -> Value {
    if v.is_finite() { json!(v) } else { Value::Null }
}

/// One outcome as JSON: the report, or `{"error": ...}`.
pub fn outcome_json(outcome: &Outcome) -> Value {
    match outcome {
        Ok(report) => serde_json::to_value(report).unwrap_or(Value::Null),
        Err(e) => json!({ "error": e }),
    }
}

/// The params of a combination as a JSON object.
pub fn params_json(grid: &Grid, combo: &Combo) -> Value {
    Value::Object(
        grid.params
            .iter()
            .zip(combo)
            .map(|(p, v)| (p.name.clone(), v.clone()))
            .collect(),
    )
}

/// One row as JSON.
pub fn row_json(grid: &Grid, rank: usize, row: &Row, metric: Metric) -> Value {
    let mut v = json!({
        "rank": rank,
        "params": params_json(grid, &row.combo),
        "metric": finite(metric.of_outcome(&row.in_sample)),
        "in_sample": outcome_json(&row.in_sample),
    });
    if let Some(oos) = &row.out_of_sample {
        v["out_of_sample_metric"] = finite(metric.of_outcome(oos));
        v["out_of_sample"] = outcome_json(oos);
    }
    v
}

/// Writes every row, ranked, as CSV: rank, the params, the metric, the
/// report's main fields in-sample and (when run) out-of-sample, and the
/// error of a failed run.
pub fn write_csv(
    out: impl Write,
    grid: &Grid,
    rows: &[Row],
    order: &[usize],
    metric: Metric,
) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    let split = rows.iter().any(|r| r.out_of_sample.is_some());
    let mut header: Vec<String> = vec!["rank".into()];
    header.extend(grid.params.iter().map(|p| p.name.clone()));
    header.push(metric.as_str().to_string());
    header.extend(FIELDS.iter().map(|(n, _)| n.to_string()));
    if split {
        header.push(format!("oos_{}", metric.as_str()));
        header.extend(FIELDS.iter().map(|(n, _)| format!("oos_{n}")));
    }
    header.push("error".into());
    w.write_record(&header)?;
    let cells = |o: &Option<&Outcome>, record: &mut Vec<String>| match o {
        Some(Ok(r)) => record.extend(FIELDS.iter().map(|(_, f)| plain(&f(r)))),
        _ => record.extend(FIELDS.iter().map(|_| String::new())),
    };
    for (rank, &i) in order.iter().enumerate() {
        let row = &rows[i];
        let mut record = vec![(rank + 1).to_string()];
        record.extend(row.combo.iter().map(plain));
        record.push(number(metric.of_outcome(&row.in_sample)));
        cells(&Some(&row.in_sample), &mut record);
        if split {
            record.push(
                row.out_of_sample
                    .as_ref()
                    .map_or(String::new(), |o| number(metric.of_outcome(o))),
            );
            cells(&row.out_of_sample.as_ref(), &mut record);
        }
        let error = [Some(&row.in_sample), row.out_of_sample.as_ref()]
            .into_iter()
            .flatten()
            .find_map(|o| o.as_ref().err().cloned())
            .unwrap_or_default();
        record.push(error);
        w.write_record(&record)?;
    }
    w.flush().context("cannot write the sweep CSV")
}

fn number(v: f64) -> String {
    if v.is_finite() {
        v.to_string()
    } else {
        String::new()
    }
}

/// The top `top` rows as an aligned text table.
pub fn table(grid: &Grid, rows: &[Row], order: &[usize], metric: Metric, top: usize) -> String {
    let split = rows.iter().any(|r| r.out_of_sample.is_some());
    let mut header: Vec<String> = vec!["#".into()];
    header.extend(grid.params.iter().map(|p| p.name.clone()));
    header.extend(
        [metric.as_str(), "return%", "maxdd%", "trades"]
            .iter()
            .map(|s| s.to_string()),
    );
    if split {
        header.extend([
            format!("oos {}", metric.as_str()),
            "oos return%".into(),
            "oos maxdd%".into(),
        ]);
    }
    let mut lines = vec![header];
    for (rank, &i) in order.iter().take(top).enumerate() {
        let row = &rows[i];
        let mut line = vec![(rank + 1).to_string()];
        line.extend(row.combo.iter().map(plain));
        let figures = |o: &Outcome| match o {
            Ok(r) => vec![
                format!("{:.3}", metric.of(r)),
                format!("{:.2}", r.total_return_pct),
                format!("{:.2}", r.max_drawdown_pct),
                r.trades.to_string(),
            ],
            Err(e) => vec![
                format!("failed: {}", short(e)),
                String::new(),
                String::new(),
                String::new(),
            ],
        };
        line.extend(figures(&row.in_sample));
        if split {
            match &row.out_of_sample {
                Some(o) => line.extend(figures(o).into_iter().take(3)),
                None => line.extend([String::new(), String::new(), String::new()]),
            }
        }
        lines.push(line);
    }
    align(&lines)
}

/// The first line of an error, at most 60 characters (the CSV and JSON
/// carry it whole).
fn short(e: &str) -> String {
    let line = e.lines().next().unwrap_or(e);
    match line.char_indices().nth(60) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line.to_string(),
    }
}

/// Right-aligns columns of text (the first column left).
pub fn align(lines: &[Vec<String>]) -> String {
    let cols = lines.iter().map(Vec::len).max().unwrap_or(0);
    let width: Vec<usize> = (0..cols)
        .map(|c| {
            lines
                .iter()
                .filter_map(|l| l.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for line in lines {
        let cells: Vec<String> = line
            .iter()
            .enumerate()
            .map(|(c, s)| format!("{s:>w$}", w = width[c]))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// A report with the given Sharpe ratio and return, for tests.
#[cfg(test)]
pub(crate) fn fixture_report(sharpe: f64, ret: f64) -> Report {
    Report {
        start: String::new(),
        end: String::new(),
        bars: 1,
        initial_equity: "1".into(),
        final_equity: "1".into(),
        peak_equity: "1".into(),
        total_return_pct: ret,
        cagr_pct: 0.0,
        volatility_ann_pct: 0.0,
        sharpe,
        max_drawdown_pct: -1.0,
        exposure_pct: 0.0,
        trades: 1,
        win_rate_pct: 0.0,
        best_trade_pct: 0.0,
        worst_trade_pct: 0.0,
        avg_trade_pct: 0.0,
        profit_factor: 0.0,
        commissions: "0".into(),
        rejected_orders: 0,
        rejections: Default::default(),
        guest_logs: Default::default(),
        periods_per_year: 252.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::fixture_report as report;

    #[test]
    fn ranking_is_best_first_with_failures_and_nan_last_and_ties_in_grid_order() {
        let outcomes: Vec<Outcome> = vec![
            Ok(report(0.5, 1.0)),
            Err("init refused".into()),
            Ok(report(f64::NAN, 0.0)),
            Ok(report(1.5, 2.0)),
            Ok(report(0.5, 3.0)),
        ];
        assert_eq!(ranking(&outcomes, Metric::Sharpe), vec![3, 0, 4, 1, 2]);
        assert_eq!(ranking(&outcomes, Metric::Return), vec![4, 3, 0, 2, 1]);
    }

    #[test]
    fn return_over_drawdown_divides_by_the_drawdowns_size() {
        let r = report(0.0, 10.0);
        assert_eq!(Metric::ReturnOverDrawdown.of(&r), 10.0);
    }
}
