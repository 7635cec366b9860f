//! The backtest report: performance statistics from an equity curve and the
//! closed trades.
//!
//! Definitions (all computed in `f64` from exact fixed-point inputs, once,
//! at the end of a run):
//! - **total return** = final equity / initial equity − 1;
//! - **CAGR** = (final / initial)^(1 / years) − 1 with years = (last bar −
//!   first bar) / 365.25 days;
//! - **Sharpe** = mean / standard deviation (sample, n − 1) of per-period
//!   equity returns × √(periods per year), risk-free rate 0; periods per
//!   year come from the configuration or are inferred from the median bar
//!   spacing (≥ 6 days: 365.25 / spacing; ≥ 0.9 days: 252 trading days;
//!   intraday: 252 × 6.5 h / spacing);
//! - **max drawdown** = the largest fall from a running equity peak, as a
//!   fraction of that peak;
//! - **exposure** = the fraction of equity points at which any position was open;
//! - **trades** are closed round trips (FIFO lots); **win rate** = trades with
//!   a positive net P&L (after commissions) / trades;
//! - **rejections** count refused intents and orders by reason (the
//!   kebab-case [`RejectCode`]); they sum to `rejected_orders`.

use std::collections::BTreeMap;

use serde::Serialize;
use wasmtrade_model::{Money, RejectCode, Timestamp};

use crate::guest_logs::GuestLogSummary;

/// One point of the equity curve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EquityPoint {
    /// Time of the point (the bar's timestamp).
    pub ts: Timestamp,
    /// Equity after the bar.
    pub equity: Money,
    /// Whether any position was open.
    pub exposed: bool,
}

/// Per-trade figures the report needs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TradeOutcome {
    /// Net P&L after commissions.
    pub net_pnl: Money,
    /// Net return of the trade relative to its entry notional.
    pub return_pct: f64,
}

/// Summary statistics of a backtest.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// First bar.
    pub start: String,
    /// Last bar.
    pub end: String,
    /// Bars processed.
    pub bars: u64,
    /// Starting cash.
    pub initial_equity: String,
    /// Equity at the end (cash + marked positions).
    pub final_equity: String,
    /// Highest equity reached.
    pub peak_equity: String,
    /// Total return in percent.
    pub total_return_pct: f64,
    /// Compound annual growth rate in percent.
    pub cagr_pct: f64,
    /// Annualised volatility of per-period returns in percent.
    pub volatility_ann_pct: f64,
    /// Annualised Sharpe ratio (risk-free 0).
    pub sharpe: f64,
    /// Largest peak-to-trough fall in percent (negative or zero).
    pub max_drawdown_pct: f64,
    /// Percentage of time with an open position.
    pub exposure_pct: f64,
    /// Closed trades.
    pub trades: u64,
    /// Percentage of trades with a positive net P&L.
    pub win_rate_pct: f64,
    /// Best trade return in percent.
    pub best_trade_pct: f64,
    /// Worst trade return in percent.
    pub worst_trade_pct: f64,
    /// Mean trade return in percent.
    pub avg_trade_pct: f64,
    /// Gross profits / gross losses of closed trades (net of commissions).
    pub profit_factor: f64,
    /// Commissions paid.
    pub commissions: String,
    /// Orders the risk engine or the broker refused.
    pub rejected_orders: u64,
    /// [`Report::rejected_orders`] by reason, e.g. `{"max-position": 12}`.
    pub rejections: BTreeMap<RejectCode, u64>,
    /// What the guests logged: lines per level and the first distinct warnings.
    pub guest_logs: GuestLogSummary,
    /// Periods per year used to annualise.
    pub periods_per_year: f64,
}

/// Infers periods per year from the median spacing of timestamps.
pub fn infer_periods_per_year(points: &[EquityPoint]) -> f64 {
    let mut gaps: Vec<i64> = points
        .windows(2)
        .map(|w| w[1].ts.since(w[0].ts))
        .filter(|g| *g > 0)
        .collect();
    if gaps.is_empty() {
        return 252.0;
    }
    gaps.sort_unstable();
    let median = gaps[gaps.len() / 2] as f64 / 1e9;
    let days = median / 86_400.0;
    if days >= 6.0 {
        365.25 / days
    } else if days >= 0.9 {
        252.0
    } else {
        252.0 * 6.5 * 3600.0 / median
    }
}

