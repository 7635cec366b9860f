//! The backtest driver: replays bars through the engine with the paper
//! broker on a simulated clock and produces a [`Report`] and the trades.

use std::io::Write;
use std::sync::Arc;

use wasmtrade_broker::paper::{PaperBroker, PaperConfig};
use wasmtrade_model::{Bar, Fill, IndicatorGuest, Instruments, Money, StrategyGuest, StrategyId, Timestamp};
use wasmtrade_oms::{ClosedTrade, Oms};
use wasmtrade_risk::{Engine as RiskEngine, RiskConfig};

use crate::engine::{Engine, EngineConfig, EngineStats, FaultPolicy};
use crate::error::EngineError;
use crate::report::{EquityPoint, Report, ReportInputs, TradeOutcome};
use crate::slots::{SlotCounters, SlotState};

/// How often (in bars) the progress callback is called.
pub const PROGRESS_EVERY: u64 = 1 << 16;

/// Settings of a backtest.
#[derive(Clone, Debug)]
pub struct BacktestConfig {
    /// Starting cash.
    pub starting_cash: Money,
    /// Paper broker settings (fill timing, commissions, slippage).
    pub paper: PaperConfig,
    /// Risk limits.
    pub risk: RiskConfig,
    /// Periods per year for annualised figures; `None` infers from the data.
    pub periods_per_year: Option<f64>,
    /// The work one bar may cause for one strategy (the same budget as
    /// live; over it the run stops with the strategy's fault).
    pub budget: crate::EventBudget,
}

impl Default for BacktestConfig {
    fn default() -> Self {
        Self {
            starting_cash: Money::from_int(10_000),
            paper: PaperConfig::default(),
            risk: RiskConfig::default(),
            periods_per_year: None,
            budget: crate::EventBudget::default(),
        }
    }
}

/// What a strategy did in a run.
#[derive(Clone, Debug)]
pub struct StrategySummary {
    /// Strategy id.
    pub id: StrategyId,
    /// What the guest said about itself.
    pub info: wasmtrade_model::GuestInfo,
    /// Event counters.
    pub counters: SlotCounters,
    /// Final state.
    pub state: SlotState,
}

/// Everything a backtest produced.
#[derive(Clone, Debug)]
pub struct BacktestResult {
    /// Summary statistics.
    pub report: Report,
    /// Closed round-trip trades, in closing order.
    pub trades: Vec<ClosedTrade>,
    /// Every fill, in order.
    pub fills: Vec<Fill>,
    /// Equity after each distinct timestamp.
    pub equity_curve: Vec<EquityPoint>,
    /// Starting cash (the equity before the first bar).
    pub initial_equity: Money,
    /// Run counters.
    pub stats: EngineStats,
    /// Per-strategy summaries.
    pub strategies: Vec<StrategySummary>,
    /// Instruments of the run.
    pub instruments: Arc<Instruments>,
}

/// A configured backtest, ready to run.
pub struct Backtest {
    engine: Engine<PaperBroker>,
    config: BacktestConfig,
}

impl Backtest {
    /// A backtest over `instruments`.
    pub fn new(instruments: Arc<Instruments>, config: BacktestConfig) -> Result<Self, EngineError> {
        config.budget.validate()?;
        let risk = RiskEngine::new(config.risk.clone());
        let oms = Oms::new(config.starting_cash);
        let broker = PaperBroker::try_new(config.paper, &instruments).map_err(|e| EngineError::Config {
            what: "paper broker",
            reason: e.to_string(),
        })?;
        let engine = Engine::new(
            instruments,
            risk,
            oms,
            broker,
            EngineConfig {
                fault_policy: FaultPolicy::Abort,
                flatten_on_fault: false,
                budget: config.budget,
            },
        );
        Ok(Self { engine, config })
    }

    /// Adds a strategy.
    pub fn add_strategy(&mut self, id: StrategyId, guest: Box<dyn StrategyGuest>) -> Result<(), EngineError> {
        self.engine.add_strategy(id, guest)
    }

    /// Adds an indicator.
    pub fn add_indicator(&mut self, name: String, guest: Box<dyn IndicatorGuest>) -> Result<(), EngineError> {
        self.engine.add_indicator(name, guest)
    }

    /// The engine (for inspection between runs).
    pub fn engine(&self) -> &Engine<PaperBroker> {
        &self.engine
    }

