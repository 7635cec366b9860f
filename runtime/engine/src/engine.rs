//! The event loop: market data → indicators → strategies → risk → OMS →
//! broker → fills back to the OMS and to the strategies.
//!
//! One path for every event, in one thread, in a fixed order, so a backtest
//! is a deterministic function of its inputs. Backtest and live differ only
//! in the clock, the source and the broker behind [`Broker`].

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtrade_broker::Broker;
use wasmtrade_model::{
    AccountView, Bar, BrokerEvent, GuestFault, IndicatorGuest, InstrumentId, Instruments, Money,
    PositionView, RawIntent, RejectCode, StrategyGuest, StrategyId, Tick, Timestamp,
};
use wasmtrade_oms::Oms;
use wasmtrade_risk::Engine as RiskEngine;

use crate::budget::EventBudget;
use crate::error::EngineError;
use crate::guest_logs::GuestLogSummary;
use crate::journal::{MemoryJournal, OrderJournal};
use crate::observe::{EngineEvent, NoObserver, Observer};
use crate::slots::{IndicatorSlot, SlotState, StrategySlot};

/// How deep a chain of rejections and the intents guests send in reply may go
/// within one event before the engine stops calling the guest back.
pub(crate) const MAX_REJECT_CHAIN: u32 = 8;

/// What the engine does when a guest faults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FaultPolicy {
    /// Stop the run with an error (backtests: a faulting strategy invalidates the result).
    #[default]
    Abort,
    /// Stop calling the guest and keep running the others (live).
    Quarantine,
}

/// Engine settings.
#[derive(Clone, Copy, Debug, Default)]
pub struct EngineConfig {
    /// What to do when a guest faults.
    pub fault_policy: FaultPolicy,
    /// With [`FaultPolicy::Quarantine`]: close a faulted strategy's
    /// positions at the market (its working orders are always cancelled).
    pub flatten_on_fault: bool,
    /// The work one market event may cause for one strategy; more is a
    /// fault ([`GuestFault::EventBudget`]).
    pub budget: EventBudget,
}

/// Counters of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Bars processed.
    pub bars: u64,
    /// Ticks processed.
    pub ticks: u64,
    /// Orders sent to the broker.
    pub orders_sent: u64,
    /// Intents refused (host validation, risk or broker).
    pub rejected: u64,
    /// Fills applied.
    pub fills: u64,
    /// Guest faults.
    pub faults: u64,
    /// Orders refused because the journal could not make them durable.
    pub journal_refusals: u64,
}

/// The event loop over a broker `B`.
pub struct Engine<B: Broker> {
    pub(crate) instruments: Arc<Instruments>,
    pub(crate) strategies: Vec<StrategySlot>,
    pub(crate) indicators: Vec<IndicatorSlot>,
    pub(crate) risk: RiskEngine,
    pub(crate) oms: Oms,
    pub(crate) broker: B,
    pub(crate) now: Timestamp,
    pub(crate) config: EngineConfig,
    /// Receives every engine event ([`NoObserver`] until one is set).
    pub(crate) observer: Box<dyn Observer>,
    pub(crate) stats: EngineStats,
    /// [`EngineStats::rejected`] by reason.
    pub(crate) rejections: BTreeMap<RejectCode, u64>,
    /// What the guests logged.
    pub(crate) guest_logs: GuestLogSummary,
    pub(crate) scratch: Vec<BrokerEvent>,
    pub(crate) fatal: Option<EngineError>,
    /// Strategies quarantined during the current event, whose orders are
    /// cancelled (and positions flattened) once the event's guests ran.
    pub(crate) quarantined_now: Vec<StrategyId>,
    /// Kill switch requests from outside the loop: by default a signal no
    /// one else holds, so never raised; live runs share theirs.
    pub(crate) kill_signal: Arc<crate::kill::KillSignal>,
    /// Kill switch changes applied from the signal, until taken.
    pub(crate) kill_records: Vec<wasmtrade_risk::ChangeRecord>,
    /// The write-ahead order journal: in memory ([`MemoryJournal`]) until
    /// a durable one is set (live runs). Every order takes its path.
    pub(crate) journal: Box<dyn OrderJournal + Send>,
    /// Whether [`set_journal`](Self::set_journal) attached a journal.
    pub(crate) journal_attached: bool,
    /// Journaled orders waiting for the commit that lets them go out.
    pub(crate) unsent: Vec<crate::journal::Unsent>,
    /// Nesting of callbacks whose intents are being collected for one commit.
    pub(crate) batching: u32,
}

