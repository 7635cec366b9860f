//! Fixed-point numbers for prices, quantities and money.
//!
//! Prices and quantities are `i64` counts of 10⁻⁹ (nine decimals, like
//! NautilusTrader's standard precision). Money is an `i128` count of 10⁻¹⁸,
//! so that `price × quantity` is *exact*: no rounding ever happens when a
//! notional or a cash flow is computed. Rounding happens in exactly two
//! documented places: converting a guest's `f64` into a fixed-point value
//! ([`Price::from_f64`]) and applying a [`Rate`] (commission) to money
//! ([`Money::mul_rate`], half away from zero).
//!
//! ```
//! use wasmtrade_model::{Price, Quantity, Money};
//! let p: Price = "101.25".parse().unwrap();
//! let q: Quantity = "3".parse().unwrap();
//! assert_eq!(p.notional(q), "303.75".parse::<Money>().unwrap());
//! ```
//!
//! [`Money`] is in module `money`; the decimal text both read and write is here.

use std::fmt;
use std::ops::{Add, AddAssign, Neg, Sub, SubAssign};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Money;

/// Decimal places of [`Price`], [`Quantity`] and [`Rate`].
pub const DECIMALS: u32 = 9;
/// Raw units per whole of [`Price`], [`Quantity`] and [`Rate`].
pub const SCALE: i64 = 1_000_000_000;
/// Decimal places of [`Money`].
pub const MONEY_DECIMALS: u32 = 18;
/// Raw units per whole of [`Money`].
pub const MONEY_SCALE: i128 = 1_000_000_000_000_000_000;

/// Why a decimal value could not be read or converted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum FixedError {
    /// The text is not a decimal number.
    #[error("`{text}` is not a decimal number")]
    NotANumber {
        /// The offending text.
        text: String,
    },
    /// More decimals than the type holds.
    #[error("`{text}` has more than {max} decimal places")]
    TooPrecise {
        /// The offending text.
        text: String,
        /// Decimal places the type holds.
        max: u32,
    },
    /// The value does not fit the type.
    #[error("`{text}` is out of range")]
    OutOfRange {
        /// The offending value as text.
        text: String,
    },
    /// NaN or infinite.
    #[error("{value} is not a finite number")]
    NotFinite {
        /// The offending value.
        value: f64,
    },
}

/// Parses a decimal string into a raw integer with `decimals` places, exactly.
pub(crate) fn parse_decimal(text: &str, decimals: u32) -> Result<i128, FixedError> {
    let t = text.trim();
    let not_a_number = || FixedError::NotANumber {
        text: text.to_string(),
    };
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if body.is_empty() {
        return Err(not_a_number());
    }
    let (int_part, frac_part) = match body.split_once('.') {
        Some((i, f)) => (i, f),
        None => (body, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return Err(not_a_number());
    }
    if !int_part.bytes().all(|b| b.is_ascii_digit()) || !frac_part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(not_a_number());
    }
    let frac_trimmed = frac_part.trim_end_matches('0');
    if frac_trimmed.len() > decimals as usize {
        return Err(FixedError::TooPrecise {
            text: text.to_string(),
            max: decimals,
        });
    }
    let out_of_range = || FixedError::OutOfRange {
        text: text.to_string(),
    };
    let scale = 10i128.pow(decimals);
    let mut int_value: i128 = 0;
    for b in int_part.bytes() {
        int_value = int_value
            .checked_mul(10)
            .and_then(|v| v.checked_add(i128::from(b - b'0')))
            .ok_or_else(out_of_range)?;
    }
    let mut frac_value: i128 = 0;
    for b in frac_trimmed.bytes() {
        frac_value = frac_value * 10 + i128::from(b - b'0');
    }
    frac_value *= 10i128.pow(decimals - frac_trimmed.len() as u32);
    let raw = int_value
        .checked_mul(scale)
        .and_then(|v| v.checked_add(frac_value))
        .ok_or_else(out_of_range)?;
    Ok(if neg { -raw } else { raw })
}

