//! The metrics read from the latest [`Sample`] of the runtime (account,
//! risk, guests, broker), encoded as constant series on each scrape.

use std::sync::{Mutex, PoisonError};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeGaugeValue, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use super::label;
use crate::source::Sample;

/// The metrics read from the latest [`Sample`], encoded on each scrape.
#[derive(Debug, Default)]
pub(super) struct Polled {
    pub(super) sample: Mutex<Option<Sample>>,
}

pub(super) fn gauge<N: EncodeGaugeValue>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: N,
) -> std::fmt::Result {
    ConstGauge::new(value).encode(enc.encode_descriptor(name, help, None, MetricType::Gauge)?)
}

pub(super) fn counter(enc: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> std::fmt::Result {
    ConstCounter::new(value).encode(enc.encode_descriptor(name, help, None, MetricType::Counter)?)
}

pub(super) fn family<L: EncodeLabelSet, M: EncodeMetric>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    metric_type: MetricType,
    series: &[(L, M)],
) -> std::fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, metric_type)?;
    for (labels, metric) in series {
        metric.encode(m.encode_family(labels)?)?;
    }
    Ok(())
}

impl Collector for Polled {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        let guard = self.sample.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(s) = guard.as_ref() else {
            return Ok(());
        };
        counter(
            &mut enc,
            "market_bars",
            "Bars the market source has played into the event loop's queue.",
            s.market_bars,
        )?;
        counter(
            &mut enc,
            "bars_processed",
            "Bars the event loop has processed (market_bars minus this is the queue backlog).",
            s.account.bars_processed,
        )?;
        counter(
            &mut enc,
            "trades",
            "Closed round-trip trades since the process started.",
            s.account.closed_trades,
        )?;
        counter(
            &mut enc,
            "winning_trades",
            "Closed trades with a positive net P&L (after commissions) since the process started.",
            s.account.winning_trades,
        )?;
        if s.account.closed_trades > 0 {
            gauge(
                &mut enc,
                "win_rate",
                "Winning trades / closed trades since the process started (exported once a trade closed).",
                s.account.winning_trades as f64 / s.account.closed_trades as f64,
            )?;
        }
        self.encode_risk(&mut enc, s)?;
        super::costs::encode_guest_costs(&mut enc, s)?;
        super::costs::encode_traffic(&mut enc, s)?;
        super::learning::encode_shadows(&mut enc, s)?;
        gauge(
            &mut enc,
            "broker_connected",
            "1 while the broker (paper venue, IB Gateway) is connected; 0 while orders are refused for want of it.",
            i64::from(s.broker_connected),
        )?;
        for f in &s.broker_figures {
            let name = format!("broker_{}", f.name);
            match f.value {
                wasmtrade_live::FigureValue::Counter(v) => counter(&mut enc, &name, f.help, v)?,
                wasmtrade_live::FigureValue::Gauge(v) => gauge(&mut enc, &name, f.help, v)?,
            }
        }
        let a = &s.account;
        let money = [
            (
                "portfolio_value",
                "Cash plus marked positions, in account currency.",
                a.equity,
            ),
            ("cash", "Cash, in account currency.", a.cash),
            (
                "realized_pnl",
                "Realised P&L since the process started, in account currency.",
                a.realized_pnl,
            ),
            (
                "unrealized_pnl",
                "Unrealised P&L of the open positions, in account currency.",
                a.unrealized_pnl,
            ),
            (
                "gross_exposure",
                "Sum of the absolute values of the positions, in account currency.",
                a.gross_exposure,
            ),
            (
                "net_exposure",
                "Sum of the signed values of the positions, in account currency.",
                a.net_exposure,
            ),
        ];
        for (name, help, value) in money {
            gauge(&mut enc, name, help, value.to_f64())?;
        }
        self.encode_modules(&mut enc, s)
    }
}

