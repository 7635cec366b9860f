//! The loop's side of deploying modules: installs (activate, rollback,
//! config change, start-up restore) that count as done only once the store
//! has recorded the new active pair — and are undone when it cannot —,
//! restarts after a fault, shadow runs, promotion, removal, status and the
//! snapshots a restart resumes from.

use wasmtrade_engine::{SlotState, SwapError};
use wasmtrade_model::{IndicatorGuest, StrategyGuest, StrategyId};
use wasmtrade_store::ActivePair;

use super::{Core, NewGuest};
use crate::clock::Stopwatch;
use crate::deployments::NotRecorded;
use crate::error::LiveError;
use crate::event::SwapAction;
use crate::view::{GuestKind, Installed, ShadowInfo};

/// What an install puts in place.
pub(crate) struct Install {
    /// The version to run.
    pub(crate) version: u32,
    /// The configuration its guest was started with.
    pub(crate) config: String,
    /// `Activate`, `Rollback`, `Config` or `Restore` (events and audit).
    pub(crate) action: SwapAction,
    /// State to start a module that does not run yet from.
    pub(crate) restore: Option<Vec<u8>>,
    /// Record the new active pair in the store (not for a start-up restore
    /// of the pair the store already has).
    pub(crate) persist: bool,
}

/// How to take back a swap the store did not record.
enum Undo {
    /// The module did not run: take it out again.
    Added,
    /// Put the replaced strategy guest back, in its slot state.
    Strategy(Box<dyn StrategyGuest>, SlotState),
    /// Put the replaced indicator guest back, with its fault.
    Indicator(Box<dyn IndicatorGuest>, Option<String>),
}

/// The message of an activation the store did not record.
fn not_recorded(e: &NotRecorded, previous: Option<u32>) -> String {
    let keeps = match previous {
        Some(p) => format!("version {p} keeps running"),
        None => "the module stays stopped".to_string(),
    };
    format!(
        "{e}: {}; the swap was undone and {keeps}: make the data dir writable (free space, fix permissions) and retry",
        e.source
    )
}

impl Core {
    /// Runs `guest` as module `name` (see [`Install`]): the swap, then the
    /// store's record of the new pair; if the record fails the swap is undone.
    pub(super) fn install(
        &mut self,
        name: &str,
        guest: NewGuest,
        new: Install,
    ) -> Result<Installed, LiveError> {
        let watch = Stopwatch::start();
        let kind = guest.kind();
        let version = new.version;
        let running = self.deployments.get(name).map(|d| (d.kind, d.active.version));
        if let Some((k, _)) = running
            && k != kind
        {
            return Err(LiveError::FailedPrecondition(format!(
                "`{name}` runs as {k} but version {version} is {kind}: use another name"
            )));
        }
        let previous = running.map(|(_, v)| v);
        let from = previous.unwrap_or(0);
        let (state_bytes, undo) = match self.put(name, guest, previous.is_some(), new.restore.as_deref()) {
            Ok(done) => done,
            Err(e) => {
                let message = match previous {
                    Some(p) if e.quarantined_the_running_guest() => format!(
                        "{e}; version {p} was quarantined by that fault and no longer trades \
                         (guests.quarantine decides whether it restarts from its last good snapshot); \
                         version {version} was not installed"
                    ),
                    Some(p) => format!("{e}; version {p} keeps running (automatic rollback)"),
                    None => e.to_string(),
                };
                let pause_ns = watch.elapsed_ns();
                self.swap_event(
                    name,
                    SwapAction::AutoRollback,
                    from,
                    version,
                    pause_ns,
                    Some(message.clone()),
                );
                return Err(LiveError::Aborted(message));
            }
        };
        let pair = ActivePair {
            version,
            config: new.config,
        };
        if let Err(refused) = self.deployments.activate(name, kind, pair, new.persist) {
            self.undo(name, undo);
            let message = not_recorded(&refused, previous);
            tracing::error!(module = name, version, "{message}");
            let pause_ns = watch.elapsed_ns();
            self.swap_event(
                name,
                SwapAction::AutoRollback,
                from,
                version,
                pause_ns,
                Some(message.clone()),
            );
            return Err(LiveError::Aborted(message));
        }
        drop(undo);
        let pause_ns = watch.elapsed_ns();
        self.swap_event(name, new.action, from, version, pause_ns, None);
        Ok(Installed {
            name: name.to_string(),
            version,
            previous,
            pause_ns,
            state_bytes: state_bytes as u64,
        })
    }