/// Formats a raw integer with `decimals` places, trimming trailing zeros.
pub(crate) fn format_decimal(f: &mut fmt::Formatter<'_>, raw: i128, decimals: u32) -> fmt::Result {
    let scale = 10u128.pow(decimals);
    let abs = raw.unsigned_abs();
    let int = abs / scale;
    let frac = abs % scale;
    let sign = if raw < 0 { "-" } else { "" };
    if let Some(prec) = f.precision() {
        // Round half away from zero to the requested precision.
        let prec = prec.min(decimals as usize) as u32;
        let unit = 10u128.pow(decimals - prec);
        let rounded = (abs + unit / 2) / unit;
        let p_scale = 10u128.pow(prec);
        let (i, fr) = (rounded / p_scale, rounded % p_scale);
        let sign = if rounded == 0 { "" } else { sign };
        if prec == 0 {
            return write!(f, "{sign}{i}");
        }
        return write!(f, "{sign}{i}.{fr:0width$}", width = prec as usize);
    }
    if frac == 0 {
        write!(f, "{sign}{int}")
    } else {
        let digits = format!("{frac:0width$}", width = decimals as usize);
        write!(f, "{sign}{int}.{}", digits.trim_end_matches('0'))
    }
}

fn f64_to_raw(value: f64, scale: f64, max: f64) -> Result<i128, FixedError> {
    if !value.is_finite() {
        return Err(FixedError::NotFinite { value });
    }
    let scaled = (value * scale).round();
    if scaled.abs() > max {
        return Err(FixedError::OutOfRange {
            text: value.to_string(),
        });
    }
    // Exact: |scaled| <= max < 2^63 and it is an integer value.
    #[allow(clippy::cast_possible_truncation)]
    Ok(scaled as i128)
}

macro_rules! fixed_i64 {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(i64);

        impl $name {
            /// Zero.
            pub const ZERO: Self = Self(0);
            /// One whole unit.
            pub const ONE: Self = Self(SCALE);

            /// From a raw count of 10⁻⁹.
            pub const fn from_raw(raw: i64) -> Self {
                Self(raw)
            }
            /// The raw count of 10⁻⁹.
            pub const fn raw(self) -> i64 {
                self.0
            }
            /// From a whole number.
            pub const fn from_int(v: i64) -> Self {
                Self(v * SCALE)
            }
            /// From an `f64`, rounded to the nearest 10⁻⁹; refuses NaN, ±∞ and
            /// values beyond ±9.2·10⁹.
            pub fn from_f64(value: f64) -> Result<Self, FixedError> {
                #[allow(clippy::cast_possible_truncation)]
                f64_to_raw(value, SCALE as f64, i64::MAX as f64 / 2.0).map(|r| Self(r as i64))
            }
            /// As an `f64` (for guests, indicators and statistics; never for accounting).
            pub fn to_f64(self) -> f64 {
                self.0 as f64 / SCALE as f64
            }
            /// Absolute value.
            pub const fn abs(self) -> Self {
                Self(self.0.abs())
            }
            /// True if zero.
            pub const fn is_zero(self) -> bool {
                self.0 == 0
            }
            /// True if strictly positive.
            pub const fn is_positive(self) -> bool {
                self.0 > 0
            }
            /// True if strictly negative.
            pub const fn is_negative(self) -> bool {
                self.0 < 0
            }
            /// Checked addition.
            pub fn checked_add(self, o: Self) -> Option<Self> {
                self.0.checked_add(o.0).map(Self)
            }
            /// Checked subtraction.
            pub fn checked_sub(self, o: Self) -> Option<Self> {
                self.0.checked_sub(o.0).map(Self)
            }
            /// True if this is a whole multiple of `increment` (a zero increment accepts anything).
            pub fn is_multiple_of(self, increment: Self) -> bool {
                increment.0 == 0 || self.0 % increment.0 == 0
            }
            /// Rounds to the nearest multiple of `increment` (ties away from zero).
            pub fn round_to(self, increment: Self) -> Self {
                if increment.0 == 0 {
                    return self;
                }
                let inc = increment.0.abs();
                let q = self.0.div_euclid(inc);
                let r = self.0.rem_euclid(inc);
                let down = q * inc;
                if r * 2 >= inc { Self(down + inc) } else { Self(down) }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                format_decimal(f, i128::from(self.0), DECIMALS)
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self)
            }
        }
        impl FromStr for $name {
            type Err = FixedError;
            fn from_str(s: &str) -> Result<Self, FixedError> {
                let raw = parse_decimal(s, DECIMALS)?;
                i64::try_from(raw).map(Self).map_err(|_| FixedError::OutOfRange { text: s.to_string() })
            }
        }
        impl Add for $name {
            type Output = Self;
            fn add(self, o: Self) -> Self {
                Self(self.0 + o.0)
            }
        }
        impl Sub for $name {
            type Output = Self;
            fn sub(self, o: Self) -> Self {
                Self(self.0 - o.0)
            }
        }
        impl AddAssign for $name {
            fn add_assign(&mut self, o: Self) {
                self.0 += o.0;
            }
        }
        impl SubAssign for $name {
            fn sub_assign(&mut self, o: Self) {
                self.0 -= o.0;
            }
        }
        impl Neg for $name {
            type Output = Self;
            fn neg(self) -> Self {
                Self(-self.0)
            }
        }
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = DecimalText::deserialize(d)?;
                text.0.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// Accepts a decimal as a string or a JSON/TOML number when deserialising.
