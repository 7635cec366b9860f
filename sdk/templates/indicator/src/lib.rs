//! `{{name}}`: a rate-of-change indicator over `period` bars, a starting
//! point to edit. Output `roc`: the close against the close `period` bars
//! earlier, in percent, from bar `period + 1` on.
//!
//! Configuration (JSON, e.g. `{"period": 10}`; default 10). Strategies read
//! the value with `ctx.indicator("<name>", "roc")` once the runtime runs
//! this indicator under that name (`wasmtrade backtest --indicator
//! <name>=PATH:period=10`). Stay deterministic; `snapshot`/`restore` carry
//! the window across a hot swap or a restart.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use wasmtrade_sdk::{Bar, Error, Indicator, export_indicator, state};

/// The configuration the host hands to `init`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Bars between the two closes compared.
    #[serde(default = "default_period")]
    pub period: usize,
}

fn default_period() -> usize {
    10
}

/// The indicator: the last `period + 1` closes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct {{Type}} {
    period: usize,
    closes: VecDeque<f64>,
}

impl Indicator for {{Type}} {
    type Config = Config;
    const NAME: &'static str = "{{name}}";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn new(config: Config) -> Result<Self, Error> {
        if config.period == 0 || config.period > 100_000 {
            return Err(Error::config(format!(
                "`period` must be in 1..=100000, not {}",
                config.period
            )));
        }
        Ok(Self {
            period: config.period,
            closes: VecDeque::with_capacity(config.period + 1),
        })
    }

    fn outputs(&self) -> Vec<String> {
        vec!["roc".to_string()]
    }

    fn update(&mut self, bar: &Bar) -> Option<Vec<f64>> {
        if self.closes.len() == self.period + 1 {
            self.closes.pop_front();
        }
        self.closes.push_back(bar.close);
        if self.closes.len() <= self.period {
            return None;
        }
        let then = *self.closes.front()?;
        if then == 0.0 {
            return None;
        }
        Some(vec![(bar.close / then - 1.0) * 100.0])
    }

    fn snapshot(&self) -> Result<Vec<u8>, Error> {
        state::encode(self)
    }

    fn restore(&mut self, saved: &[u8]) -> Result<(), Error> {
        let saved: Self = state::decode(saved)?;
        if saved.period != self.period {
            return Err(Error::state(format!(
                "the snapshot has period {}, this indicator {}",
                saved.period, self.period
            )));
        }
        *self = saved;
        Ok(())
    }
}

export_indicator!({{Type}});
