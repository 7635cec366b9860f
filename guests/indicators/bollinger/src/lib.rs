//! `bollinger` indicator guest: TA-Lib's Bollinger bands (SMA middle band) of
//! bar closes.
//!
//! Configuration (JSON): `{"period": 20, "nbdev_up": 2.0, "nbdev_down": 2.0}`;
//! defaults are TA-Lib's: period 5, both multipliers 2. `period` must be in
//! `2..=100000`, the multipliers finite within `-3e37..=3e37`. Three output
//! series, `upper`, `middle`, `lower`, from the `period`-th bar on. The band
//! width uses the population standard deviation. See
//! [`wasmtrade_sdk::ta::Bollinger`] for the exact definition.
//!
//! ```
//! use wasmtrade_sdk::{Indicator, InstrumentId, parse_config, testing::bars_from_closes};
//! let mut bb = bollinger::Bollinger::new(parse_config(r#"{"period": 2, "nbdev_up": 1.0}"#)?)?;
//! let out: Vec<_> = bars_from_closes(InstrumentId(0), &[1.0, 3.0]).iter().map(|b| bb.update(b)).collect();
//! assert_eq!(out, [None, Some(vec![3.0, 2.0, 0.0])]); // stddev 1
//! # Ok::<(), wasmtrade_sdk::Error>(())
//! ```

use serde::Deserialize;
use wasmtrade_sdk::{Bar, Error, Indicator, export_indicator, state, ta};

/// The guest's configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Number of closes in the moving average and deviation (TA-Lib's default: 5).
    pub period: usize,
    /// Standard deviations above the middle band (TA-Lib's default: 2).
    pub nbdev_up: f64,
    /// Standard deviations below the middle band (TA-Lib's default: 2).
    pub nbdev_down: f64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            period: ta::Bollinger::DEFAULT_PERIOD,
            nbdev_up: ta::Bollinger::DEFAULT_NBDEV,
            nbdev_down: ta::Bollinger::DEFAULT_NBDEV,
        }
    }
}

/// Upper, middle and lower Bollinger bands of bar closes.
#[derive(Debug, Clone, PartialEq)]
pub struct Bollinger {
    bands: ta::Bollinger,
}

/// The parameters of a band indicator, compared bit for bit on restore.
fn params(b: &ta::Bollinger) -> (usize, u64, u64) {
    (b.period(), b.nbdev_up().to_bits(), b.nbdev_down().to_bits())
}

impl Indicator for Bollinger {
    type Config = Config;
    const NAME: &'static str = "bollinger";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn new(config: Config) -> Result<Self, Error> {
        let bands =
            ta::Bollinger::new(config.period, config.nbdev_up, config.nbdev_down).map_err(Error::config)?;
        Ok(Self { bands })
    }

    fn outputs(&self) -> Vec<String> {
        ["upper", "middle", "lower"].map(String::from).to_vec()
    }

    fn update(&mut self, bar: &Bar) -> Option<Vec<f64>> {
        self.bands
            .update(bar.close)
            .map(|b| vec![b.upper, b.middle, b.lower])
    }

    fn snapshot(&self) -> Result<Vec<u8>, Error> {
        state::encode(&self.bands)
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let bands: ta::Bollinger = state::decode(bytes)?;
        if params(&bands) != params(&self.bands) {
            let (b, s) = (&bands, &self.bands);
            return Err(Error::state(format!(
                "snapshot is of bands with (period, nbdev_up, nbdev_down) = ({}, {}, {}), this one has ({}, {}, {})",
                b.period(),
                b.nbdev_up(),
                b.nbdev_down(),
                s.period(),
                s.nbdev_up(),
                s.nbdev_down()
            )));
        }
        self.bands = bands;
        Ok(())
    }
}

export_indicator!(Bollinger);

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails loudly on an unexpected error")]
mod tests {
    use super::*;
    use wasmtrade_sdk::{InstrumentId, parse_config, testing::bars_from_closes};

    fn closes() -> Vec<f64> {
        (0..60).map(|i| 100.0 + (i as f64 * 0.47).sin() * 2.0).collect()
    }

    fn guest(json: &str) -> Bollinger {
        Bollinger::new(parse_config(json).unwrap()).unwrap()
    }

    #[test]
    fn matches_the_ta_bands_after_warm_up() {
        let mut g = guest(r#"{"period": 20, "nbdev_up": 2.0, "nbdev_down": 1.5}"#);
        let mut reference = ta::Bollinger::new(20, 2.0, 1.5).unwrap();
        assert_eq!(g.outputs(), ["upper", "middle", "lower"]);
        for (i, bar) in bars_from_closes(InstrumentId(0), &closes()).iter().enumerate() {
            let out = g.update(bar);
            assert_eq!(
                out,
                reference
                    .update(bar.close)
                    .map(|b| vec![b.upper, b.middle, b.lower])
            );
            assert_eq!(out.is_some(), i >= 19);
        }
    }

    #[test]
    fn defaults_are_talib_5_2_2() {
        let c: Config = parse_config("").unwrap();
        assert_eq!(
            c,
            Config {
                period: 5,
                nbdev_up: 2.0,
                nbdev_down: 2.0
            }
        );
    }

    #[test]
    fn config_errors_name_the_field() {
        let err = Bollinger::new(parse_config(r#"{"period": 1}"#).unwrap()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid config: invalid `period`: 1 is outside TA-Lib's accepted range 2..=100000"
        );
        let err = Bollinger::new(parse_config(r#"{"nbdev_down": 1e38}"#).unwrap()).unwrap_err();
        assert!(err.to_string().contains("invalid `nbdev_down`"), "{err}");
        let err = parse_config::<Config>(r#"{"nbdevup": 2}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `nbdevup`"), "{err}");
    }

    #[test]
    fn restores_a_snapshot_and_refuses_other_parameters() {
        let bars = bars_from_closes(InstrumentId(0), &closes());
        let mut a = guest(r#"{"period": 20}"#);
        for bar in &bars[..25] {
            a.update(bar);
        }
        let mut b = guest(r#"{"period": 20}"#);
        b.restore(&a.snapshot().unwrap()).unwrap();
        for bar in &bars[25..] {
            assert_eq!(a.update(bar), b.update(bar));
        }
        let err = guest(r#"{"period": 20, "nbdev_up": 2.5}"#)
            .restore(&a.snapshot().unwrap())
            .unwrap_err();
        assert!(
            err.to_string().contains("(20, 2, 2), this one has (20, 2.5, 2)"),
            "{err}"
        );
    }
}