impl<B: Broker> Engine<B> {
    /// An engine with no guests yet.
    pub fn new(
        instruments: Arc<Instruments>,
        risk: RiskEngine,
        oms: Oms,
        broker: B,
        config: EngineConfig,
    ) -> Self {
        // Backtests keep the OMS's numbering (`O-1`, `O-2`, …).
        let journal = MemoryJournal::starting_at(oms.peek_next_order_id());
        Self {
            instruments,
            strategies: Vec::new(),
            indicators: Vec::new(),
            risk,
            oms,
            broker,
            now: Timestamp::EPOCH,
            config,
            observer: Box::new(NoObserver),
            stats: EngineStats::default(),
            rejections: BTreeMap::new(),
            guest_logs: GuestLogSummary::default(),
            scratch: Vec::new(),
            fatal: None,
            quarantined_now: Vec::new(),
            kill_signal: Arc::new(crate::kill::KillSignal::new()),
            kill_records: Vec::new(),
            journal: Box::new(journal),
            journal_attached: false,
            unsent: Vec::new(),
            batching: 0,
        }
    }

    /// Adds a strategy under `id`. Ids must be unique.
    pub fn add_strategy(&mut self, id: StrategyId, guest: Box<dyn StrategyGuest>) -> Result<(), EngineError> {
        if self.strategies.iter().any(|s| s.id == id) {
            return Err(EngineError::DuplicateStrategy { id: id.to_string() });
        }
        self.strategies.push(StrategySlot::new(id, guest));
        Ok(())
    }

    /// Adds an indicator whose values strategies read under `name`.
    pub fn add_indicator(&mut self, name: String, guest: Box<dyn IndicatorGuest>) -> Result<(), EngineError> {
        if self.indicators.iter().any(|s| s.name == name) {
            return Err(EngineError::DuplicateIndicator { name });
        }
        self.indicators.push(IndicatorSlot {
            name,
            guest,
            fault: None,
        });
        Ok(())
    }

    /// Sends every engine event to `observer` (journals, streams, tests).
    pub fn set_observer(&mut self, observer: Box<dyn Observer>) {
        self.observer = observer;
    }

    /// The OMS (orders, positions, cash, trades).
    pub fn oms(&self) -> &Oms {
        &self.oms
    }

    /// The risk engine.
    pub fn risk(&self) -> &RiskEngine {
        &self.risk
    }

    /// The risk engine, to change.
    pub fn risk_mut(&mut self) -> &mut RiskEngine {
        &mut self.risk
    }

    /// The broker.
    pub fn broker(&self) -> &B {
        &self.broker
    }

    /// The broker, mutably (reconciliation asks it for its report).
    pub fn broker_mut(&mut self) -> &mut B {
        &mut self.broker
    }

    /// Run counters.
    pub fn stats(&self) -> EngineStats {
        self.stats
    }

    /// Refused intents and orders by reason (their sum is
    /// [`EngineStats::rejected`]): host validation, risk checks and the
    /// broker ([`RejectCode::Broker`]).
    pub fn rejections(&self) -> &BTreeMap<RejectCode, u64> {
        &self.rejections
    }

    /// What the strategies and indicators logged: lines per level and the
    /// first distinct warnings.
    pub fn guest_logs(&self) -> &GuestLogSummary {
        &self.guest_logs
    }

    /// The instruments of the run.
    pub fn instruments(&self) -> &Arc<Instruments> {
        &self.instruments
    }

    /// The strategies and their state.
    pub fn strategies(&self) -> &[StrategySlot] {
        &self.strategies
    }

    /// Mutable access to a strategy slot by id.
    pub fn strategy_mut(&mut self, id: &StrategyId) -> Option<&mut StrategySlot> {
        self.strategies.iter_mut().find(|s| &s.id == id)
    }

    /// Current engine time.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Processes one closed bar through the whole path.
    pub fn on_bar(&mut self, bar: &Bar) -> Result<(), EngineError> {
        self.begin_event();
        self.advance(bar.ts);
        self.stats.bars += 1;
        // 1. The venue sees the new bar first: orders from earlier bars fill at its open.
        self.broker.on_bar(bar);
        self.drain_broker();
        // 2. Mark to market at the close.
        self.oms.mark_at(bar.instrument, bar.close, bar.ts);
        crate::exposure::report_pnl(&self.oms, &mut self.risk, self.now);
        // 3. Indicators, then strategies, see the closed bar.
        self.update_indicators(bar)?;
        let account = self.account_view();
        for idx in 0..self.strategies.len() {
            if !self.strategies[idx].is_active() {
                continue;
            }
            self.poll_kill_signal();
            self.refresh_context(idx, bar.instrument, account);
            let result = self.call(idx, |g| g.on_bar(bar));
            self.strategies[idx].counters.bars += 1;
            if self.strategies[idx].shadow.is_some() {
                self.shadow_step(idx, &result, |g| g.on_bar(bar));
            }
            self.handle_result(idx, result, 0);
            self.fire_timers(idx);
        }
        self.apply_quarantines();
        // 4. Orders a venue fills immediately (trade-on-close) report now.
        self.drain_broker();
        self.journal_commit();
        self.take_fatal()
    }

