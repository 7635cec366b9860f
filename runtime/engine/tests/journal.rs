//! The write-ahead order journal: an intent is durable before the broker
//! sees it, the intents of one callback share one commit, an intent that
//! cannot be made durable is never sent, and every applied broker event is
//! journaled.

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
    NewOrder, Order, OrderId, OrderStatus, Price, Quantity, RawIntent, RawOrderType, RejectCode,
    RejectNotice, Side, StrategyGuest, StrategyId, Tick, TimeInForce, Timestamp,
};
use wasmtrade_oms::Oms;
use wasmtrade_risk::{Amendment, Engine as RiskEngine, RiskApproved, RiskConfig};

type Log = Arc<Mutex<Vec<String>>>;

/// Buys `per_bar` × 1 at market on every bar.
struct Burst {
    ctx: GuestContext,
    info: GuestInfo,
    bars: u64,
    per_bar: u64,
    rejects: Arc<Mutex<Vec<(RejectCode, String)>>>,
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
            .push((notice.rejection.code, notice.rejection.message.clone()));
        Ok(vec![])
    }
    fn snapshot(&mut self) -> Result<Vec<u8>, GuestFault> {
        Ok(vec![])
    }
    fn restore(&mut self, _state: &[u8]) -> Result<(), GuestFault> {
        Ok(())
    }
}

/// A journal that logs what it is asked and can be told to fail commits.
struct FakeJournal {
    log: Log,
    next: u64,
    fail_commit: Arc<Mutex<bool>>,
}

impl OrderJournal for FakeJournal {
    fn next_order_id(&mut self) -> Result<OrderId, JournalError> {
        self.next += 1;
        Ok(OrderId(1000 + self.next))
    }
    fn intent(&mut self, order: &Order) -> Result<(), JournalError> {
        self.log.lock().unwrap().push(format!("intent {}", order.id.0));
        Ok(())
    }
    fn event(&mut self, event: &BrokerEvent) -> Result<(), JournalError> {
        let kind = match event {
            BrokerEvent::Filled(_) => "fill",
            BrokerEvent::Accepted { .. } => "accepted",
            BrokerEvent::Rejected { .. } => "rejected",
            _ => "other",
        };
        self.log
            .lock()
            .unwrap()
            .push(format!("{kind} {}", event.order_id().0));
        Ok(())
    }
    fn commit(&mut self) -> Result<(), JournalError> {
        if *self.fail_commit.lock().unwrap() {
            return Err(JournalError("No space left on device (os error 28)".into()));
        }
        self.log.lock().unwrap().push("commit".into());
        Ok(())
    }
}

/// The paper broker, logging every submit.
struct Logged {
    inner: PaperBroker,
    log: Log,
}

