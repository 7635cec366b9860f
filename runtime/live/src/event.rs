//! What the runtime reports: order updates, fills, rejections, swaps,
//! faults, kill switch changes, bars and guest log lines, each with a
//! sequence number that strictly increases within one process.

use std::sync::Arc;

use wasmtrade_model::{Bar, Fill, LogLine, OrderId, Quantity, RejectNotice, Side, StrategyId, Timestamp};

/// One event on the bus.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Strictly increasing per process, starting at 1.
    pub seq: u64,
    /// Market time of the event loop when it happened.
    pub ts: Timestamp,
    /// What happened.
    pub kind: EventKind,
}

/// An order's life-cycle step.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderUpdate {
    /// Host order id.
    pub order_id: OrderId,
    /// Owner.
    pub strategy: StrategyId,
    /// The guest's client id.
    pub client_id: String,
    /// Instrument symbol.
    pub symbol: Arc<str>,
    /// Side.
    pub side: Side,
    /// Ordered quantity.
    pub quantity: Quantity,
    /// `submitted`, `accepted`, `cancelled`, `expired`, `rejected`, `cancel_rejected`.
    pub status: &'static str,
    /// Why (rejections).
    pub reason: String,
}

/// A swap, shadow or removal step of a module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwapRecord {
    /// Module name.
    pub name: String,
    /// `activate`, `rollback`, `promote`, `config`, `auto_rollback`,
    /// `shadow_start`, `shadow_stop`, `remove`, `restore`, `restart` (after a
    /// fault), `stopped` (too many faults: stopped for good).
    pub action: &'static str,
    /// Version before (0 = none).
    pub from: u32,
    /// Version after (or offered, when it failed).
    pub to: u32,
    /// How long the event loop was held, nanoseconds.
    pub pause_ns: u64,
    /// Set when the step failed and the old version kept running.
    pub error: Option<String>,
}

/// What happened.
#[derive(Clone, Debug, PartialEq)]
pub enum EventKind {
    /// An order's status changed.
    Order(OrderUpdate),
    /// A fill.
    Fill {
        /// The fill.
        fill: Fill,
        /// Its instrument's symbol.
        symbol: Arc<str>,
    },
    /// An intent or order was refused.
    Rejection(RejectNotice),
    /// A module changed version (or failed to).
    Swap(SwapRecord),
    /// A guest faulted and was quarantined.
    Fault {
        /// Module name.
        name: String,
        /// Module version.
        version: u32,
        /// `trap`, `budget`, `memory`, ... (the fault's kind).
        kind: &'static str,
        /// The fault.
        message: String,
        /// True for a shadow run's fault.
        shadow: bool,
        /// True for a strategy (false: an indicator).
        strategy: bool,
    },
    /// A kill switch changed.
    KillSwitch {
        /// `global`, `account` or `strategy <id>`.
        scope: String,
        /// On or off.
        on: bool,
        /// Who.
        who: String,
        /// Why.
        reason: String,
    },
    /// Risk halted a strategy or the account by itself (daily loss,
    /// drawdown, repeated executions), or a person lifted such a halt.
    Halt {
        /// `account` or `strategy <id>`.
        scope: String,
        /// `max-daily-loss`, `max-drawdown` or `repeated-executions`.
        reason: String,
        /// The values involved.
        detail: String,
        /// True when a person lifted it.
        lifted: bool,
        /// `risk`, or who lifted it.
        who: String,
    },
    /// The risk limits changed.
    RiskLimits {
        /// The new revision.
        revision: u64,
        /// Who.
        who: String,
        /// Whether some limit was loosened.
        loosens: bool,
    },
    /// The broker connection went down or came back.
    BrokerConnection {
        /// True when it came back.
        connected: bool,
        /// Why it is down.
        detail: String,
    },
    /// Start-up reconciliation found a difference with the venue.
    Reconciliation {
        /// What differed and what was done.
        detail: String,
    },
    /// A market bar.
    Bar {
        /// The bar.
        bar: Bar,
        /// Its instrument's symbol.
        symbol: Arc<str>,
    },
    /// A guest log line.
    Log {
        /// Module name.
        name: String,
        /// Module version.
        version: u32,
        /// True for a shadow run's line.
        shadow: bool,
        /// The line.
        line: LogLine,
    },
}

impl EventKind {
    /// True for market bars (high volume; streamed only on request).
    pub fn is_bar(&self) -> bool {
        matches!(self, EventKind::Bar { .. })
    }

    /// True for guest log lines (served by `Logs`, not the event stream).
    pub fn is_log(&self) -> bool {
        matches!(self, EventKind::Log { .. })
    }
}
