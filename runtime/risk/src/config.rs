//! Risk limits and their configuration: raw (deserialised) and validated.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use wasmtrade_model::{Money, Quantity, Rate, StrategyId};

/// Limits at one level (account, strategy or instrument). `None` = no limit
/// at this level (the default). Where several levels apply, the strictest wins.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest quantity of one order (> 0).
    pub max_order_quantity: Option<Quantity>,
    /// Largest notional of one order, `quantity × max(limit, reference)` (> 0).
    pub max_order_notional: Option<Money>,
    /// Largest absolute position, counting all open orders on the same side
    /// as filled (worst case), long and short (> 0).
    pub max_position: Option<Quantity>,
}

/// The risk configuration as written in a file (TOML/JSON); validate it with
/// [`RiskConfig::try_from`]. Every field is optional:
///
/// ```toml
/// enforce_cash = true            # default true
/// commission_rate = 0.001        # default 0: estimate added to the cash check
/// [account]                      # default: no limits
/// max_order_notional = 100000
/// [strategies.sma-cross]
/// max_position = 500
/// [instruments.AAPL]             # by symbol
/// max_order_quantity = 100
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawRiskConfig {
    /// Refuse orders the account cannot pay for. Default `true`.
    pub enforce_cash: bool,
    /// Commission rate (of notional) used to estimate the commission in the
    /// cash check. Default 0. Must be in `[0, 1)`.
    pub commission_rate: Rate,
    /// Account-wide limits.
    pub account: Limits,
    /// Limits per strategy id.
    pub strategies: BTreeMap<String, Limits>,
    /// Limits per instrument symbol.
    pub instruments: BTreeMap<String, Limits>,
}

impl Default for RawRiskConfig {
    fn default() -> Self {
        Self {
            enforce_cash: true,
            commission_rate: Rate::ZERO,
            account: Limits::default(),
            strategies: BTreeMap::new(),
            instruments: BTreeMap::new(),
        }
    }
}

/// One problem found while validating a [`RawRiskConfig`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigProblem {
    /// A limit is zero or negative.
    #[error("`{path}` = {value} must be greater than zero (omit it for no limit)")]
    NonPositiveLimit {
        /// Field path, e.g. `strategies.sma-cross.max_position`.
        path: String,
        /// The value as written.
        value: String,
    },
    /// A table key is empty.
    #[error("`{table}` has an empty key: name a strategy id or symbol")]
    EmptyKey {
        /// `strategies` or `instruments`.
        table: &'static str,
    },
    /// The commission rate is outside `[0, 1)`.
    #[error("`commission_rate` = {value} must be at least 0 and below 1")]
    InvalidRate {
        /// The value.
        value: Rate,
    },
}

/// All problems of a risk configuration, reported at once.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct RiskConfigError {
    /// Every problem found, in field order.
    pub problems: Vec<ConfigProblem>,
}

impl fmt::Display for RiskConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid risk config ({} problem(s)): ", self.problems.len())?;
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// A validated risk configuration (see [`RawRiskConfig`] for the fields and
/// defaults). The default has no limits and enforces cash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawRiskConfig", into = "RawRiskConfig")]
pub struct RiskConfig {
    pub(crate) enforce_cash: bool,
    pub(crate) commission_rate: Rate,
    pub(crate) account: Limits,
    pub(crate) strategies: BTreeMap<StrategyId, Limits>,
    pub(crate) instruments: BTreeMap<String, Limits>,
}

impl Default for RiskConfig {
    fn default() -> Self {
        Self {
            enforce_cash: true,
            commission_rate: Rate::ZERO,
            account: Limits::default(),
            strategies: BTreeMap::new(),
            instruments: BTreeMap::new(),
        }
    }
}

impl RiskConfig {
    /// A configuration with no limits that does not check cash (tests, research).
    pub fn permissive() -> Self {
        Self {
            enforce_cash: false,
            ..Self::default()
        }
    }
    /// Whether cash is checked.
    pub fn enforce_cash(&self) -> bool {
        self.enforce_cash
    }
    /// The commission rate used to estimate commissions.
    pub fn commission_rate(&self) -> Rate {
        self.commission_rate
    }
    /// Account-wide limits.
    pub fn account(&self) -> &Limits {
        &self.account
    }
    /// Limits of one strategy, if configured.
    pub fn strategy(&self, id: &StrategyId) -> Option<&Limits> {
        self.strategies.get(id)
    }
    /// Limits of one instrument symbol, if configured.
    pub fn instrument(&self, symbol: &str) -> Option<&Limits> {
        self.instruments.get(symbol)
    }
}

fn check_limits(path: &str, l: &Limits, problems: &mut Vec<ConfigProblem>) {
    let mut bad = |field: &str, value: String| {
        problems.push(ConfigProblem::NonPositiveLimit {
            path: format!("{path}.{field}"),
            value,
        });
    };
    if let Some(q) = l.max_order_quantity.filter(|q| !q.is_positive()) {
        bad("max_order_quantity", q.to_string());
    }
    if let Some(m) = l.max_order_notional.filter(|m| !m.is_positive()) {
        bad("max_order_notional", m.to_string());
    }
    if let Some(q) = l.max_position.filter(|q| !q.is_positive()) {
        bad("max_position", q.to_string());
    }
}

impl TryFrom<RawRiskConfig> for RiskConfig {
    type Error = RiskConfigError;

