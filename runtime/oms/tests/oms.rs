//! OMS behaviour: lifecycle, fills, positions, cash and closed trades.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use proptest::prelude::*;
use rstest::rstest;
use wasmtrade_model::{
    BrokerEvent, ClientOrderId, Fill, InstrumentId, Money, NewOrder, OrderId, OrderStatus, OrderType, Price,
    Quantity, Side, StrategyId, TimeInForce, Timestamp,
};
use wasmtrade_oms::{Direction, Oms, OmsError};

const AAPL: InstrumentId = InstrumentId(0);

fn strat() -> StrategyId {
    StrategyId::new("sma-cross")
}

fn order(cid: &str, side: Side, qty: i64, order_type: OrderType) -> NewOrder {
    NewOrder {
        client_id: ClientOrderId::new(cid),
        instrument: AAPL,
        side,
        quantity: Quantity::from_int(qty),
        order_type,
        tif: TimeInForce::Gtc,
    }
}

fn ts(s: i64) -> Timestamp {
    Timestamp::from_secs(s)
}

fn fill(id: OrderId, side: Side, qty: i64, price: &str, commission: &str, exec: &str, t: i64) -> BrokerEvent {
    BrokerEvent::Filled(Fill {
        order_id: id,
        strategy: strat(),
        client_id: ClientOrderId::new("x"),
        instrument: AAPL,
        side,
        quantity: Quantity::from_int(qty),
        price: price.parse().unwrap(),
        commission: commission.parse().unwrap(),
        ts: ts(t),
        exec_id: exec.to_string(),
    })
}

fn place(oms: &mut Oms, cid: &str, side: Side, qty: i64) -> OrderId {
    let id = oms.next_order_id();
    oms.register(id, strat(), order(cid, side, qty, OrderType::Market), ts(0))
        .unwrap();
    id
}

fn status(oms: &Oms, id: OrderId) -> OrderStatus {
    oms.order(id).unwrap().status
}

fn accepted(id: OrderId) -> BrokerEvent {
    BrokerEvent::Accepted {
        order_id: id,
        ts: ts(1),
    }
}

#[test]
fn assigns_monotonic_order_ids() {
    let mut oms = Oms::new(Money::ZERO);
    assert_eq!(oms.next_order_id(), OrderId(1));
    assert_eq!(oms.next_order_id(), OrderId(2));
    oms.register(
        OrderId(10),
        strat(),
        order("a", Side::Buy, 1, OrderType::Market),
        ts(0),
    )
    .unwrap();
    assert_eq!(oms.next_order_id(), OrderId(11));
}

#[test]
fn refuses_client_id_of_a_working_order_but_allows_reuse_after_it_finishes() {
    let mut oms = Oms::new(Money::ZERO);
    let id = place(&mut oms, "a", Side::Buy, 1);
    let again = oms.next_order_id();
    let err = oms
        .register(again, strat(), order("a", Side::Buy, 1, OrderType::Market), ts(0))
        .unwrap_err();
    assert!(matches!(err, OmsError::DuplicateClientId { .. }));
    // Another strategy may use the same client id.
    oms.register(
        again,
        StrategyId::new("other"),
        order("a", Side::Buy, 1, OrderType::Market),
        ts(0),
    )
    .unwrap();
    oms.apply(&BrokerEvent::Cancelled {
        order_id: id,
        ts: ts(1),
    })
    .unwrap();
    let third = oms.next_order_id();
    oms.register(third, strat(), order("a", Side::Buy, 1, OrderType::Market), ts(2))
        .unwrap();
    assert_eq!(
        oms.working_order_by_client(&strat(), &ClientOrderId::new("a"))
            .unwrap()
            .id,
        third
    );
}

#[test]
fn refuses_an_order_id_registered_twice() {
    let mut oms = Oms::new(Money::ZERO);
    let id = place(&mut oms, "a", Side::Buy, 1);
    let err = oms
        .register(id, strat(), order("b", Side::Buy, 1, OrderType::Market), ts(0))
        .unwrap_err();
    assert_eq!(err, OmsError::DuplicateOrderId { id });
}

