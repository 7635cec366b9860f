//! [`Money`]: exact amounts, an `i128` count of 10⁻¹⁸ currency units, so
//! that sums of `price × quantity` never round (see module `fixed`).

use std::fmt;
use std::ops::{Add, AddAssign, Neg, Sub, SubAssign};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::fixed::{DecimalText, format_decimal, parse_decimal};
use crate::{FixedError, MONEY_DECIMALS, MONEY_SCALE, Price, Quantity, Rate, SCALE};

/// An amount of money: a signed fixed-point count of 10⁻¹⁸ currency units.
/// Wide enough (`i128`) that sums of exact notionals never round.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(i128);

impl Money {
    /// Zero.
    pub const ZERO: Self = Self(0);

    /// From a raw count of 10⁻¹⁸.
    pub const fn from_raw(raw: i128) -> Self {
        Self(raw)
    }
    /// The raw count of 10⁻¹⁸.
    pub const fn raw(self) -> i128 {
        self.0
    }
    /// From a whole number of currency units.
    pub const fn from_int(v: i64) -> Self {
        Self(v as i128 * MONEY_SCALE)
    }
    /// From an `f64`, rounded to 10⁻⁹ (inputs such as starting cash).
    pub fn from_f64(value: f64) -> Result<Self, FixedError> {
        Price::from_f64(value).map(Price::to_money)
    }
    /// As an `f64` (for statistics and guests; never for accounting). The
    /// whole and fractional parts convert separately, so round amounts stay exact.
    pub fn to_f64(self) -> f64 {
        // One i128 division; both parts then convert with cheap i64 → f64
        // instructions whenever the whole part fits (|money| < 9.2e18).
        let whole = self.0 / MONEY_SCALE;
        let frac = (self.0 - whole * MONEY_SCALE) as i64; // |frac| < 1e18 fits
        let whole_f = match i64::try_from(whole) {
            Ok(w) => w as f64,
            Err(_) => whole as f64,
        };
        whole_f + frac as f64 / MONEY_SCALE as f64
    }
    /// `self × rate`, rounded half away from zero to 10⁻¹⁸.
    pub fn mul_rate(self, rate: Rate) -> Money {
        let num = self.0 * i128::from(rate.raw());
        let den = i128::from(SCALE);
        let q = num / den;
        let r = num % den;
        if r.abs() * 2 >= den {
            Money(q + num.signum())
        } else {
            Money(q)
        }
    }
    /// `self ÷ quantity` as a price, rounded half away from zero to 10⁻⁹
    /// (average prices). `None` for a zero quantity.
    pub fn per_unit(self, qty: Quantity) -> Option<Price> {
        if qty.raw() == 0 {
            return None;
        }
        let den = i128::from(qty.raw());
        let q = self.0 / den;
        let r = self.0 % den;
        let q = if r.abs() * 2 >= den.abs() {
            q + (self.0.signum() * den.signum())
        } else {
            q
        };
        i64::try_from(q).ok().map(Price::from_raw)
    }
    /// Absolute value.
    pub const fn abs(self) -> Self {
        Self(self.0.abs())
    }
    /// True if strictly negative.
    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }
    /// True if strictly positive.
    pub const fn is_positive(self) -> bool {
        self.0 > 0
    }
    /// Checked addition.
    pub fn checked_add(self, o: Self) -> Option<Self> {
        self.0.checked_add(o.0).map(Self)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        format_decimal(f, self.0, MONEY_DECIMALS)
    }
}
impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Money({self})")
    }
}
impl FromStr for Money {
    type Err = FixedError;
    fn from_str(s: &str) -> Result<Self, FixedError> {
        parse_decimal(s, MONEY_DECIMALS).map(Self)
    }
}
impl Add for Money {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        Self(self.0 + o.0)
    }
}
impl Sub for Money {
    type Output = Self;
    fn sub(self, o: Self) -> Self {
        Self(self.0 - o.0)
    }
}
impl AddAssign for Money {
    fn add_assign(&mut self, o: Self) {
        self.0 += o.0;
    }
}
impl SubAssign for Money {
    fn sub_assign(&mut self, o: Self) {
        self.0 -= o.0;
    }
}
impl Neg for Money {
    type Output = Self;
    fn neg(self) -> Self {
        Self(-self.0)
    }
}
impl std::iter::Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::ZERO, |a, b| a + b)
    }
}
impl Serialize for Money {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = DecimalText::deserialize(d)?;
        text.0.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn money_converts_round_amounts_to_f64_exactly() {
        assert_eq!(Money::from_int(100_000).to_f64(), 100_000.0);
        assert_eq!("98970.25".parse::<Money>().unwrap().to_f64(), 98_970.25);
        assert_eq!("-0.5".parse::<Money>().unwrap().to_f64(), -0.5);
    }