    /// Puts `guest` in the engine as `name`: a swap with state hand-off if
    /// the module `running`, else a start (from `restore` if given).
    /// Returns the bytes handed over and how to take it back.
    fn put(
        &mut self,
        name: &str,
        guest: NewGuest,
        running: bool,
        restore: Option<&[u8]>,
    ) -> Result<(usize, Undo), SwapError> {
        let unknown = |e: wasmtrade_engine::EngineError| SwapError::Unknown { name: e.to_string() };
        match guest {
            NewGuest::Strategy(mut g) => {
                let id = StrategyId::new(name);
                if running {
                    let before = self
                        .engine
                        .strategies()
                        .iter()
                        .find(|s| s.id == id)
                        .map_or(SlotState::Active, |s| s.state.clone());
                    let done = self.engine.swap_strategy(&id, g, true).map_err(|r| r.error)?;
                    return Ok((done.state_bytes, Undo::Strategy(done.old, before)));
                }
                let mut state_bytes = 0;
                if let Some(state) = restore {
                    match g.restore(state) {
                        Ok(()) => state_bytes = state.len(),
                        Err(fault) => {
                            tracing::warn!(module = name, "saved state refused, starting fresh: {fault}");
                        }
                    }
                }
                self.engine.add_strategy(id, g).map_err(unknown)?;
                Ok((state_bytes, Undo::Added))
            }
            NewGuest::Indicator(mut g) => {
                if running {
                    let before = self.engine.indicator_mut(name).and_then(|s| s.fault.clone());
                    let done = self.engine.swap_indicator(name, g, true).map_err(|r| r.error)?;
                    return Ok((done.state_bytes, Undo::Indicator(done.old, before)));
                }
                let mut state_bytes = 0;
                if let Some(state) = restore
                    && g.restore(state).is_ok()
                {
                    state_bytes = state.len();
                }
                self.engine.add_indicator(name.to_string(), g).map_err(unknown)?;
                Ok((state_bytes, Undo::Added))
            }
        }
    }

    /// Takes back what [`put`](Self::put) did: the replaced guest runs on
    /// exactly as before (its own state, which the hand-off only read).
    fn undo(&mut self, name: &str, undo: Undo) {
        let id = StrategyId::new(name);
        match undo {
            Undo::Added => {
                if self.engine.remove_strategy(&id).is_none() {
                    self.engine.remove_indicator(name);
                }
            }
            Undo::Strategy(old, state) => {
                if let Err(refused) = self.engine.swap_strategy(&id, old, false) {
                    tracing::error!(
                        module = name,
                        "cannot put the replaced guest back: {}",
                        refused.error
                    );
                }
                if let Some(slot) = self.engine.strategy_mut(&id) {
                    slot.state = state;
                }
            }
            Undo::Indicator(old, fault) => {
                if let Err(refused) = self.engine.swap_indicator(name, old, false) {
                    tracing::error!(
                        module = name,
                        "cannot put the replaced guest back: {}",
                        refused.error
                    );
                }
                if let Some(slot) = self.engine.indicator_mut(name) {
                    slot.fault = fault;
                }
            }
        }
    }

    /// Re-runs quarantined strategy `name` (still at `version`) as `guest`,
    /// from its last good snapshot when there is one.
    pub(super) fn restart(
        &mut self,
        name: &str,
        version: u32,
        mut guest: Box<dyn StrategyGuest + Send>,
    ) -> Result<Installed, LiveError> {
        let watch = Stopwatch::start();
        let id = StrategyId::new(name);
        let quarantined = self
            .engine
            .strategies()
            .iter()
            .any(|s| s.id == id && !s.is_active());
        let point = self.deployments.restart_point(name);
        let same = point.is_some_and(|(running, _)| running == version);
        if !(quarantined && same) {
            return Err(LiveError::FailedPrecondition(format!(
                "`{name}` v{version} is no longer the quarantined version: restart skipped"
            )));
        }
        let mut state_bytes = 0;
        if let Some(state) = point.and_then(|(_, state)| state) {
            guest.restore(state).map_err(|fault| {
                LiveError::Aborted(format!(
                    "restart of `{name}` v{version}: its last good snapshot was refused: {fault}"
                ))
            })?;
            state_bytes = state.len();
        }
        match self.engine.swap_strategy(&id, guest, false) {
            Ok(done) => drop(done.old),
            Err(refused) => return Err(LiveError::Aborted(refused.error.to_string())),
        }
        let pause_ns = watch.elapsed_ns();
        self.swap_event(name, SwapAction::Restart, version, version, pause_ns, None);
        Ok(Installed {
            name: name.to_string(),
            version,
            previous: Some(version),
            pause_ns,
            state_bytes: state_bytes as u64,
        })
    }

