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
    /// The step.
    pub status: OrderStep,
    /// Why (rejections).
    pub reason: String,
}

/// A step in an order's life as the event stream and metrics report it
/// (one definition; `as_str()` is the label).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrderStep {
    /// Sent to the broker after the risk checks.
    Submitted,
    /// The broker took it.
    Accepted,
    /// Cancelled (by request, by the kill switch, or by reconciliation).
    Cancelled,
    /// Its time in force ran out.
    Expired,
    /// The broker refused it.
    Rejected,
    /// The broker refused to cancel it (it keeps working).
    CancelRejected,
}

impl OrderStep {
    /// Every step, for label sets.
    pub const ALL: [OrderStep; 6] = [
        OrderStep::Submitted,
        OrderStep::Accepted,
        OrderStep::Cancelled,
        OrderStep::Expired,
        OrderStep::Rejected,
        OrderStep::CancelRejected,
    ];

    /// The label (snake case, as on the wire).
    pub const fn as_str(self) -> &'static str {
        match self {
            OrderStep::Submitted => "submitted",
            OrderStep::Accepted => "accepted",
            OrderStep::Cancelled => "cancelled",
            OrderStep::Expired => "expired",
            OrderStep::Rejected => "rejected",
            OrderStep::CancelRejected => "cancel_rejected",
        }
    }
}

impl std::fmt::Display for OrderStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The shadow gate decided about a candidate model of a policy.
#[derive(Clone, Debug, PartialEq)]
pub struct VerdictRecord {
    /// The policy.
    pub policy: String,
    /// The model it runs.
    pub model: String,
    /// The model version it ran before (the active one of the comparison).
    pub active_version: u64,
    /// The decision and its figures.
    pub outcome: wasmtrade_policy::ShadowOutcome,
    /// The candidate's bytes, kept for a restart after a fault (promotions only).
    pub(crate) bytes: Option<Arc<Vec<u8>>>,
}

/// A swap, shadow or removal step of a module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwapRecord {
    /// Module name.
    pub name: String,
    /// What was done.
    pub action: SwapAction,
    /// Version before (0 = none).
    pub from: u32,
    /// Version after (or offered, when it failed).
    pub to: u32,
    /// How long the event loop was held, nanoseconds.
    pub pause_ns: u64,
    /// Set when the step failed and the old version kept running.
    pub error: Option<String>,
}

/// A step in a module's life, as swap events, metrics labels, Kubernetes
/// Events and the audit trail name it (one definition; `as_str()` is the
/// label).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SwapAction {
    /// A version made active by an operator.
    Activate,
    /// The previous active version (and its config) restored by an operator.
    Rollback,
    /// A shadow run promoted to active.
    Promote,
    /// The active version restarted with a new configuration.
    Config,
    /// A step that failed and left the old version running.
    AutoRollback,
    /// A shadow run started.
    ShadowStart,
    /// A shadow run stopped.
    ShadowStop,
    /// A module removed.
    Remove,
    /// The active pair started again from the store at start-up.
    Restore,
    /// Restarted by the supervisor after a fault.
    Restart,
    /// Stopped for good after too many faults.
    Stopped,
    /// A policy's model version changed.
    Model,
}

impl SwapAction {
    /// Every action, for label sets.
    pub const ALL: [SwapAction; 12] = [
        SwapAction::Activate,
        SwapAction::Rollback,
        SwapAction::Promote,
        SwapAction::Config,
        SwapAction::AutoRollback,
        SwapAction::ShadowStart,
        SwapAction::ShadowStop,
        SwapAction::Remove,
        SwapAction::Restore,
        SwapAction::Restart,
        SwapAction::Stopped,
        SwapAction::Model,
    ];

    /// The label (snake case, as on the wire and in the audit trail).
    pub const fn as_str(self) -> &'static str {
        match self {
            SwapAction::Activate => "activate",
            SwapAction::Rollback => "rollback",
            SwapAction::Promote => "promote",
            SwapAction::Config => "config",
            SwapAction::AutoRollback => "auto_rollback",
            SwapAction::ShadowStart => "shadow_start",
            SwapAction::ShadowStop => "shadow_stop",
            SwapAction::Remove => "remove",
            SwapAction::Restore => "restore",
            SwapAction::Restart => "restart",
            SwapAction::Stopped => "stopped",
            SwapAction::Model => "model",
        }
    }

    /// Whether a person (or an API caller) took this step, so a module's
    /// fault history starts over.
    pub const fn by_operator(self) -> bool {
        matches!(
            self,
            SwapAction::Activate
                | SwapAction::Rollback
                | SwapAction::Promote
                | SwapAction::Config
                | SwapAction::Remove
        )
    }
}

impl std::fmt::Display for SwapAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
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
    /// The shadow gate promoted, kept out or refused a candidate model.
    ModelVerdict(Box<VerdictRecord>),
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

    /// True for what the supervisor acts on: a running strategy's fault,
    /// an operator's successful swap (which resets its fault history) and
    /// the shadow gate's verdicts (audited; a promotion made durable).
    /// These also go to the supervisor's own lossless feed, since a guest
    /// flooding the bus must not make it miss the fault that stops it.
    pub fn concerns_supervisor(&self) -> bool {
        match self {
            EventKind::Fault {
                shadow: false,
                strategy: true,
                ..
            } => true,
            EventKind::Swap(s) => s.error.is_none() && s.action.by_operator(),
            // Audited, and a promotion made durable, by the supervisor.
            EventKind::ModelVerdict(_) => true,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_swap_action_and_order_step_has_its_own_label() {
        let swaps: std::collections::BTreeSet<&str> = SwapAction::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(swaps.len(), SwapAction::ALL.len());
        let steps: std::collections::BTreeSet<&str> = OrderStep::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(steps.len(), OrderStep::ALL.len());
        assert_eq!(SwapAction::AutoRollback.to_string(), "auto_rollback");
        assert_eq!(OrderStep::CancelRejected.to_string(), "cancel_rejected");
    }

    #[test]
    fn only_operator_steps_reset_a_modules_fault_history() {
        let by_operator: Vec<&str> = SwapAction::ALL
            .iter()
            .filter(|a| a.by_operator())
            .map(|a| a.as_str())
            .collect();
        assert_eq!(
            by_operator,
            ["activate", "rollback", "promote", "config", "remove"]
        );
    }
}
