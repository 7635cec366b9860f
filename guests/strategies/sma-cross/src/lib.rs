//! `sma-cross`: a long/flat moving-average crossover strategy guest.
//!
//! Buys at the market when the fast simple moving average of closes crosses
//! above the slow one while flat, and sells the whole position at the market
//! when it crosses back below while long. Each instrument (or only the one
//! named by `symbol`) is traded independently. Crosses follow the usual
//! definition: up when `fast > slow` after `fast <= slow` on the previous bar,
//! down when `fast < slow` after `fast >= slow`.
//!
//! Configuration (JSON):
//!
//! | field | | meaning |
//! |---|---|---|
//! | `fast` | required | fast window in bars, ≥ 1 |
//! | `slow` | required | slow window in bars, > `fast`, ≤ 100000 |
//! | `quantity` | optional | fixed order size |
//! | `fraction` | optional | else size = ⌊fraction × equity / close⌋ (default 0.95) |
//! | `symbol` | optional | trade only this instrument |
//! | `trace_bars` | optional | log every bar at debug level (default `false`) |
//!
//! With `trace_bars` on, each bar logs exactly
//! `bar n=<bars seen, this one included> ts=<bar.ts, integer nanoseconds
//! since the epoch> instrument=<instrument handle, integer>`, e.g.
//! `bar n=3 ts=120000000000 instrument=0`. The counter is part of the
//! snapshot, so across a hot swap the lines show that no bar was dropped or
//! delivered twice.
//!
//! The strategy keeps one order in flight per instrument: it waits for the
//! fill (or a rejection, which it logs) before acting again. Snapshots carry
//! every window, sum, counter and pending order, so a hot swap resumes
//! exactly where the old instance stopped.
//!
//! ```
//! use sma_cross::SmaCross;
//! use wasmtrade_sdk::{InstrumentId, Side, testing::{Harness, bars_from_closes}};
//!
//! let mut h = Harness::<SmaCross>::new(r#"{"fast": 2, "slow": 3, "quantity": 10}"#).unwrap();
//! h.run(bars_from_closes(InstrumentId(0), &[5.0, 4.0, 3.0, 4.0, 6.0, 7.0, 5.0, 3.0, 2.0])).unwrap();
//! let sides: Vec<Side> = h.orders().iter().map(|o| o.side).collect();
//! assert_eq!(sides, [Side::Buy, Side::Sell]);
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use wasmtrade_sdk::{
    Bar, Context, Error, Fill, InstrumentId, Intents, OrderIntent, Reject, Side, Strategy, export_strategy,
    state,
};

/// Longest `slow` window accepted (bounds the guest's memory).
pub const MAX_WINDOW: usize = 100_000;
/// Equity fraction used when neither `quantity` nor `fraction` is set.
pub const DEFAULT_FRACTION: f64 = 0.95;
const STATE_VERSION: u32 = 1;

/// The configuration as the host sends it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Fast window in bars.
    pub fast: usize,
    /// Slow window in bars (greater than `fast`).
    pub slow: usize,
    /// Fixed order size.
    #[serde(default)]
    pub quantity: Option<f64>,
    /// Fraction of equity to commit per entry.
    #[serde(default)]
    pub fraction: Option<f64>,
    /// Trade only this instrument.
    #[serde(default)]
    pub symbol: Option<String>,
    /// Log every bar at debug level (see the crate docs for the line).
    #[serde(default)]
    pub trace_bars: bool,
}

/// How entries are sized.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Sizing {
    Fixed(f64),
    Fraction(f64),
}

impl Sizing {
    fn quantity(self, equity: f64, price: f64) -> f64 {
        match self {
            Sizing::Fixed(q) => q,
            Sizing::Fraction(f) if price > 0.0 => (f * equity / price).floor(),
            Sizing::Fraction(_) => 0.0,
        }
    }
}

