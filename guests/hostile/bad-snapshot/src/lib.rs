//! TEST FIXTURE, never deploy: a strategy whose snapshots are poison.
//!
//! `snapshot` returns `garbage_bytes` bytes of garbage (not the SDK's state
//! encoding); `restore` never accepts anything: with `"restore": "trap"` it
//! panics on any input (`GuestFault::Trap`), with `"restore": "error"` it
//! returns an error (`GuestFault::Returned`). The engine must not lose the
//! guest's positions, nor crash, when a restart restores from such a snapshot.
//!
//! Configuration: `{"restore": "trap", "garbage_bytes": 4096}` (the defaults).

use serde::Deserialize;
use wasmtrade_sdk::{Bar, Context, Error, Intents, Strategy, export_strategy};

/// How `restore` misbehaves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestoreMode {
    /// Panic on any input.
    #[default]
    Trap,
    /// Return an error on any input.
    Error,
}

/// Configuration.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// How `restore` fails.
    pub restore: RestoreMode,
    /// Size of the garbage `snapshot` returns.
    pub garbage_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            restore: RestoreMode::Trap,
            garbage_bytes: 4096,
        }
    }
}

/// Trades nothing; its snapshot and restore are broken.
#[derive(Debug)]
pub struct BadSnapshot {
    mode: RestoreMode,
    garbage: usize,
    bars: u64,
}

impl Strategy for BadSnapshot {
    type Config = Config;
    const NAME: &'static str = "hostile-bad-snapshot";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn new(config: Config, _ctx: &mut dyn Context) -> Result<Self, Error> {
        Ok(Self {
            mode: config.restore,
            garbage: config.garbage_bytes,
            bars: 0,
        })
    }

    fn on_bar(&mut self, _ctx: &mut dyn Context, _bar: &Bar) -> Intents {
        self.bars += 1;
        Ok(Vec::new())
    }

    fn snapshot(&self) -> Result<Vec<u8>, Error> {
        // Deterministic noise: neither JSON nor the SDK's state framing.
        let mut x = self.bars ^ 0x9E37_79B9_7F4A_7C15;
        Ok((0..self.garbage)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect())
    }

    fn restore(&mut self, state: &[u8]) -> Result<(), Error> {
        match self.mode {
            RestoreMode::Trap => panic!("bad-snapshot: refusing to restore {} bytes", state.len()),
            RestoreMode::Error => Err(Error::state(format!(
                "bad-snapshot: {} bytes of snapshot are malformed",
                state.len()
            ))),
        }
    }
}

export_strategy!(BadSnapshot);
