//! `rsi-reversion`: a long/flat RSI mean-reversion strategy guest.
//!
//! Computes Wilder's RSI of closes per instrument (TA-Lib's definition, via
//! [`wasmtrade_sdk::ta::Rsi`]; note TA-Lib reports 0 on a perfectly flat
//! series). Buys at the market when RSI falls below `lower` while flat, and
//! sells the whole position at the market when RSI rises above `upper` while
//! long. Each instrument (or only the one named by `symbol`) is traded
//! independently, one order in flight at a time.
//!
//! Configuration (JSON):
//!
//! | field | default | meaning |
//! |---|---|---|
//! | `period` | 14 | RSI period, 2..=100000 |
//! | `lower` | 30 | buy below this RSI |
//! | `upper` | 70 | sell above this RSI (`0 < lower < upper < 100`) |
//! | `quantity` | — | fixed order size |
//! | `fraction` | 0.95 | else size = ⌊fraction × equity / close⌋ |
//! | `symbol` | — | trade only this instrument |
//!
//! ```
//! use rsi_reversion::RsiReversion;
//! use wasmtrade_sdk::{InstrumentId, Side, testing::{Harness, bars_from_closes}};
//!
//! let mut h = Harness::<RsiReversion>::new(r#"{"period": 2, "quantity": 5}"#).unwrap();
//! h.run(bars_from_closes(InstrumentId(0), &[10.0, 11.0, 9.0, 8.0, 9.0, 11.0, 12.0])).unwrap();
//! let sides: Vec<Side> = h.orders().iter().map(|o| o.side).collect();
//! assert_eq!(sides, [Side::Buy, Side::Sell]);
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

use serde::{Deserialize, Serialize};
use wasmtrade_sdk::ta::Rsi;
use wasmtrade_sdk::{
    Bar, Context, Error, Fill, InstrumentId, Intents, OrderIntent, Reject, Side, Strategy, export_strategy,
    state,
};

/// Equity fraction used when neither `quantity` nor `fraction` is set.
pub const DEFAULT_FRACTION: f64 = 0.95;
const STATE_VERSION: u32 = 1;

fn default_period() -> usize {
    Rsi::DEFAULT_PERIOD
}
fn default_lower() -> f64 {
    30.0
}
fn default_upper() -> f64 {
    70.0
}

