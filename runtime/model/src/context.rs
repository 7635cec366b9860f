//! What a guest can read and write through host imports: its
//! [`GuestContext`] (time, positions, account, indicator values, timers, its
//! key-value space, its log) and the bounds on it.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::kv::{KvFull, KvSpace};
use crate::{InstrumentId, Instruments, Timestamp};

/// Longest indicator name, symbol or timer name a guest looks up or sets;
/// longer never matches. One rule for wasm guests' imports and native
/// strategies' context.
pub const MAX_LOOKUP_LEN: usize = 256;

/// A guest's view of one position (`f64`: read-only information for guests).
#[derive(Clone, Copy, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct PositionView {
    /// Signed quantity.
    pub quantity: f64,
    /// Average entry price.
    pub average_price: f64,
    /// Realised P&L.
    pub realized_pnl: f64,
    /// Unrealised P&L at the last price.
    pub unrealized_pnl: f64,
}

/// A guest's view of its account.
#[derive(Clone, Copy, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct AccountView {
    /// Cash.
    pub cash: f64,
    /// Cash plus marked positions.
    pub equity: f64,
    /// What the guest may still commit.
    pub buying_power: f64,
    /// Realised P&L.
    pub realized_pnl: f64,
    /// Unrealised P&L.
    pub unrealized_pnl: f64,
}

/// Severity of a guest log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum LogLevel {
    /// Trace.
    Trace,
    /// Debug.
    Debug,
    /// Info.
    Info,
    /// Warning.
    Warn,
    /// Error.
    Error,
}

impl LogLevel {
    /// The lowercase name (`warn`), as in logs, metrics and reports.
    pub const fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// One line a guest logged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// Run time when it was logged.
    pub ts: Timestamp,
    /// Severity.
    pub level: LogLevel,
    /// Text (truncated by the host to [`ContextLimits::max_log_line`]).
    pub message: String,
}

/// Bounds on what a guest can store through its context.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextLimits {
    /// Longest log line kept, in bytes.
    pub max_log_line: usize,
    /// Log lines buffered between two drains; further lines are counted as dropped.
    pub max_log_lines: usize,
    /// Total bytes of keys and values in the key-value space.
    pub max_kv_bytes: usize,
    /// Entries (keys) in the key-value space: bounds the map's own overhead,
    /// which `max_kv_bytes` does not count.
    pub max_kv_entries: usize,
    /// Timers a guest may have pending.
    pub max_timers: usize,
}

impl Default for ContextLimits {
    fn default() -> Self {
        Self {
            max_log_line: 4096,
            max_log_lines: 1024,
            max_kv_bytes: 1 << 20,
            max_kv_entries: 1 << 16,
            max_timers: 64,
        }
    }
}

/// A deterministic per-guest random number generator (SplitMix64), seeded by
/// the host so that runs are reproducible.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestRng(u64);

impl GuestRng {
    /// A generator from a seed.
    pub const fn new(seed: u64) -> Self {
        Self(seed)
    }
    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Everything a guest can read or write through host imports. The engine
/// keeps it current (time, positions, account, indicator values); the guest
/// runner answers imports from it. It holds no I/O and no clock.
#[derive(Clone, Debug)]
pub struct GuestContext {
    /// Current run time.
    pub now: Timestamp,
    /// Instruments of the run.
    pub instruments: Arc<Instruments>,
    /// Non-flat positions by instrument.
    pub positions: BTreeMap<InstrumentId, PositionView>,
    /// Account view.
    pub account: AccountView,
    /// Indicator values: name → per-instrument latest values (`None` while warming up).
    pub indicators: BTreeMap<String, Vec<Option<Vec<f64>>>>,
    /// Timers the guest asked for: name → due time.
    pub timers: BTreeMap<String, Timestamp>,
    /// The guest's key-value space.
    pub kv: KvSpace,
    /// Log lines since the last drain.
    pub logs: Vec<LogLine>,
    /// Log lines dropped because the buffer was full.
    pub dropped_logs: u64,
    /// The guest's RNG.
    pub rng: GuestRng,
    /// Bounds.
    pub limits: ContextLimits,
}

impl GuestContext {
    /// A fresh context for a guest.
    pub fn new(instruments: Arc<Instruments>, seed: u64) -> Self {
        Self {
            now: Timestamp::EPOCH,
            instruments,
            positions: BTreeMap::new(),
            account: AccountView::default(),
            indicators: BTreeMap::new(),
            timers: BTreeMap::new(),
            kv: KvSpace::new(),
            logs: Vec::new(),
            dropped_logs: 0,
            rng: GuestRng::new(seed),
            limits: ContextLimits::default(),
        }
    }

    /// The guest's position in an instrument (zero if flat).
    pub fn position(&self, instrument: InstrumentId) -> PositionView {
        self.positions.get(&instrument).copied().unwrap_or_default()
    }

    /// Latest values of an indicator on an instrument.
    pub fn indicator(&self, name: &str, instrument: InstrumentId) -> Option<&[f64]> {
        self.indicators.get(name)?.get(instrument.0 as usize)?.as_deref()
    }

    /// Stores indicator values for an instrument.
    pub fn set_indicator(&mut self, name: &str, instrument: InstrumentId, values: Option<Vec<f64>>) {
        let slots = match self.indicators.get_mut(name) {
            Some(s) => s,
            None => self.indicators.entry(name.to_string()).or_default(),
        };
        let idx = instrument.0 as usize;
        if slots.len() <= idx {
            slots.resize(idx + 1, None);
        }
        slots[idx] = values;
    }

