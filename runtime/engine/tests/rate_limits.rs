//! One rule for risk's rate and window checks, with or without a durable
//! journal: an order counts once risk approved it and the journal recorded
//! it, whether the broker then takes it or not. A backtest (the engine's
//! in-memory journal) and a live run (a journal set with `set_journal`)
//! therefore refuse the same orders.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is a test failure with a location"
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use wasmtrade_broker::paper::{PaperBroker, PaperConfig};
use wasmtrade_broker::{Broker, BrokerError, VenueReport};
use wasmtrade_engine::{Engine, EngineConfig, FaultPolicy, JournalError, OrderJournal};
use wasmtrade_model::{
    Bar, BrokerEvent, Fill, GuestContext, GuestFault, GuestInfo, InstrumentId, Instruments, Intents, Money,
    NewOrder, Order, OrderId, Price, Quantity, RawIntent, RawOrderType, RejectCode, RejectNotice, Side,
    StrategyGuest, StrategyId, Tick, TimeInForce, Timestamp,
};
use wasmtrade_oms::Oms;
use wasmtrade_risk::{Amendment, Engine as RiskEngine, Limits, RiskApproved, RiskConfig};

type Rejects = Arc<Mutex<Vec<(String, RejectCode)>>>;

/// What a run refused: as the guest saw it, and the engine's counts by reason.
type Refusals = (Vec<(String, RejectCode)>, Vec<(RejectCode, u64)>);

/// Buys 1 at market `per_bar` times on every bar and notes its rejections.
struct Burst {
    ctx: GuestContext,
    info: GuestInfo,
    bars: u64,
    per_bar: u64,
    rejects: Rejects,
}

impl StrategyGuest for Burst {
    fn info(&self) -> &GuestInfo {
        &self.info
    }
    fn context(&mut self) -> &mut GuestContext {
        &mut self.ctx
    }
    fn on_bar(&mut self, _bar: &Bar) -> Intents {
        self.bars += 1;
        Ok((0..self.per_bar)
            .map(|i| RawIntent::Submit {
                client_id: format!("b{}-{i}", self.bars),
                instrument: 0,
                side: Side::Buy,
                quantity: 1.0,
                order_type: RawOrderType::Market,
                tif: TimeInForce::Gtc,
            })
            .collect())
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
        self.rejects
            .lock()
            .unwrap()
            .push((notice.client_id.to_string(), notice.rejection.code));
        Ok(vec![])
    }
    fn snapshot(&mut self) -> Result<Vec<u8>, GuestFault> {
        Ok(vec![])
    }
    fn restore(&mut self, _state: &[u8]) -> Result<(), GuestFault> {
        Ok(())
    }
}

/// The paper broker, refusing every second submit synchronously (a venue
/// that is briefly disconnected).
struct Flaky {
    inner: PaperBroker,
    submits: u64,
}

impl Broker for Flaky {
    fn submit(
        &mut self,
        id: OrderId,
        strategy: &StrategyId,
        order: &RiskApproved<NewOrder>,
        ts: Timestamp,
    ) -> Result<(), BrokerError> {
        self.submits += 1;
        if self.submits.is_multiple_of(2) {
            return Err(BrokerError::Disconnected {
                venue: "flaky".into(),
            });
        }
        self.inner.submit(id, strategy, order, ts)
    }
    fn cancel(&mut self, id: OrderId, ts: Timestamp) -> Result<(), BrokerError> {
        self.inner.cancel(id, ts)
    }
    fn amend(
        &mut self,
        id: OrderId,
        change: &RiskApproved<Amendment>,
        ts: Timestamp,
    ) -> Result<(), BrokerError> {
        self.inner.amend(id, change, ts)
    }
    fn on_bar(&mut self, bar: &Bar) {
        self.inner.on_bar(bar);
    }
    fn on_tick(&mut self, tick: &Tick) {
        self.inner.on_tick(tick);
    }
    fn poll(&mut self, out: &mut Vec<BrokerEvent>) {
        self.inner.poll(out);
    }
    fn report(&mut self, known: &[OrderId], timeout: Duration) -> Result<VenueReport, BrokerError> {
        self.inner.report(known, timeout)
    }
}

/// A durable journal as the live runtime has one: its own ids, never refuses.
struct LiveLike {
    next: u64,
    intents: Arc<Mutex<u64>>,
}

