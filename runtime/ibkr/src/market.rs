//! Market data from IB: real-time 5-second bars aggregated to the
//! configured bar length for a host-owned subscription registry (replayed
//! after every reconnect and after IB code 1101), historical bars for
//! warm-up, contract resolution and option chains with greeks.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use ibapi::contracts::{Contract, Currency, Exchange, SecurityType, Symbol};
use ibapi::market_data::TradingHours;
use ibapi::market_data::historical::{self, BarSize as HistBarSize};
use ibapi::market_data::realtime::{BarSize, TickTypes, WhatToShow};
use tokio::sync::mpsc;
#[cfg(test)]
use wasmtrade_model::Price;
use wasmtrade_model::{Bar, InstrumentId, Quantity, Timestamp};

use crate::health::LinkState;
use crate::session::{Shared, drain, lock, now};
use crate::{IbkrError, mapping};

/// A US stock on SMART routing in USD.
pub(crate) fn stock(symbol: &str) -> Contract {
    Contract::stock(symbol).build()
}

/// Bars from IB for the run's universe, and on-demand reference data.
pub struct IbkrMarket {
    shared: Arc<Shared>,
    bars: Option<mpsc::Receiver<Bar>>,
}

impl std::fmt::Debug for IbkrMarket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IbkrMarket").finish_non_exhaustive()
    }
}

/// A resolved IB contract.
#[derive(Clone, Debug, PartialEq)]
pub struct ContractInfo {
    /// Symbol.
    pub symbol: String,
    /// IB contract id.
    pub contract_id: i32,
    /// Primary exchange.
    pub primary_exchange: String,
    /// Currency.
    pub currency: String,
    /// Minimum price increment.
    pub min_tick: f64,
}

/// Call or put.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptionRight {
    /// Call.
    Call,
    /// Put.
    Put,
}

/// One option with IB's model computation (`None` where IB sent nothing).
#[derive(Clone, Debug, PartialEq)]
pub struct OptionQuote {
    /// Expiry, `YYYYMMDD`.
    pub expiry: String,
    /// Strike.
    pub strike: f64,
    /// Call or put.
    pub right: OptionRight,
    /// Implied volatility.
    pub implied_volatility: Option<f64>,
    /// Delta.
    pub delta: Option<f64>,
    /// Gamma.
    pub gamma: Option<f64>,
    /// Vega.
    pub vega: Option<f64>,
    /// Theta.
    pub theta: Option<f64>,
    /// Model option price.
    pub option_price: Option<f64>,
    /// Underlying price used by the model.
    pub underlying_price: Option<f64>,
}

/// An option chain slice: all expiries and strikes IB lists, and quotes
/// with greeks for one expiry and the strikes nearest a reference price.
#[derive(Clone, Debug, PartialEq)]
pub struct OptionChain {
    /// Underlying symbol.
    pub underlying: String,
    /// Trading class.
    pub trading_class: String,
    /// Contract multiplier.
    pub multiplier: String,
    /// Every expiry, sorted.
    pub expirations: Vec<String>,
    /// Every strike, sorted.
    pub strikes: Vec<f64>,
    /// Calls and puts for the chosen expiry and strikes.
    pub quotes: Vec<OptionQuote>,
}

impl IbkrMarket {
    pub(crate) fn new(shared: Arc<Shared>, bars: mpsc::Receiver<Bar>) -> Self {
        Self {
            shared,
            bars: Some(bars),
        }
    }

    /// The bar stream (closed bars of `bar_seconds`, per instrument in
    /// time order). Returns `None` after the first call.
    pub fn take_bars(&mut self) -> Option<mpsc::Receiver<Bar>> {
        self.bars.take()
    }

    /// Adds `symbol` to the subscription registry (kept across reconnects).
    pub fn subscribe(&self, symbol: &str) -> Result<(), IbkrError> {
        let symbol = symbol.trim().to_ascii_uppercase();
        if self.shared.instruments.by_symbol(&symbol).is_none() {
            return Err(IbkrError::NotAnInstrument { symbol });
        }
        let mut reg = lock(&self.shared.registry);
        if !reg.contains(&symbol) {
            reg.push(symbol);
        }
        Ok(())
    }

    /// The symbols in the registry.
    pub fn subscriptions(&self) -> Vec<String> {
        lock(&self.shared.registry).clone()
    }

