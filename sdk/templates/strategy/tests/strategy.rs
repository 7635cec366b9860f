//! Native tests: the strategy without wasm, through the SDK's harness (a
//! mock context and a simple broker filling market orders at the next open).

use wasmtrade_sdk::testing::{Harness, bars_from_closes};
use wasmtrade_sdk::{InstrumentId, Side};
use {{crate_ident}}::{{Type}};

const CONFIG: &str = r#"{"fast": 2, "slow": 3, "quantity": 10}"#;

#[test]
fn buys_on_a_cross_up_and_sells_on_the_cross_down() {
    let mut h = Harness::<{{Type}}>::new(CONFIG).unwrap();
    let closes = [10.0, 10.0, 10.0, 9.0, 11.0, 13.0, 14.0, 12.0, 9.0, 8.0, 8.0];
    h.run(bars_from_closes(InstrumentId(0), &closes)).unwrap();
    let sides: Vec<Side> = h.orders().iter().map(|o| o.side).collect();
    assert_eq!(sides, [Side::Buy, Side::Sell]);
}

#[test]
fn a_hot_swap_keeps_the_averages_and_the_order_count() {
    let mut h = Harness::<{{Type}}>::new(CONFIG).unwrap();
    h.run(bars_from_closes(InstrumentId(0), &[10.0, 10.0, 10.0, 9.0, 11.0])).unwrap();
    h.reload().unwrap(); // snapshot → new instance → restore
    h.run(bars_from_closes(InstrumentId(0), &[13.0, 14.0, 12.0, 9.0, 8.0])).unwrap();
    assert_eq!(h.orders().len(), 2);
}

#[test]
fn a_fast_period_not_below_the_slow_one_is_refused() {
    let err = Harness::<{{Type}}>::new(r#"{"fast": 5, "slow": 5}"#).err().unwrap();
    assert!(err.to_string().contains("`fast`"), "{err}");
}
