//! `ema` indicator guest: TA-Lib's exponential moving average of bar closes.
//!
//! Configuration (JSON): `{"period": 20}`; `period` defaults to TA-Lib's 30
//! and must be in `1..=100000`. One output series, `ema`, from the
//! `period`-th bar on. See [`wasmtrade_sdk::ta::Ema`] for the exact definition.
//!
//! ```
//! use wasmtrade_sdk::{Indicator, InstrumentId, parse_config, testing::bars_from_closes};
//! let mut ema = ema::Ema::new(parse_config(r#"{"period": 2}"#)?)?;
//! let out: Vec<_> = bars_from_closes(InstrumentId(0), &[1.0, 3.0]).iter().map(|b| ema.update(b)).collect();
//! assert_eq!(out, [None, Some(vec![2.0])]);
//! # Ok::<(), wasmtrade_sdk::Error>(())
//! ```

use serde::Deserialize;
use wasmtrade_sdk::{Bar, Error, Indicator, export_indicator, state, ta};

/// The guest's configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Number of closes in the EMA, `k = 2 / (period + 1)` (TA-Lib's default: 30).
    #[serde(default = "default_period")]
    pub period: usize,
}

fn default_period() -> usize {
    30
}

/// Exponential moving average of bar closes (SMA-seeded, as TA-Lib).
#[derive(Debug, Clone, PartialEq)]
pub struct Ema {
    ema: ta::Ema,
}

impl Indicator for Ema {
    type Config = Config;
    const NAME: &'static str = "ema";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn new(config: Config) -> Result<Self, Error> {
        Ok(Self {
            ema: ta::Ema::new(config.period).map_err(Error::config)?,
        })
    }

    fn outputs(&self) -> Vec<String> {
        vec!["ema".to_string()]
    }

    fn update(&mut self, bar: &Bar) -> Option<Vec<f64>> {
        self.ema.update(bar.close).map(|v| vec![v])
    }

    fn snapshot(&self) -> Result<Vec<u8>, Error> {
        state::encode(&self.ema)
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let ema: ta::Ema = state::decode(bytes)?;
        if ema.period() != self.ema.period() {
            return Err(Error::state(format!(
                "snapshot is of an ema with period {}, this one has period {}",
                ema.period(),
                self.ema.period()
            )));
        }
        self.ema = ema;
        Ok(())
    }
}

export_indicator!(Ema);

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails loudly on an unexpected error")]
mod tests {
    use super::*;
    use wasmtrade_sdk::{InstrumentId, parse_config, testing::bars_from_closes};

    fn closes() -> Vec<f64> {
        (0..60).map(|i| 100.0 + (i as f64 * 0.37).sin() * 4.0).collect()
    }

    fn guest(json: &str) -> Ema {
        Ema::new(parse_config(json).unwrap()).unwrap()
    }

    #[test]
    fn matches_the_ta_ema_after_warm_up() {
        let mut g = guest(r#"{"period": 20}"#);
        let mut reference = ta::Ema::new(20).unwrap();
        assert_eq!(g.outputs(), ["ema"]);
        for (i, bar) in bars_from_closes(InstrumentId(0), &closes()).iter().enumerate() {
            let out = g.update(bar);
            assert_eq!(out, reference.update(bar.close).map(|v| vec![v]));
            assert_eq!(out.is_some(), i >= 19);
        }
    }

    #[test]
    fn period_defaults_to_talib_30() {
        assert_eq!(parse_config::<Config>("").unwrap(), Config { period: 30 });
    }

    #[test]
    fn config_errors_name_the_field() {
        let err = Ema::new(parse_config(r#"{"period": 0}"#).unwrap()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid config: invalid `period`: 0 is outside TA-Lib's accepted range 1..=100000"
        );
        let err = parse_config::<Config>(r#"{"period": 5, "perod": 3}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `perod`"), "{err}");
    }

    #[test]
    fn restores_a_snapshot_and_refuses_another_period() {
        let bars = bars_from_closes(InstrumentId(0), &closes());
        let mut a = guest(r#"{"period": 10}"#);
        for bar in &bars[..15] {
            a.update(bar);
        }
        let mut b = guest(r#"{"period": 10}"#);
        b.restore(&a.snapshot().unwrap()).unwrap();
        for bar in &bars[15..] {
            assert_eq!(a.update(bar), b.update(bar));
        }
        let err = guest(r#"{"period": 11}"#)
            .restore(&a.snapshot().unwrap())
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid state: snapshot is of an ema with period 10"),
            "{err}"
        );
    }
}
