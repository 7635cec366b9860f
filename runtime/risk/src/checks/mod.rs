//! The individual pre-trade checks. Each returns `Ok(())` or a rejection
//! naming the values involved; nothing allocates unless it rejects.

use wasmtrade_model::{Instrument, NewOrder, Price, Quantity, RejectCode, Rejection, Side, StrategyId};

use crate::config::{Limits, RiskConfig};
use crate::engine::Exposure;

/// Which configuration level supplied a limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Level {
    Account,
    Strategy,
    Instrument,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Account => "account",
            Level::Strategy => "strategy",
            Level::Instrument => "instrument",
        }
    }
}

/// The limits that apply to one (strategy, instrument).
pub(crate) struct Applicable<'c> {
    levels: [(Level, Option<&'c Limits>); 3],
}

impl<'c> Applicable<'c> {
    pub(crate) fn new(config: &'c RiskConfig, strategy: &StrategyId, instrument: &Instrument) -> Self {
        Self {
            levels: [
                (Level::Account, Some(&config.account)),
                (Level::Strategy, config.strategies.get(strategy)),
                (
                    Level::Instrument,
                    config.instruments.get(instrument.symbol.as_str()),
                ),
            ],
        }
    }

    /// The strictest (smallest) value of a limit and the level it comes from.
    fn strictest<T: Ord + Copy>(&self, pick: impl Fn(&Limits) -> Option<T>) -> Option<(T, Level)> {
        let mut best: Option<(T, Level)> = None;
        for (level, limits) in &self.levels {
            if let Some(v) = limits.and_then(&pick)
                && best.is_none_or(|(b, _)| v < b)
            {
                best = Some((v, *level));
            }
        }
        best
    }
}

/// Context for messages: "for strategy sma-cross on AAPL".
pub(crate) struct Subject<'a> {
    pub(crate) strategy: &'a StrategyId,
    pub(crate) instrument: &'a Instrument,
}

impl Subject<'_> {
    fn reject(&self, code: RejectCode, what: std::fmt::Arguments<'_>) -> Rejection {
        Rejection::new(
            code,
            format!(
                "{what} for strategy {} on {}",
                self.strategy, self.instrument.symbol
            ),
        )
    }
}

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

/// True if the order only shrinks |position| without flipping it, counting
/// the open orders on the same side as already filled.
pub(crate) fn reduces_risk(order: &NewOrder, e: &Exposure) -> bool {
    match order.side {
        Side::Sell => e.position.is_positive() && e.position - e.open_sell - order.quantity >= Quantity::ZERO,
        Side::Buy => e.position.is_negative() && e.position + e.open_buy + order.quantity <= Quantity::ZERO,
    }
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

/// The price an order is valued at: `max(limit or stop price, reference)`.
pub(crate) fn valuation_price(order: &NewOrder, e: &Exposure) -> Option<Price> {
    let own = order.order_type.limit_price().or(order.order_type.stop_price());
    match (own, e.reference_price) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn require_price(s: &Subject<'_>, order: &NewOrder, e: &Exposure) -> Result<Price, Rejection> {
    valuation_price(order, e).ok_or_else(|| {
        s.reject(
            RejectCode::NoReferencePrice,
            format_args!(
                "a {} order needs a reference price to be valued and none is known",
                order.order_type.name()
            ),
        )
    })
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

/// R10: worst-case position (position + open same-side quantity + this order).
pub(crate) fn max_position(
    s: &Subject<'_>,
    a: &Applicable<'_>,
    order: &NewOrder,
    e: &Exposure,
) -> Result<(), Rejection> {
    let Some((max, level)) = a.strictest(|l| l.max_position) else {
        return Ok(());
    };
    let (worst, open, label) = match order.side {
        Side::Buy => (e.position + e.open_buy + order.quantity, e.open_buy, "buys"),
        Side::Sell => (e.position - e.open_sell - order.quantity, e.open_sell, "sells"),
    };
    if worst.abs() > max {
        return Err(s.reject(
            RejectCode::MaxPosition,
            format_args!(
                "worst-case position {worst} (position {} + open {label} {open} + order {}) exceeds max position {max} ({} limit)",
                e.position,
                order.quantity,
                level.as_str()
            ),
        ));
    }
    Ok(())
}

/// R11: cash. A buy needs `available cash ≥ notional + open buy notional +
/// estimated commission`; a sell needs the same for the part that would go
/// short (beyond the long position not already being sold).
pub(crate) fn cash(
    s: &Subject<'_>,
    config: &RiskConfig,
    order: &NewOrder,
    e: &Exposure,
) -> Result<(), Rejection> {
    if !config.enforce_cash {
        return Ok(());
    }
    let needs_cash = match order.side {
        Side::Buy => order.quantity,
        Side::Sell => {
            let sellable = (e.position - e.open_sell).max(Quantity::ZERO);
            (order.quantity - sellable).max(Quantity::ZERO)
        }
    };
    if needs_cash.is_zero() {
        return Ok(());
    }
    let price = require_price(s, order, e)?;
    let notional = price.notional(needs_cash);
    let commission = notional.mul_rate(config.commission_rate);
    let required = notional + e.open_buy_notional + commission;
    if required > e.available_cash {
        return Err(s.reject(
            RejectCode::InsufficientBuyingPower,
            format_args!(
                "order needs {required} ({needs_cash} at {price} + open buys {} + commission {commission}) but only {} cash is available",
                e.open_buy_notional, e.available_cash
            ),
        ));
    }
    Ok(())
}