    /// Runs `guest` (`version` with `config`) in shadow of strategy `name`.
    pub(super) fn shadow(
        &mut self,
        name: &str,
        version: u32,
        config: String,
        guest: Box<dyn StrategyGuest + Send>,
    ) -> Result<ShadowInfo, LiveError> {
        let Some(d) = self.deployments.get(name) else {
            return Err(LiveError::FailedPrecondition(format!(
                "`{name}` is not running: activate a version before starting a shadow run"
            )));
        };
        if d.kind != GuestKind::Strategy {
            return Err(LiveError::FailedPrecondition(format!(
                "`{name}` is an indicator: only strategies run in shadow"
            )));
        }
        let from = d.active.version;
        let id = StrategyId::new(name);
        match self.engine.start_shadow(&id, guest, version, true) {
            Ok(_) => {
                self.deployments
                    .set_shadow(name, Some(ActivePair { version, config }));
                self.swap_event(name, SwapAction::ShadowStart, from, version, 0, None);
                Ok(ShadowInfo {
                    version,
                    ..ShadowInfo::default()
                })
            }
            Err(refused) => {
                let message = refused.error.to_string();
                self.swap_event(
                    name,
                    SwapAction::ShadowStart,
                    from,
                    version,
                    0,
                    Some(message.clone()),
                );
                Err(LiveError::Aborted(message))
            }
        }
    }

    /// Stops the shadow run of `name`.
    pub(super) fn stop_shadow(&mut self, name: &str) -> Result<ShadowInfo, LiveError> {
        let Some(s) = self.engine.stop_shadow(&StrategyId::new(name)) else {
            return Err(LiveError::FailedPrecondition(format!(
                "`{name}` has no shadow run: start one with StartShadow"
            )));
        };
        self.deployments.set_shadow(name, None);
        let from = self.deployments.get(name).map_or(0, |d| d.active.version);
        self.swap_event(name, SwapAction::ShadowStop, from, s.tag, 0, None);
        Ok(ShadowInfo::of(&s))
    }

    /// Makes the shadow of `name` its active guest, recorded in the store
    /// with the shadow's config; undone (the shadow run ends) if the store
    /// cannot record it.
    pub(super) fn promote(&mut self, name: &str) -> Result<Installed, LiveError> {
        let watch = Stopwatch::start();
        let id = StrategyId::new(name);
        let deployed = self.deployments.get(name);
        let current = deployed.map(|d| d.active.clone());
        let shadow = deployed.and_then(|d| d.shadow.clone());
        let before = self
            .engine
            .strategies()
            .iter()
            .find(|s| s.id == id)
            .map_or(SlotState::Active, |s| s.state.clone());
        let promoted = self.engine.promote_shadow(&id).map_err(|e| match e {
            SwapError::Unknown { .. } => LiveError::FailedPrecondition(format!("`{name}` is not running")),
            other => LiveError::FailedPrecondition(other.to_string()),
        })?;
        let tag = promoted.tag;
        let pair = shadow.filter(|p| p.version == tag).unwrap_or_else(|| ActivePair {
            version: tag,
            config: current.map(|c| c.config).unwrap_or_default(),
        });
        self.deployments.set_shadow(name, None);
        let previous = match self.deployments.activate(name, GuestKind::Strategy, pair, true) {
            Ok(previous) => previous,
            Err(refused) => {
                self.undo(name, Undo::Strategy(promoted.old, before));
                let previous = self.deployments.get(name).map(|d| d.active.version);
                let message = format!(
                    "{}; the shadow run ended: start it again",
                    not_recorded(&refused, previous)
                );
                let pause_ns = watch.elapsed_ns();
                let from = previous.unwrap_or(0);
                self.swap_event(
                    name,
                    SwapAction::AutoRollback,
                    from,
                    tag,
                    pause_ns,
                    Some(message.clone()),
                );
                return Err(LiveError::Aborted(message));
            }
        };
        let pause_ns = watch.elapsed_ns();
        self.swap_event(
            name,
            SwapAction::Promote,
            previous.unwrap_or(0),
            tag,
            pause_ns,
            None,
        );
        drop(promoted.old);
        Ok(Installed {
            name: name.to_string(),
            version: tag,
            previous,
            pause_ns,
            state_bytes: 0,
        })
    }

    /// Stops module `name` (its working orders are cancelled); returns the
    /// version that ran.
    pub(super) fn remove(&mut self, name: &str) -> Option<u32> {
        let gone = self.deployments.remove(name)?;
        match gone.kind {
            GuestKind::Strategy => {
                self.engine.remove_strategy(&StrategyId::new(name));
            }
            GuestKind::Indicator => {
                self.engine.remove_indicator(name);
            }
        }
        self.swap_event(name, SwapAction::Remove, gone.active.version, 0, 0, None);
        Some(gone.active.version)
    }
}

#[cfg(test)]
mod tests;
