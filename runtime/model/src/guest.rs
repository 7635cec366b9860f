//! The engine-facing contract of a guest, whatever runs it.
//!
//! A strategy runs either as a sandboxed wasm component (`wasmtrade-host`) or
//! natively through the SDK (`wasmtrade-native`, for tests and benchmarks).
//! Both implement [`StrategyGuest`]; the engine drives them the same way and
//! cannot tell them apart. Values a guest returns are untrusted: they arrive
//! as [`RawIntent`]s with `f64` numbers and are validated by
//! [`RawIntent::into_intent`] and the risk engine before anything else sees them.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::kv::{KvFull, KvSpace};
use crate::{
    Bar, ClientOrderId, Fill, InstrumentId, Instruments, NewOrder, OrderIntent, OrderType, Price, Quantity,
    RejectCode, RejectNotice, Rejection, Side, Tick, TimeInForce, Timestamp,
};

/// Longest client order id a guest may use, in bytes.
pub const MAX_CLIENT_ID_LEN: usize = 64;

/// What a guest says about itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct GuestInfo {
    /// Guest name, e.g. `sma-cross`.
    pub name: String,
    /// Guest version.
    pub version: String,
    /// SDK version that built it.
    pub sdk_version: String,
    /// Contract (WIT package) version it speaks.
    pub contract_version: String,
}

/// An order type as a guest sent it (untrusted `f64` prices).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum RawOrderType {
    /// Market.
    Market,
    /// Limit at a price.
    Limit(f64),
    /// Stop at a trigger price.
    Stop(f64),
    /// Stop-limit.
    StopLimit {
        /// Trigger.
        stop: f64,
        /// Limit.
        limit: f64,
    },
}

/// An intent as a guest returned it, before validation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum RawIntent {
    /// Place an order.
    Submit {
        /// Guest id.
        client_id: String,
        /// Instrument handle.
        instrument: u32,
        /// Side.
        side: Side,
        /// Quantity.
        quantity: f64,
        /// Type and prices.
        order_type: RawOrderType,
        /// Time in force.
        tif: TimeInForce,
    },
    /// Cancel a working order.
    Cancel {
        /// Guest id.
        client_id: String,
    },
    /// Change a working order.
    Amend {
        /// Guest id.
        client_id: String,
        /// New quantity.
        quantity: Option<f64>,
        /// New limit price.
        limit_price: Option<f64>,
    },
}

impl RawIntent {
    /// The client id the intent addresses (possibly invalid).
    pub fn client_id(&self) -> &str {
        match self {
            RawIntent::Submit { client_id, .. }
            | RawIntent::Cancel { client_id }
            | RawIntent::Amend { client_id, .. } => client_id,
        }
    }

    /// Converts to a fixed-point [`OrderIntent`], refusing non-finite numbers,
    /// unknown instruments and malformed client ids. Sign, tick and lot checks
    /// belong to the risk engine.
    pub fn into_intent(self, instruments: &Instruments) -> Result<OrderIntent, Rejection> {
        fn client(id: String) -> Result<ClientOrderId, Rejection> {
            if id.is_empty() || id.len() > MAX_CLIENT_ID_LEN || id.chars().any(char::is_control) {
                return Err(Rejection::new(
                    RejectCode::InvalidClientId,
                    format!("client id must be 1..={MAX_CLIENT_ID_LEN} bytes without control characters"),
                ));
            }
            Ok(ClientOrderId::new(id))
        }
        fn price(what: &str, v: f64) -> Result<Price, Rejection> {
            Price::from_f64(v).map_err(|e| Rejection::new(RejectCode::NotFinite, format!("{what}: {e}")))
        }
        fn qty(v: f64) -> Result<Quantity, Rejection> {
            Quantity::from_f64(v).map_err(|e| Rejection::new(RejectCode::NotFinite, format!("quantity: {e}")))
        }
        match self {
            RawIntent::Submit {
                client_id,
                instrument,
                side,
                quantity,
                order_type,
                tif,
            } => {
                let client_id = client(client_id)?;
                let id = InstrumentId(instrument);
                if instruments.get(id).is_none() {
                    return Err(Rejection::new(
                        RejectCode::UnknownInstrument,
                        format!("instrument {id} is not known to the host"),
                    ));
                }
                let order_type = match order_type {
                    RawOrderType::Market => OrderType::Market,
                    RawOrderType::Limit(l) => OrderType::Limit {
                        limit: price("limit price", l)?,
                    },
                    RawOrderType::Stop(s) => OrderType::Stop {
                        stop: price("stop price", s)?,
                    },
                    RawOrderType::StopLimit { stop, limit } => OrderType::StopLimit {
                        stop: price("stop price", stop)?,
                        limit: price("limit price", limit)?,
                    },
                };
                Ok(OrderIntent::Submit(NewOrder {
                    client_id,
                    instrument: id,
                    side,
                    quantity: qty(quantity)?,
                    order_type,
                    tif,
                }))
            }
            RawIntent::Cancel { client_id } => Ok(OrderIntent::Cancel {
                client_id: client(client_id)?,
            }),
            RawIntent::Amend {
                client_id,
                quantity,
                limit_price,
            } => Ok(OrderIntent::Amend {
                client_id: client(client_id)?,
                quantity: quantity.map(qty).transpose()?,
                limit_price: limit_price.map(|p| price("limit price", p)).transpose()?,
            }),
        }
    }
}

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

