//! Paper broker rules, one test per rule.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use rstest::rstest;
use wasmtrade_broker::paper::{Commission, FillTiming, PaperBroker, PaperConfig};
use wasmtrade_broker::{Broker, BrokerError};
use wasmtrade_model::{
    Bar, BrokerEvent, ClientOrderId, Fill, InstrumentId, Instruments, Money, NewOrder, OrderId, OrderType,
    Price, Quantity, Rate, Side, StrategyId, Tick, TickData, TimeInForce, Timestamp,
};
use wasmtrade_risk::{Amendment, Engine, Exposure, RiskConfig};

const DAY: i64 = 86_400;
const T0: i64 = 1_704_153_600; // 2024-01-02T00:00:00Z

fn p(s: &str) -> Price {
    s.parse().unwrap()
}

fn q(n: i64) -> Quantity {
    Quantity::from_int(n)
}

struct Venue {
    broker: PaperBroker,
    instruments: Instruments,
    risk: Engine,
    next: u64,
}

impl Venue {
    fn new(config: PaperConfig) -> Self {
        let mut instruments = Instruments::new();
        instruments.intern("AAPL");
        Self {
            broker: PaperBroker::try_new(config, &instruments).unwrap(),
            instruments,
            risk: Engine::new(RiskConfig::permissive()),
            next: 1,
        }
    }

    fn submit_tif(
        &mut self,
        side: Side,
        qty: i64,
        order_type: OrderType,
        tif: TimeInForce,
        at: i64,
    ) -> OrderId {
        let order = NewOrder {
            client_id: ClientOrderId::new(format!("c{}", self.next)),
            instrument: InstrumentId(0),
            side,
            quantity: q(qty),
            order_type,
            tif,
        };
        let strategy = StrategyId::new("s");
        let approved = self
            .risk
            .check_new(
                &strategy,
                self.instruments.get(InstrumentId(0)).unwrap(),
                &order,
                &Exposure::default(),
            )
            .unwrap();
        let id = OrderId(self.next);
        self.next += 1;
        self.broker
            .submit(id, &strategy, &approved, Timestamp::from_secs(at))
            .unwrap();
        id
    }

    fn submit(&mut self, side: Side, qty: i64, order_type: OrderType, at: i64) -> OrderId {
        self.submit_tif(side, qty, order_type, TimeInForce::Gtc, at)
    }

    fn events(&mut self) -> Vec<BrokerEvent> {
        let mut out = Vec::new();
        self.broker.poll(&mut out);
        out
    }

    /// Fills only (Accepted and others dropped).
    fn fills(&mut self) -> Vec<Fill> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                BrokerEvent::Filled(f) => Some(f),
                _ => None,
            })
            .collect()
    }
}

fn bar(at: i64, o: &str, h: &str, l: &str, c: &str) -> Bar {
    Bar {
        instrument: InstrumentId(0),
        ts: Timestamp::from_secs(at),
        open: p(o),
        high: p(h),
        low: p(l),
        close: p(c),
        volume: q(1_000),
    }
}

fn limit(px: &str) -> OrderType {
    OrderType::Limit { limit: p(px) }
}

fn stop(px: &str) -> OrderType {
    OrderType::Stop { stop: p(px) }
}

#[test]
fn submit_is_acknowledged_at_once() {
    let mut v = Venue::new(PaperConfig::default());
    let id = v.submit(Side::Buy, 1, OrderType::Market, T0);
    assert_eq!(
        v.events(),
        vec![BrokerEvent::Accepted {
            order_id: id,
            ts: Timestamp::from_secs(T0)
        }]
    );
}

#[test]
fn market_order_fills_at_next_bar_open_not_the_current_one() {
    let mut v = Venue::new(PaperConfig::default());
    v.broker.on_bar(&bar(T0, "10", "11", "9", "10.5"));
    v.submit(Side::Buy, 5, OrderType::Market, T0);
    v.broker.on_bar(&bar(T0, "99", "99", "99", "99")); // same ts: not eligible (no look-ahead)
    assert!(v.fills().is_empty());
    v.broker.on_bar(&bar(T0 + 60, "10.2", "11", "9", "10.5"));
    let f = v.fills();
    assert_eq!(f.len(), 1);
    assert_eq!(
        (f[0].price, f[0].quantity, f[0].ts),
        (p("10.2"), q(5), Timestamp::from_secs(T0 + 60))
    );
    assert_eq!(f[0].exec_id, "P-1");
    assert_eq!(v.broker.working_count(), 0);
}

