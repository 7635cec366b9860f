//! Settings of the live runtime. Every field has a documented default, so
//! an empty TOML file (or none) runs the paper market with the paper broker.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use wasmtrade_broker::paper::PaperConfig;
use wasmtrade_engine::EventBudget;
use wasmtrade_host::{HostConfig, QuarantinePolicy};

use crate::compile::CompileConfig;
use wasmtrade_model::Money;
use wasmtrade_risk::RawRiskConfig;

/// Where live market data comes from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A seeded random walk (geometric Brownian motion), one bar per symbol
    /// per interval. Default.
    #[default]
    RandomWalk,
    /// Bars from a CSV file (`replay_file`), in file order.
    Replay,
}

/// The paper market: what data the runtime plays and how fast.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MarketConfig {
    /// `random_walk` (default) or `replay`.
    pub source: SourceKind,
    /// Symbols of the random walk. Default `["SYNTH"]`.
    pub symbols: Vec<String>,
    /// Seed of the random walk (each symbol gets `seed + index`). Default 42.
    pub seed: u64,
    /// Market time between two bars of a symbol, in seconds. Default 1.
    pub bar_interval_secs: u64,
    /// Playback speed: 1 = real time, 10 = ten times faster, 0 = as fast as
    /// the runtime can process. Default 1.
    pub speed: f64,
    /// First price of the random walk. Default 100.
    pub start_price: f64,
    /// Annualised volatility of the random walk. Default 0.2.
    pub annual_volatility: f64,
    /// Annualised drift of the random walk. Default 0.05.
    pub annual_drift: f64,
    /// The CSV file played by `replay` (columns as `wasmtrade backtest --data`).
    pub replay_file: Option<PathBuf>,
    /// Symbol for a replay file without a `symbol` column. Default `SYNTH`.
    pub replay_symbol: String,
    /// IANA time zone of naive timestamps in the replay file. Default `UTC`.
    pub replay_tz: String,
    /// Stop after this many bars (all symbols); 0 = never. Default 0.
    pub max_bars: u64,
}

impl Default for MarketConfig {
    fn default() -> Self {
        Self {
            source: SourceKind::RandomWalk,
            symbols: vec!["SYNTH".to_string()],
            seed: 42,
            bar_interval_secs: 1,
            speed: 1.0,
            start_price: 100.0,
            annual_volatility: 0.2,
            annual_drift: 0.05,
            replay_file: None,
            replay_symbol: "SYNTH".to_string(),
            replay_tz: "UTC".to_string(),
            max_bars: 0,
        }
    }
}

/// The trading account of the paper broker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountConfig {
    /// Starting cash. Default 100000.
    pub starting_cash: Money,
    /// Paper broker fills, commission and slippage.
    pub paper: PaperConfig,
}

impl Default for AccountConfig {
    fn default() -> Self {
        Self {
            starting_cash: Money::from_int(100_000),
            paper: PaperConfig::default(),
        }
    }
}

/// Guests: upload limits and the sandbox.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GuestsConfig {
    /// Largest upload accepted, in bytes. Default 32 MiB.
    pub max_upload_bytes: u64,
    /// Log lines kept per guest for `Logs`. Default 2000.
    pub log_lines_kept: usize,
    /// Seed of each guest's host-provided RNG. Default 7.
    pub seed: u64,
    /// After a fault: hold or flatten positions (orders are always
    /// cancelled), and restart with backoff from the last good snapshot
    /// until `max_faults` faults in `window_ms` stop the guest for good.
    pub quarantine: QuarantinePolicy,
    /// Every this many bars the loop keeps each running strategy's snapshot
    /// in memory: the state a restart after a fault resumes from. Default 1000.
    pub snapshot_every_bars: u64,
    /// The wasmtime sandbox (fuel, deadlines, memory ...). Live default: the
    /// fuel budget (deterministic) plus a 1 s wall-clock deadline per
    /// callback as a backstop; a tighter deadline risks quarantining a
    /// healthy guest on a machine whose CPU is busy elsewhere; and
    /// `parallel_compilation` off, so concurrent uploads compile side by side.
    pub sandbox: HostConfig,
    /// The work one market event may cause for one strategy, summed over
    /// every callback it triggers (fills, timers, chains of rejections);
    /// more quarantines the strategy for good (its version is marked
    /// quarantined in the store, so a restart does not run it again). Live
    /// default: the backtest budget plus 2 s of wall time per event.
    pub event_budget: EventBudget,
    /// How uploads are compiled: how many at once, within which deadline
    /// and memory estimate (see [`CompileConfig`]).
    pub compile: CompileConfig,
}

