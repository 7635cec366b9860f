//! The event loop with scripted guests: every path an intent can take.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is a test failure with a location"
)]

use std::sync::{Arc, Mutex};

use wasmtrade_broker::paper::PaperConfig;
use wasmtrade_engine::{
    Backtest, BacktestConfig, Engine, EngineConfig, EngineError, EngineEvent, FaultPolicy, Recorder,
};
use wasmtrade_model::{
    Bar, Fill, GuestContext, GuestFault, GuestInfo, InstrumentId, Instruments, Intents, LogLevel, Money,
    Price, Quantity, RawIntent, RawOrderType, RejectCode, RejectNotice, Side, StrategyGuest, StrategyId,
    Tick, TimeInForce, Timestamp,
};
use wasmtrade_oms::Oms;
use wasmtrade_risk::{Engine as RiskEngine, Limits, RiskConfig};

type Script = Box<dyn FnMut(&mut GuestContext, &Bar) -> Intents>;

/// A guest whose `on_bar` is a closure; it records what it was told.
struct Scripted {
    info: GuestInfo,
    ctx: GuestContext,
    script: Script,
    seen: Arc<Mutex<Vec<String>>>,
    reply_to_reject: Option<RawIntent>,
}

impl Scripted {
    fn new(instruments: &Arc<Instruments>, script: Script) -> (Self, Arc<Mutex<Vec<String>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let g = Self {
            info: GuestInfo {
                name: "scripted".into(),
                ..GuestInfo::default()
            },
            ctx: GuestContext::new(instruments.clone(), 1),
            script,
            seen: seen.clone(),
            reply_to_reject: None,
        };
        (g, seen)
    }
}

impl StrategyGuest for Scripted {
    fn info(&self) -> &GuestInfo {
        &self.info
    }
    fn context(&mut self) -> &mut GuestContext {
        &mut self.ctx
    }
    fn on_bar(&mut self, bar: &Bar) -> Intents {
        self.seen.lock().unwrap().push(format!("bar {}", bar.ts.secs()));
        (self.script)(&mut self.ctx, bar)
    }
    fn on_tick(&mut self, _tick: &Tick) -> Intents {
        Ok(vec![])
    }
    fn on_fill(&mut self, fill: &Fill) -> Intents {
        self.seen.lock().unwrap().push(format!(
            "fill {} {} @ {}",
            fill.client_id, fill.quantity, fill.price
        ));
        Ok(vec![])
    }
    fn on_timer(&mut self, name: &str, ts: Timestamp) -> Intents {
        self.seen
            .lock()
            .unwrap()
            .push(format!("timer {name} {}", ts.secs()));
        Ok(vec![])
    }
    fn on_reject(&mut self, notice: &RejectNotice) -> Intents {
        self.seen
            .lock()
            .unwrap()
            .push(format!("reject {} {}", notice.client_id, notice.rejection.code));
        Ok(self.reply_to_reject.clone().into_iter().collect())
    }
    fn snapshot(&mut self) -> Result<Vec<u8>, GuestFault> {
        Ok(vec![])
    }
    fn restore(&mut self, _state: &[u8]) -> Result<(), GuestFault> {
        Ok(())
    }
}

fn bar(day: i64, open: i64, close: i64) -> Bar {
    Bar {
        instrument: InstrumentId(0),
        ts: Timestamp::from_secs(day * 86_400),
        open: Price::from_int(open),
        high: Price::from_int(open.max(close) + 1),
        low: Price::from_int(open.min(close) - 1),
        close: Price::from_int(close),
        volume: Quantity::from_int(1_000),
    }
}

fn market(id: &str, side: Side, qty: f64) -> RawIntent {
    RawIntent::Submit {
        client_id: id.into(),
        instrument: 0,
        side,
        quantity: qty,
        order_type: RawOrderType::Market,
        tif: TimeInForce::Gtc,
    }
}

fn instruments() -> Arc<Instruments> {
    let mut i = Instruments::new();
    i.intern("AAPL");
    Arc::new(i)
}

fn engine(risk: RiskConfig, policy: FaultPolicy) -> Engine<wasmtrade_broker::paper::PaperBroker> {
    Engine::new(
        instruments(),
        RiskEngine::new(risk),
        Oms::new(Money::from_int(100_000)),
        wasmtrade_broker::paper::PaperBroker::new(PaperConfig::default()),
        EngineConfig {
            fault_policy: policy,
            flatten_on_fault: false,
            ..EngineConfig::default()
        },
    )
}

