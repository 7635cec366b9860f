//! One guest's store and the discipline around every call into it: refill
//! the budgets, call, drain captured output, classify failures, and poison
//! the instance after a trap.

use std::sync::Arc;

use wasmtime::{Engine, Store, Trap, WasmBacktrace};
use wasmtrade_model::{GuestContext, GuestFault};

use crate::bindings::types as wit;
use crate::engine::Shared;
use crate::hostcalls::{HOST_WORK_PER_CALLBACK, HostCallBudget, HostUse};
use crate::live::LiveGuard;
use crate::state::{GuestState, LimitHit};
use crate::{HostConfig, HostError};

/// A guest's store plus its fault state.
pub(crate) struct Sandbox {
    /// Declared before `live` so the store (and its memory) is freed before
    /// the slot is released.
    pub(crate) store: Store<GuestState>,
    fuel: Option<u64>,
    /// Fuel burned by calls since [`Sandbox::take_fuel_used`] last ran.
    fuel_used: u64,
    /// Epoch ticks per callback when deadlines are on.
    deadline_ticks: Option<u64>,
    /// How long one epoch tick is (deadlines on).
    tick: Option<std::time::Duration>,
    /// Wall time the engine's budget per event leaves the next call.
    time_left: Option<std::time::Duration>,
    /// The event budget's time left when it set the running call's epoch
    /// deadline (shorter than the per-callback one).
    event_bound: Option<std::time::Duration>,
    /// The model load's own deadline while one runs (see
    /// [`Sandbox::run_with_fuel`]).
    load_bound: Option<std::time::Duration>,
    /// The model load's own fuel while one runs (named when it runs out).
    load_fuel: Option<u64>,
    /// Set after the first trap: a trapped instance never runs again.
    quarantined: Option<String>,
    live: LiveGuard,
}

impl Sandbox {
    /// A fresh store around `ctx`, admitted against `max_live_guests` and
    /// budgeted (fuel, deadline) for instantiation.
    pub(crate) fn new(engine: &Engine, ctx: GuestContext, shared: &Arc<Shared>) -> Result<Self, HostError> {
        let live = LiveGuard::admit(shared)?;
        let config = &shared.config;
        let mut store = Store::new(engine, GuestState::new(ctx, config, &shared.memory));
        store.limiter(|state| &mut state.limiter);
        if let Some(fuel) = config.fuel_per_callback {
            store.set_fuel(fuel).map_err(|e| HostError::Instantiate {
                reason: format!("cannot set the fuel budget: {e:#}"),
            })?;
        }
        let deadline_ticks = shared.deadline.map(|d| d.ticks);
        if let Some(ticks) = deadline_ticks {
            store.epoch_deadline_trap();
            store.set_epoch_deadline(ticks);
        }
        Ok(Self {
            store,
            fuel: config.fuel_per_callback,
            fuel_used: 0,
            deadline_ticks,
            tick: shared.deadline.map(|d| d.tick),
            time_left: None,
            event_bound: None,
            load_bound: None,
            load_fuel: None,
            quarantined: None,
            live,
        })
    }

    /// Whether a trap has stopped this guest for good.
    pub(crate) fn quarantined(&self) -> Option<&str> {
        self.quarantined.as_deref()
    }

    /// Runs one call into the guest. `Ok(Err(e))` from the guest becomes
    /// [`GuestFault::Returned`]; a wasmtime error (trap, fuel, limit) becomes
    /// the matching fault and quarantines the instance.
    #[inline]
    pub(crate) fn run<R>(
        &mut self,
        call: impl FnOnce(&mut Store<GuestState>) -> wasmtime::Result<Result<R, wit::GuestError>>,
    ) -> Result<R, GuestFault> {
        if let Some(reason) = &self.quarantined {
            return Err(GuestFault::Quarantined {
                reason: reason.clone(),
            });
        }
        if let Some(fuel) = self.fuel {
            if let Err(e) = self.store.set_fuel(fuel) {
                return Err(self.poison(&e, None));
            }
        } else {
            // Fuel off: host calls are charged against their own budget.
            self.store.data_mut().host_budget.refill();
        }
        self.store.data_mut().host_use = HostUse::default();
        // One predictable branch when deadlines are off.
        if let Some(ticks) = self.deadline_ticks {
            let ticks = self.ticks_for_call(ticks);
            self.store.set_epoch_deadline(ticks);
        }
        let out = call(&mut self.store);
        if let Some(budget) = self.fuel {
            // Out of fuel leaves 0: the whole budget was burned.
            let left = self.store.get_fuel().unwrap_or(0);
            self.fuel_used += budget.saturating_sub(left);
        }
        let stderr = self.store.data_mut().drain_output();
        match out {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(GuestFault::Returned { message: e.message }),
            Err(e) => Err(self.poison(&e, stderr)),
        }
    }

    /// [`run`](Self::run) with other budgets for this one call (a policy's
    /// model load): `fuel` (`None` keeps the usual one; no effect when fuel
    /// is off) and a wall-clock `deadline` (`None` keeps the per-callback
    /// one; no effect when deadlines are off).
    pub(crate) fn run_with_fuel<R>(
        &mut self,
        fuel: Option<u64>,
        deadline: Option<std::time::Duration>,
        call: impl FnOnce(&mut Store<GuestState>) -> wasmtime::Result<Result<R, wit::GuestError>>,
    ) -> Result<R, GuestFault> {
        let (usual, usual_ticks) = (self.fuel, self.deadline_ticks);
        if usual.is_some() {
            self.fuel = fuel.or(usual);
            self.load_fuel = fuel;
        }
        if let (Some(d), Some(tick), Some(_)) = (deadline, self.tick, usual_ticks) {
            let ticks = u64::try_from(d.as_nanos().div_ceil(tick.as_nanos().max(1)))
                .unwrap_or(u64::MAX)
                .saturating_add(1);
            self.deadline_ticks = Some(ticks);
            self.load_bound = Some(d);
        }
        let out = self.run(call);
        self.fuel = usual;
        self.deadline_ticks = usual_ticks;
        self.load_bound = None;
        self.load_fuel = None;
        out
    }