    /// Processes one tick through the whole path.
    pub fn on_tick(&mut self, tick: &Tick) -> Result<(), EngineError> {
        self.begin_event();
        self.advance(tick.ts);
        self.stats.ticks += 1;
        self.broker.on_tick(tick);
        self.drain_broker();
        self.oms.mark_at(tick.instrument, tick.reference_price(), tick.ts);
        crate::exposure::report_pnl(&self.oms, &mut self.risk, self.now);
        let account = self.account_view();
        for idx in 0..self.strategies.len() {
            if !self.strategies[idx].is_active() {
                continue;
            }
            self.poll_kill_signal();
            self.refresh_context(idx, tick.instrument, account);
            let result = self.call(idx, |g| g.on_tick(tick));
            self.strategies[idx].counters.ticks += 1;
            if self.strategies[idx].shadow.is_some() {
                self.shadow_step(idx, &result, |g| g.on_tick(tick));
            }
            self.handle_result(idx, result, 0);
            self.fire_timers(idx);
        }
        self.apply_quarantines();
        self.drain_broker();
        self.journal_commit();
        self.take_fatal()
    }

    /// Moves time forward without data (live timers); fires due timers.
    pub fn on_time(&mut self, now: Timestamp) -> Result<(), EngineError> {
        self.begin_event();
        self.advance(now);
        for idx in 0..self.strategies.len() {
            if self.strategies[idx].is_active() {
                self.fire_timers(idx);
            }
        }
        self.apply_quarantines();
        self.drain_broker();
        self.journal_commit();
        self.take_fatal()
    }

    pub(crate) fn advance(&mut self, ts: Timestamp) {
        if ts > self.now {
            self.now = ts;
        }
    }

