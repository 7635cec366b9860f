//! The day's P&L per strategy and for the account (R12): the engine reports
//! cumulative P&L (realised + unrealised, net of commissions); risk keeps
//! the value at the start of the day and the day's peak.

use std::collections::BTreeMap;

use wasmtrade_model::{Money, StrategyId};

/// One scope's P&L over the day.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct DayPnl {
    /// Cumulative P&L at the start of the day (or the first report).
    baseline: Money,
    /// The last cumulative P&L reported.
    last: Money,
    /// The day's best P&L so far (at least zero).
    peak: Money,
    seen: bool,
}

impl DayPnl {
    /// Records cumulative P&L; returns `(today's P&L, drawdown from the day's peak)`.
    pub(crate) fn update(&mut self, total: Money) -> (Money, Money) {
        if !self.seen {
            self.baseline = total;
            self.seen = true;
        }
        self.last = total;
        let daily = total - self.baseline;
        if daily > self.peak {
            self.peak = daily;
        }
        (daily, self.peak - daily)
    }

    /// Today's P&L as last reported, if any report came this day's way.
    pub(crate) fn today(&self) -> Option<Money> {
        self.seen.then(|| self.last - self.baseline)
    }

    /// A new day starts from the last reported value.
    pub(crate) fn roll(&mut self) {
        self.baseline = self.last;
        self.peak = Money::ZERO;
    }

    /// Restarts the drawdown measure from the current P&L (on re-enable).
    pub(crate) fn reset_peak(&mut self) {
        self.peak = self.last - self.baseline;
    }
}

/// Day P&L of the account and of each strategy.
#[derive(Clone, Debug, Default)]
pub(crate) struct PnlBook {
    pub(crate) account: DayPnl,
    pub(crate) strategies: BTreeMap<StrategyId, DayPnl>,
}

impl PnlBook {
    pub(crate) fn roll(&mut self) {
        self.account.roll();
        self.strategies.values_mut().for_each(DayPnl::roll);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_the_day_from_its_first_report_and_its_peak() {
        let mut d = DayPnl::default();
        assert_eq!(d.update(Money::from_int(1000)), (Money::ZERO, Money::ZERO));
        assert_eq!(
            d.update(Money::from_int(1300)),
            (Money::from_int(300), Money::ZERO)
        );
        assert_eq!(
            d.update(Money::from_int(900)),
            (Money::from_int(-100), Money::from_int(400))
        );
        d.roll();
        assert_eq!(d.update(Money::from_int(950)), (Money::from_int(50), Money::ZERO));
    }
}
