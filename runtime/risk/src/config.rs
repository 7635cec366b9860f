//! Risk limits and their configuration: raw (deserialised) and validated.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use wasmtrade_model::{Rate, StrategyId};

use crate::calendar::{Calendar, RawCalendar};
pub use crate::limits::Limits;
use crate::limits::check_limits;

/// What the caller should do when a kill switch is engaged (risk itself
/// only blocks; cancelling and flattening are the engine's job).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KillPolicy {
    /// Cancel the working orders in scope. Default `true`.
    pub cancel_working: bool,
    /// Close the positions in scope. Default `false`.
    pub flatten: bool,
}

impl Default for KillPolicy {
    fn default() -> Self {
        Self {
            cancel_working: true,
            flatten: false,
        }
    }
}

/// The risk configuration as written in a file (TOML/JSON); validate it with
/// [`RiskConfig::try_from`]. Every field is optional:
///
/// ```toml
/// enforce_cash = true            # default true
/// commission_rate = 0.001        # default 0: estimate added to the cash check
/// buying_power_multiplier = 2    # default 1: buying power = cash × multiplier
/// window_ms = 60000              # R8 rolling window, default 1 min
/// execution_window_ms = 60000    # R15 window, default 1 min
/// order_to_trade_min_orders = 100
/// day_timezone = "America/New_York"   # when the trading day rolls (default UTC)
/// require_reconciliation = true  # start with the trading gate closed
/// restricted = ["GME"]
/// [kill_switch]
/// cancel_working = true
/// flatten = false
/// [calendars.us]
/// timezone = "America/New_York"
/// open = "09:30"
/// close = "16:00"
/// [account]                      # default: no limits
/// max_order_notional = 100000
/// trading_hours = "us"
/// [strategies.sma-cross]
/// max_position = 500
/// allowed_instruments = ["AAPL", "MSFT"]
/// [instruments.AAPL]             # by symbol
/// max_order_quantity = 100
/// collar_percent = 0.05
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawRiskConfig {
    /// Refuse orders the account cannot pay for. Default `true`.
    pub enforce_cash: bool,
    /// Commission rate (of notional) used to estimate the commission in the
    /// cash check. Default 0. Must be in `[0, 1)`.
    pub commission_rate: Rate,
    /// Buying power = available cash × this (margin). Default 1, in `(0, 100]`.
    pub buying_power_multiplier: Rate,
    /// R8 rolling window in milliseconds. Default 60 000.
    pub window_ms: u64,
    /// R15 execution window in milliseconds. Default 60 000.
    pub execution_window_ms: u64,
    /// R14 applies once a day has this many orders. Default 100.
    pub order_to_trade_min_orders: u32,
    /// Time zone whose midnight starts a new trading day (daily loss,
    /// order-to-trade). Default `UTC`.
    pub day_timezone: String,
    /// R21: start with the trading gate closed until reconciliation opens it.
    pub require_reconciliation: bool,
    /// What an engaged kill switch asks the engine to do.
    pub kill_switch: KillPolicy,
    /// R2: symbols no strategy may trade.
    pub restricted: BTreeSet<String>,
    /// Calendars that `trading_hours` may name.
    pub calendars: BTreeMap<String, RawCalendar>,
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
            buying_power_multiplier: Rate::ONE,
            window_ms: 60_000,
            execution_window_ms: 60_000,
            order_to_trade_min_orders: 100,
            day_timezone: "UTC".to_string(),
            require_reconciliation: false,
            kill_switch: KillPolicy::default(),
            restricted: BTreeSet::new(),
            calendars: BTreeMap::new(),
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
    /// A value is not of the expected form or range.
    #[error("`{path}` = {value:?} is not valid: expected {expected}")]
    InvalidValue {
        /// Field path.
        path: String,
        /// The value as written.
        value: String,
        /// What would be accepted.
        expected: &'static str,
    },
    /// `trading_hours` names a calendar that is not defined.
    #[error("`{path}` names calendar {name:?}, which is not in `calendars`: define it or fix the name")]
    UnknownCalendar {
        /// Field path.
        path: String,
        /// The name.
        name: String,
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
    pub(crate) raw: RawRiskConfig,
    pub(crate) strategies: BTreeMap<StrategyId, Limits>,
    pub(crate) calendars: BTreeMap<String, Calendar>,
    pub(crate) day_tz: Tz,
    needs_account_view: bool,
    tracks_pnl: bool,
}

impl Default for RiskConfig {
    fn default() -> Self {
        Self {
            raw: RawRiskConfig::default(),
            strategies: BTreeMap::new(),
            calendars: BTreeMap::new(),
            day_tz: Tz::UTC,
            needs_account_view: false,
            tracks_pnl: false,
        }
    }
}

impl RiskConfig {
    /// A configuration with no limits that does not check cash (tests, research).
    pub fn permissive() -> Self {
        Self::default().with_enforce_cash(false)
    }
    /// Whether cash is checked.
    pub fn enforce_cash(&self) -> bool {
        self.raw.enforce_cash
    }
    /// The commission rate used to estimate commissions.
    pub fn commission_rate(&self) -> Rate {
        self.raw.commission_rate
    }
    /// Buying power per unit of cash.
    pub fn buying_power_multiplier(&self) -> Rate {
        self.raw.buying_power_multiplier
    }
    /// What an engaged kill switch asks the engine to do.
    pub fn kill_policy(&self) -> KillPolicy {
        self.raw.kill_switch
    }
    /// Account-wide limits.
    pub fn account(&self) -> &Limits {
        &self.raw.account
    }
    /// Limits of one strategy, if configured.
    pub fn strategy(&self, id: &StrategyId) -> Option<&Limits> {
        self.strategies.get(id)
    }
    /// Limits of one instrument symbol, if configured.
    pub fn instrument(&self, symbol: &str) -> Option<&Limits> {
        self.raw.instruments.get(symbol)
    }
    /// True if some limit needs the account-wide part of [`Exposure`](crate::Exposure)
    /// (open notional, gross/net, working-order counts, self-cross): callers
    /// may skip building it otherwise.
    pub fn needs_account_view(&self) -> bool {
        self.needs_account_view
    }
    /// True if some daily-loss or drawdown limit needs
    /// [`Engine::on_pnl`](crate::Engine::on_pnl) reports.
    pub fn tracks_pnl(&self) -> bool {
        self.tracks_pnl
    }
    /// The configuration as written (for `risk show` and persistence).
    pub fn raw(&self) -> &RawRiskConfig {
        &self.raw
    }

    /// Whether replacing this configuration with `new` loosens anything: a
    /// limit raised or removed at any level, cash no longer enforced, more
    /// buying power, a restriction lifted.
    pub fn loosened_by(&self, new: &RiskConfig) -> bool {
        let (o, n) = (&self.raw, &new.raw);
        let strategies_loosen = o.strategies.iter().any(|(k, l)| {
            n.strategies
                .get(k)
                .is_none_or(|new| crate::audit::loosens(l, new))
        });
        let instruments_loosen = o.instruments.iter().any(|(k, l)| {
            n.instruments
                .get(k)
                .is_none_or(|new| crate::audit::loosens(l, new))
        });
        crate::audit::loosens(&o.account, &n.account)
            || strategies_loosen
            || instruments_loosen
            || (o.enforce_cash && !n.enforce_cash)
            || n.buying_power_multiplier > o.buying_power_multiplier
            || !o.restricted.is_subset(&n.restricted)
    }
    pub(crate) fn window_nanos(&self) -> i64 {
        millis_to_nanos(self.raw.window_ms)
    }
    pub(crate) fn execution_window_nanos(&self) -> i64 {
        millis_to_nanos(self.raw.execution_window_ms)
    }
}

pub(crate) fn millis_to_nanos(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX).saturating_mul(1_000_000)
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
        if !raw.buying_power_multiplier.is_positive() || raw.buying_power_multiplier > Rate::from_int(100) {
            problems.push(ConfigProblem::InvalidValue {
                path: "buying_power_multiplier".into(),
                value: raw.buying_power_multiplier.to_string(),
                expected: "a multiplier above 0 and at most 100",
            });
        }
        for (field, ms) in [
            ("window_ms", raw.window_ms),
            ("execution_window_ms", raw.execution_window_ms),
        ] {
            if ms == 0 {
                problems.push(ConfigProblem::NonPositiveLimit {
                    path: field.into(),
                    value: "0".into(),
                });
            }
        }
        let day_tz = raw.day_timezone.parse::<Tz>().ok();
        if day_tz.is_none() {
            problems.push(ConfigProblem::InvalidValue {
                path: "day_timezone".into(),
                value: raw.day_timezone.clone(),
                expected: "an IANA time zone such as America/New_York",
            });
        }
        if raw.restricted.iter().any(|s| s.trim().is_empty()) {
            problems.push(ConfigProblem::EmptyKey { table: "restricted" });
        }
        let mut calendars = BTreeMap::new();
        for (name, c) in &raw.calendars {
            if let Some(c) = Calendar::validate(&format!("calendars.{name}"), c, &mut problems) {
                calendars.insert(name.clone(), c);
            }
        }
        check_limits("account", &raw.account, &raw.calendars, &mut problems);
        for (table, map) in [("strategies", &raw.strategies), ("instruments", &raw.instruments)] {
            for (key, limits) in map {
                if key.trim().is_empty() {
                    problems.push(ConfigProblem::EmptyKey { table });
                }
                check_limits(&format!("{table}.{key}"), limits, &raw.calendars, &mut problems);
            }
        }
        let levels = || {
            std::iter::once(&raw.account)
                .chain(raw.strategies.values())
                .chain(raw.instruments.values())
        };
        let needs_account_view = levels().any(|l| {
            l.max_open_notional.is_some()
                || l.max_gross_exposure.is_some()
                || l.max_net_exposure.is_some()
                || l.max_working_orders.is_some()
                || l.max_working_orders_per_side.is_some()
                || l.prevent_self_cross == Some(true)
        });
        let tracks_pnl = levels().any(|l| l.max_daily_loss.is_some() || l.max_drawdown.is_some());
        match day_tz {
            Some(day_tz) if problems.is_empty() => Ok(Self {
                needs_account_view,
                tracks_pnl,
                strategies: raw
                    .strategies
                    .iter()
                    .map(|(k, v)| (StrategyId::new(k), v.clone()))
                    .collect(),
                calendars,
                day_tz,
                raw,
            }),
            _ => Err(RiskConfigError { problems }),
        }
    }
}

