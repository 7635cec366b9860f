//! Simple moving average, as TA-Lib's `TA_SMA`.

use serde::{Deserialize, Serialize};

use super::error::{TaError, check_period, ensure};
use super::window::{Window, f64_bits, opt_f64_bits};

/// Simple moving average over `period` values (TA-Lib `TA_SMA`).
///
/// - **Formula:** `sma[i] = (x[i-period+1] + … + x[i]) / period`.
/// - **Summation order (TA-Lib's):** a running `periodTotal` starts at `0.0`
///   and accumulates the first `period - 1` values; then, for every new value,
///   `periodTotal += x[i]`, the output is `periodTotal / period`, and then
///   `periodTotal -= x[i-period+1]`. This type performs exactly those
///   operations in that order, so its outputs equal TA-Lib's bit for bit.
/// - **Lookback:** `period - 1` (the first output is at index `period - 1`).
/// - **Parameters:** `period` in `1..=100000` (TA-Lib ≥ 0.6 accepts 1, which is
///   the identity).
///
/// ```
/// use wasmtrade_sdk::ta::Sma;
/// let mut sma = Sma::new(3)?;
/// let out: Vec<_> = [1.0, 2.0, 3.0, 4.0].into_iter().map(|x| sma.update(x)).collect();
/// assert_eq!(out, [None, None, Some(2.0), Some(3.0)]);
/// # Ok::<(), wasmtrade_sdk::ta::TaError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "SmaState")]
pub struct Sma {
    period: usize,
    /// The previous `period - 1` values.
    window: Window,
    /// TA-Lib's `periodTotal` between updates: the sum of the last `period - 1` values.
    #[serde(with = "f64_bits")]
    total: f64,
    #[serde(with = "opt_f64_bits")]
    value: Option<f64>,
}

impl Sma {
    /// An SMA over `period` values; fails unless `1 <= period <= 100000`.
    pub fn new(period: usize) -> Result<Self, TaError> {
        let period = check_period("period", period, 1)?;
        Ok(Self {
            period,
            window: Window::new(period - 1),
            total: 0.0,
            value: None,
        })
    }

    /// The period.
    pub fn period(&self) -> usize {
        self.period
    }

    /// Number of inputs before the first output (`period - 1`).
    pub fn lookback(&self) -> usize {
        self.period - 1
    }

    /// Feeds one value; returns the average once `period` values have been seen.
    pub fn update(&mut self, x: f64) -> Option<f64> {
        let oldest = self.window.push(x);
        self.total += x;
        let oldest = oldest?;
        let value = self.total / self.period as f64;
        self.total -= oldest;
        self.value = Some(value);
        Some(value)
    }

    /// The latest output, if warmed up.
    pub fn value(&self) -> Option<f64> {
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
        self.value = None;
    }
}

/// The unvalidated form of [`Sma`] as read from a snapshot.
#[derive(Deserialize)]
struct SmaState {
    period: usize,
    window: Window,
    #[serde(with = "f64_bits")]
    total: f64,
    #[serde(with = "opt_f64_bits")]
    value: Option<f64>,
}

impl TryFrom<SmaState> for Sma {
    type Error = TaError;

    fn try_from(s: SmaState) -> Result<Self, TaError> {
        check_period("period", s.period, 1)?;
        ensure(
            s.window.capacity() == s.period - 1,
            "sma",
            "window does not match the period",
        )?;
        Ok(Self {
            period: s.period,
            window: s.window,
            total: s.total,
            value: s.value,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails loudly on an unexpected error")]
mod tests {
    use super::*;

    fn run(sma: &mut Sma, xs: &[f64]) -> Vec<Option<f64>> {
        xs.iter().map(|&x| sma.update(x)).collect()
    }

    #[test]
    fn averages_the_last_period_values_after_lookback() {
        let mut sma = Sma::new(3).unwrap();
        assert_eq!(sma.lookback(), 2);
        let out = run(&mut sma, &[1.0, 2.0, 3.0, 4.0, 8.0]);
        assert_eq!(out, [None, None, Some(2.0), Some(3.0), Some(5.0)]);
        assert_eq!(sma.value(), Some(5.0));
        assert!(sma.is_ready());
    }

    #[test]
    fn period_one_is_the_identity() {
        let mut sma = Sma::new(1).unwrap();
        assert_eq!(run(&mut sma, &[0.1, 0.7, 1e9]), [Some(0.1), Some(0.7), Some(1e9)]);
    }

    #[test]
    fn follows_talib_running_total_order() {
        // periodTotal: 0.1 + 0.2 → +0.3 → out → -0.1 → +0.4 → out.
        let xs = [0.1, 0.2, 0.3, 0.4];
        let mut total: f64 = 0.1 + 0.2;
        total += 0.3;
        let first = total / 3.0;
        total -= 0.1;
        total += 0.4;
        let second = total / 3.0;
        let mut sma = Sma::new(3).unwrap();
        assert_eq!(run(&mut sma, &xs), [None, None, Some(first), Some(second)]);
    }

    #[test]
    fn rejects_period_outside_talib_range() {
        let err = Sma::new(0).unwrap_err();
        assert_eq!(
            err,
            TaError::PeriodOutOfRange {
                param: "period",
                value: 0,
                min: 1,
                max: 100_000
            }
        );
        assert!(Sma::new(100_001).is_err());
        assert!(Sma::new(100_000).is_ok());
    }

    #[test]
    fn reset_restarts_warm_up() {
        let mut sma = Sma::new(2).unwrap();
        run(&mut sma, &[1.0, 2.0, 3.0]);
        sma.reset();
        assert!(!sma.is_ready());
        assert_eq!(run(&mut sma, &[5.0, 7.0]), [None, Some(6.0)]);
    }

    #[test]
    fn snapshot_restores_bit_exact_state() {
        let xs: Vec<f64> = (0..40).map(|i| (i as f64 * 0.37).sin() * 10.0 + 100.0).collect();
        let mut a = Sma::new(7).unwrap();
        run(&mut a, &xs[..20]);
        let mut b: Sma = serde_json::from_slice(&serde_json::to_vec(&a).unwrap()).unwrap();
        assert_eq!(run(&mut a, &xs[20..]), run(&mut b, &xs[20..]));
    }

    #[test]
    fn snapshot_with_mismatched_window_is_rejected() {
        let a = Sma::new(3).unwrap();
        let mut json = serde_json::to_value(&a).unwrap();
        json["period"] = 5.into();
        let err = serde_json::from_value::<Sma>(json).unwrap_err().to_string();
        assert!(err.contains("invalid sma snapshot"), "{err}");
    }
}
