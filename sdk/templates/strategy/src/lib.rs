//! `{{name}}`: a moving-average crossover strategy, a starting point to
//! edit. It buys `quantity` when the fast simple moving average of closes
//! crosses above the slow one while flat, and sells the whole position when
//! it crosses back below.
//!
//! Configuration (JSON, e.g. `--config fast=10,slow=30,quantity=100`):
//! `fast` and `slow` are periods in bars (`fast < slow`), `quantity` the
//! shares per entry (default 100).
//!
//! The rules of a guest: orders are intents returned from callbacks, each
//! with a unique, deterministic client id; every intent passes the host's
//! risk checks and a refusal comes back through `on_reject`. Stay
//! deterministic (no clocks, files, sockets or `HashMap` random state:
//! `ctx.now()`, `ctx.random_u64()`, `BTreeMap`). `snapshot`/`restore`
//! carry the state across a hot swap or a restart.

use serde::{Deserialize, Serialize};
use wasmtrade_sdk::{
    Bar, Context, Error, Intents, OrderIntent, Side, Strategy, export_strategy, state, ta,
};

/// The configuration the host hands to `init`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Period of the fast moving average, in bars.
    pub fast: usize,
    /// Period of the slow moving average, in bars.
    pub slow: usize,
    /// Shares bought on each entry.
    #[serde(default = "default_quantity")]
    pub quantity: f64,
}

fn default_quantity() -> f64 {
    100.0
}

/// Everything the strategy remembers; what `snapshot` saves.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    fast: ta::Sma,
    slow: ta::Sma,
    /// The averages after the previous bar, once both are ready.
    prev: Option<(f64, f64)>,
    /// Orders sent so far: numbers the client ids.
    orders: u64,
}

/// The strategy.
#[derive(Debug)]
pub struct {{Type}} {
    quantity: f64,
    state: State,
}

impl {{Type}} {
    fn order(&mut self, bar: &Bar, side: Side, quantity: f64) -> OrderIntent {
        self.state.orders += 1;
        let id = format!("{}-{}", Self::NAME, self.state.orders);
        OrderIntent::market(id, bar.instrument, side, quantity)
    }
}

impl Strategy for {{Type}} {
    type Config = Config;
    const NAME: &'static str = "{{name}}";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn new(config: Config, _ctx: &mut dyn Context) -> Result<Self, Error> {
        if config.fast == 0 || config.fast >= config.slow {
            return Err(Error::config(format!(
                "`fast` ({}) must be at least 1 and below `slow` ({})",
                config.fast, config.slow
            )));
        }
        if !config.quantity.is_finite() || config.quantity <= 0.0 {
            return Err(Error::config("`quantity` must be a positive number of shares"));
        }
        Ok(Self {
            quantity: config.quantity,
            state: State {
                fast: ta::Sma::new(config.fast).map_err(Error::config)?,
                slow: ta::Sma::new(config.slow).map_err(Error::config)?,
                prev: None,
                orders: 0,
            },
        })
    }

    fn on_bar(&mut self, ctx: &mut dyn Context, bar: &Bar) -> Intents {
        let fast = self.state.fast.update(bar.close);
        let slow = self.state.slow.update(bar.close);
        let (Some(f), Some(s)) = (fast, slow) else {
            return Ok(vec![]);
        };
        let Some((pf, ps)) = self.state.prev.replace((f, s)) else {
            return Ok(vec![]);
        };
        let held = ctx.position(bar.instrument).quantity;
        if pf <= ps && f > s && held == 0.0 {
            let quantity = self.quantity;
            return Ok(vec![self.order(bar, Side::Buy, quantity)]);
        }
        if pf >= ps && f < s && held > 0.0 {
            return Ok(vec![self.order(bar, Side::Sell, held)]);
        }
        Ok(vec![])
    }

    fn snapshot(&self) -> Result<Vec<u8>, Error> {
        state::encode(&self.state)
    }

    fn restore(&mut self, saved: &[u8]) -> Result<(), Error> {
        let saved: State = state::decode(saved)?;
        if saved.fast.period() != self.state.fast.period() || saved.slow.period() != self.state.slow.period() {
            return Err(Error::state("the snapshot is of other periods; starting fresh is safer"));
        }
        self.state = saved;
        Ok(())
    }
}

export_strategy!({{Type}});