impl From<RiskConfig> for RawRiskConfig {
    fn from(c: RiskConfig) -> Self {
        c.raw
    }
}

/// Builders for programmatic configuration; each validates like a file.
impl RiskConfig {
    /// Sets whether cash is checked.
    pub fn with_enforce_cash(mut self, on: bool) -> Self {
        self.raw.enforce_cash = on;
        self
    }
    /// Sets the commission-rate estimate.
    pub fn with_commission_rate(self, rate: Rate) -> Result<Self, RiskConfigError> {
        self.edit(|raw| raw.commission_rate = rate)
    }
    /// Sets the account limits.
    pub fn with_account(self, limits: Limits) -> Result<Self, RiskConfigError> {
        self.edit(|raw| raw.account = limits)
    }
    /// Sets one strategy's limits.
    pub fn with_strategy(self, id: &StrategyId, limits: Limits) -> Result<Self, RiskConfigError> {
        self.edit(|raw| {
            raw.strategies.insert(id.to_string(), limits);
        })
    }
    /// Sets one instrument's limits (by symbol).
    pub fn with_instrument(self, symbol: &str, limits: Limits) -> Result<Self, RiskConfigError> {
        self.edit(|raw| {
            raw.instruments.insert(symbol.to_string(), limits);
        })
    }
    /// Adds (or replaces) a calendar.
    pub fn with_calendar(self, name: &str, calendar: RawCalendar) -> Result<Self, RiskConfigError> {
        self.edit(|raw| {
            raw.calendars.insert(name.to_string(), calendar);
        })
    }
    /// Any other change to the raw configuration, validated.
    pub fn edit(self, change: impl FnOnce(&mut RawRiskConfig)) -> Result<Self, RiskConfigError> {
        let mut raw = self.raw;
        change(&mut raw);
        Self::try_from(raw)
    }
}

