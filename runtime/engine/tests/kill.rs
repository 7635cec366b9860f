//! Kill switches raised from outside the loop take effect inside the event
//! in flight: before the next order and the next strategy callback.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is a test failure with a location"
)]

use std::sync::{Arc, Mutex};

use wasmtrade_broker::paper::{PaperBroker, PaperConfig};
use wasmtrade_engine::{Engine, EngineConfig, FaultPolicy, KillRequest, KillSignal};
use wasmtrade_model::{
    Bar, Fill, GuestContext, GuestFault, GuestInfo, InstrumentId, Instruments, Intents, Money, OrderStatus,
    Price, Quantity, RawIntent, RawOrderType, RejectCode, RejectNotice, Side, StrategyGuest, StrategyId,
    Tick, TimeInForce, Timestamp,
};
use wasmtrade_oms::Oms;
use wasmtrade_risk::{Engine as RiskEngine, KillScope, RiskConfig};

/// Buys 1 at a limit far below the market on every bar (the order rests);
/// on bar `raise_at` it raises the kill signal *during* its callback, as an
/// operator would while the guest runs, and still returns its order.
struct Resting {
    ctx: GuestContext,
    info: GuestInfo,
    bars: u64,
    raise_at: u64,
    signal: Arc<KillSignal>,
    rejects: Arc<Mutex<Vec<RejectCode>>>,
}

impl StrategyGuest for Resting {
    fn info(&self) -> &GuestInfo {
        &self.info
    }
    fn context(&mut self) -> &mut GuestContext {
        &mut self.ctx
    }
    fn on_bar(&mut self, _bar: &Bar) -> Intents {
        self.bars += 1;
        if self.bars == self.raise_at {
            self.signal.raise(KillRequest {
                scope: KillScope::Global,
                who: "ops".into(),
                reason: "drill".into(),
            });
        }
        Ok(vec![RawIntent::Submit {
            client_id: format!("b{}", self.bars),
            instrument: 0,
            side: Side::Buy,
            quantity: 1.0,
            order_type: RawOrderType::Limit(50.0),
            tif: TimeInForce::Gtc,
        }])
    }
    fn on_tick(&mut self, _tick: &Tick) -> Intents {
        Ok(vec![])
    }
    fn on_fill(&mut self, _fill: &Fill) -> Intents {
        Ok(vec![])
    }
    fn on_timer(&mut self, _name: &str, _ts: Timestamp) -> Intents {
        Ok(vec![])
    }
    fn on_reject(&mut self, notice: &RejectNotice) -> Intents {
        self.rejects.lock().unwrap().push(notice.rejection.code);
        Ok(vec![])
    }
    fn snapshot(&mut self) -> Result<Vec<u8>, GuestFault> {
        Ok(vec![])
    }
    fn restore(&mut self, _state: &[u8]) -> Result<(), GuestFault> {
        Ok(())
    }
}

fn bar(n: i64) -> Bar {
    Bar {
        instrument: InstrumentId(0),
        ts: Timestamp::from_secs(n * 60),
        open: Price::from_int(100),
        high: Price::from_int(101),
        low: Price::from_int(99),
        close: Price::from_int(100),
        volume: Quantity::from_int(1_000),
    }
}

#[test]
fn a_kill_signal_raised_during_a_callback_blocks_its_orders_and_cancels_the_working_ones() {
    let mut instruments = Instruments::new();
    instruments.intern("AAPL");
    let instruments = Arc::new(instruments);
    let mut engine = Engine::new(
        instruments.clone(),
        RiskEngine::new(RiskConfig::default()),
        Oms::new(Money::from_int(100_000)),
        PaperBroker::new(PaperConfig::default()),
        EngineConfig {
            fault_policy: FaultPolicy::Quarantine,
            flatten_on_fault: false,
            ..EngineConfig::default()
        },
    );
    let rejects = Arc::new(Mutex::new(Vec::new()));
    let signal = Arc::new(KillSignal::new());
    engine.set_kill_signal(signal.clone());
    let guest = Resting {
        ctx: GuestContext::new(instruments.clone(), 1),
        info: GuestInfo::default(),
        bars: 0,
        raise_at: 3,
        signal,
        rejects: rejects.clone(),
    };
    let id = StrategyId::new("s");
    engine.add_strategy(id.clone(), Box::new(guest)).unwrap();
    for n in 1..=4 {
        engine.on_bar(&bar(n)).unwrap();
    }
    // Bars 1 and 2 sent resting orders; the order returned by the very
    // callback that raised the signal (bar 3) and every later one is refused.
    let orders = engine.oms().orders();
    assert_eq!(orders.len(), 2, "{orders:?}");
    assert!(
        orders.iter().all(|o| o.status == OrderStatus::Cancelled),
        "working orders are cancelled by the kill policy: {orders:?}"
    );
    assert!(engine.risk().kill_switch(&KillScope::Global));
    let records = engine.take_kill_records();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].who, "ops");
    assert_eq!(
        *rejects.lock().unwrap(),
        [RejectCode::KillSwitch, RejectCode::KillSwitch],
        "bars 3 and 4 are refused by the kill switch"
    );
}