/// Why a guest callback failed. A fault is the guest's problem, never the
/// host's: the engine records it and applies its quarantine policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[non_exhaustive]
pub enum GuestFault {
    /// The guest returned an error from a callback.
    #[error("guest returned an error: {message}")]
    Returned {
        /// The guest's message.
        message: String,
    },
    /// The guest trapped (panic, unreachable, out-of-bounds, stack overflow...).
    #[error("guest trapped: {reason}")]
    Trap {
        /// Trap reason.
        reason: String,
        /// Wasm backtrace, if available.
        backtrace: Option<String>,
    },
    /// The guest used up its CPU budget for one callback.
    #[error("guest exceeded its cpu budget ({budget})")]
    Budget {
        /// Which budget: fuel or deadline, with its size.
        budget: String,
    },
    /// The guest hit a resource limit (memory, tables, instances).
    #[error("guest hit a resource limit: {what}")]
    Limit {
        /// Which limit.
        what: String,
    },
    /// The guest returned more intents from one callback than allowed.
    #[error("guest returned {count} intents from one callback (limit {limit})")]
    TooManyIntents {
        /// How many.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// One market event made the guest do more work than its budget per
    /// event allows (callbacks, intents, rejections or wall time, summed over
    /// every callback the event caused, e.g. a chain of rejections).
    #[error("guest exceeded its budget per market event: {what}")]
    EventBudget {
        /// Which budget, with the work done and the limit.
        what: String,
    },
    /// The guest has been stopped and takes no more events.
    #[error("guest is quarantined: {reason}")]
    Quarantined {
        /// Why.
        reason: String,
    },
}

impl GuestFault {
    /// True when the guest cannot be called again after this fault: it
    /// trapped or hit a budget or limit (the sandbox stops such an instance
    /// for good), or it was stopped already. False when the guest itself
    /// returned an error or too many intents: it is still healthy.
    pub fn stops_the_guest(&self) -> bool {
        !matches!(
            self,
            GuestFault::Returned { .. } | GuestFault::TooManyIntents { .. }
        )
    }

    /// A short stable label for metrics: `returned`, `trap`, `budget`, `limit`, `too-many-intents`,
    /// `event-budget`, `quarantined`.
    pub fn kind(&self) -> &'static str {
        match self {
            GuestFault::Returned { .. } => "returned",
            GuestFault::Trap { .. } => "trap",
            GuestFault::Budget { .. } => "budget",
            GuestFault::Limit { .. } => "limit",
            GuestFault::TooManyIntents { .. } => "too-many-intents",
            GuestFault::EventBudget { .. } => "event-budget",
            GuestFault::Quarantined { .. } => "quarantined",
        }
    }
}

/// Result of a strategy callback: intents to process.
pub type Intents = Result<Vec<RawIntent>, GuestFault>;

/// A strategy as the engine drives it.
pub trait StrategyGuest {
    /// What the guest says about itself.
    fn info(&self) -> &GuestInfo;
    /// The guest's context (the engine updates it before each callback).
    fn context(&mut self) -> &mut GuestContext;
    /// A closed bar.
    fn on_bar(&mut self, bar: &Bar) -> Intents;
    /// A tick.
    fn on_tick(&mut self, tick: &Tick) -> Intents;
    /// An execution of one of the guest's orders.
    fn on_fill(&mut self, fill: &Fill) -> Intents;
    /// A timer the guest asked for.
    fn on_timer(&mut self, name: &str, ts: Timestamp) -> Intents;
    /// A refusal of one of the guest's intents or orders.
    fn on_reject(&mut self, notice: &RejectNotice) -> Intents;
    /// The guest's state for a hot swap or restart.
    fn snapshot(&mut self) -> Result<Vec<u8>, GuestFault>;
    /// Takes over state from [`StrategyGuest::snapshot`].
    fn restore(&mut self, state: &[u8]) -> Result<(), GuestFault>;
    /// Fuel burned by callbacks since the last call, then zero again; the
    /// engine adds it to the strategy's counters after every callback.
    /// Guests the host does not meter (native ones) report 0.
    fn take_fuel_used(&mut self) -> u64 {
        0
    }
    /// Wall time the next callback may take before the engine's budget per
    /// event is used up; the engine sets it before every callback when that
    /// budget is on (`None`: no such limit). A sandboxed guest stops the
    /// callback when it runs out (wasm guests: with their epoch deadline);
    /// guests that cannot be interrupted ignore it (the default) and the
    /// engine checks the time between callbacks.
    fn set_time_left(&mut self, left: Option<std::time::Duration>) {
        let _ = left;
    }
    /// Replaces the weights of a policy between two events, keeping its
    /// state (see [`PolicyStrategy::load_model`](crate::PolicyStrategy::load_model)).
    /// Strategies that are not policies refuse with [`ModelError::NotAPolicy`].
    fn load_model(&mut self, model: &[u8]) -> Result<crate::ModelInfo, crate::ModelError> {
        let _ = model;
        Err(crate::ModelError::NotAPolicy {
            strategy: self.info().name.clone(),
        })
    }
}

