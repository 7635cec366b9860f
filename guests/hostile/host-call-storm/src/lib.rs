//! TEST FIXTURE, never deploy: a strategy that storms host calls.
//!
//! Its own code does almost nothing: every `on_bar` makes the host work
//! instead, either reading a large key-value entry `calls` times
//! (`"kv-get"`: `value_bytes` copied out of the host per call) or asking for
//! its position `calls` times (`"position-of"`). Each host call is cheap for
//! the guest's fuel, so without a charge for host work the guest never
//! runs out and slows every other guest in the process. The host must
//! charge host calls for their work and fault it.
//!
//! Configuration: `{"mode": "kv-get", "calls": 2000, "value_bytes": 1000000}`
//! (the defaults) or `{"mode": "position-of", "calls": 700000}`.

use serde::Deserialize;
use wasmtrade_sdk::{Bar, Context, Error, Intents, Strategy, export_strategy};

/// Which host call to storm.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// `kv-get` of a `value_bytes` entry.
    KvGet,
    /// `position-of` the bar's instrument.
    PositionOf,
}

/// Configuration.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Which host call.
    pub mode: Mode,
    /// Host calls per bar.
    pub calls: u32,
    /// Size of the key-value entry read in `kv-get` mode.
    pub value_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            mode: Mode::KvGet,
            calls: 2000,
            value_bytes: 1_000_000,
        }
    }
}

/// The key of the large entry.
const KEY: &str = "blob";

/// Makes the host work `calls` times per bar.
#[derive(Debug)]
pub struct HostCallStorm {
    mode: Mode,
    calls: u32,
}

impl Strategy for HostCallStorm {
    type Config = Config;
    const NAME: &'static str = "hostile-host-call-storm";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn new(config: Config, ctx: &mut dyn Context) -> Result<Self, Error> {
        if config.mode == Mode::KvGet {
            ctx.kv_set(KEY, &vec![7u8; config.value_bytes]);
            if ctx.kv_get(KEY).map(|v| v.len()) != Some(config.value_bytes) {
                return Err(Error::new(format!(
                    "the host refused a {}-byte entry: lower value_bytes",
                    config.value_bytes
                )));
            }
        }
        Ok(Self {
            mode: config.mode,
            calls: config.calls,
        })
    }

    fn on_bar(&mut self, ctx: &mut dyn Context, bar: &Bar) -> Intents {
        let mut seen = 0f64;
        for _ in 0..self.calls {
            seen += match self.mode {
                Mode::KvGet => ctx.kv_get(KEY).map_or(0, |v| v.len()) as f64,
                Mode::PositionOf => ctx.position(bar.instrument).quantity + 1.0,
            };
        }
        ctx.debug(&format!("{} host calls, {seen} seen", self.calls));
        Ok(Vec::new())
    }
}

export_strategy!(HostCallStorm);
