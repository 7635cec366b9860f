//! `atr` indicator guest: TA-Lib's average true range of bars.
//!
//! Configuration (JSON): `{"period": 14}`; `period` defaults to TA-Lib's 14
//! and must be in `1..=100000`. One output series, `atr`, from bar
//! `period + 1` on (the first bar has no previous close, so no true range).
//! Uses each bar's high, low and close. See [`wasmtrade_sdk::ta::Atr`] for
//! the exact definition.
//!
//! ```
//! use wasmtrade_sdk::{Indicator, InstrumentId, parse_config, testing::bars_from_closes};
//! let mut atr = atr::Atr::new(parse_config(r#"{"period": 1}"#)?)?;
//! let bars = bars_from_closes(InstrumentId(0), &[10.0, 12.0]);
//! let out: Vec<_> = bars.iter().map(|b| atr.update(b)).collect();
//! assert_eq!(out, [None, Some(vec![2.0])]);
//! # Ok::<(), wasmtrade_sdk::Error>(())
//! ```

use serde::Deserialize;
use wasmtrade_sdk::{Bar, Error, Indicator, export_indicator, state, ta};

/// The guest's configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Number of true ranges in Wilder's average (TA-Lib's default: 14).
    #[serde(default = "default_period")]
    pub period: usize,
}

fn default_period() -> usize {
    ta::Atr::DEFAULT_PERIOD
}

/// Average true range (Wilder smoothing, as TA-Lib).
#[derive(Debug, Clone, PartialEq)]
pub struct Atr {
    atr: ta::Atr,
}

impl Indicator for Atr {
    type Config = Config;
    const NAME: &'static str = "atr";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn new(config: Config) -> Result<Self, Error> {
        Ok(Self {
            atr: ta::Atr::new(config.period).map_err(Error::config)?,
        })
    }

    fn outputs(&self) -> Vec<String> {
        vec!["atr".to_string()]
    }

    fn update(&mut self, bar: &Bar) -> Option<Vec<f64>> {
        self.atr.update(bar.high, bar.low, bar.close).map(|v| vec![v])
    }

    fn snapshot(&self) -> Result<Vec<u8>, Error> {
        state::encode(&self.atr)
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let atr: ta::Atr = state::decode(bytes)?;
        if atr.period() != self.atr.period() {
            return Err(Error::state(format!(
                "snapshot is of an atr with period {}, this one has period {}",
                atr.period(),
                self.atr.period()
            )));
        }
        self.atr = atr;
        Ok(())
    }
}

export_indicator!(Atr);

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails loudly on an unexpected error")]
mod tests {
    use super::*;
    use wasmtrade_sdk::InstrumentId;

    fn bars() -> Vec<Bar> {
        (0..60)
            .map(|i| {
                let x = i as f64;
                let close = 100.0 + (x * 0.37).sin() * 4.0;
                Bar {
                    instrument: InstrumentId(0),
                    ts: i,
                    open: close - 0.3,
                    high: close + 1.0 + (x * 0.11).cos(),
                    low: close - 1.0 - (x * 0.07).sin().abs(),
                    close,
                    volume: 1.0,
                }
            })
            .collect()
    }

    fn guest(json: &str) -> Atr {
        Atr::new(wasmtrade_sdk::parse_config(json).unwrap()).unwrap()
    }

    #[test]
    fn matches_the_ta_atr_after_warm_up() {
        let mut g = guest("");
        let mut reference = ta::Atr::new(14).unwrap();
        assert_eq!(g.outputs(), ["atr"]);
        for (i, bar) in bars().iter().enumerate() {
            let out = g.update(bar);
            assert_eq!(
                out,
                reference.update(bar.high, bar.low, bar.close).map(|v| vec![v])
            );
            assert_eq!(out.is_some(), i >= 14);
        }
    }

    #[test]
    fn config_errors_name_the_field() {
        let err = Atr::new(wasmtrade_sdk::parse_config(r#"{"period": 0}"#).unwrap()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid config: invalid `period`: 0 is outside TA-Lib's accepted range 1..=100000"
        );
        let err = wasmtrade_sdk::parse_config::<Config>(r#"{"period": -3}"#).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid config: invalid value: integer `-3`"),
            "{err}"
        );
    }

    #[test]
    fn restores_a_snapshot_and_refuses_another_period() {
        let bars = bars();
        let mut a = guest(r#"{"period": 7}"#);
        for bar in &bars[..20] {
            a.update(bar);
        }
        let mut b = guest(r#"{"period": 7}"#);
        b.restore(&a.snapshot().unwrap()).unwrap();
        for bar in &bars[20..] {
            assert_eq!(a.update(bar), b.update(bar));
        }
        let err = guest("{}").restore(&a.snapshot().unwrap()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid state: snapshot is of an atr with period 7"),
            "{err}"
        );
    }
}
