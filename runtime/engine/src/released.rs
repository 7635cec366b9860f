//! What stays of a guest once the engine stops it for good (a quarantine in
//! a live run, a faulted shadow or indicator): its self-description and its
//! context, nothing of its sandbox. Dropping the real guest at once returns
//! its linear memory, its store and its live-guest slot to the host, so a
//! guest that faulted after growing to its memory limit does not keep that
//! memory until an operator removes it. A restart or a swap builds a new
//! instance and takes the context (key-value space, timers) over as before.

use wasmtrade_model::{
    Bar, Fill, GuestContext, GuestFault, GuestInfo, IndicatorGuest, Intents, RejectNotice, StrategyGuest,
    Tick, Timestamp,
};

/// A stopped strategy guest: every call answers
/// [`GuestFault::Quarantined`] with the reason it was stopped.
#[derive(Debug)]
pub struct ReleasedStrategy {
    info: GuestInfo,
    ctx: GuestContext,
    reason: String,
}

impl ReleasedStrategy {
    /// Keeps `guest`'s description and context; the caller drops `guest`.
    pub fn of(guest: &mut dyn StrategyGuest, reason: &str) -> Self {
        Self {
            info: guest.info().clone(),
            ctx: guest.context().clone(),
            reason: reason.to_string(),
        }
    }

    fn stopped(&self) -> GuestFault {
        GuestFault::Quarantined {
            reason: self.reason.clone(),
        }
    }
}

impl StrategyGuest for ReleasedStrategy {
    fn info(&self) -> &GuestInfo {
        &self.info
    }
    fn context(&mut self) -> &mut GuestContext {
        &mut self.ctx
    }
    fn on_bar(&mut self, _bar: &Bar) -> Intents {
        Err(self.stopped())
    }
    fn on_tick(&mut self, _tick: &Tick) -> Intents {
        Err(self.stopped())
    }
    fn on_fill(&mut self, _fill: &Fill) -> Intents {
        Err(self.stopped())
    }
    fn on_timer(&mut self, _name: &str, _ts: Timestamp) -> Intents {
        Err(self.stopped())
    }
    fn on_reject(&mut self, _notice: &RejectNotice) -> Intents {
        Err(self.stopped())
    }
    fn snapshot(&mut self) -> Result<Vec<u8>, GuestFault> {
        Err(self.stopped())
    }
    fn restore(&mut self, _state: &[u8]) -> Result<(), GuestFault> {
        Err(self.stopped())
    }
}

/// A stopped indicator guest (see [`ReleasedStrategy`]).
#[derive(Debug)]
pub struct ReleasedIndicator {
    info: GuestInfo,
    outputs: Vec<String>,
    ctx: GuestContext,
    reason: String,
}

impl ReleasedIndicator {
    /// Keeps `guest`'s description, output names and context.
    pub fn of(guest: &mut dyn IndicatorGuest, reason: &str) -> Self {
        Self {
            info: guest.info().clone(),
            outputs: guest.outputs().to_vec(),
            ctx: guest.context().clone(),
            reason: reason.to_string(),
        }
    }

    fn stopped(&self) -> GuestFault {
        GuestFault::Quarantined {
            reason: self.reason.clone(),
        }
    }
}

impl IndicatorGuest for ReleasedIndicator {
    fn info(&self) -> &GuestInfo {
        &self.info
    }
    fn outputs(&self) -> &[String] {
        &self.outputs
    }
    fn context(&mut self) -> &mut GuestContext {
        &mut self.ctx
    }
    fn update(&mut self, _bar: &Bar) -> Result<Option<Vec<f64>>, GuestFault> {
        Err(self.stopped())
    }
    fn snapshot(&mut self) -> Result<Vec<u8>, GuestFault> {
        Err(self.stopped())
    }
    fn restore(&mut self, _state: &[u8]) -> Result<(), GuestFault> {
        Err(self.stopped())
    }
}

/// Replaces a stopped strategy's guest with its [`ReleasedStrategy`],
/// dropping the real one (its store and memory) now.
pub(crate) fn release_strategy(guest: &mut Box<dyn StrategyGuest>, reason: &str) {
    let released = ReleasedStrategy::of(guest.as_mut(), reason);
    *guest = Box::new(released);
}

/// Replaces a faulted indicator's guest with its [`ReleasedIndicator`].
pub(crate) fn release_indicator(guest: &mut Box<dyn IndicatorGuest>, reason: &str) {
    let released = ReleasedIndicator::of(guest.as_mut(), reason);
    *guest = Box::new(released);
}
