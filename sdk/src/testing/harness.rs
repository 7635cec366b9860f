//! [`Harness`]: runs a strategy natively over bars with a simulated broker.

use std::collections::BTreeMap;

use super::MockContext;
use crate::{
    Bar, Context, Error, Fill, InstrumentId, NewOrder, OrderIntent, OrderType, Position, Reject, Side,
    Strategy, Tick, Timestamp, parse_config,
};

/// Nanoseconds between the bars made by [`bars_from_closes`] (one minute).
pub const BAR_NANOS: Timestamp = 60_000_000_000;

/// Bars with the given closes on one instrument, one minute apart from time 0:
/// each opens at the previous close (the first at its own close), high and
/// low span open and close, volume 1000.
pub fn bars_from_closes(instrument: InstrumentId, closes: &[f64]) -> Vec<Bar> {
    let mut prev = closes.first().copied().unwrap_or_default();
    closes
        .iter()
        .zip(0..)
        .map(|(&close, i): (&f64, i64)| {
            let open = prev;
            prev = close;
            Bar {
                instrument,
                ts: i * BAR_NANOS,
                open,
                high: open.max(close),
                low: open.min(close),
                close,
                volume: 1000.0,
            }
        })
        .collect()
}

/// Drives a [`Strategy`] natively: builds it from JSON configuration, feeds
/// it bars (and ticks, timers, rejects), and by default plays the broker.
///
/// With simulated fills on (the default), a market order fills in full at the
/// next bar's open of its instrument, a limit order when a later bar trades
/// through its price (at the better of open and limit), a stop order likewise
/// at the worse of open and stop; stop-limit orders stay working. Fills
/// update the [`MockContext`] (position, average price, cash, realised P&L),
/// the account is marked to each bar's close before `on_bar`, and the
/// strategy's `on_fill` runs. Timers set through the context fire before the
/// `on_bar` of the first bar at or after their time.
///
/// ```
/// use wasmtrade_sdk::testing::{Harness, bars_from_closes};
/// use wasmtrade_sdk::*;
///
/// /// Buys 1 on the first bar, never again.
/// struct Once { done: bool }
/// impl Strategy for Once {
///     type Config = ();
///     const NAME: &'static str = "once";
///     const VERSION: &'static str = "0.1.0";
///     fn new(_: (), _: &mut dyn Context) -> Result<Self, Error> { Ok(Once { done: false }) }
///     fn on_bar(&mut self, _: &mut dyn Context, bar: &Bar) -> Intents {
///         if std::mem::replace(&mut self.done, true) { return Ok(vec![]) }
///         Ok(vec![OrderIntent::market("o-1", bar.instrument, Side::Buy, 1.0)])
///     }
/// }
///
/// let mut h = Harness::<Once>::new("null").unwrap();
/// h.run(bars_from_closes(InstrumentId(0), &[10.0, 11.0, 12.0])).unwrap();
/// assert_eq!(h.orders().len(), 1);
/// assert_eq!(h.fills()[0].price, 10.0); // the second bar opens at the first close
/// assert_eq!(h.context().position(InstrumentId(0)).quantity, 1.0);
/// ```
pub struct Harness<S: Strategy> {
    strategy: S,
    ctx: MockContext,
    config: String,
    simulate_fills: bool,
    commission: f64,
    working: Vec<NewOrder>,
    last_close: BTreeMap<InstrumentId, f64>,
    steps: Vec<Vec<OrderIntent>>,
    fills: Vec<Fill>,
}

impl<S: Strategy> Harness<S> {
    /// Builds the strategy from JSON configuration with a fresh [`MockContext`].
    pub fn new(config: &str) -> Result<Self, Error> {
        Self::with_context(MockContext::new(), config)
    }

    /// Builds the strategy from JSON configuration with the given context.
    pub fn with_context(mut ctx: MockContext, config: &str) -> Result<Self, Error> {
        let strategy = S::new(parse_config(config)?, &mut ctx)?;
        Ok(Self {
            strategy,
            ctx,
            config: config.to_string(),
            simulate_fills: true,
            commission: 0.0,
            working: Vec::new(),
            last_close: BTreeMap::new(),
            steps: Vec::new(),
            fills: Vec::new(),
        })
    }

    /// Turns the simulated broker off: intents are only recorded.
    pub fn without_fills(mut self) -> Self {
        self.simulate_fills = false;
        self
    }

    /// Charges a flat commission per simulated fill.
    pub fn with_commission(mut self, commission: f64) -> Self {
        self.commission = commission;
        self
    }

