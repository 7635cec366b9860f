//! Option pricing in the host: European Black-Scholes-Merton prices and
//! greeks with a continuous dividend yield, and an implied-volatility solver.
//!
//! The model: the underlying `S` follows a geometric Brownian motion with
//! volatility `σ` under a risk-free rate `r` and a continuous dividend (or
//! carry, or foreign-rate) yield `q`, both continuously compounded; the
//! option is European with strike `K` and `t` years to expiry. With
//! `F = S·e^((r−q)t)`, `s = σ√t`, `d1 = ln(F/K)/s + s/2` and `d2 = d1 − s`:
//!
//! ```text
//! call = S·e^(−qt)·N(d1) − K·e^(−rt)·N(d2)
//! put  = K·e^(−rt)·N(−d2) − S·e^(−qt)·N(−d1)
//! ```
//!
//! Everything takes a validated [`BsmInputs`]; for every input that
//! validates no result is NaN and every result is finite (but gamma, which
//! overflows to +∞ when `S·σ√t` is below ~1e-300), including at expiry and
//! at zero volatility, where prices and greeks are the limits as `σ√t → 0`
//! (see [`Greeks`]). The normal distribution is [`norm_cdf`] / [`norm_pdf`],
//! accurate to ~1e-16 relative far into the tails.
//!
//! ```
//! use wasmtrade_pricing::{BsmInputs, Right};
//!
//! let call = BsmInputs {
//!     spot: 100.0,
//!     strike: 105.0,
//!     rate: 0.03,
//!     dividend: 0.01,
//!     vol: 0.2,
//!     time: 0.5,
//!     right: Right::Call,
//! };
//! let g = call.greeks()?;
//! assert!((g.price - 3.9657).abs() < 1e-4);
//! let iv = call.implied_vol(g.price)?;
//! assert!((iv - 0.2).abs() < 1e-12);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod implied;
mod normal;

use std::fmt;

pub use implied::{ImpliedVolError, MAX_IMPLIED_VOL};
pub use normal::{norm_cdf, norm_pdf};

/// The largest accepted `|rate|` and `|dividend|`: 500 % a year,
/// continuously compounded. With [`MAX_TIME`] it keeps `e^(±rt)` finite.
pub const MAX_ABS_RATE: f64 = 5.0;
/// The largest accepted time to expiry, in years.
pub const MAX_TIME: f64 = 100.0;
/// The largest accepted volatility (10 000 % a year).
pub const MAX_VOL: f64 = 100.0;
/// The largest accepted spot and strike. With the bounds above it keeps
/// every price and greek finite.
pub const MAX_PRICE: f64 = 1e15;

/// Call or put.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Right {
    /// The right to buy at the strike.
    Call,
    /// The right to sell at the strike.
    Put,
}

/// The inputs of a European option under Black-Scholes-Merton.
///
/// Validated by every function that uses them ([`BsmInputs::validate`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BsmInputs {
    /// Price of the underlying now: finite, `0 < spot ≤` [`MAX_PRICE`].
    pub spot: f64,
    /// Strike: finite, `0 < strike ≤` [`MAX_PRICE`].
    pub strike: f64,
    /// Risk-free rate, continuously compounded, a year (0.05 = 5 %): finite,
    /// `|rate| ≤` [`MAX_ABS_RATE`]; may be negative.
    pub rate: f64,
    /// Continuous dividend yield `q` a year (for an FX option, the foreign
    /// rate; for a future under Black-76, equal to `rate`): finite,
    /// `|dividend| ≤` [`MAX_ABS_RATE`]; may be negative (a borrow cost).
    pub dividend: f64,
    /// Volatility a year (0.2 = 20 %): finite, `0 ≤ vol ≤` [`MAX_VOL`].
    /// Ignored (not even validated) by [`BsmInputs::implied_vol`].
    pub vol: f64,
    /// Time to expiry in years: finite, `0 ≤ time ≤` [`MAX_TIME`].
    pub time: f64,
    /// Call or put.
    pub right: Right,
}

