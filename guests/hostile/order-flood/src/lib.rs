//! TEST FIXTURE, never deploy: a strategy that floods the host with orders.
//!
//! Returns `count` market orders from every `on_bar`, far above any sane
//! per-callback limit. The host must refuse the whole batch
//! (`GuestFault::TooManyIntents`) without passing any order on.
//!
//! With a small `count` and a huge `quantity` it is the fat-finger flood
//! that pre-trade risk must refuse order by order.
//!
//! Configuration: `{"count": 5000, "quantity": 1.0}` (defaults).

use serde::Deserialize;
use wasmtrade_sdk::{Bar, Context, Error, Intents, OrderIntent, Side, Strategy, export_strategy};

/// Configuration.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Intents returned per bar.
    pub count: u32,
    /// Quantity of each market order.
    pub quantity: f64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            count: 5000,
            quantity: 1.0,
        }
    }
}

/// Returns `count` intents per bar.
#[derive(Debug)]
pub struct OrderFlood {
    count: u32,
    quantity: f64,
    sent: u64,
}

impl Strategy for OrderFlood {
    type Config = Config;
    const NAME: &'static str = "hostile-order-flood";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn new(config: Config, _ctx: &mut dyn Context) -> Result<Self, Error> {
        Ok(Self {
            count: config.count,
            quantity: config.quantity,
            sent: 0,
        })
    }

    fn on_bar(&mut self, _ctx: &mut dyn Context, bar: &Bar) -> Intents {
        let mut out = Vec::with_capacity(self.count as usize);
        for _ in 0..self.count {
            self.sent += 1;
            let id = format!("flood-{}", self.sent);
            out.push(OrderIntent::market(id, bar.instrument, Side::Buy, self.quantity));
        }
        Ok(out)
    }
}

export_strategy!(OrderFlood);
