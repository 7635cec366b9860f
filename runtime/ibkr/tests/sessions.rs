//! Realistic sessions of the IB adapter against the scripted TWS-protocol
//! peer on loopback (tests/support). Waits are on events with a generous
//! bound that only turns a hang into a failure; nothing asserts speed.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::disallowed_methods, reason = "tests bound their waits with real time")]

use crate::support;

use support::session::*;

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
