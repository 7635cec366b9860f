//! Risk checks: one test per check and boundary, kill switch, amendments, invariants.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use proptest::prelude::*;
use rstest::rstest;
use wasmtrade_model::{
    ClientOrderId, Instrument, InstrumentId, Money, NewOrder, Order, OrderId, OrderStatus, OrderType, Price,
    Quantity, RejectCode, Side, StrategyId, TimeInForce, Timestamp,
};
use wasmtrade_risk::{Amendment, Engine, Exposure, KillScope, Limits, RiskConfig};

fn strategy() -> StrategyId {
    StrategyId::new("sma-cross")
}

fn aapl() -> Instrument {
    Instrument::equity(InstrumentId(0), "AAPL")
}

fn p(s: &str) -> Price {
    s.parse().unwrap()
}

fn q(n: i64) -> Quantity {
    Quantity::from_int(n)
}

fn order(side: Side, qty: Quantity, order_type: OrderType) -> NewOrder {
    NewOrder {
        client_id: ClientOrderId::new("c1"),
        instrument: InstrumentId(0),
        side,
        quantity: qty,
        order_type,
        tif: TimeInForce::Gtc,
    }
}

fn limit(side: Side, qty: i64, price: &str) -> NewOrder {
    order(side, q(qty), OrderType::Limit { limit: p(price) })
}

fn rich() -> Exposure {
    Exposure {
        available_cash: Money::from_int(1_000_000_000),
        reference_price: Some(p("10")),
        ..Exposure::default()
    }
}

fn engine_with(limits: Limits) -> Engine {
    Engine::new(RiskConfig::default().with_strategy(&strategy(), limits).unwrap())
}

fn check(engine: &Engine, o: &NewOrder, e: &Exposure) -> Result<(), (RejectCode, String)> {
    engine
        .check_new(&strategy(), &aapl(), o, e)
        .map(|_| ())
        .map_err(|r| (r.code, r.message))
}

fn code(engine: &Engine, o: &NewOrder, e: &Exposure) -> Option<RejectCode> {
    check(engine, o, e).err().map(|(c, _)| c)
}

#[rstest]
#[case::zero_quantity(order(Side::Buy, q(0), OrderType::Market), RejectCode::NonPositiveQuantity)]
#[case::negative_quantity(order(Side::Buy, q(-1), OrderType::Market), RejectCode::NonPositiveQuantity)]
#[case::zero_limit(order(Side::Buy, q(1), OrderType::Limit { limit: Price::ZERO }), RejectCode::NonPositivePrice)]
#[case::negative_stop(order(Side::Sell, q(1), OrderType::Stop { stop: p("-1") }), RejectCode::NonPositivePrice)]
#[case::stop_limit_bad_limit(order(Side::Sell, q(1), OrderType::StopLimit { stop: p("1"), limit: p("0") }), RejectCode::NonPositivePrice)]
#[case::off_lot(order(Side::Buy, "1.5".parse().unwrap(), OrderType::Market), RejectCode::OffLot)]
#[case::off_tick_limit(limit(Side::Buy, 1, "10.005"), RejectCode::OffTick)]
#[case::off_tick_stop(order(Side::Buy, q(1), OrderType::Stop { stop: p("10.001") }), RejectCode::OffTick)]
fn malformed_orders_are_rejected(#[case] o: NewOrder, #[case] expected: RejectCode) {
    assert_eq!(
        code(&Engine::new(RiskConfig::permissive()), &o, &rich()),
        Some(expected)
    );
}

#[test]
fn well_formed_orders_on_tick_and_lot_pass() {
    let e = Engine::new(RiskConfig::permissive());
    assert_eq!(check(&e, &limit(Side::Buy, 3, "10.01"), &rich()), Ok(()));
    assert_eq!(
        check(
            &e,
            &order(Side::Sell, q(3), OrderType::Market),
            &Exposure::default()
        ),
        Ok(())
    );
}

#[test]
fn quantity_message_names_the_values() {
    let e = engine_with(Limits {
        max_order_quantity: Some(q(100)),
        ..Limits::default()
    });
    let (c, m) = check(&e, &limit(Side::Buy, 500, "1"), &rich()).unwrap_err();
    assert_eq!(c, RejectCode::MaxOrderQuantity);
    assert_eq!(
        m,
        "quantity 500 exceeds max order quantity 100 (strategy limit) for strategy sma-cross on AAPL"
    );
}

