//! Paper broker settings.

use serde::{Deserialize, Serialize};
use wasmtrade_model::{Money, Price, Quantity, Rate};

/// When a market order fills.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FillTiming {
    /// At the open of the next bar after the order (default).
    #[default]
    NextOpen,
    /// At the close of the bar that produced the order (backtesting.py's
    /// `trade_on_close`). Applies to market orders; limit and stop orders
    /// always wait for the next bar.
    SameClose,
}

/// Commission charged on every fill:
/// `max(minimum, notional × rate + quantity × per_unit)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Commission {
    /// Fraction of the fill notional, e.g. `0.001`. Default 0.
    pub rate: Rate,
    /// Money per unit filled, e.g. `0.005` per share. Default none.
    pub per_unit: Option<Price>,
    /// Least commission per fill. Default 0.
    pub minimum: Money,
}

impl Commission {
    /// The commission of one fill.
    pub fn of(&self, quantity: Quantity, price: Price) -> Money {
        let mut c = price.notional(quantity).mul_rate(self.rate);
        if let Some(per_unit) = self.per_unit {
            c += per_unit.notional(quantity);
        }
        c.max(self.minimum)
    }
}

/// Settings of the [`PaperBroker`](super::PaperBroker); every field has a default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PaperConfig {
    /// When market orders fill. Default [`FillTiming::NextOpen`].
    pub fill_timing: FillTiming,
    /// Commission model. Default: free.
    pub commission: Commission,
    /// Market and stop fills are this many ticks worse (buys higher, sells
    /// lower, never below one tick). Default 0.
    pub slippage_ticks: u32,
    /// Largest fraction of a bar's volume (or a tick's size) one bar may fill
    /// across all orders, e.g. `0.1`; the rest waits (partial fills). Default: unlimited.
    pub max_volume_participation: Option<Rate>,
}

/// One invalid paper broker setting.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PaperConfigProblem {
    /// A negative commission component.
    #[error("`commission.{field}` = {value} must not be negative")]
    NegativeCommission {
        /// Field name.
        field: &'static str,
        /// Value.
        value: String,
    },
    /// A participation outside `(0, 1]`.
    #[error("`max_volume_participation` = {value} must be above 0 and at most 1")]
    Participation {
        /// Value.
        value: Rate,
    },
}

/// Every problem of a [`PaperConfig`], reported at once.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid paper broker config: {}", .problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct PaperConfigError {
    /// The problems, in field order.
    pub problems: Vec<PaperConfigProblem>,
}

impl PaperConfig {
    /// Checks every setting, collecting all problems.
    pub fn validate(&self) -> Result<(), PaperConfigError> {
        let mut problems = Vec::new();
        let c = &self.commission;
        if c.rate.is_negative() {
            problems.push(PaperConfigProblem::NegativeCommission {
                field: "rate",
                value: c.rate.to_string(),
            });
        }
        if let Some(p) = c.per_unit.filter(|p| p.is_negative()) {
            problems.push(PaperConfigProblem::NegativeCommission {
                field: "per_unit",
                value: p.to_string(),
            });
        }
        if c.minimum.is_negative() {
            problems.push(PaperConfigProblem::NegativeCommission {
                field: "minimum",
                value: c.minimum.to_string(),
            });
        }
        if let Some(r) = self.max_volume_participation
            && (!r.is_positive() || r > Rate::ONE)
        {
            problems.push(PaperConfigProblem::Participation { value: r });
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(PaperConfigError { problems })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commission_applies_rate_per_unit_and_minimum() {
        let c = Commission {
            rate: "0.001".parse().unwrap(),
            per_unit: Some("0.01".parse().unwrap()),
            minimum: Money::from_int(1),
        };
        // 100 × 50 × 0.001 = 5, + 100 × 0.01 = 1
        assert_eq!(
            c.of(Quantity::from_int(100), Price::from_int(50)),
            Money::from_int(6)
        );
        // 1 × 50 × 0.001 + 0.01 = 0.06 < minimum 1
        assert_eq!(
            c.of(Quantity::from_int(1), Price::from_int(50)),
            Money::from_int(1)
        );
    }

    #[test]
    fn collects_every_invalid_setting() {
        let c: PaperConfig = serde_json::from_str(
            r#"{"commission": {"rate": -0.1, "minimum": -1}, "max_volume_participation": 1.5}"#,
        )
        .unwrap();
        let e = c.validate().unwrap_err();
        assert_eq!(e.problems.len(), 3, "{e}");
        assert!(
            e.to_string()
                .contains("`commission.minimum` = -1 must not be negative")
        );
    }

    #[test]
    fn defaults_and_unknown_fields() {
        let c: PaperConfig = serde_json::from_str(r#"{"fill_timing": "same_close"}"#).unwrap();
        assert_eq!(c.fill_timing, FillTiming::SameClose);
        assert_eq!(c.slippage_ticks, 0);
        assert!(serde_json::from_str::<PaperConfig>(r#"{"slipage": 1}"#).is_err());
        assert_eq!(PaperConfig::default().validate(), Ok(()));
    }
}
