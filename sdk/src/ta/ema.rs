//! Exponential moving average, as TA-Lib's `TA_EMA` with default compatibility.

use serde::{Deserialize, Serialize};

use super::error::{TaError, check_period, ensure};
use super::window::{f64_bits, opt_f64_bits};

/// Exponential moving average (TA-Lib `TA_EMA`, "classic" seeding).
///
/// - **Smoothing:** `k = 2 / (period + 1)`.
/// - **Seed:** the first output is the simple average of the first `period`
///   values, summed left to right from `0.0` and divided by `period`.
/// - **Recurrence:** `ema[i] = (x[i] - ema[i-1]) * k + ema[i-1]`, in that
///   operation order (TA-Lib's).
/// - **Lookback:** `period - 1`; unstable period 0.
/// - **Parameters:** `period` in `1..=100000`; period 1 is the identity, as in
///   TA-Lib ≥ 0.6.
///
/// ```
/// use wasmtrade_sdk::ta::Ema;
/// let mut ema = Ema::new(3)?; // k = 0.5
/// let out: Vec<_> = [2.0, 4.0, 6.0, 8.0].into_iter().map(|x| ema.update(x)).collect();
/// assert_eq!(out, [None, None, Some(4.0), Some(6.0)]);
/// # Ok::<(), wasmtrade_sdk::ta::TaError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "EmaState")]
pub struct Ema {
    period: usize,
    #[serde(with = "f64_bits")]
    k: f64,
    /// Values summed into the seed so far (`< period` until seeded).
    seen: usize,
    #[serde(with = "f64_bits")]
    seed_sum: f64,
    #[serde(with = "opt_f64_bits")]
    value: Option<f64>,
}

impl Ema {
    /// An EMA over `period` values; fails unless `1 <= period <= 100000`.
    pub fn new(period: usize) -> Result<Self, TaError> {
        check_period("period", period, 1)?;
        Ok(Self::unchecked(period))
    }

    /// Builds without checking (callers have checked `1 <= period <= 100000`).
    pub(crate) fn unchecked(period: usize) -> Self {
        Self {
            period,
            k: smoothing(period),
            seen: 0,
            seed_sum: 0.0,
            value: None,
        }
    }

    /// The period.
    pub fn period(&self) -> usize {
        self.period
    }

    /// Number of inputs before the first output (`period - 1`).
    pub fn lookback(&self) -> usize {
        self.period - 1
    }

    /// Feeds one value; returns the EMA once `period` values have been seen.
    pub fn update(&mut self, x: f64) -> Option<f64> {
        let next = match self.value {
            // TA-Lib ≥ 0.6 passes the input through unchanged for period 1.
            _ if self.period == 1 => x,
            Some(prev) => (x - prev) * self.k + prev,
            None => {
                self.seed_sum += x;
                self.seen += 1;
                if self.seen < self.period {
                    return None;
                }
                self.seed_sum / self.period as f64
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
        *self = Self::unchecked(self.period);
    }
}

/// TA-Lib's `PER_TO_K`: `2 / (period + 1)`.
fn smoothing(period: usize) -> f64 {
    2.0 / (period + 1) as f64
}

/// The unvalidated form of [`Ema`] as read from a snapshot.
#[derive(Deserialize)]
struct EmaState {
    period: usize,
    #[serde(with = "f64_bits")]
    k: f64,
    seen: usize,
    #[serde(with = "f64_bits")]
    seed_sum: f64,
    #[serde(with = "opt_f64_bits")]
    value: Option<f64>,
}

impl TryFrom<EmaState> for Ema {
    type Error = TaError;

    fn try_from(s: EmaState) -> Result<Self, TaError> {
        check_period("period", s.period, 1)?;
        ensure(
            s.k.to_bits() == smoothing(s.period).to_bits(),
            "ema",
            "k does not match the period",
        )?;
        ensure(s.seen <= s.period, "ema", "more seed values than the period")?;
        Ok(Self {
            period: s.period,
            k: s.k,
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

    fn run(ema: &mut Ema, xs: &[f64]) -> Vec<Option<f64>> {
        xs.iter().map(|&x| ema.update(x)).collect()
    }

    #[test]
    fn seeds_with_sma_then_smooths() {
        // period 3: k = 0.5, seed = (2+4+6)/3 = 4, then (8-4)/2+4 = 6, (20-6)/2+6 = 13.
        let mut ema = Ema::new(3).unwrap();
        assert_eq!(ema.lookback(), 2);
        assert_eq!(
            run(&mut ema, &[2.0, 4.0, 6.0, 8.0, 20.0]),
            [None, None, Some(4.0), Some(6.0), Some(13.0)]
        );
    }

    #[test]
    fn uses_k_two_over_period_plus_one() {
        // period 4: k = 0.4, seed = (1+2+3+4)/4 = 2.5, then (10-2.5)*0.4+2.5 = 5.5.
        let mut ema = Ema::new(4).unwrap();
        let out = run(&mut ema, &[1.0, 2.0, 3.0, 4.0, 10.0]);
        assert_eq!(out[3], Some(2.5));
        let expected = (10.0 - 2.5) * (2.0 / 5.0) + 2.5;
        assert_eq!(out[4], Some(expected));
        assert!((expected - 5.5).abs() < 1e-12);
    }

    #[test]
    fn period_one_is_the_identity() {
        let mut ema = Ema::new(1).unwrap();
        let xs = [0.1, 3e-300, -7.25e10, 1.0];
        let out = run(&mut ema, &xs);
        assert_eq!(out, xs.map(Some));
    }

    #[test]
    fn rejects_period_zero() {
        let msg = Ema::new(0).unwrap_err().to_string();
        assert!(msg.contains("`period`") && msg.contains("1..=100000"), "{msg}");
    }

    #[test]
    fn snapshot_during_seed_restores_exactly() {
        let xs: Vec<f64> = (0..30).map(|i| 100.0 + (i as f64 * 0.61).cos()).collect();
        let mut a = Ema::new(10).unwrap();
        run(&mut a, &xs[..5]);
        let mut b: Ema = serde_json::from_slice(&serde_json::to_vec(&a).unwrap()).unwrap();
        assert_eq!(run(&mut a, &xs[5..]), run(&mut b, &xs[5..]));
        b.reset();
        assert_eq!(b, Ema::new(10).unwrap());
    }

    #[test]
    fn snapshot_with_wrong_k_is_rejected() {
        let mut json = serde_json::to_value(Ema::new(3).unwrap()).unwrap();
        json["period"] = 4.into();
        assert!(serde_json::from_value::<Ema>(json).is_err());
    }
}
