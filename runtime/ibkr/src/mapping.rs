//! Translations between our model and IB's: order types, time in force,
//! order status strings, the order reference and fixed-point numbers.

use ibapi::orders::{Action, Order, TimeInForce as IbTif};
use wasmtrade_model::{NewOrder, OrderId, OrderStatus, OrderType, Price, Quantity, Side, TimeInForce};

/// The order reference carrying our order id: `{prefix}{id}`.
pub fn order_ref(prefix: &str, id: OrderId) -> String {
    format!("{prefix}{}", id.0)
}

/// Our order id from an IB order reference, if it is one of ours.
pub fn parse_order_ref(prefix: &str, text: &str) -> Option<OrderId> {
    text.strip_prefix(prefix)?.parse::<u64>().ok().map(OrderId)
}

/// IB's time in force for ours.
pub fn tif(t: TimeInForce) -> IbTif {
    match t {
        TimeInForce::Day => IbTif::Day,
        TimeInForce::Gtc => IbTif::GoodTilCanceled,
        TimeInForce::Ioc => IbTif::ImmediateOrCancel,
        TimeInForce::Fok => IbTif::FillOrKill,
    }
}

/// An IB order for `order`, tagged with our id as its reference.
pub fn ib_order(order: &NewOrder, reference: String, account: &str) -> Order {
    let (order_type, limit, aux) = match order.order_type {
        OrderType::Market => ("MKT", None, None),
        OrderType::Limit { limit } => ("LMT", Some(limit.to_f64()), None),
        OrderType::Stop { stop } => ("STP", None, Some(stop.to_f64())),
        OrderType::StopLimit { stop, limit } => ("STP LMT", Some(limit.to_f64()), Some(stop.to_f64())),
    };
    Order {
        action: match order.side {
            Side::Buy => Action::Buy,
            Side::Sell => Action::Sell,
        },
        total_quantity: order.quantity.to_f64(),
        order_type: order_type.to_string(),
        limit_price: limit,
        aux_price: aux,
        tif: tif(order.tif),
        order_ref: reference,
        account: account.to_string(),
        transmit: true,
        ..Order::default()
    }
}

/// What an IB order status string means for us, given how much filled.
/// `None` for statuses that carry no transition (`ApiPending`, `PendingSubmit`,
/// `PendingCancel` before confirmation, unknown text).
pub fn status(text: &str, filled: Quantity) -> Option<OrderStatus> {
    match text {
        "PreSubmitted" | "Submitted" => Some(if filled.is_positive() {
            OrderStatus::PartiallyFilled
        } else {
            OrderStatus::Accepted
        }),
        "Filled" => Some(OrderStatus::Filled),
        "Cancelled" | "ApiCancelled" => Some(OrderStatus::Cancelled),
        "Inactive" => Some(OrderStatus::Rejected),
        "PendingCancel" => Some(OrderStatus::PendingCancel),
        _ => None,
    }
}

/// Side of an execution (`BOT` / `SLD`).
pub fn exec_side(text: &str) -> Option<Side> {
    match text {
        "BOT" | "BUY" => Some(Side::Buy),
        "SLD" | "SELL" | "SSHORT" => Some(Side::Sell),
        _ => None,
    }
}

/// A price from IB's double; `None` for IB's "unset" (`f64::MAX`) and non-finite values.
pub fn price(v: f64) -> Option<Price> {
    if !v.is_finite() || v >= f64::MAX / 2.0 {
        return None;
    }
    Price::from_f64(v).ok()
}

/// A quantity from IB's double.
pub fn quantity(v: f64) -> Option<Quantity> {
    if !v.is_finite() || v >= f64::MAX / 2.0 {
        return None;
    }
    Quantity::from_f64(v).ok()
}

