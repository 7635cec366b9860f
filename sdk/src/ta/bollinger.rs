//! Bollinger bands, as TA-Lib's `TA_BBANDS` with an SMA middle band.

use serde::{Deserialize, Serialize};

use super::error::{TaError, check_multiplier, check_period, ensure};
use super::window::{Window, f64_bits, opt_triple_bits};

/// One set of Bollinger bands.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bands {
    /// `middle + stddev * nbdev_up`.
    pub upper: f64,
    /// The simple moving average.
    pub middle: f64,
    /// `middle - stddev * nbdev_down`.
    pub lower: f64,
}

impl From<Bands> for [f64; 3] {
    /// `[upper, middle, lower]`, the order of TA-Lib's outputs.
    fn from(b: Bands) -> Self {
        [b.upper, b.middle, b.lower]
    }
}

impl From<[f64; 3]> for Bands {
    /// From `[upper, middle, lower]`.
    fn from([upper, middle, lower]: [f64; 3]) -> Self {
        Self { upper, middle, lower }
    }
}

/// TA-Lib's `TA_IS_ZERO_OR_NEG`: `v < 1e-8`.
fn is_zero_or_neg(v: f64) -> bool {
    v < 0.000_000_01
}

/// Bollinger bands (TA-Lib `TA_BBANDS` with `MAType = SMA`).
///
/// - **Middle:** `SMA(period)`, with TA-Lib's running-total order (see
///   [`super::Sma`]).
/// - **Deviation:** population standard deviation as TA-Lib's
///   `INT_stddev_using_precalc_ma`: a running `periodTotal2` of squares
///   (same add/output/subtract order as the SMA), `variance = periodTotal2 /
///   period - middle²`, `stddev = sqrt(variance)`, or `0` when the variance is
///   below `1e-8` (TA-Lib's `TA_IS_ZERO_OR_NEG`).
/// - **Bands:** `upper = middle + stddev * nbdev_up`,
///   `lower = middle - stddev * nbdev_down`.
/// - **Lookback:** `period - 1`.
/// - **Parameters:** `period` in `2..=100000` (TA-Lib's default is 5; 20 is
///   common), `nbdev_up`/`nbdev_down` finite in `-3e37..=3e37` (default 2).
///
/// ```
/// use wasmtrade_sdk::ta::Bollinger;
/// let mut bb = Bollinger::new(3, 2.0, 2.0)?;
/// bb.update(5.0);
/// bb.update(5.0);
/// let b = bb.update(5.0).unwrap();
/// assert_eq!((b.upper, b.middle, b.lower), (5.0, 5.0, 5.0));
/// # Ok::<(), wasmtrade_sdk::ta::TaError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "BollingerState")]
pub struct Bollinger {
    period: usize,
    #[serde(with = "f64_bits")]
    nbdev_up: f64,
    #[serde(with = "f64_bits")]
    nbdev_down: f64,
    /// The previous `period - 1` values.
    window: Window,
    /// Sum of the last `period - 1` values (TA-Lib's SMA `periodTotal`).
    #[serde(with = "f64_bits")]
    total: f64,
    /// Sum of their squares (TA-Lib's `periodTotal2`).
    #[serde(with = "f64_bits")]
    total_sq: f64,
    #[serde(with = "opt_triple_bits")]
    value: Option<Bands>,
}

impl Bollinger {
    /// TA-Lib's default period.
    pub const DEFAULT_PERIOD: usize = 5;
    /// TA-Lib's default band multiplier.
    pub const DEFAULT_NBDEV: f64 = 2.0;

    /// Bands over `period` values; fails unless `2 <= period <= 100000` and
    /// both multipliers are finite within `-3e37..=3e37`.
    pub fn new(period: usize, nbdev_up: f64, nbdev_down: f64) -> Result<Self, TaError> {
        let period = check_period("period", period, 2)?;
        let nbdev_up = check_multiplier("nbdev_up", nbdev_up)?;
        let nbdev_down = check_multiplier("nbdev_down", nbdev_down)?;
        Ok(Self {
            period,
            nbdev_up,
            nbdev_down,
            window: Window::new(period - 1),
            total: 0.0,
            total_sq: 0.0,
            value: None,
        })
    }

    /// The period.
    pub fn period(&self) -> usize {
        self.period
    }

    /// The upper band's multiplier.
    pub fn nbdev_up(&self) -> f64 {
        self.nbdev_up
    }

    /// The lower band's multiplier.
    pub fn nbdev_down(&self) -> f64 {
        self.nbdev_down
    }

    /// Number of inputs before the first output (`period - 1`).
    pub fn lookback(&self) -> usize {
        self.period - 1
    }

    /// Feeds one value; returns the bands once `period` values have been seen.
    pub fn update(&mut self, x: f64) -> Option<Bands> {
        let oldest = self.window.push(x);
        let period = self.period as f64;
        self.total += x;
        self.total_sq += x * x;
        let oldest = oldest?;
        let middle = self.total / period;
        let mut variance = self.total_sq / period;
        self.total -= oldest;
        self.total_sq -= oldest * oldest;
        variance -= middle * middle;
        let stddev = if is_zero_or_neg(variance) {
            0.0
        } else {
            variance.sqrt()
        };
        let bands = Bands {
            upper: middle + stddev * self.nbdev_up,
            middle,
            lower: middle - stddev * self.nbdev_down,
        };
        self.value = Some(bands);
        Some(bands)
    }

