//! Checks of the order against positions and working orders: open-order
//! exposure (R9), position and gross/net exposure (R10), buying power
//! (R11), self-cross (R17) and working-order counts (R18). Every one counts
//! working orders as if they filled (worst case).

use wasmtrade_model::{NewOrder, OrderType, Price, Quantity, RejectCode, Rejection, Side};

use super::{Applicable, Level, Subject, require_price};
use crate::config::RiskConfig;
use crate::exposure::{BookExposure, Exposure};

/// R9: notional of working orders plus this one, at each configured level.
pub(crate) fn open_exposure(
    s: &Subject<'_>,
    a: &Applicable<'_>,
    order: &NewOrder,
    e: &Exposure,
) -> Result<(), Rejection> {
    if a.strictest(|l| l.max_open_notional).is_none() {
        return Ok(());
    }
    let price = require_price(s, order, e)?;
    let notional = price.notional(order.quantity);
    for (level, limits) in a.each() {
        let Some(max) = limits.max_open_notional else {
            continue;
        };
        let open = match level {
            Level::Account => e.account_open_notional,
            Level::Strategy => e.strategy_open_notional,
            Level::Instrument => e.instrument_open_notional,
        };
        if open + notional > max {
            return Err(s.reject(
                RejectCode::MaxOpenExposure,
                format_args!(
                    "open orders {open} + this order {notional} exceed max open notional {max} ({} limit)",
                    level.as_str()
                ),
            ));
        }
    }
    Ok(())
}

/// R10: worst-case position (position + open same-side quantity + this
/// order) against `max_position`, `max_long_position`, `max_short_position`.
pub(crate) fn position(
    s: &Subject<'_>,
    a: &Applicable<'_>,
    order: &NewOrder,
    e: &Exposure,
) -> Result<(), Rejection> {
    let (worst, open, label) = match order.side {
        Side::Buy => (e.position + e.open_buy + order.quantity, e.open_buy, "buys"),
        Side::Sell => (e.position - e.open_sell - order.quantity, e.open_sell, "sells"),
    };
    let directional = match order.side {
        Side::Buy if worst.is_positive() => a
            .strictest(|l| l.max_long_position)
            .map(|m| (m, "max long position")),
        Side::Sell if worst.is_negative() => a
            .strictest(|l| l.max_short_position)
            .map(|m| (m, "max short position")),
        _ => None,
    };
    let any = a.strictest(|l| l.max_position).map(|m| (m, "max position"));
    for ((max, level), name) in [any, directional].into_iter().flatten() {
        if worst.abs() > max {
            return Err(s.reject(
                RejectCode::MaxPosition,
                format_args!(
                    "worst-case position {worst} (position {} + open {label} {open} + order {}) exceeds {name} {max} ({} limit)",
                    e.position,
                    order.quantity,
                    level.as_str()
                ),
            ));
        }
    }
    Ok(())
}

/// The book after this order: `other` plus the instrument's leg with the
/// order counted as working.
fn with_order(
    other: BookExposure,
    leg: (Quantity, Quantity, Quantity),
    order: &NewOrder,
    price: Price,
) -> BookExposure {
    let (position, mut buy, mut sell) = leg;
    match order.side {
        Side::Buy => buy += order.quantity,
        Side::Sell => sell += order.quantity,
    }
    let mut book = other;
    book.add(position, buy, sell, price);
    book
}

/// R10: worst-case gross and net exposure across instruments. Account
/// limits use the account's book, strategy limits the strategy's,
/// instrument limits the strategy's exposure in this instrument alone. An
/// order that does not raise the exposure passes even above a limit (so
/// positions can always be reduced).
pub(crate) fn gross_net(
    s: &Subject<'_>,
    a: &Applicable<'_>,
    order: &NewOrder,
    e: &Exposure,
) -> Result<(), Rejection> {
    if a.strictest(|l| l.max_gross_exposure).is_none() && a.strictest(|l| l.max_net_exposure).is_none() {
        return Ok(());
    }
    let price = require_price(s, order, e)?;
    for (level, limits) in a.each() {
        if limits.max_gross_exposure.is_none() && limits.max_net_exposure.is_none() {
            continue;
        }
        let (other, leg) = match level {
            Level::Account => (
                e.account_book,
                (e.account_position, e.account_open_buy, e.account_open_sell),
            ),
            Level::Strategy => (e.strategy_book, (e.position, e.open_buy, e.open_sell)),
            Level::Instrument => (BookExposure::default(), (e.position, e.open_buy, e.open_sell)),
        };
        let mut before = other;
        before.add(leg.0, leg.1, leg.2, price);
        let after = with_order(other, leg, order, price);
        if let Some(max) = limits.max_gross_exposure
            && after.gross > max
            && after.gross > before.gross
        {
            return Err(s.reject(
                RejectCode::MaxGrossExposure,
                format_args!(
                    "worst-case gross exposure would be {} (now {}) above max {max} ({} limit)",
                    after.gross,
                    before.gross,
                    level.as_str()
                ),
            ));
        }
        if let Some(max) = limits.max_net_exposure
            && after.worst_net() > max
            && after.worst_net() > before.worst_net()
        {
            return Err(s.reject(
                RejectCode::MaxNetExposure,
                format_args!(
                    "worst-case net exposure would be {} (now {}) above max {max} ({} limit)",
                    after.worst_net(),
                    before.worst_net(),
                    level.as_str()
                ),
            ));
        }
    }
    Ok(())
}

/// How an order splits against the strategy's position: the part that
/// closes (shrinks |position| towards zero) and the part that then opens or
/// extends a position on the order's side. Working orders on the same side
/// count as already filled, so two sells cannot both close the same long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Legs {
    closing: Quantity,
    opening: Quantity,
}

