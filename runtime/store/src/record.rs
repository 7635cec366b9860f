//! What the write-ahead order journal records.

use serde::{Deserialize, Serialize};
use wasmtrade_model::{Fill, InstrumentId, Order, OrderId, OrderStatus, StrategyId, Timestamp};

/// Where an intent stands in the write-ahead protocol when it is journaled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum IntentState {
    /// Durable, about to be sent; after a crash its fate is unknown until the
    /// broker is asked (by order id / order reference).
    PendingSend,
}

/// What a reconciliation difference was about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DifferenceKind {
    /// The broker has an execution the journal lacks.
    MissedFill,
    /// The broker reports another order status.
    StatusMismatch,
    /// The broker has an order the journal does not know.
    ExternalOrder,
    /// A journaled order the broker does not know.
    NotFound,
    /// Positions differ.
    PositionMismatch,
    /// Cash differs.
    CashMismatch,
}

/// A difference found reconciling with the broker, and what was done.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Difference {
    /// When it was found.
    pub ts: Timestamp,
    /// Kind.
    pub kind: DifferenceKind,
    /// The order concerned, if any.
    pub order_id: Option<OrderId>,
    /// The instrument concerned, if any.
    pub instrument: Option<InstrumentId>,
    /// What the runtime had.
    pub local: String,
    /// What the broker reported.
    pub broker: String,
    /// What was done about it (adopted, halted, …).
    pub resolution: String,
}

/// One journal record. Serialised as JSON tagged by `type` (`intent`, `status`, `fill`, `never_sent`, `reconciliation`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
#[non_exhaustive]
pub enum JournalRecord {
    /// An order intent, journaled (and committed) before it reaches the broker.
    Intent {
        /// Host order id (also the order reference at the broker).
        order_id: OrderId,
        /// Owning strategy.
        strategy: StrategyId,
        /// The order as the OMS created it.
        order: Order,
        /// Protocol state: [`IntentState::PendingSend`].
        state: IntentState,
    },
    /// The order moved to `status` (as reported by the broker, or decided
    /// locally, e.g. a cancel request).
    Status {
        /// Order.
        order_id: OrderId,
        /// New status.
        status: OrderStatus,
        /// When.
        ts: Timestamp,
        /// Broker's reason, if any.
        reason: Option<String>,
    },
    /// An execution; applied once per `exec_id`.
    Fill(Fill),
    /// The broker confirmed it never received this intent: it is closed
    /// without an order, and never resubmitted by the runtime.
    NeverSent {
        /// Order.
        order_id: OrderId,
        /// When it was established.
        ts: Timestamp,
        /// How it was established.
        reason: String,
    },
    /// A reconciliation difference.
    Reconciliation(Difference),
}

impl JournalRecord {
    /// The order the record is about, if any.
    pub fn order_id(&self) -> Option<OrderId> {
        match self {
            JournalRecord::Intent { order_id, .. }
            | JournalRecord::Status { order_id, .. }
            | JournalRecord::NeverSent { order_id, .. } => Some(*order_id),
            JournalRecord::Fill(f) => Some(f.order_id),
            JournalRecord::Reconciliation(d) => d.order_id,
        }
    }
    /// A pending-send intent for `order` (its id and strategy are taken from it).
    pub fn intent(order: Order) -> Self {
        JournalRecord::Intent {
            order_id: order.id,
            strategy: order.strategy.clone(),
            order,
            state: IntentState::PendingSend,
        }
    }
}