impl Polled {
    fn encode_risk(&self, enc: &mut DescriptorEncoder, s: &Sample) -> std::fmt::Result {
        let r = &s.risk;
        let flag = |on: bool| ConstGauge::new(i64::from(on));
        let scopes: Vec<_> = ["global", "account"]
            .iter()
            .map(|scope| ([("scope", *scope)], flag(r.kill_switch_engaged(scope))))
            .collect();
        family(
            enc,
            "kill_switch_engaged",
            "1 while the kill switch of the scope (global, account) is engaged: no new orders.",
            MetricType::Gauge,
            &scopes,
        )?;
        let mut strategies: Vec<String> = s
            .modules
            .iter()
            .filter(|m| m.kind == "strategy")
            .map(|m| m.name.clone())
            .chain(r.kill_switches.iter().filter_map(|k| k.strategy.clone()))
            .collect();
        strategies.sort();
        strategies.dedup();
        let per_strategy: Vec<_> = strategies
            .iter()
            .map(|name| {
                let on = r
                    .kill_switches
                    .iter()
                    .any(|k| k.strategy.as_deref() == Some(name.as_str()));
                ([("strategy", label(name))], flag(on))
            })
            .collect();
        family(
            enc,
            "strategy_kill_switch_engaged",
            "1 while the strategy's own kill switch is engaged, by strategy.",
            MetricType::Gauge,
            &per_strategy,
        )?;
        let halts: Vec<_> = r
            .halts
            .iter()
            .map(|h| {
                (
                    [
                        ("scope", h.scope.to_string()),
                        ("strategy", label(h.strategy.as_deref().unwrap_or(""))),
                        ("reason", h.reason.clone()),
                    ],
                    ConstGauge::new(1_i64),
                )
            })
            .collect();
        if let Some(pnl) = r.day_pnl {
            gauge(
                enc,
                "daily_pnl",
                "The account's P&L today (realised + unrealised, net of commissions), in account currency; exported while a daily-loss or drawdown limit makes risk track it.",
                pnl.to_f64(),
            )?;
        }
        if let Some(limit) = r.max_daily_loss {
            gauge(
                enc,
                "daily_loss_limit",
                "The account's max_daily_loss risk limit, in account currency.",
                limit.to_f64(),
            )?;
        }
        family(
            enc,
            "risk_halted",
            "1 per halt risk imposed by itself (max-daily-loss, max-drawdown, repeated-executions) until a person lifts it, by scope, strategy and reason.",
            MetricType::Gauge,
            &halts,
        )?;
        gauge(
            enc,
            "trading_gate_open",
            "1 once start-up reconciliation opened the trading gate (no orders before), else 0.",
            i64::from(r.trading_gate_open),
        )
    }

