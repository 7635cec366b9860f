//! Cost of a full pre-trade check with every limit enabled, and what the
//! throttles do to a 1,000,000-intent flood.
//!
//! `cargo bench -p wasmtrade-risk` (set `BENCH_CHECKS` to change the number
//! of timed checks). Prints nanoseconds per check (the approve path, also
//! with the `on_order_sent` bookkeeping) against a baseline with no limits
//! measured in the same run, heap allocations per approved check (counted
//! by a wrapping allocator), and the flood's accepted/rejected counts per reason.

// The counting allocator needs `unsafe impl GlobalAlloc`; it only forwards to `System`.
#![allow(unsafe_code)]
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used, missing_docs)]
// A benchmark reads the wall clock to time itself.
#![allow(clippy::disallowed_methods)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::{BTreeMap, BTreeSet};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use wasmtrade_model::{
    ClientOrderId, Fill, Instrument, InstrumentId, Money, NewOrder, OrderId, OrderType, Price, Quantity,
    Rate, RejectCode, Side, StrategyId, TimeInForce, Timestamp,
};
use wasmtrade_risk::{Engine, Exposure, Limits, RawBlackout, RawCalendar, RiskConfig, SessionState};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to `System` unchanged; only counts allocations.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn q(n: i64) -> Quantity {
    Quantity::from_int(n)
}
fn m(n: i64) -> Money {
    Money::from_int(n)
}

/// 2024-06-11 14:00 UTC: 10:00 in New York, in session.
const START: i64 = 1_718_114_400;

/// Every limit of issue 5 enabled at the account, strategy and instrument level.
fn full_config(flood: bool, strategies: usize) -> RiskConfig {
    let rate = |n: u32| if flood { n } else { 1_000_000 };
    let account = Limits {
        max_order_quantity: Some(q(10_000)),
        max_order_notional: Some(m(5_000_000)),
        max_position: Some(q(1_000_000)),
        max_gross_exposure: Some(m(1_000_000_000)),
        max_net_exposure: Some(m(1_000_000_000)),
        max_open_notional: Some(m(1_000_000_000)),
        collar_percent: Some("0.05".parse::<Rate>().unwrap()),
        max_reference_age_ms: Some(5_000),
        max_window_quantity: Some(q(if flood { 20_000 } else { 1_000_000_000 })),
        max_window_notional: Some(m(1_000_000_000_000)),
        max_daily_loss: Some(m(50_000)),
        max_drawdown: Some(m(80_000)),
        max_messages_per_second: Some(rate(50)),
        max_cancels_per_minute: Some(rate(600)),
        max_working_orders: Some(1_000),
        max_working_orders_per_side: Some(20),
        prevent_self_cross: Some(true),
        trading_hours: Some("us".into()),
        ..Limits::default()
    };
    let strategy = Limits {
        max_order_quantity: Some(q(5_000)),
        max_long_position: Some(q(500_000)),
        max_short_position: Some(q(500_000)),
        allowed_instruments: Some(BTreeSet::from(["AAPL".to_string(), "MSFT".to_string()])),
        collar_ticks: Some(50),
        max_orders_per_second: Some(rate(40)),
        max_orders_per_minute: Some(rate(1_200)),
        max_order_to_trade_ratio: Some(if flood { 50 } else { u32::MAX }),
        max_executions: Some(1_000),
        duplicate_window_ms: Some(1_000),
        max_working_orders: Some(500),
        ..Limits::default()
    };
    let instrument = Limits {
        max_order_notional: Some(m(1_000_000)),
        max_position: Some(q(200_000)),
        max_open_notional: Some(m(100_000_000)),
        ..Limits::default()
    };
    let calendar = RawCalendar {
        timezone: "America/New_York".into(),
        open: "09:30".into(),
        close: "16:00".into(),
        days: ["mon", "tue", "wed", "thu", "fri"].map(String::from).to_vec(),
        holidays: vec!["2024-07-04".into(), "2024-12-25".into()],
        blackouts: vec![RawBlackout {
            start: "2024-06-12T08:25".into(),
            end: "2024-06-12T08:35".into(),
            label: "CPI".into(),
        }],
    };
    RiskConfig::default()
        .edit(|raw| {
            raw.restricted.insert("GME".into());
            raw.order_to_trade_min_orders = 100;
            for k in 0..strategies {
                raw.strategies
                    .insert(strategy_id(k).to_string(), strategy.clone());
            }
        })
        .unwrap()
        .with_calendar("us", calendar)
        .unwrap()
        .with_account(account)
        .unwrap()
        .with_instrument("AAPL", instrument)
        .unwrap()
}

/// `alpha`, then `s1`, `s2`, …
fn strategy_id(k: usize) -> StrategyId {
    if k == 0 {
        StrategyId::new("alpha")
    } else {
        StrategyId::new(format!("s{k}"))
    }
}

fn order(price_cents: i64, qty: i64) -> NewOrder {
    NewOrder {
        client_id: ClientOrderId::new("c-1"),
        instrument: InstrumentId(0),
        side: Side::Buy,
        quantity: q(qty),
        order_type: OrderType::Limit {
            limit: Price::from_raw(price_cents * 10_000_000),
        },
        tif: TimeInForce::Day,
    }
}

