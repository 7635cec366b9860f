//! The risk engine: runs the checks in order, mints [`RiskApproved`] values,
//! and keeps the state the stateful checks need, fed by the caller's `on_*`
//! calls. All time comes from arguments.

use serde::{Deserialize, Serialize};
use wasmtrade_model::{
    Fill, Instrument, Money, NewOrder, Order, OrderType, Price, Quantity, RejectCode, Rejection, Side,
    StrategyId, Timestamp,
};

use crate::RiskApproved;
use crate::calendar::next_local_midnight;
use crate::checks::flow::Message;
use crate::checks::{self, Applicable, Level, Subject, book, flow, order};
use crate::config::{Limits, RiskConfig};
use crate::exposure::Exposure;
use crate::killswitch::{Halt, HaltReason, HaltScope, KillSwitchState};
use crate::pnl::PnlBook;
use crate::throttle::Flow;

/// A change to a working order: a new total quantity and/or a new limit price.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Amendment {
    /// New total quantity (filled + remaining).
    pub quantity: Option<Quantity>,
    /// New limit price (limit and stop-limit orders only).
    pub limit_price: Option<Price>,
}

/// How an order is being checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    New,
    /// An amendment; `shrinks` = it only lowers the quantity (passes a kill switch).
    Amend {
        shrinks: bool,
    },
}

/// The pre-trade risk engine.
///
/// Checks run in this order, the first failure wins: well-formedness (R1),
/// the trading gate (R21), kill switches (R19) and halts (R12, R15) — both
/// let risk-reducing orders through —, restricted and allow-lists (R2),
/// market state and trading hours (R3), reference age (R5), price collar
/// (R4), order size (R6) and notional (R7), rates (R13), order-to-trade
/// (R14), duplicates (R16), the rolling window (R8), working orders (R18),
/// self-cross (R17), open-order exposure (R9), position and gross/net
/// exposure (R10), buying power (R11).
///
/// `check_*` take `&self`; the caller reports what it then did with
/// [`Engine::on_order_sent`], [`Engine::on_amend_sent`],
/// [`Engine::on_cancel_sent`], [`Engine::on_fill`] and [`Engine::on_pnl`],
/// which feed the rate, window, duplicate, execution and loss checks.
/// Cancels need no approval: they only ever reduce risk.
#[derive(Clone, Debug)]
pub struct Engine {
    pub(crate) config: RiskConfig,
    pub(crate) latches: KillSwitchState,
    pub(crate) gate_open: bool,
    pub(crate) flow: Flow,
    pub(crate) pnl: PnlBook,
    /// When the current trading day ends; `None` before the first event.
    pub(crate) day_end: Option<Timestamp>,
}

impl Default for Engine {
    fn default() -> Self {
        Self::new(RiskConfig::default())
    }
}

impl Engine {
    /// An engine with `config`, every kill switch off, and the trading gate
    /// open unless the config has `require_reconciliation`.
    pub fn new(config: RiskConfig) -> Self {
        Self {
            gate_open: !config.raw.require_reconciliation,
            config,
            latches: KillSwitchState::default(),
            flow: Flow::default(),
            pnl: PnlBook::default(),
            day_end: None,
        }
    }

    /// Checks a new order. `exposure` describes the strategy's position and
    /// working orders in `instrument` (and the account's) before this order.
    pub fn check_new(
        &self,
        strategy: &StrategyId,
        instrument: &Instrument,
        order: &NewOrder,
        exposure: &Exposure,
    ) -> Result<RiskApproved<NewOrder>, Rejection> {
        self.run(strategy, instrument, order, exposure, Mode::New)?;
        Ok(RiskApproved::new(order.clone()))
    }

