//! Instruments and their trading increments.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Price, Quantity};

/// Host-assigned handle of an instrument, stable for the life of a run.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct InstrumentId(pub u32);

impl fmt::Display for InstrumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}
impl fmt::Debug for InstrumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InstrumentId({})", self.0)
    }
}

/// A tradable instrument.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instrument {
    /// Handle used in events.
    pub id: InstrumentId,
    /// Ticker symbol, e.g. `AAPL`.
    pub symbol: String,
    /// Minimum price increment; order prices must be multiples of it.
    pub tick_size: Price,
    /// Minimum quantity increment; order quantities must be multiples of it.
    pub lot_size: Quantity,
}

impl Instrument {
    /// An equity-like instrument: tick 0.01, lot 1.
    pub fn equity(id: InstrumentId, symbol: impl Into<String>) -> Self {
        Self {
            id,
            symbol: symbol.into(),
            tick_size: Price::from_raw(10_000_000),
            lot_size: Quantity::ONE,
        }
    }
}

/// The instruments of a run, indexed by [`InstrumentId`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instruments {
    list: Vec<Instrument>,
}

impl Instruments {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds an equity-like instrument for `symbol` if unknown; returns its id.
    pub fn intern(&mut self, symbol: &str) -> InstrumentId {
        if let Some(i) = self.by_symbol(symbol) {
            return i.id;
        }
        let id = InstrumentId(self.list.len() as u32);
        self.list.push(Instrument::equity(id, symbol));
        id
    }
    /// Adds or replaces an instrument definition (matched by symbol); returns its id.
    pub fn upsert(&mut self, mut instrument: Instrument) -> InstrumentId {
        if let Some(pos) = self.list.iter().position(|i| i.symbol == instrument.symbol) {
            instrument.id = self.list[pos].id;
            self.list[pos] = instrument;
            return self.list[pos].id;
        }
        let id = InstrumentId(self.list.len() as u32);
        instrument.id = id;
        self.list.push(instrument);
        id
    }
    /// Looks an instrument up by handle.
    pub fn get(&self, id: InstrumentId) -> Option<&Instrument> {
        self.list.get(id.0 as usize)
    }
    /// Looks an instrument up by symbol.
    pub fn by_symbol(&self, symbol: &str) -> Option<&Instrument> {
        self.list.iter().find(|i| i.symbol == symbol)
    }
    /// All instruments in handle order.
    pub fn iter(&self) -> impl Iterator<Item = &Instrument> {
        self.list.iter()
    }
    /// Number of instruments.
    pub fn len(&self) -> usize {
        self.list.len()
    }
    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}
