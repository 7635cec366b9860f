//! TEST FIXTURE, never deploy: a strategy that loops forever.
//!
//! Behaves (returns no intents) for the first `after` bars, then spins in
//! `on_bar` without ever returning. The host must interrupt it with its fuel
//! budget or its epoch deadline (`GuestFault::Budget`).
//!
//! Configuration: `{"after": 3}` (default 0: loops on the first bar).

use serde::Deserialize;
use wasmtrade_sdk::{Bar, Context, Error, Intents, Strategy, export_strategy};

/// Configuration.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Bars handled normally before looping.
    pub after: u64,
}

/// Loops forever after `after` bars.
#[derive(Debug)]
pub struct InfiniteLoop {
    after: u64,
    bars: u64,
}

impl Strategy for InfiniteLoop {
    type Config = Config;
    const NAME: &'static str = "hostile-infinite-loop";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn new(config: Config, _ctx: &mut dyn Context) -> Result<Self, Error> {
        Ok(Self {
            after: config.after,
            bars: 0,
        })
    }

    fn on_bar(&mut self, _ctx: &mut dyn Context, _bar: &Bar) -> Intents {
        self.bars += 1;
        if self.bars > self.after {
            spin();
        }
        Ok(Vec::new())
    }
}

/// Never returns; `black_box` keeps the optimiser from reasoning about the loop.
fn spin() -> ! {
    let mut n = 0u64;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

export_strategy!(InfiniteLoop);
