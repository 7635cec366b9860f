use wasmtrade_sdk::testing::{DEFAULT_CASH, Harness, MockContext, bars_from_closes};
use wasmtrade_sdk::{LogLevel, OrderType, Reject};

use super::*;

const X: InstrumentId = InstrumentId(0);
const Y: InstrumentId = InstrumentId(1);

/// Up, a sharp drop (RSI(2) < 30), then a rally (RSI(2) > 70).
const DIP_THEN_RALLY: [f64; 7] = [10.0, 11.0, 9.0, 8.0, 9.0, 11.0, 12.0];

fn waves(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| 100.0 + 10.0 * (i as f64 / 5.0).sin() + 4.0 * (i as f64 / 1.7).cos())
        .collect()
}

fn config_error(json: &str) -> String {
    match Harness::<RsiReversion>::new(json) {
        Ok(_) => panic!("config {json} accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_dip_then_a_rally_produce_exactly_one_buy_then_one_sell() {
    let mut h = Harness::<RsiReversion>::new(r#"{"period": 2, "quantity": 5}"#).unwrap();
    let steps = h.run(bars_from_closes(X, &DIP_THEN_RALLY)).unwrap();
    let orders: Vec<(Side, f64, OrderType)> = h
        .orders()
        .iter()
        .map(|o| (o.side, o.quantity, o.order_type))
        .collect();
    assert_eq!(
        orders,
        [
            (Side::Buy, 5.0, OrderType::Market),
            (Side::Sell, 5.0, OrderType::Market)
        ]
    );
    let at: Vec<usize> = steps
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.is_empty())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(at, [3, 5], "buy on the drop, sell on the rally");
    assert!(h.context().position(X).is_flat());
    assert_eq!(h.strategy().fills_seen(), 2);
}

#[test]
fn defaults_are_period_14_and_30_70_with_fraction_sizing() {
    let mut falling: Vec<f64> = (0..16).map(|i| 100.0 - i as f64).collect();
    falling.push(80.0);
    let mut h = Harness::<RsiReversion>::new("{}").unwrap();
    let steps = h.run(bars_from_closes(X, &falling)).unwrap();
    assert_eq!(
        steps.iter().position(|s| !s.is_empty()),
        Some(14),
        "first rsi(14) is at bar 14"
    );
    assert_eq!(h.orders()[0].quantity, (0.95 * DEFAULT_CASH / 86.0_f64).floor());
}

#[test]
fn missing_and_unknown_keys_give_clear_errors() {
    assert_eq!(
        config_error(r#"{"period": "14"}"#),
        "invalid config: invalid type: string \"14\", expected usize at line 1 column 15"
    );
    assert!(config_error(r#"{"perod": 14}"#).starts_with("invalid config: unknown field `perod`"));
}

#[test]
fn every_invalid_field_is_reported_at_once() {
    let err = config_error(r#"{"period": 1, "lower": 80, "upper": 70, "quantity": 0}"#);
    assert!(err.starts_with("invalid config: `period`: "), "{err}");
    assert!(
        err.contains("`lower` (80) and `upper` (70) must satisfy 0 < lower < upper < 100"),
        "{err}"
    );
    assert!(err.contains("`quantity` (0) must be a positive number"), "{err}");
}

#[test]
fn snapshot_restore_then_continue_equals_an_uninterrupted_run() {
    let config = r#"{"period": 6, "lower": 35, "upper": 65}"#;
    let bars = bars_from_closes(X, &waves(400));
    let mut straight = Harness::<RsiReversion>::new(config).unwrap();
    straight.run(bars.iter().copied()).unwrap();
    assert!(straight.orders().len() >= 6, "series must trade several times");

    let mut swapped = Harness::<RsiReversion>::new(config).unwrap();
    for (i, bar) in bars.iter().enumerate() {
        if i % 29 == 0 {
            swapped.reload().unwrap();
        }
        swapped.bar(*bar).unwrap();
    }
    assert_eq!(swapped.steps(), straight.steps());
    assert_eq!(swapped.snapshot().unwrap(), straight.snapshot().unwrap());
}

#[test]
fn restore_refuses_a_snapshot_with_another_period() {
    let a = Harness::<RsiReversion>::new(r#"{"period": 3}"#).unwrap();
    let mut b = Harness::<RsiReversion>::new(r#"{"period": 4}"#).unwrap();
    let err = b.restore(&a.snapshot().unwrap()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("invalid state: snapshot has period 3"),
        "{err}"
    );
}

#[test]
fn a_rejected_entry_is_logged_and_clears_the_pending_order() {
    let mut h = Harness::<RsiReversion>::new(r#"{"period": 2, "quantity": 5}"#)
        .unwrap()
        .without_fills();
    h.run(bars_from_closes(X, &DIP_THEN_RALLY[..4])).unwrap();
    h.run(bars_from_closes(X, &[7.0])).unwrap();
    assert_eq!(h.orders().len(), 1, "still oversold but the buy is pending");
    h.reject(&Reject {
        client_id: "rsi-reversion-1".into(),
        code: "insufficient-buying-power".into(),
        message: "needs 50".into(),
        ts: 0,
    })
    .unwrap();
    assert_eq!(
        h.context().logged(LogLevel::Warn),
        ["rsi-reversion-1 rejected (insufficient-buying-power): needs 50"]
    );
    h.run(bars_from_closes(X, &[6.0])).unwrap();
    assert_eq!(h.orders().len(), 2);
}

#[test]
fn a_symbol_filter_ignores_other_instruments() {
    let ctx = MockContext::new().with_symbol(X, "AAPL").with_symbol(Y, "MSFT");
    let config = r#"{"period": 2, "quantity": 1, "symbol": "AAPL"}"#;
    let mut h = Harness::<RsiReversion>::with_context(ctx, config).unwrap();
    h.run(bars_from_closes(Y, &DIP_THEN_RALLY)).unwrap();
    assert!(h.orders().is_empty());
    assert_eq!(h.strategy().bars_seen(), 7);
    h.run(bars_from_closes(X, &DIP_THEN_RALLY)).unwrap();
    assert_eq!(h.orders().len(), 2);
}
