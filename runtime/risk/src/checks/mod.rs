//! The individual pre-trade checks. Each returns `Ok(())` or a rejection
//! naming the values involved; nothing allocates unless it rejects.
//!
//! - [`order`]: the order on its own (R1–R7 and trading hours);
//! - [`book`]: the order against positions and working orders (R9–R11, R17, R18);
//! - [`flow`]: the order against what was sent recently (R8, R13, R14, R16).

pub(crate) mod book;
pub(crate) mod flow;
pub(crate) mod order;

use wasmtrade_model::{Instrument, NewOrder, Price, Quantity, RejectCode, Rejection, Side, StrategyId};

use crate::config::{Limits, RiskConfig};
use crate::exposure::Exposure;

/// Which configuration level supplied a limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Level {
    Account,
    Strategy,
    Instrument,
}

impl Level {
    pub(crate) fn as_str(self) -> &'static str {
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
        let strategy_limits = if config.strategies.is_empty() {
            None
        } else {
            config.strategies.get(strategy)
        };
        let instrument_limits = if config.raw.instruments.is_empty() {
            None
        } else {
            config.raw.instruments.get(instrument.symbol.as_str())
        };
        Self {
            levels: [
                (Level::Account, Some(&config.raw.account)),
                (Level::Strategy, strategy_limits),
                (Level::Instrument, instrument_limits),
            ],
        }
    }

    /// The configured levels, account first.
    pub(crate) fn each(&self) -> impl Iterator<Item = (Level, &'c Limits)> + '_ {
        self.levels.iter().filter_map(|(level, l)| l.map(|l| (*level, l)))
    }

    /// The strictest (smallest) value of a limit and the level it comes from.
    pub(crate) fn strictest<T: Ord + Copy>(&self, pick: impl Fn(&Limits) -> Option<T>) -> Option<(T, Level)> {
        let mut best: Option<(T, Level)> = None;
        for (level, limits) in self.each() {
            if let Some(v) = pick(limits)
                && best.is_none_or(|(b, _)| v < b)
            {
                best = Some((v, level));
            }
        }
        best
    }

    /// The largest value of a setting (windows: longer is stricter).
    pub(crate) fn largest<T: Ord + Copy>(&self, pick: impl Fn(&Limits) -> Option<T>) -> Option<T> {
        self.each().filter_map(|(_, l)| pick(l)).max()
    }
}

/// Context for messages: "for strategy sma-cross on AAPL".
pub(crate) struct Subject<'a> {
    pub(crate) strategy: &'a StrategyId,
    pub(crate) instrument: &'a Instrument,
}

impl Subject<'_> {
    pub(crate) fn reject(&self, code: RejectCode, what: std::fmt::Arguments<'_>) -> Rejection {
        Rejection::new(
            code,
            format!(
                "{what} for strategy {} on {}",
                self.strategy, self.instrument.symbol
            ),
        )
    }
}

/// True if the order only shrinks |position| without flipping it, counting
/// the open orders on the same side as already filled.
pub(crate) fn reduces_risk(order: &NewOrder, e: &Exposure) -> bool {
    match order.side {
        Side::Sell => e.position.is_positive() && e.position - e.open_sell - order.quantity >= Quantity::ZERO,
        Side::Buy => e.position.is_negative() && e.position + e.open_buy + order.quantity <= Quantity::ZERO,
    }
}

/// The price an order is valued at: `max(limit or stop price, reference)`.
pub(crate) fn valuation_price(order: &NewOrder, reference: Option<Price>) -> Option<Price> {
    let own = order.order_type.limit_price().or(order.order_type.stop_price());
    match (own, reference) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

pub(crate) fn require_price(s: &Subject<'_>, order: &NewOrder, e: &Exposure) -> Result<Price, Rejection> {
    valuation_price(order, e.reference_price).ok_or_else(|| {
        s.reject(
            RejectCode::NoReferencePrice,
            format_args!(
                "a {} order needs a reference price to be valued and none is known",
                order.order_type.name()
            ),
        )
    })
}