/// The input an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// [`BsmInputs::spot`].
    Spot,
    /// [`BsmInputs::strike`].
    Strike,
    /// [`BsmInputs::rate`].
    Rate,
    /// [`BsmInputs::dividend`].
    Dividend,
    /// [`BsmInputs::vol`].
    Vol,
    /// [`BsmInputs::time`].
    Time,
    /// The option price given to [`BsmInputs::implied_vol`].
    Price,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::Spot => "spot",
            Field::Strike => "strike",
            Field::Rate => "rate",
            Field::Dividend => "dividend",
            Field::Vol => "vol",
            Field::Time => "time",
            Field::Price => "price",
        })
    }
}

/// An input out of its domain.
///
/// ```
/// use wasmtrade_pricing::{BsmInputs, Field, PricingError, Right};
///
/// let bad = BsmInputs { spot: -1.0, strike: 100.0, rate: 0.0, dividend: 0.0,
///                       vol: 0.2, time: 1.0, right: Right::Put };
/// let err = bad.price().unwrap_err();
/// assert!(matches!(err, PricingError::Invalid { field: Field::Spot, .. }));
/// assert_eq!(err.to_string(), "invalid spot -1: must be positive and at most 1e15");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum PricingError {
    /// `field` is NaN, infinite or outside its range.
    #[error("invalid {field} {value}: {requirement}")]
    Invalid {
        /// The bad input.
        field: Field,
        /// Its value.
        value: f64,
        /// What it must be.
        requirement: &'static str,
    },
}

/// A price and its sensitivities.
///
/// Conventions: `theta` is the change of value as calendar time passes, a
/// year (`−∂V/∂t`, as QuantLib's `theta`; divide by 365 for a day); `vega`,
/// `rho` and `dividend_rho` are per unit (1.0 = 100 percentage points) of
/// volatility, rate and dividend yield (divide by 100 for a point).
///
/// At `σ√t = 0` (expiry, or zero volatility) the values are the limits as
/// `σ√t → 0`: the discounted forward intrinsic value, delta a step
/// (`e^(−qt)·{0, ½, 1}` for a call, below, at and above the forward),
/// vega `S·e^(−qt)·√t·φ(0)` at the money forward and 0 elsewhere, theta the
/// drift of the discounted forward intrinsic value (`q·S·e^(−qt) − r·K·e^(−rt)`
/// for a call in the money forward). Two limits are infinite at the money
/// forward at expiry and are left out there: gamma (a Dirac mass) is
/// reported as 0, and theta without its `−S·e^(−qt)·φ(d1)·σ/(2√t)` term.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Greeks {
    /// Value of one option on one unit of the underlying.
    pub price: f64,
    /// `∂V/∂S`.
    pub delta: f64,
    /// `∂²V/∂S²`.
    pub gamma: f64,
    /// `−∂V/∂t`, a year.
    pub theta: f64,
    /// `∂V/∂σ`.
    pub vega: f64,
    /// `∂V/∂r`.
    pub rho: f64,
    /// `∂V/∂q`.
    pub dividend_rho: f64,
}

fn check(field: Field, value: f64, ok: bool, requirement: &'static str) -> Result<(), PricingError> {
    if ok && value.is_finite() {
        Ok(())
    } else {
        Err(PricingError::Invalid {
            field,
            value,
            requirement,
        })
    }
}

impl BsmInputs {
    /// Checks every field against its range (see the fields); the first bad
    /// one is the error.
    ///
    /// ```
    /// use wasmtrade_pricing::{BsmInputs, Field, PricingError, Right};
    ///
    /// let nan_time = BsmInputs { spot: 100.0, strike: 100.0, rate: 0.0, dividend: 0.0,
    ///                            vol: 0.2, time: f64::NAN, right: Right::Call };
    /// assert!(matches!(nan_time.validate(), Err(PricingError::Invalid { field: Field::Time, .. })));
    /// ```
    pub fn validate(&self) -> Result<(), PricingError> {
        self.validate_contract()?;
        check(
            Field::Vol,
            self.vol,
            (0.0..=MAX_VOL).contains(&self.vol),
            "must be between 0 and 100",
        )
    }

