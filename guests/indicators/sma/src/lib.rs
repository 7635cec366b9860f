//! `sma` indicator guest: TA-Lib's simple moving average of bar closes.
//!
//! Configuration (JSON): `{"period": 20}`; `period` defaults to TA-Lib's 30
//! and must be in `1..=100000`. One output series, `sma`, from the
//! `period`-th bar on. See [`wasmtrade_sdk::ta::Sma`] for the exact definition.
//!
//! ```
//! use wasmtrade_sdk::{Indicator, InstrumentId, parse_config, testing::bars_from_closes};
//! let mut sma = sma::Sma::new(parse_config(r#"{"period": 2}"#)?)?;
//! let out: Vec<_> = bars_from_closes(InstrumentId(0), &[1.0, 3.0]).iter().map(|b| sma.update(b)).collect();
//! assert_eq!(out, [None, Some(vec![2.0])]);
//! # Ok::<(), wasmtrade_sdk::Error>(())
//! ```

use serde::Deserialize;
use wasmtrade_sdk::{Bar, Error, Indicator, export_indicator, state, ta};

/// The guest's configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Number of closes averaged (TA-Lib's default: 30).
    #[serde(default = "default_period")]
    pub period: usize,
}

fn default_period() -> usize {
    30
}

/// Simple moving average of bar closes.
#[derive(Debug, Clone, PartialEq)]
pub struct Sma {
    sma: ta::Sma,
}

impl Indicator for Sma {
    type Config = Config;
    const NAME: &'static str = "sma";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn new(config: Config) -> Result<Self, Error> {
        Ok(Self {
            sma: ta::Sma::new(config.period).map_err(Error::config)?,
        })
    }

    fn outputs(&self) -> Vec<String> {
        vec!["sma".to_string()]
    }

    fn update(&mut self, bar: &Bar) -> Option<Vec<f64>> {
        self.sma.update(bar.close).map(|v| vec![v])
    }

    fn snapshot(&self) -> Result<Vec<u8>, Error> {
        state::encode(&self.sma)
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let sma: ta::Sma = state::decode(bytes)?;
        if sma.period() != self.sma.period() {
            return Err(Error::state(format!(
                "snapshot is of an sma with period {}, this one has period {}",
                sma.period(),
                self.sma.period()
            )));
        }
        self.sma = sma;
        Ok(())
    }
}

export_indicator!(Sma);

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails loudly on an unexpected error")]
mod tests {
    use super::*;
    use wasmtrade_sdk::{InstrumentId, parse_config, testing::bars_from_closes};

    fn closes() -> Vec<f64> {
        (0..60).map(|i| 100.0 + (i as f64 * 0.37).sin() * 4.0).collect()
    }

    fn guest(json: &str) -> Sma {
        Sma::new(parse_config(json).unwrap()).unwrap()
    }

    #[test]
    fn matches_the_ta_sma_after_warm_up() {
        let mut g = guest(r#"{"period": 20}"#);
        let mut reference = ta::Sma::new(20).unwrap();
        assert_eq!(g.outputs(), ["sma"]);
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
        let err = Sma::new(parse_config(r#"{"period": 0}"#).unwrap()).unwrap_err();
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
                .starts_with("invalid state: snapshot is of an sma with period 10"),
            "{err}"
        );
    }
}
