//! The commands the handle sends the event loop, each with its reply.

use std::sync::Arc;

use tokio::sync::oneshot;
use wasmtrade_model::{CollectionSize, StrategyGuest, StrategyId, Timestamp};
use wasmtrade_risk::{ChangeRecord, HaltScope, KillScope, RiskConfig};

use crate::event::SwapAction;
use crate::risk::RiskState;
use crate::view::{AccountInfo, Installed, RunningInfo, ShadowInfo};

use super::{NewGuest, Reply};

/// Control commands.
pub(crate) enum Command {
    /// Run `guest` as module `name` at `version` with `config`: swap with
    /// state hand-off if the module runs, else start it (restoring
    /// `restore` if given). With `persist`, the store records the new
    /// active pair before the swap counts as done (undone if it cannot).
    Install {
        name: String,
        version: u32,
        config: String,
        guest: NewGuest,
        action: SwapAction,
        restore: Option<Vec<u8>>,
        persist: bool,
        reply: Reply<Installed>,
    },
    /// Run `guest` (`version` with `config`) in shadow of strategy `name`.
    Shadow {
        name: String,
        version: u32,
        config: String,
        guest: Box<dyn StrategyGuest + Send>,
        reply: Reply<ShadowInfo>,
    },
    /// Stop the shadow run of `name`.
    StopShadow { name: String, reply: Reply<ShadowInfo> },
    /// Make the shadow of `name` active.
    Promote { name: String, reply: Reply<Installed> },
    /// Restart quarantined strategy `name` at `version` from its last good snapshot.
    Restart {
        name: String,
        version: u32,
        guest: Box<dyn StrategyGuest + Send>,
        reply: Reply<Installed>,
    },
    /// Publish that `name` is stopped for good after too many faults.
    Stopped {
        name: String,
        version: u32,
        reason: String,
    },
    /// Stop module `name` (cancelling its orders); replies with the version that ran.
    Remove { name: String, reply: Reply<Option<u32>> },
    /// What runs.
    Status {
        reply: oneshot::Sender<Vec<RunningInfo>>,
    },
    /// Orders (all or open), optionally of one strategy.
    Orders {
        open_only: bool,
        strategy: Option<String>,
        limit: usize,
        reply: oneshot::Sender<Vec<wasmtrade_model::Order>>,
    },
    /// Positions, optionally of one strategy.
    Positions {
        strategy: Option<String>,
        reply: oneshot::Sender<Vec<(StrategyId, wasmtrade_oms::Position)>>,
    },
    /// The account.
    Account { reply: oneshot::Sender<AccountInfo> },
    /// The lengths of the per-order collections (OMS and broker adapter).
    Collections {
        reply: oneshot::Sender<Vec<CollectionSize>>,
    },
    /// Turn a kill switch on or off.
    Kill {
        scope: KillScope,
        on: bool,
        who: String,
        reason: String,
        reply: oneshot::Sender<RiskState>,
    },
    /// Kill switches, halts and the trading gate.
    RiskState { reply: oneshot::Sender<RiskState> },
    /// Replace the risk limits (validated and stored by the handle).
    SetLimits {
        config: Box<RiskConfig>,
        who: String,
        reply: oneshot::Sender<ChangeRecord>,
    },
    /// Open the trading gate (after start-up reconciliation); replies
    /// whether it was closed.
    OpenGate {
        who: String,
        reply: oneshot::Sender<bool>,
    },
    /// Lift a halt.
    Reenable {
        scope: HaltScope,
        who: String,
        reply: Reply<RiskState>,
    },
    /// Give restored strategies the fills after their snapshot (start-up).
    Redeliver {
        since: Vec<(String, Timestamp)>,
        reply: oneshot::Sender<usize>,
    },
    /// Run policy `name` (built off the loop) as a strategy (start-up).
    AddPolicy {
        name: String,
        hosted: crate::policy::Hosted,
        guest: Box<dyn StrategyGuest + Send>,
        reply: Reply<()>,
    },
    /// Runs version `version` of model `model` in the policies running it,
    /// between two events: each gets the new instance prepared for it (which
    /// loaded the model off the loop) or is told why there is none; replies
    /// with the policies that took it.
    LoadModel {
        model: String,
        version: u64,
        prepared: Vec<(String, crate::policy::Prepared)>,
        reply: Reply<Vec<String>>,
    },
    /// Evaluates version `version` of model `model` in the shadow of the
    /// policies running it (each gets the instance prepared for it); replies
    /// with the policies that started the evaluation.
    ShadowModel {
        model: String,
        version: u64,
        bytes: Arc<Vec<u8>>,
        gate: wasmtrade_policy::GateConfig,
        prepared: Vec<(String, crate::policy::Prepared)>,
        reply: Reply<Vec<String>>,
    },
    /// The running shadow evaluations of policies.
    PolicyShadows {
        reply: oneshot::Sender<Vec<crate::view::PolicyShadow>>,
    },
    /// Reconcile with the venue (start-up).
    Reconcile {
        memory: crate::reconcile::VenueMemory,
        timeout: std::time::Duration,
        reply: oneshot::Sender<crate::reconcile::ReconcileOutcome>,
    },
}