    #[test]
    fn notional_is_exact() {
        let p: Price = "0.000000001".parse().unwrap();
        let q: Quantity = "0.000000001".parse().unwrap();
        assert_eq!(p.notional(q).raw(), 1);
        assert_eq!(p.notional(q).to_string(), "0.000000000000000001");
    }

    #[test]
    fn commission_rounds_half_away_from_zero() {
        let m = Money::from_raw(5);
        let half: Rate = "0.5".parse().unwrap();
        assert_eq!(m.mul_rate(half).raw(), 3);
        assert_eq!((-m).mul_rate(half).raw(), -3);
    }

    #[test]
    fn formats_with_precision_rounding() {
        let m: Money = "1234.5678".parse().unwrap();
        assert_eq!(format!("{m:.2}"), "1234.57");
        assert_eq!(format!("{:.2}", -m), "-1234.57");
        assert_eq!(format!("{:.0}", "0.4".parse::<Money>().unwrap()), "0");
    }

    proptest! {
        #[test]
        fn money_display_parse_round_trips(raw in any::<i128>()) {
            let m = Money::from_raw(raw / 16);
            prop_assert_eq!(m.to_string().parse::<Money>().unwrap(), m);
        }

        #[test]
        fn cash_flows_sum_without_drift(fills in prop::collection::vec((1i64..1_000_000_000_000i64, 1i64..1_000_000_000_000i64, any::<bool>()), 1..200)) {
            // Buying and later selling the same lots at the same prices returns cash exactly.
            let mut cash = Money::from_int(1_000_000);
            let start = cash;
            for (p, q, _) in &fills {
                cash -= Price::from_raw(*p).notional(Quantity::from_raw(*q));
            }
            for (p, q, _) in fills.iter().rev() {
                cash += Price::from_raw(*p).notional(Quantity::from_raw(*q));
            }
            prop_assert_eq!(cash, start);
        }
    }

    proptest! {
        // Each case is a million fills: a few seeds are plenty.
        #![proptest_config(ProptestConfig::with_cases(4))]

        /// A million fills (in release builds; 10 000 in debug) move cash by
        /// exactly the sum of their notionals and commissions computed in
        /// plain i128 units: no rounding drift however long the day.
        #[test]
        fn a_million_fills_move_cash_without_drift(seed in any::<u64>()) {
            let n = if cfg!(debug_assertions) { 10_000 } else { 1_000_000 };
            let mut state = seed | 1;
            let mut next = move || {
                // xorshift64*: a deterministic stream per seed.
                state ^= state >> 12;
                state ^= state << 25;
                state ^= state >> 27;
                state.wrapping_mul(0x2545_F491_4F6C_DD1D)
            };
            let start = Money::from_int(1_000_000_000);
            let mut cash = start;
            let mut expected: i128 = start.raw();
            for _ in 0..n {
                let price_raw = (next() % 5_000_000_000_000) as i64 + 1; // up to 5 000.000000001
                let qty_raw = (next() % 1_000_000_000_000) as i64 + 1; // up to 1 000.000000001
                let commission_raw = i128::from((next() % 10_000_000_000) as i64) * 1_000_000_007;
                let notional = Price::from_raw(price_raw).notional(Quantity::from_raw(qty_raw));
                let commission = Money::from_raw(commission_raw);
                let exact = i128::from(price_raw) * i128::from(qty_raw);
                if next() % 2 == 0 {
                    cash -= notional;
                    expected -= exact;
                } else {
                    cash += notional;
                    expected += exact;
                }
                cash -= commission;
                expected -= commission_raw;
            }
            prop_assert_eq!(cash.raw(), expected);
        }
    }
}