#[test]
fn a_market_order_fills_at_the_next_bars_open_and_the_guest_hears_of_it() {
    let mut e = engine(RiskConfig::default(), FaultPolicy::Abort);
    let (g, seen) = Scripted::new(
        e.instruments(),
        Box::new(|_, b| {
            Ok(if b.ts.secs() == 86_400 {
                vec![market("b1", Side::Buy, 10.0)]
            } else {
                vec![]
            })
        }),
    );
    e.add_strategy(StrategyId::new("s"), Box::new(g)).unwrap();
    e.on_bar(&bar(1, 100, 101)).unwrap();
    e.on_bar(&bar(2, 103, 104)).unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen, vec!["bar 86400", "fill b1 10 @ 103", "bar 172800"]);
    let pos = e.oms().position(&StrategyId::new("s"), InstrumentId(0));
    assert_eq!(pos.quantity, Quantity::from_int(10));
    assert_eq!(e.stats().orders_sent, 1);
    assert_eq!(e.stats().fills, 1);
}

#[test]
fn the_guest_sees_its_position_and_account_through_its_context() {
    let mut e = engine(RiskConfig::default(), FaultPolicy::Abort);
    let log = Arc::new(Mutex::new(Vec::new()));
    let log2 = log.clone();
    let (g, _) = Scripted::new(
        e.instruments(),
        Box::new(move |ctx, b| {
            log2.lock()
                .unwrap()
                .push((ctx.position(b.instrument).quantity, ctx.account.cash, ctx.now));
            Ok(if b.ts.secs() == 86_400 {
                vec![market("b1", Side::Buy, 10.0)]
            } else {
                vec![]
            })
        }),
    );
    e.add_strategy(StrategyId::new("s"), Box::new(g)).unwrap();
    e.on_bar(&bar(1, 100, 101)).unwrap();
    e.on_bar(&bar(2, 103, 104)).unwrap();
    let log = log.lock().unwrap().clone();
    assert_eq!(log[0], (0.0, 100_000.0, Timestamp::from_secs(86_400)));
    assert_eq!(
        log[1],
        (10.0, 100_000.0 - 1030.0, Timestamp::from_secs(2 * 86_400))
    );
}

#[test]
fn risk_rejections_reach_the_guest_with_their_code_and_nothing_is_sent() {
    let risk = RiskConfig::default()
        .with_account(Limits {
            max_order_quantity: Some(Quantity::from_int(5)),
            ..Limits::default()
        })
        .unwrap();
    let mut e = engine(risk, FaultPolicy::Abort);
    let rec = Recorder::default();
    e.set_observer(Box::new(rec.clone()));
    let (g, seen) = Scripted::new(
        e.instruments(),
        Box::new(|_, _| Ok(vec![market("big", Side::Buy, 6.0)])),
    );
    e.add_strategy(StrategyId::new("s"), Box::new(g)).unwrap();
    e.on_bar(&bar(1, 100, 101)).unwrap();
    e.on_bar(&bar(2, 100, 101)).unwrap();
    assert!(
        seen.lock()
            .unwrap()
            .contains(&"reject big max-order-quantity".to_string())
    );
    assert_eq!(e.stats().orders_sent, 0);
    assert_eq!(e.broker().working_count(), 0);
    let events = rec.events.lock().unwrap();
    assert!(events.iter().any(
        |ev| matches!(ev, EngineEvent::Rejected(n) if n.rejection.code == RejectCode::MaxOrderQuantity)
    ));
}

#[test]
fn non_finite_quantities_are_refused_before_risk() {
    let mut e = engine(RiskConfig::default(), FaultPolicy::Abort);
    let (g, seen) = Scripted::new(
        e.instruments(),
        Box::new(|_, _| Ok(vec![market("nan", Side::Buy, f64::NAN)])),
    );
    e.add_strategy(StrategyId::new("s"), Box::new(g)).unwrap();
    e.on_bar(&bar(1, 100, 101)).unwrap();
    assert!(
        seen.lock()
            .unwrap()
            .contains(&"reject nan not-finite".to_string())
    );
    assert_eq!(e.stats().orders_sent, 0);
}

#[test]
fn a_guest_answering_every_rejection_with_a_new_bad_intent_is_cut_off() {
    let mut e = engine(RiskConfig::default(), FaultPolicy::Abort);
    let (mut g, seen) = Scripted::new(
        e.instruments(),
        Box::new(|_, _| Ok(vec![market("x", Side::Buy, -1.0)])),
    );
    g.reply_to_reject = Some(market("x", Side::Buy, -1.0));
    e.add_strategy(StrategyId::new("s"), Box::new(g)).unwrap();
    e.on_bar(&bar(1, 100, 101)).unwrap();
    let rejects = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.starts_with("reject"))
        .count();
    assert_eq!(rejects, 8, "the reject chain is bounded");
}