/// Inputs of [`Report::compute`] besides the curve.
#[derive(Clone, Debug)]
pub struct ReportInputs {
    /// Starting equity.
    pub initial: Money,
    /// Bars processed.
    pub bars: u64,
    /// Commissions paid.
    pub commissions: Money,
    /// Refused orders.
    pub rejected_orders: u64,
    /// Refused orders by reason.
    pub rejections: BTreeMap<RejectCode, u64>,
    /// What the guests logged.
    pub guest_logs: GuestLogSummary,
    /// Periods per year, or `None` to infer.
    pub periods_per_year: Option<f64>,
}

impl Report {
    /// Computes the report.
    pub fn compute(curve: &[EquityPoint], trades: &[TradeOutcome], inputs: ReportInputs) -> Report {
        let initial = inputs.initial.to_f64();
        let final_equity = curve.last().map_or(inputs.initial, |p| p.equity);
        let peak = curve
            .iter()
            .map(|p| p.equity)
            .max()
            .unwrap_or(inputs.initial)
            .max(inputs.initial);
        let ppy = inputs
            .periods_per_year
            .unwrap_or_else(|| infer_periods_per_year(curve));
        let total_return = if initial > 0.0 {
            final_equity.to_f64() / initial - 1.0
        } else {
            0.0
        };

        let (start, end) = match (curve.first(), curve.last()) {
            (Some(a), Some(b)) => (a.ts, b.ts),
            _ => (Timestamp::EPOCH, Timestamp::EPOCH),
        };
        let years = end.since(start) as f64 / 1e9 / (365.25 * 86_400.0);
        let growth = if initial > 0.0 {
            final_equity.to_f64() / initial
        } else {
            0.0
        };
        let cagr = if years > 0.0 && growth > 0.0 {
            growth.powf(1.0 / years) - 1.0
        } else {
            0.0
        };

        // Each point converts to f64 once.
        let equity: Vec<f64> = curve.iter().map(|p| p.equity.to_f64()).collect();

        // Per-period returns, starting from the initial equity.
        let mut prev = initial;
        let mut n = 0.0f64;
        let mut mean = 0.0f64;
        let mut m2 = 0.0f64;
        for &e in &equity {
            if prev > 0.0 {
                let r = e / prev - 1.0;
                n += 1.0;
                let d = r - mean;
                mean += d / n;
                m2 += d * (r - mean);
            }
            prev = e;
        }
        let std = if n > 1.0 { (m2 / (n - 1.0)).sqrt() } else { 0.0 };
        let sharpe = if std > 0.0 { mean / std * ppy.sqrt() } else { 0.0 };

        let mut run_peak = initial;
        let mut max_dd = 0.0f64;
        for &e in &equity {
            run_peak = run_peak.max(e);
            if run_peak > 0.0 {
                max_dd = max_dd.min(e / run_peak - 1.0);
            }
        }
        let exposure = if curve.is_empty() {
            0.0
        } else {
            curve.iter().filter(|p| p.exposed).count() as f64 / curve.len() as f64
        };

        let wins = trades.iter().filter(|t| t.net_pnl.is_positive()).count();
        let gross_win: Money = trades.iter().map(|t| t.net_pnl).filter(|m| m.is_positive()).sum();
        let gross_loss: Money = trades.iter().map(|t| t.net_pnl).filter(|m| m.is_negative()).sum();
        let rets: Vec<f64> = trades.iter().map(|t| t.return_pct).collect();
        let pct = |v: f64| v * 100.0;
        Report {
            start: start.to_string(),
            end: end.to_string(),
            bars: inputs.bars,
            initial_equity: format!("{:.2}", inputs.initial),
            final_equity: format!("{final_equity:.2}"),
            peak_equity: format!("{peak:.2}"),
            total_return_pct: pct(total_return),
            cagr_pct: pct(cagr),
            volatility_ann_pct: pct(std * ppy.sqrt()),
            sharpe,
            max_drawdown_pct: pct(max_dd),
            exposure_pct: pct(exposure),
            trades: trades.len() as u64,
            win_rate_pct: if trades.is_empty() {
                0.0
            } else {
                pct(wins as f64 / trades.len() as f64)
            },
            best_trade_pct: rets
                .iter()
                .copied()
                .fold(None, |a: Option<f64>, b| Some(a.map_or(b, |a| a.max(b))))
                .map_or(0.0, pct),
            worst_trade_pct: rets
                .iter()
                .copied()
                .fold(None, |a: Option<f64>, b| Some(a.map_or(b, |a| a.min(b))))
                .map_or(0.0, pct),
            avg_trade_pct: if rets.is_empty() {
                0.0
            } else {
                pct(rets.iter().sum::<f64>() / rets.len() as f64)
            },
            profit_factor: if gross_loss.is_negative() {
                gross_win.to_f64() / (-gross_loss).to_f64()
            } else if gross_win.is_positive() {
                f64::INFINITY
            } else {
                0.0
            },
            commissions: format!("{:.2}", inputs.commissions),
            rejected_orders: inputs.rejected_orders,
            rejections: inputs.rejections,
            guest_logs: inputs.guest_logs,
            periods_per_year: ppy,
        }
    }