    pub(crate) fn take_fatal(&mut self) -> Result<(), EngineError> {
        match self.fatal.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    pub(crate) fn emit(&mut self, event: impl FnOnce() -> EngineEvent) {
        if self.observer.wants_events() {
            self.observer.on_event(&event());
        }
    }

    pub(crate) fn update_indicators(&mut self, bar: &Bar) -> Result<(), EngineError> {
        for i in 0..self.indicators.len() {
            let slot = &mut self.indicators[i];
            if slot.fault.is_some() {
                continue;
            }
            slot.guest.context().now = self.now;
            let values = match slot.guest.update(bar) {
                Ok(v) => v,
                Err(fault) if self.config.fault_policy == FaultPolicy::Quarantine => {
                    tracing::warn!(indicator = %slot.name, kind = fault.kind(), "indicator fault: {fault}");
                    slot.fault = Some(fault.to_string());
                    crate::released::release_indicator(&mut slot.guest, &fault.to_string());
                    self.stats.faults += 1;
                    let name = slot.name.clone();
                    self.emit(|| EngineEvent::IndicatorFault { name, fault });
                    continue;
                }
                Err(fault) => {
                    return Err(EngineError::IndicatorFault {
                        name: slot.name.clone(),
                        fault,
                    });
                }
            };
            self.drain_indicator_logs(i);
            let name = &self.indicators[i].name;
            for s in &mut self.strategies {
                s.guest
                    .context()
                    .set_indicator(name, bar.instrument, values.clone());
                if let Some(shadow) = s.shadow.as_mut() {
                    shadow
                        .guest
                        .context()
                        .set_indicator(name, bar.instrument, values.clone());
                }
            }
        }
        Ok(())
    }

    pub(crate) fn drain_indicator_logs(&mut self, i: usize) {
        let slot = &mut self.indicators[i];
        let ctx = slot.guest.context();
        if ctx.logs.is_empty() {
            return;
        }
        for line in std::mem::take(&mut ctx.logs) {
            tracing::debug!(indicator = %slot.name, level = ?line.level, "{}", line.message);
            self.guest_logs.record(&slot.name, &line);
        }
    }

    /// The account as guests see it (one account per engine).
    pub(crate) fn account_view(&self) -> AccountView {
        let t = self.oms.account_totals();
        let cash = t.cash.to_f64();
        AccountView {
            cash,
            equity: t.equity.to_f64(),
            buying_power: cash.max(0.0),
            realized_pnl: t.realized.to_f64(),
            unrealized_pnl: t.unrealized.to_f64(),
        }
    }

    pub(crate) fn position_view(&self, strategy: &StrategyId, instrument: InstrumentId) -> PositionView {
        let p = self.oms.position(strategy, instrument);
        PositionView {
            quantity: p.quantity.to_f64(),
            average_price: p.average_price.map_or(0.0, |p| p.to_f64()),
            realized_pnl: p.realized_pnl.to_f64(),
            unrealized_pnl: p.unrealized_pnl.to_f64(),
        }
    }

    pub(crate) fn refresh_context(&mut self, idx: usize, instrument: InstrumentId, account: AccountView) {
        let view = self.position_view(&self.strategies[idx].id, instrument);
        let now = self.now;
        let ctx = self.strategies[idx].guest.context();
        ctx.now = now;
        ctx.account = account;
        if view.quantity == 0.0 && view.realized_pnl == 0.0 {
            ctx.positions.remove(&instrument);
        } else {
            ctx.positions.insert(instrument, view);
        }
    }

    pub(crate) fn fire_timers(&mut self, idx: usize) {
        if self.strategies[idx].shadow.is_some() {
            self.shadow_timers(idx);
        }
        let due = self.strategies[idx].guest.context().take_due_timers(self.now);
        for (name, ts) in due {
            if !self.strategies[idx].is_active() {
                return;
            }
            let result = self.call(idx, |g| g.on_timer(&name, ts));
            self.strategies[idx].counters.timers += 1;
            self.handle_result(idx, result, 0);
        }
    }

    /// Runs one callback of strategy `idx`, telling the guest first how
    /// much wall time its budget per event leaves (when that budget is on).
    #[inline]
    pub(crate) fn call<R>(&mut self, idx: usize, f: impl FnOnce(&mut dyn StrategyGuest) -> R) -> R {
        if let Some(left) = self.time_left(idx) {
            self.strategies[idx].guest.set_time_left(Some(left));
        }
        self.strategies[idx].call(f)
    }

    /// Handles what a guest callback returned: intents go through risk, a fault
    /// applies the fault policy; work beyond the budget per event is a fault.
    /// Logs are drained.
    pub(crate) fn handle_result(
        &mut self,
        idx: usize,
        result: Result<Vec<RawIntent>, GuestFault>,
        depth: u32,
    ) {
        self.drain_logs(idx);
        match result {
            Ok(intents) => {
                if !self.charge(idx, intents.len(), 0) {
                    return;
                }
                // Every order of one callback shares one journal commit.
                self.batching += 1;
                for raw in intents {
                    // A fault in a callback this intent caused (a reply to
                    // its rejection) stops the rest of the batch.
                    if !self.strategies[idx].is_active() {
                        break;
                    }
                    self.process_intent(idx, raw, depth);
                }
                self.batching -= 1;
                if self.batching == 0 {
                    self.send_unsent(depth);
                }
            }
            Err(fault) => self.on_fault(idx, fault),
        }
    }

    pub(crate) fn drain_logs(&mut self, idx: usize) {
        let slot = &mut self.strategies[idx];
        let ctx = slot.guest.context();
        if ctx.logs.is_empty() {
            return;
        }
        let lines = std::mem::take(&mut ctx.logs);
        let id = slot.id.clone();
        for line in lines {
            tracing::debug!(strategy = %id, level = ?line.level, "{}", line.message);
            self.guest_logs.record(id.as_str(), &line);
            self.emit(|| EngineEvent::GuestLog {
                strategy: id.clone(),
                line: line.clone(),
            });
        }
    }

    pub(crate) fn on_fault(&mut self, idx: usize, fault: GuestFault) {
        self.stats.faults += 1;
        let id = self.strategies[idx].id.clone();
        tracing::warn!(strategy = %id, kind = fault.kind(), "guest fault: {fault}");
        self.strategies[idx].state = SlotState::Quarantined {
            reason: fault.to_string(),
        };
        self.emit(|| EngineEvent::GuestFault {
            strategy: id.clone(),
            fault: fault.clone(),
        });
        if self.config.fault_policy == FaultPolicy::Abort && self.fatal.is_none() {
            self.fatal = Some(EngineError::StrategyFault {
                strategy: id.to_string(),
                fault,
            });
        } else if self.config.fault_policy == FaultPolicy::Quarantine {
            self.quarantined_now.push(id);
        }
    }

    /// Equity now (cash + marked positions).
    pub fn equity(&self) -> Money {
        self.oms.account_totals().equity
    }

    /// Cash, equity, P&L and exposure now, in one pass.
    pub fn account_totals(&self) -> wasmtrade_oms::AccountTotals {
        self.oms.account_totals()
    }

    /// True if any position is open.
    pub fn has_exposure(&self) -> bool {
        self.oms.has_open_positions()
    }
}