#[rstest]
#[case::at_limit(100, None)]
#[case::one_lot_over(101, Some(RejectCode::MaxOrderQuantity))]
fn max_order_quantity_boundary(#[case] qty: i64, #[case] expected: Option<RejectCode>) {
    let e = engine_with(Limits {
        max_order_quantity: Some(q(100)),
        ..Limits::default()
    });
    assert_eq!(code(&e, &limit(Side::Sell, qty, "1"), &rich()), expected);
}

#[test]
fn strictest_level_wins() {
    let config = RiskConfig::default()
        .with_account(Limits {
            max_order_quantity: Some(q(50)),
            ..Limits::default()
        })
        .unwrap()
        .with_strategy(
            &strategy(),
            Limits {
                max_order_quantity: Some(q(100)),
                ..Limits::default()
            },
        )
        .unwrap()
        .with_instrument(
            "AAPL",
            Limits {
                max_order_quantity: Some(q(70)),
                ..Limits::default()
            },
        )
        .unwrap();
    let e = Engine::new(config);
    assert_eq!(check(&e, &limit(Side::Buy, 50, "1"), &rich()), Ok(()));
    let (c, m) = check(&e, &limit(Side::Buy, 51, "1"), &rich()).unwrap_err();
    assert_eq!(c, RejectCode::MaxOrderQuantity);
    assert!(m.contains("max order quantity 50 (account limit)"), "{m}");
    // Another instrument without its own limit still gets the account's.
    let msft = Instrument::equity(InstrumentId(1), "MSFT");
    assert!(
        e.check_new(
            &StrategyId::new("other"),
            &msft,
            &limit(Side::Buy, 51, "1"),
            &rich()
        )
        .is_err()
    );
}

#[rstest]
// limit 10.00 × 100 = 1000 exactly at the limit
#[case::at_limit(limit(Side::Buy, 100, "10"), Some("10"), None)]
#[case::one_tick_over(
    limit(Side::Buy, 100, "10.01"),
    Some("10"),
    Some(RejectCode::MaxOrderNotional)
)]
#[case::one_lot_over(limit(Side::Buy, 101, "10"), Some("10"), Some(RejectCode::MaxOrderNotional))]
// valued at the reference when it is above the limit price
#[case::reference_above_limit(limit(Side::Buy, 100, "9"), Some("10.01"), Some(RejectCode::MaxOrderNotional))]
#[case::market_at_reference(order(Side::Sell, q(100), OrderType::Market), Some("10"), None)]
#[case::market_without_reference(
    order(Side::Sell, q(1), OrderType::Market),
    None,
    Some(RejectCode::NoReferencePrice)
)]
#[case::limit_without_reference(limit(Side::Sell, 100, "10"), None, None)]
#[case::stop_valued_at_stop(order(Side::Buy, q(100), OrderType::Stop { stop: p("10.01") }), Some("9"), Some(RejectCode::MaxOrderNotional))]
fn max_order_notional_boundary(
    #[case] o: NewOrder,
    #[case] reference: Option<&str>,
    #[case] expected: Option<RejectCode>,
) {
    let e = engine_with(Limits {
        max_order_notional: Some(Money::from_int(1000)),
        ..Limits::default()
    });
    let exposure = Exposure {
        reference_price: reference.map(p),
        ..rich()
    };
    assert_eq!(code(&e, &o, &exposure), expected);
}