    fn try_from(raw: RawRiskConfig) -> Result<Self, RiskConfigError> {
        let mut problems = Vec::new();
        if raw.commission_rate.is_negative() || raw.commission_rate >= Rate::ONE {
            problems.push(ConfigProblem::InvalidRate {
                value: raw.commission_rate,
            });
        }
        check_limits("account", &raw.account, &mut problems);
        for (table, map) in [("strategies", &raw.strategies), ("instruments", &raw.instruments)] {
            for (key, limits) in map {
                if key.trim().is_empty() {
                    problems.push(ConfigProblem::EmptyKey { table });
                }
                check_limits(&format!("{table}.{key}"), limits, &mut problems);
            }
        }
        if !problems.is_empty() {
            return Err(RiskConfigError { problems });
        }
        Ok(Self {
            enforce_cash: raw.enforce_cash,
            commission_rate: raw.commission_rate,
            account: raw.account,
            strategies: raw
                .strategies
                .into_iter()
                .map(|(k, v)| (StrategyId::new(k), v))
                .collect(),
            instruments: raw.instruments,
        })
    }
}

impl From<RiskConfig> for RawRiskConfig {
    fn from(c: RiskConfig) -> Self {
        Self {
            enforce_cash: c.enforce_cash,
            commission_rate: c.commission_rate,
            account: c.account,
            strategies: c
                .strategies
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            instruments: c.instruments,
        }
    }
}

/// Builders for programmatic configuration.
impl RiskConfig {
    /// Sets whether cash is checked.
    pub fn with_enforce_cash(mut self, on: bool) -> Self {
        self.enforce_cash = on;
        self
    }
    /// Sets the commission-rate estimate (validated like the file field).
    pub fn with_commission_rate(mut self, rate: Rate) -> Result<Self, RiskConfigError> {
        if rate.is_negative() || rate >= Rate::ONE {
            return Err(RiskConfigError {
                problems: vec![ConfigProblem::InvalidRate { value: rate }],
            });
        }
        self.commission_rate = rate;
        Ok(self)
    }
    /// Sets the account limits.
    pub fn with_account(self, limits: Limits) -> Result<Self, RiskConfigError> {
        let mut raw = RawRiskConfig::from(self);
        raw.account = limits;
        Self::try_from(raw)
    }
    /// Sets one strategy's limits.
    pub fn with_strategy(self, id: &StrategyId, limits: Limits) -> Result<Self, RiskConfigError> {
        let mut raw = RawRiskConfig::from(self);
        raw.strategies.insert(id.to_string(), limits);
        Self::try_from(raw)
    }
    /// Sets one instrument's limits (by symbol).
    pub fn with_instrument(self, symbol: &str, limits: Limits) -> Result<Self, RiskConfigError> {
        let mut raw = RawRiskConfig::from(self);
        raw.instruments.insert(symbol.to_string(), limits);
        Self::try_from(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_enforce_cash_without_limits() {
        let c: RiskConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c, RiskConfig::default());
        assert!(c.enforce_cash());
        assert_eq!(c.account(), &Limits::default());
    }

    #[test]
    fn reads_nested_limits() {
        let c: RiskConfig = serde_json::from_str(
            r#"{"enforce_cash": false, "account": {"max_order_notional": 1000},
                "strategies": {"sma": {"max_position": "5"}}, "instruments": {"AAPL": {"max_order_quantity": 7}}}"#,
        )
        .unwrap();
        assert_eq!(
            c.strategy(&StrategyId::new("sma")).unwrap().max_position,
            Some(Quantity::from_int(5))
        );
        assert_eq!(
            c.instrument("AAPL").unwrap().max_order_quantity,
            Some(Quantity::from_int(7))
        );
        assert_eq!(c.account().max_order_notional, Some(Money::from_int(1000)));
    }

    #[test]
    fn refuses_unknown_fields() {
        assert!(serde_json::from_str::<RiskConfig>(r#"{"max_order_qty": 1}"#).is_err());
        assert!(serde_json::from_str::<RiskConfig>(r#"{"account": {"max_qty": 1}}"#).is_err());
    }

    #[test]
    fn collects_every_problem_at_once() {
        let raw: RawRiskConfig = serde_json::from_str(
            r#"{"commission_rate": -0.1, "account": {"max_order_quantity": 0},
                "strategies": {"sma": {"max_position": -1, "max_order_notional": 0}}, "instruments": {"": {}}}"#,
        )
        .unwrap();
        let err = RiskConfig::try_from(raw).unwrap_err();
        assert_eq!(err.problems.len(), 5, "{err}");
        let text = err.to_string();
        assert!(
            text.starts_with("invalid risk config (5 problem(s)): `commission_rate` = -0.1"),
            "{text}"
        );
        assert!(
            text.contains("`account.max_order_quantity` = 0 must be greater than zero"),
            "{text}"
        );
        assert!(text.contains("`strategies.sma.max_position` = -1"), "{text}");
        assert!(text.contains("`instruments` has an empty key"), "{text}");
    }

    #[test]
    fn builders_validate() {
        let bad = Limits {
            max_position: Some(Quantity::ZERO),
            ..Limits::default()
        };
        assert!(
            RiskConfig::default()
                .with_strategy(&StrategyId::new("s"), bad)
                .is_err()
        );
        assert!(RiskConfig::default().with_commission_rate(Rate::ONE).is_err());
    }
}