    /// Feeds one bar: fills working orders at it, fires due timers, marks the
    /// account and calls `on_bar`. Returns every intent of the step.
    pub fn bar(&mut self, bar: Bar) -> Result<Vec<OrderIntent>, Error> {
        self.ctx.now = bar.ts;
        let mut step = Vec::new();
        if self.simulate_fills {
            self.fill_working(&bar, &mut step)?;
        }
        self.last_close.insert(bar.instrument, bar.close);
        self.mark();
        for (name, at) in self.due_timers(bar.ts) {
            let intents = self.strategy.on_timer(&mut self.ctx, &name, at)?;
            self.accept(intents, &mut step);
        }
        let intents = self.strategy.on_bar(&mut self.ctx, &bar)?;
        self.accept(intents, &mut step);
        self.steps.push(step.clone());
        Ok(step)
    }

    /// Feeds bars in order; returns the intents of each step.
    pub fn run(&mut self, bars: impl IntoIterator<Item = Bar>) -> Result<Vec<Vec<OrderIntent>>, Error> {
        bars.into_iter().map(|b| self.bar(b)).collect()
    }

    /// Feeds a tick (no simulated fills).
    pub fn tick(&mut self, tick: &Tick) -> Result<Vec<OrderIntent>, Error> {
        self.ctx.now = tick.ts;
        let intents = self.strategy.on_tick(&mut self.ctx, tick)?;
        Ok(self.record(intents))
    }

    /// Delivers a fill as if the broker reported it: updates the context and calls `on_fill`.
    pub fn fill(&mut self, fill: Fill) -> Result<Vec<OrderIntent>, Error> {
        let mut step = Vec::new();
        self.apply(fill, &mut step)?;
        self.steps.push(step.clone());
        Ok(step)
    }

    /// Delivers a rejection (the order, if working, is dropped) and calls `on_reject`.
    pub fn reject(&mut self, reject: &Reject) -> Result<Vec<OrderIntent>, Error> {
        self.working.retain(|o| o.client_id != reject.client_id);
        let intents = self.strategy.on_reject(&mut self.ctx, reject)?;
        Ok(self.record(intents))
    }

    /// Calls `on_timer` directly.
    pub fn timer(&mut self, name: &str, ts: Timestamp) -> Result<Vec<OrderIntent>, Error> {
        self.ctx.timers.remove(name);
        let intents = self.strategy.on_timer(&mut self.ctx, name, ts)?;
        Ok(self.record(intents))
    }

    /// The strategy's snapshot.
    pub fn snapshot(&self) -> Result<Vec<u8>, Error> {
        self.strategy.snapshot()
    }

    /// Restores the strategy from a snapshot.
    pub fn restore(&mut self, state: &[u8]) -> Result<(), Error> {
        self.strategy.restore(state)
    }

    /// A hot swap: snapshots the strategy, builds a new instance from the same
    /// configuration and context, and restores the snapshot into it. The
    /// simulated broker (working orders, positions) carries on untouched.
    pub fn reload(&mut self) -> Result<(), Error> {
        let state = self.strategy.snapshot()?;
        let mut fresh = S::new(parse_config(&self.config)?, &mut self.ctx)?;
        fresh.restore(&state)?;
        self.strategy = fresh;
        Ok(())
    }

    /// The strategy.
    pub fn strategy(&self) -> &S {
        &self.strategy
    }
    /// The strategy, mutably.
    pub fn strategy_mut(&mut self) -> &mut S {
        &mut self.strategy
    }
    /// The context.
    pub fn context(&self) -> &MockContext {
        &self.ctx
    }
    /// The context, mutably (e.g. to set indicator values before a bar).
    pub fn context_mut(&mut self) -> &mut MockContext {
        &mut self.ctx
    }
    /// Intents of every step so far (one entry per bar, fill, tick, timer or reject fed).
    pub fn steps(&self) -> &[Vec<OrderIntent>] {
        &self.steps
    }
    /// Every order submitted so far, in order.
    pub fn orders(&self) -> Vec<&NewOrder> {
        self.steps
            .iter()
            .flatten()
            .filter_map(OrderIntent::as_submit)
            .collect()
    }
    /// Every fill delivered so far, in order.
    pub fn fills(&self) -> &[Fill] {
        &self.fills
    }
    /// Orders the simulated broker still holds.
    pub fn working(&self) -> &[NewOrder] {
        &self.working
    }

    fn record(&mut self, intents: Vec<OrderIntent>) -> Vec<OrderIntent> {
        let mut step = Vec::new();
        self.accept(intents, &mut step);
        self.steps.push(step.clone());
        step
    }

    fn accept(&mut self, intents: Vec<OrderIntent>, step: &mut Vec<OrderIntent>) {
        if self.simulate_fills {
            for intent in &intents {
                self.route(intent);
            }
        }
        step.extend(intents);
    }