#[rstest]
#[case::flat_buy_at_limit(0, 0, 0, Side::Buy, 100, None)]
#[case::flat_buy_over(0, 0, 0, Side::Buy, 101, Some(RejectCode::MaxPosition))]
#[case::long_plus_open_buys_at_limit(50, 30, 0, Side::Buy, 20, None)]
#[case::long_plus_open_buys_over(50, 30, 0, Side::Buy, 21, Some(RejectCode::MaxPosition))]
#[case::flat_sell_at_short_limit(0, 0, 0, Side::Sell, 100, None)]
#[case::flat_sell_over_short_limit(0, 0, 0, Side::Sell, 101, Some(RejectCode::MaxPosition))]
#[case::short_plus_open_sells_over(-60, 0, 40, Side::Sell, 1, Some(RejectCode::MaxPosition))]
#[case::long_sells_through_to_short_limit(100, 0, 0, Side::Sell, 200, None)]
#[case::long_sells_past_short_limit(100, 0, 0, Side::Sell, 201, Some(RejectCode::MaxPosition))]
#[case::short_buys_back(-100, 0, 0, Side::Buy, 100, None)]
#[case::open_sells_ignored_for_buys(90, 0, 500, Side::Buy, 10, None)]
fn max_position_counts_worst_case_open_orders(
    #[case] position: i64,
    #[case] open_buy: i64,
    #[case] open_sell: i64,
    #[case] side: Side,
    #[case] qty: i64,
    #[case] expected: Option<RejectCode>,
) {
    let e = engine_with(Limits {
        max_position: Some(q(100)),
        ..Limits::default()
    });
    let exposure = Exposure {
        position: q(position),
        open_buy: q(open_buy),
        open_sell: q(open_sell),
        ..rich()
    };
    assert_eq!(code(&e, &limit(side, qty, "1"), &exposure), expected);
}

#[test]
fn max_position_message_explains_the_worst_case() {
    let e = engine_with(Limits {
        max_position: Some(q(100)),
        ..Limits::default()
    });
    let exposure = Exposure {
        position: q(50),
        open_buy: q(30),
        ..rich()
    };
    let (_, m) = check(&e, &limit(Side::Buy, 21, "1"), &exposure).unwrap_err();
    assert_eq!(
        m,
        "worst-case position 101 (position 50 + open buys 30 + order 21) exceeds max position 100 (strategy limit) for strategy sma-cross on AAPL"
    );
}

fn cash_engine(rate: &str) -> Engine {
    Engine::new(
        RiskConfig::default()
            .with_commission_rate(rate.parse().unwrap())
            .unwrap(),
    )
}

#[rstest]
// 100 × 10 = 1000, + 1 commission (0.1 %) + 500 open buys = 1501
#[case::buy_exactly_affordable(Side::Buy, 100, 0, "1501", None)]
#[case::buy_one_unit_short(Side::Buy, 100, 0, "1500.99", Some(RejectCode::InsufficientBuyingPower))]
#[case::sell_within_long_needs_no_cash(Side::Sell, 100, 100, "0", None)]
// sells 150 with 100 long: the 50 short part needs 500 + 0.5 + 500 open
// buys, from the cash plus the 1000 − 1 the 100 closing bring
// (tests/buying_power.rs has the reversals)
#[case::sell_short_part_affordable(Side::Sell, 150, 100, "1.5", None)]
#[case::sell_short_part_unaffordable(Side::Sell, 150, 100, "1.49", Some(RejectCode::InsufficientBuyingPower))]
fn cash_covers_notional_open_buys_and_commission(
    #[case] side: Side,
    #[case] qty: i64,
    #[case] position: i64,
    #[case] cash: &str,
    #[case] expected: Option<RejectCode>,
) {
    let exposure = Exposure {
        position: q(position),
        open_buy_notional: Money::from_int(500),
        available_cash: cash.parse().unwrap(),
        reference_price: Some(p("10")),
        ..Exposure::default()
    };
    assert_eq!(
        code(&cash_engine("0.001"), &limit(side, qty, "10"), &exposure),
        expected
    );
}

#[test]
fn cash_check_can_be_disabled() {
    let e = Engine::new(RiskConfig::default().with_enforce_cash(false));
    assert_eq!(
        check(&e, &limit(Side::Buy, 100, "10"), &Exposure::default()),
        Ok(())
    );
}

#[test]
fn market_buy_without_reference_cannot_be_valued_for_cash() {
    let (c, m) = check(
        &cash_engine("0"),
        &order(Side::Buy, q(1), OrderType::Market),
        &Exposure::default(),
    )
    .unwrap_err();
    assert_eq!(c, RejectCode::NoReferencePrice);
    assert_eq!(
        m,
        "a market order needs a reference price to be valued and none is known for strategy sma-cross on AAPL"
    );
}