    /// Wall time the next call may take (the engine's budget per event); it
    /// shortens that call's epoch deadline when deadlines are on.
    pub(crate) fn set_time_left(&mut self, left: Option<std::time::Duration>) {
        self.time_left = left;
    }

    /// Epoch ticks for the next call: the per-callback deadline, or the
    /// time left of the event budget when that is shorter (at least one
    /// tick, rounded up like the per-callback deadline).
    #[inline]
    fn ticks_for_call(&mut self, per_callback: u64) -> u64 {
        self.event_bound = None;
        let (Some(left), Some(tick)) = (self.time_left.take(), self.tick) else {
            return per_callback;
        };
        let tick_ns = tick.as_nanos().max(1);
        let ticks = u64::try_from(left.as_nanos().div_ceil(tick_ns))
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        if ticks < per_callback {
            self.event_bound = Some(left);
            ticks
        } else {
            per_callback
        }
    }

    /// Fuel burned since the last call of this method (0 when fuel is off).
    pub(crate) fn take_fuel_used(&mut self) -> u64 {
        std::mem::take(&mut self.fuel_used)
    }

    fn poison(&mut self, err: &wasmtime::Error, stderr: Option<String>) -> GuestFault {
        let interrupted = matches!(err.downcast_ref::<Trap>(), Some(Trap::Interrupt));
        let fault = if let Some(d) = self.load_bound
            && interrupted
        {
            GuestFault::Budget {
                budget: format!(
                    "model load deadline {} ms (`model_load_deadline_ms`)",
                    d.as_millis()
                ),
            }
        } else if let Some(f) = self.load_fuel
            && matches!(err.downcast_ref::<Trap>(), Some(Trap::OutOfFuel))
        {
            GuestFault::Budget {
                budget: format!("fuel {f} per model load (`fuel_per_model_load`)"),
            }
        } else if let Some(left) = self.event_bound
            && interrupted
        {
            GuestFault::EventBudget {
                what: format!(
                    "a callback ran past the {} ms of wall time its budget per event had left (interrupted; see max_time_ms)",
                    left.as_millis()
                ),
            }
        } else {
            classify(
                err,
                &self.live.shared().config,
                stderr,
                self.store.data().host_use,
            )
        };
        tracing::warn!(kind = fault.kind(), fault = %fault, "guest quarantined");
        self.quarantined = Some(format!("stopped after an earlier fault: {fault}"));
        fault
    }
}

/// The end of a fault caused by host calls.
const HOST_CALLS_CHARGED: &str =
    "host calls are charged for the bytes they copy and the entries they visit (docs/host-calls.md)";

/// Maps a wasmtime error from a guest call to a fault, naming the budget or
/// limit that stopped it.
pub(crate) fn classify(
    err: &wasmtime::Error,
    config: &HostConfig,
    stderr: Option<String>,
    host: HostUse,
) -> GuestFault {
    if let Some(hit) = err.downcast_ref::<LimitHit>() {
        return GuestFault::Limit {
            what: hit.what.clone(),
        };
    }
    if let Some(hit) = err.downcast_ref::<HostCallBudget>() {
        let budget = match config.fuel_per_callback {
            Some(f) => format!("fuel {f} per callback"),
            None => format!("host-call budget {HOST_WORK_PER_CALLBACK} per callback (fuel is off)"),
        };
        return GuestFault::Budget {
            budget: format!("{budget}, used up by host calls: {hit}; {HOST_CALLS_CHARGED}"),
        };
    }
    let backtrace = err
        .downcast_ref::<WasmBacktrace>()
        .map(|bt| bt.to_string())
        .filter(|bt| !bt.trim().is_empty());
    let reason = match err.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => {
            let budget = match config.fuel_per_callback {
                Some(f) => format!("fuel {f} per callback"),
                None => "fuel".to_string(),
            };
            // Host calls took most of it: say so (the guest's own code only
            // found the tank empty).
            let budget = match config.fuel_per_callback {
                Some(f) if host.units >= f / 2 => format!(
                    "{budget}, used up by host calls: they took {} units, the last `{}`; {HOST_CALLS_CHARGED}",
                    host.units, host.last
                ),
                _ => budget,
            };
            return GuestFault::Budget { budget };
        }
        Some(Trap::Interrupt) => {
            return GuestFault::Budget {
                budget: match config.deadline_ms {
                    Some(ms) => format!("deadline {ms} ms per callback"),
                    None => "deadline".to_string(),
                },
            };
        }
        Some(Trap::StackOverflow) => format!(
            "stack overflow: wasm call stack exhausted (`max_wasm_stack` {} bytes)",
            config.max_wasm_stack
        ),
        Some(trap) => trap.to_string(),
        None => err.root_cause().to_string(),
    };
    let reason = match stderr {
        Some(line) => format!("{reason} (guest stderr: {line})"),
        None => reason,
    };
    GuestFault::Trap { reason, backtrace }
}