/// Drives an order to `from`, then applies the event for `to`.
fn drive(from: OrderStatus, to: OrderStatus) -> (Result<bool, OmsError>, Oms, OrderId) {
    let mut oms = Oms::new(Money::from_int(1_000_000));
    let id = place(&mut oms, "a", Side::Buy, 10);
    let mut exec = 0;
    let mut next_exec = || {
        exec += 1;
        format!("E{exec}")
    };
    match from {
        OrderStatus::PendingNew => {}
        OrderStatus::Accepted => _ = oms.apply(&accepted(id)).unwrap(),
        OrderStatus::PartiallyFilled => {
            _ = oms
                .apply(&fill(id, Side::Buy, 4, "1", "0", &next_exec(), 1))
                .unwrap()
        }
        OrderStatus::PendingCancel => oms.request_cancel(id, ts(1)).unwrap(),
        OrderStatus::Filled => {
            _ = oms
                .apply(&fill(id, Side::Buy, 10, "1", "0", &next_exec(), 1))
                .unwrap()
        }
        OrderStatus::Cancelled => {
            _ = oms
                .apply(&BrokerEvent::Cancelled {
                    order_id: id,
                    ts: ts(1),
                })
                .unwrap()
        }
        OrderStatus::Rejected => {
            _ = oms
                .apply(&BrokerEvent::Rejected {
                    order_id: id,
                    reason: "no".into(),
                    ts: ts(1),
                })
                .unwrap()
        }
        OrderStatus::Expired => {
            _ = oms
                .apply(&BrokerEvent::Expired {
                    order_id: id,
                    ts: ts(1),
                })
                .unwrap()
        }
    }
    assert_eq!(status(&oms, id), from);
    let result = match to {
        OrderStatus::PendingNew => return (Err(OmsError::UnknownOrder { id }), oms, id),
        OrderStatus::Accepted => oms.apply(&accepted(id)),
        OrderStatus::PartiallyFilled => oms.apply(&fill(id, Side::Buy, 1, "1", "0", "T", 2)),
        OrderStatus::Filled => {
            let rest = oms.order(id).unwrap().remaining();
            let rest = rest.raw() / 1_000_000_000;
            oms.apply(&fill(id, Side::Buy, rest.max(1), "1", "0", "T", 2))
        }
        OrderStatus::PendingCancel => oms.request_cancel(id, ts(2)).map(|()| true),
        OrderStatus::Cancelled => oms.apply(&BrokerEvent::Cancelled {
            order_id: id,
            ts: ts(2),
        }),
        OrderStatus::Rejected => oms.apply(&BrokerEvent::Rejected {
            order_id: id,
            reason: "no".into(),
            ts: ts(2),
        }),
        OrderStatus::Expired => oms.apply(&BrokerEvent::Expired {
            order_id: id,
            ts: ts(2),
        }),
    };
    (result, oms, id)
}

#[rstest]
fn every_transition_follows_the_lifecycle(
    #[values(
        OrderStatus::PendingNew,
        OrderStatus::Accepted,
        OrderStatus::PartiallyFilled,
        OrderStatus::PendingCancel,
        OrderStatus::Filled,
        OrderStatus::Cancelled,
        OrderStatus::Rejected,
        OrderStatus::Expired
    )]
    from: OrderStatus,
    #[values(
        OrderStatus::Accepted,
        OrderStatus::PartiallyFilled,
        OrderStatus::PendingCancel,
        OrderStatus::Filled,
        OrderStatus::Cancelled,
        OrderStatus::Rejected,
        OrderStatus::Expired
    )]
    to: OrderStatus,
) {
    let (result, oms, id) = drive(from, to);
    if from.can_become(to) {
        assert!(result.is_ok(), "{from} -> {to}: {result:?}");
        assert_eq!(status(&oms, id), to, "{from} -> {to}");
        assert_eq!(oms.working_orders().any(|o| o.id == id), to.is_working());
    } else {
        assert!(result.is_err(), "{from} -> {to} must be refused");
        assert_eq!(
            status(&oms, id),
            from,
            "state unchanged after a refused {from} -> {to}"
        );
    }
}

#[test]
fn unknown_order_events_are_errors() {
    let mut oms = Oms::new(Money::ZERO);
    let err = oms.apply(&accepted(OrderId(99))).unwrap_err();
    assert_eq!(err, OmsError::UnknownOrder { id: OrderId(99) });
}

