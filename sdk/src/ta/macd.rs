//! Moving average convergence/divergence, as TA-Lib's `TA_MACD`.

use serde::{Deserialize, Serialize};

use super::ema::Ema;
use super::error::{TaError, check_period, ensure};
use super::window::opt_triple_bits;

/// One MACD output.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MacdValue {
    /// Fast EMA minus slow EMA.
    pub macd: f64,
    /// EMA of `macd` over the signal period.
    pub signal: f64,
    /// `macd - signal`.
    pub histogram: f64,
}

impl From<MacdValue> for [f64; 3] {
    /// `[macd, signal, histogram]`, the order of TA-Lib's outputs.
    fn from(v: MacdValue) -> Self {
        [v.macd, v.signal, v.histogram]
    }
}

impl From<[f64; 3]> for MacdValue {
    /// From `[macd, signal, histogram]`.
    fn from([macd, signal, histogram]: [f64; 3]) -> Self {
        Self {
            macd,
            signal,
            histogram,
        }
    }
}

/// MACD (TA-Lib `TA_MACD`).
///
/// - **Periods:** if `slow < fast` the two are swapped (as TA-Lib does).
/// - **EMAs:** both use `k = 2 / (p + 1)` and SMA seeding (see [`Ema`]). The
///   slow EMA is seeded by the first `slow` values (first value at index
///   `slow - 1`). TA-Lib computes the fast EMA from index `slow - fast` on, so
///   its seed is the SMA of the `fast` values *ending at index `slow - 1`*,
///   not of the first `fast` values.
/// - **Line:** `macd = fastEma - slowEma` from index `slow - 1`.
/// - **Signal:** EMA (`k = 2 / (signal + 1)`, SMA-seeded) of the MACD line;
///   `histogram = macd - signal`.
/// - **Lookback:** `(slow - 1) + (signal - 1)`; all three outputs start there.
/// - **Parameters:** `fast`, `slow` in `2..=100000`, `signal` in `1..=100000`
///   (TA-Lib's defaults are 12, 26, 9).
///
/// ```
/// use wasmtrade_sdk::ta::Macd;
/// let mut macd = Macd::new(12, 26, 9)?;
/// assert_eq!(macd.lookback(), 33);
/// for i in 0..33 {
///     assert!(macd.update(100.0 + i as f64).is_none());
/// }
/// assert!(macd.update(133.0).is_some());
/// # Ok::<(), wasmtrade_sdk::ta::TaError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "MacdState")]
pub struct Macd {
    fast: Ema,
    slow: Ema,
    signal: Ema,
    /// Inputs seen, counted up to `slow - fast` (where the fast EMA starts).
    seen: usize,
    #[serde(with = "opt_triple_bits")]
    value: Option<MacdValue>,
}

impl Default for Macd {
    /// TA-Lib's default periods: fast 12, slow 26, signal 9.
    fn default() -> Self {
        Self::unchecked(12, 26, 9)
    }
}

impl Macd {
    /// A MACD with the given periods; fails unless `2 <= fast, slow <= 100000`
    /// and `1 <= signal <= 100000`. `fast` and `slow` are swapped if `slow < fast`.
    pub fn new(fast: usize, slow: usize, signal: usize) -> Result<Self, TaError> {
        check_period("fast", fast, 2)?;
        check_period("slow", slow, 2)?;
        check_period("signal", signal, 1)?;
        Ok(Self::unchecked(fast, slow, signal))
    }

    fn unchecked(fast: usize, slow: usize, signal: usize) -> Self {
        let (fast, slow) = if slow < fast { (slow, fast) } else { (fast, slow) };
        Self {
            fast: Ema::unchecked(fast),
            slow: Ema::unchecked(slow),
            signal: Ema::unchecked(signal),
            seen: 0,
            value: None,
        }
    }

    /// The fast period (after any swap).
    pub fn fast_period(&self) -> usize {
        self.fast.period()
    }

    /// The slow period (after any swap).
    pub fn slow_period(&self) -> usize {
        self.slow.period()
    }

    /// The signal period.
    pub fn signal_period(&self) -> usize {
        self.signal.period()
    }

    /// Number of inputs before the first output (`slow - 1 + signal - 1`).
    pub fn lookback(&self) -> usize {
        self.slow.lookback() + self.signal.lookback()
    }

    /// Feeds one value; returns MACD, signal and histogram once warmed up.
    pub fn update(&mut self, x: f64) -> Option<MacdValue> {
        let offset = self.slow.period() - self.fast.period();
        let slow = self.slow.update(x);
        let fast = if self.seen >= offset {
            self.fast.update(x)
        } else {
            self.seen += 1;
            None
        };
        let macd = fast? - slow?;
        let signal = self.signal.update(macd)?;
        let value = MacdValue {
            macd,
            signal,
            histogram: macd - signal,
        };
        self.value = Some(value);
        Some(value)
    }

