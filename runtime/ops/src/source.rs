//! What the ops endpoints read from the runtime: the [`Source`] trait, its
//! implementation for the live runtime's [`Handle`], and the plain data a
//! poll returns ([`Sample`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::broadcast;
use wasmtrade_live::{
    AccountInfo, Event, Halt, HaltScope, Handle, Latch, LiveError, ModuleInfo, RiskState, RunState,
};
use wasmtrade_model::{CollectionSize, Money};

/// A boxed future borrowing its source (what [`Source`]'s polls return).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The runtime as the ops endpoints see it. Implemented for
/// [`wasmtrade_live::Handle`]; tests implement it with fixed answers.
pub trait Source: Send + Sync + 'static {
    /// True once start-up finished and until shutdown begins.
    fn is_ready(&self) -> bool;
    /// A receiver of every runtime event from now on (no bars).
    fn subscribe(&self) -> broadcast::Receiver<Arc<Event>>;
    /// A cheap round trip through the event loop: `Ok` while it answers;
    /// [`LiveError::Unavailable`] once it has stopped.
    fn ping(&self) -> BoxFuture<'_, Result<(), LiveError>>;
    /// The account, the modules and the kill switch, now.
    fn sample(&self) -> BoxFuture<'_, Result<Sample, LiveError>>;
}

/// One poll of the runtime.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sample {
    /// Bars the paper market has played.
    pub market_bars: u64,
    /// True once the paper market has nothing more to play (a finished replay).
    pub market_finished: bool,
    /// The account.
    pub account: AccountStatus,
    /// Every stored module, with what runs of it.
    pub modules: Vec<ModuleStatus>,
    /// Kill switches, halts and the trading gate.
    pub risk: RiskStatus,
    /// True while the broker is connected.
    pub broker_connected: bool,
    /// The broker adapter's figures (reconnects, pacing).
    pub broker_figures: Vec<wasmtrade_live::BrokerFigure>,
    /// Broker requests and reports, journal commit times.
    pub traffic: wasmtrade_live::TrafficFigures,
    /// Order journal records appended since the store was created.
    pub journal_records: u64,
    /// Journal records appended but not yet durable.
    pub journal_lag_records: u64,
    /// What start-up reconciliation found (`None` before it ran).
    pub reconciliation: Option<wasmtrade_live::ReconcileOutcome>,
    /// Guest instances created since the process started.
    pub guests_created: u64,
    /// Guest instances alive now.
    pub guests_live: u64,
    /// The lengths of the per-order collections (OMS and broker adapter).
    pub collections: Vec<CollectionSize>,
    /// Candidate models under evaluation in policies' shadows.
    pub shadows: Vec<wasmtrade_live::PolicyShadow>,
}

/// The account and the event loop's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AccountStatus {
    /// Cash.
    pub cash: Money,
    /// Cash plus marked positions (the portfolio value).
    pub equity: Money,
    /// Realised P&L since the process started.
    pub realized_pnl: Money,
    /// Unrealised P&L of the open positions.
    pub unrealized_pnl: Money,
    /// Sum of |position value|.
    pub gross_exposure: Money,
    /// Sum of signed position value.
    pub net_exposure: Money,
    /// Bars the event loop processed.
    pub bars_processed: u64,
    /// Orders sent to the broker.
    pub orders_sent: u64,
    /// Intents refused (host validation, risk or broker).
    pub rejected: u64,
    /// Fills applied.
    pub fills: u64,
    /// Guest faults.
    pub faults: u64,
    /// Closed round-trip trades since the process started.
    pub closed_trades: u64,
    /// Of those, the ones with a positive net P&L.
    pub winning_trades: u64,
}

