//! Checks of the order against what was sent recently: message and order
//! rates (R13), the order-to-trade ratio (R14), duplicates (R16) and the
//! quantity and notional sent within the rolling window (R8). They read the
//! [`Flow`] the engine feeds through `on_order_sent`, `on_cancel_sent`,
//! `on_amend_sent` and `on_fill`.

use wasmtrade_model::{NewOrder, RejectCode, Rejection, StrategyId, Timestamp};

use super::{Applicable, Subject, require_price};
use crate::config::{RiskConfig, millis_to_nanos};
use crate::exposure::Exposure;
use crate::throttle::{Flow, MINUTE, SECOND};

/// What is being checked: a new order counts against the order rates, an
/// amendment only against the message rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Message {
    NewOrder,
    Amendment,
}

/// R13: orders per second and minute, messages per second, cancels per
/// minute, at each configured level. A sliding window on event time: at
/// most `n` within any `(t − 1 s, t]`.
pub(crate) fn rates(
    s: &Subject<'_>,
    a: &Applicable<'_>,
    flow: &Flow,
    message: Message,
    now: Timestamp,
) -> Result<(), Rejection> {
    for (level, limits) in a.each() {
        let Some(c) = flow.counters(level, s.strategy, s.instrument.id) else {
            continue;
        };
        let checks = [
            (
                limits.max_messages_per_second,
                &c.messages,
                SECOND,
                RejectCode::MessageRate,
                "messages per second",
            ),
            (
                limits.max_cancels_per_minute,
                &c.cancels,
                MINUTE,
                RejectCode::CancelRate,
                "cancels per minute",
            ),
        ];
        let order_checks = [
            (
                limits.max_orders_per_second,
                &c.orders_sec,
                SECOND,
                RejectCode::OrderRate,
                "orders per second",
            ),
            (
                limits.max_orders_per_minute,
                &c.orders_min,
                MINUTE,
                RejectCode::OrderRate,
                "orders per minute",
            ),
        ];
        let n_orders = if message == Message::NewOrder { 2 } else { 0 };
        for (max, counter, window, code, what) in
            checks.into_iter().chain(order_checks.into_iter().take(n_orders))
        {
            if let Some(max) = max
                && counter.reaches(now, window, max)
            {
                return Err(s.reject(
                    code,
                    format_args!(
                        "{} sent in the last {} s already, max {max} {what} ({} limit)",
                        counter.count(now, window),
                        window / SECOND,
                        level.as_str()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// R14: orders per execution today, once the day has
/// `order_to_trade_min_orders` orders. `day_current` is false when the day
/// has rolled but no event has reset the counters yet.
pub(crate) fn order_to_trade(
    s: &Subject<'_>,
    config: &RiskConfig,
    a: &Applicable<'_>,
    flow: &Flow,
    day_current: bool,
) -> Result<(), Rejection> {
    if !day_current {
        return Ok(());
    }
    for (level, limits) in a.each() {
        let (Some(ratio), Some(c)) = (
            limits.max_order_to_trade_ratio,
            flow.counters(level, s.strategy, s.instrument.id),
        ) else {
            continue;
        };
        let orders = c.day_orders + 1;
        let trades = c.day_fills.max(1);
        if orders > u64::from(config.raw.order_to_trade_min_orders) && orders > u64::from(ratio) * trades {
            return Err(s.reject(
                RejectCode::OrderToTradeRatio,
                format_args!(
                    "{orders} orders for {} executions today would exceed {ratio} orders per execution ({} limit)",
                    c.day_fills,
                    level.as_str()
                ),
            ));
        }
    }
    Ok(())
}

/// R16: the same instrument, side, quantity and prices as an order the
/// strategy sent within the (longest configured) duplicate window.
pub(crate) fn duplicate(
    s: &Subject<'_>,
    a: &Applicable<'_>,
    flow: &Flow,
    strategy: &StrategyId,
    order: &NewOrder,
    now: Timestamp,
) -> Result<(), Rejection> {
    let Some(window_ms) = a.largest(|l| l.duplicate_window_ms) else {
        return Ok(());
    };
    let Some(sf) = flow.strategies.get(strategy) else {
        return Ok(());
    };
    if let Some(ts) = sf.recent.find(order, now, millis_to_nanos(window_ms)) {
        return Err(s.reject(
            RejectCode::DuplicateOrder,
            format_args!(
                "{} {} {} repeats an order sent at {ts} (duplicate window {window_ms} ms)",
                order.side,
                order.quantity,
                order.order_type.name(),
            ),
        ));
    }
    Ok(())
}

/// R8: quantity and notional sent within the rolling window plus this order.
pub(crate) fn window(
    s: &Subject<'_>,
    config: &RiskConfig,
    a: &Applicable<'_>,
    flow: &Flow,
    order: &NewOrder,
    e: &Exposure,
) -> Result<(), Rejection> {
    let wants_notional = a.strictest(|l| l.max_window_notional).is_some();
    if !wants_notional && a.strictest(|l| l.max_window_quantity).is_none() {
        return Ok(());
    }
    let notional = if wants_notional {
        require_price(s, order, e)?.notional(order.quantity)
    } else {
        wasmtrade_model::Money::ZERO
    };
    let w = config.window_nanos();
    for (level, limits) in a.each() {
        if limits.max_window_quantity.is_none() && limits.max_window_notional.is_none() {
            continue;
        }
        let (q, n) = flow
            .counters(level, s.strategy, s.instrument.id)
            .map_or_else(Default::default, |c| c.window.totals(e.now, w));
        if let Some(max) = limits.max_window_quantity
            && q + order.quantity > max
        {
            return Err(s.reject(
                RejectCode::MaxWindowQuantity,
                format_args!(
                    "{q} sent in the last {} ms + {} would exceed {max} per window ({} limit)",
                    config.raw.window_ms,
                    order.quantity,
                    level.as_str()
                ),
            ));
        }
        if let Some(max) = limits.max_window_notional
            && n + notional > max
        {
            return Err(s.reject(
                RejectCode::MaxWindowNotional,
                format_args!(
                    "{n} sent in the last {} ms + {notional} would exceed {max} per window ({} limit)",
                    config.raw.window_ms,
                    level.as_str()
                ),
            ));
        }
    }
    Ok(())
}
