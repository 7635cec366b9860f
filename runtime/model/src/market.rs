//! Market data: bars and ticks.

use serde::{Deserialize, Serialize};

use crate::{InstrumentId, Price, Quantity, Timestamp};

/// One OHLCV bar. `ts` is the bar's opening time; the engine delivers a bar
/// once it has closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bar {
    /// Instrument.
    pub instrument: InstrumentId,
    /// Opening time of the bar.
    pub ts: Timestamp,
    /// First trade price.
    pub open: Price,
    /// Highest trade price.
    pub high: Price,
    /// Lowest trade price.
    pub low: Price,
    /// Last trade price.
    pub close: Price,
    /// Traded volume.
    pub volume: Quantity,
}

/// What a tick carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TickData {
    /// A trade print.
    Trade {
        /// Trade price.
        price: Price,
        /// Trade size.
        size: Quantity,
    },
    /// A top-of-book quote.
    Quote {
        /// Best bid.
        bid: Price,
        /// Size at the best bid.
        bid_size: Quantity,
        /// Best ask.
        ask: Price,
        /// Size at the best ask.
        ask_size: Quantity,
    },
}

/// One market data tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tick {
    /// Instrument.
    pub instrument: InstrumentId,
    /// Event time.
    pub ts: Timestamp,
    /// Payload.
    pub data: TickData,
}

impl Tick {
    /// The reference price of the tick: the trade price or the quote's mid.
    pub fn reference_price(&self) -> Price {
        match self.data {
            TickData::Trade { price, .. } => price,
            TickData::Quote { bid, ask, .. } => Price::from_raw((bid.raw() + ask.raw()) / 2),
        }
    }
}
