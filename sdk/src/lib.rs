//! Write wasmtrade strategies and indicators as plain Rust, test them natively
//! and build them into sandboxed wasm components.
//!
//! A guest is a plain struct implementing [`Strategy`] (or [`Indicator`]) plus
//! one export macro. Guests are pure functions of events that return intents:
//! a strategy receives bars, ticks, fills, timers and rejections and returns
//! [`OrderIntent`]s; it never places an order itself, so every order passes
//! the host's risk engine. What it may read or do (positions, account,
//! indicator values, logging, timers, a small key-value space, a seeded RNG)
//! comes through the [`Context`]. Configuration arrives as JSON and is
//! deserialised into the guest's `Config` type with serde.
//!
//! The same crate builds three ways:
//! - `cargo test`: natively, against [`testing::MockContext`] and
//!   [`testing::Harness`] (a simulated broker), no wasm involved;
//! - natively inside the engine through `wasmtrade-native` (benchmarks,
//!   cross-checks);
//! - `cargo build --profile guest --target wasm32-wasip2 -p <crate>`: a
//!   component exporting the `wasmtrade:guest/strategy@0.1.0` world
//!   ([`CONTRACT_VERSION`]), importing only the host interface and the
//!   WASI `io`/`cli` interfaces std needs: no filesystem, clock, network or
//!   entropy. Keep it that way: no `std::time`, `std::fs` or `HashMap`'s
//!   random state in guests (use `BTreeMap`, [`Context::now`] and
//!   [`Context::random_u64`]).
//!
//! # A complete strategy
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use wasmtrade_sdk::{
//!     Bar, Context, Error, Fill, Intents, OrderIntent, Side, Strategy, export_strategy, state,
//! };
//!
//! /// Configuration, parsed from the JSON the host sends to `init`.
//! #[derive(Deserialize)]
//! #[serde(deny_unknown_fields)]
//! pub struct Config {
//!     /// Buy after this many consecutive higher closes.
//!     streak: u32,
//!     /// Order size.
//!     #[serde(default = "one")]
//!     quantity: f64,
//! }
//! fn one() -> f64 { 1.0 }
//!
//! /// Buys after `streak` higher closes, sells on the first lower close.
//! #[derive(Serialize, Deserialize)]
//! pub struct Streak {
//!     streak: u32,
//!     quantity: f64,
//!     last: Option<f64>,
//!     ups: u32,
//!     orders: u64,
//! }
//!
//! impl Strategy for Streak {
//!     type Config = Config;
//!     const NAME: &'static str = "streak";
//!     const VERSION: &'static str = "1.0.0";
//!
//!     fn new(config: Config, ctx: &mut dyn Context) -> Result<Self, Error> {
//!         if config.streak == 0 {
//!             return Err(Error::config("`streak` must be at least 1"));
//!         }
//!         ctx.info("streak started");
//!         Ok(Self { streak: config.streak, quantity: config.quantity, last: None, ups: 0, orders: 0 })
//!     }
//!
//!     fn on_bar(&mut self, ctx: &mut dyn Context, bar: &Bar) -> Intents {
//!         let up = self.last.is_some_and(|last| bar.close > last);
//!         let down = self.last.is_some_and(|last| bar.close < last);
//!         self.last = Some(bar.close);
//!         self.ups = if up { self.ups + 1 } else { 0 };
//!         let held = ctx.position(bar.instrument).quantity;
//!         let side = if self.ups == self.streak && held == 0.0 {
//!             Side::Buy
//!         } else if down && held > 0.0 {
//!             Side::Sell
//!         } else {
//!             return Ok(vec![]);
//!         };
//!         self.orders += 1;
//!         let quantity = if side == Side::Buy { self.quantity } else { held };
//!         Ok(vec![OrderIntent::market(format!("streak-{}", self.orders), bar.instrument, side, quantity)])
//!     }
//!
//!     fn on_fill(&mut self, ctx: &mut dyn Context, fill: &Fill) -> Intents {
//!         ctx.info(&format!("{} filled at {}", fill.client_id, fill.price));
//!         Ok(vec![])
//!     }
//!
//!     fn snapshot(&self) -> Result<Vec<u8>, Error> {
//!         state::encode(self)
//!     }
//!
//!     fn restore(&mut self, bytes: &[u8]) -> Result<(), Error> {
//!         *self = state::decode(bytes)?;
//!         Ok(())
//!     }
//! }
//!
//! // The component's exports on wasm32; a trait check natively.
//! export_strategy!(Streak);
//!
//! // A native test: build from JSON, feed bars, assert on the orders.
//! use wasmtrade_sdk::InstrumentId;
//! use wasmtrade_sdk::testing::{Harness, bars_from_closes};
//!
//! let mut h = Harness::<Streak>::new(r#"{"streak": 2, "quantity": 10}"#).unwrap();
//! h.run(bars_from_closes(InstrumentId(0), &[10.0, 11.0, 12.0, 13.0, 12.5, 12.0])).unwrap();
//! let orders: Vec<(Side, f64)> = h.orders().iter().map(|o| (o.side, o.quantity)).collect();
//! assert_eq!(orders, [(Side::Buy, 10.0), (Side::Sell, 10.0)]);
//! assert_eq!(h.fills()[0].price, 12.0); // filled at the next bar's open
//!
//! let err = Harness::<Streak>::new(r#"{"quantity": 1}"#).err().unwrap();
//! assert_eq!(err.to_string(), "invalid config: missing field `streak` at line 1 column 15");
//! ```
//!
//! # An indicator
//!
//! ```
//! use serde::Deserialize;
//! use wasmtrade_sdk::{Bar, Error, Indicator, export_indicator};
//!
//! #[derive(Deserialize)]
//! pub struct Config { period: usize }
//!
//! /// Highest high of the last `period` bars.
//! pub struct Highest { period: usize, highs: Vec<f64> }
//!
//! impl Indicator for Highest {
//!     type Config = Config;
//!     const NAME: &'static str = "highest";
//!     const VERSION: &'static str = "1.0.0";
//!     fn new(config: Config) -> Result<Self, Error> {
//!         if config.period == 0 { return Err(Error::config("`period` must be at least 1")) }
//!         Ok(Self { period: config.period, highs: Vec::new() })
//!     }
//!     fn outputs(&self) -> Vec<String> { vec!["highest".to_string()] }
//!     fn update(&mut self, bar: &Bar) -> Option<Vec<f64>> {
//!         self.highs.push(bar.high);
//!         if self.highs.len() > self.period { self.highs.remove(0); }
//!         (self.highs.len() == self.period).then(|| vec![self.highs.iter().copied().fold(f64::MIN, f64::max)])
//!     }
//! }
//!
//! export_indicator!(Highest);
//! ```
//!
//! # A policy
//!
//! An RL policy implements [`Policy`] and is exported with [`export_policy!`]:
//! the host hands it its model's bytes ([`Policy::load`]) and asks it for an
//! [`Action`] per [`Observation`]. A complete one, with its model, is in the
//! `policy` module docs ([`Policy`]) and `guests/policies/clstm-ppo`.
//!
//! Ready-made streaming indicators with TA-Lib's definitions live in [`ta`].
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

extern crate self as wasmtrade_sdk;

mod context;
mod error;
mod export;
mod guest;
mod policy;
pub mod state;
pub mod ta;
pub mod testing;
mod types;

#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod bindings;
#[cfg(target_arch = "wasm32")]
mod wasm;

pub use context::Context;
pub use error::{Error, parse_config};
pub use guest::{Indicator, Intents, Strategy, indicator_info, strategy_info};
pub use policy::{Action, Decision, ModelInfo, Observation, Policy, policy_info};
pub use types::{
    Account, Bar, Fill, GuestInfo, InstrumentId, LogLevel, NewOrder, OrderIntent, OrderType, Position,
    Reject, Side, Tick, TickData, TimeInForce, Timestamp,
};

/// Version of this SDK, reported by every guest in its `info`.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");
/// Version of the WIT contract (`wasmtrade:guest`) this SDK speaks.
pub const CONTRACT_VERSION: &str = "0.1.0";

/// Implementation details of the export macros; not part of the API.
#[doc(hidden)]
pub mod __private {
    #[cfg(target_arch = "wasm32")]
    pub use crate::bindings;
    #[cfg(target_arch = "wasm32")]
    pub use crate::wasm::{HostContext, IndicatorExport, PolicyExport, Slot, StrategyExport};
    #[cfg(target_arch = "wasm32")]
    pub use wit_bindgen;
}
