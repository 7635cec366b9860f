//! What a guest may read and do during a callback.

use crate::{Account, InstrumentId, LogLevel, Position, Timestamp};

/// The read-only view of the run plus the capabilities the host grants a
/// guest: log, timers, a small key-value space and a seeded RNG.
///
/// In a wasm guest every method is a host import; natively it is answered by
/// `wasmtrade-native` or by [`testing::MockContext`](crate::testing::MockContext).
/// There is deliberately no way to place an order here: orders are intents
/// returned from callbacks.
pub trait Context {
    /// The current time of the run (simulated in backtests).
    fn now(&self) -> Timestamp;
    /// Writes a line to the guest's log (bounded by the host).
    fn log(&mut self, level: LogLevel, message: &str);
    /// A number from the guest's RNG, seeded by the host per guest and run.
    fn random_u64(&mut self) -> u64;
    /// The guest's position in an instrument (flat if none).
    fn position(&self, instrument: InstrumentId) -> Position;
    /// All of the guest's non-flat positions.
    fn positions(&self) -> Vec<Position>;
    /// The guest's account view.
    fn account(&self) -> Account;
    /// Latest values of a named indicator on an instrument; `None` while it
    /// warms up or if no such indicator is configured.
    fn indicator(&self, name: &str, instrument: InstrumentId) -> Option<Vec<f64>>;
    /// The symbol of an instrument.
    fn symbol(&self, instrument: InstrumentId) -> Option<String>;
    /// The handle of an instrument by symbol, if the host knows it.
    fn instrument(&self, symbol: &str) -> Option<InstrumentId>;
    /// Asks the host to call `on_timer(name)` at `at` (replaces a timer of the same name).
    fn set_timer(&mut self, name: &str, at: Timestamp);
    /// Reads from the guest's private key-value space.
    fn kv_get(&self, key: &str) -> Option<Vec<u8>>;
    /// Writes to the guest's private key-value space (bounded by the host).
    fn kv_set(&mut self, key: &str, value: &[u8]);

    /// Logs at trace level.
    fn trace(&mut self, message: &str) {
        self.log(LogLevel::Trace, message);
    }
    /// Logs at debug level.
    fn debug(&mut self, message: &str) {
        self.log(LogLevel::Debug, message);
    }
    /// Logs at info level.
    fn info(&mut self, message: &str) {
        self.log(LogLevel::Info, message);
    }
    /// Logs at warning level.
    fn warn(&mut self, message: &str) {
        self.log(LogLevel::Warn, message);
    }
    /// Logs at error level.
    fn error(&mut self, message: &str) {
        self.log(LogLevel::Error, message);
    }
}
