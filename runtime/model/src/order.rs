//! Orders: identifiers, intents, the order lifecycle state machine and fills.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{InstrumentId, Money, Price, Quantity, Timestamp};

/// Identifies a strategy (a guest slot) in the runtime, e.g. `sma-cross`.
/// Orders, positions and fills belong to a strategy id, not to a guest version,
/// so they survive hot swaps.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StrategyId(Arc<str>);

impl StrategyId {
    /// A strategy id from text.
    pub fn new(id: impl AsRef<str>) -> Self {
        Self(Arc::from(id.as_ref()))
    }
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl fmt::Display for StrategyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for StrategyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StrategyId({})", &self.0)
    }
}

/// A guest-chosen order id, unique among one strategy's working orders.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientOrderId(Arc<str>);

impl ClientOrderId {
    /// A client order id from text.
    pub fn new(id: impl AsRef<str>) -> Self {
        Self(Arc::from(id.as_ref()))
    }
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl fmt::Display for ClientOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for ClientOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientOrderId({})", &self.0)
    }
}

/// Host-assigned, monotonic order id (one per accepted submit intent). It
/// travels to the broker as the order reference.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct OrderId(pub u64);

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "O-{}", self.0)
    }
}
impl fmt::Debug for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OrderId({})", self.0)
    }
}

/// Order side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Buy.
    Buy,
    /// Sell.
    Sell,
}

impl Side {
    /// +1 for buys, -1 for sells.
    pub const fn sign(self) -> i64 {
        match self {
            Side::Buy => 1,
            Side::Sell => -1,
        }
    }
    /// `qty` signed by the side (positive for buys).
    pub fn signed(self, qty: Quantity) -> Quantity {
        match self {
            Side::Buy => qty,
            Side::Sell => -qty,
        }
    }
    /// The other side.
    pub const fn opposite(self) -> Self {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }
    /// `buy` or `sell`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Order type and its prices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum OrderType {
    /// At the market.
    Market,
    /// At `limit` or better.
    Limit {
        /// Limit price.
        limit: Price,
    },
    /// Becomes a market order once the market trades through `stop`.
    Stop {
        /// Trigger price.
        stop: Price,
    },
    /// Becomes a limit order at `limit` once the market trades through `stop`.
    StopLimit {
        /// Trigger price.
        stop: Price,
        /// Limit price once triggered.
        limit: Price,
    },
}

impl OrderType {
    /// The limit price, if the type has one.
    pub const fn limit_price(&self) -> Option<Price> {
        match *self {
            OrderType::Limit { limit } | OrderType::StopLimit { limit, .. } => Some(limit),
            _ => None,
        }
    }
    /// The stop price, if the type has one.
    pub const fn stop_price(&self) -> Option<Price> {
        match *self {
            OrderType::Stop { stop } | OrderType::StopLimit { stop, .. } => Some(stop),
            _ => None,
        }
    }
    /// Short name: `market`, `limit`, `stop`, `stop_limit`.
    pub const fn name(&self) -> &'static str {
        match self {
            OrderType::Market => "market",
            OrderType::Limit { .. } => "limit",
            OrderType::Stop { .. } => "stop",
            OrderType::StopLimit { .. } => "stop_limit",
        }
    }
}

/// How long an order stays working.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TimeInForce {
    /// Until the end of the trading day.
    Day,
    /// Until cancelled.
    #[default]
    Gtc,
    /// Immediate or cancel.
    Ioc,
    /// Fill or kill.
    Fok,
}

/// A new order as a strategy asked for it (validated: finite fixed-point values).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewOrder {
    /// Guest-chosen id.
    pub client_id: ClientOrderId,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Side.
    pub side: Side,
    /// Quantity (the risk engine checks it is positive and on the lot size).
    pub quantity: Quantity,
    /// Type and prices.
    pub order_type: OrderType,
    /// Time in force.
    pub tif: TimeInForce,
}

/// What a strategy asks the host to do, after conversion to fixed point.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "intent")]
pub enum OrderIntent {
    /// Place a new order.
    Submit(NewOrder),
    /// Cancel a working order.
    Cancel {
        /// Guest id of the order.
        client_id: ClientOrderId,
    },
    /// Change a working order.
    Amend {
        /// Guest id of the order.
        client_id: ClientOrderId,
        /// New total quantity.
        quantity: Option<Quantity>,
        /// New limit price.
        limit_price: Option<Price>,
    },
}