#[test]
fn refused_cancel_returns_a_pending_cancel_order_to_working() {
    let mut oms = Oms::new(Money::from_int(1000));
    let id = place(&mut oms, "a", Side::Buy, 10);
    oms.apply(&fill(id, Side::Buy, 3, "1", "0", "E1", 1)).unwrap();
    oms.request_cancel(id, ts(2)).unwrap();
    oms.apply(&BrokerEvent::CancelRejected {
        order_id: id,
        reason: "too late".into(),
        ts: ts(3),
    })
    .unwrap();
    assert_eq!(status(&oms, id), OrderStatus::PartiallyFilled);
    // On a finished order a refused cancel changes nothing.
    oms.apply(&fill(id, Side::Buy, 7, "1", "0", "E2", 4)).unwrap();
    oms.apply(&BrokerEvent::CancelRejected {
        order_id: id,
        reason: "filled".into(),
        ts: ts(5),
    })
    .unwrap();
    assert_eq!(status(&oms, id), OrderStatus::Filled);
}

#[test]
fn partial_fills_accumulate_and_average() {
    let mut oms = Oms::new(Money::from_int(10_000));
    let id = place(&mut oms, "a", Side::Buy, 10);
    oms.apply(&fill(id, Side::Buy, 4, "100", "1", "E1", 1)).unwrap();
    let o = oms.order(id).unwrap();
    assert_eq!(
        (o.status, o.filled, o.remaining()),
        (
            OrderStatus::PartiallyFilled,
            Quantity::from_int(4),
            Quantity::from_int(6)
        )
    );
    oms.apply(&fill(id, Side::Buy, 6, "101", "1", "E2", 2)).unwrap();
    let o = oms.order(id).unwrap();
    assert_eq!(o.status, OrderStatus::Filled);
    assert_eq!(o.average_fill_price(), Some("100.6".parse().unwrap()));
    assert_eq!(oms.cash(), Money::from_int(10_000 - 400 - 606 - 2));
    assert_eq!(oms.fills().len(), 2);
    assert!(
        oms.working_order_by_client(&strat(), &ClientOrderId::new("a"))
            .is_none()
    );
}

#[test]
fn duplicate_exec_ids_are_applied_once() {
    let mut oms = Oms::new(Money::from_int(10_000));
    let id = place(&mut oms, "a", Side::Buy, 10);
    assert_eq!(oms.apply(&fill(id, Side::Buy, 4, "100", "0", "E1", 1)), Ok(true));
    assert_eq!(oms.apply(&fill(id, Side::Buy, 4, "100", "0", "E1", 1)), Ok(false));
    assert_eq!(oms.position(&strat(), AAPL).quantity, Quantity::from_int(4));
    assert_eq!(oms.fills().len(), 1);
}

#[test]
fn overfills_and_mismatched_fills_are_refused_without_changes() {
    let mut oms = Oms::new(Money::from_int(10_000));
    let id = place(&mut oms, "a", Side::Buy, 10);
    let err = oms
        .apply(&fill(id, Side::Buy, 11, "100", "0", "E1", 1))
        .unwrap_err();
    assert!(matches!(err, OmsError::Overfill { .. }));
    let err = oms
        .apply(&fill(id, Side::Sell, 1, "100", "0", "E2", 1))
        .unwrap_err();
    assert_eq!(err, OmsError::FillMismatch { id, field: "side" });
    let err = oms
        .apply(&fill(id, Side::Buy, 0, "100", "0", "E3", 1))
        .unwrap_err();
    assert_eq!(
        err,
        OmsError::NonPositiveFill {
            id,
            field: "quantity"
        }
    );
    assert_eq!(oms.cash(), Money::from_int(10_000));
    assert!(oms.fills().is_empty());
    // A refused exec id is not burned.
    assert_eq!(oms.apply(&fill(id, Side::Buy, 10, "100", "0", "E1", 1)), Ok(true));
}