impl From<&AccountInfo> for AccountStatus {
    fn from(a: &AccountInfo) -> Self {
        Self {
            cash: a.cash,
            equity: a.equity,
            realized_pnl: a.realized,
            unrealized_pnl: a.unrealized,
            gross_exposure: a.gross_exposure,
            net_exposure: a.net_exposure,
            bars_processed: a.stats.bars,
            orders_sent: a.stats.orders_sent,
            rejected: a.stats.rejected,
            fills: a.stats.fills,
            faults: a.stats.faults,
            closed_trades: a.closed_trades,
            winning_trades: a.winning_trades,
        }
    }
}

/// A module: its stored versions and what runs of it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ModuleStatus {
    /// Module name.
    pub name: String,
    /// `strategy`, `indicator` or `policy`.
    pub kind: &'static str,
    /// Versions stored (not removed).
    pub versions: usize,
    /// The active version, if any.
    pub active_version: Option<u32>,
    /// `running`, `quarantined` or `stopped`.
    pub state: &'static str,
    /// Why it is quarantined.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quarantine_reason: Option<String>,
    /// Callbacks and intents (strategies; zero for indicators).
    pub counters: Counters,
    /// A shadow run beside the active version, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shadow: Option<ShadowStatus>,
}

/// Callbacks a strategy received and the intents it returned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// `on-bar` calls.
    pub bars: u64,
    /// `on-tick` calls.
    pub ticks: u64,
    /// `on-fill` calls.
    pub fills: u64,
    /// `on-timer` calls.
    pub timers: u64,
    /// `on-reject` calls.
    pub rejects: u64,
    /// Intents returned.
    pub intents: u64,
    /// Fuel the guest burned in callbacks (0 when fuel is off).
    pub fuel: u64,
    /// How long its callbacks took.
    #[serde(skip)]
    pub callback_time: wasmtrade_live::Durations,
}

/// A shadow run and how it compares with the active version.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ShadowStatus {
    /// The shadow's version.
    pub version: u32,
    /// Callbacks both received.
    pub events: u64,
    /// Callbacks where both returned the same intents.
    pub matching: u64,
    /// Callbacks where they differed.
    pub diverging: u64,
    /// Set when the shadow faulted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
}

impl From<&ModuleInfo> for ModuleStatus {
    fn from(m: &ModuleInfo) -> Self {
        let kind = match m.module.kind {
            wasmtrade_live::ModuleKind::Strategy => "strategy",
            wasmtrade_live::ModuleKind::Indicator => "indicator",
            wasmtrade_live::ModuleKind::Policy => "policy",
        };
        let versions = m
            .module
            .versions
            .iter()
            .filter(|v| v.status != wasmtrade_live::VersionStatus::Removed)
            .count();
        let (state, quarantine_reason) = match m.running.as_ref().map(|r| &r.state) {
            Some(RunState::Running) => ("running", None),
            Some(RunState::Quarantined(why)) => ("quarantined", Some(why.clone())),
            Some(RunState::Stopped) | None => ("stopped", None),
        };
        let running = m.running.as_ref();
        let counters = running.map_or_else(Counters::default, |r| Counters {
            bars: r.counters.bars,
            ticks: r.counters.ticks,
            fills: r.counters.fills,
            timers: r.counters.timers,
            rejects: r.counters.rejects,
            intents: r.counters.intents,
            fuel: r.counters.fuel,
            callback_time: r.counters.callback_time,
        });
        let shadow = running.and_then(|r| r.shadow.as_ref()).map(|s| ShadowStatus {
            version: s.version,
            events: s.stats.events,
            matching: s.stats.matching,
            diverging: s.stats.diverging,
            fault: s.stats.fault.clone(),
        });
        Self {
            name: m.module.name.clone(),
            kind,
            versions,
            // What runs wins over what the store says (they differ only
            // while a change is in flight).
            active_version: running.map(|r| r.version).or(m.module.active),
            state,
            quarantine_reason,
            counters,
            shadow,
        }
    }
}

