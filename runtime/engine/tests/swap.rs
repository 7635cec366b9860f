//! Hot swap, shadow runs and removal in the engine, with counting guests.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is a test failure with a location"
)]

use std::sync::{Arc, Mutex};

use wasmtrade_broker::paper::{PaperBroker, PaperConfig};
use wasmtrade_engine::{Engine, EngineConfig, FaultPolicy, SlotState, SwapError};
use wasmtrade_model::{
    Bar, Fill, GuestContext, GuestFault, GuestInfo, IndicatorGuest, InstrumentId, Instruments, Intents,
    Money, Price, Quantity, RawIntent, RawOrderType, RejectNotice, Side, StrategyGuest, StrategyId, Tick,
    TimeInForce, Timestamp,
};
use wasmtrade_oms::Oms;
use wasmtrade_risk::{Engine as RiskEngine, RiskConfig};

/// Counts bars in its state; buys `qty` on the bar whose count is `buy_at`.
struct Counter {
    info: GuestInfo,
    ctx: GuestContext,
    bars: u64,
    buy_at: u64,
    limit: Option<f64>,
    refuse_restore: bool,
    /// `snapshot` fails with this fault.
    snapshot_fault: Option<GuestFault>,
    seen: Arc<Mutex<Vec<u64>>>,
}

impl Counter {
    fn new(instruments: &Arc<Instruments>, buy_at: u64) -> (Self, Arc<Mutex<Vec<u64>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let g = Self {
            info: GuestInfo::default(),
            ctx: GuestContext::new(instruments.clone(), 1),
            bars: 0,
            buy_at,
            limit: None,
            refuse_restore: false,
            snapshot_fault: None,
            seen: seen.clone(),
        };
        (g, seen)
    }
}