    /// Replays `bars` (in time order) and reports. `progress` is called with
    /// the number of bars done every [`PROGRESS_EVERY`] bars.
    pub fn run<'a>(
        mut self,
        bars: impl IntoIterator<Item = &'a Bar>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<BacktestResult, EngineError> {
        let mut curve: Vec<EquityPoint> = Vec::new();
        let mut n: u64 = 0;
        for bar in bars {
            self.engine.on_bar(bar)?;
            let totals = self.engine.account_totals();
            let point = EquityPoint {
                ts: bar.ts,
                equity: totals.equity,
                exposed: totals.exposed,
            };
            match curve.last_mut() {
                Some(last) if last.ts == bar.ts => *last = point,
                _ => curve.push(point),
            }
            n += 1;
            if n.is_multiple_of(PROGRESS_EVERY) {
                progress(n);
            }
        }
        progress(n);
        Ok(self.finish(curve))
    }

    fn finish(mut self, curve: Vec<EquityPoint>) -> BacktestResult {
        let mut guest_logs = self.engine.guest_logs().clone();
        guest_logs.dropped = self
            .engine
            .strategies
            .iter_mut()
            .map(|s| s.guest.context().dropped_logs)
            .chain(
                self.engine
                    .indicators
                    .iter_mut()
                    .map(|s| s.guest.context().dropped_logs),
            )
            .sum();
        let oms = self.engine.oms();
        let trades: Vec<ClosedTrade> = oms.closed_trades().to_vec();
        let outcomes: Vec<TradeOutcome> = trades
            .iter()
            .map(|t| {
                let entry = t.entry_price.notional(t.quantity).to_f64();
                TradeOutcome {
                    net_pnl: t.net_pnl,
                    return_pct: if entry > 0.0 {
                        t.net_pnl.to_f64() / entry
                    } else {
                        0.0
                    },
                }
            })
            .collect();
        let stats = self.engine.stats();
        let report = Report::compute(
            &curve,
            &outcomes,
            ReportInputs {
                initial: self.config.starting_cash,
                bars: stats.bars,
                commissions: oms.total_commissions(),
                rejected_orders: stats.rejected,
                rejections: self.engine.rejections().clone(),
                guest_logs,
                periods_per_year: self.config.periods_per_year,
            },
        );
        let strategies = self
            .engine
            .strategies()
            .iter()
            .map(|s| StrategySummary {
                id: s.id.clone(),
                info: s.guest.info().clone(),
                counters: s.counters,
                state: s.state.clone(),
            })
            .collect();
        BacktestResult {
            report,
            trades,
            fills: oms.fills().to_vec(),
            equity_curve: curve,
            initial_equity: self.config.starting_cash,
            stats,
            strategies,
            instruments: self.engine.instruments().clone(),
        }
    }
}

impl BacktestResult {
    /// Writes the closed trades as CSV: `strategy,symbol,direction,quantity,
    /// entry_time,entry_price,exit_time,exit_price,gross_pnl,commission,net_pnl,return_pct`.
    /// Times are RFC 3339 UTC; money is exact decimal text. The output is a
    /// pure function of the run, so equal runs give byte-identical files.
    pub fn write_trades_csv(&self, out: impl Write) -> Result<(), csv::Error> {
        let mut w = csv::Writer::from_writer(out);
        w.write_record([
            "strategy",
            "symbol",
            "direction",
            "quantity",
            "entry_time",
            "entry_price",
            "exit_time",
            "exit_price",
            "gross_pnl",
            "commission",
            "net_pnl",
            "return_pct",
        ])?;
        for t in &self.trades {
            let symbol = self
                .instruments
                .get(t.instrument)
                .map_or("?", |i| i.symbol.as_str());
            let entry = t.entry_price.notional(t.quantity).to_f64();
            let ret = if entry > 0.0 {
                t.net_pnl.to_f64() / entry * 100.0
            } else {
                0.0
            };
            w.write_record([
                t.strategy.as_str(),
                symbol,
                t.direction.as_str(),
                &t.quantity.to_string(),
                &t.entry_ts.to_string(),
                &t.entry_price.to_string(),
                &t.exit_ts.to_string(),
                &t.exit_price.to_string(),
                &t.gross_pnl.to_string(),
                &t.commission.to_string(),
                &t.net_pnl.to_string(),
                &format!("{ret:.6}"),
            ])?;
        }
        w.flush()?;
        Ok(())
    }

    /// Writes the equity curve as CSV: `timestamp,equity,drawdown,exposed`,
    /// one row per point of [`BacktestResult::equity_curve`]. Times are
    /// RFC 3339 UTC; equity is exact decimal text; drawdown is the fall
    /// from the running peak (starting cash included) as a fraction, zero
    /// or negative, as the report's max drawdown measures it; exposed is
    /// `true` when any position was open.
    pub fn write_equity_csv(&self, out: impl Write) -> Result<(), csv::Error> {
        let mut w = csv::Writer::from_writer(out);
        w.write_record(["timestamp", "equity", "drawdown", "exposed"])?;
        let mut peak = self.initial_equity;
        for p in &self.equity_curve {
            peak = peak.max(p.equity);
            let drawdown = if peak.is_positive() {
                p.equity.to_f64() / peak.to_f64() - 1.0
            } else {
                0.0
            };
            w.write_record([
                p.ts.to_string().as_str(),
                &p.equity.to_string(),
                &format!("{drawdown:.6}"),
                if p.exposed { "true" } else { "false" },
            ])?;
        }
        w.flush()?;
        Ok(())
    }

    /// Final equity.
    pub fn final_equity(&self) -> Money {
        self.equity_curve.last().map_or(Money::ZERO, |p| p.equity)
    }

    /// Time of the last bar.
    pub fn end(&self) -> Timestamp {
        self.equity_curve.last().map_or(Timestamp::EPOCH, |p| p.ts)
    }
}