#[test]
fn a_duplicate_client_id_of_a_working_order_is_refused() {
    let mut e = engine(RiskConfig::default(), FaultPolicy::Abort);
    let limit = |id: &str| RawIntent::Submit {
        client_id: id.into(),
        instrument: 0,
        side: Side::Buy,
        quantity: 1.0,
        order_type: RawOrderType::Limit(50.0),
        tif: TimeInForce::Gtc,
    };
    let (g, seen) = Scripted::new(
        e.instruments(),
        Box::new(move |_, _| Ok(vec![limit("same"), limit("same")])),
    );
    e.add_strategy(StrategyId::new("s"), Box::new(g)).unwrap();
    e.on_bar(&bar(1, 100, 101)).unwrap();
    assert!(
        seen.lock()
            .unwrap()
            .contains(&"reject same duplicate-client-id".to_string())
    );
    assert_eq!(e.stats().orders_sent, 1);
}

#[test]
fn cancels_and_unknown_cancels() {
    let mut e = engine(RiskConfig::default(), FaultPolicy::Abort);
    let (g, seen) = Scripted::new(
        e.instruments(),
        Box::new(|_, b| {
            Ok(match b.ts.secs() / 86_400 {
                1 => vec![RawIntent::Submit {
                    client_id: "l1".into(),
                    instrument: 0,
                    side: Side::Buy,
                    quantity: 1.0,
                    order_type: RawOrderType::Limit(50.0),
                    tif: TimeInForce::Gtc,
                }],
                2 => vec![
                    RawIntent::Cancel {
                        client_id: "l1".into(),
                    },
                    RawIntent::Cancel {
                        client_id: "nope".into(),
                    },
                ],
                _ => vec![],
            })
        }),
    );
    e.add_strategy(StrategyId::new("s"), Box::new(g)).unwrap();
    e.on_bar(&bar(1, 100, 101)).unwrap();
    e.on_bar(&bar(2, 100, 101)).unwrap();
    e.on_bar(&bar(3, 100, 101)).unwrap();
    assert!(
        seen.lock()
            .unwrap()
            .contains(&"reject nope unknown-client-id".to_string())
    );
    assert!(e.oms().working_orders().next().is_none(), "l1 was cancelled");
}

#[test]
fn a_faulting_guest_aborts_a_backtest_and_is_quarantined_live() {
    let fault = || -> Script {
        Box::new(|_, _| {
            Err(GuestFault::Trap {
                reason: "unreachable".into(),
                backtrace: None,
            })
        })
    };
    let mut e = engine(RiskConfig::default(), FaultPolicy::Abort);
    let (g, _) = Scripted::new(e.instruments(), fault());
    e.add_strategy(StrategyId::new("s"), Box::new(g)).unwrap();
    let err = e.on_bar(&bar(1, 100, 101)).unwrap_err();
    assert!(matches!(err, EngineError::StrategyFault { .. }));
    assert!(err.to_string().contains("unreachable"), "{err}");

    let mut e = engine(RiskConfig::default(), FaultPolicy::Quarantine);
    let (bad, _) = Scripted::new(e.instruments(), fault());
    let (good, good_seen) = Scripted::new(e.instruments(), Box::new(|_, _| Ok(vec![])));
    e.add_strategy(StrategyId::new("bad"), Box::new(bad)).unwrap();
    e.add_strategy(StrategyId::new("good"), Box::new(good)).unwrap();
    e.on_bar(&bar(1, 100, 101)).unwrap();
    e.on_bar(&bar(2, 100, 101)).unwrap();
    assert!(!e.strategies()[0].is_active());
    assert_eq!(e.strategies()[0].counters.bars, 1, "no events after the fault");
    assert_eq!(good_seen.lock().unwrap().len(), 2);
}

#[test]
fn timers_fire_once_when_due() {
    let mut e = engine(RiskConfig::default(), FaultPolicy::Abort);
    let (g, seen) = Scripted::new(
        e.instruments(),
        Box::new(|ctx, b| {
            if b.ts.secs() == 86_400 {
                ctx.set_timer("t", Timestamp::from_secs(2 * 86_400));
            }
            Ok(vec![])
        }),
    );
    e.add_strategy(StrategyId::new("s"), Box::new(g)).unwrap();
    for d in 1..=3 {
        e.on_bar(&bar(d, 100, 101)).unwrap();
    }
    let timers: Vec<_> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.starts_with("timer"))
        .cloned()
        .collect();
    assert_eq!(timers, vec!["timer t 172800"]);
}

