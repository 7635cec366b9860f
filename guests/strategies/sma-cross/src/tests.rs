use wasmtrade_sdk::testing::{DEFAULT_CASH, Harness, MockContext, bars_from_closes};
use wasmtrade_sdk::{LogLevel, OrderType, Reject, Strategy};

use super::*;

const X: InstrumentId = InstrumentId(0);
const Y: InstrumentId = InstrumentId(1);

/// Falls, rises (one cross up), then falls (one cross down).
const V_THEN_DROP: [f64; 12] = [10.0, 9.0, 8.0, 7.0, 6.0, 7.0, 9.0, 11.0, 12.0, 10.0, 7.0, 5.0];

/// A wavy series with many crossovers.
fn waves(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| 100.0 + 10.0 * (i as f64 / 7.0).sin() + 3.0 * (i as f64 / 2.3).cos())
        .collect()
}

fn config_error(json: &str) -> String {
    match Harness::<SmaCross>::new(json) {
        Ok(_) => panic!("config {json} accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn crossover_produces_exactly_one_buy_then_one_sell() {
    let mut h = Harness::<SmaCross>::new(r#"{"fast": 2, "slow": 4, "quantity": 10}"#).unwrap();
    h.run(bars_from_closes(X, &V_THEN_DROP)).unwrap();
    let orders: Vec<(Side, f64, OrderType)> = h
        .orders()
        .iter()
        .map(|o| (o.side, o.quantity, o.order_type))
        .collect();
    assert_eq!(
        orders,
        vec![
            (Side::Buy, 10.0, OrderType::Market),
            (Side::Sell, 10.0, OrderType::Market)
        ]
    );
    let ids: Vec<&str> = h.orders().iter().map(|o| o.client_id.as_str()).collect();
    assert_eq!(ids, ["sma-cross-1", "sma-cross-2"]);
    assert!(h.context().position(X).is_flat());
    assert_eq!((h.strategy().bars_seen(), h.strategy().fills_seen()), (12, 2));
}

#[test]
fn buys_on_the_bar_where_fast_crosses_above_slow() {
    let mut h = Harness::<SmaCross>::new(r#"{"fast": 2, "slow": 4, "quantity": 1}"#).unwrap();
    let steps = h.run(bars_from_closes(X, &V_THEN_DROP)).unwrap();
    let buy_bar = steps.iter().position(|s| !s.is_empty()).unwrap();
    // Bar 5: fast (6+7)/2 = 6.5 <= slow (8+7+6+7)/4 = 7. Bar 6: fast (7+9)/2 = 8 > slow (7+6+7+9)/4 = 7.25.
    assert_eq!(buy_bar, 6);
}

#[test]
fn sizes_by_fraction_of_equity_when_no_quantity_is_set() {
    let mut h = Harness::<SmaCross>::new(r#"{"fast": 2, "slow": 4}"#).unwrap();
    h.run(bars_from_closes(X, &V_THEN_DROP[..7])).unwrap();
    assert_eq!(h.orders()[0].quantity, (0.95 * DEFAULT_CASH / 9.0_f64).floor());
    let mut h = Harness::<SmaCross>::new(r#"{"fast": 2, "slow": 4, "fraction": 0.5}"#).unwrap();
    h.run(bars_from_closes(X, &V_THEN_DROP[..7])).unwrap();
    assert_eq!(h.orders()[0].quantity, (0.5 * DEFAULT_CASH / 9.0_f64).floor());
}

#[test]
fn missing_slow_is_a_clear_config_error() {
    assert_eq!(
        config_error(r#"{"fast": 3}"#),
        "invalid config: missing field `slow` at line 1 column 11"
    );
}

#[test]
fn unknown_fields_are_refused() {
    assert!(config_error(r#"{"fast": 3, "slow": 5, "qty": 1}"#).contains("unknown field `qty`"));
}

#[test]
fn every_invalid_field_is_reported_at_once() {
    assert_eq!(
        config_error(r#"{"fast": 5, "slow": 5, "quantity": 1, "fraction": 0.5, "symbol": ""}"#),
        "invalid config: `slow` (5) must be greater than `fast` (5); set either `quantity` or `fraction`, \
         not both; `symbol` must not be empty"
    );
    assert_eq!(
        config_error(r#"{"fast": 0, "slow": 5, "fraction": 1.5}"#),
        "invalid config: `fast` must be at least 1; `fraction` (1.5) must be in (0, 1]"
    );
    assert!(
        config_error(r#"{"fast": 1, "slow": 2, "quantity": -1}"#)
            .contains("`quantity` (-1) must be a positive")
    );
}

#[test]
fn snapshot_restore_then_continue_equals_an_uninterrupted_run() {
    let config = r#"{"fast": 5, "slow": 13, "fraction": 0.9}"#;
    let bars = bars_from_closes(X, &waves(400));
    let mut straight = Harness::<SmaCross>::new(config).unwrap();
    straight.run(bars.iter().copied()).unwrap();
    assert!(straight.orders().len() >= 6, "series must cross several times");

    let mut swapped = Harness::<SmaCross>::new(config).unwrap();
    for (i, bar) in bars.iter().enumerate() {
        if i % 37 == 0 {
            swapped.reload().unwrap();
        }
        swapped.bar(*bar).unwrap();
    }
    assert_eq!(swapped.steps(), straight.steps());
    assert_eq!(swapped.snapshot().unwrap(), straight.snapshot().unwrap());
    assert_eq!(
        swapped.strategy().orders_sent(),
        straight.strategy().orders_sent()
    );
}

#[test]
fn restore_refuses_a_snapshot_with_other_windows() {
    let mut a = Harness::<SmaCross>::new(r#"{"fast": 2, "slow": 4}"#).unwrap();
    a.run(bars_from_closes(X, &[1.0, 2.0, 3.0])).unwrap();
    let mut b = Harness::<SmaCross>::new(r#"{"fast": 2, "slow": 5}"#).unwrap();
    let err = b.restore(&a.snapshot().unwrap()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("invalid state: snapshot has windows fast=2 slow=4"),
        "{err}"
    );
    assert!(
        b.restore(b"{}")
            .unwrap_err()
            .to_string()
            .starts_with("invalid state: ")
    );
}

#[test]
fn a_rejected_entry_is_logged_and_the_next_cross_trades_again() {
    let mut h = Harness::<SmaCross>::new(r#"{"fast": 2, "slow": 4, "quantity": 1}"#)
        .unwrap()
        .without_fills();
    h.run(bars_from_closes(X, &V_THEN_DROP[..7])).unwrap();
    assert_eq!(h.orders().len(), 1);
    // While the buy is pending, another cross up is ignored.
    h.run(bars_from_closes(X, &V_THEN_DROP[..7])).unwrap();
    assert_eq!(h.orders().len(), 1);
    h.reject(&Reject {
        client_id: "sma-cross-1".into(),
        code: "max-position".into(),
        message: "limit 0".into(),
        ts: 0,
    })
    .unwrap();
    assert_eq!(
        h.context().logged(LogLevel::Warn),
        ["sma-cross-1 rejected (max-position): limit 0"]
    );
    h.run(bars_from_closes(X, &V_THEN_DROP[..7])).unwrap();
    assert_eq!(h.orders().len(), 2);
    assert_eq!(h.orders()[1].client_id, "sma-cross-2");
}

#[test]
fn a_symbol_filter_ignores_other_instruments() {
    let ctx = MockContext::new().with_symbol(X, "AAPL").with_symbol(Y, "MSFT");
    let config = r#"{"fast": 2, "slow": 4, "quantity": 1, "symbol": "MSFT"}"#;
    let mut h = Harness::<SmaCross>::with_context(ctx, config).unwrap();
    h.run(bars_from_closes(X, &V_THEN_DROP)).unwrap();
    assert!(h.orders().is_empty());
    h.run(bars_from_closes(Y, &V_THEN_DROP)).unwrap();
    assert_eq!(h.orders().len(), 2);
    assert!(h.orders().iter().all(|o| o.instrument == Y));
}

#[test]
fn instruments_are_traded_independently_without_a_filter() {
    let mut h = Harness::<SmaCross>::new(r#"{"fast": 2, "slow": 4, "quantity": 1}"#).unwrap();
    let xs = bars_from_closes(X, &V_THEN_DROP);
    let ys = bars_from_closes(Y, &V_THEN_DROP);
    for (x, y) in xs.into_iter().zip(ys) {
        h.bar(x).unwrap();
        h.bar(y).unwrap();
    }
    let per: Vec<(InstrumentId, Side)> = h.orders().iter().map(|o| (o.instrument, o.side)).collect();
    assert_eq!(
        per,
        [(X, Side::Buy), (Y, Side::Buy), (X, Side::Sell), (Y, Side::Sell)]
    );
}

#[test]
fn info_names_the_guest() {
    let mut ctx = MockContext::new();
    let s = SmaCross::new(
        Config {
            fast: 1,
            slow: 2,
            quantity: None,
            fraction: None,
            symbol: None,
            trace_bars: false,
        },
        &mut ctx,
    )
    .unwrap();
    assert_eq!(s.orders_sent(), 0);
    let info = wasmtrade_sdk::strategy_info::<SmaCross>();
    assert_eq!(
        (info.name.as_str(), info.version.as_str()),
        ("sma-cross", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn trace_bars_logs_each_bar_and_the_count_continues_after_a_restore() {
    let config = r#"{"fast": 2, "slow": 4, "quantity": 1, "trace_bars": true}"#;
    let bars = bars_from_closes(X, &V_THEN_DROP[..5]);
    let mut old = Harness::<SmaCross>::new(config).unwrap();
    old.run(bars[..3].iter().copied()).unwrap();
    assert_eq!(
        old.context().logged(LogLevel::Debug),
        [
            "bar n=1 ts=0 instrument=0",
            "bar n=2 ts=60000000000 instrument=0",
            "bar n=3 ts=120000000000 instrument=0",
        ]
    );

    let mut new = Harness::<SmaCross>::new(config).unwrap();
    new.restore(&old.snapshot().unwrap()).unwrap();
    new.run(bars[3..].iter().copied()).unwrap();
    new.bar(bars_from_closes(Y, &[1.0])[0]).unwrap();
    assert_eq!(
        new.context().logged(LogLevel::Debug),
        [
            "bar n=4 ts=180000000000 instrument=0",
            "bar n=5 ts=240000000000 instrument=0",
            "bar n=6 ts=0 instrument=1",
        ]
    );
    assert_eq!(new.strategy().bars_seen(), 6);
}

#[test]
fn bars_are_not_traced_by_default() {
    let mut h = Harness::<SmaCross>::new(r#"{"fast": 2, "slow": 4, "quantity": 1}"#).unwrap();
    h.run(bars_from_closes(X, &V_THEN_DROP)).unwrap();
    assert!(h.context().logged(LogLevel::Debug).is_empty());
    let explicit = Harness::<SmaCross>::new(r#"{"fast": 2, "slow": 4, "trace_bars": false}"#).unwrap();
    assert!(!explicit.strategy().trace_bars);
}
