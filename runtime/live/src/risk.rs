//! Risk control at run time: the limits in force (persisted in the store
//! with a revision, who, when and why, and audited), kill switches at
//! global, account and strategy scope (latched in the store across restarts
//! until a person resets them), the halts risk imposes by itself and their
//! re-enabling.
//!
//! A kill switch takes effect at once: the handle raises it on the engine's
//! [`KillSignal`] before queueing the command, and the engine looks at the
//! signal before every order and every strategy callback, so even a guest
//! that spins through its whole budget cannot slip an order past it.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use wasmtrade_engine::{KillRequest, KillSignal};
use wasmtrade_model::{Money, StrategyId, Timestamp};
use wasmtrade_risk::{ChangeRecord, HaltScope, KillScope, KillSwitchState, RawRiskConfig, RiskConfig};
use wasmtrade_store::{Change, RiskRevision, Store};

use crate::clock::unix_now;
use crate::core::{Command, Core};
use crate::error::{Field, LiveError};
use crate::event::EventKind;
use crate::handle::Handle;

/// Who changed the limits when the configuration file seeded them.
pub const FROM_CONFIG_FILE: &str = "config-file";

/// How limit changes are approved.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RiskChangesConfig {
    /// A change that loosens any limit (or lifts a restriction) waits,
    /// stored as pending, until another authenticated principal approves
    /// it ([`Handle::approve_risk_change`]); the one who proposed it cannot.
    /// Default `false`.
    pub second_approver_to_loosen: bool,
    /// Engage the global kill switch at start (by `config`), e.g. with
    /// `WASMTRADE__RISK_CHANGES__KILL_SWITCH_AT_START=true` in a pod's
    /// environment: the runtime comes up but cannot trade until a person
    /// turns the switch off. Default `false`.
    pub kill_switch_at_start: bool,
}

/// One revision of the limits and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct RiskLimits {
    /// 1, 2, … per change.
    pub revision: u64,
    /// Who changed it (`config-file` for the first revision).
    pub changed_by: String,
    /// When (wall clock).
    pub changed_at: Timestamp,
    /// Why.
    pub note: String,
    /// The whole configuration as JSON.
    pub document: serde_json::Value,
}

impl From<RiskRevision<serde_json::Value>> for RiskLimits {
    fn from(r: RiskRevision<serde_json::Value>) -> Self {
        Self {
            revision: r.revision,
            changed_by: r.changed_by,
            changed_at: r.changed_at,
            note: r.note,
            document: r.document,
        }
    }
}

/// What a limit change that took effect did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RiskChange {
    /// The new revision.
    pub revision: u64,
    /// Whether it loosened some limit.
    pub loosens: bool,
}

/// Kill switches, halts and the trading gate, as the event loop has them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RiskState {
    /// Every kill switch and halt.
    pub latches: KillSwitchState,
    /// False until start-up reconciliation opened it.
    pub gate_open: bool,
    /// The account's P&L today, while a daily-loss or drawdown limit makes
    /// risk track it.
    pub day_pnl: Option<Money>,
    /// The account's `max_daily_loss`, if set.
    pub max_daily_loss: Option<Money>,
}

/// The limits to start with: the store's current revision, or — on the
/// first start — the configuration file's, stored as revision 1. Later
/// changes of the file's `[risk]` section are ignored with a warning: the
/// limits are changed at run time (`wasmtrade risk set`), and the store
/// keeps what is in force.
pub(crate) fn startup_limits(store: &Store, from_file: &RawRiskConfig) -> Result<RiskConfig, LiveError> {
    let risk = store.risk();
    let raw = match risk.current::<RawRiskConfig>()? {
        Some(current) => {
            if current.document != *from_file {
                tracing::warn!(
                    revision = current.revision,
                    changed_by = %current.changed_by,
                    "the [risk] section of the configuration differs from the limits in the store; \
                     the store's revision {} is in force (change limits with `wasmtrade risk set`)",
                    current.revision
                );
            }
            current.document
        }
        None => {
            let change = Change {
                changed_by: FROM_CONFIG_FILE,
                changed_at: unix_now(),
                note: "initial limits from the configuration file",
            };
            risk.set(from_file, &change)?;
            from_file.clone()
        }
    };
    RiskConfig::try_from(raw).map_err(|e| {
        LiveError::InvalidArgument(format!(
            "the risk limits in the store are invalid ({e}); they were valid when stored: \
             restore the data dir from a backup or report this as a bug"
        ))
    })
}

