//! The only owner of wasmtime: loads, validates, sandboxes and runs strategy, indicator and policy guests.
//!
//! # The sandbox
//!
//! A guest is a WebAssembly component of the `wasmtrade:guest@0.1.0`
//! `strategy`, `indicator` or `policy` world (see `sdk/wit/guest.wit`;
//! policies: [`GuestEngine::load_policy`], [`WasmPolicy`]). Before it may
//! run, [`GuestEngine::load_strategy`] checks, in order: its size
//! (`max_module_bytes`), that it is wasm at all, that it is a component and not
//! a core module, then (reading its import and export sections, before any
//! compilation: [`GuestEngine::inspect`]) that it imports only what guests may
//! use and exports every function of its world, then that it compiles, and
//! that its exports have the right types.
//!
//! Guests may import only `wasmtrade:guest/host` (read-only context, log,
//! timers, a private key-value space, a seeded RNG) and the slice of WASI that
//! Rust's standard library needs to start: `wasi:io`, `wasi:cli` stdio,
//! environment and exit, and `wasi:random`. The WASI context inherits
//! nothing: no environment, arguments or preopened directories, empty stdin,
//! stdout/stderr captured into the guest log, and `wasi:random` served from a
//! generator seeded by the guest's RNG. No filesystem, sockets, clocks or
//! http exist in the linker: a guest is a pure function of the events and the
//! context the host gives it, so backtests replay exactly (NaN
//! canonicalisation is on, relaxed SIMD and threads are off).
//!
//! Each guest runs in its own store with a memory and table limit, a bounded
//! native stack and (by default) a deterministic fuel budget per callback,
//! which pays for host calls too (each import is charged for the bytes it
//! copies and the entries it visits: `docs/host-calls.md`);
//! live trading adds a wall-clock deadline per callback
//! ([`HostConfig::deadline_ms`], epoch interruption). An engine keeps at most
//! [`HostConfig::max_live_guests`] guests alive. A guest error is a
//! [`GuestFault::Returned`](wasmtrade_model::GuestFault); running out of fuel
//! or time is `Budget`, a resource limit is `Limit`, any other trap
//! (including a stack overflow) is `Trap`, after which the instance is
//! quarantined for good. Nothing a guest does can panic the host. What the
//! engine does next (restart with backoff, or stop for good) is decided by a
//! [`FaultTracker`] under a [`QuarantinePolicy`].
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use wasmtrade_host::{GuestEngine, HostConfig};
//! use wasmtrade_model::{GuestContext, Instruments, StrategyGuest};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = GuestEngine::new(HostConfig::default())?;
//! let wasm = std::fs::read("target/wasm32-wasip2/guest/sma_cross.wasm")?;
//! let module = engine.load_strategy(&wasm)?;
//! let ctx = GuestContext::new(Arc::new(Instruments::new()), 42);
//! let mut guest = module.instantiate(ctx, r#"{"fast": 10, "slow": 30}"#)?;
//! println!("running {}", guest.info());
//! # Ok(()) }
//! ```

mod bindings;
mod config;
mod convert;
mod engine;
mod epoch;
mod error;
mod hostcalls;
mod imports;
mod indicator;
mod inspect;
mod live;
mod memory;
mod module;
mod policy;
mod policy_guest;
mod sandbox;
mod state;
mod strategy;
mod validate;

pub use config::HostConfig;
pub use engine::GuestEngine;
pub use error::HostError;
pub use hostcalls::HOST_WORK_PER_CALLBACK;
pub use indicator::{IndicatorModule, WasmIndicator};
pub use inspect::{ComponentOutline, GuestWorld};
pub use memory::container_memory_limit;
pub use policy::{Decision, FaultTracker, PositionAction, QuarantinePolicy, RestartPolicy};
pub use policy_guest::{PolicyModule, WasmPolicy};
pub use strategy::{StrategyModule, WasmStrategy};
