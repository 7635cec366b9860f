//! TEST FIXTURE, never deploy: a strategy that floods the host with orders.
//!
//! Returns `count` market orders from every `on_bar`, far above any sane
//! per-callback limit. The host must refuse the whole batch
//! (`GuestFault::TooManyIntents`) without passing any order on.
//!
//! Configuration: `{"count": 5000}` (default 5000).

use serde::Deserialize;
use wasmtrade_sdk::{Bar, Context, Error, Intents, OrderIntent, Side, Strategy, export_strategy};

/// Configuration.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Intents returned per bar.
    pub count: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self { count: 5000 }
    }
}

/// Returns `count` intents per bar.
#[derive(Debug)]
pub struct OrderFlood {
    count: u32,
    sent: u64,
}

impl Strategy for OrderFlood {
    type Config = Config;
    const NAME: &'static str = "hostile-order-flood";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn new(config: Config, _ctx: &mut dyn Context) -> Result<Self, Error> {
        Ok(Self {
            count: config.count,
            sent: 0,
        })
    }

    fn on_bar(&mut self, _ctx: &mut dyn Context, bar: &Bar) -> Intents {
        let mut out = Vec::with_capacity(self.count as usize);
        for _ in 0..self.count {
            self.sent += 1;
            let id = format!("flood-{}", self.sent);
            out.push(OrderIntent::market(id, bar.instrument, Side::Buy, 1.0));
        }
        Ok(out)
    }
}

export_strategy!(OrderFlood);
