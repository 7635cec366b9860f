//! `rsi` indicator guest: TA-Lib's relative strength index of bar closes.
//!
//! Configuration (JSON): `{"period": 14}`; `period` defaults to TA-Lib's 14
//! and must be in `2..=100000`. One output series, `rsi` (0 to 100), from bar
//! `period + 1` on (it needs `period` changes). See
//! [`wasmtrade_sdk::ta::Rsi`] for the exact definition.
//!
//! ```
//! use wasmtrade_sdk::{Indicator, InstrumentId, parse_config, testing::bars_from_closes};
//! let mut rsi = rsi::Rsi::new(parse_config(r#"{"period": 2}"#)?)?;
//! let bars = bars_from_closes(InstrumentId(0), &[1.0, 2.0, 1.0]);
//! let out: Vec<_> = bars.iter().map(|b| rsi.update(b)).collect();
//! assert_eq!(out, [None, None, Some(vec![50.0])]);
//! # Ok::<(), wasmtrade_sdk::Error>(())
//! ```

use serde::Deserialize;
use wasmtrade_sdk::{Bar, Error, Indicator, export_indicator, state, ta};

/// The guest's configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Number of close-to-close changes in Wilder's averages (TA-Lib's default: 14).
    #[serde(default = "default_period")]
    pub period: usize,
}

fn default_period() -> usize {
    ta::Rsi::DEFAULT_PERIOD
}

/// Relative strength index of bar closes (Wilder smoothing, as TA-Lib).
#[derive(Debug, Clone, PartialEq)]
pub struct Rsi {
    rsi: ta::Rsi,
}

impl Indicator for Rsi {
    type Config = Config;
    const NAME: &'static str = "rsi";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn new(config: Config) -> Result<Self, Error> {
        Ok(Self {
            rsi: ta::Rsi::new(config.period).map_err(Error::config)?,
        })
    }

    fn outputs(&self) -> Vec<String> {
        vec!["rsi".to_string()]
    }

    fn update(&mut self, bar: &Bar) -> Option<Vec<f64>> {
        self.rsi.update(bar.close).map(|v| vec![v])
    }

    fn snapshot(&self) -> Result<Vec<u8>, Error> {
        state::encode(&self.rsi)
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let rsi: ta::Rsi = state::decode(bytes)?;
        if rsi.period() != self.rsi.period() {
            return Err(Error::state(format!(
                "snapshot is of an rsi with period {}, this one has period {}",
                rsi.period(),
                self.rsi.period()
            )));
        }
        self.rsi = rsi;
        Ok(())
    }
}

export_indicator!(Rsi);

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails loudly on an unexpected error")]
mod tests {
    use super::*;
    use wasmtrade_sdk::{InstrumentId, parse_config, testing::bars_from_closes};

    fn closes() -> Vec<f64> {
        (0..60).map(|i| 100.0 + (i as f64 * 0.37).sin() * 4.0).collect()
    }

    fn guest(json: &str) -> Rsi {
        Rsi::new(parse_config(json).unwrap()).unwrap()
    }

    #[test]
    fn matches_the_ta_rsi_after_warm_up() {
        let mut g = guest("{}");
        let mut reference = ta::Rsi::new(14).unwrap();
        assert_eq!(g.outputs(), ["rsi"]);
        for (i, bar) in bars_from_closes(InstrumentId(0), &closes()).iter().enumerate() {
            let out = g.update(bar);
            assert_eq!(out, reference.update(bar.close).map(|v| vec![v]));
            assert_eq!(out.is_some(), i >= 14);
        }
    }

    #[test]
    fn config_errors_name_the_field() {
        let err = Rsi::new(parse_config(r#"{"period": 1}"#).unwrap()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid config: invalid `period`: 1 is outside TA-Lib's accepted range 2..=100000"
        );
        let err = parse_config::<Config>(r#"{"length": 14}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `length`"), "{err}");
    }

    #[test]
    fn restores_a_snapshot_and_refuses_another_period() {
        let bars = bars_from_closes(InstrumentId(0), &closes());
        let mut a = guest(r#"{"period": 5}"#);
        for bar in &bars[..3] {
            a.update(bar);
        }
        let mut b = guest(r#"{"period": 5}"#);
        b.restore(&a.snapshot().unwrap()).unwrap();
        for bar in &bars[3..] {
            assert_eq!(a.update(bar), b.update(bar));
        }
        let err = guest("{}").restore(&a.snapshot().unwrap()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid state: snapshot is of an rsi with period 5"),
            "{err}"
        );
        assert!(
            b.restore(b"not json")
                .unwrap_err()
                .to_string()
                .starts_with("invalid state: ")
        );
    }
}