    fn route(&mut self, intent: &OrderIntent) {
        match intent {
            OrderIntent::Submit(o) => self.working.push(o.clone()),
            OrderIntent::Cancel(id) => self.working.retain(|o| &o.client_id != id),
            OrderIntent::Amend {
                client_id,
                quantity,
                limit_price,
            } => {
                for o in self.working.iter_mut().filter(|o| &o.client_id == client_id) {
                    if let Some(q) = quantity {
                        o.quantity = *q;
                    }
                    if let (OrderType::Limit(l) | OrderType::StopLimit { limit: l, .. }, Some(p)) =
                        (&mut o.order_type, limit_price)
                    {
                        *l = *p;
                    }
                }
            }
        }
    }

    fn fill_working(&mut self, bar: &Bar, step: &mut Vec<OrderIntent>) -> Result<(), Error> {
        let (due, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.working)
            .into_iter()
            .map(|o| {
                let price = if o.instrument == bar.instrument {
                    execution_price(&o, bar)
                } else {
                    None
                };
                (o, price)
            })
            .partition(|(_, p)| p.is_some());
        self.working = keep.into_iter().map(|(o, _)| o).collect();
        for (o, price) in due {
            let fill = Fill {
                client_id: o.client_id,
                instrument: o.instrument,
                side: o.side,
                quantity: o.quantity,
                price: price.unwrap_or(bar.open),
                commission: self.commission,
                ts: bar.ts,
            };
            self.apply(fill, step)?;
        }
        Ok(())
    }

    fn apply(&mut self, fill: Fill, step: &mut Vec<OrderIntent>) -> Result<(), Error> {
        let pos = self.ctx.position(fill.instrument);
        let signed = fill.side.signed(fill.quantity);
        let next = pos.quantity + signed;
        let mut updated = Position {
            quantity: next,
            ..pos
        };
        if pos.quantity == 0.0 || pos.quantity.signum() == signed.signum() {
            updated.average_price =
                (pos.average_price * pos.quantity.abs() + fill.price * fill.quantity) / next.abs();
        } else {
            let closed = fill.quantity.min(pos.quantity.abs());
            updated.realized_pnl += closed * (fill.price - pos.average_price) * pos.quantity.signum();
            if next == 0.0 {
                updated.average_price = 0.0;
            } else if next.signum() != pos.quantity.signum() {
                updated.average_price = fill.price;
            }
        }
        self.ctx.account.realized_pnl += updated.realized_pnl - pos.realized_pnl;
        self.ctx.account.cash -= signed * fill.price + fill.commission;
        self.ctx.set_position(updated);
        self.last_close.entry(fill.instrument).or_insert(fill.price);
        self.mark();
        self.fills.push(fill.clone());
        let intents = self.strategy.on_fill(&mut self.ctx, &fill)?;
        self.accept(intents, step);
        Ok(())
    }

    /// Values positions at the last close: unrealised P&L, equity, buying power.
    fn mark(&mut self) {
        let mut value = 0.0;
        let mut unrealized = 0.0;
        for p in self.ctx.positions.values_mut() {
            let last = self
                .last_close
                .get(&p.instrument)
                .copied()
                .unwrap_or(p.average_price);
            p.unrealized_pnl = p.quantity * (last - p.average_price);
            value += p.quantity * last;
            unrealized += p.unrealized_pnl;
        }
        let account = &mut self.ctx.account;
        account.unrealized_pnl = unrealized;
        account.equity = account.cash + value;
        account.buying_power = account.cash;
    }

    fn due_timers(&mut self, now: Timestamp) -> Vec<(String, Timestamp)> {
        let mut due: Vec<(String, Timestamp)> = self
            .ctx
            .timers
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(n, at)| (n.clone(), *at))
            .collect();
        due.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        for (name, _) in &due {
            self.ctx.timers.remove(name);
        }
        due
    }
}

/// The price at which the simulated broker fills `o` on `bar`, if it does.
fn execution_price(o: &NewOrder, bar: &Bar) -> Option<f64> {
    match (o.order_type, o.side) {
        (OrderType::Market, _) => Some(bar.open),
        (OrderType::Limit(l), Side::Buy) => (bar.low <= l).then(|| bar.open.min(l)),
        (OrderType::Limit(l), Side::Sell) => (bar.high >= l).then(|| bar.open.max(l)),
        (OrderType::Stop(s), Side::Buy) => (bar.high >= s).then(|| bar.open.max(s)),
        (OrderType::Stop(s), Side::Sell) => (bar.low <= s).then(|| bar.open.min(s)),
        (OrderType::StopLimit { .. }, _) => None,
    }
}
