//! Realistic sessions of the IB adapter against the scripted TWS-protocol
//! peer on loopback (tests/support). Waits are on events with a generous
//! bound that only turns a hang into a failure; nothing asserts speed.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::disallowed_methods, reason = "tests bound their waits with real time")]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{
    Action, Peer, Received, commission, default_reply, error, exec_details, open_order, order_status, placed,
    realtime_bar,
};
use wasmtrade_broker::{Broker, BrokerError, Connection};
use wasmtrade_ibkr::{IbkrBroker, IbkrConfig, IbkrError, IbkrMarket, LinkState, RawIbkrConfig};
use wasmtrade_model::{
    BrokerEvent, ClientOrderId, InstrumentId, Instruments, Money, NewOrder, OrderId, OrderStatus, OrderType,
    Price, Quantity, Side, StrategyId, TimeInForce, Timestamp,
};
use wasmtrade_risk::{Engine, Exposure, RiskApproved, RiskConfig};

const AAPL: InstrumentId = InstrumentId(0);

fn instruments() -> Arc<Instruments> {
    let mut i = Instruments::new();
    i.intern("AAPL");
    i.intern("MSFT");
    Arc::new(i)
}

fn config(peer: &Peer, extra: &str) -> IbkrConfig {
    let timeout = if extra.contains("request_timeout_ms") {
        ""
    } else {
        "request_timeout_ms = 5000\n"
    };
    let text = format!(
        "host = \"127.0.0.1\"\nport = {}\nheartbeat_ms = 20\nreconnect_initial_ms = 50\nreconnect_max_ms = 200\n\
         {timeout}commission_wait_ms = 10000\n{extra}",
        peer.port()
    );
    let raw: RawIbkrConfig = toml::from_str(&text).unwrap();
    IbkrConfig::try_from(raw).unwrap()
}

fn connect(peer: &Peer, extra: &str) -> (IbkrBroker, IbkrMarket) {
    IbkrBroker::connect(config(peer, extra), instruments()).unwrap()
}

fn approved(side: Side, qty: i64, order_type: OrderType, tif: TimeInForce) -> RiskApproved<NewOrder> {
    let ins = instruments();
    let order = NewOrder {
        client_id: ClientOrderId::new("g1"),
        instrument: AAPL,
        side,
        quantity: Quantity::from_int(qty),
        order_type,
        tif,
    };
    Engine::new(RiskConfig::permissive())
        .check_new(
            &StrategyId::new("s"),
            ins.get(AAPL).unwrap(),
            &order,
            &Exposure::default(),
        )
        .unwrap()
}

fn limit(price: &str) -> OrderType {
    OrderType::Limit {
        limit: price.parse().unwrap(),
    }
}

fn submit(b: &mut IbkrBroker, id: u64, order: &RiskApproved<NewOrder>) -> Result<(), BrokerError> {
    b.submit(OrderId(id), &StrategyId::new("s"), order, Timestamp::from_secs(0))
}

