//! The paper broker: a simulated venue that fills orders against market data
//! with the rules of backtesting.py.
//!
//! # Rules
//!
//! - **Acknowledgement.** `submit` emits [`BrokerEvent::Accepted`] at once.
//!   Tick and lot sizes come from [`PaperBroker::with_instruments`]; an
//!   instrument it was not told about trades like an equity (tick 0.01, lot 1).
//! - **No look-ahead.** An order is only eligible for bars (and ticks) with
//!   `ts > ` the time it was submitted or last amended. The engine delivers a
//!   bar once it has closed and its `ts` is the bar's opening time, so an
//!   order placed while handling bar *t* first meets bar *t + 1*.
//! - **Market** orders fill at the next eligible bar's open
//!   ([`FillTiming::NextOpen`]), or immediately at the close of the last bar
//!   seen for the instrument ([`FillTiming::SameClose`], backtesting.py's
//!   `trade_on_close`; without a bar yet they wait for the next open).
//! - **Limit** buy: the open if `open ≤ limit` (a gap through the limit
//!   fills at the better open), else the limit if `low ≤ limit`. Sells mirrored.
//! - **Stop** buy: the open if `open ≥ stop` (a gap fills at the worse
//!   open), else the stop if `high ≥ stop`. Sells mirrored.
//! - **Stop-limit**: triggers like a stop, then fills like a limit in the
//!   same bar when reachable: at the trigger price if it is within the limit;
//!   after a gap at the open, at the limit if the rest of the bar reaches it;
//!   after an intra-bar trigger beyond the limit the path is unknown, so it
//!   waits and works as a plain limit order from the next bar.
//! - **Slippage**: market and triggered-stop fills are `slippage_ticks` ticks
//!   worse (never below one tick); limit fills are never worse than the limit.
//! - **Partial fills**: with `max_volume_participation`, one bar fills at
//!   most `volume × participation` (rounded down to the lot size) across all
//!   orders of the instrument, in order-id order; the rest keeps working.
//! - **Time in force**: IOC fills what it can on its first eligible bar and
//!   the rest is cancelled; FOK fills completely on its first eligible bar or
//!   is cancelled without a fill; DAY orders expire ([`BrokerEvent::Expired`])
//!   when a bar or tick of a later UTC calendar day arrives; GTC stays.
//! - **Ticks**: a trade fills at the trade price, a quote at the far side
//!   (buys at the ask, sells at the bid), by the same limit/stop rules.
//! - **Commission** per fill: `max(minimum, notional × rate + quantity × per_unit)`.
//! - **Cancels** are immediate ([`BrokerEvent::Cancelled`]); a cancel of an
//!   unknown or finished order yields [`BrokerEvent::CancelRejected`]. An
//!   amendment of an unknown or finished order is a [`BrokerError`].
//! - Execution ids are deterministic: `P-1`, `P-2`, …; a broker resumed
//!   after a restart ([`PaperBroker::resume`]) continues after the last one.

mod config;
mod ledger;
mod matching;

use std::collections::BTreeSet;

use wasmtrade_model::{
    Bar, BrokerEvent, CollectionSize, Fill, InstrumentId, Instruments, NewOrder, OrderId, OrderType, Price,
    Quantity, SCALE, Side, StrategyId, Tick, TickData, TimeInForce, Timestamp,
};
use wasmtrade_risk::{Amendment, RiskApproved};

pub use config::{Commission, FillTiming, PaperConfig, PaperConfigError, PaperConfigProblem};

use crate::{Broker, BrokerError};
use matching::Execution;

/// A working order at the paper venue.
#[derive(Clone, Debug)]
struct Working {
    id: OrderId,
    strategy: StrategyId,
    order: NewOrder,
    /// Submit or last amend time: only later data may fill it.
    since: Timestamp,
    filled: Quantity,
    triggered: bool,
    done: bool,
}

impl Working {
    fn remaining(&self) -> Quantity {
        self.order.quantity - self.filled
    }
}

/// Tick and lot size of an instrument.
#[derive(Clone, Copy, Debug)]
struct Increments {
    tick: Price,
    lot: Quantity,
}

/// A simulated broker (see the module docs for the rules).
#[derive(Clone, Debug)]
pub struct PaperBroker {
    config: PaperConfig,
    increments: Vec<Increments>,
    working: Vec<Working>,
    known: BTreeSet<OrderId>,
    last_bar: Vec<Option<Bar>>,
    events: Vec<BrokerEvent>,
    next_exec: u64,
    /// The highest order id released ([`Broker::release_finished`]): ids up
    /// to it that are not working are finished orders.
    released_through: u64,
    ledger: ledger::Ledger,
}

const SECS_PER_DAY: i64 = 86_400;