    fn run(
        &self,
        strategy: &StrategyId,
        instrument: &Instrument,
        new: &NewOrder,
        e: &Exposure,
        mode: Mode,
    ) -> Result<(), Rejection> {
        let s = Subject { strategy, instrument };
        order::well_formed(&s, new)?;
        if !self.gate_open {
            return Err(s.reject(
                RejectCode::ReconciliationPending,
                format_args!("the trading gate is closed until start-up reconciliation has passed"),
            ));
        }
        if mode != (Mode::Amend { shrinks: true }) && !checks::reduces_risk(new, e) {
            self.latched(&s, new, e)?;
        }
        let a = Applicable::new(&self.config, strategy, instrument);
        order::allowed(&s, &self.config, &a)?;
        order::session(&s, &self.config, &a, new, e)?;
        order::reference(&s, &a, e)?;
        order::collar(&s, &a, new, e)?;
        order::max_order_quantity(&s, &a, new)?;
        order::max_order_notional(&s, &a, new, e)?;
        if mode == Mode::New {
            flow::rates(&s, &a, &self.flow, Message::NewOrder, e.now)?;
            flow::order_to_trade(&s, &self.config, &a, &self.flow, self.day_current(e.now))?;
            flow::duplicate(&s, &a, &self.flow, strategy, new, e.now)?;
            flow::window(&s, &self.config, &a, &self.flow, new, e)?;
        } else {
            flow::rates(&s, &a, &self.flow, Message::Amendment, e.now)?;
        }
        book::working_orders(&s, &a, new, e)?;
        book::self_cross(&s, &a, new, e)?;
        book::open_exposure(&s, &a, new, e)?;
        book::position(&s, &a, new, e)?;
        book::gross_net(&s, &a, new, e)?;
        book::buying_power(&s, &self.config, new, e)
    }

    /// R19 kill switches, then R12/R15 halts.
    fn latched(&self, s: &Subject<'_>, new: &NewOrder, e: &Exposure) -> Result<(), Rejection> {
        if let Some(scope) = self.latches.blocking(s.strategy) {
            return Err(Rejection::new(
                RejectCode::KillSwitch,
                format!(
                    "the {scope} kill switch is on and this {} {} does not reduce the position {} for strategy {} on {}",
                    new.side, new.quantity, e.position, s.strategy, s.instrument.symbol
                ),
            ));
        }
        if let Some(h) = self.latches.halt_of(s.strategy) {
            let whom = match &h.scope {
                HaltScope::Account => "the account".to_string(),
                HaltScope::Strategy(id) => format!("strategy {id}"),
            };
            return Err(s.reject(
                h.reason.code(),
                format_args!(
                    "{whom} is halted since {} ({}) until a person re-enables it; this {} {} does not reduce the position {}",
                    h.at, h.detail, new.side, new.quantity, e.position
                ),
            ));
        }
        Ok(())
    }

    /// Checks an amendment of a working `order` as if the amended remainder
    /// were a new order: `exposure` includes `order`'s own remaining quantity
    /// and notional, which are taken out first. Under a kill switch an
    /// amendment passes if it only lowers the quantity, or if the amended
    /// order reduces risk. Amendments count against the message rate only.
    pub fn check_amend(
        &self,
        strategy: &StrategyId,
        instrument: &Instrument,
        order: &Order,
        change: &Amendment,
        exposure: &Exposure,
    ) -> Result<RiskApproved<Amendment>, Rejection> {
        let subject = || format!("for strategy {strategy} on {}", instrument.symbol);
        let new_type = match (order.request.order_type, change.limit_price) {
            (t, None) => t,
            (OrderType::Limit { .. }, Some(limit)) => OrderType::Limit { limit },
            (OrderType::StopLimit { stop, .. }, Some(limit)) => OrderType::StopLimit { stop, limit },
            (t, Some(p)) => {
                return Err(Rejection::new(
                    RejectCode::InvalidAmendment,
                    format!("cannot set limit price {p} on a {} order {}", t.name(), subject()),
                ));
            }
        };
        let total = change.quantity.unwrap_or(order.request.quantity);
        if change.quantity.is_some() && total <= order.filled && total.is_positive() {
            return Err(Rejection::new(
                RejectCode::InvalidAmendment,
                format!(
                    "new quantity {total} is not above the filled {}: cancel the order instead {}",
                    order.filled,
                    subject()
                ),
            ));
        }
        let e = without_order(exposure, order);
        let mut resulting = order.request.clone();
        resulting.order_type = new_type;
        let old_remaining = order.remaining();
        resulting.quantity = if change.quantity.is_some() {
            total - order.filled
        } else {
            old_remaining
        };
        let shrinks = change.limit_price.is_none() && resulting.quantity <= old_remaining;
        self.run(strategy, instrument, &resulting, &e, Mode::Amend { shrinks })?;
        Ok(RiskApproved::new(*change))
    }

