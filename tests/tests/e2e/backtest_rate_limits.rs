//! A backtest's risk rate limits refuse orders by the rule serve applies:
//! the wasm order-flood guest under `max_orders_per_minute`, once through
//! `Backtest` (the engine's in-memory journal) and once through the engine
//! as serve builds it (the store's write-ahead journal), refuses the same
//! orders and ends with the same fills and equity.

use std::sync::Arc;

use wasmtrade_broker::paper::{PaperBroker, PaperConfig};
use wasmtrade_e2e::guest_bytes;
use wasmtrade_engine::{Backtest, BacktestConfig, Engine, EngineConfig, FaultPolicy};
use wasmtrade_host::{GuestEngine, HostConfig};
use wasmtrade_market::{SynthConfig, generate};
use wasmtrade_model::{Bar, GuestContext, Instruments, Money, RejectCode, StrategyGuest, StrategyId};
use wasmtrade_oms::Oms;
use wasmtrade_risk::{Engine as RiskEngine, Limits, RiskConfig};
use wasmtrade_store::{Durability, Store, StoreOptions};

/// Three market buys of 1 per bar.
const FLOOD: &str = r#"{"count": 3, "quantity": 1.0}"#;

fn data() -> (Vec<Bar>, Arc<Instruments>) {
    let mut instruments = Instruments::new();
    let cfg = SynthConfig {
        bars: 300,
        seed: 5,
        // Six bars per minute: 18 orders wanted, 5 allowed.
        interval_secs: 10,
        ..SynthConfig::default()
    };
    let bars = generate(&cfg, &mut instruments).unwrap();
    (bars, Arc::new(instruments))
}

fn risk() -> RiskConfig {
    RiskConfig::default()
        .with_account(Limits {
            max_orders_per_minute: Some(5),
            ..Limits::default()
        })
        .unwrap()
}

fn flood(instruments: &Arc<Instruments>) -> Box<dyn StrategyGuest> {
    let host = GuestEngine::new(HostConfig::default()).unwrap();
    let module = host
        .load_strategy(&guest_bytes("hostile_order_flood").unwrap())
        .unwrap();
    Box::new(
        module
            .instantiate(GuestContext::new(instruments.clone(), 1), FLOOD)
            .unwrap(),
    )
}

#[test]
fn backtest_rate_limits_refuse_the_orders_serve_refuses() {
    let (bars, instruments) = data();
    let cash = Money::from_int(1_000_000);

    let config = BacktestConfig {
        starting_cash: cash,
        risk: risk(),
        ..BacktestConfig::default()
    };
    let mut bt = Backtest::new(instruments.clone(), config).unwrap();
    bt.add_strategy(StrategyId::new("flood"), flood(&instruments))
        .unwrap();
    let backtest = bt.run(bars.iter(), &mut |_| {}).unwrap();

    // The engine as serve runs it: the store's journal, paper broker.
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        durability: Durability::SledFlush,
        ..StoreOptions::default()
    };
    let store = Arc::new(Store::open(dir.path().join("data"), &options).unwrap());
    let mut serve = Engine::new(
        instruments.clone(),
        RiskEngine::new(risk()),
        Oms::new(cash),
        PaperBroker::try_new(PaperConfig::default(), &instruments).unwrap(),
        EngineConfig {
            fault_policy: FaultPolicy::Quarantine,
            ..EngineConfig::default()
        },
    );
    serve.set_journal(Box::new(wasmtrade_live::StoreJournal::new(store)));
    assert!(serve.has_journal());
    serve
        .add_strategy(StrategyId::new("flood"), flood(&instruments))
        .unwrap();
    for bar in &bars {
        serve.on_bar(bar).unwrap();
    }

    let refused = backtest
        .report
        .rejections
        .get(&RejectCode::OrderRate)
        .copied()
        .unwrap_or(0);
    assert!(
        refused > 400,
        "the limit refuses most of the flood: {:?}",
        backtest.report.rejections
    );
    assert_eq!(&backtest.report.rejections, serve.rejections());
    assert_eq!(backtest.stats.orders_sent, serve.stats().orders_sent);
    assert_eq!(backtest.fills.len() as u64, serve.oms().fill_count());
    assert_eq!(backtest.final_equity(), serve.equity());
}