    /// Records a log line, truncating it and dropping it when the buffer is full.
    pub fn log(&mut self, level: LogLevel, message: &str) {
        if self.logs.len() >= self.limits.max_log_lines {
            self.dropped_logs += 1;
            return;
        }
        let mut end = message.len().min(self.limits.max_log_line);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        self.logs.push(LogLine {
            ts: self.now,
            level,
            message: message[..end].to_string(),
        });
    }

    /// Stores a key-value pair if it fits the space limits (bytes and
    /// entries); returns why not otherwise. O(log n): the space keeps its
    /// size as it changes.
    pub fn kv_set(&mut self, key: &str, value: &[u8]) -> Result<(), KvFull> {
        self.kv
            .set(key, value, self.limits.max_kv_bytes, self.limits.max_kv_entries)
    }

    /// A guest's indicator lookup (wasm import or native context alike):
    /// nothing for a name longer than [`MAX_LOOKUP_LEN`].
    pub fn lookup_indicator(&self, name: &str, instrument: InstrumentId) -> Option<&[f64]> {
        if name.len() > MAX_LOOKUP_LEN {
            return None;
        }
        self.indicator(name, instrument)
    }

    /// A guest's instrument lookup by symbol: nothing for a symbol longer
    /// than [`MAX_LOOKUP_LEN`].
    pub fn lookup_instrument(&self, symbol: &str) -> Option<InstrumentId> {
        if symbol.len() > MAX_LOOKUP_LEN {
            return None;
        }
        self.instruments.by_symbol(symbol).map(|i| i.id)
    }

    /// A guest's timer request: refused, with a warning in its log, over
    /// the timer limit or for a name longer than [`MAX_LOOKUP_LEN`].
    pub fn request_timer(&mut self, name: &str, at: Timestamp) {
        if name.len() > MAX_LOOKUP_LEN || !self.set_timer(name, at) {
            self.log(
                LogLevel::Warn,
                "host: timer refused (too many timers or name too long)",
            );
        }
    }

    /// A guest's key-value write: refused, with a warning in its log, when
    /// it does not fit the space.
    pub fn request_kv_set(&mut self, key: &str, value: &[u8]) {
        if let Err(full) = self.kv_set(key, value) {
            self.log(LogLevel::Warn, &format!("host: kv-set refused: {full}"));
        }
    }

    /// Requests a timer if within the limit (replacing one of the same name); returns whether it did.
    pub fn set_timer(&mut self, name: &str, at: Timestamp) -> bool {
        if !self.timers.contains_key(name) && self.timers.len() >= self.limits.max_timers {
            return false;
        }
        self.timers.insert(name.to_string(), at);
        true
    }

    /// Removes and returns timers due at or before `now`, in (time, name) order.
    pub fn take_due_timers(&mut self, now: Timestamp) -> Vec<(String, Timestamp)> {
        if self.timers.is_empty() {
            return Vec::new();
        }
        let mut due: Vec<(String, Timestamp)> = self
            .timers
            .iter()
            .filter(|(_, t)| **t <= now)
            .map(|(n, t)| (n.clone(), *t))
            .collect();
        for (n, _) in &due {
            self.timers.remove(n);
        }
        due.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_deterministic_per_seed() {
        let mut a = GuestRng::new(42);
        let mut b = GuestRng::new(42);
        let mut c = GuestRng::new(43);
        let xs: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs[0], c.next_u64());
    }

    #[test]
    fn context_bounds_logs_kv_and_timers() {
        let mut ctx = GuestContext::new(Arc::new(Instruments::new()), 1);
        ctx.limits = ContextLimits {
            max_log_line: 4,
            max_log_lines: 2,
            max_kv_bytes: 8,
            max_kv_entries: 4,
            max_timers: 1,
        };
        ctx.log(LogLevel::Info, "héllo world");
        ctx.log(LogLevel::Info, "b");
        ctx.log(LogLevel::Info, "c");
        assert_eq!(ctx.logs.len(), 2);
        assert_eq!(ctx.logs[0].message, "hél");
        assert_eq!(ctx.dropped_logs, 1);
        assert!(ctx.kv_set("k", b"1234567").is_ok());
        assert!(ctx.kv_set("j", b"1").is_err());
        assert!(ctx.kv_set("k", b"7654321").is_ok());
        assert!(ctx.set_timer("t", Timestamp::from_secs(5)));
        assert!(!ctx.set_timer("u", Timestamp::from_secs(5)));
        assert!(ctx.take_due_timers(Timestamp::from_secs(4)).is_empty());
        assert_eq!(ctx.take_due_timers(Timestamp::from_secs(5)).len(), 1);
    }

    #[test]
    fn guest_lookups_past_the_length_limit_never_match_and_refusals_are_logged() {
        let mut instruments = Instruments::new();
        instruments.intern("AAPL");
        let mut ctx = GuestContext::new(Arc::new(instruments), 1);
        ctx.indicators.insert("sma".into(), vec![Some(vec![1.5])]);
        let long = "A".repeat(MAX_LOOKUP_LEN + 1);
        assert_eq!(ctx.lookup_instrument("AAPL"), Some(InstrumentId(0)));
        assert_eq!(ctx.lookup_instrument(&long), None);
        assert_eq!(ctx.lookup_indicator("sma", InstrumentId(0)), Some(&[1.5][..]));
        assert_eq!(ctx.lookup_indicator(&long, InstrumentId(0)), None);
        ctx.request_timer(&long, Timestamp::from_secs(1));
        assert!(ctx.take_due_timers(Timestamp::from_secs(2)).is_empty());
        ctx.limits.max_kv_bytes = 2;
        ctx.request_kv_set("key", b"too long");
        let warnings: Vec<&str> = ctx.logs.iter().map(|l| l.message.as_str()).collect();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].starts_with("host: timer refused"), "{warnings:?}");
        assert!(warnings[1].starts_with("host: kv-set refused"), "{warnings:?}");
    }
}