/// The kill switches and halts latched before the last stop.
pub(crate) fn startup_latches(store: &Store) -> Result<KillSwitchState, LiveError> {
    Ok(store.risk().latches::<KillSwitchState>()?.unwrap_or_default())
}

fn halt_reason(reason: wasmtrade_risk::HaltReason) -> String {
    reason.code().as_str().to_string()
}

impl Core {
    /// Replaces the limits in force.
    pub(crate) fn set_limits(&mut self, config: RiskConfig, who: &str) -> ChangeRecord {
        let now = self.now();
        self.engine.risk_mut().replace_config(config, who, now)
    }

    /// Engages or resets a kill switch, persists the latches and reports it.
    pub(crate) fn kill(&mut self, scope: KillScope, on: bool, who: &str, reason: &str) -> RiskState {
        if on {
            self.engine.engage_kill_switch(&scope, who, reason);
        } else {
            let now = self.now();
            self.engine.risk_mut().reset_kill_switch(&scope, who, now);
        }
        // Applied from the signal already: this command supersedes it.
        drop(self.engine.take_kill_records());
        self.bus.publish(
            self.now(),
            EventKind::KillSwitch {
                scope: scope.describe(),
                on,
                who: who.to_string(),
                reason: reason.to_string(),
            },
        );
        self.sync_latches();
        self.risk_state()
    }

    /// Lifts a halt.
    pub(crate) fn reenable(&mut self, scope: HaltScope, who: &str) -> Result<RiskState, LiveError> {
        let halted = match &scope {
            HaltScope::Account => self.engine.risk().kill_switches().account_halt.clone(),
            HaltScope::Strategy(id) => self.engine.risk().kill_switches().strategy_halts.get(id).cloned(),
        };
        if halted.is_none()
            && scope == HaltScope::Account
            && let Some(why) = self.reconcile_block.take()
        {
            // The operator resolved the reconciliation mismatch.
            let now = self.now();
            self.engine.risk_mut().set_trading_gate(true, who, now);
            self.bus.publish(
                now,
                EventKind::Halt {
                    scope: scope.describe(),
                    reason: "reconciliation-mismatch".into(),
                    detail: why,
                    lifted: true,
                    who: who.to_string(),
                },
            );
            return Ok(self.risk_state());
        }
        let Some(halt) = halted else {
            return Err(LiveError::FailedPrecondition(format!(
                "{} is not halted: nothing to re-enable",
                scope.describe()
            )));
        };
        let now = self.now();
        self.engine.risk_mut().reenable(&scope, who, now);
        self.bus.publish(
            now,
            EventKind::Halt {
                scope: scope.describe(),
                reason: halt_reason(halt.reason),
                detail: halt.detail,
                lifted: true,
                who: who.to_string(),
            },
        );
        self.sync_latches();
        Ok(self.risk_state())
    }

    /// Kill switches, halts and the gate.
    pub(crate) fn risk_state(&self) -> RiskState {
        let risk = self.engine.risk();
        RiskState {
            latches: risk.kill_switches().clone(),
            gate_open: risk.trading_gate(),
            day_pnl: risk.account_day_pnl(),
            max_daily_loss: risk.config().raw().account.max_daily_loss,
        }
    }