    /// Resolves `symbol` to IB's stock contract (SMART, USD).
    pub fn resolve(&self, symbol: &str) -> Result<ContractInfo, IbkrError> {
        let deadline = now() + self.shared.cfg.request_timeout;
        let client = self.shared.permit("reqContractDetails", deadline)?;
        let details = client.contract_details(&stock(symbol)).map_err(|e| {
            let text = e.to_string();
            if text.contains("200") {
                IbkrError::UnknownSymbol {
                    symbol: symbol.into(),
                }
            } else {
                IbkrError::Request {
                    request: "reqContractDetails",
                    reason: text,
                }
            }
        })?;
        let d = details
            .into_iter()
            .next()
            .ok_or_else(|| IbkrError::UnknownSymbol {
                symbol: symbol.into(),
            })?;
        Ok(ContractInfo {
            symbol: symbol.into(),
            contract_id: d.contract.contract_id,
            primary_exchange: d.contract.primary_exchange.to_string(),
            currency: d.contract.currency.to_string(),
            min_tick: d.min_tick,
        })
    }

    /// The last `count` closed bars of `bar_seconds` for `symbol` (regular
    /// trading hours, trades), for warm-up. Paced by IB's historical rules:
    /// a request the rules forbid now fails with [`IbkrError::HistoricalPaced`].
    pub fn history(&self, symbol: &str, count: u32) -> Result<Vec<Bar>, IbkrError> {
        let instrument = self
            .shared
            .instruments
            .by_symbol(symbol)
            .ok_or_else(|| IbkrError::NotAnInstrument {
                symbol: symbol.into(),
            })?
            .id;
        let secs = self.shared.cfg.bar_seconds;
        let bar_size = hist_bar_size(secs)?;
        let total = u64::from(secs) * u64::from(count.max(1));
        let duration = if total <= 86_400 {
            historical::Duration::seconds(total as i32)
        } else {
            // 6.5 trading hours a day, plus a day for weekends/holidays.
            historical::Duration::days((total.div_ceil(23_400) + 2).min(365) as i32)
        };
        let key = format!("{symbol}|{duration}|{bar_size}|TRADES");
        if let Err(wait) =
            lock(&self.shared.historical).try_request(symbol, &key, self.shared.origin.elapsed())
        {
            lock(&self.shared.outbox).stats.historical_paced += 1;
            return Err(IbkrError::HistoricalPaced {
                symbol: symbol.into(),
                retry_after_ms: wait.as_millis() as u64,
            });
        }
        let deadline = now() + self.shared.cfg.request_timeout;
        let client = self.shared.permit("reqHistoricalData", deadline)?;
        let data = client
            .historical_data(
                &stock(symbol),
                None,
                duration,
                bar_size,
                historical::WhatToShow::Trades,
                TradingHours::Regular,
            )
            .map_err(|e| IbkrError::Request {
                request: "reqHistoricalData",
                reason: e.to_string(),
            })?;
        let mut bars: Vec<Bar> = data
            .bars
            .iter()
            .filter_map(|b| {
                to_bar(
                    instrument,
                    b.date.unix_timestamp(),
                    [b.open, b.high, b.low, b.close],
                    b.volume,
                )
            })
            .collect();
        let skip = bars.len().saturating_sub(count as usize);
        bars.drain(..skip);
        Ok(bars)
    }

    /// The option chain of `symbol`: every expiry and strike, and IV and
    /// greeks (IB's model computation, snapshot) for `expiry` (or the
    /// nearest) at the `strikes` strikes nearest `around`.
    pub fn option_chain(
        &self,
        symbol: &str,
        expiry: Option<&str>,
        around: f64,
        strikes: usize,
    ) -> Result<OptionChain, IbkrError> {
        let info = self.resolve(symbol)?;
        let timeout = self.shared.cfg.request_timeout;
        let deadline = now() + timeout;
        let client = self.shared.permit("reqSecDefOptParams", deadline)?;
        let sub = client
            .option_chain(symbol, "", SecurityType::Stock, info.contract_id)
            .map_err(|e| IbkrError::Request {
                request: "reqSecDefOptParams",
                reason: e.to_string(),
            })?;
        let (chains, _) = drain(|d| sub.next_timeout(d), deadline, |_| false);
        drop(sub);
        let chain = chains
            .iter()
            .find(|c| c.exchange == "SMART")
            .or_else(|| chains.first())
            .ok_or_else(|| IbkrError::Request {
                request: "reqSecDefOptParams",
                reason: format!("IB lists no options for {symbol}"),
            })?;
        let mut expirations = chain.expirations.clone();
        expirations.sort();
        let mut all_strikes = chain.strikes.clone();
        all_strikes.sort_by(f64::total_cmp);
        let expiry = expiry
            .map(str::to_string)
            .or_else(|| expirations.first().cloned())
            .ok_or_else(|| IbkrError::Request {
                request: "reqSecDefOptParams",
                reason: format!("IB lists no expiries for {symbol}"),
            })?;
        let mut near = all_strikes.clone();
        near.sort_by(|a, b| (a - around).abs().total_cmp(&(b - around).abs()));
        near.truncate(strikes);
        near.sort_by(f64::total_cmp);
        let mut quotes = Vec::new();
        for strike in near {
            for right in [OptionRight::Call, OptionRight::Put] {
                let contract = Contract {
                    symbol: Symbol::from(symbol),
                    security_type: SecurityType::Option,
                    last_trade_date_or_contract_month: expiry.clone(),
                    strike,
                    right: if right == OptionRight::Call { "C" } else { "P" }.into(),
                    exchange: Exchange::from("SMART"),
                    currency: Currency::from("USD"),
                    multiplier: chain.multiplier.clone(),
                    trading_class: chain.trading_class.clone(),
                    ..Contract::default()
                };
                quotes.push(self.option_quote(&contract, &expiry, strike, right)?);
            }
        }
        Ok(OptionChain {
            underlying: symbol.into(),
            trading_class: chain.trading_class.clone(),
            multiplier: chain.multiplier.clone(),
            expirations,
            strikes: all_strikes,
            quotes,
        })
    }