    fn encode_modules(&self, enc: &mut DescriptorEncoder, s: &Sample) -> std::fmt::Result {
        let kinds = ["strategy", "indicator"];
        let count = |kind: &str, state: &str| {
            s.modules
                .iter()
                .filter(|m| m.kind == kind && m.state == state)
                .count() as i64
        };
        let active: Vec<_> = kinds
            .iter()
            .map(|k| ([("kind", *k)], ConstGauge::new(count(k, "running"))))
            .collect();
        family(
            enc,
            "guests_active",
            "Guests running and taking events, by kind.",
            MetricType::Gauge,
            &active,
        )?;
        let quarantined: Vec<_> = kinds
            .iter()
            .map(|k| ([("kind", *k)], ConstGauge::new(count(k, "quarantined"))))
            .collect();
        family(
            enc,
            "guests_quarantined",
            "Guests quarantined after a fault (restarting, or stopped for good until a version is activated), by kind.",
            MetricType::Gauge,
            &quarantined,
        )?;
        let running: Vec<_> = s.modules.iter().filter(|m| m.state != "stopped").collect();
        let versions: Vec<_> = running
            .iter()
            .filter_map(|m| {
                let v = m.active_version?;
                Some((
                    [("module", label(&m.name)), ("kind", m.kind.to_string())],
                    ConstGauge::new(i64::from(v)),
                ))
            })
            .collect();
        family(
            enc,
            "guest_version",
            "Version number of the module's running guest.",
            MetricType::Gauge,
            &versions,
        )?;
        let strategies: Vec<_> = running.iter().filter(|m| m.kind == "strategy").collect();
        let mut callbacks = Vec::new();
        for m in &strategies {
            let c = m.counters;
            for (callback, n) in [
                ("bar", c.bars),
                ("tick", c.ticks),
                ("fill", c.fills),
                ("timer", c.timers),
                ("reject", c.rejects),
            ] {
                callbacks.push((
                    [("module", label(&m.name)), ("callback", callback.to_string())],
                    ConstCounter::new(n),
                ));
            }
        }
        family(
            enc,
            "guest_callbacks",
            "Callbacks delivered to a strategy's guest, by module and callback (kept across hot swaps).",
            MetricType::Counter,
            &callbacks,
        )?;
        let intents: Vec<_> = strategies
            .iter()
            .map(|m| {
                (
                    [("module", label(&m.name))],
                    ConstCounter::new(m.counters.intents),
                )
            })
            .collect();
        family(
            enc,
            "guest_intents",
            "Order intents a strategy's guest returned, by module.",
            MetricType::Counter,
            &intents,
        )?;
        let mut shadow = Vec::new();
        for m in &strategies {
            if let Some(sh) = &m.shadow {
                for (result, n) in [("matching", sh.matching), ("diverging", sh.diverging)] {
                    shadow.push((
                        [
                            ("module", label(&m.name)),
                            ("version", sh.version.to_string()),
                            ("result", result.to_string()),
                        ],
                        ConstCounter::new(n),
                    ));
                }
            }
        }
        family(
            enc,
            "shadow_comparisons",
            "Callbacks of a shadow run whose intents matched or diverged from the active version's, by module, shadow version and result.",
            MetricType::Counter,
            &shadow,
        )
    }
}

#[cfg(test)]
mod tests {
    use wasmtrade_model::Money;

    use super::*;
    use crate::metrics::Metrics;
    use crate::metrics::tests::value;
    use crate::source::{AccountStatus, Counters, Latched, ModuleStatus, RiskStatus, ShadowStatus};

