//! [`MockContext`]: a [`Context`] whose every answer you set and whose every effect you can read.

use std::collections::BTreeMap;

use crate::{Account, Context, InstrumentId, LogLevel, Position, Timestamp};

/// A [`Context`] for native tests: set time, positions, account, indicator
/// values and symbols; read back logs, timers and key-value writes.
///
/// ```
/// use wasmtrade_sdk::{Context, InstrumentId, testing::MockContext};
///
/// let mut ctx = MockContext::new().with_symbol(InstrumentId(0), "AAPL").with_cash(5_000.0);
/// assert_eq!(ctx.instrument("AAPL"), Some(InstrumentId(0)));
/// ctx.info("hello");
/// assert_eq!(ctx.logs[0].1, "hello");
/// assert_eq!(ctx.account().equity, 5_000.0);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct MockContext {
    /// What [`Context::now`] returns.
    pub now: Timestamp,
    /// Non-flat positions by instrument.
    pub positions: BTreeMap<InstrumentId, Position>,
    /// What [`Context::account`] returns.
    pub account: Account,
    /// Indicator values by (name, instrument).
    pub indicators: BTreeMap<(String, InstrumentId), Vec<f64>>,
    /// Instrument symbols.
    pub symbols: BTreeMap<InstrumentId, String>,
    /// Lines logged, in order.
    pub logs: Vec<(LogLevel, String)>,
    /// Timers requested: name → due time.
    pub timers: BTreeMap<String, Timestamp>,
    /// The key-value space.
    pub kv: BTreeMap<String, Vec<u8>>,
    /// State of the SplitMix64 generator behind [`Context::random_u64`]
    /// (the host's algorithm; set it to the host's seed to replay its numbers).
    pub rng_state: u64,
}

/// Cash, equity and buying power of a fresh [`MockContext`].
pub const DEFAULT_CASH: f64 = 100_000.0;

impl Default for MockContext {
    fn default() -> Self {
        Self::new()
    }
}

impl MockContext {
    /// A context at time 0 with [`DEFAULT_CASH`], no positions, symbols or indicators.
    pub fn new() -> Self {
        Self {
            now: 0,
            positions: BTreeMap::new(),
            account: Account {
                cash: DEFAULT_CASH,
                equity: DEFAULT_CASH,
                buying_power: DEFAULT_CASH,
                realized_pnl: 0.0,
                unrealized_pnl: 0.0,
            },
            indicators: BTreeMap::new(),
            symbols: BTreeMap::new(),
            logs: Vec::new(),
            timers: BTreeMap::new(),
            kv: BTreeMap::new(),
            rng_state: 0,
        }
    }
    /// Sets the current time.
    pub fn with_now(mut self, now: Timestamp) -> Self {
        self.now = now;
        self
    }
    /// Names an instrument.
    pub fn with_symbol(mut self, instrument: InstrumentId, symbol: &str) -> Self {
        self.symbols.insert(instrument, symbol.to_string());
        self
    }
    /// Sets cash, equity and buying power to `cash` (no positions valued).
    pub fn with_cash(mut self, cash: f64) -> Self {
        self.account.cash = cash;
        self.account.equity = cash;
        self.account.buying_power = cash;
        self
    }
    /// Sets a position (a zero quantity removes it).
    pub fn with_position(mut self, position: Position) -> Self {
        self.set_position(position);
        self
    }
    /// Sets indicator values on an instrument.
    pub fn with_indicator(mut self, name: &str, instrument: InstrumentId, values: Vec<f64>) -> Self {
        self.indicators.insert((name.to_string(), instrument), values);
        self
    }
    /// Sets the RNG seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.rng_state = seed;
        self
    }
    /// Sets a position (a zero quantity removes it).
    pub fn set_position(&mut self, position: Position) {
        if position.is_flat() {
            self.positions.remove(&position.instrument);
        } else {
            self.positions.insert(position.instrument, position);
        }
    }
    /// Messages logged at `level`.
    pub fn logged(&self, level: LogLevel) -> Vec<&str> {
        self.logs
            .iter()
            .filter(|(l, _)| *l == level)
            .map(|(_, m)| m.as_str())
            .collect()
    }
}

impl Context for MockContext {
    fn now(&self) -> Timestamp {
        self.now
    }
    fn log(&mut self, level: LogLevel, message: &str) {
        self.logs.push((level, message.to_string()));
    }
    fn random_u64(&mut self) -> u64 {
        self.rng_state = self.rng_state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng_state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn position(&self, instrument: InstrumentId) -> Position {
        self.positions
            .get(&instrument)
            .copied()
            .unwrap_or_else(|| Position::flat(instrument))
    }
    fn positions(&self) -> Vec<Position> {
        self.positions.values().copied().collect()
    }
    fn account(&self) -> Account {
        self.account
    }
    fn indicator(&self, name: &str, instrument: InstrumentId) -> Option<Vec<f64>> {
        self.indicators.get(&(name.to_string(), instrument)).cloned()
    }
    fn symbol(&self, instrument: InstrumentId) -> Option<String> {
        self.symbols.get(&instrument).cloned()
    }
    fn instrument(&self, symbol: &str) -> Option<InstrumentId> {
        self.symbols
            .iter()
            .find(|(_, s)| s.as_str() == symbol)
            .map(|(id, _)| *id)
    }
    fn set_timer(&mut self, name: &str, at: Timestamp) {
        self.timers.insert(name.to_string(), at);
    }
    fn kv_get(&self, key: &str) -> Option<Vec<u8>> {
        self.kv.get(key).cloned()
    }
    fn kv_set(&mut self, key: &str, value: &[u8]) {
        self.kv.insert(key.to_string(), value.to_vec());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_matches_the_hosts_splitmix64() {
        // First outputs of SplitMix64 seeded with 0 (reference values).
        let mut ctx = MockContext::new();
        assert_eq!(ctx.random_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(ctx.random_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn flat_positions_are_removed_and_reported_flat() {
        let id = InstrumentId(1);
        let mut ctx = MockContext::new().with_position(Position {
            instrument: id,
            quantity: 5.0,
            ..Position::default()
        });
        assert!(ctx.position(id).is_long());
        ctx.set_position(Position::flat(id));
        assert!(ctx.positions().is_empty());
        assert_eq!(ctx.position(id), Position::flat(id));
    }
}