#[rstest]
#[case::global(KillScope::Global)]
#[case::account(KillScope::Account)]
#[case::strategy(KillScope::Strategy(strategy()))]
fn kill_switch_only_lets_risk_reducing_orders_through(#[case] scope: KillScope) {
    let mut e = Engine::new(RiskConfig::permissive());
    e.set_kill_switch(&scope, true);
    assert!(e.kill_switch(&scope));
    let long = Exposure {
        position: q(100),
        ..rich()
    };
    assert_eq!(
        code(&e, &limit(Side::Buy, 1, "1"), &long),
        Some(RejectCode::KillSwitch)
    );
    assert_eq!(code(&e, &limit(Side::Sell, 100, "1"), &long), None);
    assert_eq!(
        code(&e, &limit(Side::Sell, 101, "1"), &long),
        Some(RejectCode::KillSwitch),
        "a flip is not reducing"
    );
    let partly_sold = Exposure {
        open_sell: q(60),
        ..long
    };
    assert_eq!(
        code(&e, &limit(Side::Sell, 41, "1"), &partly_sold),
        Some(RejectCode::KillSwitch)
    );
    let short = Exposure {
        position: q(-10),
        open_buy: q(5),
        ..rich()
    };
    assert_eq!(code(&e, &limit(Side::Buy, 5, "1"), &short), None);
    assert_eq!(
        code(&e, &limit(Side::Sell, 1, "1"), &Exposure::default()),
        Some(RejectCode::KillSwitch)
    );
    e.set_kill_switch(&scope, false);
    assert_eq!(code(&e, &limit(Side::Buy, 1, "1"), &long), None);
}

#[test]
fn strategy_kill_switch_leaves_other_strategies_alone() {
    let mut e = Engine::new(RiskConfig::permissive());
    e.set_kill_switch(&KillScope::Strategy(strategy()), true);
    assert!(!e.kill_switch(&KillScope::Global));
    let other = StrategyId::new("rsi");
    assert!(
        e.check_new(&other, &aapl(), &limit(Side::Buy, 1, "1"), &rich())
            .is_ok()
    );
    let (_, m) = check(&e, &limit(Side::Buy, 1, "1"), &rich()).unwrap_err();
    assert!(m.starts_with("the strategy kill switch is on"), "{m}");
}

#[test]
fn well_formedness_is_checked_before_the_kill_switch() {
    let mut e = Engine::new(RiskConfig::permissive());
    e.set_kill_switch(&KillScope::Global, true);
    assert_eq!(
        code(&e, &limit(Side::Buy, 0, "1"), &rich()),
        Some(RejectCode::NonPositiveQuantity)
    );
}

fn working(o: NewOrder, filled: i64) -> Order {
    Order {
        id: OrderId(1),
        strategy: strategy(),
        request: o,
        status: OrderStatus::Accepted,
        filled: q(filled),
        filled_notional: Money::ZERO,
        created: Timestamp::EPOCH,
        updated: Timestamp::EPOCH,
    }
}

#[test]
fn amendments_are_checked_like_the_resulting_order() {
    let e = engine_with(Limits {
        max_position: Some(q(100)),
        ..Limits::default()
    });
    let o = working(limit(Side::Buy, 60, "10"), 20);
    // The exposure includes the order's own 40 remaining.
    let exposure = Exposure {
        position: q(20),
        open_buy: q(40),
        ..rich()
    };
    let up_to_limit = Amendment {
        quantity: Some(q(100)),
        limit_price: None,
    };
    assert_eq!(
        e.check_amend(&strategy(), &aapl(), &o, &up_to_limit, &exposure)
            .unwrap()
            .get(),
        &up_to_limit
    );
    let over = Amendment {
        quantity: Some(q(101)),
        limit_price: None,
    };
    assert_eq!(
        e.check_amend(&strategy(), &aapl(), &o, &over, &exposure)
            .unwrap_err()
            .code,
        RejectCode::MaxPosition
    );
    let off_tick = Amendment {
        quantity: None,
        limit_price: Some(p("10.001")),
    };
    assert_eq!(
        e.check_amend(&strategy(), &aapl(), &o, &off_tick, &exposure)
            .unwrap_err()
            .code,
        RejectCode::OffTick
    );
}