#[test]
fn same_close_timing_fills_market_orders_at_the_producing_bars_close() {
    let mut v = Venue::new(PaperConfig {
        fill_timing: FillTiming::SameClose,
        ..PaperConfig::default()
    });
    v.broker.on_bar(&bar(T0, "10", "11", "9", "10.5"));
    v.submit(Side::Sell, 5, OrderType::Market, T0);
    let f = v.fills();
    assert_eq!((f[0].price, f[0].ts), (p("10.5"), Timestamp::from_secs(T0)));
    // Limit orders still wait for the next bar.
    v.submit(Side::Buy, 1, limit("20"), T0);
    assert!(v.fills().is_empty());
    v.broker.on_bar(&bar(T0 + 60, "10", "11", "9", "10.5"));
    assert_eq!(v.fills()[0].price, p("10"));
}

#[test]
fn same_close_without_a_bar_waits_for_the_next_open() {
    let mut v = Venue::new(PaperConfig {
        fill_timing: FillTiming::SameClose,
        ..PaperConfig::default()
    });
    v.submit(Side::Buy, 1, OrderType::Market, T0);
    assert!(v.fills().is_empty());
    v.broker.on_bar(&bar(T0 + 60, "10", "11", "9", "10.5"));
    assert_eq!(v.fills()[0].price, p("10"));
}

#[rstest]
// buy limits: gap below the limit fills at the open; touching fills at the limit; out of reach stays
#[case::buy_limit_gap(Side::Buy, limit("10"), ["9.5", "9.8", "9.4", "9.6"], Some("9.5"))]
#[case::buy_limit_touch(Side::Buy, limit("10"), ["10.5", "10.8", "10", "10.6"], Some("10"))]
#[case::buy_limit_miss(Side::Buy, limit("10"), ["10.5", "10.8", "10.01", "10.6"], None)]
#[case::sell_limit_gap(Side::Sell, limit("10"), ["10.5", "10.8", "10.4", "10.6"], Some("10.5"))]
#[case::sell_limit_touch(Side::Sell, limit("10"), ["9.5", "10", "9.4", "9.6"], Some("10"))]
#[case::sell_limit_miss(Side::Sell, limit("10"), ["9.5", "9.99", "9.4", "9.6"], None)]
// stops: gap through the stop fills at the (worse) open; touching fills at the stop
#[case::buy_stop_gap(Side::Buy, stop("10"), ["10.5", "10.8", "10.4", "10.6"], Some("10.5"))]
#[case::buy_stop_touch(Side::Buy, stop("10"), ["9.5", "10", "9.4", "9.6"], Some("10"))]
#[case::buy_stop_miss(Side::Buy, stop("10"), ["9.5", "9.99", "9.4", "9.6"], None)]
#[case::sell_stop_gap(Side::Sell, stop("10"), ["9.5", "9.8", "9.4", "9.6"], Some("9.5"))]
#[case::sell_stop_touch(Side::Sell, stop("10"), ["10.5", "10.8", "10", "10.6"], Some("10"))]
#[case::sell_stop_miss(Side::Sell, stop("10"), ["10.5", "10.8", "10.01", "10.6"], None)]
// stop-limits
#[case::buy_stop_limit_touch_within(Side::Buy, OrderType::StopLimit { stop: p("10"), limit: p("10.2") }, ["9.5", "10.5", "9.4", "10"], Some("10"))]
#[case::buy_stop_limit_gap_within(Side::Buy, OrderType::StopLimit { stop: p("10"), limit: p("10.2") }, ["10.1", "10.5", "10", "10.3"], Some("10.1"))]
#[case::buy_stop_limit_gap_beyond_then_back(Side::Buy, OrderType::StopLimit { stop: p("10"), limit: p("10.2") }, ["10.5", "10.8", "10.1", "10.3"], Some("10.2"))]
#[case::buy_stop_limit_gap_beyond_never_back(Side::Buy, OrderType::StopLimit { stop: p("10"), limit: p("10.2") }, ["10.5", "10.8", "10.3", "10.6"], None)]
#[case::buy_stop_limit_not_triggered(Side::Buy, OrderType::StopLimit { stop: p("10"), limit: p("10.2") }, ["9.5", "9.9", "9.4", "9.6"], None)]
#[case::buy_stop_limit_below_stop_waits(Side::Buy, OrderType::StopLimit { stop: p("10"), limit: p("9.8") }, ["9.5", "10.5", "9.4", "10"], None)]
#[case::sell_stop_limit_touch_within(Side::Sell, OrderType::StopLimit { stop: p("10"), limit: p("9.8") }, ["10.5", "10.6", "9.5", "10"], Some("10"))]
#[case::sell_stop_limit_gap_beyond_then_back(Side::Sell, OrderType::StopLimit { stop: p("10"), limit: p("9.8") }, ["9.5", "9.9", "9.4", "9.6"], Some("9.8"))]
fn fill_price_rules(
    #[case] side: Side,
    #[case] order_type: OrderType,
    #[case] ohlc: [&str; 4],
    #[case] expected: Option<&str>,
) {
    let mut v = Venue::new(PaperConfig::default());
    v.submit(side, 3, order_type, T0);
    v.broker.on_bar(&bar(T0 + 60, ohlc[0], ohlc[1], ohlc[2], ohlc[3]));
    let prices: Vec<Price> = v.fills().iter().map(|f| f.price).collect();
    assert_eq!(prices, expected.map(p).into_iter().collect::<Vec<_>>());
}