impl Legs {
    fn of(order: &NewOrder, e: &Exposure) -> Self {
        let closable = match order.side {
            Side::Sell => (e.position - e.open_sell).max(Quantity::ZERO),
            Side::Buy => (-e.position - e.open_buy).max(Quantity::ZERO),
        };
        let closing = order.quantity.min(closable);
        Self {
            closing,
            opening: order.quantity - closing,
        }
    }
}

/// R11: buying power, checked as if the order's closing leg filled first.
/// The closing leg needs no buying power; it changes the cash the opening
/// leg is checked against: a sell closing a long adds its proceeds, a buy
/// covering a short pays for it (short proceeds are in the cash already),
/// each less its commission. The opening leg then needs
/// `cash after the closing leg × buying_power_multiplier ≥ its notional +
/// open buy notional + its commission`, exactly what the same order would
/// need from a flat position with that cash. So a reversal from +100 % to
/// −100 % of equity in one order passes when the −100 % would from flat.
pub(crate) fn buying_power(
    s: &Subject<'_>,
    config: &RiskConfig,
    order: &NewOrder,
    e: &Exposure,
) -> Result<(), Rejection> {
    if !config.raw.enforce_cash {
        return Ok(());
    }
    let legs = Legs::of(order, e);
    if legs.opening.is_zero() {
        return Ok(());
    }
    let price = require_price(s, order, e)?;
    let rate = config.raw.commission_rate;
    let close_notional = price.notional(legs.closing);
    let close_commission = close_notional.mul_rate(rate);
    let cash_after = match order.side {
        Side::Sell => e.available_cash + close_notional,
        Side::Buy => e.available_cash - close_notional,
    } - close_commission;
    let notional = price.notional(legs.opening);
    let commission = notional.mul_rate(rate);
    let required = notional + e.open_buy_notional + commission;
    let multiplier = config.raw.buying_power_multiplier;
    let power = if multiplier == wasmtrade_model::Rate::ONE {
        cash_after
    } else {
        cash_after.mul_rate(multiplier)
    };
    if required <= power {
        return Ok(());
    }
    let of = if multiplier == wasmtrade_model::Rate::ONE {
        String::from("cash")
    } else {
        format!("buying power ({cash_after} cash × {multiplier})")
    };
    let after = if legs.closing.is_zero() {
        String::new()
    } else {
        let (sign, what) = match order.side {
            Side::Sell => ('+', "proceeds"),
            Side::Buy => ('−', "cost"),
        };
        format!(
            " after the {} that close the position ({} cash {sign} {close_notional} {what} − commission {close_commission})",
            legs.closing, e.available_cash
        )
    };
    Err(s.reject(
        RejectCode::InsufficientBuyingPower,
        format_args!(
            "order needs {required} ({} at {price} + open buys {} + commission {commission}) but only {power} {of} is available{after}",
            legs.opening, e.open_buy_notional
        ),
    ))
}

/// R17: refuse an order that would trade against the account's own resting
/// opposite order (any strategy). Untriggered stops are not checked.
pub(crate) fn self_cross(
    s: &Subject<'_>,
    a: &Applicable<'_>,
    order: &NewOrder,
    e: &Exposure,
) -> Result<(), Rejection> {
    if a.largest(|l| l.prevent_self_cross) != Some(true) {
        return Ok(());
    }
    let mine = match order.order_type {
        OrderType::Market => None,
        OrderType::Limit { limit } => Some(limit),
        OrderType::Stop { .. } | OrderType::StopLimit { .. } => return Ok(()),
    };
    let Some(resting) = (match order.side {
        Side::Buy => e.resting_sell,
        Side::Sell => e.resting_buy,
    }) else {
        return Ok(());
    };
    let crosses = match (mine, resting.price) {
        (None, _) | (_, None) => true,
        (Some(p), Some(r)) => match order.side {
            Side::Buy => p >= r,
            Side::Sell => p <= r,
        },
    };
    if crosses {
        let show = |p: Option<Price>| p.map_or_else(|| "market".to_string(), |p| p.to_string());
        return Err(s.reject(
            RejectCode::SelfCross,
            format_args!(
                "{} at {} would cross the account's resting {} {} at {}",
                order.side,
                show(mine),
                order.side.opposite(),
                resting.order,
                show(resting.price)
            ),
        ));
    }
    Ok(())
}

/// R18: working orders at each level, and per instrument and side.
pub(crate) fn working_orders(
    s: &Subject<'_>,
    a: &Applicable<'_>,
    order: &NewOrder,
    e: &Exposure,
) -> Result<(), Rejection> {
    for (level, limits) in a.each() {
        if let Some(max) = limits.max_working_orders {
            let working = match level {
                Level::Account => e.account_working,
                Level::Strategy => e.strategy_working,
                Level::Instrument => e.instrument_working,
            };
            if working >= max {
                return Err(s.reject(
                    RejectCode::MaxWorkingOrders,
                    format_args!(
                        "{working} working orders already, max {max} ({} limit)",
                        level.as_str()
                    ),
                ));
            }
        }
        if let Some(max) = limits.max_working_orders_per_side {
            let working = match order.side {
                Side::Buy => e.working_buys,
                Side::Sell => e.working_sells,
            };
            if working >= max {
                return Err(s.reject(
                    RejectCode::MaxWorkingOrdersPerSide,
                    format_args!(
                        "the account has {working} working {} orders in the instrument already, max {max} per side ({} limit)",
                        order.side,
                        level.as_str()
                    ),
                ));
            }
        }
    }
    Ok(())
}
