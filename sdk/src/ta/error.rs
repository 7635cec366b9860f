//! The error returned when an indicator is built with parameters TA-Lib refuses,
//! or restored from a snapshot that does not describe a valid state.

use std::fmt;

/// Why an indicator could not be built or restored.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TaError {
    /// An integer parameter (a period) is outside the range TA-Lib accepts.
    PeriodOutOfRange {
        /// Name of the parameter, e.g. `period` or `slow`.
        param: &'static str,
        /// The value given.
        value: usize,
        /// Smallest accepted value.
        min: usize,
        /// Largest accepted value.
        max: usize,
    },
    /// A real parameter (a band multiplier) is not finite or outside the range
    /// TA-Lib accepts (`-3e37..=3e37`).
    MultiplierOutOfRange {
        /// Name of the parameter, e.g. `nbdev_up`.
        param: &'static str,
        /// The value given.
        value: f64,
    },
    /// A snapshot does not describe a valid state of the indicator.
    InvalidState {
        /// Which indicator the snapshot claimed to be.
        indicator: &'static str,
        /// What is inconsistent.
        reason: &'static str,
    },
}

impl fmt::Display for TaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PeriodOutOfRange {
                param,
                value,
                min,
                max,
            } => write!(
                f,
                "invalid `{param}`: {value} is outside TA-Lib's accepted range {min}..={max}"
            ),
            Self::MultiplierOutOfRange { param, value } => write!(
                f,
                "invalid `{param}`: {value} is not a finite number within TA-Lib's range -3e37..=3e37"
            ),
            Self::InvalidState { indicator, reason } => {
                write!(f, "invalid {indicator} snapshot: {reason}")
            }
        }
    }
}

impl std::error::Error for TaError {}

/// Largest period TA-Lib accepts for any of its functions.
pub(crate) const MAX_PERIOD: usize = 100_000;

/// Largest magnitude TA-Lib accepts for a real parameter (`TA_REAL_MAX`-style limit).
const MAX_MULTIPLIER: f64 = 3e37;

/// Checks `min <= value <= MAX_PERIOD`.
pub(crate) fn check_period(param: &'static str, value: usize, min: usize) -> Result<usize, TaError> {
    if (min..=MAX_PERIOD).contains(&value) {
        Ok(value)
    } else {
        Err(TaError::PeriodOutOfRange {
            param,
            value,
            min,
            max: MAX_PERIOD,
        })
    }
}

/// Checks that a multiplier is finite and within `-3e37..=3e37`.
pub(crate) fn check_multiplier(param: &'static str, value: f64) -> Result<f64, TaError> {
    if (-MAX_MULTIPLIER..=MAX_MULTIPLIER).contains(&value) {
        Ok(value)
    } else {
        Err(TaError::MultiplierOutOfRange { param, value })
    }
}

/// Builds an [`TaError::InvalidState`] unless `ok`.
pub(crate) fn ensure(ok: bool, indicator: &'static str, reason: &'static str) -> Result<(), TaError> {
    if ok {
        Ok(())
    } else {
        Err(TaError::InvalidState { indicator, reason })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails loudly on an unexpected error")]
mod tests {
    use super::*;

    #[test]
    fn period_error_names_parameter_and_range() {
        let err = check_period("slow", 1, 2).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid `slow`: 1 is outside TA-Lib's accepted range 2..=100000"
        );
    }

    #[test]
    fn multiplier_rejects_nan_and_huge_values() {
        assert!(check_multiplier("nbdev_up", f64::NAN).is_err());
        assert!(check_multiplier("nbdev_up", 1e38).is_err());
        assert!(check_multiplier("nbdev_up", f64::INFINITY).is_err());
        assert_eq!(check_multiplier("nbdev_up", -2.5), Ok(-2.5));
        let msg = check_multiplier("nbdev_down", f64::NAN).unwrap_err().to_string();
        assert!(msg.contains("`nbdev_down`"), "{msg}");
    }
}
