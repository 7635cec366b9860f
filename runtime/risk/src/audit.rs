//! Audit records of risk changes (R23): every method that changes a limit,
//! a kill switch, a halt or the trading gate returns one, and the caller
//! journals it. Risk itself stays free of I/O.

use serde::{Deserialize, Serialize};
use wasmtrade_model::Timestamp;

use crate::config::Limits;

/// One change to the risk engine, for the journal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeRecord {
    /// Who made it (an authenticated user, or a component such as `risk`).
    pub who: String,
    /// When (event time).
    pub when: Timestamp,
    /// What changed: a config path (`strategies.sma-cross`), `config`,
    /// `kill_switch.global`, `halt.strategy.sma-cross`, `trading_gate`.
    pub what: String,
    /// The value before, as compact JSON (`null` if none).
    pub old: String,
    /// The value after, as compact JSON (`null` if none).
    pub new: String,
    /// True if the change loosens risk (a limit raised or removed, a switch
    /// released): the place to ask for a second approver.
    pub loosens: bool,
}

/// Compact JSON of a value, for [`ChangeRecord::old`]/[`ChangeRecord::new`].
pub(crate) fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|e| format!("\"<unserialisable: {e}>\""))
}

/// Whether going from `old` to `new` raises or removes any limit.
pub(crate) fn loosens(old: &Limits, new: &Limits) -> bool {
    fn up<T: PartialOrd>(old: Option<T>, new: Option<T>) -> bool {
        match (old, new) {
            (Some(_), None) => true,
            (Some(o), Some(n)) => n > o,
            _ => false,
        }
    }
    let allowed_grew = match (&old.allowed_instruments, &new.allowed_instruments) {
        (Some(_), None) => true,
        (Some(o), Some(n)) => !n.is_subset(o),
        _ => false,
    };
    allowed_grew
        || up(old.max_order_quantity, new.max_order_quantity)
        || up(old.max_order_notional, new.max_order_notional)
        || up(old.max_position, new.max_position)
        || up(old.max_long_position, new.max_long_position)
        || up(old.max_short_position, new.max_short_position)
        || up(old.max_gross_exposure, new.max_gross_exposure)
        || up(old.max_net_exposure, new.max_net_exposure)
        || up(old.max_open_notional, new.max_open_notional)
        || up(old.collar_percent, new.collar_percent)
        || up(old.collar_ticks, new.collar_ticks)
        || up(old.max_reference_age_ms, new.max_reference_age_ms)
        || up(old.max_window_quantity, new.max_window_quantity)
        || up(old.max_window_notional, new.max_window_notional)
        || up(old.max_daily_loss, new.max_daily_loss)
        || up(old.max_drawdown, new.max_drawdown)
        || up(old.max_orders_per_second, new.max_orders_per_second)
        || up(old.max_orders_per_minute, new.max_orders_per_minute)
        || up(old.max_messages_per_second, new.max_messages_per_second)
        || up(old.max_cancels_per_minute, new.max_cancels_per_minute)
        || up(old.max_order_to_trade_ratio, new.max_order_to_trade_ratio)
        || up(old.max_executions, new.max_executions)
        || up(old.max_working_orders, new.max_working_orders)
        || up(old.max_working_orders_per_side, new.max_working_orders_per_side)
        // A shorter duplicate window or dropping self-cross prevention loosens.
        || up(old.duplicate_window_ms.map(std::cmp::Reverse), new.duplicate_window_ms.map(std::cmp::Reverse))
        || (old.prevent_self_cross == Some(true) && new.prevent_self_cross != Some(true))
        || (old.trading_hours.is_some() && new.trading_hours != old.trading_hours)
}

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use wasmtrade_model::Quantity;

    use super::*;

    fn q(n: i64) -> Option<Quantity> {
        Some(Quantity::from_int(n))
    }

    #[rstest]
    #[case::raised(q(10), q(11), true)]
    #[case::removed(q(10), None, true)]
    #[case::lowered(q(10), q(9), false)]
    #[case::added(None, q(9), false)]
    #[case::same(q(10), q(10), false)]
    fn flags_raised_and_removed_limits(
        #[case] old: Option<Quantity>,
        #[case] new: Option<Quantity>,
        #[case] expected: bool,
    ) {
        let o = Limits {
            max_position: old,
            ..Limits::default()
        };
        let n = Limits {
            max_position: new,
            ..Limits::default()
        };
        assert_eq!(loosens(&o, &n), expected);
    }

    #[test]
    fn a_shorter_duplicate_window_loosens() {
        let o = Limits {
            duplicate_window_ms: Some(1000),
            ..Limits::default()
        };
        let n = Limits {
            duplicate_window_ms: Some(500),
            ..Limits::default()
        };
        assert!(loosens(&o, &n));
        assert!(!loosens(&n, &o));
    }
}