/// Polls until `pred` holds for all events so far (20 s bound against hangs).
fn events_until(b: &mut IbkrBroker, what: &str, pred: impl Fn(&[BrokerEvent]) -> bool) -> Vec<BrokerEvent> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut all = Vec::new();
    loop {
        b.poll(&mut all);
        if pred(&all) {
            return all;
        }
        assert!(Instant::now() < deadline, "never saw {what}; events: {all:#?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn until(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "never saw {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn fills(events: &[BrokerEvent]) -> Vec<&wasmtrade_model::Fill> {
    events
        .iter()
        .filter_map(|e| match e {
            BrokerEvent::Filled(f) => Some(f),
            _ => None,
        })
        .collect()
}

fn count(log: &[Received], kind: &str) -> usize {
    log.iter().filter(|r| r.kind() == kind).count()
}

fn quiet_peer() -> Peer {
    Peer::start(|_, f| default_reply(f).unwrap_or_default())
}

#[test]
fn connects_with_the_real_handshake_and_reconciles_before_trading() {
    let peer = quiet_peer();
    let (broker, _market) = connect(&peer, "client_id = 7");
    let log = peer.log();
    // startApi carried our client id; reconciliation asked ids, open orders and executions.
    assert!(log[0].kind() == "71" && log[0].fields[2] == "7", "{log:?}");
    for kind in ["8", "16", "7"] {
        assert!(log.iter().any(|r| r.kind() == kind), "no request {kind}: {log:?}");
    }
    assert_eq!(broker.connection(), Connection::Connected);
    let h = broker.health();
    assert_eq!(
        (h.link, h.client_id, h.server_version),
        (LinkState::Up, 7, support::SERVER_VERSION)
    );
    assert_eq!(h.reconciliations, 1);
}

/// Acknowledges every placeOrder, then fills 40 and 60 with commissions
/// (the second execution is sent twice, as TWS does after a restart).
fn filling_peer() -> Peer {
    Peer::start(|_, f| {
        if let Some(r) = default_reply(f) {
            return r;
        }
        if f[0] != "3" {
            return vec![];
        }
        let (id, r) = placed(f, "wt-");
        let s = Action::Send;
        vec![
            s(open_order(
                id,
                "AAPL",
                "BUY",
                "100",
                "LMT",
                "187.5",
                &r,
                "Submitted",
            )),
            s(order_status(id, "Submitted", "0", "100", "0")),
            s(exec_details(
                "-1", id, "AAPL", "E.1", "BOT", "40", "187.5", "40", &r,
            )),
            s(commission("E.1", "1.0")),
            s(order_status(id, "Submitted", "40", "60", "187.5")),
            s(exec_details(
                "-1", id, "AAPL", "E.2", "BOT", "60", "187.25", "100", &r,
            )),
            s(commission("E.2", "1.5")),
            s(exec_details(
                "-1", id, "AAPL", "E.2", "BOT", "60", "187.25", "100", &r,
            )),
            s(order_status(id, "Filled", "100", "0", "187.35")),
        ]
    })
}

#[test]
fn order_is_accepted_partially_filled_then_filled_with_commissions() {
    let peer = filling_peer();
    let (mut broker, _m) = connect(&peer, "");
    submit(
        &mut broker,
        1,
        &approved(Side::Buy, 100, limit("187.5"), TimeInForce::Gtc),
    )
    .unwrap();
    let events = events_until(&mut broker, "two fills", |e| fills(e).len() == 2);
    assert!(
        matches!(
            events[0],
            BrokerEvent::Accepted {
                order_id: OrderId(1),
                ..
            }
        ),
        "{events:?}"
    );
    let f = fills(&events);
    let p = |s: &str| s.parse::<Price>().unwrap();
    assert_eq!(
        (f[0].quantity, f[0].price, f[0].exec_id.as_str()),
        (Quantity::from_int(40), p("187.5"), "E.1")
    );
    assert_eq!(
        (f[1].quantity, f[1].price, f[1].exec_id.as_str()),
        (Quantity::from_int(60), p("187.25"), "E.2")
    );
    assert_eq!(f[0].commission, Money::from_f64(1.0).unwrap());
    assert_eq!(f[1].commission, Money::from_f64(1.5).unwrap());
    assert_eq!((f[0].side, f[0].instrument), (Side::Buy, AAPL));
    // The order went out as a GTC limit at 187.5 with our id as its reference.
    let log = peer.log();
    let place = log.iter().find(|r| r.kind() == "3").unwrap();
    for v in ["wt-1", "LMT", "187.5", "GTC", "BUY", "AAPL"] {
        assert!(place.has(v), "placeOrder lacks {v}: {:?}", place.fields);
    }
    // The duplicate execution is dropped, not applied twice.
    until("the duplicate execution", || {
        broker.health().duplicate_executions == 1
    });
    let mut more = Vec::new();
    broker.poll(&mut more);
    assert!(fills(&more).is_empty(), "{more:?}");
    // The venue report sees the order filled, both executions, the position and cash.
    let report = broker.report(&[OrderId(1)], Duration::from_secs(10)).unwrap();
    assert!(report.complete);
    let o = report.orders.iter().find(|o| o.id == OrderId(1)).unwrap();
    assert_eq!(
        (o.status, o.filled),
        (OrderStatus::Filled, Quantity::from_int(100))
    );
    assert_eq!(report.executions.len(), 2);
    assert_eq!(report.positions.get(&AAPL), Some(&Quantity::from_int(100)));
    assert_eq!(report.cash, Some("100000.50".parse().unwrap()));
}

#[test]
fn every_order_type_and_time_in_force_reaches_the_wire() {
    let peer = quiet_peer();
    let (mut broker, _m) = connect(&peer, "");
    let p = |s: &str| s.parse::<Price>().unwrap();
    let cases = [
        (OrderType::Market, TimeInForce::Day, "MKT", "DAY"),
        (limit("10.5"), TimeInForce::Ioc, "LMT", "IOC"),
        (
            OrderType::Stop { stop: p("9.25") },
            TimeInForce::Gtc,
            "STP",
            "GTC",
        ),
        (
            OrderType::StopLimit {
                stop: p("9.25"),
                limit: p("9"),
            },
            TimeInForce::Fok,
            "STP LMT",
            "FOK",
        ),
    ];
    for (i, (t, tif, _, _)) in cases.iter().enumerate() {
        submit(&mut broker, i as u64 + 1, &approved(Side::Sell, 5, *t, *tif)).unwrap();
    }
    let log = peer.wait_for("four placeOrders", |l| count(l, "3") == 4);
    let places: Vec<&Received> = log.iter().filter(|r| r.kind() == "3").collect();
    for (i, (_, _, ty, tif)) in cases.iter().enumerate() {
        let r = places.iter().find(|r| r.has(&format!("wt-{}", i + 1))).unwrap();
        assert!(
            r.has(ty) && r.has(tif) && r.has("SELL"),
            "{ty} {tif}: {:?}",
            r.fields
        );
    }
    let stop_limit = places.iter().find(|r| r.has("wt-4")).unwrap();
    assert!(
        stop_limit.has("9.25") && stop_limit.has("9"),
        "{:?}",
        stop_limit.fields
    );
}

#[test]
fn cancel_is_confirmed_and_a_refused_cancel_is_reported() {
    let peer = Peer::start(|_, f| {
        if let Some(r) = default_reply(f) {
            return r;
        }
        let s = Action::Send;
        match f[0].as_str() {
            "3" => {
                let (id, r) = placed(f, "wt-");
                vec![
                    s(open_order(id, "AAPL", "BUY", "10", "LMT", "100", &r, "Submitted")),
                    s(order_status(id, "Submitted", "0", "10", "0")),
                ]
            }
            // cancelOrder: [4, version?, orderId, ...]; the first order cancels, the second is refused.
            "4" => {
                let id: i32 = f
                    .iter()
                    .skip(1)
                    .find_map(|x| x.parse::<i32>().ok().filter(|v| *v >= 1000))
                    .unwrap();
                if id == 1000 {
                    vec![
                        s(error(id, 202, "Order Canceled - reason:")),
                        s(order_status(id, "Cancelled", "0", "10", "0")),
                    ]
                } else {
                    vec![s(error(
                        id,
                        161,
                        "Cancel attempted when order is not in a cancellable state.",
                    ))]
                }
            }
            _ => vec![],
        }
    });
    let (mut broker, _m) = connect(&peer, "");
    submit(
        &mut broker,
        1,
        &approved(Side::Buy, 10, limit("100"), TimeInForce::Day),
    )
    .unwrap();
    submit(
        &mut broker,
        2,
        &approved(Side::Buy, 10, limit("100"), TimeInForce::Day),
    )
    .unwrap();
    events_until(&mut broker, "two acks", |e| {
        e.iter()
            .filter(|x| matches!(x, BrokerEvent::Accepted { .. }))
            .count()
            == 2
    });
    broker.cancel(OrderId(1), Timestamp::from_secs(1)).unwrap();
    let events = events_until(&mut broker, "the cancel", |e| !e.is_empty());
    assert!(
        matches!(
            events[0],
            BrokerEvent::Cancelled {
                order_id: OrderId(1),
                ..
            }
        ),
        "{events:?}"
    );
    assert_eq!(
        broker.cancel(OrderId(1), Timestamp::from_secs(2)),
        Err(BrokerError::OrderFinished { id: OrderId(1) })
    );
    broker.cancel(OrderId(2), Timestamp::from_secs(2)).unwrap();
    let events = events_until(&mut broker, "the refused cancel", |e| !e.is_empty());
    assert!(
        matches!(&events[0], BrokerEvent::CancelRejected { order_id: OrderId(2), reason, .. } if reason.contains("161")),
        "{events:?}"
    );
    assert_eq!(
        broker.cancel(OrderId(9), Timestamp::from_secs(2)),
        Err(BrokerError::UnknownOrder { id: OrderId(9) })
    );
}

#[test]
fn an_ib_rejection_rejects_the_order_with_ibs_reason() {
    let peer = Peer::start(|_, f| {
        if let Some(r) = default_reply(f) {
            return r;
        }
        if f[0] == "3" {
            let (id, _) = placed(f, "wt-");
            return vec![Action::Send(error(
                id,
                201,
                "Order rejected - reason:Insufficient buying power",
            ))];
        }
        vec![]
    });
    let (mut broker, _m) = connect(&peer, "");
    submit(
        &mut broker,
        1,
        &approved(Side::Buy, 1_000_000, OrderType::Market, TimeInForce::Day),
    )
    .unwrap();
    let events = events_until(&mut broker, "the rejection", |e| !e.is_empty());
    assert!(
        matches!(&events[0], BrokerEvent::Rejected { order_id: OrderId(1), reason, .. }
            if reason.contains("201") && reason.contains("Insufficient buying power")),
        "{events:?}"
    );
    assert_eq!(
        submit(
            &mut broker,
            1,
            &approved(Side::Buy, 1, OrderType::Market, TimeInForce::Day)
        ),
        Err(BrokerError::DuplicateOrderId { id: OrderId(1) })
    );
}

#[test]
fn client_id_in_use_tries_the_next_id_when_allowed() {
    let peer = quiet_peer();
    peer.refuse_client_id(17);
    let (broker, _m) = connect(&peer, "client_id = 17\nclient_id_fallbacks = 1");
    let h = broker.health();
    assert_eq!((h.client_id, h.client_id_conflicts), (18, 1));
    let ids: Vec<String> = peer
        .log()
        .iter()
        .filter(|r| r.kind() == "71")
        .map(|r| r.fields[2].clone())
        .collect();
    assert_eq!(ids, vec!["17", "18"]);
}

#[test]
fn client_id_in_use_fails_clearly_without_fallbacks() {
    let peer = quiet_peer();
    peer.refuse_client_id(17);
    let err = IbkrBroker::connect(config(&peer, "client_id = 17"), instruments()).unwrap_err();
    assert!(
        matches!(
            err,
            IbkrError::ClientIdInUse {
                client_id: 17,
                tried: 1,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("326"), "{err}");
}

#[test]
fn the_live_port_is_refused_without_the_opt_in() {
    let raw: RawIbkrConfig = toml::from_str("port = 4001").unwrap();
    let err = IbkrConfig::try_from(raw).unwrap_err();
    assert!(matches!(err, IbkrError::LiveNotAllowed { .. }), "{err}");
}

#[test]
fn unknown_symbols_in_the_universe_are_refused_at_connect() {
    let peer = quiet_peer();
    let err = IbkrBroker::connect(config(&peer, "symbols = [\"ZZZZ\"]"), instruments()).unwrap_err();
    assert!(
        matches!(err, IbkrError::NotAnInstrument { ref symbol } if symbol == "ZZZZ"),
        "{err}"
    );
}

fn bar_request_id(log: &[Received], conn: usize) -> String {
    log.iter()
        .find(|r| r.kind() == "50" && r.conn == conn)
        .unwrap()
        .fields[2]
        .clone()
}

#[test]
fn socket_loss_mid_order_reconnects_replays_subscriptions_and_reconciles_the_missed_fill() {
    // Connection 0 acknowledges the order; after the drop, connection 1's
    // reconciliation reports the execution that happened meanwhile.
    let peer = Peer::start(|conn, f| {
        let s = Action::Send;
        match (conn, f[0].as_str()) {
            (0, "3") => {
                let (id, r) = placed(f, "wt-");
                vec![
                    s(open_order(
                        id,
                        "AAPL",
                        "BUY",
                        "100",
                        "LMT",
                        "187.5",
                        &r,
                        "Submitted",
                    )),
                    s(order_status(id, "Submitted", "0", "100", "0")),
                ]
            }
            (c, "7") if c > 0 => vec![
                s(exec_details(
                    &f[2], 1000, "AAPL", "E.9", "BOT", "100", "187.5", "100", "wt-1",
                )),
                s(commission("E.9", "2.0")),
                s(format!("55|1|{}|", f[2])),
            ],
            _ => default_reply(f).unwrap_or_default(),
        }
    });
    let (mut broker, mut market) = connect(&peer, "symbols = [\"AAPL\"]\nbar_seconds = 5");
    let mut bars = market.take_bars().unwrap();
    submit(
        &mut broker,
        1,
        &approved(Side::Buy, 100, limit("187.5"), TimeInForce::Gtc),
    )
    .unwrap();
    events_until(&mut broker, "the ack", |e| !e.is_empty());
    let log = peer.wait_for("the bar subscription", |l| l.iter().any(|r| r.kind() == "50"));
    let first = bar_request_id(&log, 0);

    peer.push(vec![Action::Close]);
    until("the adapter to notice the loss", || {
        broker.connection() != Connection::Connected
    });
    // No silent queueing while away.
    assert!(matches!(
        submit(
            &mut broker,
            2,
            &approved(Side::Buy, 1, OrderType::Market, TimeInForce::Day)
        ),
        Err(BrokerError::Disconnected { .. })
    ));

    // The client library reconnects with the same client id; we reconcile.
    peer.wait_for("the reconnect", |l| {
        l.iter().any(|r| r.kind() == "71" && r.conn == 1)
    });
    peer.wait_for("reconciliation on the new connection", |l| {
        l.iter().any(|r| r.kind() == "7" && r.conn == 1)
    });
    let events = events_until(&mut broker, "the missed fill", |e| fills(e).len() == 1);
    let f = fills(&events)[0];
    assert_eq!(
        (f.order_id, f.quantity, f.exec_id.as_str()),
        (OrderId(1), Quantity::from_int(100), "E.9")
    );
    assert_eq!(f.commission, Money::from_f64(2.0).unwrap());
    until("trading to resume", || {
        broker.connection() == Connection::Connected
    });
    let log = peer.wait_for("the replayed subscription", |l| {
        l.iter().any(|r| r.kind() == "50" && r.conn == 1)
    });
    let start_api: Vec<&Received> = log.iter().filter(|r| r.kind() == "71").collect();
    assert_eq!(start_api.len(), 2);
    assert_eq!(
        start_api[0].fields[2], start_api[1].fields[2],
        "same client id on reconnect"
    );
    let h = broker.health();
    assert!(h.reconnects >= 1 && h.subscriptions_replayed == 1, "{h:?}");

    // Bars flow on the new subscription.
    let req = bar_request_id(&log, 1);
    assert!(!first.is_empty());
    peer.push(vec![Action::Send(realtime_bar(
        &req,
        1_767_364_200,
        "187",
        "188",
        "186.5",
        "187.5",
        "1200",
    ))]);
    let bar = bars.blocking_recv().unwrap();
    assert_eq!(
        (bar.instrument, bar.ts),
        (AAPL, Timestamp::from_secs(1_767_364_200))
    );
    assert_eq!(
        (bar.high, bar.volume),
        ("188".parse().unwrap(), Quantity::from_int(1200))
    );
    // The fill is not emitted again by a later reconciliation.
    let mut more = Vec::new();
    broker.poll(&mut more);
    assert!(fills(&more).is_empty());
}

#[test]
fn code_1100_freezes_orders_and_1102_reconciles_without_resubscribing_while_1101_resubscribes() {
    let peer = Peer::start(|_, f| {
        let s = Action::Send;
        match f[0].as_str() {
            "3" => {
                let (id, r) = placed(f, "wt-");
                vec![
                    s(open_order(id, "AAPL", "BUY", "10", "LMT", "100", &r, "Submitted")),
                    s(order_status(id, "Submitted", "0", "10", "0")),
                ]
            }
            _ => default_reply(f).unwrap_or_default(),
        }
    });
    let (mut broker, _market) = connect(&peer, "symbols = [\"AAPL\"]");
    submit(
        &mut broker,
        1,
        &approved(Side::Buy, 10, limit("100"), TimeInForce::Day),
    )
    .unwrap();
    events_until(&mut broker, "the ack", |e| !e.is_empty());
    peer.wait_for("the bar subscription", |l| count(l, "50") == 1);

    peer.push(vec![Action::Send(error(
        -1,
        1100,
        "Connectivity between IB and Trader Workstation has been lost.",
    ))]);
    until("1100 to freeze orders", || {
        matches!(broker.connection(), Connection::Disconnected { .. })
    });
    assert!(matches!(
        submit(
            &mut broker,
            2,
            &approved(Side::Buy, 1, OrderType::Market, TimeInForce::Day)
        ),
        Err(BrokerError::Disconnected { .. })
    ));
    // The kill path stays open.
    broker.cancel(OrderId(1), Timestamp::from_secs(1)).unwrap();
    peer.wait_for("the cancel during 1100", |l| count(l, "4") == 1);

    let reconciled = count(&peer.log(), "16");
    peer.push(vec![Action::Send(error(
        -1,
        1102,
        "Connectivity between IB and Trader Workstation has been restored - data maintained.",
    ))]);
    until("1102 to reopen trading", || {
        broker.connection() == Connection::Connected
    });
    let log = peer.log();
    assert!(count(&log, "16") > reconciled, "1102 ran a reconciliation");
    assert_eq!(count(&log, "50"), 1, "1102 must not resubscribe market data");

    peer.push(vec![Action::Send(error(
        -1,
        1101,
        "Connectivity between IB and Trader Workstation has been restored - data lost.",
    ))]);
    peer.wait_for("1101 to resubscribe", |l| count(l, "50") == 2);
    until("1101 to reopen trading", || {
        broker.connection() == Connection::Connected
    });
    let h = broker.health();
    assert_eq!((h.notices_1100, h.notices_1101, h.notices_1102), (1, 1, 1));
    assert_eq!(peer.connections(), 1, "no reconnect for server-side notices");
}

#[test]
fn a_burst_is_paced_and_cancels_overtake_queued_orders() {
    let peer = quiet_peer();
    // 2 messages/s with no burst: the burst below backs up in the queue.
    let (mut broker, _m) = connect(&peer, "max_messages_per_sec = 2");
    for id in 1..=6 {
        submit(
            &mut broker,
            id,
            &approved(Side::Buy, 1, limit("100"), TimeInForce::Day),
        )
        .unwrap();
    }
    broker.cancel(OrderId(6), Timestamp::from_secs(0)).unwrap();
    let log = peer.wait_for("all orders and the cancel", |l| {
        count(l, "3") == 6 && count(l, "4") == 1
    });
    let order: Vec<&str> = log
        .iter()
        .filter(|r| r.kind() == "3" || r.kind() == "4")
        .map(|r| r.kind())
        .collect();
    let cancel_at = order.iter().position(|k| *k == "4").unwrap();
    assert!(
        cancel_at < 5,
        "the cancel should overtake queued orders: {order:?}"
    );
    let h = broker.health();
    assert!(h.pacing.delayed >= 4, "{:?}", h.pacing);
}

#[test]
fn a_second_socket_loss_after_a_reconnect_is_seen_too() {
    // After ibapi's own reconnect its connected flag stays false; the probe
    // must still see the next loss and the next return.
    let peer = quiet_peer();
    let (broker, _m) = connect(&peer, "");
    for round in 1..=2 {
        let before = peer.connections();
        peer.push(vec![Action::Close]);
        until(&format!("the loss in round {round}"), || {
            broker.connection() != Connection::Connected
        });
        until("the reconnect", || peer.connections() > before);
        until("trading to resume", || {
            broker.connection() == Connection::Connected
        });
        assert!(broker.health().reconnects >= round, "{:?}", broker.health());
    }
    // Each return ran a reconciliation (plus the one at connect).
    assert!(broker.health().reconciliations >= 3);
}

#[test]
fn a_gateway_that_stays_away_raises_an_alert_and_keeps_orders_refused() {
    let peer = quiet_peer();
    let (mut broker, _m) = connect(&peer, "alert_after_secs = 1");
    assert!(!broker.health().alert);
    drop(peer); // the gateway goes away: socket closed, port refused
    until("the alert", || broker.health().alert);
    let h = broker.health();
    assert_eq!(h.alerts_raised, 1);
    assert!(matches!(h.link, LinkState::Connecting { .. }), "{h:?}");
    assert!(matches!(
        submit(
            &mut broker,
            1,
            &approved(Side::Buy, 1, OrderType::Market, TimeInForce::Day)
        ),
        Err(BrokerError::Disconnected { .. })
    ));
}

#[test]
fn amend_re_places_the_same_ib_order_with_the_new_limit_and_quantity() {
    let peer = Peer::start(|_, f| {
        if let Some(r) = default_reply(f) {
            return r;
        }
        if f[0] == "3" {
            let (id, r) = placed(f, "wt-");
            return vec![
                Action::Send(open_order(id, "AAPL", "BUY", "10", "LMT", "100", &r, "Submitted")),
                Action::Send(order_status(id, "Submitted", "0", "10", "0")),
            ];
        }
        vec![]
    });
    let (mut broker, _m) = connect(&peer, "");
    let order = approved(Side::Buy, 10, limit("100"), TimeInForce::Day);
    submit(&mut broker, 1, &order).unwrap();
    events_until(&mut broker, "the ack", |e| !e.is_empty());
    let ins = instruments();
    let current = wasmtrade_model::Order {
        id: OrderId(1),
        strategy: StrategyId::new("s"),
        request: order.get().clone(),
        status: OrderStatus::Accepted,
        filled: Quantity::ZERO,
        filled_notional: Money::ZERO,
        created: Timestamp::from_secs(0),
        updated: Timestamp::from_secs(0),
    };
    let change = wasmtrade_risk::Amendment {
        quantity: Some(Quantity::from_int(12)),
        limit_price: Some("101.25".parse().unwrap()),
    };
    let approved_change = Engine::new(RiskConfig::permissive())
        .check_amend(
            &StrategyId::new("s"),
            ins.get(AAPL).unwrap(),
            &current,
            &change,
            &Exposure::default(),
        )
        .unwrap();
    broker
        .amend(OrderId(1), &approved_change, Timestamp::from_secs(1))
        .unwrap();
    let log = peer.wait_for("the modification", |l| count(l, "3") == 2);
    let places: Vec<&Received> = log.iter().filter(|r| r.kind() == "3").collect();
    assert_eq!(
        places[0].fields[1], places[1].fields[1],
        "a modification reuses the IB order id"
    );
    assert!(
        places[1].has("101.25") && places[1].has("12") && places[1].has("wt-1"),
        "{:?}",
        places[1].fields
    );
}

#[test]
fn warm_up_returns_the_last_historical_bars_and_respects_ib_pacing() {
    let peer = Peer::start(|_, f| {
        if let Some(r) = default_reply(f) {
            return r;
        }
        if f[0] == "20" {
            // reqHistoricalData: [20, reqId, ...]; three 1-minute bars, dates as epoch seconds.
            return vec![Action::Send(format!(
                "17|{}|20260102  09:30:00|20260102  09:33:00|3|\
                 1767364200|187.00|187.50|186.90|187.20|1000|187.1|10|\
                 1767364260|187.20|187.80|187.10|187.70|1100|187.5|11|\
                 1767364320|187.70|188.00|187.60|187.90|900|187.8|9|",
                f[1]
            ))];
        }
        vec![]
    });
    let (_broker, market) = connect(&peer, "");
    let bars = market.history("AAPL", 2).unwrap();
    assert_eq!(bars.len(), 2);
    assert_eq!(bars[0].ts, Timestamp::from_secs(1_767_364_260));
    assert_eq!(
        (bars[1].close, bars[1].volume),
        ("187.9".parse().unwrap(), Quantity::from_int(900))
    );
    let req = peer.log().into_iter().find(|r| r.kind() == "20").unwrap();
    assert!(
        req.has("AAPL") && req.has("1 min") && req.has("TRADES"),
        "{:?}",
        req.fields
    );
    // The identical request within 15 s is refused locally, not sent to IB.
    let err = market.history("AAPL", 2).unwrap_err();
    assert!(matches!(err, IbkrError::HistoricalPaced { .. }), "{err}");
    assert_eq!(count(&peer.log(), "20"), 1);
    assert!(matches!(
        market.history("ZZZZ", 2),
        Err(IbkrError::NotAnInstrument { .. })
    ));
}

#[test]
fn resolving_a_symbol_ib_does_not_know_says_so() {
    let peer = Peer::start(|_, f| {
        if let Some(r) = default_reply(f) {
            return r;
        }
        if f[0] == "9" {
            // reqContractData: [9, version, reqId, ...]
            let id: i32 = f[2].parse().unwrap();
            return vec![Action::Send(error(
                id,
                200,
                "No security definition has been found for the request",
            ))];
        }
        vec![]
    });
    let (_broker, market) = connect(&peer, "");
    let err = market.resolve("AAPL").unwrap_err();
    assert!(
        matches!(err, IbkrError::UnknownSymbol { ref symbol } if symbol == "AAPL"),
        "{err}"
    );
}

#[test]
fn the_broker_is_a_send_static_box_dyn_broker_and_health_serialises() {
    fn assert_send_static<T: Send + 'static>(_: &T) {}
    let peer = quiet_peer();
    let (broker, market) = connect(&peer, "");
    assert_send_static(&market);
    let health = serde_json::to_value(broker.health()).unwrap();
    assert_eq!(health["link"]["state"], "up");
    let boxed: Box<dyn Broker + Send> = Box::new(broker);
    assert_send_static(&boxed);
    assert!(boxed.connection().is_connected());
}

#[test]
fn a_silent_gateway_is_caught_by_the_watchdog_and_the_session_restarted() {
    // IB9: the socket stays open but nothing is answered.
    let peer = quiet_peer();
    let (broker, _m) = connect(&peer, "watchdog_secs = 1\nrequest_timeout_ms = 1000");
    peer.go_silent();
    until("the watchdog to start a new session", || peer.connections() == 2);
    until("trading to resume", || {
        broker.connection() == Connection::Connected
    });
    let h = broker.health();
    assert_eq!(h.silent_hangs, 1, "{h:?}");
    assert!(h.reconnects >= 1, "{h:?}");
}

#[test]
fn when_the_client_library_cannot_reconnect_the_adapter_takes_over_with_a_fresh_session() {
    // After the drop the old client id is refused (326), so ibapi's own
    // reconnect fails; after takeover_after_secs the adapter connects anew
    // and, allowed one fallback, lands on the next client id.
    let peer = quiet_peer();
    let (broker, _m) = connect(
        &peer,
        "client_id = 17\nclient_id_fallbacks = 1\ntakeover_after_secs = 1",
    );
    assert_eq!(broker.health().client_id, 17);
    peer.refuse_client_id(17);
    peer.push(vec![Action::Close]);
    until("a fresh session on client id 18", || {
        broker.health().client_id == 18
    });
    until("trading to resume", || {
        broker.connection() == Connection::Connected
    });
    let h = broker.health();
    assert!(h.client_id_conflicts >= 1 && h.reconnects >= 1, "{h:?}");
}

#[test]
fn option_chain_lists_expiries_and_strikes_with_ibs_model_greeks() {
    let peer = Peer::start(|_, f| {
        if let Some(r) = default_reply(f) {
            return r;
        }
        let s = Action::Send;
        match f[0].as_str() {
            // reqContractData: [9, version, reqId, ...]
            "9" => vec![
                s(support::contract_data(&f[2], "AAPL", 265598)),
                s(format!("52|1|{}|", f[2])),
            ],
            // reqSecDefOptParams: [78, reqId, symbol, exchange, secType, conId]
            "78" => {
                assert_eq!((f[2].as_str(), f[5].as_str()), ("AAPL", "265598"), "{f:?}");
                vec![
                    s(format!(
                        "75|{}|SMART|265598|AAPL|100|2|20260220|20260116|4|195|180|190|185|",
                        f[1]
                    )),
                    s(format!("76|{}|", f[1])),
                ]
            }
            // reqMktData snapshot: [1, version, reqId, conId, symbol, OPT, expiry, strike, right, ...]
            "1" => {
                let call = f.iter().any(|x| x == "C");
                let delta = if call { "0.55" } else { "-0.45" };
                vec![
                    s(format!("21|{}|13|0|0.3|{delta}|5.5|0|0.03|0.2|-0.05|187|", f[2])),
                    s(format!("57|1|{}|", f[2])),
                ]
            }
            _ => vec![],
        }
    });
    let (_broker, market) = connect(&peer, "");
    let info = market.resolve("AAPL").unwrap();
    assert_eq!((info.contract_id, info.symbol.as_str()), (265598, "AAPL"));
    let chain = market.option_chain("AAPL", None, 186.0, 2).unwrap();
    assert_eq!(chain.expirations, vec!["20260116", "20260220"]);
    assert_eq!(chain.strikes, vec![180.0, 185.0, 190.0, 195.0]);
    assert_eq!(chain.quotes.len(), 4, "{:?}", chain.quotes);
    for q in &chain.quotes {
        assert_eq!(q.expiry, "20260116");
        assert!(q.strike == 185.0 || q.strike == 190.0, "{q:?}");
        assert_eq!(
            (q.implied_volatility, q.underlying_price),
            (Some(0.3), Some(187.0))
        );
        let positive = q.delta.unwrap() > 0.0;
        assert_eq!(positive, q.right == wasmtrade_ibkr::OptionRight::Call, "{q:?}");
        assert_eq!((q.gamma, q.theta), (Some(0.03), Some(-0.05)));
    }
}