#[test]
fn invalid_amendments_are_rejected() {
    let e = Engine::new(RiskConfig::permissive());
    let market = working(order(Side::Buy, q(10), OrderType::Market), 0);
    let price = Amendment {
        quantity: None,
        limit_price: Some(p("1")),
    };
    let r = e
        .check_amend(&strategy(), &aapl(), &market, &price, &rich())
        .unwrap_err();
    assert_eq!(r.code, RejectCode::InvalidAmendment);
    let partly = working(limit(Side::Buy, 10, "1"), 4);
    let below = Amendment {
        quantity: Some(q(4)),
        limit_price: None,
    };
    let r = e
        .check_amend(&strategy(), &aapl(), &partly, &below, &rich())
        .unwrap_err();
    assert_eq!(r.code, RejectCode::InvalidAmendment);
    assert!(
        r.message.contains("new quantity 4 is not above the filled 4"),
        "{}",
        r.message
    );
}

#[test]
fn kill_switch_lets_amendments_that_only_shrink_through() {
    let mut e = Engine::new(RiskConfig::permissive());
    e.set_kill_switch(&KillScope::Global, true);
    let o = working(limit(Side::Buy, 10, "1"), 0);
    let exposure = Exposure {
        open_buy: q(10),
        ..rich()
    };
    let shrink = Amendment {
        quantity: Some(q(5)),
        limit_price: None,
    };
    assert!(
        e.check_amend(&strategy(), &aapl(), &o, &shrink, &exposure)
            .is_ok()
    );
    let grow = Amendment {
        quantity: Some(q(11)),
        limit_price: None,
    };
    assert_eq!(
        e.check_amend(&strategy(), &aapl(), &o, &grow, &exposure)
            .unwrap_err()
            .code,
        RejectCode::KillSwitch
    );
    let reprice = Amendment {
        quantity: None,
        limit_price: Some(p("2")),
    };
    assert_eq!(
        e.check_amend(&strategy(), &aapl(), &o, &reprice, &exposure)
            .unwrap_err()
            .code,
        RejectCode::KillSwitch
    );
}

#[test]
fn approved_order_is_the_checked_order() {
    let e = Engine::new(RiskConfig::permissive());
    let o = limit(Side::Buy, 3, "1");
    let approved = e.check_new(&strategy(), &aapl(), &o, &rich()).unwrap();
    assert_eq!(approved.get(), &o);
    assert_eq!(approved.into_inner(), o);
}

#[derive(Clone, Debug)]
enum Step {
    Submit(bool, i64),
    FillAll,
    FillOldest,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (any::<bool>(), 1i64..60).prop_map(|(b, n)| Step::Submit(b, n)),
        1 => Just(Step::FillAll),
        1 => Just(Step::FillOldest),
    ]
}

proptest! {
    /// Whatever approved orders fill, in whatever order, |position| never exceeds max_position.
    #[test]
    fn approved_orders_never_push_position_beyond_the_limit(steps in prop::collection::vec(step(), 1..200), max in 1i64..150) {
        let e = engine_with(Limits { max_position: Some(q(max)), ..Limits::default() });
        let mut position = Quantity::ZERO;
        let mut open: Vec<(Side, Quantity)> = Vec::new();
        for s in steps {
            match s {
                Step::Submit(buy, n) => {
                    let side = if buy { Side::Buy } else { Side::Sell };
                    let sum = |sd| open.iter().filter(|(x, _)| *x == sd).fold(Quantity::ZERO, |a, (_, q)| a + *q);
                    let exposure = Exposure { position, open_buy: sum(Side::Buy), open_sell: sum(Side::Sell), ..rich() };
                    if e.check_new(&strategy(), &aapl(), &limit(side, n, "1"), &exposure).is_ok() {
                        open.push((side, q(n)));
                    }
                }
                Step::FillAll => {
                    for (side, qty) in open.drain(..) {
                        position += side.signed(qty);
                        prop_assert!(position.abs() <= q(max), "position {position} beyond {max}");
                    }
                }
                Step::FillOldest => {
                    if !open.is_empty() {
                        let (side, qty) = open.remove(0);
                        position += side.signed(qty);
                    }
                }
            }
            prop_assert!(position.abs() <= q(max), "position {position} beyond {max}");
        }
    }
}
