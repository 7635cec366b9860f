//! Buying power (R11) and position limits (R10) for orders that close part
//! or all of a position, and reversals that close and open in one order.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
#![allow(clippy::too_many_arguments, reason = "one rstest column per argument")]

use rstest::rstest;
use wasmtrade_model::{
    ClientOrderId, Instrument, InstrumentId, Money, NewOrder, OrderType, Price, Quantity, Rate, RejectCode,
    Side, StrategyId, TimeInForce,
};
use wasmtrade_risk::{Engine, Exposure, Limits, RiskConfig};

fn strategy() -> StrategyId {
    StrategyId::new("sma-cross")
}

fn q(n: i64) -> Quantity {
    Quantity::from_int(n)
}

fn market(side: Side, qty: i64) -> NewOrder {
    NewOrder {
        client_id: ClientOrderId::new("c1"),
        instrument: InstrumentId(0),
        side,
        quantity: q(qty),
        order_type: OrderType::Market,
        tif: TimeInForce::Gtc,
    }
}

fn engine(commission: &str, multiplier: i64) -> Engine {
    let config = RiskConfig::default()
        .with_commission_rate(commission.parse().unwrap())
        .unwrap()
        .edit(|raw| raw.buying_power_multiplier = Rate::from_int(multiplier))
        .unwrap();
    Engine::new(config)
}

fn exposure(position: i64, cash: &str, price: &str) -> Exposure {
    Exposure {
        position: q(position),
        available_cash: cash.parse().unwrap(),
        reference_price: Some(price.parse::<Price>().unwrap()),
        ..Exposure::default()
    }
}

fn check(e: &Engine, order: &NewOrder, x: &Exposure) -> Result<(), (RejectCode, String)> {
    e.check_new(
        &strategy(),
        &Instrument::equity(InstrumentId(0), "AAPL"),
        order,
        x,
    )
    .map(|_| ())
    .map_err(|r| (r.code, r.message))
}

/// A position valued at 10 a unit unless stated; `cash` is what the OMS
/// holds, short proceeds included (short 100 at 10 with 1000 of equity is
/// 2000 of cash).
#[rstest]
// The case of issue 19: 100 % long to 100 % short in one sell.
#[case::issue_19_long_to_short(Side::Sell, 1932, 966, "66.74", "102.17", "0", 1, true)]
#[case::long_to_short_reversal(Side::Sell, 200, 100, "0", "10", "0", 1, true)]
#[case::short_to_long_reversal(Side::Buy, 200, -100, "2000", "10", "0", 1, true)]
#[case::short_to_long_one_cent_short(Side::Buy, 200, -100, "1999.99", "10", "0", 1, false)]
#[case::partial_close(Side::Sell, 50, 100, "0", "10", "0", 1, true)]
#[case::close_exactly(Side::Sell, 100, 100, "0", "10", "0", 1, true)]
// Covering costs cash, but closing never needs buying power: even an
// account whose short went against it (negative equity) can cover.
#[case::cover_exactly_under_water(Side::Buy, 100, -100, "500", "10", "0", 1, true)]
// 1000 proceeds − 1 commission on the close, 1000 + 1 on the open.
#[case::reversal_pays_both_commissions(Side::Sell, 200, 100, "2", "10", "0.001", 1, true)]
#[case::reversal_commission_unaffordable(Side::Sell, 200, 100, "1.99", "10", "0.001", 1, false)]
#[case::reversal_opening_leg_too_large(Side::Sell, 250, 100, "0", "10", "0", 1, false)]
// Buying power × 2 applies to the cash after the close: (0 + 1000) × 2.
#[case::reversal_with_multiplier(Side::Sell, 300, 100, "0", "10", "0", 2, true)]
#[case::reversal_over_multiplier(Side::Sell, 301, 100, "0", "10", "0", 2, false)]
fn the_closing_leg_funds_the_opening_leg(
    #[case] side: Side,
    #[case] qty: i64,
    #[case] position: i64,
    #[case] cash: &str,
    #[case] price: &str,
    #[case] commission: &str,
    #[case] multiplier: i64,
    #[case] passes: bool,
) {
    let out = check(
        &engine(commission, multiplier),
        &market(side, qty),
        &exposure(position, cash, price),
    );
    if passes {
        assert_eq!(out, Ok(()));
    } else {
        assert_eq!(out.unwrap_err().0, RejectCode::InsufficientBuyingPower);
    }
}

#[test]
fn a_reversal_too_large_for_the_cash_names_both_legs() {
    let (code, message) = check(
        &engine("0", 1),
        &market(Side::Sell, 250),
        &exposure(100, "0", "10"),
    )
    .unwrap_err();
    assert_eq!(code, RejectCode::InsufficientBuyingPower);
    assert_eq!(
        message,
        "order needs 1500 (150 at 10 + open buys 0 + commission 0) but only 1000 cash is available \
         after the 100 that close the position (0 cash + 1000 proceeds − commission 0) \
         for strategy sma-cross on AAPL"
    );
}

#[test]
fn a_short_to_long_reversal_short_of_cash_names_the_cover_cost() {
    let (_, message) = check(
        &engine("0", 1),
        &market(Side::Buy, 200),
        &exposure(-100, "1999.99", "10"),
    )
    .unwrap_err();
    assert_eq!(
        message,
        "order needs 1000 (100 at 10 + open buys 0 + commission 0) but only 999.99 cash is available \
         after the 100 that close the position (1999.99 cash − 1000 cost − commission 0) \
         for strategy sma-cross on AAPL"
    );
}

#[test]
fn working_sells_close_the_long_first() {
    // A working sell of 100 already closes the long: a new sell of 100
    // opens a short and needs the cash for it.
    let x = Exposure {
        open_sell: q(100),
        ..exposure(100, "999", "10")
    };
    let (code, _) = check(&engine("0", 1), &market(Side::Sell, 100), &x).unwrap_err();
    assert_eq!(code, RejectCode::InsufficientBuyingPower);
    let x = Exposure {
        open_sell: q(50),
        ..exposure(100, "0", "10")
    };
    assert_eq!(check(&engine("0", 1), &market(Side::Sell, 50), &x), Ok(()));
}

/// Position limits look at the position the order leaves, so a reversal to
/// the opposite limit passes and one unit beyond it does not.
#[rstest]
#[case::long_to_short_at_limit(Side::Sell, 200, 100, None)]
#[case::long_to_short_past_limit(Side::Sell, 201, 100, Some(RejectCode::MaxPosition))]
#[case::short_to_long_at_limit(Side::Buy, 200, -100, None)]
#[case::short_to_long_past_limit(Side::Buy, 201, -100, Some(RejectCode::MaxPosition))]
fn position_limits_judge_the_position_after_a_reversal(
    #[case] side: Side,
    #[case] qty: i64,
    #[case] position: i64,
    #[case] expected: Option<RejectCode>,
) {
    let e = Engine::new(
        RiskConfig::permissive()
            .with_strategy(
                &strategy(),
                Limits {
                    max_position: Some(q(100)),
                    max_gross_exposure: Some(Money::from_int(1000)),
                    max_net_exposure: Some(Money::from_int(1000)),
                    ..Limits::default()
                },
            )
            .unwrap(),
    );
    let x = exposure(position, "1000000", "10");
    assert_eq!(check(&e, &market(side, qty), &x).err().map(|(c, _)| c), expected);
}
