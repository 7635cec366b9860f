//! One test per check of issue 5 and its boundary: exactly at the limit
//! passes, one tick or lot over fails, with the named rejection code.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use std::collections::BTreeSet;

use common::*;
use rstest::rstest;
use wasmtrade_model::{OrderType, Rate, RejectCode, Side};
use wasmtrade_risk::{Exposure, Limits, RawBlackout, RawCalendar, RiskConfig, SessionState};

const MS: i64 = 1_000_000;
const SEC: i64 = 1_000 * MS;

fn s() -> wasmtrade_model::StrategyId {
    sid("alpha")
}

/// A config with `limits` at the strategy level and no cash check.
fn strategy_limits(limits: Limits) -> RiskConfig {
    RiskConfig::permissive().with_strategy(&s(), limits).unwrap()
}

fn account_limits(limits: Limits) -> RiskConfig {
    RiskConfig::permissive().with_account(limits).unwrap()
}

fn code_of(sim: &mut Sim, order: wasmtrade_model::NewOrder) -> Option<RejectCode> {
    sim.submit(&s(), order).err().map(|r| r.code)
}

#[rstest]
#[case::allowed("AAPL", 0, None)]
#[case::not_in_list("MSFT", 1, Some(RejectCode::InstrumentNotAllowed))]
#[case::restricted("SPY", 2, Some(RejectCode::RestrictedInstrument))]
fn allow_and_restricted_lists(
    #[case] _symbol: &str,
    #[case] instrument: u32,
    #[case] expected: Option<RejectCode>,
) {
    let config = strategy_limits(Limits {
        allowed_instruments: Some(BTreeSet::from(["AAPL".to_string(), "SPY".to_string()])),
        ..Limits::default()
    })
    .edit(|raw| {
        raw.restricted.insert("SPY".into());
    })
    .unwrap();
    let mut sim = Sim::new(config);
    assert_eq!(code_of(&mut sim, limit(instrument, Side::Buy, 1, "10")), expected);
}

#[rstest]
#[case::open_market(SessionState::Open, OrderType::Market, None)]
#[case::auction_limit(SessionState::Auction, OrderType::Limit { limit: p("10") }, None)]
#[case::auction_market(SessionState::Auction, OrderType::Market, Some(RejectCode::MarketClosed))]
#[case::halted(SessionState::Halted, OrderType::Limit { limit: p("10") }, Some(RejectCode::MarketHalted))]
#[case::closed(SessionState::Closed, OrderType::Limit { limit: p("10") }, Some(RejectCode::MarketClosed))]
fn market_state(#[case] state: SessionState, #[case] t: OrderType, #[case] expected: Option<RejectCode>) {
    let sim = Sim::new(RiskConfig::permissive());
    let e = Exposure {
        session: state,
        ..sim.exposure(&s(), wasmtrade_model::InstrumentId(0))
    };
    let o = new_order(0, Side::Buy, q(1), t);
    let got = sim
        .risk
        .check_new(&s(), &sim.instruments[0], &o, &e)
        .err()
        .map(|r| r.code);
    assert_eq!(got, expected);
}

fn us_calendar() -> RawCalendar {
    RawCalendar {
        timezone: "America/New_York".into(),
        open: "09:30".into(),
        close: "16:00".into(),
        days: ["mon", "tue", "wed", "thu", "fri"].map(String::from).to_vec(),
        holidays: vec![],
        blackouts: vec![RawBlackout {
            start: "2024-06-11T10:29".into(),
            end: "2024-06-11T10:31".into(),
            label: "CPI".into(),
        }],
    }
}

// The simulator starts at 2024-06-11 14:00 UTC = 10:00 New York (EDT).
#[rstest]
#[case::in_session(0, None)]
#[case::last_second(6 * 3600 - 1, None)]
#[case::at_close(6 * 3600, Some(RejectCode::OutsideTradingHours))]
#[case::before_open(-1800 - 1, Some(RejectCode::OutsideTradingHours))]
#[case::at_open(-1800, None)]
#[case::blackout_start(29 * 60, Some(RejectCode::Blackout))]
#[case::blackout_end(31 * 60, None)]
#[case::saturday(4 * 86_400, Some(RejectCode::OutsideTradingHours))]
fn trading_hours_and_blackouts(#[case] offset_secs: i64, #[case] expected: Option<RejectCode>) {
    let config = RiskConfig::permissive()
        .with_calendar("us", us_calendar())
        .unwrap()
        .with_instrument(
            "AAPL",
            Limits {
                trading_hours: Some("us".into()),
                ..Limits::default()
            },
        )
        .unwrap();
    let mut sim = Sim::new(config);
    sim.advance(offset_secs * SEC);
    let got = sim.submit(&s(), limit(0, Side::Buy, 1, "10")).err();
    assert_eq!(got.as_ref().map(|r| r.code), expected, "{got:?}");
    if expected == Some(RejectCode::Blackout) {
        assert!(got.unwrap().message.contains("\"CPI\""));
    }
}