#[cfg(test)]
mod tests {
    use wasmtrade_model::{Money, Quantity};

    use super::*;

    #[test]
    fn defaults_enforce_cash_without_limits() {
        let c: RiskConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c, RiskConfig::default());
        assert!(c.enforce_cash());
        assert_eq!(c.account(), &Limits::default());
        assert_eq!(c.buying_power_multiplier(), Rate::ONE);
    }

    #[test]
    fn reads_nested_limits() {
        let c: RiskConfig = serde_json::from_str(
            r#"{"enforce_cash": false, "account": {"max_order_notional": 1000},
                "strategies": {"sma": {"max_position": "5", "allowed_instruments": ["AAPL"]}},
                "instruments": {"AAPL": {"max_order_quantity": 7}}}"#,
        )
        .unwrap();
        let sma = c.strategy(&StrategyId::new("sma")).unwrap();
        assert_eq!(sma.max_position, Some(Quantity::from_int(5)));
        assert!(sma.allowed_instruments.as_ref().unwrap().contains("AAPL"));
        assert_eq!(
            c.instrument("AAPL").unwrap().max_order_quantity,
            Some(Quantity::from_int(7))
        );
        assert_eq!(c.account().max_order_notional, Some(Money::from_int(1000)));
    }

    #[test]
    fn round_trips_through_serde() {
        let c: RiskConfig = serde_json::from_str(
            r#"{"restricted": ["GME"], "calendars": {"us": {"timezone": "America/New_York", "open": "09:30", "close": "16:00"}},
                "account": {"trading_hours": "us", "max_orders_per_second": 40}}"#,
        )
        .unwrap();
        let text = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<RiskConfig>(&text).unwrap(), c);
    }

    #[test]
    fn refuses_unknown_fields() {
        assert!(serde_json::from_str::<RiskConfig>(r#"{"max_order_qty": 1}"#).is_err());
        assert!(serde_json::from_str::<RiskConfig>(r#"{"account": {"max_qty": 1}}"#).is_err());
        assert!(serde_json::from_str::<RiskConfig>(r#"{"kill_switch": {"flaten": true}}"#).is_err());
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
    fn collects_problems_of_the_new_limits() {
        let raw: RawRiskConfig = serde_json::from_str(
            r#"{"buying_power_multiplier": 0, "window_ms": 0, "day_timezone": "Nowhere/Land",
                "account": {"collar_percent": 1.5, "max_orders_per_second": 0, "trading_hours": "lse",
                            "duplicate_window_ms": 0, "max_daily_loss": -5}}"#,
        )
        .unwrap();
        let err = RiskConfig::try_from(raw).unwrap_err();
        let text = err.to_string();
        assert_eq!(err.problems.len(), 8, "{text}");
        assert!(text.contains("`buying_power_multiplier` = \"0\""), "{text}");
        assert!(
            text.contains("`account.trading_hours` names calendar \"lse\""),
            "{text}"
        );
        assert!(text.contains("`account.collar_percent` = \"1.5\""), "{text}");
        assert!(text.contains("`day_timezone`"), "{text}");
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