#[test]
fn triggered_stop_limit_works_as_a_limit_on_later_bars() {
    let mut v = Venue::new(PaperConfig::default());
    v.submit(
        Side::Buy,
        1,
        OrderType::StopLimit {
            stop: p("10"),
            limit: p("9.8"),
        },
        T0,
    );
    v.broker.on_bar(&bar(T0 + 60, "9.5", "10.5", "9.4", "10")); // triggers, limit below stop: wait
    assert!(v.fills().is_empty());
    v.broker.on_bar(&bar(T0 + 120, "9.9", "9.95", "9.7", "9.9")); // no new trigger needed
    assert_eq!(v.fills()[0].price, p("9.8"));
}

#[test]
fn slippage_worsens_market_and_stop_fills_but_not_limits() {
    let mut v = Venue::new(PaperConfig {
        slippage_ticks: 2,
        ..PaperConfig::default()
    });
    v.submit(Side::Buy, 1, OrderType::Market, T0);
    v.submit(Side::Sell, 1, OrderType::Market, T0);
    v.submit(Side::Sell, 1, stop("9.5"), T0);
    v.submit(Side::Buy, 1, limit("10"), T0);
    v.broker.on_bar(&bar(T0 + 60, "10", "10.5", "9", "10"));
    let prices: Vec<Price> = v.fills().iter().map(|f| f.price).collect();
    assert_eq!(prices, vec![p("10.02"), p("9.98"), p("9.48"), p("10")]);
}

#[test]
fn participation_caps_fills_per_bar_and_leaves_the_rest_working() {
    let mut v = Venue::new(PaperConfig {
        max_volume_participation: Some("0.1".parse().unwrap()),
        ..PaperConfig::default()
    });
    let a = v.submit(Side::Buy, 150, OrderType::Market, T0);
    let b = v.submit(Side::Buy, 10, OrderType::Market, T0);
    v.broker.on_bar(&bar(T0 + 60, "10", "10", "10", "10")); // volume 1000 → 100 per bar
    let f = v.fills();
    assert_eq!(
        f.iter().map(|f| (f.order_id, f.quantity)).collect::<Vec<_>>(),
        vec![(a, q(100))]
    );
    v.broker.on_bar(&bar(T0 + 120, "11", "11", "11", "11"));
    let f = v.fills();
    assert_eq!(
        f.iter().map(|f| (f.order_id, f.quantity)).collect::<Vec<_>>(),
        vec![(a, q(50)), (b, q(10))]
    );
    assert_eq!(v.broker.working_count(), 0);
}