    /// The latest output, if warmed up.
    pub fn value(&self) -> Option<Bands> {
        self.value
    }

    /// Whether the warm-up is over.
    pub fn is_ready(&self) -> bool {
        self.value.is_some()
    }

    /// Forgets every input, as if newly built.
    pub fn reset(&mut self) {
        self.window.clear();
        self.total = 0.0;
        self.total_sq = 0.0;
        self.value = None;
    }
}

/// The unvalidated form of [`Bollinger`] as read from a snapshot.
#[derive(Deserialize)]
struct BollingerState {
    period: usize,
    #[serde(with = "f64_bits")]
    nbdev_up: f64,
    #[serde(with = "f64_bits")]
    nbdev_down: f64,
    window: Window,
    #[serde(with = "f64_bits")]
    total: f64,
    #[serde(with = "f64_bits")]
    total_sq: f64,
    #[serde(with = "opt_triple_bits")]
    value: Option<Bands>,
}

impl TryFrom<BollingerState> for Bollinger {
    type Error = TaError;

    fn try_from(s: BollingerState) -> Result<Self, TaError> {
        let mut b = Self::new(s.period, s.nbdev_up, s.nbdev_down)?;
        ensure(
            s.window.capacity() == s.period - 1,
            "bollinger",
            "window does not match the period",
        )?;
        b.window = s.window;
        b.total = s.total;
        b.total_sq = s.total_sq;
        b.value = s.value;
        Ok(b)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails loudly on an unexpected error")]
mod tests {
    use super::*;

    fn run(b: &mut Bollinger, xs: &[f64]) -> Vec<Option<Bands>> {
        xs.iter().map(|&x| b.update(x)).collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn uses_population_stddev_around_the_sma() {
        // window 1,2,3: mean 2, E[x²] = 14/3, var = 2/3.
        // window 2,3,5: mean 10/3, E[x²] = 38/3, var = 14/9.
        let mut b = Bollinger::new(3, 2.0, 1.0).unwrap();
        assert_eq!(b.lookback(), 2);
        let out = run(&mut b, &[1.0, 2.0, 3.0, 5.0]);
        assert_eq!(out[..2], [None, None]);
        let (b2, sd2) = (out[2].unwrap(), (2.0f64 / 3.0).sqrt());
        assert!(close(b2.middle, 2.0) && close(b2.upper, 2.0 + 2.0 * sd2) && close(b2.lower, 2.0 - sd2));
        let (b3, sd3) = (out[3].unwrap(), 14.0f64.sqrt() / 3.0);
        assert!(close(b3.middle, 10.0 / 3.0));
        assert!(close(b3.upper, 10.0 / 3.0 + 2.0 * sd3) && close(b3.lower, 10.0 / 3.0 - sd3));
    }

    #[test]
    fn variance_below_1e8_collapses_the_bands() {
        let mut b = Bollinger::new(3, 2.0, 2.0).unwrap();
        let out = run(&mut b, &[1.0, 1.0 + 1e-5, 1.0]);
        let v = out[2].unwrap();
        assert_eq!((v.upper, v.lower), (v.middle, v.middle));
    }

    #[test]
    fn negative_multipliers_are_allowed_like_talib() {
        let mut b = Bollinger::new(2, -1.0, -2.0).unwrap();
        let v = run(&mut b, &[1.0, 3.0])[1].unwrap();
        assert!(close(v.upper, 1.0) && close(v.middle, 2.0) && close(v.lower, 4.0));
    }

    #[test]
    fn rejects_bad_parameters_by_name() {
        assert!(
            Bollinger::new(1, 2.0, 2.0)
                .unwrap_err()
                .to_string()
                .contains("`period`")
        );
        assert!(
            Bollinger::new(20, f64::NAN, 2.0)
                .unwrap_err()
                .to_string()
                .contains("`nbdev_up`")
        );
        assert!(
            Bollinger::new(20, 2.0, 1e38)
                .unwrap_err()
                .to_string()
                .contains("`nbdev_down`")
        );
    }

    #[test]
    fn snapshot_restores_exactly() {
        let xs: Vec<f64> = (0..60).map(|i| 100.0 + (i as f64 * 0.47).sin() * 2.0).collect();
        let mut a = Bollinger::new(20, 2.0, 2.0).unwrap();
        run(&mut a, &xs[..30]);
        let mut b: Bollinger = serde_json::from_slice(&serde_json::to_vec(&a).unwrap()).unwrap();
        assert_eq!(run(&mut a, &xs[30..]), run(&mut b, &xs[30..]));
        a.reset();
        assert_eq!(a, Bollinger::new(20, 2.0, 2.0).unwrap());
    }
}
