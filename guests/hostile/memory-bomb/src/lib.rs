//! TEST FIXTURE, never deploy: a strategy that grows its memory forever.
//!
//! Behaves for the first `after` bars, then allocates `chunk_kib` KiB at a
//! time, touching every page and keeping every chunk, until the host's memory
//! limit stops it (`GuestFault::Limit`). It fills nothing, so it reaches the
//! memory limit long before the fuel budget.
//!
//! Configuration: `{"after": 3, "chunk_kib": 1024}` (defaults 0 and 1024).

use serde::Deserialize;
use wasmtrade_sdk::{Bar, Context, Error, Intents, Strategy, export_strategy};

/// Configuration.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Bars handled normally before the bomb goes off.
    pub after: u64,
    /// Size of each allocation, in KiB.
    pub chunk_kib: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            after: 0,
            chunk_kib: 1024,
        }
    }
}

/// Hoards memory after `after` bars.
#[derive(Debug)]
pub struct MemoryBomb {
    after: u64,
    chunk: usize,
    bars: u64,
    hoard: Vec<Vec<u8>>,
}

impl Strategy for MemoryBomb {
    type Config = Config;
    const NAME: &'static str = "hostile-memory-bomb";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn new(config: Config, _ctx: &mut dyn Context) -> Result<Self, Error> {
        if config.chunk_kib == 0 {
            return Err(Error::config("`chunk_kib` must be at least 1"));
        }
        Ok(Self {
            after: config.after,
            chunk: config.chunk_kib.saturating_mul(1024),
            bars: 0,
            hoard: Vec::new(),
        })
    }

    fn on_bar(&mut self, ctx: &mut dyn Context, _bar: &Bar) -> Intents {
        self.bars += 1;
        if self.bars > self.after {
            loop {
                // Uninitialised capacity (no zero-fill, which would burn the
                // fuel budget first) with one write per 4 KiB page: every page
                // is really committed, at a cost of a few instructions.
                let mut chunk = Vec::with_capacity(self.chunk);
                for byte in chunk.spare_capacity_mut().iter_mut().step_by(4096) {
                    byte.write(0xA5u8);
                }
                self.hoard.push(chunk);
                if self.hoard.len() == usize::MAX {
                    ctx.info("unreachable: the hoard is full");
                    break;
                }
            }
        }
        Ok(Vec::new())
    }
}

export_strategy!(MemoryBomb);