pub(crate) struct DecimalText(pub(crate) String);

impl<'de> Deserialize<'de> for DecimalText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = DecimalText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal number or a string holding one")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<DecimalText, E> {
                Ok(DecimalText(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<DecimalText, E> {
                Ok(DecimalText(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<DecimalText, E> {
                Ok(DecimalText(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<DecimalText, E> {
                // Shortest round-trip text of the float, e.g. 0.1 -> "0.1".
                Ok(DecimalText(format!("{v}")))
            }
        }
        d.deserialize_any(V)
    }
}

fixed_i64!(
    /// A price: a signed fixed-point count of 10⁻⁹ currency units.
    Price
);
fixed_i64!(
    /// A quantity: a signed fixed-point count of 10⁻⁹ units (shares, contracts).
    /// Positions are signed (negative is short); order quantities are positive.
    Quantity
);
fixed_i64!(
    /// A dimensionless rate such as a commission of `0.002` (0.2 %), in 10⁻⁹.
    Rate
);

impl Price {
    /// `price × quantity`, exact.
    pub fn notional(self, qty: Quantity) -> Money {
        Money::from_raw(i128::from(self.0) * i128::from(qty.0))
    }
    /// This price as money per unit (exact).
    pub fn to_money(self) -> Money {
        Money::from_raw(i128::from(self.0) * i128::from(SCALE))
    }
}

impl Quantity {
    /// The smaller of two quantities.
    pub fn min(self, o: Self) -> Self {
        if self <= o { self } else { o }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_prints_decimals_exactly() {
        let p: Price = "101.25".parse().unwrap();
        assert_eq!(p.raw(), 101_250_000_000);
        assert_eq!(p.to_string(), "101.25");
        assert_eq!("-0.000000001".parse::<Price>().unwrap().raw(), -1);
        assert_eq!("7".parse::<Quantity>().unwrap().to_string(), "7");
        assert_eq!(".5".parse::<Price>().unwrap().to_string(), "0.5");
    }

    #[test]
    fn rejects_malformed_and_too_precise_decimals() {
        assert!(matches!(
            "1e5".parse::<Price>(),
            Err(FixedError::NotANumber { .. })
        ));
        assert!(matches!("".parse::<Price>(), Err(FixedError::NotANumber { .. })));
        assert!(matches!("-".parse::<Price>(), Err(FixedError::NotANumber { .. })));
        assert!(matches!(
            "1.0000000001".parse::<Price>(),
            Err(FixedError::TooPrecise { .. })
        ));
        assert!(matches!(
            "99999999999999999999".parse::<Price>(),
            Err(FixedError::OutOfRange { .. })
        ));
        // Trailing zeros beyond the precision are fine.
        assert_eq!("1.50000000000".parse::<Price>().unwrap().to_string(), "1.5");
    }

    #[test]
    fn refuses_non_finite_floats() {
        assert!(matches!(
            Price::from_f64(f64::NAN),
            Err(FixedError::NotFinite { .. })
        ));
        assert!(matches!(
            Quantity::from_f64(f64::INFINITY),
            Err(FixedError::NotFinite { .. })
        ));
        assert!(matches!(
            Quantity::from_f64(1e300),
            Err(FixedError::OutOfRange { .. })
        ));
    }

    #[test]
    fn rounds_to_tick() {
        let tick: Price = "0.05".parse().unwrap();
        assert_eq!("1.02".parse::<Price>().unwrap().round_to(tick).to_string(), "1");
        assert_eq!(
            "1.03".parse::<Price>().unwrap().round_to(tick).to_string(),
            "1.05"
        );
        assert!("1.05".parse::<Price>().unwrap().is_multiple_of(tick));
        assert!(!"1.06".parse::<Price>().unwrap().is_multiple_of(tick));
    }

    #[test]
    fn serde_accepts_numbers_and_strings() {
        let p: Price = serde_json::from_str("\"1.5\"").unwrap();
        assert_eq!(p.to_string(), "1.5");
        let p: Price = serde_json::from_str("0.1").unwrap();
        assert_eq!(p.to_string(), "0.1");
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"0.1\"");
    }

    proptest! {
        #[test]
        fn display_parse_round_trips(raw in any::<i64>()) {
            let p = Price::from_raw(raw);
            prop_assert_eq!(p.to_string().parse::<Price>().unwrap(), p);
        }
    }
}
