//! One (strategy, instrument) position: FIFO lots, exact cost basis,
//! realised P&L and closed trades.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use wasmtrade_model::{InstrumentId, Money, Price, Quantity, Side, StrategyId, Timestamp};

/// Direction of a position or trade.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Bought first, sold to close.
    Long,
    /// Sold first, bought to close.
    Short,
}

impl Direction {
    /// `long` or `short`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Direction::Long => "long",
            Direction::Short => "short",
        }
    }
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A closed round trip: one FIFO lot portion opened by one fill and closed by another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosedTrade {
    /// Owning strategy.
    pub strategy: StrategyId,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Long or short.
    pub direction: Direction,
    /// Closed quantity (positive).
    pub quantity: Quantity,
    /// When the lot was opened.
    pub entry_ts: Timestamp,
    /// Entry fill price.
    pub entry_price: Price,
    /// When it was closed.
    pub exit_ts: Timestamp,
    /// Exit fill price.
    pub exit_price: Price,
    /// `(exit − entry) × quantity` for longs, `(entry − exit) × quantity` for shorts.
    pub gross_pnl: Money,
    /// Entry commission share (pro rata of the lot) + exit commission share
    /// (pro rata of the closing fill).
    pub commission: Money,
    /// `gross_pnl − commission`.
    pub net_pnl: Money,
}

impl ClosedTrade {
    /// Notional at entry, `entry_price × quantity`.
    pub fn entry_notional(&self) -> Money {
        self.entry_price.notional(self.quantity)
    }
}

/// An open lot: what remains of one opening fill.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Lot {
    quantity: Quantity,
    price: Price,
    ts: Timestamp,
    /// Entry commission not yet attributed to a closed trade.
    commission: Money,
}

/// A point-in-time view of a position (cheap to copy).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Position {
    /// Instrument.
    pub instrument: InstrumentId,
    /// Signed quantity (negative is short).
    pub quantity: Quantity,
    /// Average entry price of the open lots, if any are open.
    pub average_price: Option<Price>,
    /// Signed exact cost of the open lots (`Σ ± lot quantity × lot price`).
    pub cost_basis: Money,
    /// Realised gross P&L (before commissions) of everything closed so far.
    pub realized_pnl: Money,
    /// `quantity × last price − cost_basis`; zero without a last price.
    pub unrealized_pnl: Money,
    /// Commissions paid on this position's fills.
    pub commissions: Money,
    /// Last marked price of the instrument.
    pub last_price: Option<Price>,
}

/// `total × part / whole`, truncated toward zero (callers give the remainder
/// to the last portion, so nothing is lost).
pub(crate) fn pro_rata(total: Money, part: Quantity, whole: Quantity) -> Money {
    if whole.raw() == 0 || part == whole {
        return total;
    }
    let (t, p, w) = (total.raw(), i128::from(part.raw()), i128::from(whole.raw()));
    match t.checked_mul(p) {
        Some(n) => Money::from_raw(n / w),
        None => Money::from_raw(t / w * p),
    }
}

/// The ledger of one (strategy, instrument).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Book {
    lots: VecDeque<Lot>,
    pub(crate) quantity: Quantity,
    pub(crate) cost_basis: Money,
    pub(crate) realized_pnl: Money,
    pub(crate) commissions: Money,
}

/// One fill as the book sees it.
pub(crate) struct BookFill {
    pub(crate) side: Side,
    pub(crate) quantity: Quantity,
    pub(crate) price: Price,
    pub(crate) commission: Money,
    pub(crate) ts: Timestamp,
}

