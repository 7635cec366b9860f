//! Flow state: what was sent and executed recently, at each level (the
//! account, each strategy, each strategy in each instrument), fed by the
//! engine's `on_*` calls and read by the flow checks (R8, R13–R16).
//!
//! Counters only keep what a configured limit needs (a rate limit of `n`
//! keeps the last `n` timestamps), so a flood cannot grow them.

use std::collections::{BTreeMap, VecDeque};

use wasmtrade_model::{InstrumentId, NewOrder, OrderType, Price, Quantity, Side, StrategyId, Timestamp};

use crate::checks::Level;
use crate::config::Limits;
use crate::window::{SlidingCount, SlidingSum};

/// One second and one minute, in nanoseconds.
pub(crate) const SECOND: i64 = Timestamp::NANOS_PER_SEC;
pub(crate) const MINUTE: i64 = 60 * SECOND;

/// What happened at one level.
#[derive(Clone, Debug, Default)]
pub(crate) struct Counters {
    /// New orders (R13, per second).
    pub(crate) orders_sec: SlidingCount,
    /// New orders (R13, per minute).
    pub(crate) orders_min: SlidingCount,
    /// Orders, amendments and cancels (R13, per second).
    pub(crate) messages: SlidingCount,
    /// Cancels (R13, per minute).
    pub(crate) cancels: SlidingCount,
    /// Quantity and notional sent (R8).
    pub(crate) window: SlidingSum,
    /// Executions (R15).
    pub(crate) executions: SlidingCount,
    /// Orders sent today (R14).
    pub(crate) day_orders: u64,
    /// Executions today (R14).
    pub(crate) day_fills: u64,
}

/// What makes two orders duplicates (R16): instrument, side, quantity, type and prices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct RecentKey {
    instrument: InstrumentId,
    side: Side,
    quantity: Quantity,
    kind: u8,
    limit: Option<Price>,
    stop: Option<Price>,
}

impl RecentKey {
    pub(crate) fn of(order: &NewOrder) -> Self {
        let t = order.order_type;
        Self {
            instrument: order.instrument,
            side: order.side,
            quantity: order.quantity,
            kind: match t {
                OrderType::Market => 0,
                OrderType::Limit { .. } => 1,
                OrderType::Stop { .. } => 2,
                OrderType::StopLimit { .. } => 3,
            },
            limit: t.limit_price(),
            stop: t.stop_price(),
        }
    }
}

/// The strategy's recently sent orders: in time order (to expire them) and
/// by key (to find a duplicate in `O(log n)`).
#[derive(Clone, Debug, Default)]
pub(crate) struct RecentOrders {
    queue: VecDeque<(Timestamp, RecentKey)>,
    last: BTreeMap<RecentKey, Timestamp>,
}

impl RecentOrders {
    /// When an order like `order` was last sent, if within `window_nanos` of `now`.
    pub(crate) fn find(&self, order: &NewOrder, now: Timestamp, window_nanos: i64) -> Option<Timestamp> {
        if self.last.is_empty() {
            return None;
        }
        self.last
            .get(&RecentKey::of(order))
            .copied()
            .filter(|t| now.since(*t) < window_nanos)
    }

    /// Records `order` and forgets the orders older than the window.
    pub(crate) fn record(&mut self, order: &NewOrder, now: Timestamp, window_nanos: i64) {
        while let Some((ts, key)) = self.queue.front().copied() {
            if now.since(ts) < window_nanos {
                break;
            }
            self.queue.pop_front();
            if self.last.get(&key) == Some(&ts) {
                self.last.remove(&key);
            }
        }
        let key = RecentKey::of(order);
        self.queue.push_back((now, key));
        self.last.insert(key, now);
    }
}

/// One strategy's flow.
#[derive(Clone, Debug, Default)]
pub(crate) struct StrategyFlow {
    pub(crate) counters: Counters,
    pub(crate) instruments: BTreeMap<InstrumentId, Counters>,
    pub(crate) recent: RecentOrders,
}

/// The flow of the whole account.
#[derive(Clone, Debug, Default)]
pub(crate) struct Flow {
    pub(crate) account: Counters,
    pub(crate) strategies: BTreeMap<StrategyId, StrategyFlow>,
}

impl Flow {
    /// The counters of one level, if anything was recorded there.
    pub(crate) fn counters(
        &self,
        level: Level,
        strategy: &StrategyId,
        instrument: InstrumentId,
    ) -> Option<&Counters> {
        match level {
            Level::Account => Some(&self.account),
            Level::Strategy => self.strategies.get(strategy).map(|f| &f.counters),
            Level::Instrument => self
                .strategies
                .get(strategy)
                .and_then(|f| f.instruments.get(&instrument)),
        }
    }

    /// The strategy's flow, created on first use.
    pub(crate) fn strategy_mut(&mut self, strategy: &StrategyId) -> &mut StrategyFlow {
        self.strategies.entry(strategy.clone()).or_default()
    }

    /// Calls `f` with each level's limits (if configured) and counters.
    pub(crate) fn each_mut(
        &mut self,
        limits: [Option<&Limits>; 3],
        strategy: &StrategyId,
        instrument: InstrumentId,
        mut f: impl FnMut(Option<&Limits>, &mut Counters),
    ) {
        f(limits[0], &mut self.account);
        let sf = self.strategy_mut(strategy);
        f(limits[1], &mut sf.counters);
        f(limits[2], sf.instruments.entry(instrument).or_default());
    }

    /// A new trading day: the day counters restart.
    pub(crate) fn roll_day(&mut self) {
        let reset = |c: &mut Counters| {
            c.day_orders = 0;
            c.day_fills = 0;
        };
        reset(&mut self.account);
        for sf in self.strategies.values_mut() {
            reset(&mut sf.counters);
            sf.instruments.values_mut().for_each(reset);
        }
    }
}
