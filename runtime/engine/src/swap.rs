//! Hot swap: replacing a running guest between two events.
//!
//! The engine is single-threaded, so anything called between two calls of
//! `on_bar`/`on_tick`/`on_time` runs between two events by construction: no
//! event is lost or seen twice. A swap hands the old guest's state to the new
//! one (`snapshot()` → `restore()`) together with what the host keeps for it
//! (key-value space, timers, indicator values, RNG stream), keeps the strategy
//! id (so its orders and positions stay with it) and returns the old guest so
//! the caller can drop it off the hot path. If the new guest refuses the
//! state, nothing changes and the new guest is handed back with the error.

use wasmtrade_broker::Broker;
use wasmtrade_model::{GuestContext, GuestFault, IndicatorGuest, StrategyGuest, StrategyId};

use crate::engine::Engine;
use crate::observe::EngineEvent;
use crate::slots::{IndicatorSlot, ShadowSlot, SlotState, StrategySlot};

/// Why a swap did not happen. The engine is unchanged.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SwapError {
    /// No strategy or indicator by that name runs.
    #[error("no guest named `{name}` is running in the engine")]
    Unknown {
        /// The name asked for.
        name: String,
    },
    /// The running guest could not produce its state. When the fault stops
    /// the guest ([`GuestFault::stops_the_guest`]: a trap, a budget or a
    /// limit), the engine has quarantined it: it no longer runs.
    #[error("the running version of `{name}` failed to snapshot its state: {fault}")]
    Snapshot {
        /// Guest name.
        name: String,
        /// What went wrong.
        fault: GuestFault,
    },
    /// The new guest refused the state.
    #[error("the new version of `{name}` failed to restore the running version's state: {fault}")]
    Restore {
        /// Guest name.
        name: String,
        /// What went wrong.
        fault: GuestFault,
    },
    /// `promote` without a running shadow.
    #[error("`{name}` has no shadow run to promote{detail}")]
    NoShadow {
        /// Strategy id.
        name: String,
        /// Why (e.g. the shadow faulted).
        detail: String,
    },
}

impl SwapError {
    /// True when the guest that was running is quarantined by this refusal
    /// (its snapshot faulted in a way that stops it), false when it runs on
    /// unchanged.
    pub fn quarantined_the_running_guest(&self) -> bool {
        matches!(self, SwapError::Snapshot { fault, .. } if fault.stops_the_guest())
    }
}

/// A swap that happened.
pub struct SwapOutcome<G: ?Sized> {
    /// Bytes of state handed over (0 without hand-off).
    pub state_bytes: usize,
    /// The guest that was replaced; drop it when convenient.
    pub old: Box<G>,
}

/// A swap that did not happen: the error and the guest that was offered.
pub struct SwapRefused<G: ?Sized> {
    /// Why.
    pub error: SwapError,
    /// The guest that was not installed.
    pub guest: Box<G>,
}

impl<G: ?Sized> std::fmt::Debug for SwapRefused<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SwapRefused")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

/// A promotion that happened.
pub struct Promoted {
    /// The guest that was active; drop it when convenient.
    pub old: Box<dyn StrategyGuest>,
    /// The promoted shadow's tag.
    pub tag: u32,
    /// Its comparison with the old guest.
    pub stats: crate::slots::ShadowStats,
}

/// Moves `name`'s state from the running guest (`snapshot`) to its
/// successor (`restore`); returns the bytes handed over.
fn hand_over(
    name: &str,
    snapshot: impl FnOnce() -> Result<Vec<u8>, GuestFault>,
    restore: impl FnOnce(&[u8]) -> Result<(), GuestFault>,
) -> Result<usize, SwapError> {
    let state = snapshot().map_err(|fault| SwapError::Snapshot {
        name: name.to_string(),
        fault,
    })?;
    restore(&state).map_err(|fault| SwapError::Restore {
        name: name.to_string(),
        fault,
    })?;
    Ok(state.len())
}

/// Copies what the host keeps for a guest into its successor's context.
fn carry_over(from: &mut GuestContext, to: &mut GuestContext) {
    to.now = from.now;
    to.account = from.account;
    to.positions = from.positions.clone();
    to.indicators = from.indicators.clone();
    to.timers = from.timers.clone();
    to.kv = from.kv.clone();
    to.rng = from.rng.clone();
}

impl<B: Broker> Engine<B> {
    /// True if a strategy with this id is in the engine.
    pub fn has_strategy(&self, id: &StrategyId) -> bool {
        self.slot_of(id).is_some()
    }

