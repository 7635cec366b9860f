//! Checks of the order on its own: well-formedness (R1), allow- and
//! restricted lists (R2), market state (R3) and trading hours, the
//! reference price (R5), the price collar (R4), size (R6) and notional (R7).

use wasmtrade_model::{NewOrder, OrderType, Price, RejectCode, Rejection, SCALE};

use super::{Applicable, Subject, require_price};
use crate::calendar::Closed;
use crate::config::{RiskConfig, millis_to_nanos};
use crate::exposure::{Exposure, SessionState};

/// R1: quantity > 0, prices > 0, quantity on the lot size, prices on the tick size.
pub(crate) fn well_formed(s: &Subject<'_>, order: &NewOrder) -> Result<(), Rejection> {
    if !order.quantity.is_positive() {
        return Err(s.reject(
            RejectCode::NonPositiveQuantity,
            format_args!("quantity {} is not positive", order.quantity),
        ));
    }
    let prices = [
        ("limit", order.order_type.limit_price()),
        ("stop", order.order_type.stop_price()),
    ];
    for (name, price) in prices {
        if let Some(p) = price
            && !p.is_positive()
        {
            return Err(s.reject(
                RejectCode::NonPositivePrice,
                format_args!("{name} price {p} is not positive"),
            ));
        }
    }
    let lot = s.instrument.lot_size;
    if !order.quantity.is_multiple_of(lot) {
        return Err(s.reject(
            RejectCode::OffLot,
            format_args!(
                "quantity {} is not a multiple of the lot size {lot}",
                order.quantity
            ),
        ));
    }
    let tick = s.instrument.tick_size;
    for (name, price) in prices {
        if let Some(p) = price
            && !p.is_multiple_of(tick)
        {
            return Err(s.reject(
                RejectCode::OffTick,
                format_args!("{name} price {p} is not a multiple of the tick size {tick}"),
            ));
        }
    }
    Ok(())
}

/// R2: the restricted list, then every level's allow-list.
pub(crate) fn allowed(s: &Subject<'_>, config: &RiskConfig, a: &Applicable<'_>) -> Result<(), Rejection> {
    let symbol = s.instrument.symbol.as_str();
    if !config.raw.restricted.is_empty() && config.raw.restricted.contains(symbol) {
        return Err(s.reject(
            RejectCode::RestrictedInstrument,
            format_args!("{symbol} is on the restricted list"),
        ));
    }
    for (level, limits) in a.each() {
        if let Some(list) = &limits.allowed_instruments
            && !list.contains(symbol)
        {
            return Err(s.reject(
                RejectCode::InstrumentNotAllowed,
                format_args!(
                    "{symbol} is not in the {} allow-list ({} symbol(s))",
                    level.as_str(),
                    list.len()
                ),
            ));
        }
    }
    Ok(())
}