impl Default for GuestsConfig {
    fn default() -> Self {
        Self {
            max_upload_bytes: 32 * 1024 * 1024,
            log_lines_kept: 2000,
            seed: 7,
            quarantine: QuarantinePolicy::default(),
            snapshot_every_bars: 1000,
            sandbox: HostConfig {
                deadline_ms: Some(1000),
                // Uploads compile side by side (`compile.max_concurrent`): a
                // small one must not queue behind a large one's functions.
                parallel_compilation: false,
                ..HostConfig::default()
            },
            event_budget: EventBudget {
                max_time_ms: Some(2000),
                ..EventBudget::default()
            },
            compile: CompileConfig::default(),
        }
    }
}

/// The event stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventsConfig {
    /// Events buffered per subscriber before a slow one is cut off with an
    /// error (never silently skipped). Default 65536.
    pub buffer: usize,
    /// Inputs (bars and commands) queued for the event loop. Default 4096.
    pub queue: usize,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            buffer: 65_536,
            queue: 4096,
        }
    }
}

/// The `[store]` section: how the runtime keeps its store flat over a
/// long run. With every periodic guest snapshot
/// (`guests.snapshot_every_bars`) and at shutdown, the loop moves finished
/// orders out of memory into the order history, stores a checkpoint of the
/// account and compacts the journal behind it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Finished orders the history keeps (the newest; older ones are
    /// removed as new ones arrive). Default 100000.
    pub order_history: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            order_history: 100_000,
        }
    }
}

/// Which venue the runtime trades with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BrokerKind {
    /// The in-process paper broker on the paper market (`[market]`).
    #[default]
    Paper,
    /// A `wasmtrade paper-venue` process at `broker.venue_address`: orders
    /// and market data both come from it, and it keeps trading while the
    /// runtime is down (start-up reconciliation asks it what happened).
    Venue,
    /// Interactive Brokers through IB Gateway (`[broker.ibkr]`, see
    /// docs/ibkr.md): orders, and real-time bars for `broker.ibkr.symbols`.
    Ibkr,
}

/// The `[broker]` section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerConfig {
    /// `paper` (default) or `venue`.
    pub kind: BrokerKind,
    /// Address of the paper venue (`kind = "venue"`). Default `127.0.0.1:7700`.
    pub venue_address: String,
    /// How long connecting to the venue may take. Default 5000 ms.
    pub connect_timeout_ms: u64,
    /// How long the start-up reconciliation may wait for the venue's
    /// report. Default 10000 ms.
    pub reconcile_timeout_ms: u64,
    /// IB Gateway (`kind = "ibkr"`): host, port, client id, paper/live
    /// (live needs `allow_live = true`), the symbols to trade, pacing.
    pub ibkr: wasmtrade_ibkr::RawIbkrConfig,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            kind: BrokerKind::Paper,
            venue_address: "127.0.0.1:7700".to_string(),
            connect_timeout_ms: 5000,
            reconcile_timeout_ms: 10_000,
            ibkr: wasmtrade_ibkr::RawIbkrConfig::default(),
        }
    }
}

/// Everything the live runtime needs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LiveConfig {
    /// The data directory (in Kubernetes, the data PVC). The store (sled)
    /// lives in its `store/` subdirectory. Default `./data`.
    pub data_dir: PathBuf,
    /// The paper market.
    pub market: MarketConfig,
    /// The account and the paper broker.
    pub account: AccountConfig,
    /// Pre-trade risk limits (see the risk crate's `RawRiskConfig`): the
    /// first start stores them; afterwards the store's revision is in force
    /// and limits change at run time (`wasmtrade risk set`).
    pub risk: RawRiskConfig,
    /// How limit changes are approved.
    pub risk_changes: crate::risk::RiskChangesConfig,
    /// Guests and their sandbox.
    pub guests: GuestsConfig,
    /// The event stream.
    pub events: EventsConfig,
    /// The venue: the in-process paper broker or a paper venue process.
    pub broker: BrokerConfig,
    /// Checkpoints, journal compaction and the order history.
    pub store: StoreConfig,
}

