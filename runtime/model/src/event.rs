//! Events exchanged between the broker, the OMS, the risk engine and guests.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{ClientOrderId, Fill, OrderId, StrategyId, Timestamp};

/// Stable, machine-readable reason an intent or order was refused. Codes are
/// kebab-case in guests, events and metrics (`max-order-quantity`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum RejectCode {
    /// A price or quantity is NaN, infinite or out of range.
    NotFinite,
    /// Quantity is zero or negative.
    NonPositiveQuantity,
    /// Price is zero or negative.
    NonPositivePrice,
    /// Price is not a multiple of the instrument's tick size.
    OffTick,
    /// Quantity is not a multiple of the instrument's lot size.
    OffLot,
    /// The instrument is unknown to the host.
    UnknownInstrument,
    /// The client id is empty or too long.
    InvalidClientId,
    /// A working order already uses this client id.
    DuplicateClientId,
    /// No working order has this client id.
    UnknownClientId,
    /// Order quantity above the limit.
    MaxOrderQuantity,
    /// Order notional above the limit.
    MaxOrderNotional,
    /// The position would exceed its limit.
    MaxPosition,
    /// No fresh reference price to value the order.
    NoReferencePrice,
    /// Not enough cash or buying power.
    InsufficientBuyingPower,
    /// The kill switch is on.
    KillSwitch,
    /// A guest returned more intents from one callback than allowed.
    TooManyIntents,
    /// The broker refused the order.
    Broker,
    /// An amendment that cannot apply to the order (a limit price on an order
    /// without one, or a quantity not above what already filled).
    InvalidAmendment,
    /// The instrument is on the restricted list.
    RestrictedInstrument,
    /// The instrument is not on the strategy's allow-list.
    InstrumentNotAllowed,
    /// Trading in the instrument is halted.
    MarketHalted,
    /// The market or session is closed (or in an auction that refuses the order type).
    MarketClosed,
    /// Outside the configured trading hours (calendar, holiday).
    OutsideTradingHours,
    /// Inside a configured calendar blackout (e.g. around a scheduled release).
    Blackout,
    /// The price is too far from the reference price.
    PriceCollar,
    /// The reference price is older than allowed (or its age is unknown).
    StaleReferencePrice,
    /// Quantity sent within the rolling window above the limit.
    MaxWindowQuantity,
    /// Notional sent within the rolling window above the limit.
    MaxWindowNotional,
    /// Notional of working (unexecuted) orders above the limit.
    MaxOpenExposure,
    /// Worst-case gross exposure across instruments above the limit.
    MaxGrossExposure,
    /// Worst-case net exposure across instruments above the limit.
    MaxNetExposure,
    /// The day's loss passed its limit: halted until a person re-enables.
    MaxDailyLoss,
    /// The drawdown from the day's peak passed its limit: halted until a person re-enables.
    MaxDrawdown,
    /// Too many orders per second or per minute.
    OrderRate,
    /// Too many messages (orders, amendments, cancels) per second.
    MessageRate,
    /// Too many cancels per minute: new orders wait.
    CancelRate,
    /// Too many orders per execution today.
    OrderToTradeRatio,
    /// Too many executions within the window: disabled until a person re-enables.
    RepeatedExecutions,
    /// Same side, instrument, quantity and price as a recent order.
    DuplicateOrder,
    /// The order would trade against a resting order of the same account.
    SelfCross,
    /// Too many working orders.
    MaxWorkingOrders,
    /// Too many working orders on one side of one instrument.
    MaxWorkingOrdersPerSide,
    /// No new orders until start-up reconciliation has passed.
    ReconciliationPending,
}