/// Increments of an instrument the broker was not told about.
const EQUITY: Increments = Increments {
    tick: Price::from_raw(10_000_000),
    lot: Quantity::ONE,
};

fn utc_day(ts: Timestamp) -> i64 {
    ts.secs().div_euclid(SECS_PER_DAY)
}

impl PaperBroker {
    /// A paper venue. Validate untrusted settings first with
    /// [`PaperConfig::validate`] (or use [`PaperBroker::try_new`]).
    pub fn new(config: PaperConfig) -> Self {
        Self {
            config,
            increments: Vec::new(),
            working: Vec::new(),
            known: BTreeSet::new(),
            last_bar: Vec::new(),
            events: Vec::new(),
            next_exec: 1,
            released_through: 0,
            ledger: ledger::Ledger::default(),
        }
    }

    /// Reports cash from `cash` on in [`Broker::report`] (without it the
    /// report carries no cash).
    pub fn with_starting_cash(mut self, cash: wasmtrade_model::Money) -> Self {
        self.ledger.set_starting_cash(cash);
        self
    }

    /// Continues the books of a paper venue that stopped with the runtime
    /// (the in-process broker restarts with it). `orders` are the journaled
    /// orders (id and quantity) and `fills` the journaled executions:
    /// positions, cash and executions are booked again, and new execution
    /// ids continue after the highest `P-<n>` among them. Without that a
    /// fill after the restart would reuse an id the order book already
    /// holds, be dropped there as a re-sent duplicate, and leave its order
    /// `accepted` forever. Working orders are not restored: they died with
    /// the process, and start-up reconciliation ends them.
    pub fn resume<'a>(
        mut self,
        orders: impl IntoIterator<Item = (OrderId, Quantity)>,
        fills: impl IntoIterator<Item = &'a Fill>,
    ) -> Self {
        for (id, quantity) in orders {
            self.known.insert(id);
            self.ledger.quantity(id, quantity);
        }
        for fill in fills {
            if let Some(n) = fill
                .exec_id
                .strip_prefix("P-")
                .and_then(|n| n.parse::<u64>().ok())
            {
                self.next_exec = self.next_exec.max(n.saturating_add(1));
            }
            self.known.insert(fill.order_id);
            self.ledger.observe(&BrokerEvent::Filled(fill.clone()));
        }
        self
    }

    /// Continues the books of a paper venue from a checkpoint of the
    /// account instead of from every journaled order: its net `positions`
    /// and `cash`, execution ids continuing after `P-<exec_floor>`, and
    /// order ids up to `released_through` counted as finished. Call
    /// [`PaperBroker::with_starting_cash`] first; the journal records after
    /// the checkpoint then go through [`PaperBroker::resume`].
    pub fn resume_from_checkpoint(
        mut self,
        positions: impl IntoIterator<Item = (InstrumentId, Quantity)>,
        cash: wasmtrade_model::Money,
        exec_floor: u64,
        released_through: u64,
    ) -> Self {
        self.ledger.restore(positions, cash);
        self.next_exec = self.next_exec.max(exec_floor.saturating_add(1));
        self.released_through = self.released_through.max(released_through);
        self
    }

    /// The number of the last execution id handed out (`P-<n>`), 0 before the first.
    pub fn last_exec(&self) -> u64 {
        self.next_exec - 1
    }

    /// A paper venue for validated settings and `instruments`.
    pub fn try_new(config: PaperConfig, instruments: &Instruments) -> Result<Self, PaperConfigError> {
        config.validate()?;
        Ok(Self::new(config).with_instruments(instruments))
    }

    /// Uses the tick and lot sizes of `instruments` (slippage, participation rounding).
    pub fn with_instruments(mut self, instruments: &Instruments) -> Self {
        self.increments = instruments
            .iter()
            .map(|i| Increments {
                tick: i.tick_size,
                lot: i.lot_size,
            })
            .collect();
        self
    }

    /// The settings.
    pub fn config(&self) -> &PaperConfig {
        &self.config
    }

    /// Number of orders still working.
    pub fn working_count(&self) -> usize {
        self.working.len()
    }

    fn increments(&self, id: InstrumentId) -> Increments {
        self.increments.get(id.0 as usize).copied().unwrap_or(EQUITY)
    }

    /// The fill budget of one bar or tick of `size`, or `None` for unlimited.
    fn budget(&self, instrument: InstrumentId, size: Quantity) -> Option<Quantity> {
        let rate = self.config.max_volume_participation?;
        let raw = i128::from(size.raw()) * i128::from(rate.raw()) / i128::from(SCALE);
        let q = Quantity::from_raw(i64::try_from(raw).unwrap_or(i64::MAX));
        let lot = self.increments(instrument).lot;
        Some(if lot.is_positive() {
            Quantity::from_raw(q.raw() - q.raw() % lot.raw())
        } else {
            q
        })
    }

    fn slipped(&self, instrument: InstrumentId, side: Side, price: Price) -> Price {
        let ticks = i64::from(self.config.slippage_ticks);
        if ticks == 0 {
            return price;
        }
        let inc = self.increments(instrument);
        let delta = Price::from_raw(inc.tick.raw().saturating_mul(ticks));
        match side {
            Side::Buy => price + delta,
            Side::Sell => (price - delta).max(inc.tick),
        }
    }

    fn fill(&mut self, idx: usize, quantity: Quantity, price: Price, ts: Timestamp) {
        let exec_id = format!("P-{}", self.next_exec);
        self.next_exec += 1;
        let w = &mut self.working[idx];
        w.filled += quantity;
        let commission = self.config.commission.of(quantity, price);
        self.events.push(BrokerEvent::Filled(Fill {
            order_id: w.id,
            strategy: w.strategy.clone(),
            client_id: w.order.client_id.clone(),
            instrument: w.order.instrument,
            side: w.order.side,
            quantity,
            price,
            commission,
            ts,
            exec_id,
        }));
        if w.remaining().is_zero() {
            w.done = true;
        }
    }

    fn finish(&mut self, idx: usize, event: BrokerEvent) {
        self.working[idx].done = true;
        self.events.push(event);
    }

    /// Expires DAY orders submitted on an earlier UTC day than `ts`.
    fn expire_day_orders(&mut self, ts: Timestamp) {
        let day = utc_day(ts);
        for idx in 0..self.working.len() {
            let w = &self.working[idx];
            if !w.done && w.order.tif == TimeInForce::Day && utc_day(w.since) < day {
                let order_id = w.id;
                self.finish(idx, BrokerEvent::Expired { order_id, ts });
            }
        }
    }

    /// Matches the instrument's eligible orders at `ts`, given an execution
    /// rule per order (`None`: the order does not take part) and the
    /// participation budget.
    fn match_orders(
        &mut self,
        instrument: InstrumentId,
        ts: Timestamp,
        mut budget: Option<Quantity>,
        rule: impl Fn(&Working) -> Option<Execution>,
    ) {
        for idx in 0..self.working.len() {
            let w = &self.working[idx];
            if w.done || w.order.instrument != instrument || ts <= w.since {
                continue;
            }
            let (side, tif, remaining) = (w.order.side, w.order.tif, w.remaining());
            let Some(execution) = rule(w) else { continue };
            match execution {
                Execution::Fill { price, market_like } => {
                    let price = if market_like {
                        self.slipped(instrument, side, price)
                    } else {
                        price
                    };
                    let qty = budget.map_or(remaining, |b| b.min(remaining));
                    let fok_short = tif == TimeInForce::Fok && qty < remaining;
                    if qty.is_positive() && !fok_short {
                        self.fill(idx, qty, price, ts);
                        if let Some(b) = budget.as_mut() {
                            *b -= qty;
                        }
                    }
                }
                Execution::Triggered => self.working[idx].triggered = true,
                Execution::None => {}
            }
            let w = &self.working[idx];
            if !w.done && matches!(tif, TimeInForce::Ioc | TimeInForce::Fok) {
                let order_id = w.id;
                self.finish(idx, BrokerEvent::Cancelled { order_id, ts });
            }
        }
        self.working.retain(|w| !w.done);
    }

    fn index_of(&self, id: OrderId) -> Result<usize, BrokerError> {
        match self.working.binary_search_by_key(&id, |w| w.id) {
            Ok(i) => Ok(i),
            Err(_) if self.known.contains(&id) || id.0 <= self.released_through => {
                Err(BrokerError::OrderFinished { id })
            }
            Err(_) => Err(BrokerError::UnknownOrder { id }),
        }
    }
}