    /// Persists the latches when they changed (a kill switch, or a halt risk
    /// imposed during the last event) and reports new halts as events — the
    /// alert of a runaway strategy. Cheap when nothing changed.
    pub(crate) fn sync_latches(&mut self) {
        let current = self.engine.risk().kill_switches();
        if *current == self.persisted_latches {
            return;
        }
        let current = current.clone();
        let mut new_halts = Vec::new();
        if let Some(h) = &current.account_halt
            && self.persisted_latches.account_halt.is_none()
        {
            new_halts.push(h.clone());
        }
        for (id, h) in &current.strategy_halts {
            if !self.persisted_latches.strategy_halts.contains_key(id) {
                new_halts.push(h.clone());
            }
        }
        for h in new_halts {
            tracing::warn!(scope = %h.scope.describe(), reason = ?h.reason, "risk halt: {}", h.detail);
            self.bus.publish(
                h.at,
                EventKind::Halt {
                    scope: h.scope.describe(),
                    reason: halt_reason(h.reason),
                    detail: h.detail.clone(),
                    lifted: false,
                    who: "risk".to_string(),
                },
            );
        }
        if let Err(e) = self.store.risk().set_latches(&current) {
            // Trading goes on with the latch in memory; the next change retries.
            tracing::error!("cannot persist the kill switches and halts: {e}");
            return;
        }
        self.persisted_latches = current;
    }
}

/// A strategy id as module names are ([`check_name`](crate::check_name)),
/// refused as the request's strategy field.
fn check_strategy(strategy: &str) -> Result<(), LiveError> {
    wasmtrade_model::check_module_name(strategy).map_err(|e| LiveError::InvalidField {
        field: Field::Strategy,
        message: e.to_string(),
    })
}

fn kill_scope(strategy: Option<&str>, account: bool) -> Result<KillScope, LiveError> {
    match (strategy, account) {
        (Some(_), true) => Err(LiveError::InvalidArgument(
            "a kill switch is either for the account or for one strategy, not both".into(),
        )),
        (Some(s), false) => {
            check_strategy(s)?;
            Ok(KillScope::Strategy(StrategyId::new(s)))
        }
        (None, true) => Ok(KillScope::Account),
        (None, false) => Ok(KillScope::Global),
    }
}

impl Handle {
    /// The limits in force.
    pub async fn risk_limits(&self) -> Result<RiskLimits, LiveError> {
        let store = self.inner().registry.shared_store();
        let current = tokio::task::spawn_blocking(move || store.risk().current::<serde_json::Value>())
            .await
            .map_err(|e| LiveError::task("reading the risk limits failed", e))??;
        current
            .map(RiskLimits::from)
            .ok_or_else(|| LiveError::Internal("no risk limits in the store".into()))
    }

    /// Every revision of the limits, oldest first.
    pub async fn risk_history(&self) -> Result<Vec<RiskLimits>, LiveError> {
        let store = self.inner().registry.shared_store();
        let revisions = tokio::task::spawn_blocking(move || store.risk().history())
            .await
            .map_err(|e| LiveError::task("reading the risk history failed", e))??;
        Ok(revisions.into_iter().map(RiskLimits::from).collect())
    }

    /// Turns a kill switch on or off: `strategy` names one strategy's,
    /// `account` the account's, neither the global one. Engaging takes
    /// effect before the next order even inside the event in flight; the
    /// reply comes once the event loop applied the kill policy and the latch
    /// is stored.
    pub async fn set_kill_switch(
        &self,
        on: bool,
        strategy: Option<&str>,
        account: bool,
        reason: &str,
        who: &str,
    ) -> Result<RiskState, LiveError> {
        let scope = kill_scope(strategy, account)?;
        if on {
            self.inner().kill_signal.raise(KillRequest {
                scope: scope.clone(),
                who: who.to_string(),
                reason: reason.to_string(),
            });
        }
        let state = self
            .command(|reply| Command::Kill {
                scope: scope.clone(),
                on,
                who: who.to_string(),
                reason: reason.to_string(),
                reply,
            })
            .await?;
        let action = if on { "kill_on" } else { "kill_off" };
        self.record(who, action, "", 0, &format!("{}: {reason}", scope.describe()));
        Ok(state)
    }

