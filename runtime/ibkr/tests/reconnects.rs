//! The IB adapter through link trouble against the scripted peer: socket
//! loss mid-order, codes 1100/1101/1102, pacing bursts, a gateway that
//! stays away. Waits are on events with a generous bound.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::disallowed_methods, reason = "tests bound their waits with real time")]

use crate::support;

use support::session::*;

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
