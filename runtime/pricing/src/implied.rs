//! Implied volatility: the `σ` whose Black-Scholes-Merton value is a given
//! price.
//!
//! The method. The price is split into the discounted intrinsic value
//! `max(±(S·e^(−qt) − K·e^(−rt)), 0)` and the time value, which by put-call
//! parity is the value of the out-of-the-money-forward option of the same
//! strike: strictly increasing in `σ` from 0 (at `σ = 0`) to
//! `min(S·e^(−qt), K·e^(−rt))` (as `σ → ∞`). The solver finds `σ` in
//! `[0, MAX_IMPLIED_VOL]` for that time value with Newton's method on
//! `ln(time value)` (whose near-concavity in `σ` makes Newton converge
//! from the left even for deep out-of-the-money options, where plain
//! Newton on the price stalls or overshoots), safeguarded by a bracket:
//! every iterate narrows `[lo, hi]`, and a Newton step that leaves it, or
//! is not at least twice as short as the step before last, is replaced by
//! bisection (as `rtsafe` of Numerical Recipes). So it always ends, in a
//! handful of iterations when Newton behaves and in at most ~60 bisections
//! when it does not.

use std::fmt;

use crate::{BsmInputs, Contract, Field, PricingError, Right};

/// The largest implied volatility the solver returns (1 000 % a year);
/// a price that needs more is [`ImpliedVolError::AboveMaxVol`].
pub const MAX_IMPLIED_VOL: f64 = 10.0;

/// Iterations of the solver at most (it needs ~5–10 typically, 60 when
/// every step is a bisection).
const MAX_ITERATIONS: usize = 200;

/// Why a price has no implied volatility.
///
/// ```
/// use wasmtrade_pricing::{BsmInputs, ImpliedVolError, Right};
///
/// let put = BsmInputs { spot: 80.0, strike: 100.0, rate: 0.0, dividend: 0.0,
///                       vol: f64::NAN, time: 0.5, right: Right::Put };
/// // an in-the-money put worth less than its intrinsic value 20
/// let err = put.implied_vol(19.5).unwrap_err();
/// assert!(matches!(err, ImpliedVolError::BelowLowerBound { .. }));
/// assert_eq!(
///     err.to_string(),
///     "price 19.5 is below the no-arbitrage lower bound 20, the discounted intrinsic \
///      value max(K·e^(−rt) − S·e^(−qt), 0): no volatility gives it"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum ImpliedVolError {
    /// An input (or the price: not finite) is invalid.
    #[error(transparent)]
    Input(#[from] PricingError),
    /// The price is below the discounted intrinsic value: an arbitrage, no
    /// volatility gives it.
    #[error(
        "price {price} is below the no-arbitrage lower bound {bound}, the discounted intrinsic value {}: \
         no volatility gives it",
        LowerBound(*right)
    )]
    BelowLowerBound {
        /// The price given.
        price: f64,
        /// The bound.
        bound: f64,
        /// The option's right (which formula the bound is).
        right: Right,
    },
    /// The price is at or above what an infinite volatility gives (the
    /// discounted forward for a call, the discounted strike for a put; the
    /// intrinsic value at expiry): no finite volatility gives it.
    #[error(
        "price {price} is not below the no-arbitrage upper bound {bound}, {}: \
         no finite volatility gives it",
        UpperBound(*right, *at_expiry)
    )]
    AboveUpperBound {
        /// The price given.
        price: f64,
        /// The bound.
        bound: f64,
        /// The option's right (which formula the bound is).
        right: Right,
        /// Time to expiry is 0: the bound is the intrinsic value.
        at_expiry: bool,
    },
    /// The price is within the bounds but needs a volatility above
    /// [`MAX_IMPLIED_VOL`].
    #[error(
        "price {price} implies a volatility above the solver's maximum {max_vol} \
         (the price at that volatility is {price_at_max})"
    )]
    AboveMaxVol {
        /// The price given.
        price: f64,
        /// [`MAX_IMPLIED_VOL`].
        max_vol: f64,
        /// The value at [`MAX_IMPLIED_VOL`].
        price_at_max: f64,
    },
}

/// Displays the lower bound's formula.
struct LowerBound(Right);

impl fmt::Display for LowerBound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Right::Call => "max(S·e^(−qt) − K·e^(−rt), 0)",
            Right::Put => "max(K·e^(−rt) − S·e^(−qt), 0)",
        })
    }
}

/// Displays what the upper bound is.
struct UpperBound(Right, bool);

impl fmt::Display for UpperBound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UpperBound(_, true) => "the intrinsic value at expiry (time 0)",
            UpperBound(Right::Call, false) => "the discounted forward S·e^(−qt)",
            UpperBound(Right::Put, false) => "the discounted strike K·e^(−rt)",
        })
    }
}