/// IB error codes that mean an order was refused (the order id is the
/// request id of the error).
pub fn is_order_rejection(code: i32) -> bool {
    matches!(
        code,
        103 | 104
            | 105
            | 106
            | 107
            | 109
            | 110
            | 111
            | 113
            | 116
            | 117
            | 118
            | 119
            | 120
            | 121
            | 122
            | 123
            | 124
            | 125
            | 126
            | 129
            | 131
            | 132
            | 133
            | 134
            | 135
            | 136
            | 137
            | 140
            | 141
            | 142
            | 143
            | 144
            | 152
            | 153
            | 154
            | 155
            | 156
            | 157
            | 158
            | 163
            | 200
            | 201
            | 203
            | 312
            | 313
            | 314
            | 315
            | 325
            | 327
            | 328
            | 329
            | 355
            | 382
            | 383
            | 387
            | 388
            | 392
            | 399
            | 434
            | 435
            | 436
            | 437
            | 10147
            | 10148
            | 10149
            | 10289
            | 10290
    )
}

/// IB error codes refusing a cancel: 161 (not cancellable in its state),
/// 10148 (cannot cancel filled), 10147 (order not found for cancel).
pub fn is_cancel_rejection(code: i32) -> bool {
    matches!(code, 161 | 10147 | 10148)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtrade_model::{ClientOrderId, InstrumentId};

    fn order(order_type: OrderType, tif: TimeInForce) -> NewOrder {
        NewOrder {
            client_id: ClientOrderId::new("c"),
            instrument: InstrumentId(0),
            side: Side::Sell,
            quantity: Quantity::from_int(7),
            order_type,
            tif,
        }
    }
    fn p(s: &str) -> Price {
        s.parse().unwrap()
    }

    #[test]
    fn order_ref_round_trips_and_ignores_foreign_references() {
        let r = order_ref("wt-", OrderId(42));
        assert_eq!(r, "wt-42");
        assert_eq!(parse_order_ref("wt-", &r), Some(OrderId(42)));
        assert_eq!(parse_order_ref("wt-", "manual order"), None);
        assert_eq!(parse_order_ref("wt-", ""), None);
    }

    #[test]
    fn maps_every_order_type_to_ib_type_and_prices() {
        let cases = [
            (OrderType::Market, "MKT", None, None),
            (OrderType::Limit { limit: p("10.5") }, "LMT", Some(10.5), None),
            (OrderType::Stop { stop: p("9") }, "STP", None, Some(9.0)),
            (
                OrderType::StopLimit {
                    stop: p("9"),
                    limit: p("8.75"),
                },
                "STP LMT",
                Some(8.75),
                Some(9.0),
            ),
        ];
        for (t, name, lmt, aux) in cases {
            let o = ib_order(&order(t, TimeInForce::Day), "wt-1".into(), "DU1");
            assert_eq!(
                (o.order_type.as_str(), o.limit_price, o.aux_price),
                (name, lmt, aux)
            );
            assert_eq!(
                (o.action, o.total_quantity, o.order_ref.as_str()),
                (Action::Sell, 7.0, "wt-1")
            );
        }
    }

    #[test]
    fn maps_every_time_in_force() {
        assert_eq!(tif(TimeInForce::Day), IbTif::Day);
        assert_eq!(tif(TimeInForce::Gtc), IbTif::GoodTilCanceled);
        assert_eq!(tif(TimeInForce::Ioc), IbTif::ImmediateOrCancel);
        assert_eq!(tif(TimeInForce::Fok), IbTif::FillOrKill);
    }

    #[test]
    fn maps_ib_status_strings() {
        let z = Quantity::ZERO;
        assert_eq!(status("Submitted", z), Some(OrderStatus::Accepted));
        assert_eq!(
            status("Submitted", Quantity::ONE),
            Some(OrderStatus::PartiallyFilled)
        );
        assert_eq!(status("Filled", z), Some(OrderStatus::Filled));
        assert_eq!(status("ApiCancelled", z), Some(OrderStatus::Cancelled));
        assert_eq!(status("Inactive", z), Some(OrderStatus::Rejected));
        assert_eq!(status("PendingSubmit", z), None);
    }

    #[test]
    fn ib_unset_doubles_are_not_prices() {
        assert_eq!(price(f64::MAX), None);
        assert_eq!(price(f64::NAN), None);
        assert_eq!(price(196.52), Some(p("196.52")));
    }
}
