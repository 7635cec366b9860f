//! Runs SDK strategies and indicators compiled natively through the engine's
//! guest contract, for tests and benchmarks.
//!
//! [`NativeStrategy`] implements [`StrategyGuest`] and [`NativeIndicator`]
//! implements [`IndicatorGuest`] for any type written against
//! `wasmtrade-sdk`, so the very source that is built into a wasm component
//! can also run in-process. Every value crosses exactly as it does through the
//! wasm host: bars, ticks and fills as `to_f64()` of their fixed-point values,
//! context imports answered from the same [`GuestContext`] with the same
//! bounds and warnings, intents reshaped into unvalidated
//! [`RawIntent`](wasmtrade_model::RawIntent)s, and
//! a panic reported as a trap. The same backtest therefore produces the same
//! trades natively and in wasm, and the difference in speed is the cost of
//! the sandbox.
//!
//! ```
//! use std::sync::Arc;
//! use wasmtrade_model::{GuestContext, Instruments, StrategyGuest};
//! use wasmtrade_native::NativeStrategy;
//! use wasmtrade_sdk::{Bar, Context, Error, Intents, Strategy};
//!
//! struct Idle;
//! impl Strategy for Idle {
//!     type Config = ();
//!     const NAME: &'static str = "idle";
//!     const VERSION: &'static str = "1.0.0";
//!     fn new(_: (), _: &mut dyn Context) -> Result<Self, Error> { Ok(Idle) }
//!     fn on_bar(&mut self, _: &mut dyn Context, _: &Bar) -> Intents { Ok(vec![]) }
//! }
//!
//! let ctx = GuestContext::new(Arc::new(Instruments::new()), 42);
//! let guest = NativeStrategy::<Idle>::new(ctx, "null").unwrap();
//! assert_eq!(guest.info().to_string(), format!("idle 1.0.0 (sdk {}, contract 0.1.0)", wasmtrade_sdk::SDK_VERSION));
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod context;
mod convert;

use std::panic::{AssertUnwindSafe, catch_unwind};

use wasmtrade_model::{
    Bar, Fill, GuestContext, GuestFault, GuestInfo, IndicatorGuest, Intents, RejectNotice, StrategyGuest,
    Tick, Timestamp,
};
use wasmtrade_sdk::{Indicator, Strategy, parse_config};

use crate::context::ContextAdapter;

/// Why a native guest could not be created.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The JSON configuration does not parse into the guest's config type.
    #[error("guest {guest}: {message}")]
    Config {
        /// Guest name.
        guest: &'static str,
        /// The SDK's message, e.g. ``invalid config: missing field `slow` at line 1 column 10``.
        message: String,
    },
    /// The guest refused its configuration or failed to start.
    #[error("guest {guest} failed to start: {message}")]
    Init {
        /// Guest name.
        guest: &'static str,
        /// The guest's message.
        message: String,
    },
}

fn returned(e: wasmtrade_sdk::Error) -> GuestFault {
    GuestFault::Returned {
        message: e.to_string(),
    }
}

/// Runs `f`, reporting a panic as a trap the way the wasm host reports one.
fn guarded<T>(f: impl FnOnce() -> Result<T, GuestFault>) -> Result<T, GuestFault> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let reason = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".to_string());
        Err(GuestFault::Trap {
            reason: format!("guest panicked: {reason}"),
            backtrace: None,
        })
    })
}

/// An SDK [`Strategy`] driven in-process as a [`StrategyGuest`].
pub struct NativeStrategy<S: Strategy> {
    strategy: S,
    ctx: GuestContext,
    info: GuestInfo,
}

impl<S: Strategy> NativeStrategy<S> {
    /// Parses `config` (JSON text, as the host sends to `init`) and builds the
    /// strategy with `ctx` as its context.
    pub fn new(mut ctx: GuestContext, config: &str) -> Result<Self, Error> {
        let config = parse_config::<S::Config>(config).map_err(|e| Error::Config {
            guest: S::NAME,
            message: e.to_string(),
        })?;
        let strategy = S::new(config, &mut ContextAdapter(&mut ctx)).map_err(|e| Error::Init {
            guest: S::NAME,
            message: e.to_string(),
        })?;
        let info = convert::guest_info(wasmtrade_sdk::strategy_info::<S>());
        Ok(Self { strategy, ctx, info })
    }