impl Broker for Logged {
    fn submit(
        &mut self,
        id: OrderId,
        strategy: &StrategyId,
        order: &RiskApproved<NewOrder>,
        ts: Timestamp,
    ) -> Result<(), BrokerError> {
        self.log.lock().unwrap().push(format!("submit {}", id.0));
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

struct Rig {
    engine: Engine<Logged>,
    log: Log,
    fail_commit: Arc<Mutex<bool>>,
    rejects: Arc<Mutex<Vec<(RejectCode, String)>>>,
}

fn rig(per_bar: u64) -> Rig {
    let mut instruments = Instruments::new();
    instruments.intern("AAPL");
    let instruments = Arc::new(instruments);
    let log: Log = Arc::default();
    let mut engine = Engine::new(
        instruments.clone(),
        RiskEngine::new(RiskConfig::default()),
        Oms::new(Money::from_int(1_000_000)),
        Logged {
            inner: PaperBroker::new(PaperConfig::default()),
            log: log.clone(),
        },
        EngineConfig {
            fault_policy: FaultPolicy::Quarantine,
            flatten_on_fault: false,
            ..EngineConfig::default()
        },
    );
    let fail_commit = Arc::new(Mutex::new(false));
    engine.set_journal(Box::new(FakeJournal {
        log: log.clone(),
        next: 0,
        fail_commit: fail_commit.clone(),
    }));
    let rejects = Arc::default();
    let guest = Burst {
        ctx: GuestContext::new(instruments.clone(), 1),
        info: GuestInfo::default(),
        bars: 0,
        per_bar,
        rejects: Arc::clone(&rejects),
    };
    engine
        .add_strategy(StrategyId::new("s"), Box::new(guest))
        .unwrap();
    Rig {
        engine,
        log,
        fail_commit,
        rejects,
    }
}

#[test]
fn every_intent_of_a_callback_is_journaled_and_committed_once_before_the_broker_sees_any() {
    let mut rig = rig(3);
    rig.engine.on_bar(&bar(1)).unwrap();
    let log = rig.log.lock().unwrap().clone();
    let first_submit = log.iter().position(|l| l.starts_with("submit")).unwrap();
    assert_eq!(
        log[..first_submit],
        ["intent 1001", "intent 1002", "intent 1003", "commit"],
        "three intents, one group commit, then the sends: {log:?}"
    );
    assert_eq!(
        log[first_submit..first_submit + 3],
        ["submit 1001", "submit 1002", "submit 1003"]
    );
    // The journal's ids are the orders' ids.
    let ids: Vec<u64> = rig.engine.oms().orders().iter().map(|o| o.id.0).collect();
    assert_eq!(ids, [1001, 1002, 1003]);
}

#[test]
fn broker_events_are_journaled_as_they_arrive_and_committed_with_the_event() {
    let mut rig = rig(1);
    rig.engine.on_bar(&bar(1)).unwrap();
    rig.engine.on_bar(&bar(2)).unwrap();
    let log = rig.log.lock().unwrap().clone();
    let fill = log
        .iter()
        .position(|l| l == "fill 1001")
        .expect("the fill is journaled");
    assert!(log[..fill].contains(&"accepted 1001".to_string()), "{log:?}");
    assert!(
        log[fill..].contains(&"commit".to_string()),
        "the fill is committed in its event: {log:?}"
    );
    assert_eq!(
        rig.engine.oms().order(OrderId(1001)).unwrap().status,
        OrderStatus::Filled
    );
}

#[test]
fn an_intent_that_cannot_be_made_durable_is_rejected_and_never_reaches_the_broker() {
    let mut rig = rig(2);
    *rig.fail_commit.lock().unwrap() = true;
    rig.engine.on_bar(&bar(1)).unwrap();
    let log = rig.log.lock().unwrap().clone();
    assert!(
        !log.iter().any(|l| l.starts_with("submit")),
        "nothing was sent: {log:?}"
    );
    let orders = rig.engine.oms().orders();
    assert_eq!(orders.len(), 2);
    assert!(
        orders.iter().all(|o| o.status == OrderStatus::Rejected),
        "{orders:?}"
    );
    let rejects = rig.rejects.lock().unwrap().clone();
    assert_eq!(rejects.len(), 2, "{rejects:?}");
    assert!(
        rejects[0].1.contains("could not be made durable") && rejects[0].1.contains("No space left"),
        "the reason names the journal and the cause: {rejects:?}"
    );
    assert_eq!(rig.engine.stats().journal_refusals, 2);
    // Once the journal works again, new intents go out.
    *rig.fail_commit.lock().unwrap() = false;
    rig.engine.on_bar(&bar(2)).unwrap();
    assert!(rig.log.lock().unwrap().iter().any(|l| l.starts_with("submit")));
}

#[test]
fn an_order_ended_by_reconciliation_reaches_its_strategy_through_on_reject_with_the_reason() {
    let mut rig = rig(1);
    rig.engine.on_bar(&bar(1)).unwrap();
    assert_eq!(
        rig.engine.oms().order(OrderId(1001)).unwrap().status,
        OrderStatus::Accepted
    );
    let cancelled = BrokerEvent::Cancelled {
        order_id: OrderId(1001),
        ts: Timestamp::from_secs(61),
    };
    rig.engine
        .end_reconciled(cancelled.clone(), "the in-process paper broker restarted");
    assert_eq!(
        rig.engine.oms().order(OrderId(1001)).unwrap().status,
        OrderStatus::Cancelled
    );
    let rejects = rig.rejects.lock().unwrap().clone();
    assert_eq!(
        rejects,
        [(
            RejectCode::Broker,
            "the in-process paper broker restarted".to_string()
        )]
    );
    // The same end again changes nothing and tells nothing.
    rig.engine.end_reconciled(cancelled, "again");
    assert_eq!(rig.rejects.lock().unwrap().len(), 1);
}