    fn day_current(&self, now: Timestamp) -> bool {
        self.day_end.is_none_or(|end| now < end)
    }

    /// Starts a new trading day at `now`: day P&L baselines, peaks and
    /// order-to-trade counts restart. Called automatically when an event
    /// crosses midnight in `day_timezone`.
    pub fn start_of_day(&mut self, now: Timestamp) {
        self.flow.roll_day();
        self.pnl.roll();
        self.day_end = Some(next_local_midnight(now, self.config.day_tz));
    }

    fn roll_if_needed(&mut self, now: Timestamp) {
        match self.day_end {
            None => self.day_end = Some(next_local_midnight(now, self.config.day_tz)),
            Some(end) if now >= end => self.start_of_day(now),
            Some(_) => {}
        }
    }

    /// Records an order the caller sent to the broker after
    /// [`Engine::check_new`] approved it (`exposure` as passed to the check).
    pub fn on_order_sent(
        &mut self,
        strategy: &StrategyId,
        instrument: &Instrument,
        order: &NewOrder,
        exposure: &Exposure,
    ) {
        let now = exposure.now;
        self.roll_if_needed(now);
        let limits = limits_of(&self.config, strategy, instrument);
        let notional = checks::valuation_price(order, exposure.reference_price)
            .map_or(Money::ZERO, |p| p.notional(order.quantity));
        let window = self.config.window_nanos();
        self.flow.each_mut(limits, strategy, instrument.id, |l, c| {
            c.day_orders += 1;
            let Some(l) = l else { return };
            if let Some(n) = l.max_orders_per_second {
                c.orders_sec.record(now, n);
            }
            if let Some(n) = l.max_orders_per_minute {
                c.orders_min.record(now, n);
            }
            if let Some(n) = l.max_messages_per_second {
                c.messages.record(now, n);
            }
            if l.max_window_quantity.is_some() || l.max_window_notional.is_some() {
                c.window.record(now, window, order.quantity, notional);
            }
        });
        let a = Applicable::new(&self.config, strategy, instrument);
        if let Some(ms) = a.largest(|l| l.duplicate_window_ms) {
            self.flow
                .strategy_mut(strategy)
                .recent
                .record(order, now, crate::config::millis_to_nanos(ms));
        }
    }

    /// Records an amendment sent to the broker (a message).
    pub fn on_amend_sent(&mut self, strategy: &StrategyId, instrument: &Instrument, now: Timestamp) {
        let limits = limits_of(&self.config, strategy, instrument);
        self.flow.each_mut(limits, strategy, instrument.id, |l, c| {
            if let Some(n) = l.and_then(|l| l.max_messages_per_second) {
                c.messages.record(now, n);
            }
        });
    }

    /// Records a cancel sent to the broker. Cancels are never refused, but
    /// they count as messages and towards `max_cancels_per_minute`.
    pub fn on_cancel_sent(&mut self, strategy: &StrategyId, instrument: &Instrument, now: Timestamp) {
        let limits = limits_of(&self.config, strategy, instrument);
        self.flow.each_mut(limits, strategy, instrument.id, |l, c| {
            let Some(l) = l else { return };
            if let Some(n) = l.max_messages_per_second {
                c.messages.record(now, n);
            }
            if let Some(n) = l.max_cancels_per_minute {
                c.cancels.record(now, n);
            }
        });
    }

    /// Records an execution. Returns the halt it caused, if any: more than
    /// `max_executions` within `execution_window_ms` halts the strategy
    /// (account limit: the account) until [`Engine::reenable`] (R15).
    pub fn on_fill(&mut self, fill: &Fill, instrument: &Instrument) -> Option<Halt> {
        let now = fill.ts;
        self.roll_if_needed(now);
        let limits = limits_of(&self.config, &fill.strategy, instrument);
        let w = self.config.execution_window_nanos();
        let mut tripped: Option<(Level, u32, usize)> = None;
        let mut level_idx = 0;
        self.flow.each_mut(limits, &fill.strategy, instrument.id, |l, c| {
            let level = [Level::Account, Level::Strategy, Level::Instrument][level_idx];
            level_idx += 1;
            c.day_fills += 1;
            if let Some(max) = l.and_then(|l| l.max_executions) {
                c.executions.record(now, max.saturating_add(1));
                if tripped.is_none() && c.executions.reaches(now, w, max.saturating_add(1)) {
                    tripped = Some((level, max, c.executions.count(now, w)));
                }
            }
        });
        let (level, max, count) = tripped?;
        let scope = match level {
            Level::Account => HaltScope::Account,
            Level::Strategy | Level::Instrument => HaltScope::Strategy(fill.strategy.clone()),
        };
        self.latches.halt(Halt {
            scope,
            reason: HaltReason::RepeatedExecutions,
            at: now,
            detail: format!(
                "{count} executions within {} ms, max {max} ({} limit, last on {})",
                self.config.raw.execution_window_ms,
                level.as_str(),
                instrument.symbol
            ),
        })
    }

