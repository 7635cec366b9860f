//! Market data from IB: real-time 5-second bars aggregated to the
//! configured bar length for a host-owned subscription registry (replayed
//! after every reconnect and after IB code 1101), historical bars for
//! warm-up, contract resolution and option chains with greeks.

//!
//! Here the market handle, subscriptions, contracts and history; the option
//! chains are in `options`, the real-time bar thread and its aggregation in
//! `stream`.

mod options;
mod stream;

use std::sync::Arc;

use ibapi::contracts::Contract;
use ibapi::market_data::TradingHours;
use ibapi::market_data::historical::{self, BarSize as HistBarSize};
use tokio::sync::mpsc;
use wasmtrade_model::{Bar, InstrumentId, Quantity, Timestamp};

use crate::session::{Shared, lock, now};
use crate::{IbkrError, mapping};

pub use options::{OptionChain, OptionQuote, OptionRight};
pub(crate) use stream::market_loop;

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

pub(super) fn to_bar(instrument: InstrumentId, ts: i64, ohlc: [f64; 4], volume: f64) -> Option<Bar> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_supported_bar_length_maps_to_an_ib_bar_size() {
        for s in [5, 10, 15, 30, 60, 120, 180, 300, 900, 1800, 3600] {
            assert!(hist_bar_size(s).is_ok(), "{s}");
        }
        assert!(hist_bar_size(45).is_err());
    }
}