/// The configuration as the host sends it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// RSI period in bars.
    #[serde(default = "default_period")]
    pub period: usize,
    /// Buy below this RSI.
    #[serde(default = "default_lower")]
    pub lower: f64,
    /// Sell above this RSI.
    #[serde(default = "default_upper")]
    pub upper: f64,
    /// Fixed order size.
    #[serde(default)]
    pub quantity: Option<f64>,
    /// Fraction of equity to commit per entry.
    #[serde(default)]
    pub fraction: Option<f64>,
    /// Trade only this instrument.
    #[serde(default)]
    pub symbol: Option<String>,
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
    /// Checks every field and reports all problems at once; returns the
    /// sizing and an RSI template.
    fn validate(&self) -> Result<(Sizing, Rsi), Error> {
        let mut problems = Vec::new();
        let rsi = Rsi::new(self.period)
            .map_err(|e| problems.push(format!("`period`: {e}")))
            .ok();
        if !(0.0 < self.lower && self.lower < self.upper && self.upper < 100.0) {
            problems.push(format!(
                "`lower` ({}) and `upper` ({}) must satisfy 0 < lower < upper < 100",
                self.lower, self.upper
            ));
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
        match (sizing, rsi) {
            (Some(s), Some(r)) if problems.is_empty() => Ok((s, r)),
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

/// The RSI and order state of one instrument.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Lane {
    rsi: Rsi,
    pending: Option<Pending>,
}

/// Everything a snapshot carries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct State {
    version: u32,
    period: usize,
    lanes: Vec<(InstrumentId, Lane)>,
    bars_seen: u64,
    fills_seen: u64,
    orders_sent: u64,
}

/// The RSI mean-reversion strategy.
#[derive(Debug)]
pub struct RsiReversion {
    lower: f64,
    upper: f64,
    sizing: Sizing,
    symbol: Option<String>,
    /// The instrument named by `symbol`, once the host knows it.
    target: Option<InstrumentId>,
    /// A fresh RSI for new instruments.
    template: Rsi,
    state: State,
}

impl RsiReversion {
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
                lanes.push((
                    instrument,
                    Lane {
                        rsi: self.template.clone(),
                        pending: None,
                    },
                ));
                lanes.len() - 1
            }
        };
        &mut lanes[i].1
    }

    fn pending_lane(&mut self, client_id: &str) -> Option<&mut Lane> {
        self.state
            .lanes
            .iter_mut()
            .map(|(_, lane)| lane)
            .find(|lane| lane.pending.as_ref().is_some_and(|p| p.client_id == client_id))
    }

    fn order(
        &mut self,
        ctx: &mut dyn Context,
        bar: &Bar,
        side: Side,
        quantity: f64,
        rsi: f64,
    ) -> OrderIntent {
        self.state.orders_sent += 1;
        let id = format!("{}-{}", Self::NAME, self.state.orders_sent);
        ctx.info(&format!(
            "{id}: {side:?} {quantity} {} at market, rsi {rsi:.2}",
            bar.instrument
        ));
        self.lane(bar.instrument).pending = Some(Pending {
            client_id: id.clone(),
            remaining: quantity,
        });
        OrderIntent::market(id, bar.instrument, side, quantity)
    }
}

impl Strategy for RsiReversion {
    type Config = Config;
    const NAME: &'static str = "rsi-reversion";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn new(config: Config, ctx: &mut dyn Context) -> Result<Self, Error> {
        let (sizing, template) = config.validate()?;
        let target = config.symbol.as_deref().and_then(|s| ctx.instrument(s));
        Ok(Self {
            lower: config.lower,
            upper: config.upper,
            sizing,
            symbol: config.symbol,
            target,
            template,
            state: State {
                version: STATE_VERSION,
                period: config.period,
                lanes: Vec::new(),
                bars_seen: 0,
                fills_seen: 0,
                orders_sent: 0,
            },
        })
    }

    fn on_bar(&mut self, ctx: &mut dyn Context, bar: &Bar) -> Intents {
        self.state.bars_seen += 1;
        if !self.trades(ctx, bar.instrument) {
            return Ok(Vec::new());
        }
        let (lower, upper) = (self.lower, self.upper);
        let lane = self.lane(bar.instrument);
        let Some(rsi) = lane.rsi.update(bar.close) else {
            return Ok(Vec::new());
        };
        let (oversold, overbought) = (rsi < lower, rsi > upper);
        if lane.pending.is_some() || !(oversold || overbought) {
            return Ok(Vec::new());
        }
        let held = ctx.position(bar.instrument).quantity;
        if oversold && held == 0.0 {
            let quantity = self.sizing.quantity(ctx.account().equity, bar.close);
            if quantity <= 0.0 {
                ctx.warn(&format!(
                    "no buy on {}: order size is zero at close {}",
                    bar.instrument, bar.close
                ));
                return Ok(Vec::new());
            }
            return Ok(vec![self.order(ctx, bar, Side::Buy, quantity, rsi)]);
        }
        if overbought && held > 0.0 {
            return Ok(vec![self.order(ctx, bar, Side::Sell, held, rsi)]);
        }
        Ok(Vec::new())
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
        if restored.period != self.state.period {
            return Err(Error::state(format!(
                "snapshot has period {} but this instance is configured with period {}; \
                 restore into an instance with the same period",
                restored.period, self.state.period
            )));
        }
        self.state = restored;
        Ok(())
    }
}

export_strategy!(RsiReversion);

#[cfg(test)]
mod tests;