impl LiveConfig {
    /// The default data directory.
    pub fn default_data_dir() -> PathBuf {
        PathBuf::from("data")
    }

    /// Every problem with the settings, each naming the key and what to do.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let m = &self.market;
        if m.bar_interval_secs == 0 || m.bar_interval_secs > 86_400 * 366 {
            out.push(format!(
                "market.bar_interval_secs ({}) must be between 1 and 31622400 (a year)",
                m.bar_interval_secs
            ));
        }
        if !(m.speed.is_finite() && m.speed >= 0.0) {
            out.push(format!(
                "market.speed ({}) must be >= 0 (0 = as fast as possible)",
                m.speed
            ));
        }
        match m.source {
            SourceKind::RandomWalk => {
                if m.symbols.is_empty() {
                    out.push("market.symbols must name at least one symbol".to_string());
                }
                if m.symbols.iter().any(|s| s.trim().is_empty()) {
                    out.push("market.symbols must not contain empty symbols".to_string());
                }
                if !(m.start_price.is_finite() && m.start_price > 0.0) {
                    out.push(format!("market.start_price ({}) must be > 0", m.start_price));
                }
                if !(m.annual_volatility.is_finite() && m.annual_volatility >= 0.0) {
                    out.push(format!(
                        "market.annual_volatility ({}) must be >= 0",
                        m.annual_volatility
                    ));
                }
                if !m.annual_drift.is_finite() {
                    out.push(format!("market.annual_drift ({}) must be finite", m.annual_drift));
                }
            }
            SourceKind::Replay => {
                if m.replay_file.is_none() {
                    out.push("market.source is `replay` but market.replay_file is not set".to_string());
                }
            }
        }
        if self.guests.max_upload_bytes == 0 {
            out.push("guests.max_upload_bytes must be at least 1".to_string());
        }
        if self.events.buffer == 0 || self.events.queue == 0 {
            out.push("events.buffer and events.queue must be at least 1".to_string());
        }
        if let Err(e) = self.guests.quarantine.validate() {
            out.push(format!("guests.quarantine: {e}"));
        }
        if let Err(e) = self.guests.event_budget.validate() {
            out.push(format!("guests.event_budget: {e}"));
        }
        out.extend(self.guests.compile.problems());
        if self.guests.snapshot_every_bars == 0 {
            out.push("guests.snapshot_every_bars must be at least 1".to_string());
        }
        if let Err(e) = self.guests.sandbox.validate() {
            out.push(format!("guests.sandbox: {e}"));
        }
        if self.broker.kind == BrokerKind::Venue
            && self.broker.venue_address.parse::<std::net::SocketAddr>().is_err()
        {
            out.push(format!(
                "broker.venue_address ({:?}) must be an address such as 127.0.0.1:7700",
                self.broker.venue_address
            ));
        }
        if self.broker.kind == BrokerKind::Ibkr {
            match wasmtrade_ibkr::IbkrConfig::try_from(self.broker.ibkr.clone()) {
                Ok(c) if c.symbols.is_empty() => {
                    out.push("broker.ibkr.symbols must name at least one symbol to trade".to_string());
                }
                Ok(_) => {}
                Err(e) => out.push(format!("broker.ibkr: {e}")),
            }
        }
        if self.broker.connect_timeout_ms == 0 || self.broker.reconcile_timeout_ms == 0 {
            out.push(
                "broker.connect_timeout_ms and broker.reconcile_timeout_ms must be at least 1".to_string(),
            );
        }
        if let Err(e) = wasmtrade_risk::RiskConfig::try_from(self.risk.clone()) {
            out.push(format!("risk: {e}"));
        }
        out
    }
}
