//! The guests an engine runs, with their state and counters.

use wasmtrade_model::{IndicatorGuest, StrategyGuest, StrategyId};

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
}

impl StrategySlot {
    /// A new active slot.
    pub fn new(id: StrategyId, guest: Box<dyn StrategyGuest>) -> Self {
        Self {
            id,
            guest,
            state: SlotState::Active,
            counters: SlotCounters::default(),
        }
    }

    /// True while the slot takes events.
    pub fn is_active(&self) -> bool {
        self.state == SlotState::Active
    }
}

/// An indicator in the engine; strategies read its values under `name`.
pub struct IndicatorSlot {
    /// Name strategies use with `host.indicator`.
    pub name: String,
    /// The guest computing it.
    pub guest: Box<dyn IndicatorGuest>,
}