    /// The latest output, if warmed up.
    pub fn value(&self) -> Option<MacdValue> {
        self.value
    }

    /// Whether the warm-up is over.
    pub fn is_ready(&self) -> bool {
        self.value.is_some()
    }

    /// Forgets every input, as if newly built.
    pub fn reset(&mut self) {
        *self = Self::unchecked(self.fast.period(), self.slow.period(), self.signal.period());
    }
}

/// The unvalidated form of [`Macd`] as read from a snapshot.
#[derive(Deserialize)]
struct MacdState {
    fast: Ema,
    slow: Ema,
    signal: Ema,
    seen: usize,
    #[serde(with = "opt_triple_bits")]
    value: Option<MacdValue>,
}

impl TryFrom<MacdState> for Macd {
    type Error = TaError;

    fn try_from(s: MacdState) -> Result<Self, TaError> {
        let (fast, slow) = (s.fast.period(), s.slow.period());
        ensure(
            fast >= 2 && fast <= slow,
            "macd",
            "fast period must be at least 2 and at most slow",
        )?;
        ensure(
            s.seen <= slow - fast,
            "macd",
            "input count past the fast EMA's start",
        )?;
        Ok(Self {
            fast: s.fast,
            slow: s.slow,
            signal: s.signal,
            seen: s.seen,
            value: s.value,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails loudly on an unexpected error")]
mod tests {
    use super::*;

    fn run(m: &mut Macd, xs: &[f64]) -> Vec<Option<MacdValue>> {
        xs.iter().map(|&x| m.update(x)).collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn aligns_fast_seed_to_end_at_slow_minus_one() {
        // fast 2 (k 2/3), slow 3 (k 1/2), signal 2 (k 2/3) over 1, 2, 4, 8, 16:
        // idx2: slow = (1+2+4)/3 = 7/3, fast = (2+4)/2 = 3, macd = 2/3
        // idx3: slow = 31/6, fast = 19/3, macd = 7/6; signal = (2/3+7/6)/2 = 11/12
        // idx4: slow = 127/12, fast = 115/9, macd = 79/36; signal = 191/108
        let mut m = Macd::new(2, 3, 2).unwrap();
        assert_eq!(m.lookback(), 3);
        let out = run(&mut m, &[1.0, 2.0, 4.0, 8.0, 16.0]);
        assert_eq!(out[..3], [None, None, None]);
        let v3 = out[3].unwrap();
        assert!(close(v3.macd, 7.0 / 6.0) && close(v3.signal, 11.0 / 12.0));
        assert!(close(v3.histogram, 0.25));
        let v4 = out[4].unwrap();
        assert!(close(v4.macd, 79.0 / 36.0) && close(v4.signal, 191.0 / 108.0));
        assert!(close(v4.histogram, 23.0 / 54.0));
        assert_eq!(m.value(), Some(v4));
    }

    #[test]
    fn swaps_fast_and_slow_when_given_backwards() {
        let xs: Vec<f64> = (0..50).map(|i| 10.0 + (i as f64 * 0.3).sin()).collect();
        let mut a = Macd::new(26, 12, 9).unwrap();
        assert_eq!((a.fast_period(), a.slow_period()), (12, 26));
        let mut b = Macd::default();
        assert_eq!(run(&mut a, &xs), run(&mut b, &xs));
    }

    #[test]
    fn signal_period_one_repeats_the_macd_line() {
        let mut m = Macd::new(2, 3, 1).unwrap();
        assert_eq!(m.lookback(), 2);
        let out = run(&mut m, &[1.0, 2.0, 4.0, 8.0]);
        let v = out[2].unwrap();
        assert_eq!((v.signal, v.histogram), (v.macd, 0.0));
    }

    #[test]
    fn rejects_each_bad_period_by_name() {
        assert!(Macd::new(1, 26, 9).unwrap_err().to_string().contains("`fast`"));
        assert!(Macd::new(12, 1, 9).unwrap_err().to_string().contains("`slow`"));
        assert!(Macd::new(12, 26, 0).unwrap_err().to_string().contains("`signal`"));
    }

    #[test]
    fn snapshot_restores_exactly() {
        let xs: Vec<f64> = (0..80).map(|i| 100.0 + (i as f64 * 0.21).sin() * 5.0).collect();
        let mut a = Macd::default();
        run(&mut a, &xs[..10]);
        let mut b: Macd = serde_json::from_slice(&serde_json::to_vec(&a).unwrap()).unwrap();
        assert_eq!(run(&mut a, &xs[10..]), run(&mut b, &xs[10..]));
        a.reset();
        assert_eq!(a, Macd::default());
    }
}