/// R3: the market must be open (an auction takes limit orders only), and
/// every applicable calendar must be in session and outside its blackouts.
pub(crate) fn session(
    s: &Subject<'_>,
    config: &RiskConfig,
    a: &Applicable<'_>,
    order: &NewOrder,
    e: &Exposure,
) -> Result<(), Rejection> {
    match e.session {
        SessionState::Open => {}
        SessionState::Auction if matches!(order.order_type, OrderType::Limit { .. }) => {}
        SessionState::Auction => {
            return Err(s.reject(
                RejectCode::MarketClosed,
                format_args!(
                    "the market is in an auction, which takes limit orders only, not a {} order",
                    order.order_type.name()
                ),
            ));
        }
        SessionState::Halted => {
            return Err(s.reject(RejectCode::MarketHalted, format_args!("trading is halted")));
        }
        SessionState::Closed => {
            return Err(s.reject(RejectCode::MarketClosed, format_args!("the market is closed")));
        }
    }
    for (level, limits) in a.each() {
        let Some(name) = &limits.trading_hours else {
            continue;
        };
        let Some(calendar) = config.calendars.get(name) else {
            continue; // validation guarantees the name exists
        };
        match calendar.check(e.now) {
            Ok(()) => {}
            Err(Closed::OutsideHours { local }) => {
                return Err(s.reject(
                    RejectCode::OutsideTradingHours,
                    format_args!(
                        "{local} {} is outside the trading hours {}–{} of calendar {name} ({} limit)",
                        calendar.timezone(),
                        calendar.raw().open,
                        calendar.raw().close,
                        level.as_str()
                    ),
                ));
            }
            Err(Closed::Blackout(b)) => {
                return Err(s.reject(
                    RejectCode::Blackout,
                    format_args!(
                        "{} is inside the blackout {:?} ({} to {}) of calendar {name}",
                        e.now, b.label, b.start, b.end
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// R5: with a maximum age configured, the reference price must exist and be
/// at most that old (exactly the age passes). Fails closed.
pub(crate) fn reference(s: &Subject<'_>, a: &Applicable<'_>, e: &Exposure) -> Result<(), Rejection> {
    let Some((max_ms, level)) = a.strictest(|l| l.max_reference_age_ms) else {
        return Ok(());
    };
    if e.reference_price.is_none() {
        return Err(s.reject(
            RejectCode::NoReferencePrice,
            format_args!(
                "no reference price is known ({} limit requires one)",
                level.as_str()
            ),
        ));
    }
    let Some(t) = e.reference_time else {
        return Err(s.reject(
            RejectCode::StaleReferencePrice,
            format_args!(
                "the reference price has no timestamp, so its age is unknown (max {max_ms} ms, {} limit)",
                level.as_str()
            ),
        ));
    };
    let age = e.now.since(t);
    if age > millis_to_nanos(max_ms) {
        return Err(s.reject(
            RejectCode::StaleReferencePrice,
            format_args!(
                "the reference price from {t} is {} ms old, older than the max {max_ms} ms ({} limit)",
                age / 1_000_000,
                level.as_str()
            ),
        ));
    }
    Ok(())
}

/// R4: a limit price within `collar_percent` of the reference and within
/// `collar_ticks` ticks of it (each that is configured; exact arithmetic).
pub(crate) fn collar(
    s: &Subject<'_>,
    a: &Applicable<'_>,
    order: &NewOrder,
    e: &Exposure,
) -> Result<(), Rejection> {
    let pct = a.strictest(|l| l.collar_percent);
    let ticks = a.strictest(|l| l.collar_ticks);
    if pct.is_none() && ticks.is_none() {
        return Ok(());
    }
    let Some(reference) = e.reference_price else {
        return Err(s.reject(
            RejectCode::NoReferencePrice,
            format_args!("the price collar needs a reference price and none is known"),
        ));
    };
    let Some(limit) = order.order_type.limit_price() else {
        return Ok(()); // market and stop orders: R5 guards the reference
    };
    let distance = (i128::from(limit.raw()) - i128::from(reference.raw())).abs();
    if let Some((pct, level)) = pct
        && distance * i128::from(SCALE) > i128::from(reference.raw()) * i128::from(pct.raw())
    {
        return Err(s.reject(
            RejectCode::PriceCollar,
            format_args!(
                "limit price {limit} is {} away from the reference {reference}, more than the collar of {pct} of it ({} limit)",
                Price::from_raw(i64::try_from(distance).unwrap_or(i64::MAX)),
                level.as_str()
            ),
        ));
    }
    if let Some((n, level)) = ticks
        && distance > i128::from(n) * i128::from(s.instrument.tick_size.raw())
    {
        return Err(s.reject(
            RejectCode::PriceCollar,
            format_args!(
                "limit price {limit} is more than {n} ticks of {} away from the reference {reference} ({} limit)",
                s.instrument.tick_size,
                level.as_str()
            ),
        ));
    }
    Ok(())
}

/// R6: order quantity.
pub(crate) fn max_order_quantity(
    s: &Subject<'_>,
    a: &Applicable<'_>,
    order: &NewOrder,
) -> Result<(), Rejection> {
    match a.strictest(|l| l.max_order_quantity) {
        Some((max, level)) if order.quantity > max => Err(s.reject(
            RejectCode::MaxOrderQuantity,
            format_args!(
                "quantity {} exceeds max order quantity {max} ({} limit)",
                order.quantity,
                level.as_str()
            ),
        )),
        _ => Ok(()),
    }
}

/// R7: order notional, `quantity × max(limit, reference)`.
pub(crate) fn max_order_notional(
    s: &Subject<'_>,
    a: &Applicable<'_>,
    order: &NewOrder,
    e: &Exposure,
) -> Result<(), Rejection> {
    let Some((max, level)) = a.strictest(|l| l.max_order_notional) else {
        return Ok(());
    };
    let price = require_price(s, order, e)?;
    let notional = price.notional(order.quantity);
    if notional > max {
        return Err(s.reject(
            RejectCode::MaxOrderNotional,
            format_args!(
                "notional {notional} ({} at {price}) exceeds max order notional {max} ({} limit)",
                order.quantity,
                level.as_str()
            ),
        ));
    }
    Ok(())
}
