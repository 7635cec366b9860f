//! Pure fill-price rules for one order against one bar or one price.

use wasmtrade_model::{Bar, OrderType, Price, Side};

/// How an order executes on a bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Execution {
    /// Fills at `price`; `market_like` fills (market, triggered stop) take slippage.
    Fill { price: Price, market_like: bool },
    /// A stop-limit triggered but its limit was not reachable afterwards in
    /// this bar: it works as a plain limit order from now on.
    Triggered,
    /// Nothing happens on this bar.
    None,
}

/// Limit rule: buy at the open if `open ≤ limit`, else at the limit if
/// `low ≤ limit`; sells mirrored.
fn limit_fill(side: Side, limit: Price, bar: &Bar) -> Option<Price> {
    match side {
        Side::Buy if bar.open <= limit => Some(bar.open),
        Side::Buy if bar.low <= limit => Some(limit),
        Side::Sell if bar.open >= limit => Some(bar.open),
        Side::Sell if bar.high >= limit => Some(limit),
        _ => None,
    }
}

/// Stop rule: buy at the open if `open ≥ stop` (a gap), else at the stop if
/// `high ≥ stop`; sells mirrored. Returns (price, triggered at the open).
fn stop_trigger(side: Side, stop: Price, bar: &Bar) -> Option<(Price, bool)> {
    match side {
        Side::Buy if bar.open >= stop => Some((bar.open, true)),
        Side::Buy if bar.high >= stop => Some((stop, false)),
        Side::Sell if bar.open <= stop => Some((bar.open, true)),
        Side::Sell if bar.low <= stop => Some((stop, false)),
        _ => None,
    }
}

fn within(side: Side, price: Price, limit: Price) -> bool {
    match side {
        Side::Buy => price <= limit,
        Side::Sell => price >= limit,
    }
}

/// The execution of an order on a bar. `triggered` says a stop-limit already
/// triggered on an earlier bar (it is then a plain limit order).
pub(crate) fn on_bar(side: Side, order_type: OrderType, triggered: bool, bar: &Bar) -> Execution {
    let fill = |price| Execution::Fill {
        price,
        market_like: false,
    };
    match order_type {
        OrderType::Market => Execution::Fill {
            price: bar.open,
            market_like: true,
        },
        OrderType::Limit { limit } => limit_fill(side, limit, bar).map_or(Execution::None, fill),
        OrderType::StopLimit { limit, .. } if triggered => {
            limit_fill(side, limit, bar).map_or(Execution::None, fill)
        }
        OrderType::Stop { stop } => match stop_trigger(side, stop, bar) {
            Some((price, _)) => Execution::Fill {
                price,
                market_like: true,
            },
            None => Execution::None,
        },
        OrderType::StopLimit { stop, limit } => match stop_trigger(side, stop, bar) {
            None => Execution::None,
            // Triggered at the stop inside the bar: fillable at the stop if it is within the limit;
            // otherwise the path after the trigger is unknown, so wait for the next bar.
            Some((price, false)) if within(side, price, limit) => fill(price),
            Some((_, false)) => Execution::Triggered,
            // Gapped through the stop at the open: the rest of the bar follows the open.
            Some((open, true)) if within(side, open, limit) => fill(open),
            Some((_, true)) => match side {
                Side::Buy if bar.low <= limit => fill(limit),
                Side::Sell if bar.high >= limit => fill(limit),
                _ => Execution::Triggered,
            },
        },
    }
}

/// The execution of an order at one executable price (a trade print or the
/// far side of a quote).
pub(crate) fn at_price(side: Side, order_type: OrderType, triggered: bool, price: Price) -> Execution {
    let reaches = |stop: Price| match side {
        Side::Buy => price >= stop,
        Side::Sell => price <= stop,
    };
    match order_type {
        OrderType::Market => Execution::Fill {
            price,
            market_like: true,
        },
        OrderType::Limit { limit } | OrderType::StopLimit { limit, .. }
            if triggered || order_type.stop_price().is_none() =>
        {
            if within(side, price, limit) {
                Execution::Fill {
                    price,
                    market_like: false,
                }
            } else {
                Execution::None
            }
        }
        OrderType::Stop { stop } if reaches(stop) => Execution::Fill {
            price,
            market_like: true,
        },
        OrderType::StopLimit { stop, limit } if reaches(stop) => {
            if within(side, price, limit) {
                Execution::Fill {
                    price,
                    market_like: false,
                }
            } else {
                Execution::Triggered
            }
        }
        _ => Execution::None,
    }
}