    /// True if an indicator with this name is in the engine.
    pub fn has_indicator(&self, name: &str) -> bool {
        self.indicators.iter().any(|s| s.name == name)
    }

    /// The indicators, in update order.
    pub fn indicators(&self) -> &[IndicatorSlot] {
        &self.indicators
    }

    /// The indicator `name`, to change in place.
    pub fn indicator_mut(&mut self, name: &str) -> Option<&mut IndicatorSlot> {
        self.indicators.iter_mut().find(|s| s.name == name)
    }

    /// Replaces the guest of strategy `id` with `new`. With `handover`, the
    /// old guest's snapshot is restored into `new` first; a quarantined
    /// strategy's guest is not asked (it may be poisoned) and `new` starts
    /// fresh. The strategy becomes active.
    pub fn swap_strategy(
        &mut self,
        id: &StrategyId,
        mut new: Box<dyn StrategyGuest>,
        handover: bool,
    ) -> Result<SwapOutcome<dyn StrategyGuest>, SwapRefused<dyn StrategyGuest>> {
        let Some(idx) = self.slot_of(id) else {
            let error = SwapError::Unknown { name: id.to_string() };
            return Err(SwapRefused { error, guest: new });
        };
        let slot = &mut self.strategies[idx];
        let mut state_bytes = 0;
        if handover && slot.is_active() {
            match hand_over(id.as_str(), || slot.guest.snapshot(), |state| new.restore(state)) {
                Ok(n) => state_bytes = n,
                Err(error) => {
                    if let SwapError::Snapshot { fault, .. } = &error
                        && fault.stops_the_guest()
                    {
                        // The old guest is gone (the sandbox stopped it):
                        // quarantine it now, as after a fault in a callback,
                        // rather than at its next event.
                        self.on_fault(idx, fault.clone());
                        self.apply_quarantines();
                    }
                    return Err(SwapRefused { error, guest: new });
                }
            }
        }
        carry_over(slot.guest.context(), new.context());
        let old = std::mem::replace(&mut slot.guest, new);
        slot.state = SlotState::Active;
        Ok(SwapOutcome { state_bytes, old })
    }

    /// The state of running strategy `id` (its `snapshot`). A fault that
    /// stops the guest (a trap, a budget, a limit) quarantines the strategy
    /// at once, as a fault in an event callback does. `None` if no active
    /// strategy has that id.
    pub fn snapshot_strategy(&mut self, id: &StrategyId) -> Option<Result<Vec<u8>, GuestFault>> {
        let idx = self.slot_of(id)?;
        let slot = &mut self.strategies[idx];
        if !slot.is_active() {
            return None;
        }
        let out = slot.guest.snapshot();
        if let Err(fault) = &out
            && fault.stops_the_guest()
        {
            self.on_fault(idx, fault.clone());
            self.apply_quarantines();
        }
        Some(out)
    }

    /// Replaces the indicator `name` with `new`, handing over its state when
    /// `handover` is set.
    pub fn swap_indicator(
        &mut self,
        name: &str,
        mut new: Box<dyn IndicatorGuest>,
        handover: bool,
    ) -> Result<SwapOutcome<dyn IndicatorGuest>, SwapRefused<dyn IndicatorGuest>> {
        let Some(slot) = self.indicators.iter_mut().find(|s| s.name == name) else {
            let error = SwapError::Unknown {
                name: name.to_string(),
            };
            return Err(SwapRefused { error, guest: new });
        };
        let mut state_bytes = 0;
        if handover && slot.fault.is_none() {
            match hand_over(name, || slot.guest.snapshot(), |state| new.restore(state)) {
                Ok(n) => state_bytes = n,
                Err(error) => {
                    if let SwapError::Snapshot { fault, .. } = &error
                        && fault.stops_the_guest()
                    {
                        tracing::warn!(indicator = %name, kind = fault.kind(), "indicator fault in snapshot: {fault}");
                        slot.fault = Some(fault.to_string());
                        crate::released::release_indicator(&mut slot.guest, &fault.to_string());
                        self.stats.faults += 1;
                        let (name, fault) = (name.to_string(), fault.clone());
                        self.emit(|| EngineEvent::IndicatorFault { name, fault });
                    }
                    return Err(SwapRefused { error, guest: new });
                }
            }
        }
        carry_over(slot.guest.context(), new.context());
        let old = std::mem::replace(&mut slot.guest, new);
        slot.fault = None;
        Ok(SwapOutcome { state_bytes, old })
    }

