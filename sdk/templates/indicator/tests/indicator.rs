//! Native tests: the indicator without wasm.

use wasmtrade_sdk::testing::bars_from_closes;
use wasmtrade_sdk::{Indicator, InstrumentId, parse_config};
use {{crate_ident}}::{{Type}};

#[test]
fn the_rate_of_change_starts_after_period_bars() {
    let mut roc = {{Type}}::new(parse_config(r#"{"period": 2}"#).unwrap()).unwrap();
    let out: Vec<_> = bars_from_closes(InstrumentId(0), &[100.0, 105.0, 110.0, 99.0])
        .iter()
        .map(|b| roc.update(b))
        .collect();
    assert_eq!(out[..2], [None, None]);
    assert!((out[2].as_ref().unwrap()[0] - 10.0).abs() < 1e-9);
    assert!((out[3].as_ref().unwrap()[0] + 5.714285714).abs() < 1e-6);
}

#[test]
fn a_restored_indicator_continues_where_the_snapshot_was_taken() {
    let bars = bars_from_closes(InstrumentId(0), &[1.0, 2.0, 3.0, 4.0, 5.0]);
    let mut a = {{Type}}::new(parse_config(r#"{"period": 2}"#).unwrap()).unwrap();
    for b in &bars[..3] {
        a.update(b);
    }
    let mut b = {{Type}}::new(parse_config(r#"{"period": 2}"#).unwrap()).unwrap();
    b.restore(&a.snapshot().unwrap()).unwrap();
    assert_eq!(a.update(&bars[3]), b.update(&bars[3]));
}

#[test]
fn a_zero_period_is_refused() {
    let err = {{Type}}::new(parse_config(r#"{"period": 0}"#).unwrap()).err().unwrap();
    assert!(err.to_string().contains("`period`"), "{err}");
}