impl RejectCode {
    /// The kebab-case code.
    pub const fn as_str(self) -> &'static str {
        match self {
            RejectCode::NotFinite => "not-finite",
            RejectCode::NonPositiveQuantity => "non-positive-quantity",
            RejectCode::NonPositivePrice => "non-positive-price",
            RejectCode::OffTick => "off-tick",
            RejectCode::OffLot => "off-lot",
            RejectCode::UnknownInstrument => "unknown-instrument",
            RejectCode::InvalidClientId => "invalid-client-id",
            RejectCode::DuplicateClientId => "duplicate-client-id",
            RejectCode::UnknownClientId => "unknown-client-id",
            RejectCode::MaxOrderQuantity => "max-order-quantity",
            RejectCode::MaxOrderNotional => "max-order-notional",
            RejectCode::MaxPosition => "max-position",
            RejectCode::NoReferencePrice => "no-reference-price",
            RejectCode::InsufficientBuyingPower => "insufficient-buying-power",
            RejectCode::KillSwitch => "kill-switch",
            RejectCode::TooManyIntents => "too-many-intents",
            RejectCode::Broker => "broker",
            RejectCode::InvalidAmendment => "invalid-amendment",
            RejectCode::RestrictedInstrument => "restricted-instrument",
            RejectCode::InstrumentNotAllowed => "instrument-not-allowed",
            RejectCode::MarketHalted => "market-halted",
            RejectCode::MarketClosed => "market-closed",
            RejectCode::OutsideTradingHours => "outside-trading-hours",
            RejectCode::Blackout => "blackout",
            RejectCode::PriceCollar => "price-collar",
            RejectCode::StaleReferencePrice => "stale-reference-price",
            RejectCode::MaxWindowQuantity => "max-window-quantity",
            RejectCode::MaxWindowNotional => "max-window-notional",
            RejectCode::MaxOpenExposure => "max-open-exposure",
            RejectCode::MaxGrossExposure => "max-gross-exposure",
            RejectCode::MaxNetExposure => "max-net-exposure",
            RejectCode::MaxDailyLoss => "max-daily-loss",
            RejectCode::MaxDrawdown => "max-drawdown",
            RejectCode::OrderRate => "order-rate",
            RejectCode::MessageRate => "message-rate",
            RejectCode::CancelRate => "cancel-rate",
            RejectCode::OrderToTradeRatio => "order-to-trade-ratio",
            RejectCode::RepeatedExecutions => "repeated-executions",
            RejectCode::DuplicateOrder => "duplicate-order",
            RejectCode::SelfCross => "self-cross",
            RejectCode::MaxWorkingOrders => "max-working-orders",
            RejectCode::MaxWorkingOrdersPerSide => "max-working-orders-per-side",
            RejectCode::ReconciliationPending => "reconciliation-pending",
        }
    }
}

impl fmt::Display for RejectCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refusal with its reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// Machine-readable reason.
    pub code: RejectCode,
    /// Human-readable explanation naming the values involved.
    pub message: String,
}

impl Rejection {
    /// A rejection.
    pub fn new(code: RejectCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// A rejection addressed to the strategy that sent the intent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectNotice {
    /// Strategy that sent the intent.
    pub strategy: StrategyId,
    /// Guest id of the order concerned.
    pub client_id: ClientOrderId,
    /// Host order id, if the order had reached the OMS.
    pub order_id: Option<OrderId>,
    /// Reason.
    pub rejection: Rejection,
    /// When.
    pub ts: Timestamp,
}

/// What a broker reports about orders.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BrokerEvent {
    /// The order is working.
    Accepted {
        /// Order.
        order_id: OrderId,
        /// When.
        ts: Timestamp,
    },
    /// An execution.
    Filled(Fill),
    /// The order was cancelled.
    Cancelled {
        /// Order.
        order_id: OrderId,
        /// When.
        ts: Timestamp,
    },
    /// The order expired.
    Expired {
        /// Order.
        order_id: OrderId,
        /// When.
        ts: Timestamp,
    },
    /// The broker refused the order.
    Rejected {
        /// Order.
        order_id: OrderId,
        /// Broker's reason.
        reason: String,
        /// When.
        ts: Timestamp,
    },
    /// The broker refused a cancel (the order keeps working or already finished).
    CancelRejected {
        /// Order.
        order_id: OrderId,
        /// Broker's reason.
        reason: String,
        /// When.
        ts: Timestamp,
    },
}

impl BrokerEvent {
    /// The order the event is about.
    pub fn order_id(&self) -> OrderId {
        match self {
            BrokerEvent::Accepted { order_id, .. }
            | BrokerEvent::Cancelled { order_id, .. }
            | BrokerEvent::Expired { order_id, .. }
            | BrokerEvent::Rejected { order_id, .. }
            | BrokerEvent::CancelRejected { order_id, .. } => *order_id,
            BrokerEvent::Filled(f) => f.order_id,
        }
    }
}
