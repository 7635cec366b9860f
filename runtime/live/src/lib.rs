//! The long-running wasmtrade runtime (`wasmtrade serve` without its API).
//!
//! One event loop thread owns the engine — guests, pre-trade risk, the OMS
//! and the paper broker — and takes market bars and control commands from
//! one bounded queue, in order. A paper market thread plays a seeded random
//! walk or a replay file into that queue at real or accelerated speed.
//! Because a command is just the next item in the queue, a hot swap always
//! happens between two events: no event is lost or delivered twice.
//!
//! ```text
//!  paper market ──bars──┐
//!                       ▼
//!  Handle (async) ──commands──► queue ──► event loop (engine) ──► Bus ──► subscribers
//!     │                                                             └──► per-guest logs
//!     └── Registry: upload → check imports and world (no compile) → compile
//!                   (bounded: slots, memory, deadline) → store (sled)
//! ```
//!
//! A version is instantiated and initialised off the loop (by the
//! [`Handle`]); the loop only does the hand-off (`snapshot` → `restore`) and
//! the replacement, which is what an activation pauses the loop for. A new
//! version that fails to start or to restore the state never replaces the
//! running one (automatic rollback) and the error is returned.

mod approvals;
mod bus;
mod checkpoint;
mod clock;
mod compile;
mod config;
mod core;
mod deployments;
mod error;
mod event;
mod feed;
mod gate;
mod handle;
mod journal;
mod observer;
mod policy;
mod reconcile;
mod registry;
mod risk;
mod runtime;
mod supervisor;
mod traffic;
mod venue;
mod view;

pub use approvals::{PendingRiskChange, RiskChangeOutcome};
pub use bus::{BarInterest, Bus};
pub use clock::{Stopwatch, unix_now};
pub use compile::{COMPILE_BYTES_PER_CODE_BYTE, CompileConfig};
pub use config::{
    AccountConfig, BrokerConfig, BrokerKind, EventsConfig, GuestsConfig, LiveConfig, MarketConfig,
    SourceKind, StoreConfig,
};
pub use error::{BadField, ErrorClass, Field, LiveError};
pub use event::{Event, EventKind, OrderStep, OrderUpdate, SwapAction, SwapRecord, VerdictRecord};
pub use feed::FeedStats;
pub use gate::{BrokerFigure, FigureProbe, FigureValue, OrderGate, ReadinessCheck, StartOptions};
pub use handle::shadows::{SHADOW_GATE, describe as describe_verdict};
pub use handle::{Handle, ModuleInfo};
pub use journal::StoreJournal;
pub use policy::{PolicySpec, VerdictHook, WrapPolicy};
pub use reconcile::ReconcileOutcome;
pub use registry::{UploadMeta, Uploaded, check_config, check_name};
pub use risk::{FROM_CONFIG_FILE, RiskChange, RiskChangesConfig, RiskLimits, RiskState};
pub use runtime::{Runtime, STORE_DIR, ShutdownReport};
pub use traffic::{EVENTS, REQUESTS, Traffic, TrafficFigures};
pub use view::{AccountInfo, GuestKind, Installed, PolicyShadow, RunState, RunningInfo, ShadowInfo};
pub use wasmtrade_engine::{DURATION_BOUNDS_NS, Durations};
pub use wasmtrade_oms::Position;
pub use wasmtrade_risk::{Halt, HaltReason, HaltScope, KillScope, KillSwitchState, Latch, RawRiskConfig};
pub use wasmtrade_store::{ActivePair, AuditRecord, Module, ModuleKind, ModuleVersion, VersionStatus};