#[test]
fn ioc_fills_what_it_can_then_cancels_the_rest() {
    let mut v = Venue::new(PaperConfig {
        max_volume_participation: Some("0.1".parse().unwrap()),
        ..PaperConfig::default()
    });
    let id = v.submit_tif(Side::Buy, 150, OrderType::Market, TimeInForce::Ioc, T0);
    v.events();
    v.broker.on_bar(&bar(T0 + 60, "10", "10", "10", "10"));
    let events = v.events();
    assert!(matches!(&events[0], BrokerEvent::Filled(f) if f.quantity == q(100)));
    assert_eq!(
        events[1],
        BrokerEvent::Cancelled {
            order_id: id,
            ts: Timestamp::from_secs(T0 + 60)
        }
    );
}

#[test]
fn unreachable_ioc_limit_is_cancelled_on_its_first_bar() {
    let mut v = Venue::new(PaperConfig::default());
    let id = v.submit_tif(Side::Buy, 1, limit("5"), TimeInForce::Ioc, T0);
    v.events();
    v.broker.on_bar(&bar(T0 + 60, "10", "10", "10", "10"));
    assert_eq!(
        v.events(),
        vec![BrokerEvent::Cancelled {
            order_id: id,
            ts: Timestamp::from_secs(T0 + 60)
        }]
    );
}

#[test]
fn fok_fills_completely_or_not_at_all() {
    let mut v = Venue::new(PaperConfig {
        max_volume_participation: Some("0.1".parse().unwrap()),
        ..PaperConfig::default()
    });
    let big = v.submit_tif(Side::Buy, 150, OrderType::Market, TimeInForce::Fok, T0);
    let small = v.submit_tif(Side::Buy, 100, OrderType::Market, TimeInForce::Fok, T0);
    v.events();
    v.broker.on_bar(&bar(T0 + 60, "10", "10", "10", "10"));
    let events = v.events();
    assert_eq!(
        events[0],
        BrokerEvent::Cancelled {
            order_id: big,
            ts: Timestamp::from_secs(T0 + 60)
        }
    );
    assert!(matches!(&events[1], BrokerEvent::Filled(f) if f.order_id == small && f.quantity == q(100)));
    assert_eq!(events.len(), 2);
}

#[test]
fn day_orders_expire_on_a_later_utc_day() {
    let mut v = Venue::new(PaperConfig::default());
    let id = v.submit_tif(Side::Buy, 1, limit("5"), TimeInForce::Day, T0 + 3600);
    let gtc = v.submit(Side::Buy, 1, limit("5"), T0 + 3600);
    v.events();
    v.broker.on_bar(&bar(T0 + DAY - 60, "10", "10", "10", "10")); // same day
    assert!(v.events().is_empty());
    v.broker.on_bar(&bar(T0 + DAY, "10", "10", "10", "10"));
    assert_eq!(
        v.events(),
        vec![BrokerEvent::Expired {
            order_id: id,
            ts: Timestamp::from_secs(T0 + DAY)
        }]
    );
    assert_eq!(v.broker.working_count(), 1);
    v.broker.cancel(gtc, Timestamp::from_secs(T0 + DAY)).unwrap();
}

#[test]
fn commission_minimum_applies_per_fill() {
    let commission = Commission {
        rate: "0.001".parse().unwrap(),
        per_unit: None,
        minimum: Money::from_int(1),
    };
    let mut v = Venue::new(PaperConfig {
        commission,
        ..PaperConfig::default()
    });
    v.submit(Side::Buy, 10, OrderType::Market, T0);
    v.submit(Side::Buy, 1000, OrderType::Market, T0);
    v.broker.on_bar(&bar(T0 + 60, "10", "10", "10", "10"));
    let c: Vec<Money> = v.fills().iter().map(|f| f.commission).collect();
    assert_eq!(c, vec![Money::from_int(1), Money::from_int(10)]); // 0.1 → minimum 1; 10000 × 0.001
}

