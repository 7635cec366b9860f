//! The engine-facing contract of a guest, whatever runs it.
//!
//! A strategy runs either as a sandboxed wasm component (`wasmtrade-host`) or
//! natively through the SDK (`wasmtrade-native`, for tests and benchmarks).
//! Both implement [`StrategyGuest`]; the engine drives them the same way and
//! cannot tell them apart. Values a guest returns are untrusted: they arrive
//! as [`RawIntent`]s with `f64` numbers and are validated by
//! [`RawIntent::into_intent`] and the risk engine before anything else sees them.
//!
//! Here are the callbacks and what a guest is; the intents it returns are
//! in module `intent`, the [`GuestContext`] it reads and writes in module
//! `context`.

use std::any::Any;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Bar, Fill, GuestContext, RawIntent, RejectNotice, Tick, Timestamp};

/// What a guest says about itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct GuestInfo {
    /// Guest name, e.g. `sma-cross`.
    pub name: String,
    /// Guest version.
    pub version: String,
    /// SDK version that built it.
    pub sdk_version: String,
    /// Contract (WIT package) version it speaks.
    pub contract_version: String,
}

/// Why a guest callback failed. A fault is the guest's problem, never the
/// host's: the engine records it and applies its quarantine policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[non_exhaustive]
pub enum GuestFault {
    /// The guest returned an error from a callback.
    #[error("guest returned an error: {message}")]
    Returned {
        /// The guest's message.
        message: String,
    },
    /// The guest trapped (panic, unreachable, out-of-bounds, stack overflow...).
    #[error("guest trapped: {reason}")]
    Trap {
        /// Trap reason.
        reason: String,
        /// Wasm backtrace, if available.
        backtrace: Option<String>,
    },
    /// The guest used up its CPU budget for one callback.
    #[error("guest exceeded its cpu budget ({budget})")]
    Budget {
        /// Which budget: fuel or deadline, with its size.
        budget: String,
    },
    /// The guest hit a resource limit (memory, tables, instances).
    #[error("guest hit a resource limit: {what}")]
    Limit {
        /// Which limit.
        what: String,
    },
    /// The guest returned more intents from one callback than allowed.
    #[error("guest returned {count} intents from one callback (limit {limit})")]
    TooManyIntents {
        /// How many.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// One market event made the guest do more work than its budget per
    /// event allows (callbacks, intents, rejections or wall time, summed over
    /// every callback the event caused, e.g. a chain of rejections).
    #[error("guest exceeded its budget per market event: {what}")]
    EventBudget {
        /// Which budget, with the work done and the limit.
        what: String,
    },
    /// The guest has been stopped and takes no more events.
    #[error("guest is quarantined: {reason}")]
    Quarantined {
        /// Why.
        reason: String,
    },
}

impl GuestFault {
    /// True when the guest cannot be called again after this fault: it
    /// trapped or hit a budget or limit (the sandbox stops such an instance
    /// for good), or it was stopped already. False when the guest itself
    /// returned an error or too many intents: it is still healthy.
    pub fn stops_the_guest(&self) -> bool {
        !matches!(
            self,
            GuestFault::Returned { .. } | GuestFault::TooManyIntents { .. }
        )
    }

    /// A short stable label for metrics: `returned`, `trap`, `budget`, `limit`, `too-many-intents`,
    /// `event-budget`, `quarantined`.
    pub fn kind(&self) -> &'static str {
        match self {
            GuestFault::Returned { .. } => "returned",
            GuestFault::Trap { .. } => "trap",
            GuestFault::Budget { .. } => "budget",
            GuestFault::Limit { .. } => "limit",
            GuestFault::TooManyIntents { .. } => "too-many-intents",
            GuestFault::EventBudget { .. } => "event-budget",
            GuestFault::Quarantined { .. } => "quarantined",
        }
    }
}

/// Result of a strategy callback: intents to process.
pub type Intents = Result<Vec<RawIntent>, GuestFault>;

/// A strategy as the engine drives it.
///
/// Every strategy is [`Any`]: an engine owns its strategies as
/// `Box<dyn StrategyGuest>`, and a host that needs more than this contract
/// from one of them (a policy's model swap, `wasmtrade-policy`'s
/// `LoadsModel`) finds it again by its type instead of every strategy
/// carrying methods only some can answer.
pub trait StrategyGuest: Any {
    /// What the guest says about itself.
    fn info(&self) -> &GuestInfo;
    /// The guest's context (the engine updates it before each callback).
    fn context(&mut self) -> &mut GuestContext;
    /// A closed bar.
    fn on_bar(&mut self, bar: &Bar) -> Intents;
    /// A tick.
    fn on_tick(&mut self, tick: &Tick) -> Intents;
    /// An execution of one of the guest's orders.
    fn on_fill(&mut self, fill: &Fill) -> Intents;
    /// A timer the guest asked for.
    fn on_timer(&mut self, name: &str, ts: Timestamp) -> Intents;
    /// A refusal of one of the guest's intents or orders.
    fn on_reject(&mut self, notice: &RejectNotice) -> Intents;
    /// The guest's state for a hot swap or restart.
    fn snapshot(&mut self) -> Result<Vec<u8>, GuestFault>;
    /// Takes over state from [`StrategyGuest::snapshot`].
    fn restore(&mut self, state: &[u8]) -> Result<(), GuestFault>;
    /// Fuel burned by callbacks since the last call, then zero again; the
    /// engine adds it to the strategy's counters after every callback.
    /// Guests the host does not meter (native ones) report 0.
    fn take_fuel_used(&mut self) -> u64 {
        0
    }
    /// Wall time the next callback may take before the engine's budget per
    /// event is used up; the engine sets it before every callback when that
    /// budget is on (`None`: no such limit). A sandboxed guest stops the
    /// callback when it runs out (wasm guests: with their epoch deadline);
    /// guests that cannot be interrupted ignore it (the default) and the
    /// engine checks the time between callbacks.
    fn set_time_left(&mut self, left: Option<std::time::Duration>) {
        let _ = left;
    }
}

/// An indicator as the engine drives it.
pub trait IndicatorGuest {
    /// What the guest says about itself.
    fn info(&self) -> &GuestInfo;
    /// Names of the output series.
    fn outputs(&self) -> &[String];
    /// The guest's context.
    fn context(&mut self) -> &mut GuestContext;
    /// Feeds one bar; `None` while warming up.
    fn update(&mut self, bar: &Bar) -> Result<Option<Vec<f64>>, GuestFault>;
    /// The indicator's state.
    fn snapshot(&mut self) -> Result<Vec<u8>, GuestFault>;
    /// Takes over state.
    fn restore(&mut self, state: &[u8]) -> Result<(), GuestFault>;
}

impl fmt::Display for GuestInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} (sdk {}, contract {})",
            self.name, self.version, self.sdk_version, self.contract_version
        )
    }
}
