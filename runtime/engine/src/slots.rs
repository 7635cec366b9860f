//! The guests an engine runs, with their state and counters.

use wasmtrade_model::{IndicatorGuest, StrategyGuest, StrategyId};

use crate::budget::EventWork;
use crate::durations::Durations;

/// Whether a strategy still takes events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlotState {
    /// Receiving events.
    Active,
    /// Stopped after a fault; takes no more events.
    Quarantined {
        /// The fault.
        reason: String,
    },
}

/// Events a strategy received and what it did with them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlotCounters {
    /// Bars delivered.
    pub bars: u64,
    /// Ticks delivered.
    pub ticks: u64,
    /// Fills delivered.
    pub fills: u64,
    /// Timers fired.
    pub timers: u64,
    /// Rejections delivered.
    pub rejects: u64,
    /// Intents returned.
    pub intents: u64,
    /// Fuel the guest burned in callbacks (0 when fuel is not metered).
    pub fuel: u64,
    /// Wall-clock time of the guest's callbacks.
    pub callback_time: Durations,
}

/// A strategy in the engine.
pub struct StrategySlot {
    /// Its id (orders and positions belong to it).
    pub id: StrategyId,
    /// The guest running it.
    pub guest: Box<dyn StrategyGuest>,
    /// Active or quarantined.
    pub state: SlotState,
    /// Counters.
    pub counters: SlotCounters,
    /// A version running in shadow beside the guest, if any.
    pub shadow: Option<ShadowSlot>,
    /// Work done in the current market event (the budget per event).
    pub(crate) event: EventWork,
}

/// How a shadow run compares with the active guest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShadowStats {
    /// Callbacks both guests received.
    pub events: u64,
    /// Callbacks where both returned the same intents.
    pub matching: u64,
    /// Callbacks where they differed.
    pub diverging: u64,
    /// Intents the shadow returned (recorded, never sent).
    pub intents: u64,
    /// Set when the shadow faulted; it then takes no more events.
    pub fault: Option<String>,
}

/// A guest that receives the same events as a strategy's active guest and
/// whose intents are compared with the active guest's but never sent.
pub struct ShadowSlot {
    /// The shadow guest.
    pub guest: Box<dyn StrategyGuest>,
    /// A caller-chosen tag (the module version).
    pub tag: u32,
    /// Comparison so far.
    pub stats: ShadowStats,
}

impl ShadowSlot {
    /// A new shadow run of `guest`.
    pub fn new(guest: Box<dyn StrategyGuest>, tag: u32) -> Self {
        Self {
            guest,
            tag,
            stats: ShadowStats::default(),
        }
    }

    /// True while the shadow takes events.
    pub fn is_running(&self) -> bool {
        self.stats.fault.is_none()
    }

    /// Stops the shadow after `fault`: it takes no more events, and its
    /// guest (store and memory) is dropped now.
    pub(crate) fn stop(&mut self, fault: &wasmtrade_model::GuestFault) {
        let reason = fault.to_string();
        crate::released::release_strategy(&mut self.guest, &reason);
        self.stats.fault = Some(reason);
    }
}

impl StrategySlot {
    /// A new active slot.
    pub fn new(id: StrategyId, guest: Box<dyn StrategyGuest>) -> Self {
        Self {
            id,
            guest,
            state: SlotState::Active,
            counters: SlotCounters::default(),
            shadow: None,
            event: EventWork::default(),
        }
    }

    /// True while the slot takes events.
    pub fn is_active(&self) -> bool {
        self.state == SlotState::Active
    }

    /// Runs one callback of the guest, adding its duration and the fuel it
    /// burned to the counters, and the callback and its duration to the
    /// work of the current event.
    /// The wall clock is read for the metric only: nothing the engine
    /// decides depends on it, so replays stay deterministic.
    #[inline]
    #[allow(clippy::disallowed_methods)]
    pub(crate) fn call<R>(&mut self, f: impl FnOnce(&mut dyn StrategyGuest) -> R) -> R {
        let start = std::time::Instant::now();
        let out = f(self.guest.as_mut());
        let ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.counters.callback_time.record(ns);
        self.event.callbacks = self.event.callbacks.saturating_add(1);
        self.event.time_ns = self.event.time_ns.saturating_add(ns);
        self.counters.fuel += self.guest.take_fuel_used();
        out
    }
}

/// An indicator in the engine; strategies read its values under `name`.
pub struct IndicatorSlot {
    /// Name strategies use with `host.indicator`.
    pub name: String,
    /// The guest computing it.
    pub guest: Box<dyn IndicatorGuest>,
    /// Set when it faulted (live runs quarantine it; it then takes no bars).
    pub fault: Option<String>,
}