impl BsmInputs {
    /// The volatility at which this option is worth `price` (its `vol`
    /// field is ignored).
    ///
    /// Returns 0 for a price at the lower bound (to the rounding of the
    /// intrinsic value, four ulps of the upper bound, when the option is in
    /// the money; exactly, when it is not): the time value then carries no
    /// information at `f64` precision, and 0 reproduces the price. For any
    /// other price the result `σ` satisfies `price(σ) = price` to a few
    /// ulps of the upper bound, and `σ` itself is as accurate as the price's
    /// sensitivity to it allows (~1e-15 relative when vega is not tiny).
    ///
    /// Errors: an invalid input ([`ImpliedVolError::Input`], naming it);
    /// a price outside the no-arbitrage bounds, saying which bound and its
    /// value; a price needing a volatility above [`MAX_IMPLIED_VOL`].
    ///
    /// ```
    /// use wasmtrade_pricing::{BsmInputs, ImpliedVolError, Right};
    ///
    /// let mut call = BsmInputs { spot: 100.0, strike: 150.0, rate: 0.02, dividend: 0.0,
    ///                            vol: 0.45, time: 1.0 / 365.0, right: Right::Call };
    /// let price = call.price()?; // deep out of the money, one day left
    /// assert!(price > 0.0 && price < 1e-60);
    /// call.vol = 0.0;
    /// assert!((call.implied_vol(price)? - 0.45).abs() < 1e-12);
    ///
    /// // more than the underlying is worth
    /// assert!(matches!(call.implied_vol(101.0), Err(ImpliedVolError::AboveUpperBound { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn implied_vol(&self, price: f64) -> Result<f64, ImpliedVolError> {
        self.validate_contract()?;
        if !price.is_finite() {
            return Err(PricingError::Invalid {
                field: Field::Price,
                value: price,
                requirement: "must be finite",
            }
            .into());
        }
        let c = Contract::new(self);
        let intrinsic = c.intrinsic();
        let upper = c.upper_bound();
        // the intrinsic value is a difference of two rounded products
        let tolerance = if intrinsic > 0.0 {
            4.0 * f64::EPSILON * upper.max(intrinsic)
        } else {
            0.0
        };
        if price < intrinsic - tolerance {
            return Err(ImpliedVolError::BelowLowerBound {
                price,
                bound: intrinsic,
                right: self.right,
            });
        }
        let target = price - intrinsic;
        if target <= tolerance {
            return Ok(0.0);
        }
        if price >= upper {
            return Err(ImpliedVolError::AboveUpperBound {
                price,
                bound: upper,
                right: self.right,
                at_expiry: self.time == 0.0,
            });
        }
        solve(&c, target).map_err(|price_at_max| ImpliedVolError::AboveMaxVol {
            price,
            max_vol: MAX_IMPLIED_VOL,
            price_at_max: intrinsic + price_at_max,
        })
    }
}

/// `σ ∈ (0, MAX_IMPLIED_VOL]` whose time value is `target > 0`, for a
/// contract with `t > 0`; `Err(time value at MAX_IMPLIED_VOL)` when that is
/// less than `target`.
fn solve(c: &Contract, target: f64) -> Result<f64, f64> {
    let at_max = c.time_value(&c.point(MAX_IMPLIED_VOL));
    if at_max < target {
        return Err(at_max);
    }
    if at_max == target {
        return Ok(MAX_IMPLIED_VOL);
    }
    let ln_target = target.ln();
    let (mut lo, mut hi) = (0.0_f64, MAX_IMPLIED_VOL);
    let mut vol = initial_guess(c, target);
    if !(vol > lo && vol < hi) {
        vol = 0.5 * (lo + hi);
    }
    let (mut step_before_last, mut last_step) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..MAX_ITERATIONS {
        let point = c.point(vol);
        let value = c.time_value(&point);
        if value == target {
            return Ok(vol);
        }
        if value < target {
            lo = vol;
        } else {
            hi = vol;
        }
        let vega = c.vega(&point);
        // Newton on ln(value): d ln(value)/dσ = vega/value
        let newton = if value > 0.0 && vega > 0.0 {
            vol + (ln_target - value.ln()) * (value / vega)
        } else {
            f64::NAN
        };
        let next = if newton > lo && newton < hi && (newton - vol).abs() <= 0.5 * step_before_last.abs() {
            newton
        } else {
            0.5 * (lo + hi)
        };
        step_before_last = last_step;
        last_step = next - vol;
        if last_step.abs() <= 2.0 * f64::EPSILON * next || hi - lo <= 4.0 * f64::EPSILON * hi {
            return Ok(next);
        }
        vol = next;
    }
    Ok(vol)
}

/// A start near the root: the larger of the volatility at the inflection
/// point of the value in `σ`, `√(2|ln(F/K)|/t)` (Manaster and Koehler),
/// and Brenner and Subrahmanyam's at-the-money approximation
/// `time value ≈ S·e^(−qt)·σ√t/√(2π)`.
fn initial_guess(c: &Contract, target: f64) -> f64 {
    let inflection = (2.0 * c.log_moneyness.abs() / c.time).sqrt();
    let at_the_money = target / c.spot_pv.min(c.strike_pv) * (std::f64::consts::TAU / c.time).sqrt();
    inflection.max(at_the_money)
}