    /// Every field but `vol`.
    fn validate_contract(&self) -> Result<(), PricingError> {
        const POSITIVE: &str = "must be positive and at most 1e15";
        const RATE: &str = "must be between -5 and 5";
        check(
            Field::Spot,
            self.spot,
            self.spot > 0.0 && self.spot <= MAX_PRICE,
            POSITIVE,
        )?;
        check(
            Field::Strike,
            self.strike,
            self.strike > 0.0 && self.strike <= MAX_PRICE,
            POSITIVE,
        )?;
        check(Field::Rate, self.rate, self.rate.abs() <= MAX_ABS_RATE, RATE)?;
        check(
            Field::Dividend,
            self.dividend,
            self.dividend.abs() <= MAX_ABS_RATE,
            RATE,
        )?;
        check(
            Field::Time,
            self.time,
            (0.0..=MAX_TIME).contains(&self.time),
            "must be between 0 and 100 years",
        )
    }

    /// The option's value.
    ///
    /// ```
    /// use wasmtrade_pricing::{BsmInputs, Right};
    ///
    /// // at expiry: the intrinsic value
    /// let put = BsmInputs { spot: 90.0, strike: 100.0, rate: 0.05, dividend: 0.0,
    ///                       vol: 0.3, time: 0.0, right: Right::Put };
    /// assert_eq!(put.price()?, 10.0);
    /// # Ok::<(), wasmtrade_pricing::PricingError>(())
    /// ```
    pub fn price(&self) -> Result<f64, PricingError> {
        self.validate()?;
        Ok(Contract::new(self).price(self.vol))
    }

    /// The value and its greeks (conventions on [`Greeks`]).
    ///
    /// ```
    /// use wasmtrade_pricing::{BsmInputs, Right};
    ///
    /// let call = BsmInputs { spot: 100.0, strike: 100.0, rate: 0.0, dividend: 0.0,
    ///                        vol: 0.2, time: 1.0, right: Right::Call };
    /// let g = call.greeks()?;
    /// assert!((g.delta - 0.5398).abs() < 1e-4);
    /// assert!(g.theta < 0.0 && g.vega > 0.0 && g.gamma > 0.0);
    /// # Ok::<(), wasmtrade_pricing::PricingError>(())
    /// ```
    pub fn greeks(&self) -> Result<Greeks, PricingError> {
        self.validate()?;
        Ok(Contract::new(self).greeks(self.vol))
    }
}

/// What does not depend on the volatility, for a validated [`BsmInputs`].
#[derive(Debug, Clone, Copy)]
struct Contract {
    right: Right,
    spot: f64,
    rate: f64,
    dividend: f64,
    time: f64,
    sqrt_time: f64,
    /// `e^(−qt)`.
    df_div: f64,
    /// `S·e^(−qt)`: the discounted forward.
    spot_pv: f64,
    /// `K·e^(−rt)`: the discounted strike.
    strike_pv: f64,
    /// `ln(F/K)`, from logarithms taken separately (no overflow of `S/K`).
    log_moneyness: f64,
}

/// `d1`, `d2` and the pieces every formula shares, at one volatility.
#[derive(Debug, Clone, Copy)]
struct Point {
    /// `σ√t`.
    std_dev: f64,
    d1: f64,
    d2: f64,
}

impl Contract {
    fn new(inputs: &BsmInputs) -> Self {
        let t = inputs.time;
        let df_div = (-inputs.dividend * t).exp();
        let df_rate = (-inputs.rate * t).exp();
        Contract {
            right: inputs.right,
            spot: inputs.spot,
            rate: inputs.rate,
            dividend: inputs.dividend,
            time: t,
            sqrt_time: t.sqrt(),
            df_div,
            spot_pv: inputs.spot * df_div,
            strike_pv: inputs.strike * df_rate,
            log_moneyness: (inputs.spot.ln() - inputs.strike.ln()) + (inputs.rate - inputs.dividend) * t,
        }
    }