/// An indicator as the engine drives it.
pub trait IndicatorGuest {
    /// What the guest says about itself.
    fn info(&self) -> &GuestInfo;
    /// Names of the output series.
    fn outputs(&self) -> &[String];
    /// The guest's context.
    fn context(&mut self) -> &mut GuestContext;
    /// Feeds one bar; `None` while warming up.
    fn update(&mut self, bar: &Bar) -> Result<Option<Vec<f64>>, GuestFault>;
    /// The indicator's state.
    fn snapshot(&mut self) -> Result<Vec<u8>, GuestFault>;
    /// Takes over state.
    fn restore(&mut self, state: &[u8]) -> Result<(), GuestFault>;
}

impl fmt::Display for GuestInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} (sdk {}, contract {})",
            self.name, self.version, self.sdk_version, self.contract_version
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instruments() -> Instruments {
        let mut i = Instruments::new();
        i.intern("AAPL");
        i
    }

    #[test]
    fn converts_a_valid_submit() {
        let raw = RawIntent::Submit {
            client_id: "b1".into(),
            instrument: 0,
            side: Side::Buy,
            quantity: 10.0,
            order_type: RawOrderType::Limit(101.25),
            tif: TimeInForce::Day,
        };
        let OrderIntent::Submit(o) = raw.into_intent(&instruments()).unwrap() else {
            panic!("not a submit")
        };
        assert_eq!(o.quantity, Quantity::from_int(10));
        assert_eq!(o.order_type.limit_price(), Some("101.25".parse().unwrap()));
    }

    #[test]
    fn refuses_nan_quantity_and_infinite_price() {
        let raw = RawIntent::Submit {
            client_id: "b1".into(),
            instrument: 0,
            side: Side::Buy,
            quantity: f64::NAN,
            order_type: RawOrderType::Market,
            tif: TimeInForce::Day,
        };
        assert_eq!(
            raw.into_intent(&instruments()).unwrap_err().code,
            RejectCode::NotFinite
        );
        let raw = RawIntent::Amend {
            client_id: "b1".into(),
            quantity: None,
            limit_price: Some(f64::INFINITY),
        };
        assert_eq!(
            raw.into_intent(&instruments()).unwrap_err().code,
            RejectCode::NotFinite
        );
    }

    #[test]
    fn refuses_unknown_instrument_and_bad_client_ids() {
        let raw = RawIntent::Submit {
            client_id: "b1".into(),
            instrument: 7,
            side: Side::Buy,
            quantity: 1.0,
            order_type: RawOrderType::Market,
            tif: TimeInForce::Day,
        };
        assert_eq!(
            raw.into_intent(&instruments()).unwrap_err().code,
            RejectCode::UnknownInstrument
        );
        for bad in [String::new(), "x".repeat(65), "a\nb".to_string()] {
            let raw = RawIntent::Cancel { client_id: bad };
            assert_eq!(
                raw.into_intent(&instruments()).unwrap_err().code,
                RejectCode::InvalidClientId
            );
        }
    }

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
        let mut ctx = GuestContext::new(Arc::new(instruments()), 1);
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
    fn order_status_transitions_follow_the_lifecycle() {
        use crate::OrderStatus::*;
        let all = [
            PendingNew,
            Accepted,
            PartiallyFilled,
            PendingCancel,
            Filled,
            Cancelled,
            Rejected,
            Expired,
        ];
        for s in all {
            if s.is_terminal() {
                assert!(all.iter().all(|n| !s.can_become(*n)), "{s} must be final");
            }
        }
        assert!(PendingNew.can_become(Accepted));
        assert!(Accepted.can_become(PartiallyFilled));
        assert!(PartiallyFilled.can_become(PartiallyFilled));
        assert!(PendingCancel.can_become(Accepted));
        assert!(!Accepted.can_become(PendingNew));
        assert!(!Accepted.can_become(Rejected));
    }
}
