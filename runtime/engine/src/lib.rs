//! The wasmtrade event loop, shared by backtests and the live runtime.
//!
//! Every event takes one path through one thread: market data → the venue
//! (simulated fills) → mark to market → indicators → strategies → host
//! validation → pre-trade risk → OMS → broker → broker events back to the
//! OMS and to the strategies. A backtest ([`Backtest`]) drives the loop
//! with bars on a simulated clock and the paper broker; the same [`Engine`]
//! runs live with a wall clock and a real broker. Guests are anything that
//! implements [`wasmtrade_model::StrategyGuest`]: a sandboxed wasm component
//! or the same SDK source compiled natively.
//!
//! ```
//! use std::sync::Arc;
//! use wasmtrade_engine::{Backtest, BacktestConfig};
//! use wasmtrade_model::Instruments;
//!
//! let mut instruments = Instruments::new();
//! instruments.intern("SYNTH");
//! let backtest = Backtest::new(Arc::new(instruments), BacktestConfig::default()).unwrap();
//! let result = backtest.run(&[], &mut |_| {}).unwrap();
//! assert_eq!(result.report.trades, 0);
//! ```

mod backtest;
mod broker_events;
mod budget;
mod clock;
mod durations;
mod engine;
mod error;
mod exposure;
mod guest_logs;
mod intents;
mod journal;
mod kill;
mod observe;
mod quarantine;
mod released;
mod report;
mod shadow;
mod slots;
mod swap;

pub use backtest::{Backtest, BacktestConfig, BacktestResult, PROGRESS_EVERY, StrategySummary};
pub use budget::EventBudget;
pub use clock::{Clock, SimulatedClock, WallClock};
pub use durations::{DURATION_BOUNDS_NS, Durations};
pub use engine::{Engine, EngineConfig, EngineStats, FaultPolicy};
pub use error::EngineError;
pub use guest_logs::{GuestLogSummary, GuestWarning, MAX_WARNINGS};
pub use journal::{JournalError, MemoryJournal, OrderJournal};
pub use kill::{KillRequest, KillSignal};
pub use observe::{EngineEvent, NoObserver, Observer, Recorder};
pub use released::{ReleasedIndicator, ReleasedStrategy};
pub use report::{EquityPoint, Report, ReportInputs, TradeOutcome, infer_periods_per_year};
pub use slots::{IndicatorSlot, ShadowSlot, ShadowStats, SlotCounters, SlotState, StrategySlot};
pub use swap::{Promoted, SwapError, SwapOutcome, SwapRefused};