    fn option_quote(
        &self,
        contract: &Contract,
        expiry: &str,
        strike: f64,
        right: OptionRight,
    ) -> Result<OptionQuote, IbkrError> {
        let deadline = now() + self.shared.cfg.request_timeout;
        let client = self.shared.permit("reqMktData", deadline)?;
        let sub = client
            .market_data(contract)
            .snapshot()
            .subscribe()
            .map_err(|e| IbkrError::Request {
                request: "reqMktData",
                reason: e.to_string(),
            })?;
        let (ticks, _) = drain(
            |d| sub.next_timeout(d),
            deadline,
            |t: &TickTypes| matches!(t, TickTypes::SnapshotEnd),
        );
        let mut q = OptionQuote {
            expiry: expiry.into(),
            strike,
            right,
            implied_volatility: None,
            delta: None,
            gamma: None,
            vega: None,
            theta: None,
            option_price: None,
            underlying_price: None,
        };
        // Prefer IB's model computation (tick 13) over bid/ask/last ones.
        let mut best_rank = u8::MAX;
        for t in ticks {
            if let TickTypes::OptionComputation(c) = t {
                let rank = if c.field == ibapi::contracts::tick_types::TickType::ModelOption {
                    0
                } else {
                    1
                };
                if rank <= best_rank {
                    best_rank = rank;
                    q.implied_volatility = c.implied_volatility;
                    q.delta = c.delta;
                    q.gamma = c.gamma;
                    q.vega = c.vega;
                    q.theta = c.theta;
                    q.option_price = c.option_price;
                    q.underlying_price = c.underlying_price;
                }
            }
        }
        Ok(q)
    }
}

fn hist_bar_size(secs: u32) -> Result<HistBarSize, IbkrError> {
    Ok(match secs {
        5 => HistBarSize::Sec5,
        10 => HistBarSize::Sec10,
        15 => HistBarSize::Sec15,
        30 => HistBarSize::Sec30,
        60 => HistBarSize::Min,
        120 => HistBarSize::Min2,
        180 => HistBarSize::Min3,
        300 => HistBarSize::Min5,
        900 => HistBarSize::Min15,
        1800 => HistBarSize::Min30,
        3600 => HistBarSize::Hour,
        _ => {
            return Err(IbkrError::Config {
                field: "bar_seconds",
                reason: format!(
                    "{secs} s has no IB historical bar size (use 5, 10, 15, 30, 60, 120, 180, 300, 900, 1800 or 3600)"
                ),
            });
        }
    })
}

fn to_bar(instrument: InstrumentId, ts: i64, ohlc: [f64; 4], volume: f64) -> Option<Bar> {
    let [open, high, low, close] = ohlc.map(mapping::price);
    Some(Bar {
        instrument,
        ts: Timestamp::from_secs(ts),
        open: open?,
        high: high?,
        low: low?,
        close: close?,
        volume: mapping::quantity(volume.max(0.0)).unwrap_or(Quantity::ZERO),
    })
}

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

    #[test]
    fn every_supported_bar_length_maps_to_an_ib_bar_size() {
        for s in [5, 10, 15, 30, 60, 120, 180, 300, 900, 1800, 3600] {
            assert!(hist_bar_size(s).is_ok(), "{s}");
        }
        assert!(hist_bar_size(45).is_err());
    }
}
