//! Sliding windows on event time: event counts (rate limits) and sums
//! (quantity and notional sent within a rolling window).
//!
//! A window of length `w` at time `now` holds the events with
//! `now - w < ts ≤ now`: an event exactly `w` old has left it. Both windows
//! only ever grow to what their limit allows, so after warm-up recording
//! and checking never allocate.

use std::collections::VecDeque;

use wasmtrade_model::{Money, Quantity, Timestamp};

/// The last events of one kind, enough to answer "were there at least `n`
/// within the window?" for the `n` the limit allows.
#[derive(Clone, Debug, Default)]
pub(crate) struct SlidingCount {
    times: VecDeque<Timestamp>,
}

impl SlidingCount {
    /// Whether at least `n` recorded events fall within `window_nanos` of `now`.
    pub(crate) fn reaches(&self, now: Timestamp, window_nanos: i64, n: u32) -> bool {
        let n = n as usize;
        if n == 0 {
            return true;
        }
        let len = self.times.len();
        len >= n && now.since(self.times[len - n]) < window_nanos
    }

    /// How many recorded events fall within the window (at most what was kept).
    pub(crate) fn count(&self, now: Timestamp, window_nanos: i64) -> usize {
        self.times
            .iter()
            .rev()
            .take_while(|t| now.since(**t) < window_nanos)
            .count()
    }

    /// Records one event, keeping at most `keep` (the limit being enforced).
    pub(crate) fn record(&mut self, now: Timestamp, keep: u32) {
        let keep = keep.max(1) as usize;
        while self.times.len() >= keep {
            self.times.pop_front();
        }
        self.times.push_back(now);
    }
}

/// One order in a [`SlidingSum`].
#[derive(Clone, Copy, Debug)]
struct Entry {
    ts: Timestamp,
    quantity: Quantity,
    notional: Money,
}

/// Running quantity and notional of the orders sent within a rolling window.
#[derive(Clone, Debug, Default)]
pub(crate) struct SlidingSum {
    entries: VecDeque<Entry>,
    quantity: Quantity,
    notional: Money,
}

impl SlidingSum {
    /// Quantity and notional within `window_nanos` of `now` (allocation-free:
    /// subtracts the entries that have expired but were not evicted yet).
    pub(crate) fn totals(&self, now: Timestamp, window_nanos: i64) -> (Quantity, Money) {
        let (mut q, mut n) = (self.quantity, self.notional);
        for e in self
            .entries
            .iter()
            .take_while(|e| now.since(e.ts) >= window_nanos)
        {
            q -= e.quantity;
            n -= e.notional;
        }
        (q, n)
    }

    /// Adds an order and evicts the expired ones.
    pub(crate) fn record(&mut self, now: Timestamp, window_nanos: i64, quantity: Quantity, notional: Money) {
        while let Some(e) = self.entries.front().copied() {
            if now.since(e.ts) < window_nanos {
                break;
            }
            self.quantity -= e.quantity;
            self.notional -= e.notional;
            self.entries.pop_front();
        }
        self.entries.push_back(Entry {
            ts: now,
            quantity,
            notional,
        });
        self.quantity += quantity;
        self.notional += notional;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: i64 = Timestamp::NANOS_PER_SEC;

    #[test]
    fn an_event_exactly_one_window_old_has_left() {
        let mut c = SlidingCount::default();
        c.record(Timestamp::from_secs(0), 1);
        assert!(c.reaches(Timestamp::from_nanos(SEC - 1), SEC, 1));
        assert!(!c.reaches(Timestamp::from_secs(1), SEC, 1));
    }

    #[test]
    fn keeps_only_what_the_limit_needs() {
        let mut c = SlidingCount::default();
        for i in 0..1000 {
            c.record(Timestamp::from_nanos(i), 3);
        }
        assert_eq!(c.times.len(), 3);
        assert!(c.reaches(Timestamp::from_nanos(1000), SEC, 3));
        assert_eq!(c.count(Timestamp::from_nanos(1000), SEC), 3);
    }

    #[test]
    fn sums_forget_expired_orders() {
        let mut s = SlidingSum::default();
        s.record(
            Timestamp::from_secs(0),
            SEC,
            Quantity::from_int(5),
            Money::from_int(50),
        );
        s.record(
            Timestamp::from_secs(0),
            SEC,
            Quantity::from_int(1),
            Money::from_int(10),
        );
        assert_eq!(
            s.totals(Timestamp::from_nanos(SEC - 1), SEC),
            (Quantity::from_int(6), Money::from_int(60))
        );
        assert_eq!(
            s.totals(Timestamp::from_secs(1), SEC),
            (Quantity::ZERO, Money::ZERO)
        );
        s.record(
            Timestamp::from_secs(2),
            SEC,
            Quantity::from_int(2),
            Money::from_int(7),
        );
        assert_eq!(s.entries.len(), 1);
        assert_eq!(
            s.totals(Timestamp::from_secs(2), SEC),
            (Quantity::from_int(2), Money::from_int(7))
        );
    }
}

#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Running sums with eviction equal a fresh exact sum of the orders
        /// still in the window, however many orders pass through.
        #[test]
        fn window_sums_are_exact(steps in prop::collection::vec((0i64..400_000_000, 1i64..1_000_000_000_000, 1i64..100_000_000_000), 1..2_000)) {
            let w = Timestamp::NANOS_PER_SEC;
            let mut s = SlidingSum::default();
            let mut all = Vec::new();
            let mut now = Timestamp::EPOCH;
            for (dt, q, p) in steps {
                now = now.add_nanos(dt);
                let (q, p) = (Quantity::from_raw(q), wasmtrade_model::Price::from_raw(p));
                s.record(now, w, q, p.notional(q));
                all.push((now, q, p.notional(q)));
                let (eq, en) = all.iter().filter(|(t, ..)| now.since(*t) < w).fold((Quantity::ZERO, Money::ZERO), |(a, b), (_, q, n)| (a + *q, b + *n));
                prop_assert_eq!(s.totals(now, w), (eq, en));
            }
        }
    }
}