impl Broker for PaperBroker {
    fn submit(
        &mut self,
        id: OrderId,
        strategy: &StrategyId,
        order: &RiskApproved<NewOrder>,
        ts: Timestamp,
    ) -> Result<(), BrokerError> {
        if id.0 <= self.released_through || !self.known.insert(id) {
            return Err(BrokerError::DuplicateOrderId { id });
        }
        let order = order.get();
        self.ledger.quantity(id, order.quantity);
        self.events.push(BrokerEvent::Accepted { order_id: id, ts });
        let working = Working {
            id,
            strategy: strategy.clone(),
            order: order.clone(),
            since: ts,
            filled: Quantity::ZERO,
            triggered: false,
            done: false,
        };
        let pos = self.working.partition_point(|w| w.id < id);
        self.working.insert(pos, working);
        if self.config.fill_timing == FillTiming::SameClose
            && order.order_type == OrderType::Market
            && let Some(bar) = self.last_bar.get(order.instrument.0 as usize).copied().flatten()
            && bar.ts <= ts
        {
            // Trade on the close of the bar that produced the order.
            let budget = self.budget(bar.instrument, bar.volume);
            let close = bar.close;
            let instrument = bar.instrument;
            // Eligible now: pretend the order was placed just before the close.
            self.working[pos].since = Timestamp::from_nanos(ts.nanos().saturating_sub(1));
            self.match_orders(instrument, ts, budget, |w| {
                (w.id == id).then_some(Execution::Fill {
                    price: close,
                    market_like: true,
                })
            });
        }
        Ok(())
    }

