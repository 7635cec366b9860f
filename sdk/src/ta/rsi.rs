//! Relative strength index, as TA-Lib's `TA_RSI` (Wilder smoothing).

use serde::{Deserialize, Serialize};

use super::error::{TaError, check_period, ensure};
use super::window::{f64_bits, opt_f64_bits};

/// TA-Lib's `TA_IS_ZERO`: `-1e-8 < v < 1e-8`.
fn is_zero(v: f64) -> bool {
    -0.000_000_01 < v && v < 0.000_000_01
}

/// Relative strength index (TA-Lib `TA_RSI`, default compatibility, unstable period 0).
///
/// - **Changes:** `d[i] = x[i] - x[i-1]`; a negative change is a loss
///   (`loss -= d`), anything else a gain (`gain += d`).
/// - **Seed:** after the first `period` changes, `avgGain = Σgain / period`
///   and `avgLoss = Σloss / period` (sums from `0.0`, left to right).
/// - **Smoothing (Wilder):** `avg = avg * (period - 1)`, then the new gain or
///   loss is added, then `avg /= period` (TA-Lib's order; the side without a
///   new value is still multiplied and divided).
/// - **Output:** `100 * (avgGain / (avgGain + avgLoss))`, or `0` when
///   `avgGain + avgLoss` is zero by TA-Lib's `TA_IS_ZERO` (`|v| < 1e-8`).
/// - **Lookback:** `period` (the first output is at index `period`).
/// - **Parameters:** `period` in `2..=100000` (TA-Lib's default is 14).
///
/// ```
/// use wasmtrade_sdk::ta::Rsi;
/// let mut rsi = Rsi::new(2)?;
/// let out: Vec<_> = [1.0, 2.0, 1.0].into_iter().map(|x| rsi.update(x)).collect();
/// assert_eq!(out, [None, None, Some(50.0)]);
/// # Ok::<(), wasmtrade_sdk::ta::TaError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RsiState")]
pub struct Rsi {
    period: usize,
    #[serde(with = "opt_f64_bits")]
    prev: Option<f64>,
    /// Changes accumulated into the seed so far (`period` once seeded).
    changes: usize,
    /// Σgain while seeding, then the smoothed average gain.
    #[serde(with = "f64_bits")]
    gain: f64,
    /// Σloss while seeding, then the smoothed average loss.
    #[serde(with = "f64_bits")]
    loss: f64,
    #[serde(with = "opt_f64_bits")]
    value: Option<f64>,
}

impl Rsi {
    /// TA-Lib's default period.
    pub const DEFAULT_PERIOD: usize = 14;

    /// An RSI over `period` changes; fails unless `2 <= period <= 100000`.
    pub fn new(period: usize) -> Result<Self, TaError> {
        let period = check_period("period", period, 2)?;
        Ok(Self {
            period,
            prev: None,
            changes: 0,
            gain: 0.0,
            loss: 0.0,
            value: None,
        })
    }

    /// The period.
    pub fn period(&self) -> usize {
        self.period
    }

    /// Number of inputs before the first output (`period`).
    pub fn lookback(&self) -> usize {
        self.period
    }

    /// Feeds one value; returns the RSI once `period` changes have been seen.
    pub fn update(&mut self, x: f64) -> Option<f64> {
        let prev = self.prev.replace(x)?;
        let change = x - prev;
        let period = self.period as f64;
        if self.changes < self.period {
            self.accumulate(change);
            self.changes += 1;
            if self.changes < self.period {
                return None;
            }
            self.loss /= period;
            self.gain /= period;
        } else {
            self.loss *= period - 1.0;
            self.gain *= period - 1.0;
            self.accumulate(change);
            self.loss /= period;
            self.gain /= period;
        }
        let sum = self.gain + self.loss;
        let value = if is_zero(sum) {
            0.0
        } else {
            100.0 * (self.gain / sum)
        };
        self.value = Some(value);
        Some(value)
    }

    fn accumulate(&mut self, change: f64) {
        if change < 0.0 {
            self.loss -= change;
        } else {
            self.gain += change;
        }
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
        *self = Self {
            period: self.period,
            prev: None,
            changes: 0,
            gain: 0.0,
            loss: 0.0,
            value: None,
        };
    }
}

