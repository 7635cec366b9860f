//! The OMS error type.

use wasmtrade_model::{ClientOrderId, OrderId, OrderStatus, Quantity, StrategyId};

/// Why the OMS refused a registration or a broker event. The OMS state is
/// unchanged whenever an error is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OmsError {
    /// The strategy already has a working order with this client id.
    #[error(
        "strategy {strategy} already has a working order with client id `{client_id}`: choose another id"
    )]
    DuplicateClientId {
        /// Strategy.
        strategy: StrategyId,
        /// The client id in use.
        client_id: ClientOrderId,
    },
    /// The order id is already registered.
    #[error("order id {id} is already registered: take ids from next_order_id")]
    DuplicateOrderId {
        /// The id.
        id: OrderId,
    },
    /// No order has this id.
    #[error("order {id} is unknown to the oms")]
    UnknownOrder {
        /// The id.
        id: OrderId,
    },
    /// The lifecycle does not allow the change.
    #[error("order {id} cannot go from {from} to {to}")]
    IllegalTransition {
        /// The order.
        id: OrderId,
        /// Current state.
        from: OrderStatus,
        /// Requested state.
        to: OrderStatus,
    },
    /// A fill larger than what is still open.
    #[error("fill of {quantity} on order {id} exceeds its remaining {remaining}")]
    Overfill {
        /// The order.
        id: OrderId,
        /// Fill quantity.
        quantity: Quantity,
        /// Quantity still open.
        remaining: Quantity,
    },
    /// A fill with a zero or negative quantity or price.
    #[error("fill on order {id} has a non-positive {field}")]
    NonPositiveFill {
        /// The order.
        id: OrderId,
        /// `quantity` or `price`.
        field: &'static str,
    },
    /// A fill whose side or instrument differs from its order's.
    #[error("fill on order {id} does not match the order's {field}")]
    FillMismatch {
        /// The order.
        id: OrderId,
        /// `side` or `instrument`.
        field: &'static str,
    },
    /// An amendment would set the quantity below what already filled.
    #[error("order {id}: new quantity {quantity} is below the filled {filled}")]
    AmendBelowFilled {
        /// The order.
        id: OrderId,
        /// Requested quantity.
        quantity: Quantity,
        /// Already filled.
        filled: Quantity,
    },
    /// An amendment sets a limit price on an order type without one.
    #[error("order {id}: a {order_type} order has no limit price to amend")]
    NoLimitPrice {
        /// The order.
        id: OrderId,
        /// The order's type name.
        order_type: &'static str,
    },
}
