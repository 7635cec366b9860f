//! `macd` indicator guest: TA-Lib's MACD of bar closes.
//!
//! Configuration (JSON): `{"fast": 12, "slow": 26, "signal": 9}`; each field
//! defaults to TA-Lib's value shown. `fast` and `slow` must be in
//! `2..=100000` (swapped if `slow < fast`, as TA-Lib does), `signal` in
//! `1..=100000`. Three output series, `macd`, `signal`, `histogram`, from bar
//! `slow + signal - 1` on. See [`wasmtrade_sdk::ta::Macd`] for the exact
//! definition.
//!
//! ```
//! use wasmtrade_sdk::{Indicator, InstrumentId, parse_config, testing::bars_from_closes};
//! let mut macd = macd::Macd::new(parse_config("{}")?)?;
//! assert_eq!(macd.outputs(), ["macd", "signal", "histogram"]);
//! let closes: Vec<f64> = (0..34).map(|i| 100.0 + i as f64).collect();
//! let out: Vec<_> = bars_from_closes(InstrumentId(0), &closes).iter().map(|b| macd.update(b)).collect();
//! assert!(out[32].is_none() && out[33].is_some());
//! # Ok::<(), wasmtrade_sdk::Error>(())
//! ```

use serde::Deserialize;
use wasmtrade_sdk::{Bar, Error, Indicator, export_indicator, state, ta};

/// The guest's configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Fast EMA period (TA-Lib's default: 12).
    pub fast: usize,
    /// Slow EMA period (TA-Lib's default: 26).
    pub slow: usize,
    /// Signal EMA period (TA-Lib's default: 9).
    pub signal: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            fast: 12,
            slow: 26,
            signal: 9,
        }
    }
}

/// MACD line, signal line and histogram of bar closes.
#[derive(Debug, Clone, PartialEq)]
pub struct Macd {
    macd: ta::Macd,
}

impl Macd {
    fn periods(m: &ta::Macd) -> (usize, usize, usize) {
        (m.fast_period(), m.slow_period(), m.signal_period())
    }
}

impl Indicator for Macd {
    type Config = Config;
    const NAME: &'static str = "macd";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn new(config: Config) -> Result<Self, Error> {
        let macd = ta::Macd::new(config.fast, config.slow, config.signal).map_err(Error::config)?;
        Ok(Self { macd })
    }

    fn outputs(&self) -> Vec<String> {
        ["macd", "signal", "histogram"].map(String::from).to_vec()
    }

    fn update(&mut self, bar: &Bar) -> Option<Vec<f64>> {
        self.macd
            .update(bar.close)
            .map(|v| vec![v.macd, v.signal, v.histogram])
    }

    fn snapshot(&self) -> Result<Vec<u8>, Error> {
        state::encode(&self.macd)
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let macd: ta::Macd = state::decode(bytes)?;
        let (theirs, ours) = (Self::periods(&macd), Self::periods(&self.macd));
        if theirs != ours {
            return Err(Error::state(format!(
                "snapshot is of a macd with (fast, slow, signal) = {theirs:?}, this one has {ours:?}"
            )));
        }
        self.macd = macd;
        Ok(())
    }
}

export_indicator!(Macd);

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails loudly on an unexpected error")]
mod tests {
    use super::*;
    use wasmtrade_sdk::{InstrumentId, parse_config, testing::bars_from_closes};

    fn closes() -> Vec<f64> {
        (0..80).map(|i| 100.0 + (i as f64 * 0.21).sin() * 4.0).collect()
    }

    fn guest(json: &str) -> Macd {
        Macd::new(parse_config(json).unwrap()).unwrap()
    }

    #[test]
    fn matches_the_ta_macd_after_warm_up() {
        let mut g = guest(r#"{"fast": 12, "slow": 26, "signal": 9}"#);
        let mut reference = ta::Macd::new(12, 26, 9).unwrap();
        for (i, bar) in bars_from_closes(InstrumentId(0), &closes()).iter().enumerate() {
            let out = g.update(bar);
            let expected = reference
                .update(bar.close)
                .map(|v| vec![v.macd, v.signal, v.histogram]);
            assert_eq!(out, expected);
            assert_eq!(out.is_some(), i >= 33);
        }
    }

    #[test]
    fn partial_config_takes_talib_defaults() {
        let c: Config = parse_config(r#"{"signal": 5}"#).unwrap();
        assert_eq!(
            c,
            Config {
                fast: 12,
                slow: 26,
                signal: 5
            }
        );
    }

    #[test]
    fn config_errors_name_the_field() {
        let err = Macd::new(parse_config(r#"{"slow": 1}"#).unwrap()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid config: invalid `slow`: 1 is outside TA-Lib's accepted range 2..=100000"
        );
        let err = Macd::new(parse_config(r#"{"signal": 0}"#).unwrap()).unwrap_err();
        assert!(err.to_string().contains("invalid `signal`"), "{err}");
        let err = parse_config::<Config>(r#"{"fastperiod": 3}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `fastperiod`"), "{err}");
    }

    #[test]
    fn restores_a_snapshot_and_refuses_other_periods() {
        let bars = bars_from_closes(InstrumentId(0), &closes());
        let mut a = guest("{}");
        for bar in &bars[..40] {
            a.update(bar);
        }
        let mut b = guest("{}");
        b.restore(&a.snapshot().unwrap()).unwrap();
        for bar in &bars[40..] {
            assert_eq!(a.update(bar), b.update(bar));
        }
        let err = guest(r#"{"signal": 3}"#)
            .restore(&a.snapshot().unwrap())
            .unwrap_err();
        assert!(
            err.to_string().contains("(12, 26, 9), this one has (12, 26, 3)"),
            "{err}"
        );
    }
}