    /// Records cumulative P&L (realised + unrealised, net of commissions) of
    /// the account or one strategy. Returns the halt it caused, if any: the
    /// day's loss beyond `max_daily_loss` or the fall from the day's peak
    /// beyond `max_drawdown` (the scope's own limits) halts that scope (R12).
    pub fn on_pnl(&mut self, scope: &HaltScope, total_pnl: Money, now: Timestamp) -> Option<Halt> {
        self.roll_if_needed(now);
        let (limits, day) = match scope {
            HaltScope::Account => (Some(&self.config.raw.account), &mut self.pnl.account),
            HaltScope::Strategy(id) => (
                self.config.strategies.get(id),
                self.pnl.strategies.entry(id.clone()).or_default(),
            ),
        };
        let (daily, drawdown) = day.update(total_pnl);
        let limits = limits?;
        let (reason, detail) = if let Some(max) = limits.max_daily_loss
            && -daily > max
        {
            (
                HaltReason::DailyLoss,
                format!("day's P&L {daily} is a loss beyond max daily loss {max}"),
            )
        } else if let Some(max) = limits.max_drawdown
            && drawdown > max
        {
            (
                HaltReason::Drawdown,
                format!("drawdown {drawdown} from the day's peak is beyond max drawdown {max}"),
            )
        } else {
            return None;
        };
        self.latches.halt(Halt {
            scope: scope.clone(),
            reason,
            at: now,
            detail,
        })
    }
}

fn limits_of<'c>(
    config: &'c RiskConfig,
    strategy: &StrategyId,
    instrument: &Instrument,
) -> [Option<&'c Limits>; 3] {
    [
        Some(&config.raw.account),
        config.strategies.get(strategy),
        config.raw.instruments.get(instrument.symbol.as_str()),
    ]
}

/// The exposure without `order`'s own remaining quantity and notional (for
/// amendments, which re-add it as amended).
fn without_order(exposure: &Exposure, order: &Order) -> Exposure {
    let mut e = *exposure;
    let rest = order.remaining();
    let t = order.request.order_type;
    let notional = t
        .limit_price()
        .or(t.stop_price())
        .or(e.reference_price)
        .map_or(Money::ZERO, |p| p.notional(rest));
    let sub = |m: Money| (m - notional).max(Money::ZERO);
    e.instrument_open_notional = sub(e.instrument_open_notional);
    e.strategy_open_notional = sub(e.strategy_open_notional);
    e.account_open_notional = sub(e.account_open_notional);
    e.instrument_working = e.instrument_working.saturating_sub(1);
    e.strategy_working = e.strategy_working.saturating_sub(1);
    e.account_working = e.account_working.saturating_sub(1);
    match order.request.side {
        Side::Buy => {
            e.open_buy = (e.open_buy - rest).max(Quantity::ZERO);
            e.account_open_buy = (e.account_open_buy - rest).max(Quantity::ZERO);
            e.working_buys = e.working_buys.saturating_sub(1);
            if let Some(p) = t.limit_price().or(t.stop_price()) {
                e.open_buy_notional = (e.open_buy_notional - p.notional(rest)).max(Money::ZERO);
            }
        }
        Side::Sell => {
            e.open_sell = (e.open_sell - rest).max(Quantity::ZERO);
            e.account_open_sell = (e.account_open_sell - rest).max(Quantity::ZERO);
            e.working_sells = e.working_sells.saturating_sub(1);
        }
    }
    e
}