    /// The strategy.
    pub fn strategy(&self) -> &S {
        &self.strategy
    }

    /// Gives the context back (e.g. to read logs after a run).
    pub fn into_context(self) -> GuestContext {
        self.ctx
    }

    fn call(&mut self, f: impl FnOnce(&mut S, &mut ContextAdapter<'_>) -> wasmtrade_sdk::Intents) -> Intents {
        let (strategy, ctx) = (&mut self.strategy, &mut self.ctx);
        guarded(|| {
            f(strategy, &mut ContextAdapter(ctx))
                .map(|intents| intents.into_iter().map(convert::intent).collect())
                .map_err(returned)
        })
    }
}

impl<S: Strategy + 'static> StrategyGuest for NativeStrategy<S> {
    fn info(&self) -> &GuestInfo {
        &self.info
    }
    fn context(&mut self) -> &mut GuestContext {
        &mut self.ctx
    }
    fn on_bar(&mut self, bar: &Bar) -> Intents {
        let bar = convert::bar(bar);
        self.call(|s, ctx| s.on_bar(ctx, &bar))
    }
    fn on_tick(&mut self, tick: &Tick) -> Intents {
        let tick = convert::tick(tick);
        self.call(|s, ctx| s.on_tick(ctx, &tick))
    }
    fn on_fill(&mut self, fill: &Fill) -> Intents {
        let fill = convert::fill(fill);
        self.call(|s, ctx| s.on_fill(ctx, &fill))
    }
    fn on_timer(&mut self, name: &str, ts: Timestamp) -> Intents {
        self.call(|s, ctx| s.on_timer(ctx, name, ts.nanos()))
    }
    fn on_reject(&mut self, notice: &RejectNotice) -> Intents {
        let reject = convert::reject(notice);
        self.call(|s, ctx| s.on_reject(ctx, &reject))
    }
    fn snapshot(&mut self) -> Result<Vec<u8>, GuestFault> {
        let strategy = &self.strategy;
        guarded(|| strategy.snapshot().map_err(returned))
    }
    fn restore(&mut self, state: &[u8]) -> Result<(), GuestFault> {
        let strategy = &mut self.strategy;
        guarded(|| strategy.restore(state).map_err(returned))
    }
}

/// An SDK [`Indicator`] driven in-process as an [`IndicatorGuest`].
pub struct NativeIndicator<I: Indicator> {
    indicator: I,
    ctx: GuestContext,
    info: GuestInfo,
    outputs: Vec<String>,
}

impl<I: Indicator> NativeIndicator<I> {
    /// Parses `config` (JSON text) and builds the indicator.
    pub fn new(ctx: GuestContext, config: &str) -> Result<Self, Error> {
        let config = parse_config::<I::Config>(config).map_err(|e| Error::Config {
            guest: I::NAME,
            message: e.to_string(),
        })?;
        let indicator = I::new(config).map_err(|e| Error::Init {
            guest: I::NAME,
            message: e.to_string(),
        })?;
        let outputs = indicator.outputs();
        let info = convert::guest_info(wasmtrade_sdk::indicator_info::<I>());
        Ok(Self {
            indicator,
            ctx,
            info,
            outputs,
        })
    }

    /// The indicator.
    pub fn indicator(&self) -> &I {
        &self.indicator
    }
}

impl<I: Indicator> IndicatorGuest for NativeIndicator<I> {
    fn info(&self) -> &GuestInfo {
        &self.info
    }
    fn outputs(&self) -> &[String] {
        &self.outputs
    }
    fn context(&mut self) -> &mut GuestContext {
        &mut self.ctx
    }
    fn update(&mut self, bar: &Bar) -> Result<Option<Vec<f64>>, GuestFault> {
        let bar = convert::bar(bar);
        let indicator = &mut self.indicator;
        guarded(|| Ok(indicator.update(&bar)))
    }
    fn snapshot(&mut self) -> Result<Vec<u8>, GuestFault> {
        let indicator = &self.indicator;
        guarded(|| indicator.snapshot().map_err(returned))
    }
    fn restore(&mut self, state: &[u8]) -> Result<(), GuestFault> {
        let indicator = &mut self.indicator;
        guarded(|| indicator.restore(state).map_err(returned))
    }
}

#[cfg(test)]
mod tests;