#[rstest]
#[case::at_upper_band("10.50", None)]
#[case::tick_over("10.51", Some(RejectCode::PriceCollar))]
#[case::at_lower_band("9.50", None)]
#[case::tick_under("9.49", Some(RejectCode::PriceCollar))]
fn price_collar_percent(#[case] price: &str, #[case] expected: Option<RejectCode>) {
    let mut sim = Sim::new(strategy_limits(Limits {
        collar_percent: Some("0.05".parse::<Rate>().unwrap()),
        ..Limits::default()
    }));
    assert_eq!(code_of(&mut sim, limit(0, Side::Buy, 1, price)), expected);
}

#[rstest]
#[case::at_three_ticks("10.03", None)]
#[case::four_ticks("10.04", Some(RejectCode::PriceCollar))]
#[case::below("9.97", None)]
fn price_collar_ticks(#[case] price: &str, #[case] expected: Option<RejectCode>) {
    let mut sim = Sim::new(account_limits(Limits {
        collar_ticks: Some(3),
        ..Limits::default()
    }));
    assert_eq!(code_of(&mut sim, limit(0, Side::Sell, 1, price)), expected);
}

#[test]
fn collar_message_names_the_values() {
    let mut sim = Sim::new(strategy_limits(Limits {
        collar_percent: Some("0.05".parse::<Rate>().unwrap()),
        ..Limits::default()
    }));
    let r = sim.submit(&s(), limit(0, Side::Buy, 1, "11")).unwrap_err();
    assert_eq!(
        r.message,
        "limit price 11 is 1 away from the reference 10, more than the collar of 0.05 of it (strategy limit) for strategy alpha on AAPL"
    );
}

#[rstest]
#[case::exactly_max_age(1_000 * MS, None)]
#[case::one_nano_older(1_000 * MS + 1, Some(RejectCode::StaleReferencePrice))]
fn reference_price_age(#[case] age: i64, #[case] expected: Option<RejectCode>) {
    let mut sim = Sim::new(strategy_limits(Limits {
        max_reference_age_ms: Some(1_000),
        ..Limits::default()
    }));
    let t = sim.now;
    sim.advance(age);
    sim.price_time = Some(t);
    assert_eq!(code_of(&mut sim, limit(0, Side::Buy, 1, "10")), expected);
}

#[test]
fn reference_price_without_time_or_value_fails_closed() {
    let mut sim = Sim::new(strategy_limits(Limits {
        max_reference_age_ms: Some(1_000),
        ..Limits::default()
    }));
    sim.price_time = None;
    assert_eq!(
        code_of(&mut sim, limit(0, Side::Buy, 1, "10")),
        Some(RejectCode::StaleReferencePrice)
    );
    sim.prices.clear();
    assert_eq!(
        code_of(&mut sim, new_order(0, Side::Buy, q(1), OrderType::Market)),
        Some(RejectCode::NoReferencePrice)
    );
}

#[test]
fn rolling_window_quantity_and_notional() {
    let mut sim = Sim::new(strategy_limits(Limits {
        max_window_quantity: Some(q(100)),
        max_window_notional: Some(m(1_500)),
        ..Limits::default()
    }));
    sim.submit(&s(), limit(0, Side::Buy, 60, "10")).unwrap();
    sim.submit(&s(), limit(1, Side::Sell, 40, "10")).unwrap(); // exactly 100
    assert_eq!(
        code_of(&mut sim, limit(0, Side::Buy, 1, "10")),
        Some(RejectCode::MaxWindowQuantity)
    );
    sim.advance(60 * SEC); // the default window is one minute: both left it
    sim.submit(&s(), limit(0, Side::Buy, 100, "15")).unwrap(); // notional exactly 1500
    sim.advance(60 * SEC);
    assert_eq!(
        code_of(&mut sim, limit(0, Side::Buy, 100, "15.01")),
        Some(RejectCode::MaxWindowNotional)
    );
}

#[rstest]
#[case::at_limit("10", None)]
#[case::one_tick_over("10.01", Some(RejectCode::MaxOpenExposure))]
fn open_order_exposure(#[case] price: &str, #[case] expected: Option<RejectCode>) {
    let mut sim = Sim::new(strategy_limits(Limits {
        max_open_notional: Some(m(1_000)),
        ..Limits::default()
    }));
    sim.submit(&s(), limit(1, Side::Sell, 60, "10")).unwrap();
    assert_eq!(code_of(&mut sim, limit(0, Side::Buy, 40, price)), expected);
}

