//! Average true range, as TA-Lib's `TA_ATR`.

use serde::{Deserialize, Serialize};

use super::error::{TaError, check_period, ensure};
use super::window::{f64_bits, opt_f64_bits};

/// TA-Lib's `TA_TRANGE` for one bar: the greatest of `high - low`,
/// `|prev_close - high|` and `|prev_close - low|`, compared in that order.
pub fn true_range(high: f64, low: f64, prev_close: f64) -> f64 {
    let mut greatest = high - low;
    let to_high = (prev_close - high).abs();
    if to_high > greatest {
        greatest = to_high;
    }
    let to_low = (prev_close - low).abs();
    if to_low > greatest {
        greatest = to_low;
    }
    greatest
}

/// Average true range (TA-Lib `TA_ATR`, unstable period 0).
///
/// - **True range:** [`true_range`] of each bar against the previous close;
///   the first bar has no previous close and yields nothing.
/// - **Seed:** the first ATR is the simple average of the first `period` true
///   ranges (bars `1..=period`), summed left to right from `0.0`.
/// - **Smoothing (Wilder):** `atr = atr * (period - 1)`, `atr += tr`,
///   `atr /= period` (TA-Lib's order). Period 1 is the true range itself.
/// - **Lookback:** `period` (the first output is at index `period`).
/// - **Parameters:** `period` in `1..=100000` (TA-Lib's default is 14).
///
/// ```
/// use wasmtrade_sdk::ta::Atr;
/// let mut atr = Atr::new(2)?;
/// assert_eq!(atr.update(10.0, 8.0, 9.0), None);
/// assert_eq!(atr.update(11.0, 9.0, 10.0), None); // TR 2
/// assert_eq!(atr.update(15.0, 13.0, 14.0), Some(3.5)); // TR 5
/// # Ok::<(), wasmtrade_sdk::ta::TaError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "AtrState")]
pub struct Atr {
    period: usize,
    #[serde(with = "opt_f64_bits")]
    prev_close: Option<f64>,
    /// True ranges summed into the seed so far (`< period` until seeded).
    seen: usize,
    #[serde(with = "f64_bits")]
    seed_sum: f64,
    #[serde(with = "opt_f64_bits")]
    value: Option<f64>,
}

impl Atr {
    /// TA-Lib's default period.
    pub const DEFAULT_PERIOD: usize = 14;

    /// An ATR over `period` true ranges; fails unless `1 <= period <= 100000`.
    pub fn new(period: usize) -> Result<Self, TaError> {
        let period = check_period("period", period, 1)?;
        Ok(Self {
            period,
            prev_close: None,
            seen: 0,
            seed_sum: 0.0,
            value: None,
        })
    }

    /// The period.
    pub fn period(&self) -> usize {
        self.period
    }

    /// Number of bars before the first output (`period`).
    pub fn lookback(&self) -> usize {
        self.period
    }

    /// Feeds one bar; returns the ATR once `period` true ranges have been seen.
    pub fn update(&mut self, high: f64, low: f64, close: f64) -> Option<f64> {
        let prev_close = self.prev_close.replace(close)?;
        let tr = true_range(high, low, prev_close);
        let period = self.period as f64;
        let next = match self.value {
            _ if self.period == 1 => tr,
            Some(prev) => {
                let mut atr = prev * (period - 1.0);
                atr += tr;
                atr / period
            }
            None => {
                self.seed_sum += tr;
                self.seen += 1;
                if self.seen < self.period {
                    return None;
                }
                self.seed_sum / period
            }
        };
        self.value = Some(next);
        Some(next)
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
            prev_close: None,
            seen: 0,
            seed_sum: 0.0,
            value: None,
        };
    }
}

/// The unvalidated form of [`Atr`] as read from a snapshot.
#[derive(Deserialize)]
struct AtrState {
    period: usize,
    #[serde(with = "opt_f64_bits")]
    prev_close: Option<f64>,
    seen: usize,
    #[serde(with = "f64_bits")]
    seed_sum: f64,
    #[serde(with = "opt_f64_bits")]
    value: Option<f64>,
}

impl TryFrom<AtrState> for Atr {
    type Error = TaError;

    fn try_from(s: AtrState) -> Result<Self, TaError> {
        check_period("period", s.period, 1)?;
        ensure(s.seen <= s.period, "atr", "more seed true ranges than the period")?;
        Ok(Self {
            period: s.period,
            prev_close: s.prev_close,
            seen: s.seen,
            seed_sum: s.seed_sum,
            value: s.value,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails loudly on an unexpected error")]
mod tests {
    use super::*;

    const BARS: [(f64, f64, f64); 5] = [
        (10.0, 8.0, 9.0),
        (11.0, 9.0, 10.0),
        (15.0, 13.0, 14.0),
        (14.0, 12.0, 12.0),
        (9.0, 8.0, 8.5),
    ];

    fn run(atr: &mut Atr, bars: &[(f64, f64, f64)]) -> Vec<Option<f64>> {
        bars.iter().map(|&(h, l, c)| atr.update(h, l, c)).collect()
    }

    #[test]
    fn true_range_takes_the_widest_of_three() {
        assert_eq!(true_range(11.0, 9.0, 9.0), 2.0);
        assert_eq!(true_range(15.0, 13.0, 10.0), 5.0); // gap up
        assert_eq!(true_range(9.0, 8.0, 12.0), 4.0); // gap down
    }

    #[test]
    fn seeds_with_mean_true_range_then_wilder_smooths() {
        // TRs from bar 1: 2, 5, 2, 4. ATR(2): (2+5)/2 = 3.5, (3.5+2)/2 = 2.75, (2.75+4)/2 = 3.375.
        let mut atr = Atr::new(2).unwrap();
        assert_eq!(atr.lookback(), 2);
        assert_eq!(
            run(&mut atr, &BARS),
            [None, None, Some(3.5), Some(2.75), Some(3.375)]
        );
        assert_eq!(atr.value(), Some(3.375));
    }

    #[test]
    fn period_one_is_the_true_range() {
        let mut atr = Atr::new(1).unwrap();
        assert_eq!(
            run(&mut atr, &BARS),
            [None, Some(2.0), Some(5.0), Some(2.0), Some(4.0)]
        );
    }

    #[test]
    fn rejects_period_zero() {
        assert_eq!(
            Atr::new(0).unwrap_err().to_string(),
            "invalid `period`: 0 is outside TA-Lib's accepted range 1..=100000"
        );
    }

    #[test]
    fn snapshot_restores_exactly() {
        let mut a = Atr::new(3).unwrap();
        run(&mut a, &BARS[..2]);
        let mut b: Atr = serde_json::from_slice(&serde_json::to_vec(&a).unwrap()).unwrap();
        assert_eq!(run(&mut a, &BARS[2..]), run(&mut b, &BARS[2..]));
        b.reset();
        assert_eq!(b, Atr::new(3).unwrap());
    }
}