#[test]
fn long_to_short_flip_records_trade_and_opens_short() {
    let mut oms = Oms::new(Money::from_int(10_000));
    let b = place(&mut oms, "b", Side::Buy, 10);
    oms.apply(&fill(b, Side::Buy, 10, "100", "2", "E1", 1)).unwrap();
    let s = place(&mut oms, "s", Side::Sell, 15);
    oms.apply(&fill(s, Side::Sell, 15, "110", "3", "E2", 2)).unwrap();
    let p = oms.position(&strat(), AAPL);
    assert_eq!(p.quantity, Quantity::from_int(-5));
    assert_eq!(p.average_price, Some(Price::from_int(110)));
    assert_eq!(p.realized_pnl, Money::from_int(100));
    let t = &oms.closed_trades()[0];
    assert_eq!(oms.closed_trades().len(), 1);
    assert_eq!(
        (t.direction, t.quantity),
        (Direction::Long, Quantity::from_int(10))
    );
    assert_eq!(
        (t.entry_price, t.exit_price),
        (Price::from_int(100), Price::from_int(110))
    );
    assert_eq!((t.entry_ts, t.exit_ts), (ts(1), ts(2)));
    assert_eq!(t.gross_pnl, Money::from_int(100));
    assert_eq!(t.commission, Money::from_int(4)); // 2 entry + 10/15 of 3
    assert_eq!(t.net_pnl, Money::from_int(96));
    // Cover the short at 100: a short trade with the remaining 1 of exit commission.
    let c = place(&mut oms, "c", Side::Buy, 5);
    oms.apply(&fill(c, Side::Buy, 5, "100", "0", "E3", 3)).unwrap();
    let t = &oms.closed_trades()[1];
    assert_eq!(
        (t.direction, t.gross_pnl, t.commission),
        (Direction::Short, Money::from_int(50), Money::from_int(1))
    );
    assert!(!oms.has_open_positions());
    assert_eq!(oms.cash(), Money::from_int(10_000 + 100 + 50 - 5));
    assert_eq!(oms.equity(), oms.cash());
}

#[test]
fn fifo_partial_close_produces_one_trade_per_lot_portion() {
    let mut oms = Oms::new(Money::from_int(100_000));
    for (i, px) in ["10", "20", "30"].iter().enumerate() {
        let id = place(&mut oms, &format!("b{i}"), Side::Buy, 10);
        oms.apply(&fill(id, Side::Buy, 10, px, "3", &format!("B{i}"), i as i64))
            .unwrap();
    }
    let s = place(&mut oms, "s", Side::Sell, 15);
    oms.apply(&fill(s, Side::Sell, 15, "40", "1.5", "S1", 9)).unwrap();
    let trades = oms.closed_trades();
    assert_eq!(trades.len(), 2);
    assert_eq!(
        (trades[0].entry_price, trades[0].quantity),
        (Price::from_int(10), Quantity::from_int(10))
    );
    assert_eq!(trades[0].commission, Money::from_int(4)); // 3 + 10/15 × 1.5
    assert_eq!(
        (trades[1].entry_price, trades[1].quantity),
        (Price::from_int(20), Quantity::from_int(5))
    );
    assert_eq!(trades[1].commission, "2".parse().unwrap()); // 5/10 × 3 + 0.5
    assert_eq!(trades[1].gross_pnl, Money::from_int(100));
    let p = oms.position(&strat(), AAPL);
    assert_eq!(p.quantity, Quantity::from_int(15));
    assert_eq!(p.cost_basis, Money::from_int(5 * 20 + 10 * 30));
}

#[test]
fn marks_drive_unrealized_pnl_and_equity() {
    let mut oms = Oms::new(Money::from_int(10_000));
    let s = place(&mut oms, "s", Side::Sell, 10);
    oms.apply(&fill(s, Side::Sell, 10, "100", "0", "E1", 1)).unwrap();
    assert_eq!(oms.equity(), Money::from_int(10_000));
    oms.mark(AAPL, Price::from_int(90));
    assert_eq!(oms.unrealized_pnl(), Money::from_int(100));
    assert_eq!(oms.equity(), Money::from_int(10_100));
    assert_eq!(oms.positions().count(), 1);
}

#[test]
fn open_exposure_sums_remaining_quantities_and_buy_notional() {
    let mut oms = Oms::new(Money::from_int(10_000));
    let id = oms.next_order_id();
    oms.register(
        id,
        strat(),
        order(
            "l",
            Side::Buy,
            10,
            OrderType::Limit {
                limit: Price::from_int(50),
            },
        ),
        ts(0),
    )
    .unwrap();
    oms.apply(&fill(id, Side::Buy, 4, "50", "0", "E1", 1)).unwrap();
    let m = place(&mut oms, "m", Side::Buy, 2);
    place(&mut oms, "s", Side::Sell, 3);
    let (buy, sell, notional) = oms.open_exposure(&strat(), AAPL);
    assert_eq!((buy, sell), (Quantity::from_int(8), Quantity::from_int(3)));
    assert_eq!(notional, Money::from_int(300)); // market buy unpriced until marked
    oms.mark(AAPL, Price::from_int(60));
    assert_eq!(oms.open_exposure(&strat(), AAPL).2, Money::from_int(420));
    oms.apply(&BrokerEvent::Cancelled {
        order_id: m,
        ts: ts(2),
    })
    .unwrap();
    assert_eq!(oms.open_buy_notional(), Money::from_int(300));
    let none = (Quantity::ZERO, Quantity::ZERO, Money::ZERO);
    assert_eq!(oms.open_exposure(&StrategyId::new("other"), AAPL), none);
}