impl OrderJournal for LiveLike {
    fn next_order_id(&mut self) -> Result<OrderId, JournalError> {
        self.next += 1;
        Ok(OrderId(5000 + self.next))
    }
    fn intent(&mut self, _order: &Order) -> Result<(), JournalError> {
        *self.intents.lock().unwrap() += 1;
        Ok(())
    }
    fn event(&mut self, _event: &BrokerEvent) -> Result<(), JournalError> {
        Ok(())
    }
    fn commit(&mut self) -> Result<(), JournalError> {
        Ok(())
    }
}

/// A bar every 20 seconds.
fn bar(n: i64) -> Bar {
    Bar {
        instrument: InstrumentId(0),
        ts: Timestamp::from_secs(n * 20),
        open: Price::from_int(100),
        high: Price::from_int(101),
        low: Price::from_int(99),
        close: Price::from_int(100),
        volume: Quantity::from_int(1_000),
    }
}

/// Runs 6 bars of 3 orders each under at most 4 orders per minute; returns
/// the rejections the guest saw and the engine's counts by reason.
fn run(journal: Option<Box<dyn OrderJournal + Send>>) -> Refusals {
    let mut instruments = Instruments::new();
    instruments.intern("AAPL");
    let instruments = Arc::new(instruments);
    let risk = RiskConfig::default()
        .with_account(Limits {
            max_orders_per_minute: Some(4),
            ..Limits::default()
        })
        .unwrap();
    let mut engine = Engine::new(
        instruments.clone(),
        RiskEngine::new(risk),
        Oms::new(Money::from_int(1_000_000)),
        Flaky {
            inner: PaperBroker::new(PaperConfig::default()),
            submits: 0,
        },
        EngineConfig {
            fault_policy: FaultPolicy::Abort,
            ..EngineConfig::default()
        },
    );
    let attached = journal.is_some();
    if let Some(j) = journal {
        engine.set_journal(j);
    }
    assert_eq!(engine.has_journal(), attached);
    let rejects = Rejects::default();
    let guest = Burst {
        ctx: GuestContext::new(instruments.clone(), 1),
        info: GuestInfo::default(),
        bars: 0,
        per_bar: 3,
        rejects: rejects.clone(),
    };
    engine
        .add_strategy(StrategyId::new("s"), Box::new(guest))
        .unwrap();
    for n in 1..=6 {
        engine.on_bar(&bar(n)).unwrap();
    }
    let by_code = engine.rejections().iter().map(|(c, n)| (*c, *n)).collect();
    let seen = rejects.lock().unwrap().clone();
    (seen, by_code)
}

fn with_code(rejects: &[(String, RejectCode)], code: RejectCode) -> Vec<&str> {
    rejects
        .iter()
        .filter(|(_, c)| *c == code)
        .map(|(id, _)| id.as_str())
        .collect()
}

#[test]
fn a_rate_limit_refuses_the_same_orders_with_the_in_memory_journal_and_a_durable_one() {
    let (backtest, backtest_codes) = run(None);
    let intents = Arc::new(Mutex::new(0));
    let (live, live_codes) = run(Some(Box::new(LiveLike {
        next: 0,
        intents: intents.clone(),
    })));
    assert_eq!(backtest, live, "the same refusals, in the same order");
    assert_eq!(backtest_codes, live_codes);
    assert!(
        *intents.lock().unwrap() > 0,
        "the durable journal recorded the orders"
    );
    // Every second send is refused by the broker, yet every approved order
    // counts: b1-0..b1-2 and b2-0 fill the minute (t = 20 s, 40 s), so the
    // rest of bar 2 and all of bar 3 (t = 60 s, where t = 0 has left the
    // window but 20 s and 40 s have not) are over the limit. At t = 80 s the
    // orders of t = 20 s have left it.
    assert_eq!(
        with_code(&backtest, RejectCode::OrderRate)[..5],
        ["b2-1", "b2-2", "b3-0", "b3-1", "b3-2"],
        "{backtest:?}"
    );
    assert!(
        !with_code(&backtest, RejectCode::OrderRate).contains(&"b4-0"),
        "{backtest:?}"
    );
    assert_eq!(
        with_code(&backtest, RejectCode::Broker)[..2],
        ["b1-1", "b2-0"],
        "the broker refused these after risk counted them: {backtest:?}"
    );
}