impl OrderIntent {
    /// The guest id the intent addresses.
    pub fn client_id(&self) -> &ClientOrderId {
        match self {
            OrderIntent::Submit(o) => &o.client_id,
            OrderIntent::Cancel { client_id } | OrderIntent::Amend { client_id, .. } => client_id,
        }
    }
}

/// Lifecycle state of an order. Transitions are explicit: see
/// [`OrderStatus::can_become`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Approved by risk and sent (or being sent) to the broker, not yet acknowledged.
    PendingNew,
    /// Working at the broker.
    Accepted,
    /// Working, partly filled.
    PartiallyFilled,
    /// A cancel was requested and is not yet confirmed.
    PendingCancel,
    /// Completely filled (terminal).
    Filled,
    /// Cancelled (terminal).
    Cancelled,
    /// Refused by the broker (terminal).
    Rejected,
    /// Expired by its time in force (terminal).
    Expired,
}

impl OrderStatus {
    /// True for states an order never leaves.
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            OrderStatus::Filled | OrderStatus::Cancelled | OrderStatus::Rejected | OrderStatus::Expired
        )
    }
    /// True while the order can still fill.
    pub const fn is_working(self) -> bool {
        !self.is_terminal()
    }
    /// Whether the lifecycle allows moving from `self` to `next`.
    pub const fn can_become(self, next: OrderStatus) -> bool {
        use OrderStatus::*;
        match self {
            PendingNew => matches!(
                next,
                Accepted | PartiallyFilled | Filled | Rejected | Cancelled | Expired | PendingCancel
            ),
            Accepted => matches!(
                next,
                PartiallyFilled | Filled | PendingCancel | Cancelled | Expired
            ),
            PartiallyFilled => matches!(
                next,
                PartiallyFilled | Filled | PendingCancel | Cancelled | Expired
            ),
            // A refused cancel returns the order to working.
            PendingCancel => matches!(next, Accepted | PartiallyFilled | Filled | Cancelled | Expired),
            Filled | Cancelled | Rejected | Expired => false,
        }
    }
    /// Lowercase name.
    pub const fn as_str(self) -> &'static str {
        match self {
            OrderStatus::PendingNew => "pending_new",
            OrderStatus::Accepted => "accepted",
            OrderStatus::PartiallyFilled => "partially_filled",
            OrderStatus::PendingCancel => "pending_cancel",
            OrderStatus::Filled => "filled",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Rejected => "rejected",
            OrderStatus::Expired => "expired",
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An order the OMS tracks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Host id.
    pub id: OrderId,
    /// Owning strategy.
    pub strategy: StrategyId,
    /// The order as requested.
    pub request: NewOrder,
    /// Lifecycle state.
    pub status: OrderStatus,
    /// Quantity filled so far.
    pub filled: Quantity,
    /// Sum of fill notionals (for the average fill price).
    pub filled_notional: Money,
    /// When the order was created.
    pub created: Timestamp,
    /// When it last changed.
    pub updated: Timestamp,
}

impl Order {
    /// Quantity still open.
    pub fn remaining(&self) -> Quantity {
        self.request.quantity - self.filled
    }
    /// Average fill price, if anything filled.
    pub fn average_fill_price(&self) -> Option<Price> {
        self.filled_notional.per_unit(self.filled)
    }
}

/// One execution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fill {
    /// Host id of the order.
    pub order_id: OrderId,
    /// Owning strategy.
    pub strategy: StrategyId,
    /// Guest id of the order.
    pub client_id: ClientOrderId,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Side.
    pub side: Side,
    /// Executed quantity (positive).
    pub quantity: Quantity,
    /// Execution price.
    pub price: Price,
    /// Commission charged (positive is a cost).
    pub commission: Money,
    /// Execution time.
    pub ts: Timestamp,
    /// Broker execution id; fills are applied once per id.
    pub exec_id: String,
}

#[cfg(test)]
mod tests {
    #[test]
    fn order_status_transitions_follow_the_lifecycle() {
        use crate::OrderStatus::*;
        let all = [
            PendingNew,
            Accepted,
            PartiallyFilled,
            PendingCancel,
            Filled,
            Cancelled,
            Rejected,
            Expired,
        ];
        for s in all {
            if s.is_terminal() {
                assert!(all.iter().all(|n| !s.can_become(*n)), "{s} must be final");
            }
        }
        assert!(PendingNew.can_become(Accepted));
        assert!(Accepted.can_become(PartiallyFilled));
        assert!(PartiallyFilled.can_become(PartiallyFilled));
        assert!(PendingCancel.can_become(Accepted));
        assert!(!Accepted.can_become(PendingNew));
        assert!(!Accepted.can_become(Rejected));
    }
}