impl StrategyGuest for Counter {
    fn info(&self) -> &GuestInfo {
        &self.info
    }
    fn context(&mut self) -> &mut GuestContext {
        &mut self.ctx
    }
    fn on_bar(&mut self, _bar: &Bar) -> Intents {
        self.bars += 1;
        self.seen.lock().unwrap().push(self.bars);
        if self.bars != self.buy_at {
            return Ok(vec![]);
        }
        let order_type = match self.limit {
            Some(limit) => RawOrderType::Limit(limit),
            None => RawOrderType::Market,
        };
        Ok(vec![RawIntent::Submit {
            client_id: format!("buy-{}", self.bars),
            instrument: 0,
            side: Side::Buy,
            quantity: 5.0,
            order_type,
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
    fn on_reject(&mut self, _notice: &RejectNotice) -> Intents {
        Ok(vec![])
    }
    fn snapshot(&mut self) -> Result<Vec<u8>, GuestFault> {
        if let Some(fault) = &self.snapshot_fault {
            return Err(fault.clone());
        }
        Ok(self.bars.to_le_bytes().to_vec())
    }
    fn restore(&mut self, state: &[u8]) -> Result<(), GuestFault> {
        if self.refuse_restore {
            return Err(GuestFault::Returned {
                message: "state from another version".into(),
            });
        }
        self.bars = u64::from_le_bytes(state.try_into().map_err(|_| GuestFault::Returned {
            message: "bad state".into(),
        })?);
        Ok(())
    }
}

/// An indicator that traps on its `fail_at`-th bar.
struct Flaky {
    info: GuestInfo,
    ctx: GuestContext,
    outputs: Vec<String>,
    n: u64,
    fail_at: u64,
}

impl IndicatorGuest for Flaky {
    fn info(&self) -> &GuestInfo {
        &self.info
    }
    fn outputs(&self) -> &[String] {
        &self.outputs
    }
    fn context(&mut self) -> &mut GuestContext {
        &mut self.ctx
    }
    fn update(&mut self, _bar: &Bar) -> Result<Option<Vec<f64>>, GuestFault> {
        self.n += 1;
        if self.n == self.fail_at {
            return Err(GuestFault::Trap {
                reason: "unreachable".into(),
                backtrace: None,
            });
        }
        Ok(Some(vec![self.n as f64]))
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

fn engine() -> Engine<PaperBroker> {
    let mut i = Instruments::new();
    i.intern("AAPL");
    Engine::new(
        Arc::new(i),
        RiskEngine::new(RiskConfig::default()),
        Oms::new(Money::from_int(100_000)),
        PaperBroker::new(PaperConfig::default()),
        EngineConfig {
            fault_policy: FaultPolicy::Quarantine,
            flatten_on_fault: false,
            ..EngineConfig::default()
        },
    )
}

fn id() -> StrategyId {
    StrategyId::new("s")
}

#[test]
fn a_swap_between_two_bars_continues_the_count_and_keeps_the_position() {
    let mut e = engine();
    let (old, seen_old) = Counter::new(e.instruments(), 2);
    e.add_strategy(id(), Box::new(old)).unwrap();
    for n in 1..=3 {
        e.on_bar(&bar(n)).unwrap();
    }
    let (new, seen_new) = Counter::new(e.instruments(), 100);
    let done = e.swap_strategy(&id(), Box::new(new), true).unwrap();
    assert_eq!(done.state_bytes, 8);
    for n in 4..=6 {
        e.on_bar(&bar(n)).unwrap();
    }
    assert_eq!(*seen_old.lock().unwrap(), [1, 2, 3]);
    assert_eq!(
        *seen_new.lock().unwrap(),
        [4, 5, 6],
        "the new version continues from the old state"
    );
    let position = e.oms().position(&id(), InstrumentId(0));
    assert_eq!(
        position.quantity,
        Quantity::from_int(5),
        "the position stays with the strategy id"
    );
    assert_eq!(
        e.strategies()[0].counters.bars,
        6,
        "the slot counts every bar once"
    );
}

#[test]
fn a_new_version_that_refuses_the_state_is_not_installed_and_the_old_one_runs_on() {
    let mut e = engine();
    let (old, seen_old) = Counter::new(e.instruments(), 0);
    e.add_strategy(id(), Box::new(old)).unwrap();
    e.on_bar(&bar(1)).unwrap();
    let (mut new, seen_new) = Counter::new(e.instruments(), 0);
    new.refuse_restore = true;
    let refused = e.swap_strategy(&id(), Box::new(new), true).err().unwrap();
    assert!(
        matches!(refused.error, SwapError::Restore { .. }),
        "{:?}",
        refused.error
    );
    assert!(refused.error.to_string().contains("state from another version"));
    e.on_bar(&bar(2)).unwrap();
    assert_eq!(*seen_old.lock().unwrap(), [1, 2]);
    assert!(seen_new.lock().unwrap().is_empty());
}

#[test]
fn a_snapshot_out_of_fuel_quarantines_the_running_version_and_says_so() {
    let mut e = engine();
    let (mut old, seen_old) = Counter::new(e.instruments(), 1);
    old.snapshot_fault = Some(GuestFault::Budget {
        budget: "fuel 50000000 per callback".into(),
    });
    e.add_strategy(id(), Box::new(old)).unwrap();
    e.on_bar(&bar(1)).unwrap(); // buys 5 at the market: a working order
    let (new, seen_new) = Counter::new(e.instruments(), 0);
    let refused = e.swap_strategy(&id(), Box::new(new), true).err().unwrap();
    assert!(
        refused.error.quarantined_the_running_guest(),
        "{:?}",
        refused.error
    );
    assert!(
        matches!(&e.strategies()[0].state, SlotState::Quarantined { reason } if reason.contains("cpu budget")),
        "{:?}",
        e.strategies()[0].state
    );
    e.on_bar(&bar(2)).unwrap();
    assert_eq!(
        *seen_old.lock().unwrap(),
        [1],
        "the quarantined version gets no more bars"
    );
    assert!(seen_new.lock().unwrap().is_empty());
    assert_eq!(e.stats().faults, 1);
    // A later swap starts the new version without the (lost) state.
    let (new, seen_new) = Counter::new(e.instruments(), 0);
    let done = e.swap_strategy(&id(), Box::new(new), true).unwrap();
    assert_eq!(done.state_bytes, 0);
    e.on_bar(&bar(3)).unwrap();
    assert_eq!(*seen_new.lock().unwrap(), [1]);
}

#[test]
fn a_snapshot_the_guest_refuses_leaves_the_running_version_running() {
    let mut e = engine();
    let (mut old, seen_old) = Counter::new(e.instruments(), 0);
    old.snapshot_fault = Some(GuestFault::Returned {
        message: "no state today".into(),
    });
    e.add_strategy(id(), Box::new(old)).unwrap();
    let (new, _) = Counter::new(e.instruments(), 0);
    let refused = e.swap_strategy(&id(), Box::new(new), true).err().unwrap();
    assert!(matches!(refused.error, SwapError::Snapshot { .. }));
    assert!(!refused.error.quarantined_the_running_guest());
    assert_eq!(e.strategies()[0].state, SlotState::Active);
    e.on_bar(&bar(1)).unwrap();
    assert_eq!(*seen_old.lock().unwrap(), [1]);
}

#[test]
fn a_shadow_sees_the_same_bars_its_intents_are_compared_and_never_sent() {
    let mut e = engine();
    let (active, _) = Counter::new(e.instruments(), 3);
    e.add_strategy(id(), Box::new(active)).unwrap();
    e.on_bar(&bar(1)).unwrap();
    // The shadow starts from the active state and would buy one bar later.
    let (shadow, seen_shadow) = Counter::new(e.instruments(), 4);
    e.start_shadow(&id(), Box::new(shadow), 2, true).unwrap();
    for n in 2..=5 {
        e.on_bar(&bar(n)).unwrap();
    }
    assert_eq!(*seen_shadow.lock().unwrap(), [2, 3, 4, 5]);
    let stats = e.strategies()[0].shadow.as_ref().unwrap().stats.clone();
    assert_eq!(stats.events, 5, "four bars and the active version's fill");
    assert_eq!((stats.matching, stats.diverging), (3, 2), "bars 3 and 4 differ");
    assert_eq!(stats.intents, 1);
    assert_eq!(
        e.oms().orders().len(),
        1,
        "only the active version's order was sent"
    );

    // Promotion: the shadow becomes the active guest with its own state.
    let promoted = e.promote_shadow(&id()).unwrap();
    assert_eq!(promoted.tag, 2);
    assert!(e.strategies()[0].shadow.is_none());
    e.on_bar(&bar(6)).unwrap();
    assert_eq!(seen_shadow.lock().unwrap().last(), Some(&6));
    assert!(matches!(e.promote_shadow(&id()), Err(SwapError::NoShadow { .. })));
}

#[test]
fn removing_a_strategy_cancels_its_working_orders_and_keeps_its_fills() {
    let mut e = engine();
    let (mut g, _) = Counter::new(e.instruments(), 1);
    g.limit = Some(50.0);
    e.add_strategy(id(), Box::new(g)).unwrap();
    e.on_bar(&bar(1)).unwrap();
    e.on_bar(&bar(2)).unwrap();
    assert_eq!(e.oms().working_orders().count(), 1);
    let slot = e.remove_strategy(&id()).unwrap();
    assert_eq!(slot.id, id());
    assert_eq!(
        e.oms().working_orders().count(),
        0,
        "its limit order was cancelled"
    );
    assert!(!e.has_strategy(&id()));
    e.on_bar(&bar(3)).unwrap();
}

#[test]
fn a_faulting_indicator_is_quarantined_live_and_strategies_keep_trading() {
    let mut e = engine();
    let instruments = e.instruments().clone();
    let (g, seen) = Counter::new(&instruments, 0);
    e.add_strategy(id(), Box::new(g)).unwrap();
    let flaky = Flaky {
        info: GuestInfo::default(),
        ctx: GuestContext::new(instruments, 1),
        outputs: vec!["n".into()],
        n: 0,
        fail_at: 2,
    };
    e.add_indicator("flaky".into(), Box::new(flaky)).unwrap();
    for n in 1..=3 {
        e.on_bar(&bar(n)).unwrap();
    }
    assert_eq!(*seen.lock().unwrap(), [1, 2, 3]);
    assert!(
        e.indicators()[0]
            .fault
            .as_deref()
            .is_some_and(|f| f.contains("unreachable"))
    );
    assert_eq!(e.stats().faults, 1);
}

/// Buys 5 at the market on bar 1, rests a far limit buy on bar 2, traps on bar 3.
struct BuyThenTrap {
    info: GuestInfo,
    ctx: GuestContext,
    bars: u64,
}

impl StrategyGuest for BuyThenTrap {
    fn info(&self) -> &GuestInfo {
        &self.info
    }
    fn context(&mut self) -> &mut GuestContext {
        &mut self.ctx
    }
    fn on_bar(&mut self, _bar: &Bar) -> Intents {
        self.bars += 1;
        let order = |id: &str, order_type| RawIntent::Submit {
            client_id: id.into(),
            instrument: 0,
            side: Side::Buy,
            quantity: 5.0,
            order_type,
            tif: TimeInForce::Gtc,
        };
        match self.bars {
            1 => Ok(vec![order("m", RawOrderType::Market)]),
            2 => Ok(vec![order("l", RawOrderType::Limit(50.0))]),
            _ => Err(GuestFault::Trap {
                reason: "unreachable".into(),
                backtrace: None,
            }),
        }
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
    fn on_reject(&mut self, _notice: &RejectNotice) -> Intents {
        Ok(vec![])
    }
    fn snapshot(&mut self) -> Result<Vec<u8>, GuestFault> {
        Ok(vec![])
    }
    fn restore(&mut self, _state: &[u8]) -> Result<(), GuestFault> {
        Ok(())
    }
}

fn quarantine_run(flatten: bool) -> Engine<PaperBroker> {
    let mut i = Instruments::new();
    i.intern("AAPL");
    let instruments = Arc::new(i);
    let mut e = Engine::new(
        instruments.clone(),
        RiskEngine::new(RiskConfig::default()),
        Oms::new(Money::from_int(100_000)),
        PaperBroker::new(PaperConfig::default()),
        EngineConfig {
            fault_policy: FaultPolicy::Quarantine,
            flatten_on_fault: flatten,
            ..EngineConfig::default()
        },
    );
    let g = BuyThenTrap {
        info: GuestInfo::default(),
        ctx: GuestContext::new(instruments, 1),
        bars: 0,
    };
    e.add_strategy(id(), Box::new(g)).unwrap();
    for n in 1..=4 {
        e.on_bar(&bar(n)).unwrap();
    }
    e
}

#[test]
fn a_quarantined_strategy_has_its_orders_cancelled_and_its_position_held_by_default() {
    let e = quarantine_run(false);
    assert!(!e.strategies()[0].is_active());
    assert_eq!(
        e.oms().working_orders().count(),
        0,
        "the resting limit order was cancelled"
    );
    assert_eq!(
        e.oms().position(&id(), InstrumentId(0)).quantity,
        Quantity::from_int(5)
    );
}

#[test]
fn with_flatten_on_fault_a_quarantined_strategys_position_is_closed_at_the_market() {
    let e = quarantine_run(true);
    assert_eq!(e.oms().working_orders().count(), 0);
    assert!(
        e.oms().position(&id(), InstrumentId(0)).quantity.is_zero(),
        "flattened at the next open"
    );
    let sells = e
        .oms()
        .orders()
        .iter()
        .filter(|o| o.request.side == Side::Sell)
        .count();
    assert_eq!(sells, 1);
}