impl Config {
    /// Checks every field and reports all problems at once.
    fn validate(&self) -> Result<Sizing, Error> {
        let mut problems = Vec::new();
        if self.fast == 0 {
            problems.push("`fast` must be at least 1".to_string());
        }
        if self.slow <= self.fast {
            problems.push(format!(
                "`slow` ({}) must be greater than `fast` ({})",
                self.slow, self.fast
            ));
        }
        if self.slow > MAX_WINDOW {
            problems.push(format!("`slow` ({}) must be at most {MAX_WINDOW}", self.slow));
        }
        let sizing = match (self.quantity, self.fraction) {
            (Some(_), Some(_)) => {
                problems.push("set either `quantity` or `fraction`, not both".to_string());
                None
            }
            (Some(q), None) if !(q.is_finite() && q > 0.0) => {
                problems.push(format!("`quantity` ({q}) must be a positive number"));
                None
            }
            (None, Some(f)) if !(f > 0.0 && f <= 1.0) => {
                problems.push(format!("`fraction` ({f}) must be in (0, 1]"));
                None
            }
            (Some(q), None) => Some(Sizing::Fixed(q)),
            (None, f) => Some(Sizing::Fraction(f.unwrap_or(DEFAULT_FRACTION))),
        };
        if self.symbol.as_deref().is_some_and(str::is_empty) {
            problems.push("`symbol` must not be empty".to_string());
        }
        match sizing {
            Some(s) if problems.is_empty() => Ok(s),
            _ => Err(Error::config(problems.join("; "))),
        }
    }
}

/// An order in flight.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Pending {
    client_id: String,
    remaining: f64,
}

/// The rolling windows and signal state of one instrument.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Lane {
    /// The last `slow` closes, oldest first.
    closes: VecDeque<f64>,
    fast_sum: f64,
    slow_sum: f64,
    /// (fast, slow) averages of the previous full bar.
    prev: Option<(f64, f64)>,
    pending: Option<Pending>,
}

impl Lane {
    /// Adds a close; returns (fast, slow) averages once the slow window is full.
    fn push(&mut self, close: f64, fast: usize, slow: usize) -> Option<(f64, f64)> {
        let n = self.closes.len();
        if n >= fast {
            self.fast_sum -= self.closes[n - fast];
        }
        self.fast_sum += close;
        if n == slow
            && let Some(old) = self.closes.pop_front()
        {
            self.slow_sum -= old;
        }
        self.slow_sum += close;
        self.closes.push_back(close);
        (self.closes.len() == slow).then(|| (self.fast_sum / fast as f64, self.slow_sum / slow as f64))
    }
}

/// Everything a snapshot carries.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct State {
    version: u32,
    fast: usize,
    slow: usize,
    lanes: Vec<(InstrumentId, Lane)>,
    bars_seen: u64,
    fills_seen: u64,
    orders_sent: u64,
}

/// The SMA crossover strategy.
#[derive(Debug)]
pub struct SmaCross {
    sizing: Sizing,
    symbol: Option<String>,
    /// The instrument named by `symbol`, once the host knows it.
    target: Option<InstrumentId>,
    /// Log every bar at debug level.
    trace_bars: bool,
    state: State,
}

impl SmaCross {
    /// Bars received (all instruments).
    pub fn bars_seen(&self) -> u64 {
        self.state.bars_seen
    }
    /// Fills received.
    pub fn fills_seen(&self) -> u64 {
        self.state.fills_seen
    }
    /// Orders submitted.
    pub fn orders_sent(&self) -> u64 {
        self.state.orders_sent
    }

    /// Whether the strategy trades `instrument`.
    fn trades(&mut self, ctx: &dyn Context, instrument: InstrumentId) -> bool {
        let Some(symbol) = &self.symbol else { return true };
        if self.target.is_none() {
            self.target = ctx.instrument(symbol);
        }
        self.target == Some(instrument)
    }

    fn lane(&mut self, instrument: InstrumentId) -> &mut Lane {
        let lanes = &mut self.state.lanes;
        let i = match lanes.iter().position(|(id, _)| *id == instrument) {
            Some(i) => i,
            None => {
                lanes.push((instrument, Lane::default()));
                lanes.len() - 1
            }
        };
        &mut lanes[i].1
    }

    fn next_client_id(&mut self) -> String {
        self.state.orders_sent += 1;
        format!("{}-{}", Self::NAME, self.state.orders_sent)
    }

    fn enter(&mut self, ctx: &mut dyn Context, bar: &Bar) -> Option<OrderIntent> {
        let quantity = self.sizing.quantity(ctx.account().equity, bar.close);
        if quantity <= 0.0 {
            ctx.warn(&format!(
                "no buy on {}: order size is zero at close {}",
                bar.instrument, bar.close
            ));
            return None;
        }
        let id = self.next_client_id();
        ctx.info(&format!(
            "{id}: buy {quantity} {} at market, fast sma crossed above slow",
            bar.instrument
        ));
        self.lane(bar.instrument).pending = Some(Pending {
            client_id: id.clone(),
            remaining: quantity,
        });
        Some(OrderIntent::market(id, bar.instrument, Side::Buy, quantity))
    }