    /// Kill switches, halts and the trading gate.
    pub async fn risk_state(&self) -> Result<RiskState, LiveError> {
        self.command(|reply| Command::RiskState { reply }).await
    }

    /// Lifts the halt of `strategy` (or of the account): a person's decision.
    pub async fn reenable(&self, strategy: Option<&str>, who: &str) -> Result<RiskState, LiveError> {
        let scope = match strategy {
            Some(s) => {
                check_strategy(s)?;
                HaltScope::Strategy(StrategyId::new(s))
            }
            None => HaltScope::Account,
        };
        let state = self
            .command(|reply| Command::Reenable {
                scope: scope.clone(),
                who: who.to_string(),
                reply,
            })
            .await??;
        self.record(who, "reenable", "", 0, &scope.describe());
        Ok(state)
    }
}

impl Handle {
    /// At start-up, after the guests are back: asks the venue what happened
    /// while the runtime was down and tells each guest about every order
    /// that changed (see [`crate::reconcile`]). The in-process paper broker
    /// resumed its books from the journal, like the OMS, so it is compared
    /// like any venue.
    pub(crate) async fn reconcile(
        &self,
        memory: crate::reconcile::VenueMemory,
        timeout: std::time::Duration,
    ) -> Result<crate::reconcile::ReconcileOutcome, LiveError> {
        let outcome = self
            .command(|reply| Command::Reconcile {
                memory,
                timeout,
                reply,
            })
            .await?;
        tracing::info!(
            looked_up = outcome.looked_up,
            adopted = outcome.adopted,
            missed_fills = outcome.missed_fills,
            never_sent = outcome.never_sent,
            differences = outcome.differences.len(),
            agreed = outcome.agreed,
            "start-up reconciliation done"
        );
        *self
            .inner()
            .reconciliation
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(outcome.clone());
        Ok(outcome)
    }

    /// The last start-up reconciliation's outcome.
    pub fn reconciliation(&self) -> Option<crate::reconcile::ReconcileOutcome> {
        self.inner()
            .reconciliation
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Applies `kill_switch_at_start` and opens the trading gate if start-up
    /// reconciliation agreed with the venue; otherwise the gate stays closed
    /// (the account is halted until `wasmtrade risk reenable`).
    pub(crate) async fn after_restore(
        &self,
        config: &RiskChangesConfig,
        outcome: &crate::reconcile::ReconcileOutcome,
    ) -> Result<(), LiveError> {
        if config.kill_switch_at_start {
            self.set_kill_switch(true, None, false, "risk_changes.kill_switch_at_start", "config")
                .await?;
        }
        if !outcome.agreed {
            tracing::error!(
                differences = ?outcome.differences,
                "start-up reconciliation found a mismatch: trading stays off until `wasmtrade risk reenable`"
            );
            return Ok(());
        }
        let opened = self
            .command(|reply| Command::OpenGate {
                who: "startup-reconciliation".to_string(),
                reply,
            })
            .await?;
        if opened {
            let detail = format!(
                "{} open orders looked up, {} adopted, {} missed fills, {} never sent, {} differences",
                outcome.looked_up,
                outcome.adopted,
                outcome.missed_fills,
                outcome.never_sent,
                outcome.differences.len()
            );
            self.record("startup-reconciliation", "trading_gate_open", "", 0, &detail);
        }
        Ok(())
    }
}

impl Core {
    /// Opens the trading gate; true if it was closed.
    pub(crate) fn open_gate(&mut self, who: &str) -> bool {
        if self.engine.risk().trading_gate() {
            return false;
        }
        let now = self.now();
        self.engine.risk_mut().set_trading_gate(true, who, now);
        true
    }
}

/// The signal shared by the handle and the engine.
pub(crate) fn kill_signal() -> Arc<KillSignal> {
    Arc::new(KillSignal::new())
}
