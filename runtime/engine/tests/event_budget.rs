//! The budget per market event: a strategy whose rejections breed
//! rejections (each callback answering with ten cancels of unknown client
//! ids) is stopped after a bounded amount of work, with a reason naming the
//! budget, and the other strategies keep receiving every bar.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is a test failure with a location"
)]
#![allow(
    clippy::disallowed_methods,
    reason = "the wall-time budget is about wall time; the bounds asserted are seconds against a freeze of minutes, not speed targets"
)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmtrade_broker::paper::PaperConfig;
use wasmtrade_engine::{
    Backtest, BacktestConfig, Engine, EngineConfig, EngineError, EventBudget, FaultPolicy, SlotState,
};
use wasmtrade_model::{
    Bar, Fill, GuestContext, GuestFault, GuestInfo, InstrumentId, Instruments, Intents, Money, Price,
    Quantity, RawIntent, RejectNotice, StrategyGuest, StrategyId, Tick, Timestamp,
};
use wasmtrade_oms::Oms;
use wasmtrade_risk::{Engine as RiskEngine, RiskConfig};

/// The guest stops breeding after this many callbacks, so that an engine
/// without a budget finishes (slowly) and the test fails on its
/// assertions instead of hanging.
const SELF_LIMIT: u64 = 300_000;

/// Answers every bar and every rejection with `width` cancels of client ids
/// that never existed; optionally sleeps in every callback.
struct Storm {
    info: GuestInfo,
    ctx: GuestContext,
    width: usize,
    sent: u64,
    callbacks: Arc<AtomicU64>,
    sleep: Duration,
    time_left: Arc<Mutex<Vec<Duration>>>,
}

impl Storm {
    fn new(instruments: &Arc<Instruments>, width: usize) -> (Self, Arc<AtomicU64>) {
        let callbacks = Arc::new(AtomicU64::new(0));
        let g = Self {
            info: GuestInfo {
                name: "storm".into(),
                ..GuestInfo::default()
            },
            ctx: GuestContext::new(instruments.clone(), 1),
            width,
            sent: 0,
            callbacks: callbacks.clone(),
            sleep: Duration::ZERO,
            time_left: Arc::new(Mutex::new(Vec::new())),
        };
        (g, callbacks)
    }

    fn cancels(&mut self) -> Intents {
        if self.callbacks.fetch_add(1, Ordering::Relaxed) >= SELF_LIMIT {
            return Ok(vec![]);
        }
        if !self.sleep.is_zero() {
            std::thread::sleep(self.sleep);
        }
        Ok((0..self.width)
            .map(|_| {
                self.sent += 1;
                RawIntent::Cancel {
                    client_id: format!("ghost-{}", self.sent),
                }
            })
            .collect())
    }
}

impl StrategyGuest for Storm {
    fn info(&self) -> &GuestInfo {
        &self.info
    }
    fn context(&mut self) -> &mut GuestContext {
        &mut self.ctx
    }
    fn on_bar(&mut self, _bar: &Bar) -> Intents {
        self.cancels()
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
        self.cancels()
    }
    fn snapshot(&mut self) -> Result<Vec<u8>, GuestFault> {
        Ok(vec![])
    }
    fn restore(&mut self, _state: &[u8]) -> Result<(), GuestFault> {
        Ok(())
    }
    fn set_time_left(&mut self, left: Option<Duration>) {
        if let Some(left) = left {
            self.time_left.lock().unwrap().push(left);
        }
    }
}

/// Counts its bars and does nothing else.
struct Steady {
    info: GuestInfo,
    ctx: GuestContext,
    bars: Arc<AtomicU64>,
}