    fn exit(&mut self, ctx: &mut dyn Context, bar: &Bar, quantity: f64) -> OrderIntent {
        let id = self.next_client_id();
        ctx.info(&format!(
            "{id}: sell {quantity} {} at market, fast sma crossed below slow",
            bar.instrument
        ));
        self.lane(bar.instrument).pending = Some(Pending {
            client_id: id.clone(),
            remaining: quantity,
        });
        OrderIntent::market(id, bar.instrument, Side::Sell, quantity)
    }

    /// The lane whose pending order has this client id.
    fn pending_lane(&mut self, client_id: &str) -> Option<&mut Lane> {
        self.state
            .lanes
            .iter_mut()
            .map(|(_, lane)| lane)
            .find(|lane| lane.pending.as_ref().is_some_and(|p| p.client_id == client_id))
    }
}

impl Strategy for SmaCross {
    type Config = Config;
    const NAME: &'static str = "sma-cross";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn new(config: Config, ctx: &mut dyn Context) -> Result<Self, Error> {
        let sizing = config.validate()?;
        let target = config.symbol.as_deref().and_then(|s| ctx.instrument(s));
        Ok(Self {
            sizing,
            symbol: config.symbol,
            target,
            trace_bars: config.trace_bars,
            state: State {
                version: STATE_VERSION,
                fast: config.fast,
                slow: config.slow,
                ..State::default()
            },
        })
    }

    fn on_bar(&mut self, ctx: &mut dyn Context, bar: &Bar) -> Intents {
        self.state.bars_seen += 1;
        if self.trace_bars {
            ctx.debug(&format!(
                "bar n={} ts={} instrument={}",
                self.state.bars_seen, bar.ts, bar.instrument.0
            ));
        }
        if !self.trades(ctx, bar.instrument) {
            return Ok(Vec::new());
        }
        let (fast, slow) = (self.state.fast, self.state.slow);
        let lane = self.lane(bar.instrument);
        let Some((f, s)) = lane.push(bar.close, fast, slow) else {
            return Ok(Vec::new());
        };
        let prev = lane.prev.replace((f, s));
        let idle = lane.pending.is_none();
        let Some((pf, ps)) = prev else {
            return Ok(Vec::new());
        };
        let crossed_up = pf <= ps && f > s;
        let crossed_down = pf >= ps && f < s;
        if !idle || !(crossed_up || crossed_down) {
            return Ok(Vec::new());
        }
        let held = ctx.position(bar.instrument).quantity;
        let intent = if crossed_up && held == 0.0 {
            self.enter(ctx, bar)
        } else if crossed_down && held > 0.0 {
            Some(self.exit(ctx, bar, held))
        } else {
            None
        };
        Ok(intent.into_iter().collect())
    }

    fn on_fill(&mut self, _ctx: &mut dyn Context, fill: &Fill) -> Intents {
        self.state.fills_seen += 1;
        if let Some(lane) = self.pending_lane(&fill.client_id)
            && let Some(p) = &mut lane.pending
        {
            p.remaining -= fill.quantity;
            if p.remaining <= 1e-9 {
                lane.pending = None;
            }
        }
        Ok(Vec::new())
    }

    fn on_reject(&mut self, ctx: &mut dyn Context, reject: &Reject) -> Intents {
        ctx.warn(&format!(
            "{} rejected ({}): {}",
            reject.client_id, reject.code, reject.message
        ));
        if let Some(lane) = self.pending_lane(&reject.client_id) {
            lane.pending = None;
        }
        Ok(Vec::new())
    }

    fn snapshot(&self) -> Result<Vec<u8>, Error> {
        state::encode(&self.state)
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let restored: State = state::decode(bytes)?;
        if restored.version != STATE_VERSION {
            return Err(Error::state(format!(
                "snapshot version {} is not supported (expected {STATE_VERSION})",
                restored.version
            )));
        }
        if (restored.fast, restored.slow) != (self.state.fast, self.state.slow) {
            return Err(Error::state(format!(
                "snapshot has windows fast={} slow={} but this instance is configured with fast={} slow={}; \
                 restore into an instance with the same windows",
                restored.fast, restored.slow, self.state.fast, self.state.slow
            )));
        }
        self.state = restored;
        Ok(())
    }
}

export_strategy!(SmaCross);

#[cfg(test)]
mod tests;