#[test]
fn cancel_removes_a_working_order_and_refuses_unknown_or_finished_ones() {
    let mut v = Venue::new(PaperConfig::default());
    let id = v.submit(Side::Buy, 1, limit("5"), T0);
    v.events();
    let t = Timestamp::from_secs(T0 + 1);
    v.broker.cancel(id, t).unwrap();
    assert_eq!(v.events(), vec![BrokerEvent::Cancelled { order_id: id, ts: t }]);
    v.broker.cancel(id, t).unwrap();
    v.broker.cancel(OrderId(99), t).unwrap();
    let events = v.events();
    assert!(
        matches!(&events[0], BrokerEvent::CancelRejected { reason, .. } if reason.contains("no longer working"))
    );
    assert!(matches!(&events[1], BrokerEvent::CancelRejected { reason, .. } if reason.contains("unknown")));
    v.broker.on_bar(&bar(T0 + 60, "1", "1", "1", "1"));
    assert!(v.fills().is_empty());
}

fn approved_amendment(
    v: &Venue,
    quantity: Option<i64>,
    limit_price: Option<&str>,
    order_type: OrderType,
) -> wasmtrade_risk::RiskApproved<Amendment> {
    let order = wasmtrade_model::Order {
        id: OrderId(1),
        strategy: StrategyId::new("s"),
        request: NewOrder {
            client_id: ClientOrderId::new("c1"),
            instrument: InstrumentId(0),
            side: Side::Buy,
            quantity: q(10),
            order_type,
            tif: TimeInForce::Gtc,
        },
        status: wasmtrade_model::OrderStatus::Accepted,
        filled: Quantity::ZERO,
        filled_notional: Money::ZERO,
        created: Timestamp::EPOCH,
        updated: Timestamp::EPOCH,
    };
    let change = Amendment {
        quantity: quantity.map(q),
        limit_price: limit_price.map(p),
    };
    v.risk
        .check_amend(
            &StrategyId::new("s"),
            v.instruments.get(InstrumentId(0)).unwrap(),
            &order,
            &change,
            &Exposure::default(),
        )
        .unwrap()
}

#[test]
fn amend_changes_price_and_quantity_without_look_ahead() {
    let mut v = Venue::new(PaperConfig::default());
    let id = v.submit(Side::Buy, 10, limit("5"), T0);
    let change = approved_amendment(&v, Some(4), Some("9"), limit("5"));
    v.broker
        .amend(id, &change, Timestamp::from_secs(T0 + 60))
        .unwrap();
    v.broker.on_bar(&bar(T0 + 60, "9", "9", "9", "9")); // same ts as the amendment: not eligible
    assert!(v.fills().is_empty());
    v.broker.on_bar(&bar(T0 + 120, "9.5", "9.5", "8.5", "9"));
    let f = v.fills();
    assert_eq!((f[0].price, f[0].quantity), (p("9"), q(4)));
}

#[test]
fn amend_of_unknown_or_finished_orders_is_an_error() {
    let mut v = Venue::new(PaperConfig::default());
    let change = approved_amendment(&v, Some(4), None, OrderType::Market);
    let t = Timestamp::from_secs(T0);
    assert_eq!(
        v.broker.amend(OrderId(42), &change, t),
        Err(BrokerError::UnknownOrder { id: OrderId(42) })
    );
    let id = v.submit(Side::Buy, 10, OrderType::Market, T0);
    v.broker.on_bar(&bar(T0 + 60, "9", "9", "9", "9"));
    assert_eq!(
        v.broker.amend(id, &change, t),
        Err(BrokerError::OrderFinished { id })
    );
}

#[test]
fn duplicate_order_ids_are_refused() {
    let mut v = Venue::new(PaperConfig::default());
    v.submit(Side::Buy, 1, OrderType::Market, T0);
    let order = NewOrder {
        client_id: ClientOrderId::new("x"),
        instrument: InstrumentId(0),
        side: Side::Buy,
        quantity: q(1),
        order_type: OrderType::Market,
        tif: TimeInForce::Gtc,
    };
    let s = StrategyId::new("s");
    let approved = v
        .risk
        .check_new(
            &s,
            v.instruments.get(InstrumentId(0)).unwrap(),
            &order,
            &Exposure::default(),
        )
        .unwrap();
    let err = v
        .broker
        .submit(OrderId(1), &s, &approved, Timestamp::from_secs(T0))
        .unwrap_err();
    assert_eq!(err, BrokerError::DuplicateOrderId { id: OrderId(1) });
}