#[test]
fn amendments_change_quantity_and_limit_price() {
    let mut oms = Oms::new(Money::from_int(10_000));
    let id = oms.next_order_id();
    oms.register(
        id,
        strat(),
        order(
            "l",
            Side::Buy,
            10,
            OrderType::Limit {
                limit: Price::from_int(50),
            },
        ),
        ts(0),
    )
    .unwrap();
    oms.apply(&fill(id, Side::Buy, 4, "50", "0", "E1", 1)).unwrap();
    let err = oms
        .apply_amendment(id, Some(Quantity::from_int(3)), None, ts(2))
        .unwrap_err();
    assert!(matches!(err, OmsError::AmendBelowFilled { .. }));
    oms.apply_amendment(id, Some(Quantity::from_int(6)), Some(Price::from_int(49)), ts(2))
        .unwrap();
    let o = oms.order(id).unwrap();
    assert_eq!(
        (o.request.quantity, o.request.order_type.limit_price()),
        (Quantity::from_int(6), Some(Price::from_int(49)))
    );
    oms.apply_amendment(id, Some(Quantity::from_int(4)), None, ts(3))
        .unwrap();
    assert_eq!(status(&oms, id), OrderStatus::Filled);
    let m = place(&mut oms, "m", Side::Buy, 1);
    assert!(matches!(
        oms.apply_amendment(m, None, Some(Price::ONE), ts(4)),
        Err(OmsError::NoLimitPrice { .. })
    ));
}

fn fill_count() -> usize {
    if cfg!(debug_assertions) { 300 } else { 10_000 }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(debug_assertions) { 16 } else { 64 }))]

    /// cash + Σ cost basis − realised P&L + commissions never drifts from the
    /// starting cash, and every closed lot portion is accounted for.
    #[test]
    fn cash_and_cost_basis_are_conserved_exactly(
        seq in prop::collection::vec(
            (any::<bool>(), 1i64..5_000_000_000_000, 1i64..500_000_000_000, 0i64..5_000_000_000, 0u8..3),
            fill_count(),
        )
    ) {
        let start = Money::from_int(1_000_000);
        let mut oms = Oms::new(start);
        let instruments = [InstrumentId(0), InstrumentId(1)];
        for (n, (buy, qty, price, commission, which)) in seq.into_iter().enumerate() {
            let side = if buy { Side::Buy } else { Side::Sell };
            let inst = instruments[usize::from(which % 2)];
            let id = oms.next_order_id();
            let mut o = order(&format!("c{n}"), side, 1, OrderType::Market);
            o.quantity = Quantity::from_raw(qty);
            o.instrument = inst;
            oms.register(id, strat(), o, ts(n as i64)).unwrap();
            let applied = oms.apply(&BrokerEvent::Filled(Fill {
                order_id: id,
                strategy: strat(),
                client_id: ClientOrderId::new("x"),
                instrument: inst,
                side,
                quantity: Quantity::from_raw(qty),
                price: Price::from_raw(price),
                commission: Money::from_raw(i128::from(commission) * 1_000_000_007),
                ts: ts(n as i64),
                exec_id: format!("E{n}"),
            })).unwrap();
            prop_assert!(applied);
        }
        let basis: Money = oms.positions().map(|(_, p)| p.cost_basis).sum();
        prop_assert_eq!(oms.cash() + basis - oms.realized_pnl() + oms.total_commissions(), start);
        let trade_gross: Money = oms.closed_trades().iter().map(|t| t.gross_pnl).sum();
        prop_assert_eq!(trade_gross, oms.realized_pnl());
        for t in oms.closed_trades() {
            prop_assert_eq!(t.net_pnl, t.gross_pnl - t.commission);
        }
        // The running count of winners equals a recount.
        let winners = oms.closed_trades().iter().filter(|t| t.net_pnl > Money::ZERO).count();
        prop_assert_eq!(oms.winning_trades(), winners);
        // Commissions attributed to trades never exceed those paid.
        let attributed: Money = oms.closed_trades().iter().map(|t| t.commission).sum();
        prop_assert!(attributed <= oms.total_commissions());
    }
}