    fn sample() -> Sample {
        let running = |name: &str, kind: &'static str, state: &'static str| ModuleStatus {
            name: name.into(),
            kind,
            versions: 2,
            active_version: Some(2),
            state,
            quarantine_reason: None,
            counters: Counters::default(),
            shadow: None,
        };
        let mut sma = running("sma", "strategy", "running");
        sma.counters = Counters {
            bars: 10,
            fills: 2,
            intents: 3,
            fuel: 12_345,
            ..Counters::default()
        };
        sma.counters.callback_time.record(800); // <= 1 µs
        sma.counters.callback_time.record(3_000); // <= 5 µs
        let mut commits = wasmtrade_live::Durations::default();
        commits.record(400_000); // <= 500 µs
        sma.shadow = Some(ShadowStatus {
            version: 3,
            events: 10,
            matching: 9,
            diverging: 1,
            fault: None,
        });
        Sample {
            market_bars: 12,
            market_finished: false,
            broker_connected: true,
            broker_figures: vec![
                wasmtrade_live::BrokerFigure {
                    name: "reconnects",
                    help: "Completed reconnects.",
                    value: wasmtrade_live::FigureValue::Counter(3),
                },
                wasmtrade_live::BrokerFigure {
                    name: "pacing_delay_max_seconds",
                    help: "Longest pacing wait.",
                    value: wasmtrade_live::FigureValue::Gauge(0.25),
                },
            ],
            traffic: wasmtrade_live::TrafficFigures {
                requests: vec![("submit", 7), ("cancel", 2), ("amend", 0)],
                refused: 1,
                events: vec![("accepted", 6), ("filled", 5)],
                journal_commits: commits,
            },
            journal_records: 40,
            journal_lag_records: 0,
            reconciliation: Some(wasmtrade_live::ReconcileOutcome {
                looked_up: 3,
                adopted: 2,
                missed_fills: 1,
                never_sent: 1,
                differences: vec!["a".into(), "b".into()],
                agreed: true,
            }),
            guests_created: 5,
            guests_live: 3,
            shadows: vec![wasmtrade_live::PolicyShadow {
                policy: "clstm".into(),
                model: "m".into(),
                active_version: 1,
                progress: wasmtrade_policy::ShadowProgress {
                    version: 2,
                    gate: wasmtrade_policy::GateConfig::default(),
                    candidate: wasmtrade_policy::shadow::Scores {
                        decisions: 12,
                        composite: 1.5,
                        ..Default::default()
                    },
                    active: wasmtrade_policy::shadow::Scores {
                        decisions: 12,
                        composite: -0.5,
                        ..Default::default()
                    },
                },
            }],
            collections: vec![
                wasmtrade_model::CollectionSize::new("oms.index", 2),
                wasmtrade_model::CollectionSize::new("paper.ledger_orders", 7),
            ],
            account: AccountStatus {
                cash: Money::from_int(9_000),
                equity: Money::from_int(10_050),
                realized_pnl: Money::from_int(20),
                unrealized_pnl: Money::from_int(30),
                bars_processed: 11,
                closed_trades: 4,
                winning_trades: 3,
                ..AccountStatus::default()
            },
            modules: vec![
                sma,
                running("rsi", "strategy", "quarantined"),
                running("ema", "indicator", "running"),
                ModuleStatus {
                    active_version: None,
                    ..running("old", "strategy", "stopped")
                },
            ],
            risk: RiskStatus {
                trading_gate_open: true,
                kill_switches: vec![Latched {
                    scope: "global",
                    by: "ops".into(),
                    reason: "drill".into(),
                    ..Latched::default()
                }],
                halts: vec![Latched {
                    scope: "strategy",
                    strategy: Some("rsi".into()),
                    by: "risk".into(),
                    reason: "max-daily-loss".into(),
                    ..Latched::default()
                }],
                day_pnl: Some(Money::from_int(-420)),
                max_daily_loss: Some(Money::from_int(500)),
            },
        }
    }

