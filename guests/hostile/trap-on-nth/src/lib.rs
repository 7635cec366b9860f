//! TEST FIXTURE, never deploy: a strategy that panics on its Nth bar.
//!
//! Buys one unit of every instrument on each bar before the `nth`, then
//! panics with `trap-on-nth: bar {nth} is cursed`. The host reports a
//! `GuestFault::Trap` carrying that message and quarantines the instance.
//! Its snapshot is the bar count, so a restart resumes the countdown.
//!
//! Configuration: `{"nth": 5}` (default 1).

use serde::Deserialize;
use wasmtrade_sdk::{Bar, Context, Error, Intents, OrderIntent, Side, Strategy, export_strategy, state};

/// Configuration.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The bar (1-based) that panics.
    pub nth: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self { nth: 1 }
    }
}

/// Panics on bar `nth`.
#[derive(Debug)]
pub struct TrapOnNth {
    nth: u64,
    bars: u64,
}

impl Strategy for TrapOnNth {
    type Config = Config;
    const NAME: &'static str = "hostile-trap-on-nth";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn new(config: Config, _ctx: &mut dyn Context) -> Result<Self, Error> {
        if config.nth == 0 {
            return Err(Error::config("`nth` must be at least 1"));
        }
        Ok(Self {
            nth: config.nth,
            bars: 0,
        })
    }

    fn on_bar(&mut self, _ctx: &mut dyn Context, bar: &Bar) -> Intents {
        self.bars += 1;
        if self.bars == self.nth {
            panic!("trap-on-nth: bar {} is cursed", self.nth);
        }
        let id = format!("t{}", self.bars);
        Ok(vec![OrderIntent::market(id, bar.instrument, Side::Buy, 1.0)])
    }

    /// The bar count, so a restart from a snapshot resumes the countdown.
    fn snapshot(&self) -> Result<Vec<u8>, Error> {
        state::encode(&self.bars)
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.bars = state::decode(bytes)?;
        Ok(())
    }
}

export_strategy!(TrapOnNth);