#[rstest]
#[case::long_at_limit(Side::Buy, 100, None)]
#[case::long_one_over(Side::Buy, 101, Some(RejectCode::MaxPosition))]
#[case::short_at_limit(Side::Sell, 50, None)]
#[case::short_one_over(Side::Sell, 51, Some(RejectCode::MaxPosition))]
fn long_and_short_position_limits(
    #[case] side: Side,
    #[case] qty: i64,
    #[case] expected: Option<RejectCode>,
) {
    let mut sim = Sim::new(strategy_limits(Limits {
        max_long_position: Some(q(100)),
        max_short_position: Some(q(50)),
        ..Limits::default()
    }));
    assert_eq!(code_of(&mut sim, limit(0, side, qty, "10")), expected);
}

#[rstest]
#[case::at_limit(100, None)]
#[case::one_lot_over(101, Some(RejectCode::MaxGrossExposure))]
fn gross_exposure_spans_instruments_and_strategies(#[case] qty: i64, #[case] expected: Option<RejectCode>) {
    let mut sim = Sim::new(account_limits(Limits {
        max_gross_exposure: Some(m(3_000)),
        ..Limits::default()
    }));
    // Another strategy is short 100 MSFT (1000) and has a working buy of 100 SPY (1000).
    sim.positions
        .insert((sid("beta"), wasmtrade_model::InstrumentId(1)), q(-100));
    sim.submit(&sid("beta"), limit(2, Side::Buy, 100, "10")).unwrap();
    assert_eq!(code_of(&mut sim, limit(0, Side::Sell, qty, "10")), expected);
}

#[test]
fn net_exposure_lets_hedges_through() {
    let mut sim = Sim::new(account_limits(Limits {
        max_net_exposure: Some(m(1_000)),
        ..Limits::default()
    }));
    let id = sim.submit(&s(), limit(0, Side::Buy, 100, "10")).unwrap(); // net long 1000
    assert_eq!(sim.working[0].id, id);
    assert_eq!(
        code_of(&mut sim, limit(1, Side::Buy, 1, "10")),
        Some(RejectCode::MaxNetExposure)
    );
    // While the buy is pending, a hedge could leave the account net short if only it filled.
    assert_eq!(
        code_of(&mut sim, limit(1, Side::Sell, 101, "10")),
        Some(RejectCode::MaxNetExposure)
    );
    sim.fill(0, q(100));
    sim.submit(&s(), limit(1, Side::Sell, 100, "10")).unwrap(); // net range [0, 1000]
    sim.submit(&s(), limit(2, Side::Sell, 100, "10")).unwrap(); // net range [-1000, 1000]
    assert_eq!(
        code_of(&mut sim, limit(2, Side::Sell, 1, "10")),
        Some(RejectCode::MaxNetExposure)
    );
}

#[rstest]
#[case::at_buying_power(200, None)]
#[case::one_over(201, Some(RejectCode::InsufficientBuyingPower))]
fn buying_power_multiplier(#[case] qty: i64, #[case] expected: Option<RejectCode>) {
    let config = RiskConfig::default()
        .edit(|raw| raw.buying_power_multiplier = Rate::from_int(2))
        .unwrap();
    let mut sim = Sim::new(config);
    sim.cash = m(1_000);
    assert_eq!(code_of(&mut sim, limit(0, Side::Buy, qty, "10")), expected);
}

#[test]
fn working_order_limits() {
    let mut sim = Sim::new(strategy_limits(Limits {
        max_working_orders: Some(3),
        max_working_orders_per_side: Some(2),
        ..Limits::default()
    }));
    sim.submit(&s(), limit(0, Side::Buy, 1, "9")).unwrap();
    sim.submit(&s(), limit(0, Side::Buy, 1, "8")).unwrap();
    assert_eq!(
        code_of(&mut sim, limit(0, Side::Buy, 1, "7")),
        Some(RejectCode::MaxWorkingOrdersPerSide)
    );
    sim.submit(&s(), limit(1, Side::Buy, 1, "7")).unwrap();
    assert_eq!(
        code_of(&mut sim, limit(2, Side::Buy, 1, "7")),
        Some(RejectCode::MaxWorkingOrders)
    );
    sim.cancel(0);
    sim.submit(&s(), limit(2, Side::Buy, 1, "7")).unwrap();
}

#[test]
fn trading_gate_blocks_until_reconciled() {
    let config = RiskConfig::permissive()
        .edit(|raw| raw.require_reconciliation = true)
        .unwrap();
    let mut sim = Sim::new(config);
    assert!(!sim.risk.trading_gate());
    assert_eq!(
        code_of(&mut sim, limit(0, Side::Buy, 1, "10")),
        Some(RejectCode::ReconciliationPending)
    );
    let rec = sim.risk.set_trading_gate(true, "reconciler", sim.now);
    assert_eq!(
        (rec.what.as_str(), rec.old.as_str(), rec.new.as_str()),
        ("trading_gate", "false", "true")
    );
    sim.submit(&s(), limit(0, Side::Buy, 1, "10")).unwrap();
}
