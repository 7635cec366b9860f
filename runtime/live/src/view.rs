//! What the runtime answers to queries: plain data, no engine internals.

use std::fmt;

use wasmtrade_broker::Broker;
use wasmtrade_engine::{Engine, EngineStats, ShadowSlot, ShadowStats, SlotCounters};
use wasmtrade_model::Money;

/// Which world a module implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestKind {
    /// `strategy`.
    Strategy,
    /// `indicator`.
    Indicator,
}

impl fmt::Display for GuestKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GuestKind::Strategy => "a strategy",
            GuestKind::Indicator => "an indicator",
        })
    }
}

impl From<GuestKind> for wasmtrade_store::ModuleKind {
    fn from(k: GuestKind) -> Self {
        match k {
            GuestKind::Strategy => wasmtrade_store::ModuleKind::Strategy,
            GuestKind::Indicator => wasmtrade_store::ModuleKind::Indicator,
        }
    }
}

/// Whether a module's guest runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunState {
    /// No version active.
    Stopped,
    /// Taking events.
    Running,
    /// Faulted; takes no events until a version is activated.
    Quarantined(String),
}

/// A shadow run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShadowInfo {
    /// The shadow's module version.
    pub version: u32,
    /// Its comparison with the active version.
    pub stats: ShadowStats,
}

impl ShadowInfo {
    pub(crate) fn of(slot: &ShadowSlot) -> Self {
        Self {
            version: slot.tag,
            stats: slot.stats.clone(),
        }
    }
}

/// A module running in the event loop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunningInfo {
    /// Module name.
    pub name: String,
    /// World.
    pub kind: GuestKind,
    /// Running version.
    pub version: u32,
    /// Its configuration (JSON).
    pub config: String,
    /// Running or quarantined.
    pub state: RunState,
    /// Events and intents (strategies).
    pub counters: SlotCounters,
    /// Shadow run, if any.
    pub shadow: Option<ShadowInfo>,
    /// For a policy: the model it runs (`version` is the model's version;
    /// `kind` is [`GuestKind::Strategy`], the engine trades it as one).
    pub model: Option<String>,
}

/// A version that became active.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Installed {
    /// Module name.
    pub name: String,
    /// Now active.
    pub version: u32,
    /// Active before, if any.
    pub previous: Option<u32>,
    /// How long the event loop was held, nanoseconds.
    pub pause_ns: u64,
    /// Bytes of guest state handed over.
    pub state_bytes: u64,
}

/// The account now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountInfo {
    /// Cash.
    pub cash: Money,
    /// Cash plus marked positions.
    pub equity: Money,
    /// Realised P&L.
    pub realized: Money,
    /// Unrealised P&L.
    pub unrealized: Money,
    /// Sum of |position value|.
    pub gross_exposure: Money,
    /// Sum of signed position value.
    pub net_exposure: Money,
    /// Event loop counters.
    pub stats: EngineStats,
    /// Closed round-trip trades since the process started.
    pub closed_trades: u64,
    /// Of those, the ones with a positive net P&L.
    pub winning_trades: u64,
}

impl AccountInfo {
    pub(crate) fn of(engine: &Engine<Box<dyn Broker + Send>>) -> Self {
        let t = engine.account_totals();
        let (mut gross, mut net) = (Money::ZERO, Money::ZERO);
        for (_, p) in engine.oms().positions() {
            if let Some(last) = p.last_price {
                let value = last.notional(p.quantity.abs());
                gross += value;
                if p.quantity.is_negative() {
                    net -= value;
                } else {
                    net += value;
                }
            }
        }
        Self {
            cash: t.cash,
            equity: t.equity,
            realized: t.realized,
            unrealized: t.unrealized,
            gross_exposure: gross,
            net_exposure: net,
            stats: engine.stats(),
            closed_trades: engine.oms().closed_trade_count(),
            winning_trades: engine.oms().winning_trades() as u64,
        }
    }
}

/// A candidate model a policy evaluates in its shadow, with the figures so far.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyShadow {
    /// The policy.
    pub policy: String,
    /// The model it runs.
    pub model: String,
    /// The model version it runs (the active side of the comparison).
    pub active_version: u64,
    /// The candidate's version, gate and figures against the active model's.
    pub progress: wasmtrade_policy::ShadowProgress,
}