fn exposure(now: Timestamp) -> Exposure {
    Exposure {
        position: q(100),
        open_buy: q(50),
        open_sell: q(20),
        open_buy_notional: m(9_000),
        reference_price: Some(Price::from_int(180)),
        available_cash: m(10_000_000),
        reference_time: Some(now),
        now,
        session: SessionState::Open,
        account_position: q(300),
        account_open_buy: q(50),
        account_open_sell: q(20),
        instrument_open_notional: m(12_600),
        strategy_open_notional: m(20_000),
        account_open_notional: m(40_000),
        instrument_working: 3,
        strategy_working: 5,
        account_working: 9,
        working_buys: 2,
        working_sells: 1,
        ..Exposure::default()
    }
}

fn time_checks(risk: &Engine, n: u32) -> (f64, u64) {
    let (s, i) = (
        StrategyId::new("alpha"),
        Instrument::equity(InstrumentId(0), "AAPL"),
    );
    let now = Timestamp::from_secs(START);
    let (o, e) = (order(18_000, 100), exposure(now));
    risk.check_new(&s, &i, &o, &e)
        .expect("the timed order is approved");
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let start = Instant::now();
    for _ in 0..n {
        black_box(
            risk.check_new(black_box(&s), black_box(&i), black_box(&o), black_box(&e))
                .is_ok(),
        );
    }
    let ns = start.elapsed().as_nanos() as f64 / f64::from(n);
    (ns, ALLOCATIONS.load(Ordering::Relaxed) - before)
}

/// Check + `on_order_sent` per order, event time advancing 1 ms per order
/// and prices cycling so that nothing is a duplicate.
fn time_check_and_record(n: u32) -> (f64, u32) {
    let mut risk = Engine::new(full_config(false, 1));
    let (s, i) = (
        StrategyId::new("alpha"),
        Instrument::equity(InstrumentId(0), "AAPL"),
    );
    let mut approved = 0;
    let start = Instant::now();
    for k in 0..i64::from(n) {
        let now = Timestamp::from_secs(START).add_nanos(k * 1_000_000);
        let (o, e) = (order(17_950 + k % 100, 1 + k % 2_000), exposure(now));
        if risk.check_new(&s, &i, &o, &e).is_ok() {
            risk.on_order_sent(&s, &i, &o, &e);
            approved += 1;
        }
    }
    (start.elapsed().as_nanos() as f64 / f64::from(n), approved)
}

/// 1,000,000 intents over 60 s of event time (one every 60 µs) from
/// `strategies` strategies in turn, prices cycling within the collar and
/// every tenth accepted order filling: what gets through, and why not.
fn flood(strategies: usize) -> (BTreeMap<Option<RejectCode>, u32>, f64) {
    let mut risk = Engine::new(full_config(true, strategies));
    let ids: Vec<StrategyId> = (0..strategies).map(strategy_id).collect();
    let i = Instrument::equity(InstrumentId(0), "AAPL");
    let mut tally = BTreeMap::new();
    let mut accepted = 0u64;
    let start = Instant::now();
    for k in 0..1_000_000i64 {
        let s = &ids[k as usize % strategies];
        let now = Timestamp::from_secs(START).add_nanos(k * 60_000);
        let (o, e) = (order(17_950 + k % 100, 10 + k % 7), exposure(now));
        let code = match risk.check_new(s, &i, &o, &e) {
            Ok(_) => {
                risk.on_order_sent(s, &i, &o, &e);
                accepted += 1;
                if accepted.is_multiple_of(10) {
                    risk.on_fill(&fill(s, &o, now, accepted), &i);
                }
                None
            }
            Err(r) => Some(r.code),
        };
        *tally.entry(code).or_insert(0u32) += 1;
    }
    (tally, start.elapsed().as_secs_f64())
}

fn fill(s: &StrategyId, o: &NewOrder, ts: Timestamp, n: u64) -> Fill {
    Fill {
        order_id: OrderId(n),
        strategy: s.clone(),
        client_id: o.client_id.clone(),
        instrument: o.instrument,
        side: o.side,
        quantity: o.quantity,
        price: o.order_type.limit_price().unwrap_or_default(),
        commission: Money::ZERO,
        ts,
        exec_id: format!("e{n}"),
    }
}

fn main() {
    let n: u32 = std::env::var("BENCH_CHECKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000);
    let baseline = Engine::new(RiskConfig::permissive());
    let full = Engine::new(full_config(false, 1));
    let (base_ns, _) = time_checks(&baseline, n);
    let (full_ns, allocs) = time_checks(&full, n);
    println!("full pre-trade check, every limit enabled ({n} checks):");
    println!("  approve path             {full_ns:8.1} ns/check  ({allocs} heap allocations in {n} checks)");
    println!(
        "  baseline, no limits      {base_ns:8.1} ns/check  (full = {:.1}× baseline)",
        full_ns / base_ns
    );
    let (rec_ns, approved) = time_check_and_record(n);
    println!("  check + on_order_sent    {rec_ns:8.1} ns/order   ({approved} of {n} approved)");

    for strategies in [1, 10] {
        let (tally, secs) = flood(strategies);
        let accepted = tally.get(&None).copied().unwrap_or(0);
        println!(
            "\n1,000,000-intent flood from {strategies} strateg{}, ~16,700 intents/s for 60 s of event time ({secs:.2} s wall):",
            if strategies == 1 { "y" } else { "ies in turn" }
        );
        println!(
            "  accepted                 {accepted:>9}  (caps: 40 orders/s and 1,200/min per strategy, 50 messages/s per account)"
        );
        for (code, count) in &tally {
            if let Some(code) = code {
                println!("  rejected {:<24}{count:>9}", code.as_str());
            }
        }
    }
}