/// The unvalidated form of [`Rsi`] as read from a snapshot.
#[derive(Deserialize)]
struct RsiState {
    period: usize,
    #[serde(with = "opt_f64_bits")]
    prev: Option<f64>,
    changes: usize,
    #[serde(with = "f64_bits")]
    gain: f64,
    #[serde(with = "f64_bits")]
    loss: f64,
    #[serde(with = "opt_f64_bits")]
    value: Option<f64>,
}

impl TryFrom<RsiState> for Rsi {
    type Error = TaError;

    fn try_from(s: RsiState) -> Result<Self, TaError> {
        check_period("period", s.period, 2)?;
        ensure(s.changes <= s.period, "rsi", "more seed changes than the period")?;
        Ok(Self {
            period: s.period,
            prev: s.prev,
            changes: s.changes,
            gain: s.gain,
            loss: s.loss,
            value: s.value,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails loudly on an unexpected error")]
mod tests {
    use super::*;

    fn run(rsi: &mut Rsi, xs: &[f64]) -> Vec<Option<f64>> {
        xs.iter().map(|&x| rsi.update(x)).collect()
    }

    #[test]
    fn seeds_with_simple_averages_then_wilder_smooths() {
        // changes +1, -1, +2, 0 with period 2:
        // idx2: gain .5, loss .5 → 50
        // idx3: gain (.5*1+2)/2 = 1.25, loss (.5*1)/2 = .25 → 100*1.25/1.5
        // idx4: gain 1.25/2 = .625, loss .25/2 = .125 → 100*.625/.75
        let mut rsi = Rsi::new(2).unwrap();
        assert_eq!(rsi.lookback(), 2);
        let out = run(&mut rsi, &[1.0, 2.0, 1.0, 3.0, 3.0]);
        assert_eq!(out[..3], [None, None, Some(50.0)]);
        assert!((out[3].unwrap() - 250.0 / 3.0).abs() < 1e-12);
        assert!((out[4].unwrap() - 250.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn only_gains_give_100_only_losses_give_0() {
        let mut up = Rsi::new(3).unwrap();
        assert_eq!(
            run(&mut up, &[1.0, 2.0, 3.0, 4.0, 5.0])[3..],
            [Some(100.0), Some(100.0)]
        );
        let mut down = Rsi::new(3).unwrap();
        assert_eq!(
            run(&mut down, &[5.0, 4.0, 3.0, 2.0, 1.0])[3..],
            [Some(0.0), Some(0.0)]
        );
    }

    #[test]
    fn flat_or_tiny_moves_give_zero_like_talib() {
        let mut flat = Rsi::new(14).unwrap();
        let out = run(&mut flat, &[5.0; 20]);
        assert_eq!(out[13], None);
        assert!(out[14..].iter().all(|v| *v == Some(0.0)));
        // gain+loss below 1e-8 counts as zero.
        let mut tiny = Rsi::new(2).unwrap();
        assert_eq!(run(&mut tiny, &[1.0, 1.0 + 4e-9, 1.0 + 8e-9])[2], Some(0.0));
    }

    #[test]
    fn rejects_period_below_two() {
        let msg = Rsi::new(1).unwrap_err().to_string();
        assert_eq!(
            msg,
            "invalid `period`: 1 is outside TA-Lib's accepted range 2..=100000"
        );
    }

    #[test]
    fn snapshot_restores_exactly() {
        let xs: Vec<f64> = (0..60).map(|i| 50.0 + (i as f64 * 0.9).sin() * 3.0).collect();
        let mut a = Rsi::new(Rsi::DEFAULT_PERIOD).unwrap();
        run(&mut a, &xs[..25]);
        let mut b: Rsi = serde_json::from_slice(&serde_json::to_vec(&a).unwrap()).unwrap();
        assert_eq!(run(&mut a, &xs[25..]), run(&mut b, &xs[25..]));
        a.reset();
        assert_eq!(a, Rsi::new(14).unwrap());
    }
}