impl Book {
    /// Applies a fill; closed trades are appended to `trades`. Returns the
    /// realised gross P&L of this fill.
    pub(crate) fn apply(
        &mut self,
        strategy: &StrategyId,
        instrument: InstrumentId,
        fill: &BookFill,
        trades: &mut Vec<ClosedTrade>,
    ) -> Money {
        self.commissions += fill.commission;
        let opening_direction = match fill.side {
            Side::Buy => Direction::Long,
            Side::Sell => Direction::Short,
        };
        let mut remaining = fill.quantity;
        let mut exit_commission_left = fill.commission;
        let mut realized = Money::ZERO;
        // Close lots of the opposite direction first (FIFO).
        let reducing = (self.quantity.is_positive() && fill.side == Side::Sell)
            || (self.quantity.is_negative() && fill.side == Side::Buy);
        if reducing {
            let direction = if self.quantity.is_positive() {
                Direction::Long
            } else {
                Direction::Short
            };
            while remaining.is_positive() {
                let Some(lot) = self.lots.front_mut() else { break };
                let matched = lot.quantity.min(remaining);
                let entry_share = pro_rata(lot.commission, matched, lot.quantity);
                let exit_share = if matched == remaining {
                    exit_commission_left
                } else {
                    pro_rata(fill.commission, matched, fill.quantity)
                };
                let entry_notional = lot.price.notional(matched);
                let exit_notional = fill.price.notional(matched);
                let gross = match direction {
                    Direction::Long => exit_notional - entry_notional,
                    Direction::Short => entry_notional - exit_notional,
                };
                trades.push(ClosedTrade {
                    strategy: strategy.clone(),
                    instrument,
                    direction,
                    quantity: matched,
                    entry_ts: lot.ts,
                    entry_price: lot.price,
                    exit_ts: fill.ts,
                    exit_price: fill.price,
                    gross_pnl: gross,
                    commission: entry_share + exit_share,
                    net_pnl: gross - entry_share - exit_share,
                });
                realized += gross;
                exit_commission_left -= exit_share;
                lot.commission -= entry_share;
                lot.quantity -= matched;
                remaining -= matched;
                match direction {
                    Direction::Long => {
                        self.cost_basis -= entry_notional;
                        self.quantity -= matched;
                    }
                    Direction::Short => {
                        self.cost_basis += entry_notional;
                        self.quantity += matched;
                    }
                }
                if lot.quantity.is_zero() {
                    self.lots.pop_front();
                }
            }
        }
        // Whatever is left opens (or adds to) a position in the fill's direction.
        if remaining.is_positive() {
            let notional = fill.price.notional(remaining);
            self.lots.push_back(Lot {
                quantity: remaining,
                price: fill.price,
                ts: fill.ts,
                commission: exit_commission_left,
            });
            match opening_direction {
                Direction::Long => {
                    self.cost_basis += notional;
                    self.quantity += remaining;
                }
                Direction::Short => {
                    self.cost_basis -= notional;
                    self.quantity -= remaining;
                }
            }
        }
        self.realized_pnl += realized;
        realized
    }

    /// Snapshot valued at `last`.
    pub(crate) fn view(&self, instrument: InstrumentId, last: Option<Price>) -> Position {
        let unrealized = match last {
            Some(p) if !self.quantity.is_zero() => p.notional(self.quantity) - self.cost_basis,
            _ => Money::ZERO,
        };
        Position {
            instrument,
            quantity: self.quantity,
            average_price: self.cost_basis.abs().per_unit(self.quantity.abs()),
            cost_basis: self.cost_basis,
            realized_pnl: self.realized_pnl,
            unrealized_pnl: unrealized,
            commissions: self.commissions,
            last_price: last,
        }
    }

    /// Market value at `last` (the cost basis without a price).
    pub(crate) fn market_value(&self, last: Option<Price>) -> Money {
        match last {
            Some(p) => p.notional(self.quantity),
            None => self.cost_basis,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(side: Side, q: i64, p: i64, c: i64, t: i64) -> BookFill {
        BookFill {
            side,
            quantity: Quantity::from_int(q),
            price: Price::from_int(p),
            commission: Money::from_int(c),
            ts: Timestamp::from_secs(t),
        }
    }

    #[test]
    fn pro_rata_splits_exactly_when_remainders_go_last() {
        let total = Money::from_raw(10);
        let a = pro_rata(total, Quantity::from_raw(1), Quantity::from_raw(3));
        assert_eq!(a, Money::from_raw(3));
        assert_eq!(
            pro_rata(total, Quantity::from_raw(3), Quantity::from_raw(3)),
            total
        );
    }

    #[test]
    fn flip_from_long_to_short_closes_then_opens() {
        let s = StrategyId::new("s");
        let mut b = Book::default();
        let mut trades = Vec::new();
        b.apply(&s, InstrumentId(0), &fill(Side::Buy, 10, 100, 2, 1), &mut trades);
        let pnl = b.apply(&s, InstrumentId(0), &fill(Side::Sell, 15, 110, 3, 2), &mut trades);
        assert_eq!(pnl, Money::from_int(100));
        assert_eq!(trades.len(), 1);
        assert_eq!(trades[0].commission, Money::from_int(2 + 2)); // all entry + 10/15 of exit
        assert_eq!(b.quantity, Quantity::from_int(-5));
        assert_eq!(b.cost_basis, Money::from_int(-550));
        assert_eq!(b.lots[0].commission, Money::from_int(1));
    }
}
