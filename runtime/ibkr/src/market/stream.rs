//! The market thread: IB's real-time 5-second bars for the subscription
//! registry (replayed after every reconnect), folded into bars of the
//! configured length.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ibapi::market_data::TradingHours;
use ibapi::market_data::realtime::{BarSize, WhatToShow};
use tokio::sync::mpsc;
use wasmtrade_model::{Bar, InstrumentId, Timestamp};
#[cfg(test)]
use wasmtrade_model::{Price, Quantity};

use super::{stock, to_bar};
use crate::health::LinkState;
use crate::session::{Shared, lock, now};

/// Folds IB's 5-second bars into bars of `secs` seconds, keyed by the
/// opening time of the period. A bar is emitted when its last 5-s bar
/// arrives, or when a later period starts (a gap).
#[derive(Debug)]
pub(crate) struct Aggregator {
    secs: i64,
    open: BTreeMap<InstrumentId, Bar>,
}

impl Aggregator {
    pub fn new(secs: u32) -> Self {
        Self {
            secs: i64::from(secs.max(5)),
            open: BTreeMap::new(),
        }
    }

    /// Adds a 5-s bar starting at `five.ts`; returns the bars it closes.
    pub fn push(&mut self, five: Bar) -> Vec<Bar> {
        let mut out = Vec::new();
        let t = five.ts.secs();
        let start = t - t.rem_euclid(self.secs);
        let period = Bar {
            ts: Timestamp::from_secs(start),
            ..five
        };
        match self.open.get_mut(&five.instrument) {
            Some(cur) if cur.ts.secs() == start => {
                cur.high = if five.high > cur.high { five.high } else { cur.high };
                cur.low = if five.low < cur.low { five.low } else { cur.low };
                cur.close = five.close;
                cur.volume += five.volume;
            }
            Some(cur) if cur.ts.secs() > start => {
                tracing::debug!(instrument = %five.instrument, "late 5-s bar ignored");
                return out;
            }
            Some(cur) => {
                out.push(std::mem::replace(cur, period));
            }
            None => {
                self.open.insert(five.instrument, period);
            }
        }
        if t + 5 >= start + self.secs
            && let Some(done) = self.open.remove(&five.instrument)
        {
            out.push(done);
        }
        out
    }
}

/// The market thread: (re)subscribes the registry whenever the session
/// changes, and forwards aggregated bars.
pub(crate) fn market_loop(shared: &Shared, tx: mpsc::Sender<Bar>) {
    let mut agg = Aggregator::new(shared.cfg.bar_seconds);
    let mut subs: BTreeMap<
        String,
        (
            InstrumentId,
            ibapi::client::blocking::Subscription<ibapi::market_data::realtime::Bar>,
        ),
    > = BTreeMap::new();
    let mut failed: BTreeSet<String> = BTreeSet::new();
    let mut seen_gen = 0u64;
    while !shared.is_shutdown() && !tx.is_closed() {
        let (generation, ready) = {
            let st = lock(&shared.state);
            (
                st.session_gen,
                matches!(st.link, LinkState::Up | LinkState::Reconciling),
            )
        };
        if ready {
            let replay = generation != seen_gen && seen_gen != 0;
            if generation != seen_gen {
                subs.clear();
                failed.clear();
                seen_gen = generation;
            }
            let wanted: Vec<String> = lock(&shared.registry).clone();
            for symbol in wanted {
                if subs.contains_key(&symbol) || failed.contains(&symbol) {
                    continue;
                }
                let Some(instrument) = shared.instruments.by_symbol(&symbol).map(|i| i.id) else {
                    continue;
                };
                let deadline = now() + shared.cfg.request_timeout;
                let Ok(client) = shared.permit("reqRealTimeBars", deadline) else {
                    break;
                };
                match client.realtime_bars(
                    &stock(&symbol),
                    BarSize::Sec5,
                    WhatToShow::Trades,
                    TradingHours::Regular,
                ) {
                    Ok(s) => {
                        tracing::info!(instrument = %symbol, replay, "subscribed to IB real-time bars");
                        if replay {
                            lock(&shared.state).counters.subscriptions_replayed += 1;
                        }
                        subs.insert(symbol, (instrument, s));
                    }
                    Err(e) => {
                        tracing::error!(instrument = %symbol, error = %e, "IB refused real-time bars");
                        failed.insert(symbol);
                    }
                }
            }
        }
        let mut any = false;
        let mut dead = Vec::new();
        for (symbol, (instrument, s)) in &subs {
            while let Some(b) = s.try_next() {
                any = true;
                let Some(five) = to_bar(
                    *instrument,
                    b.date.unix_timestamp(),
                    [b.open, b.high, b.low, b.close],
                    b.volume,
                ) else {
                    continue;
                };
                for bar in agg.push(five) {
                    match tx.try_send(bar) {
                        Ok(()) => {}
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            lock(&shared.state).counters.bars_dropped += 1;
                            tracing::warn!(instrument = %symbol, "bar consumer too slow: bar dropped");
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => return,
                    }
                }
            }
            if let Some(e) = s.error() {
                tracing::warn!(instrument = %symbol, error = %e, "IB real-time bar subscription ended");
                dead.push(symbol.clone());
            }
        }
        for d in dead {
            subs.remove(&d);
            failed.insert(d);
        }
        if !any {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn five(secs: i64, o: i64, h: i64, l: i64, c: i64) -> Bar {
        Bar {
            instrument: InstrumentId(0),
            ts: Timestamp::from_secs(secs),
            open: Price::from_int(o),
            high: Price::from_int(h),
            low: Price::from_int(l),
            close: Price::from_int(c),
            volume: Quantity::from_int(10),
        }
    }

    #[test]
    fn twelve_five_second_bars_make_one_minute_bar() {
        let mut a = Aggregator::new(60);
        let mut out = Vec::new();
        for i in 0..12 {
            out.extend(a.push(five(60 + i * 5, 10 + i, 20 + i, 5, 11 + i)));
        }
        assert_eq!(out.len(), 1);
        let b = out[0];
        assert_eq!(b.ts, Timestamp::from_secs(60));
        assert_eq!(
            (b.open, b.high, b.low, b.close),
            (
                Price::from_int(10),
                Price::from_int(31),
                Price::from_int(5),
                Price::from_int(22)
            )
        );
        assert_eq!(b.volume, Quantity::from_int(120));
    }

    #[test]
    fn a_gap_closes_the_unfinished_bar() {
        let mut a = Aggregator::new(60);
        assert!(a.push(five(0, 1, 1, 1, 1)).is_empty());
        let out = a.push(five(125, 2, 2, 2, 2));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].ts, Timestamp::from_secs(0));
    }

    #[test]
    fn five_second_bars_pass_through_when_the_length_is_five() {
        let mut a = Aggregator::new(5);
        assert_eq!(a.push(five(10, 1, 2, 1, 2)).len(), 1);
    }
}