    /// The report as `(label, value)` rows for a table: the rejections by
    /// reason and the guests' warnings only when there are any.
    pub fn rows(&self) -> Vec<(&'static str, String)> {
        let mut rows = vec![
            ("Start", self.start.clone()),
            ("End", self.end.clone()),
            ("Bars", self.bars.to_string()),
            ("Initial equity", self.initial_equity.clone()),
            ("Final equity", self.final_equity.clone()),
            ("Peak equity", self.peak_equity.clone()),
            ("Total return [%]", format!("{:.2}", self.total_return_pct)),
            ("CAGR [%]", format!("{:.2}", self.cagr_pct)),
            ("Volatility (ann.) [%]", format!("{:.2}", self.volatility_ann_pct)),
            ("Sharpe ratio", format!("{:.3}", self.sharpe)),
            ("Max drawdown [%]", format!("{:.2}", self.max_drawdown_pct)),
            ("Exposure [%]", format!("{:.2}", self.exposure_pct)),
            ("Trades", self.trades.to_string()),
            ("Win rate [%]", format!("{:.2}", self.win_rate_pct)),
            ("Best trade [%]", format!("{:.2}", self.best_trade_pct)),
            ("Worst trade [%]", format!("{:.2}", self.worst_trade_pct)),
            ("Avg trade [%]", format!("{:.2}", self.avg_trade_pct)),
            ("Profit factor", format!("{:.3}", self.profit_factor)),
            ("Commissions", self.commissions.clone()),
            ("Rejected orders", self.rejected_orders.to_string()),
        ];
        if !self.rejections.is_empty() {
            rows.push(("Rejected by reason", self.rejections_text()));
        }
        rows.extend(self.guest_logs.rows());
        rows
    }

