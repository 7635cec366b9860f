//! TEST FIXTURE, never deploy: a strategy that recurses without bound.
//!
//! Behaves for the first `after` bars, then recurses until the native stack
//! runs out. The host must stop it with a stack-overflow trap
//! (`GuestFault::Trap`) and survive.
//!
//! Configuration: `{"after": 3}` (default 0).

use serde::Deserialize;
use wasmtrade_sdk::{Bar, Context, Error, Intents, Strategy, export_strategy};

/// Configuration.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Bars handled normally before recursing.
    pub after: u64,
}

/// Recurses forever after `after` bars.
#[derive(Debug)]
pub struct DeepRecursion {
    after: u64,
    bars: u64,
}

impl Strategy for DeepRecursion {
    type Config = Config;
    const NAME: &'static str = "hostile-deep-recursion";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn new(config: Config, _ctx: &mut dyn Context) -> Result<Self, Error> {
        Ok(Self {
            after: config.after,
            bars: 0,
        })
    }

    fn on_bar(&mut self, ctx: &mut dyn Context, bar: &Bar) -> Intents {
        self.bars += 1;
        if self.bars > self.after {
            let depth = descend(bar.close.to_bits());
            ctx.info(&format!("unreachable: returned from depth {depth}"));
        }
        Ok(Vec::new())
    }
}

/// Unbounded, non-tail recursion with a frame the optimiser cannot remove.
#[inline(never)]
#[allow(
    unconditional_recursion,
    reason = "unbounded recursion is the point of this fixture"
)]
fn descend(seed: u64) -> u64 {
    let mut frame = [seed; 16];
    std::hint::black_box(&mut frame);
    let below = descend(std::hint::black_box(frame[3].wrapping_add(1)));
    below.wrapping_add(frame[7])
}

export_strategy!(DeepRecursion);