#[test]
fn unknown_instruments_trade_like_equities() {
    let mut v = Venue::new(PaperConfig::default());
    v.broker = PaperBroker::new(PaperConfig {
        slippage_ticks: 1,
        ..PaperConfig::default()
    });
    v.submit(Side::Buy, 1, OrderType::Market, T0);
    v.broker.on_bar(&bar(T0 + 60, "10", "10", "10", "10"));
    assert_eq!(v.fills()[0].price, p("10.01"));
}

#[test]
fn try_new_refuses_invalid_settings() {
    let config = PaperConfig {
        max_volume_participation: Some(Rate::ZERO),
        ..PaperConfig::default()
    };
    assert!(PaperBroker::try_new(config, &Instruments::new()).is_err());
}

fn tick(at: i64, data: TickData) -> Tick {
    Tick {
        instrument: InstrumentId(0),
        ts: Timestamp::from_secs(at),
        data,
    }
}

#[test]
fn ticks_fill_market_orders_at_trade_price_or_far_side_of_quote() {
    let mut v = Venue::new(PaperConfig::default());
    v.submit(Side::Buy, 1, OrderType::Market, T0);
    v.submit(Side::Sell, 1, OrderType::Market, T0);
    v.broker.on_tick(&tick(
        T0,
        TickData::Trade {
            price: p("1"),
            size: q(10),
        },
    )); // not after submit
    assert!(v.fills().is_empty());
    let quote = TickData::Quote {
        bid: p("9.99"),
        bid_size: q(10),
        ask: p("10.01"),
        ask_size: q(10),
    };
    v.broker.on_tick(&tick(T0 + 1, quote));
    let prices: Vec<Price> = v.fills().iter().map(|f| f.price).collect();
    assert_eq!(prices, vec![p("10.01"), p("9.99")]);
    v.submit(Side::Buy, 1, OrderType::Market, T0 + 1);
    v.broker.on_tick(&tick(
        T0 + 2,
        TickData::Trade {
            price: p("10.5"),
            size: q(10),
        },
    ));
    assert_eq!(v.fills()[0].price, p("10.5"));
}

#[test]
fn ticks_respect_limit_and_stop_prices() {
    let mut v = Venue::new(PaperConfig::default());
    v.submit(Side::Buy, 1, limit("10"), T0);
    v.submit(Side::Buy, 1, stop("11"), T0);
    v.broker.on_tick(&tick(
        T0 + 1,
        TickData::Trade {
            price: p("10.5"),
            size: q(10),
        },
    ));
    assert!(v.fills().is_empty());
    v.broker.on_tick(&tick(
        T0 + 2,
        TickData::Trade {
            price: p("9.9"),
            size: q(10),
        },
    ));
    assert_eq!(v.fills()[0].price, p("9.9"));
    v.broker.on_tick(&tick(
        T0 + 3,
        TickData::Trade {
            price: p("11.2"),
            size: q(10),
        },
    ));
    assert_eq!(v.fills()[0].price, p("11.2"));
}

#[test]
fn exec_ids_are_deterministic_and_sequential() {
    let mut v = Venue::new(PaperConfig::default());
    for _ in 0..3 {
        v.submit(Side::Buy, 1, OrderType::Market, T0);
    }
    v.broker.on_bar(&bar(T0 + 60, "1", "1", "1", "1"));
    let ids: Vec<String> = v.fills().into_iter().map(|f| f.exec_id).collect();
    assert_eq!(ids, ["P-1", "P-2", "P-3"]);
}

#[test]
fn bars_of_other_instruments_do_not_fill() {
    let mut v = Venue::new(PaperConfig::default());
    v.submit(Side::Buy, 1, OrderType::Market, T0);
    let mut other = bar(T0 + 60, "1", "1", "1", "1");
    other.instrument = InstrumentId(5);
    v.broker.on_bar(&other);
    assert!(v.fills().is_empty());
}
