//! TEST FIXTURE, never deploy: a strategy whose rejections breed rejections.
//!
//! Every `on_bar` returns `width` cancels of client ids that were never
//! used, and every `on_reject` (each of those cancels is refused) returns
//! `width` more. Each callback stays far below the per-callback limits
//! (fuel, deadline, intents), and the depth of the chain is bounded, but
//! its width is not: ten cancels per callback, eight levels deep, are 10^8
//! callbacks for one bar. The host must stop it with its budget per market
//! event and keep every other strategy trading.
//!
//! Configuration: `{"width": 10}` (default).

use serde::Deserialize;
use wasmtrade_sdk::{Bar, Context, Error, Intents, OrderIntent, Reject, Strategy, export_strategy};

/// Configuration.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Cancels returned by every callback.
    pub width: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self { width: 10 }
    }
}

/// Answers every bar and every rejection with `width` doomed cancels.
#[derive(Debug)]
pub struct RejectStorm {
    width: u32,
    sent: u64,
}

impl RejectStorm {
    fn cancels(&mut self) -> Intents {
        let mut out = Vec::with_capacity(self.width as usize);
        for _ in 0..self.width {
            self.sent += 1;
            out.push(OrderIntent::cancel(format!("ghost-{}", self.sent)));
        }
        Ok(out)
    }
}

impl Strategy for RejectStorm {
    type Config = Config;
    const NAME: &'static str = "hostile-reject-storm";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn new(config: Config, _ctx: &mut dyn Context) -> Result<Self, Error> {
        Ok(Self {
            width: config.width,
            sent: 0,
        })
    }

    fn on_bar(&mut self, _ctx: &mut dyn Context, _bar: &Bar) -> Intents {
        self.cancels()
    }

    fn on_reject(&mut self, _ctx: &mut dyn Context, _reject: &Reject) -> Intents {
        self.cancels()
    }
}

export_strategy!(RejectStorm);