    /// Takes strategy `id` out of the engine after cancelling its working
    /// orders. Its positions stay in the OMS under its id.
    pub fn remove_strategy(&mut self, id: &StrategyId) -> Option<StrategySlot> {
        let idx = self.slot_of(id)?;
        self.cancel_working_orders(id);
        Some(self.strategies.remove(idx))
    }

    /// Takes indicator `name` out of the engine. Strategies stop receiving
    /// its values (the last ones they saw are cleared).
    pub fn remove_indicator(&mut self, name: &str) -> Option<IndicatorSlot> {
        let idx = self.indicators.iter().position(|s| s.name == name)?;
        for s in &mut self.strategies {
            s.guest.context().indicators.remove(name);
        }
        Some(self.indicators.remove(idx))
    }

    /// Asks the broker to cancel every working order of strategy `id`;
    /// returns how many cancels were sent.
    pub fn cancel_working_orders(&mut self, id: &StrategyId) -> usize {
        let ids: Vec<_> = self
            .oms
            .working_orders()
            .filter(|o| &o.strategy == id)
            .map(|o| o.id)
            .collect();
        let mut sent = 0;
        for order in ids {
            if let Err(e) = self.oms.request_cancel(order, self.now) {
                tracing::debug!(order = %order, "cancel not recorded by the oms: {e}");
            }
            match self.broker.cancel(order, self.now) {
                Ok(()) => sent += 1,
                Err(e) => tracing::warn!(order = %order, strategy = %id, "cancel failed: {e}"),
            }
        }
        self.drain_broker();
        self.journal_commit();
        sent
    }

    /// Starts `guest` as the shadow of strategy `id` (replacing a running
    /// shadow, which is returned). The shadow starts from the active guest's
    /// state when `handover` is set.
    pub fn start_shadow(
        &mut self,
        id: &StrategyId,
        mut guest: Box<dyn StrategyGuest>,
        tag: u32,
        handover: bool,
    ) -> Result<Option<ShadowSlot>, SwapRefused<dyn StrategyGuest>> {
        let Some(idx) = self.slot_of(id) else {
            let error = SwapError::Unknown { name: id.to_string() };
            return Err(SwapRefused { error, guest });
        };
        let slot = &mut self.strategies[idx];
        if handover
            && slot.is_active()
            && let Err(error) = hand_over(
                id.as_str(),
                || slot.guest.snapshot(),
                |state| guest.restore(state),
            )
        {
            return Err(SwapRefused { error, guest });
        }
        carry_over(slot.guest.context(), guest.context());
        Ok(slot.shadow.replace(ShadowSlot::new(guest, tag)))
    }

    /// Stops the shadow run of strategy `id`.
    pub fn stop_shadow(&mut self, id: &StrategyId) -> Option<ShadowSlot> {
        let idx = self.slot_of(id)?;
        self.strategies[idx].shadow.take()
    }

    /// Makes the shadow of strategy `id` its active guest. The shadow keeps
    /// its own state (it has seen the same events); the old active guest is
    /// returned with the shadow's final comparison.
    pub fn promote_shadow(&mut self, id: &StrategyId) -> Result<Promoted, SwapError> {
        let Some(idx) = self.slot_of(id) else {
            return Err(SwapError::Unknown { name: id.to_string() });
        };
        let slot = &mut self.strategies[idx];
        match &slot.shadow {
            None => {
                return Err(SwapError::NoShadow {
                    name: id.to_string(),
                    detail: String::new(),
                });
            }
            Some(s) if !s.is_running() => {
                return Err(SwapError::NoShadow {
                    name: id.to_string(),
                    detail: format!(
                        ": its shadow (version {}) faulted: {}",
                        s.tag,
                        s.stats.fault.as_deref().unwrap_or("")
                    ),
                });
            }
            Some(_) => {}
        }
        let Some(shadow) = slot.shadow.take() else {
            return Err(SwapError::NoShadow {
                name: id.to_string(),
                detail: String::new(),
            });
        };
        let ShadowSlot {
            mut guest,
            tag,
            stats,
        } = shadow;
        // The shadow's timers, key-value space and RNG are its own.
        carry_over_live(slot.guest.context(), guest.context());
        let old = std::mem::replace(&mut slot.guest, guest);
        slot.state = SlotState::Active;
        Ok(Promoted { old, tag, stats })
    }
}

/// Copies only what describes the market and account, not the guest's own
/// timers, key-value space or RNG.
fn carry_over_live(from: &mut GuestContext, to: &mut GuestContext) {
    to.now = from.now;
    to.account = from.account;
    to.positions = from.positions.clone();
    to.indicators = from.indicators.clone();
}