#[test]
fn a_backtest_reports_closed_trades_and_equity() {
    let mut bt = Backtest::new(instruments(), BacktestConfig::default()).unwrap();
    let (g, _) = Scripted::new(
        &instruments(),
        Box::new(|_, b| {
            Ok(match b.ts.secs() / 86_400 {
                1 => vec![market("b", Side::Buy, 10.0)],
                3 => vec![market("s", Side::Sell, 10.0)],
                _ => vec![],
            })
        }),
    );
    bt.add_strategy(StrategyId::new("s"), Box::new(g)).unwrap();
    let bars = [
        bar(1, 100, 100),
        bar(2, 100, 105),
        bar(3, 106, 110),
        bar(4, 111, 111),
    ];
    let r = bt.run(bars.iter(), &mut |_| {}).unwrap();
    assert_eq!(r.trades.len(), 1);
    assert_eq!(r.trades[0].net_pnl, Money::from_int(110)); // bought at 100, sold at 111
    assert_eq!(r.final_equity(), Money::from_int(10_110));
    assert_eq!(r.report.trades, 1);
    assert_eq!(r.report.final_equity, "10110.00");
    let mut csv = Vec::new();
    r.write_trades_csv(&mut csv).unwrap();
    let csv = String::from_utf8(csv).unwrap();
    assert!(
        csv.contains("s,AAPL,long,10,1970-01-03T00:00:00Z,100,1970-01-05T00:00:00Z,111,110,0,110,11.000000"),
        "{csv}"
    );
}

#[test]
fn a_backtest_reports_rejections_by_reason_and_the_guests_warnings() {
    let risk = RiskConfig::default()
        .with_account(Limits {
            max_order_quantity: Some(Quantity::from_int(5)),
            ..Limits::default()
        })
        .unwrap();
    let config = BacktestConfig {
        risk,
        ..BacktestConfig::default()
    };
    let mut bt = Backtest::new(instruments(), config).unwrap();
    let (g, _) = Scripted::new(
        &instruments(),
        Box::new(|ctx, b| {
            let day = b.ts.secs() / 86_400;
            ctx.log(LogLevel::Info, "bar");
            if day == 2 {
                ctx.log(LogLevel::Warn, "spread looks wide");
            }
            Ok(match day {
                1 => vec![market("big", Side::Buy, 6.0), market("nan", Side::Buy, f64::NAN)],
                2 => vec![market("big2", Side::Buy, 7.0), market("b", Side::Buy, 5.0)],
                _ => vec![],
            })
        }),
    );
    bt.add_strategy(StrategyId::new("s"), Box::new(g)).unwrap();
    let bars = [bar(1, 100, 100), bar(2, 100, 105), bar(3, 106, 110)];
    let r = bt.run(bars.iter(), &mut |_| {}).unwrap();

    assert_eq!(r.report.rejected_orders, 3);
    assert_eq!(
        r.report.rejections,
        std::collections::BTreeMap::from([(RejectCode::MaxOrderQuantity, 2), (RejectCode::NotFinite, 1)])
    );
    assert_eq!(
        r.report.rejections.values().sum::<u64>(),
        r.report.rejected_orders
    );
    let logs = &r.report.guest_logs;
    assert_eq!((logs.info, logs.warn, logs.error), (3, 1, 0));
    assert_eq!(logs.first_warnings.len(), 1);
    assert_eq!(logs.first_warnings[0].source, "s");
    assert_eq!(logs.first_warnings[0].message, "spread looks wide");
    let rows = r.report.rows();
    let row = |label: &str| rows.iter().find(|(l, _)| *l == label).map(|(_, v)| v.clone());
    assert_eq!(
        row("Rejected by reason").as_deref(),
        Some("max-order-quantity 2, not-finite 1")
    );
    assert_eq!(row("Guest warnings").as_deref(), Some("1 warn, 0 error"));
}

#[test]
fn the_equity_csv_has_a_row_per_point_and_ends_at_the_final_equity() {
    let mut bt = Backtest::new(instruments(), BacktestConfig::default()).unwrap();
    let (g, _) = Scripted::new(
        &instruments(),
        Box::new(|_, b| {
            Ok(match b.ts.secs() / 86_400 {
                1 => vec![market("b", Side::Buy, 10.0)],
                _ => vec![],
            })
        }),
    );
    bt.add_strategy(StrategyId::new("s"), Box::new(g)).unwrap();
    // Bought 10 at 100; marked at 110, then 90, then 95.
    let bars = [
        bar(1, 100, 100),
        bar(2, 100, 110),
        bar(3, 100, 90),
        bar(4, 95, 95),
    ];
    let r = bt.run(bars.iter(), &mut |_| {}).unwrap();
    let mut csv = Vec::new();
    r.write_equity_csv(&mut csv).unwrap();
    let csv = String::from_utf8(csv).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines,
        [
            "timestamp,equity,drawdown,exposed",
            "1970-01-02T00:00:00Z,10000,0.000000,false",
            "1970-01-03T00:00:00Z,10100,0.000000,true",
            "1970-01-04T00:00:00Z,9900,-0.019802,true",
            "1970-01-05T00:00:00Z,9950,-0.014851,true",
        ]
    );
    assert_eq!(r.final_equity(), Money::from_int(9_950));
    assert_eq!(r.report.final_equity, "9950.00");
    assert_eq!(lines.len() - 1, r.equity_curve.len());
}