    fn cancel(&mut self, id: OrderId, ts: Timestamp) -> Result<(), BrokerError> {
        match self.index_of(id) {
            Ok(idx) => {
                self.working.remove(idx);
                self.events.push(BrokerEvent::Cancelled { order_id: id, ts });
            }
            Err(e) => self.events.push(BrokerEvent::CancelRejected {
                order_id: id,
                reason: e.to_string(),
                ts,
            }),
        }
        Ok(())
    }

    fn amend(
        &mut self,
        id: OrderId,
        change: &RiskApproved<Amendment>,
        ts: Timestamp,
    ) -> Result<(), BrokerError> {
        let idx = self.index_of(id)?;
        let change = change.get();
        let w = &self.working[idx];
        let new_type = match (w.order.order_type, change.limit_price) {
            (t, None) => t,
            (OrderType::Limit { .. }, Some(limit)) => OrderType::Limit { limit },
            (OrderType::StopLimit { stop, .. }, Some(limit)) => OrderType::StopLimit { stop, limit },
            (t, Some(_)) => {
                return Err(BrokerError::Refused {
                    id,
                    reason: format!("a {} order has no limit price to amend", t.name()),
                });
            }
        };
        if let Some(q) = change.quantity
            && q <= w.filled
        {
            return Err(BrokerError::Refused {
                id,
                reason: format!("new quantity {q} is not above the filled {}", w.filled),
            });
        }
        let w = &mut self.working[idx];
        w.order.order_type = new_type;
        if let Some(q) = change.quantity {
            w.order.quantity = q;
            self.ledger.quantity(id, q);
        }
        w.since = w.since.max(ts);
        Ok(())
    }

    fn on_bar(&mut self, bar: &Bar) {
        let slot = bar.instrument.0 as usize;
        if self.last_bar.len() <= slot {
            self.last_bar.resize(slot + 1, None);
        }
        self.last_bar[slot] = Some(*bar);
        if self.working.is_empty() {
            return;
        }
        self.expire_day_orders(bar.ts);
        let budget = self.budget(bar.instrument, bar.volume);
        self.match_orders(bar.instrument, bar.ts, budget, |w| {
            Some(matching::on_bar(
                w.order.side,
                w.order.order_type,
                w.triggered,
                bar,
            ))
        });
    }

    fn on_tick(&mut self, tick: &Tick) {
        if self.working.is_empty() {
            return;
        }
        self.expire_day_orders(tick.ts);
        let (buy_px, sell_px, buy_size, sell_size) = match tick.data {
            TickData::Trade { price, size } => (price, price, size, size),
            TickData::Quote {
                bid,
                bid_size,
                ask,
                ask_size,
            } => (ask, bid, ask_size, bid_size),
        };
        // Buys and sells draw on their own side's size.
        for (side, price, size) in [(Side::Buy, buy_px, buy_size), (Side::Sell, sell_px, sell_size)] {
            let budget = self.budget(tick.instrument, size);
            self.match_orders(tick.instrument, tick.ts, budget, |w| {
                (w.order.side == side)
                    .then(|| matching::at_price(side, w.order.order_type, w.triggered, price))
            });
        }
    }

    fn poll(&mut self, out: &mut Vec<BrokerEvent>) {
        for event in &self.events {
            self.ledger.observe(event);
        }
        out.append(&mut self.events);
    }

    fn report(
        &mut self,
        _known: &[OrderId],
        _timeout: std::time::Duration,
    ) -> Result<crate::VenueReport, BrokerError> {
        // Include what happened but was not polled yet (booked for good by
        // the next poll).
        let mut ledger = self.ledger.clone();
        for event in &self.events {
            ledger.observe(event);
        }
        Ok(ledger.report())
    }

    fn collection_sizes(&self) -> Vec<CollectionSize> {
        let mut sizes = vec![
            CollectionSize::new("paper.working", self.working.len()),
            CollectionSize::new("paper.known", self.known.len()),
            CollectionSize::new("paper.events", self.events.len()),
        ];
        sizes.extend(self.ledger.collection_sizes());
        sizes
    }

    fn release_finished(&mut self) {
        for id in self.ledger.release_finished() {
            if self.working.binary_search_by_key(&id, |w| w.id).is_err() {
                self.known.remove(&id);
                self.released_through = self.released_through.max(id.0);
            }
        }
    }
}
