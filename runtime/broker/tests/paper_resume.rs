//! A paper broker resumed after a runtime restart continues its books.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use wasmtrade_broker::Broker;
use wasmtrade_broker::paper::{PaperBroker, PaperConfig};
use wasmtrade_model::{
    Bar, BrokerEvent, ClientOrderId, Fill, InstrumentId, Instruments, Money, NewOrder, OrderId, OrderType,
    Price, Quantity, Side, StrategyId, TimeInForce, Timestamp,
};
use wasmtrade_risk::{Engine, Exposure, RiskConfig};

const T0: i64 = 1_704_153_600;

fn p(s: &str) -> Price {
    s.parse().unwrap()
}

fn bar(at: i64, px: &str) -> Bar {
    Bar {
        instrument: InstrumentId(0),
        ts: Timestamp::from_secs(at),
        open: p(px),
        high: p(px),
        low: p(px),
        close: p(px),
        volume: Quantity::from_int(1_000),
    }
}

fn journaled_fill(order: u64, exec: &str, side: Side, qty: i64, px: &str) -> Fill {
    Fill {
        order_id: OrderId(order),
        strategy: StrategyId::new("s"),
        client_id: ClientOrderId::new(format!("c{order}")),
        instrument: InstrumentId(0),
        side,
        quantity: Quantity::from_int(qty),
        price: p(px),
        commission: Money::ZERO,
        ts: Timestamp::from_secs(T0),
        exec_id: exec.to_string(),
    }
}

fn market_buy(broker: &mut PaperBroker, instruments: &Instruments, id: u64, at: i64) {
    let order = NewOrder {
        client_id: ClientOrderId::new(format!("c{id}")),
        instrument: InstrumentId(0),
        side: Side::Buy,
        quantity: Quantity::from_int(1),
        order_type: OrderType::Market,
        tif: TimeInForce::Gtc,
    };
    let approved = Engine::new(RiskConfig::permissive())
        .check_new(
            &StrategyId::new("s"),
            instruments.get(InstrumentId(0)).unwrap(),
            &order,
            &Exposure::default(),
        )
        .unwrap();
    broker
        .submit(
            OrderId(id),
            &StrategyId::new("s"),
            &approved,
            Timestamp::from_secs(at),
        )
        .unwrap();
}

fn resumed() -> (PaperBroker, Instruments) {
    let mut instruments = Instruments::new();
    instruments.intern("AAPL");
    let fills = [
        journaled_fill(1, "P-1", Side::Buy, 10, "100"),
        journaled_fill(2, "P-2", Side::Sell, 4, "110"),
    ];
    let broker = PaperBroker::try_new(PaperConfig::default(), &instruments)
        .unwrap()
        .with_starting_cash(Money::from_int(10_000))
        .resume(
            [
                (OrderId(1), Quantity::from_int(10)),
                (OrderId(2), Quantity::from_int(4)),
            ],
            &fills,
        );
    (broker, instruments)
}

#[test]
fn a_resumed_broker_continues_execution_ids_after_the_journaled_ones() {
    let (mut broker, instruments) = resumed();
    market_buy(&mut broker, &instruments, 3, T0 + 10);
    broker.on_bar(&bar(T0 + 60, "105"));
    let mut events = Vec::new();
    broker.poll(&mut events);
    let fill = events
        .iter()
        .find_map(|e| match e {
            BrokerEvent::Filled(f) => Some(f.clone()),
            _ => None,
        })
        .expect("the market order fills at the next bar's open");
    assert_eq!((fill.exec_id.as_str(), fill.price), ("P-3", p("105")));
}

#[test]
fn a_resumed_broker_reports_the_journaled_positions_and_cash() {
    let (mut broker, _) = resumed();
    let report = broker.report(&[], std::time::Duration::from_secs(1)).unwrap();
    assert_eq!(
        report.positions.get(&InstrumentId(0)),
        Some(&Quantity::from_int(6))
    );
    // 10 000 − 10 × 100 + 4 × 110
    assert_eq!(report.cash, Some(Money::from_int(9_440)));
    assert_eq!(report.executions.len(), 2);
}

#[test]
fn a_resumed_broker_refuses_an_order_id_it_already_saw() {
    let (mut broker, instruments) = resumed();
    let order = NewOrder {
        client_id: ClientOrderId::new("again"),
        instrument: InstrumentId(0),
        side: Side::Buy,
        quantity: Quantity::from_int(1),
        order_type: OrderType::Market,
        tif: TimeInForce::Gtc,
    };
    let approved = Engine::new(RiskConfig::permissive())
        .check_new(
            &StrategyId::new("s"),
            instruments.get(InstrumentId(0)).unwrap(),
            &order,
            &Exposure::default(),
        )
        .unwrap();
    let err = broker
        .submit(
            OrderId(2),
            &StrategyId::new("s"),
            &approved,
            Timestamp::from_secs(T0),
        )
        .unwrap_err();
    assert!(err.to_string().contains('2'), "{err}");
}