    #[test]
    fn the_sample_becomes_gauges_and_per_module_series() {
        let m = Metrics::new("0.1.0", 0.0);
        let before = m.render();
        assert!(
            !before.contains("wasmtrade_portfolio_value"),
            "no sample, no account gauges"
        );
        m.set_sample(sample());
        let text = m.render();
        let v = |s: &str| value(&text, s);
        assert_eq!(v("wasmtrade_market_bars_total"), Some(12.0));
        assert_eq!(v("wasmtrade_bars_processed_total"), Some(11.0));
        assert_eq!(v("wasmtrade_trades_total"), Some(4.0));
        assert_eq!(v("wasmtrade_winning_trades_total"), Some(3.0));
        assert_eq!(v("wasmtrade_win_rate"), Some(0.75));
        assert_eq!(v("wasmtrade_portfolio_value"), Some(10_050.0));
        assert_eq!(v("wasmtrade_cash"), Some(9_000.0));
        assert_eq!(v("wasmtrade_realized_pnl"), Some(20.0));
        assert_eq!(v("wasmtrade_unrealized_pnl"), Some(30.0));
        assert_eq!(v("wasmtrade_daily_pnl"), Some(-420.0));
        assert_eq!(v("wasmtrade_daily_loss_limit"), Some(500.0));
        assert_eq!(v("wasmtrade_kill_switch_engaged{scope=\"global\"}"), Some(1.0));
        assert_eq!(v("wasmtrade_broker_connected"), Some(1.0));
        assert_eq!(v("wasmtrade_broker_reconnects_total"), Some(3.0));
        assert_eq!(
            v("wasmtrade_broker_requests_total{request=\"submit\"}"),
            Some(7.0)
        );
        assert_eq!(v("wasmtrade_broker_refusals_total"), Some(1.0));
        assert_eq!(v("wasmtrade_broker_reports_total{report=\"filled\"}"), Some(5.0));
        assert_eq!(v("wasmtrade_journal_records_total"), Some(40.0));
        assert_eq!(v("wasmtrade_reconciliation_discrepancies"), Some(2.0));
        assert_eq!(v("wasmtrade_reconciliation_missed_fills"), Some(1.0));
        assert_eq!(v("wasmtrade_reconciliation_agreed"), Some(1.0));
        assert_eq!(v("wasmtrade_journal_lag_records"), Some(0.0));
        assert_eq!(v("wasmtrade_journal_commit_duration_seconds_count"), Some(1.0));
        assert_eq!(
            v("wasmtrade_journal_commit_duration_seconds_bucket{le=\"0.0005\"}"),
            Some(1.0)
        );
        assert_eq!(
            v("wasmtrade_journal_commit_duration_seconds_bucket{le=\"0.0001\"}"),
            Some(0.0)
        );
        assert_eq!(v("wasmtrade_guest_instances_created_total"), Some(5.0));
        assert_eq!(v("wasmtrade_guest_instances_live"), Some(3.0));
        assert_eq!(
            v(r#"wasmtrade_collection_entries{collection="oms.index"}"#),
            Some(2.0)
        );
        assert_eq!(
            v(r#"wasmtrade_collection_entries{collection="paper.ledger_orders"}"#),
            Some(7.0)
        );
        assert_eq!(
            v("wasmtrade_guest_fuel_consumed_total{module=\"sma\"}"),
            Some(12_345.0)
        );
        assert_eq!(
            v("wasmtrade_guest_callback_duration_seconds_bucket{le=\"0.000001\",module=\"sma\"}"),
            Some(1.0)
        );
        assert_eq!(
            v("wasmtrade_guest_callback_duration_seconds_bucket{le=\"+Inf\",module=\"sma\"}"),
            Some(2.0)
        );
        assert_eq!(
            v("wasmtrade_guest_callback_duration_seconds_sum{module=\"sma\"}"),
            Some(3.8e-6)
        );
        assert_eq!(v("wasmtrade_broker_pacing_delay_max_seconds"), Some(0.25));
        assert_eq!(v("wasmtrade_kill_switch_engaged{scope=\"account\"}"), Some(0.0));
        assert_eq!(
            v("wasmtrade_strategy_kill_switch_engaged{strategy=\"sma\"}"),
            Some(0.0)
        );
        assert_eq!(
            v("wasmtrade_risk_halted{scope=\"strategy\",strategy=\"rsi\",reason=\"max-daily-loss\"}"),
            Some(1.0)
        );
        assert_eq!(v("wasmtrade_trading_gate_open"), Some(1.0));
        assert_eq!(v("wasmtrade_guests_active{kind=\"strategy\"}"), Some(1.0));
        assert_eq!(v("wasmtrade_guests_active{kind=\"indicator\"}"), Some(1.0));
        assert_eq!(v("wasmtrade_guests_quarantined{kind=\"strategy\"}"), Some(1.0));
        assert_eq!(
            v("wasmtrade_guest_version{module=\"sma\",kind=\"strategy\"}"),
            Some(2.0)
        );
        assert!(!text.contains("module=\"old\""), "a stopped module has no series");
        assert_eq!(
            v("wasmtrade_guest_callbacks_total{module=\"sma\",callback=\"bar\"}"),
            Some(10.0)
        );
        assert_eq!(v("wasmtrade_guest_intents_total{module=\"sma\"}"), Some(3.0));
        assert_eq!(
            v("wasmtrade_shadow_comparisons_total{module=\"sma\",version=\"3\",result=\"diverging\"}"),
            Some(1.0)
        );
        assert!(
            !text.contains("module=\"ema\",callback"),
            "indicators have no callback counters"
        );
    }
}