    fn point(&self, vol: f64) -> Point {
        let std_dev = vol * self.sqrt_time;
        let x = self.log_moneyness;
        if std_dev > 0.0 {
            // |x| < 2000 with validated inputs: d1 may overflow to ±∞ for a
            // tiny s, never to NaN (d2 = ±∞ − s is still ±∞)
            let d1 = x / std_dev + 0.5 * std_dev;
            Point {
                std_dev,
                d1,
                d2: d1 - std_dev,
            }
        } else {
            // the limit σ√t → 0: ±∞ away from the forward, 0 at it
            let d = if x > 0.0 {
                f64::INFINITY
            } else if x < 0.0 {
                f64::NEG_INFINITY
            } else {
                0.0
            };
            Point {
                std_dev,
                d1: d,
                d2: d,
            }
        }
    }

    /// `max(S·e^(−qt) − K·e^(−rt), 0)` for a call, the mirror for a put.
    fn intrinsic(&self) -> f64 {
        match self.right {
            Right::Call => (self.spot_pv - self.strike_pv).max(0.0),
            Right::Put => (self.strike_pv - self.spot_pv).max(0.0),
        }
    }

    /// The supremum of the value over all volatilities: `S·e^(−qt)` for a
    /// call, `K·e^(−rt)` for a put; the intrinsic value at expiry.
    fn upper_bound(&self) -> f64 {
        if self.time == 0.0 {
            return self.intrinsic();
        }
        match self.right {
            Right::Call => self.spot_pv,
            Right::Put => self.strike_pv,
        }
    }

    /// The value of the out-of-the-money-forward option of this strike (the
    /// put when the call is in the money, and the other way round; the call
    /// at the money): the time value of both, by put-call parity. Computed
    /// directly, never as a difference with the intrinsic value, so it keeps
    /// its relative accuracy when tiny; at least 0.
    fn time_value(&self, p: &Point) -> f64 {
        if p.std_dev == 0.0 {
            return 0.0;
        }
        let v = if self.spot_pv < self.strike_pv {
            // out-of-the-money call
            self.spot_pv * norm_cdf(p.d1) - self.strike_pv * norm_cdf(p.d2)
        } else {
            // out-of-the-money (or at-the-money) put
            self.strike_pv * norm_cdf(-p.d2) - self.spot_pv * norm_cdf(-p.d1)
        };
        v.max(0.0)
    }

    /// `∂V/∂σ`, the same for the call and the put.
    fn vega(&self, p: &Point) -> f64 {
        self.spot_pv * norm_pdf(p.d1) * self.sqrt_time
    }

    fn price(&self, vol: f64) -> f64 {
        let p = self.point(vol);
        self.intrinsic() + self.time_value(&p)
    }

    fn greeks(&self, vol: f64) -> Greeks {
        let p = self.point(vol);
        let price = self.intrinsic() + self.time_value(&p);
        let pdf = norm_pdf(p.d1);
        let vega = self.spot_pv * pdf * self.sqrt_time;
        let gamma = if p.std_dev > 0.0 {
            // divided one at a time: ±∞ for absurdly small S·σ√t, never 0/0
            self.df_div * pdf / self.spot / p.std_dev
        } else {
            0.0
        };
        // −S·e^(−qt)·φ(d1)·σ/(2√t), with σ/(2√t) = s/(2t); 0 when s = 0
        let decay = if p.std_dev > 0.0 {
            -self.spot_pv * pdf * (p.std_dev / (2.0 * self.time))
        } else {
            0.0
        };
        let t = self.time;
        let (s, k) = (self.spot_pv, self.strike_pv);
        match self.right {
            Right::Call => {
                let (n1, n2) = (norm_cdf(p.d1), norm_cdf(p.d2));
                Greeks {
                    price,
                    delta: self.df_div * n1,
                    gamma,
                    theta: decay - self.rate * k * n2 + self.dividend * s * n1,
                    vega,
                    rho: k * t * n2,
                    dividend_rho: -s * t * n1,
                }
            }
            Right::Put => {
                let (n1, n2) = (norm_cdf(-p.d1), norm_cdf(-p.d2));
                Greeks {
                    price,
                    delta: -self.df_div * n1,
                    gamma,
                    theta: decay + self.rate * k * n2 - self.dividend * s * n1,
                    vega,
                    rho: -k * t * n2,
                    dividend_rho: s * t * n1,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