impl StrategyGuest for Steady {
    fn info(&self) -> &GuestInfo {
        &self.info
    }
    fn context(&mut self) -> &mut GuestContext {
        &mut self.ctx
    }
    fn on_bar(&mut self, _bar: &Bar) -> Intents {
        self.bars.fetch_add(1, Ordering::Relaxed);
        Ok(vec![])
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

fn instruments() -> Arc<Instruments> {
    let mut i = Instruments::new();
    i.intern("SYNTH");
    Arc::new(i)
}

fn engine(config: EngineConfig) -> Engine<wasmtrade_broker::paper::PaperBroker> {
    Engine::new(
        instruments(),
        RiskEngine::new(RiskConfig::default()),
        Oms::new(Money::from_int(100_000)),
        wasmtrade_broker::paper::PaperBroker::new(PaperConfig::default()),
        config,
    )
}

fn live() -> EngineConfig {
    EngineConfig {
        fault_policy: FaultPolicy::Quarantine,
        ..EngineConfig::default()
    }
}

fn steady(instruments: &Arc<Instruments>) -> (Steady, Arc<AtomicU64>) {
    let bars = Arc::new(AtomicU64::new(0));
    let g = Steady {
        info: GuestInfo {
            name: "steady".into(),
            ..GuestInfo::default()
        },
        ctx: GuestContext::new(instruments.clone(), 1),
        bars: bars.clone(),
    };
    (g, bars)
}

fn reason(e: &Engine<wasmtrade_broker::paper::PaperBroker>, id: &str) -> Option<String> {
    e.strategies()
        .iter()
        .find(|s| s.id.as_str() == id)
        .and_then(|s| match &s.state {
            SlotState::Quarantined { reason } => Some(reason.clone()),
            SlotState::Active => None,
        })
}

#[test]
fn a_quarantined_guest_is_dropped_at_once_and_keeps_its_name() {
    let mut e = engine(live());
    let (storm, callbacks) = Storm::new(e.instruments(), 10);
    e.add_strategy(StrategyId::new("storm"), Box::new(storm)).unwrap();
    assert_eq!(Arc::strong_count(&callbacks), 2, "the engine holds the guest");
    e.on_bar(&bar(1)).unwrap();
    assert!(reason(&e, "storm").is_some(), "the storm guest is quarantined");
    // The guest (in a live run: its wasm store and linear memory) is gone
    // now, not when an operator removes the strategy.
    assert_eq!(
        Arc::strong_count(&callbacks),
        1,
        "the quarantined guest was not dropped"
    );
    let slot = e.strategies().iter().find(|s| s.id.as_str() == "storm").unwrap();
    assert_eq!(slot.guest.info().name, "storm");
    e.on_bar(&bar(2)).unwrap();
    assert_eq!(e.stats().faults, 1, "a released guest takes no more events");
}

#[test]
fn a_reject_storm_is_stopped_by_the_budget_per_event_and_the_other_strategy_keeps_its_bars() {
    let mut e = engine(live());
    let (storm, callbacks) = Storm::new(e.instruments(), 10);
    let (calm, bars) = steady(e.instruments());
    e.add_strategy(StrategyId::new("storm"), Box::new(storm)).unwrap();
    e.add_strategy(StrategyId::new("calm"), Box::new(calm)).unwrap();
    let start = Instant::now();
    e.on_bar(&bar(1)).unwrap();
    let first_bar = start.elapsed();
    for n in 2..=5 {
        e.on_bar(&bar(n)).unwrap();
    }
    // Bounded: about max_intents / width callbacks, not 10^8.
    let calls = callbacks.load(Ordering::Relaxed);
    let budget = EventBudget::default();
    assert!(
        calls <= u64::from(budget.max_callbacks) + 1,
        "{calls} callbacks for one bar"
    );
    assert!(
        e.stats().rejected <= u64::from(budget.max_rejects) + 1,
        "{} rejections for one bar",
        e.stats().rejected
    );
    assert!(
        first_bar < Duration::from_secs(5),
        "the storm held the loop for {first_bar:?}"
    );
    let why = reason(&e, "storm").expect("the storm guest is quarantined");
    assert!(why.contains("budget per market event"), "{why}");
    assert!(why.contains("in one event (max_"), "{why}");
    // The loop moved on: the calm strategy saw every bar, the storm only the first.
    assert_eq!(bars.load(Ordering::Relaxed), 5);
    assert_eq!(reason(&e, "calm"), None);
    assert_eq!(e.stats().faults, 1);
}

#[test]
fn each_limit_is_named_when_it_is_the_one_exceeded() {
    for (budget, name) in [
        (
            EventBudget {
                max_rejects: 50,
                ..EventBudget::default()
            },
            "51 rejections in one event (max_rejects 50)",
        ),
        (
            EventBudget {
                max_callbacks: 30,
                ..EventBudget::default()
            },
            "31 callbacks in one event (max_callbacks 30)",
        ),
        (
            EventBudget {
                max_intents: 25,
                ..EventBudget::default()
            },
            "30 intents in one event (max_intents 25)",
        ),
    ] {
        let mut e = engine(EngineConfig { budget, ..live() });
        let (storm, _) = Storm::new(e.instruments(), 10);
        e.add_strategy(StrategyId::new("storm"), Box::new(storm)).unwrap();
        e.on_bar(&bar(1)).unwrap();
        let why = reason(&e, "storm").expect("quarantined");
        assert!(why.contains(name), "expected `{name}` in: {why}");
    }
}

#[test]
fn the_budget_counts_per_event_so_steady_work_below_it_never_trips_it() {
    // 5 intents and 5 rejections per bar (no replies to rejections) against
    // a budget of 8 per event: fine on every bar, although the sum over
    // bars is far above it.
    let budget = EventBudget {
        max_rejects: 8,
        max_intents: 8,
        ..EventBudget::default()
    };
    let mut e = engine(EngineConfig { budget, ..live() });
    let (storm, _) = Storm::new(e.instruments(), 5);
    // Replies stop at once: only on_bar breeds.
    struct OnlyBars(Storm);
    impl StrategyGuest for OnlyBars {
        fn info(&self) -> &GuestInfo {
            self.0.info()
        }
        fn context(&mut self) -> &mut GuestContext {
            self.0.context()
        }
        fn on_bar(&mut self, bar: &Bar) -> Intents {
            self.0.on_bar(bar)
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
    e.add_strategy(StrategyId::new("s"), Box::new(OnlyBars(storm)))
        .unwrap();
    for n in 1..=20 {
        e.on_bar(&bar(n)).unwrap();
    }
    assert_eq!(reason(&e, "s"), None);
    assert_eq!(e.stats().rejected, 100);
}

#[test]
fn a_backtest_stops_with_the_event_budget_fault() {
    let instruments = instruments();
    let mut bt = Backtest::new(instruments.clone(), BacktestConfig::default()).unwrap();
    let (storm, callbacks) = Storm::new(&instruments, 10);
    bt.add_strategy(StrategyId::new("storm"), Box::new(storm))
        .unwrap();
    let bars: Vec<Bar> = (1..=3).map(bar).collect();
    let err = match bt.run(bars.iter(), &mut |_| {}) {
        Ok(_) => panic!("the run should stop on the storm"),
        Err(e) => e,
    };
    match &err {
        EngineError::StrategyFault {
            strategy,
            fault: GuestFault::EventBudget { what },
        } => {
            assert_eq!(strategy, "storm");
            assert!(
                what.contains("10001 rejections in one event (max_rejects 10000)"),
                "{what}"
            );
        }
        other => panic!("expected an event budget fault, got {other}"),
    }
    assert!(callbacks.load(Ordering::Relaxed) <= 10_001);
}

#[test]
fn the_wall_time_budget_stops_slow_callbacks_and_tells_the_guest_what_is_left() {
    let budget = EventBudget {
        max_time_ms: Some(30),
        ..EventBudget::default()
    };
    let mut e = engine(EngineConfig { budget, ..live() });
    let (mut storm, callbacks) = Storm::new(e.instruments(), 1);
    storm.sleep = Duration::from_millis(5);
    let left = storm.time_left.clone();
    e.add_strategy(StrategyId::new("slow"), Box::new(storm)).unwrap();
    let start = Instant::now();
    e.on_bar(&bar(1)).unwrap();
    assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
    let why = reason(&e, "slow").expect("quarantined");
    assert!(why.contains("max_time_ms 30"), "{why}");
    // A chain of 1-wide replies, stopped by time (not by depth: the chain
    // limit would stop it after 9 callbacks, the time after about 7).
    let calls = callbacks.load(Ordering::Relaxed);
    assert!((1..9).contains(&calls), "{calls} callbacks");
    let left = left.lock().unwrap().clone();
    assert_eq!(left.len() as u64, calls);
    assert_eq!(left[0], Duration::from_millis(30));
    assert!(left.windows(2).all(|w| w[1] < w[0]), "{left:?}");
}
