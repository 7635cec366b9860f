//! The risk engine's approve path (`Engine::check_new` of an order that
//! passes every check: account, strategy and instrument limits), one
//! million times in one run. Target: well under a microsecond per order.
//!
//! ```text
//! cargo bench --workspace --bench risk
//! ```

#![allow(clippy::print_stdout, reason = "a bench binary prints its figures")]
#![allow(
    clippy::disallowed_methods,
    reason = "a benchmark measures wall-clock time with Instant::now"
)]

use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use wasmtrade_model::{
    ClientOrderId, Instrument, InstrumentId, Money, NewOrder, OrderType, Price, Quantity, Side, StrategyId,
    TimeInForce,
};
use wasmtrade_risk::{Engine, Exposure, Limits, RiskConfig};

const ORDERS: u32 = 1_000_000;

fn main() -> ExitCode {
    let strategy = StrategyId::new("s1");
    let q = Quantity::from_int;
    let config = RiskConfig::default()
        .with_account(Limits {
            max_order_notional: Some(Money::from_int(1_000_000)),
            ..Limits::default()
        })
        .and_then(|c| {
            c.with_strategy(
                &strategy,
                Limits {
                    max_position: Some(q(1_000)),
                    max_order_quantity: Some(q(500)),
                    ..Limits::default()
                },
            )
        })
        .and_then(|c| {
            c.with_instrument(
                "AAPL",
                Limits {
                    max_order_quantity: Some(q(400)),
                    ..Limits::default()
                },
            )
        });
    let config = match config {
        Ok(c) => c,
        Err(e) => {
            eprintln!("risk bench: bad limits: {e}");
            return ExitCode::FAILURE;
        }
    };
    let engine = Engine::new(config);
    let instrument = Instrument::equity(InstrumentId(0), "AAPL");
    let (Ok(limit), Ok(reference)) = ("10.5".parse::<Price>(), "10".parse::<Price>()) else {
        return ExitCode::FAILURE;
    };
    let order = NewOrder {
        client_id: ClientOrderId::new("c1"),
        instrument: InstrumentId(0),
        side: Side::Buy,
        quantity: q(100),
        order_type: OrderType::Limit { limit },
        tif: TimeInForce::Gtc,
    };
    let exposure = Exposure {
        available_cash: Money::from_int(1_000_000_000),
        reference_price: Some(reference),
        ..Exposure::default()
    };
    if let Err(e) = engine.check_new(&strategy, &instrument, &order, &exposure) {
        eprintln!("risk bench: the approve path refused the order: {e:?}");
        return ExitCode::FAILURE;
    }
    let start = Instant::now();
    for _ in 0..ORDERS {
        black_box(
            engine
                .check_new(&strategy, &instrument, black_box(&order), &exposure)
                .is_ok(),
        );
    }
    let per = start.elapsed() / ORDERS;
    println!("risk check_new approve path: {per:?} per order ({ORDERS} orders)");
    if per < Duration::from_micros(1) {
        ExitCode::SUCCESS
    } else {
        println!("above the 1 µs target");
        ExitCode::FAILURE
    }
}