/// Kill switches, halts and the trading gate.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RiskStatus {
    /// False until start-up reconciliation opened it: no orders until then.
    pub trading_gate_open: bool,
    /// The engaged kill switches (none: trading is allowed).
    pub kill_switches: Vec<Latched>,
    /// The halts risk imposed by itself (daily loss, drawdown, repeated executions).
    pub halts: Vec<Latched>,
    /// The account's P&L today, while a daily-loss or drawdown limit makes
    /// risk track it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub day_pnl: Option<Money>,
    /// The account's daily loss limit, if set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_daily_loss: Option<Money>,
}

impl RiskStatus {
    /// True while the kill switch of `scope` (`global`, `account`) is engaged.
    pub fn kill_switch_engaged(&self, scope: &str) -> bool {
        self.kill_switches.iter().any(|k| k.scope == scope)
    }
}

/// An engaged kill switch or a halt.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Latched {
    /// `global`, `account` or `strategy`.
    pub scope: &'static str,
    /// The strategy, for scope `strategy`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    /// Who engaged it (`risk` for a halt).
    pub by: String,
    /// Why: the operator's words, or the halt's reason code
    /// (`max-daily-loss`, `max-drawdown`, `repeated-executions`).
    pub reason: String,
    /// The values involved (halts).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// Since when (RFC 3339).
    pub since: String,
}

impl From<&RiskState> for RiskStatus {
    fn from(r: &RiskState) -> Self {
        let l = &r.latches;
        let latch = |scope, strategy: Option<String>, latch: &Latch| Latched {
            scope,
            strategy,
            by: latch.by.clone(),
            reason: latch.reason.clone(),
            detail: String::new(),
            since: latch.at.to_string(),
        };
        let mut kill_switches = Vec::new();
        if let Some(g) = &l.global {
            kill_switches.push(latch("global", None, g));
        }
        if let Some(a) = &l.account {
            kill_switches.push(latch("account", None, a));
        }
        for (id, s) in &l.strategies {
            kill_switches.push(latch("strategy", Some(id.to_string()), s));
        }
        let halt = |h: &Halt| {
            let (scope, strategy) = match &h.scope {
                HaltScope::Account => ("account", None),
                HaltScope::Strategy(id) => ("strategy", Some(id.to_string())),
            };
            Latched {
                scope,
                strategy,
                by: "risk".to_string(),
                reason: h.reason.code().as_str().to_string(),
                detail: h.detail.clone(),
                since: h.at.to_string(),
            }
        };
        let halts = l
            .account_halt
            .iter()
            .chain(l.strategy_halts.values())
            .map(halt)
            .collect();
        Self {
            trading_gate_open: r.gate_open,
            kill_switches,
            halts,
            day_pnl: r.day_pnl,
            max_daily_loss: r.max_daily_loss,
        }
    }
}

impl Source for Handle {
    fn is_ready(&self) -> bool {
        Handle::is_ready(self)
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        Handle::subscribe(self, false).0
    }

    fn ping(&self) -> BoxFuture<'_, Result<(), LiveError>> {
        Box::pin(async move { self.risk_state().await.map(|_| ()) })
    }

    fn sample(&self) -> BoxFuture<'_, Result<Sample, LiveError>> {
        Box::pin(async move {
            let (account, modules, risk, collections, shadows) = tokio::join!(
                self.account(),
                self.list(None),
                self.risk_state(),
                self.collection_sizes(),
                self.policy_shadows()
            );
            let (journal_records, journal_lag_records) = self.journal_progress();
            let (guests_created, guests_live) = self.guest_instances();
            Ok(Sample {
                market_bars: self.market_bars(),
                market_finished: self.market_finished(),
                account: AccountStatus::from(&account?),
                modules: modules?.iter().map(ModuleStatus::from).collect(),
                risk: RiskStatus::from(&risk?),
                broker_connected: self.broker_disconnected().is_none(),
                broker_figures: self.broker_figures(),
                traffic: self.traffic(),
                journal_records,
                journal_lag_records,
                reconciliation: self.reconciliation(),
                guests_created,
                guests_live,
                collections: collections?,
                shadows: shadows?,
            })
        })
    }
}
