//! The limits of one level (account, strategy or instrument) and their validation.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use wasmtrade_model::{Money, Quantity, Rate};

use crate::calendar::RawCalendar;
use crate::config::ConfigProblem;

/// Limits at one level (account, strategy or instrument). `None` = no limit
/// at this level (the default). Where several levels apply, every one must
/// hold, so the strictest wins.
///
/// Snapshot limits (position, exposure, working orders) at the instrument
/// level apply to the strategy's exposure in that instrument; flow limits
/// (rates, windows, executions) count at each level separately: the whole
/// account, the strategy, the strategy in the instrument.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// R6: largest quantity of one order (> 0).
    pub max_order_quantity: Option<Quantity>,
    /// R7: largest notional of one order, `quantity × max(limit, reference)` (> 0).
    pub max_order_notional: Option<Money>,
    /// R10: largest absolute position, counting all open orders on the same
    /// side as filled (worst case), long and short (> 0).
    pub max_position: Option<Quantity>,
    /// R10: largest worst-case long position (> 0).
    pub max_long_position: Option<Quantity>,
    /// R10: largest worst-case short position, as a positive number (> 0).
    pub max_short_position: Option<Quantity>,
    /// R10: largest worst-case gross exposure `Σ |position| × price` across
    /// instruments, open orders counted as filled (> 0).
    pub max_gross_exposure: Option<Money>,
    /// R10: largest worst-case |net exposure| `|Σ position × price|` (> 0).
    pub max_net_exposure: Option<Money>,
    /// R9: largest notional of working orders, both sides (> 0).
    pub max_open_notional: Option<Money>,
    /// R2: the only instruments (symbols) allowed; every level's list applies.
    pub allowed_instruments: Option<BTreeSet<String>>,
    /// R4: a limit price may differ from the reference by at most this
    /// fraction of it (`0.05` = 5 %; in `(0, 1]`).
    pub collar_percent: Option<Rate>,
    /// R4: a limit price may differ from the reference by at most this many ticks (> 0).
    pub collar_ticks: Option<u32>,
    /// R5: oldest usable reference price, in milliseconds (> 0). Set, every
    /// order needs a reference price at most this old.
    pub max_reference_age_ms: Option<u64>,
    /// R8: largest quantity sent within the rolling window `window_ms` (> 0).
    pub max_window_quantity: Option<Quantity>,
    /// R8: largest notional sent within the rolling window `window_ms` (> 0).
    pub max_window_notional: Option<Money>,
    /// R12: largest loss of the day (realised + unrealised, as a positive
    /// amount) before the strategy or account is halted (> 0).
    pub max_daily_loss: Option<Money>,
    /// R12: largest fall from the day's P&L peak before a halt (> 0).
    pub max_drawdown: Option<Money>,
    /// R13: new orders per sliding second (> 0).
    pub max_orders_per_second: Option<u32>,
    /// R13: new orders per sliding minute (> 0).
    pub max_orders_per_minute: Option<u32>,
    /// R13: messages (orders, amendments, cancels) per sliding second (> 0).
    /// Cancels always pass but count.
    pub max_messages_per_second: Option<u32>,
    /// R13: cancels per sliding minute before new orders are refused (> 0).
    pub max_cancels_per_minute: Option<u32>,
    /// R14: most orders per execution over the day, once the day has
    /// `order_to_trade_min_orders` orders (> 0).
    pub max_order_to_trade_ratio: Option<u32>,
    /// R15: most executions within `execution_window_ms`; one more halts
    /// the strategy (or account) until a person re-enables it (> 0).
    pub max_executions: Option<u32>,
    /// R16: refuse an order with the same instrument, side, quantity and
    /// prices as one the strategy sent within this many milliseconds (> 0).
    pub duplicate_window_ms: Option<u64>,
    /// R17: refuse orders that would cross a resting order of the account.
    pub prevent_self_cross: Option<bool>,
    /// R18: most working orders (> 0).
    pub max_working_orders: Option<u32>,
    /// R18: most working orders of the account per instrument and side
    /// (Interactive Brokers allows 20) (> 0).
    pub max_working_orders_per_side: Option<u32>,
    /// Trading hours: the name of a calendar in `calendars`.
    pub trading_hours: Option<String>,
}

pub(crate) fn check_limits(
    path: &str,
    l: &Limits,
    calendars: &BTreeMap<String, RawCalendar>,
    problems: &mut Vec<ConfigProblem>,
) {
    let mut bad = |field: &str, value: String| {
        problems.push(ConfigProblem::NonPositiveLimit {
            path: format!("{path}.{field}"),
            value,
        });
    };
    let quantities = [
        ("max_order_quantity", l.max_order_quantity),
        ("max_position", l.max_position),
        ("max_long_position", l.max_long_position),
        ("max_short_position", l.max_short_position),
        ("max_window_quantity", l.max_window_quantity),
    ];
    for (field, q) in quantities {
        if let Some(q) = q.filter(|q| !q.is_positive()) {
            bad(field, q.to_string());
        }
    }
    let amounts = [
        ("max_order_notional", l.max_order_notional),
        ("max_gross_exposure", l.max_gross_exposure),
        ("max_net_exposure", l.max_net_exposure),
        ("max_open_notional", l.max_open_notional),
        ("max_window_notional", l.max_window_notional),
        ("max_daily_loss", l.max_daily_loss),
        ("max_drawdown", l.max_drawdown),
    ];
    for (field, m) in amounts {
        if let Some(m) = m.filter(|m| !m.is_positive()) {
            bad(field, m.to_string());
        }
    }
    let counts = [
        ("collar_ticks", l.collar_ticks),
        ("max_orders_per_second", l.max_orders_per_second),
        ("max_orders_per_minute", l.max_orders_per_minute),
        ("max_messages_per_second", l.max_messages_per_second),
        ("max_cancels_per_minute", l.max_cancels_per_minute),
        ("max_order_to_trade_ratio", l.max_order_to_trade_ratio),
        ("max_executions", l.max_executions),
        ("max_working_orders", l.max_working_orders),
        ("max_working_orders_per_side", l.max_working_orders_per_side),
    ];
    for (field, n) in counts {
        if n == Some(0) {
            bad(field, "0".to_string());
        }
    }
    for (field, ms) in [
        ("max_reference_age_ms", l.max_reference_age_ms),
        ("duplicate_window_ms", l.duplicate_window_ms),
    ] {
        if ms == Some(0) {
            bad(field, "0".to_string());
        }
    }
    if let Some(p) = l.collar_percent.filter(|p| !p.is_positive() || *p > Rate::ONE) {
        problems.push(ConfigProblem::InvalidValue {
            path: format!("{path}.collar_percent"),
            value: p.to_string(),
            expected: "a fraction above 0 and at most 1 (0.05 = 5 %)",
        });
    }
    if let Some(list) = &l.allowed_instruments
        && list.iter().any(|s| s.trim().is_empty())
    {
        problems.push(ConfigProblem::InvalidValue {
            path: format!("{path}.allowed_instruments"),
            value: String::new(),
            expected: "non-empty symbols",
        });
    }
    if let Some(name) = &l.trading_hours
        && !calendars.contains_key(name)
    {
        problems.push(ConfigProblem::UnknownCalendar {
            path: format!("{path}.trading_hours"),
            name: name.clone(),
        });
    }
}