    /// `max-position 12, broker 1`: the most frequent reason first (ties in
    /// code order).
    fn rejections_text(&self) -> String {
        let mut by_count: Vec<(&RejectCode, &u64)> = self.rejections.iter().collect();
        by_count.sort_by(|a, b| b.1.cmp(a.1));
        by_count
            .iter()
            .map(|(code, n)| format!("{code} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn pt(day: i64, equity: i64, exposed: bool) -> EquityPoint {
        EquityPoint {
            ts: Timestamp::from_secs(day * 86_400),
            equity: Money::from_int(equity),
            exposed,
        }
    }

    fn inputs(initial: i64) -> ReportInputs {
        ReportInputs {
            initial: Money::from_int(initial),
            bars: 0,
            commissions: Money::ZERO,
            rejected_orders: 0,
            rejections: BTreeMap::new(),
            guest_logs: GuestLogSummary::default(),
            periods_per_year: None,
        }
    }

    #[test]
    fn max_drawdown_is_largest_fall_from_a_peak() {
        let curve = [
            pt(1, 100, false),
            pt(2, 120, true),
            pt(3, 90, true),
            pt(4, 130, true),
            pt(5, 117, true),
        ];
        let r = Report::compute(&curve, &[], inputs(100));
        assert!((r.max_drawdown_pct - (-25.0)).abs() < 1e-9);
        assert!((r.exposure_pct - 80.0).abs() < 1e-9);
        assert!((r.total_return_pct - 17.0).abs() < 1e-9);
        assert_eq!(r.peak_equity, "130.00");
    }

    #[test]
    fn cagr_over_exactly_one_year_equals_total_return() {
        let curve = [
            pt(0, 100, false),
            pt(365, 100, false),
            EquityPoint {
                ts: Timestamp::from_nanos((365.25 * 86_400.0 * 1e9) as i64),
                equity: Money::from_int(110),
                exposed: false,
            },
        ];
        let r = Report::compute(&curve, &[], inputs(100));
        assert!((r.cagr_pct - 10.0).abs() < 1e-6, "{}", r.cagr_pct);
    }

    #[test]
    fn sharpe_is_zero_for_a_flat_curve_and_positive_for_steady_gains() {
        let flat: Vec<_> = (0..10).map(|d| pt(d, 100, false)).collect();
        assert_eq!(Report::compute(&flat, &[], inputs(100)).sharpe, 0.0);
        let up: Vec<_> = (0..10).map(|d| pt(d, 100 + d * d, true)).collect();
        assert!(Report::compute(&up, &[], inputs(100)).sharpe > 0.0);
    }

    #[test]
    fn win_rate_and_profit_factor_count_net_pnl() {
        let t = |pnl: i64, r: f64| TradeOutcome {
            net_pnl: Money::from_int(pnl),
            return_pct: r,
        };
        let trades = [t(10, 0.1), t(-5, -0.05), t(20, 0.2), t(0, 0.0)];
        let r = Report::compute(&[pt(0, 100, false)], &trades, inputs(100));
        assert_eq!(r.trades, 4);
        assert!((r.win_rate_pct - 50.0).abs() < 1e-9);
        assert!((r.profit_factor - 6.0).abs() < 1e-9);
        assert!((r.best_trade_pct - 20.0).abs() < 1e-9);
        assert!((r.worst_trade_pct + 5.0).abs() < 1e-9);
    }

    #[test]
    fn rejections_by_reason_are_a_row_and_kebab_case_json_keys() {
        let mut i = inputs(100);
        assert!(
            !Report::compute(&[], &[], i.clone())
                .rows()
                .iter()
                .any(|(l, _)| *l == "Rejected by reason"),
            "no row without rejections"
        );
        i.rejected_orders = 5;
        i.rejections = BTreeMap::from([(RejectCode::Broker, 1), (RejectCode::MaxPosition, 4)]);
        let r = Report::compute(&[], &[], i);
        let row = r.rows().into_iter().find(|(l, _)| *l == "Rejected by reason");
        assert_eq!(row.map(|(_, v)| v).as_deref(), Some("max-position 4, broker 1"));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(
            json["rejections"],
            serde_json::json!({"broker": 1, "max-position": 4})
        );
        assert_eq!(json["guest_logs"]["warn"], 0);
    }

    #[test]
    fn infers_trading_days_for_daily_bars_and_weeks_for_weekly() {
        let daily: Vec<_> = (0..10).map(|d| pt(d, 100, false)).collect();
        assert_eq!(infer_periods_per_year(&daily), 252.0);
        let weekly: Vec<_> = (0..10).map(|d| pt(d * 7, 100, false)).collect();
        assert!((infer_periods_per_year(&weekly) - 52.178).abs() < 0.01);
    }
}
