//! Host calls cost fuel.
//!
//! Every `wasmtrade:guest/host` import is linked here rather than by the
//! generated `add_to_linker`, so that it can charge the calling guest for the
//! work it makes the host do before doing it. The charge comes out of the
//! same fuel budget per callback as the guest's own instructions
//! ([`HostConfig::fuel_per_callback`](crate::HostConfig::fuel_per_callback)):
//! a guest that storms host calls (thousands of reads of a 1 MiB key-value
//! entry, hundreds of thousands of `position-of`) runs out of fuel like a
//! guest that loops, and is faulted with
//! [`GuestFault::Budget`](wasmtrade_model::GuestFault::Budget) naming the host
//! call. With fuel off, host calls are charged against a host-work budget of
//! [`HOST_WORK_PER_CALLBACK`] units per callback instead.
//!
//! # The cost model
//!
//! One unit is one unit of wasmtime fuel, about one wasm instruction (well
//! under a nanosecond of guest code). A host call costs:
//!
//! * [`CALL`] units for crossing the boundary (lifting the arguments,
//!   lowering the result; ~50–150 ns in wasmtime 48);
//! * one unit per [`BYTES_PER_UNIT`] bytes copied in or out (strings, lists,
//!   key-value entries, records), rounded up: what a wasm loop copying
//!   64-bit words would burn;
//! * [`LOOKUP`] units per map lookup or insert (instruments, indicators,
//!   timers, the key-value space: all O(log n));
//! * [`ENTRY`] units per entry a call lists (`positions`).
//!
//! So `position-of` costs 125 units, and a `kv-get` of a 1 MiB value about
//! 131 000: a default budget of 50 000 000 allows ~380 such reads, or
//! ~400 000 `position-of` calls, per callback. sma-cross makes one to three
//! host calls per bar (a few hundred units). The charges are a pure function
//! of the call's arguments and the host's state, so a backtest replays them
//! exactly.

use wasmtime::StoreContextMut;
use wasmtime::component::{HasSelf, Linker};

use crate::bindings::{host, types};
use crate::state::GuestState;

/// Units every host call costs: crossing the boundary.
pub(crate) const CALL: u64 = 100;
/// Bytes copied per unit.
pub(crate) const BYTES_PER_UNIT: u64 = 8;
/// Units per map lookup or insert.
pub(crate) const LOOKUP: u64 = 20;
/// Units per entry listed.
pub(crate) const ENTRY: u64 = 10;
/// Host-work units one callback may spend in host calls when fuel is off
/// (the default fuel budget per callback).
pub const HOST_WORK_PER_CALLBACK: u64 = 50_000_000;

/// Bytes of a lowered `position` record (an id and four `f64`s, aligned).
const POSITION_BYTES: usize = 40;
/// Bytes of a lowered `account` record (five `f64`s).
const ACCOUNT_BYTES: usize = 40;

/// The `wasmtrade:guest/host` instance name the guests import.
const HOST_INSTANCE: &str = "wasmtrade:guest/host@0.1.0";

/// Units for `bytes` copied across the boundary.
pub(crate) const fn bytes(n: usize) -> u64 {
    (n as u64).div_ceil(BYTES_PER_UNIT)
}

/// What each import costs, from the sizes of what it copies.
pub(crate) mod cost {
    use super::{ACCOUNT_BYTES, CALL, ENTRY, LOOKUP, POSITION_BYTES, bytes};

    /// `now`, `random-u64`: the boundary only.
    pub(crate) const fn plain() -> u64 {
        CALL
    }
    /// `log` of a message of `len` bytes.
    pub(crate) const fn log(len: usize) -> u64 {
        CALL + bytes(len)
    }
    /// `position-of`.
    pub(crate) const fn position_of() -> u64 {
        CALL + LOOKUP + bytes(POSITION_BYTES)
    }
    /// `positions` returning `n` positions.
    pub(crate) const fn positions(n: usize) -> u64 {
        CALL + (n as u64).saturating_mul(ENTRY + bytes(POSITION_BYTES))
    }
    /// `account-view`.
    pub(crate) const fn account_view() -> u64 {
        CALL + bytes(ACCOUNT_BYTES)
    }
    /// `indicator` with a name of `name` bytes returning `values` numbers.
    pub(crate) const fn indicator(name: usize, values: usize) -> u64 {
        CALL + LOOKUP + bytes(name) + bytes(values.saturating_mul(8))
    }
    /// `instrument-symbol` and `instrument-by-symbol` with a symbol of `symbol` bytes.
    pub(crate) const fn symbol(symbol: usize) -> u64 {
        CALL + LOOKUP + bytes(symbol)
    }
    /// `set-timer` with a name of `name` bytes.
    pub(crate) const fn set_timer(name: usize) -> u64 {
        CALL + LOOKUP + bytes(name)
    }
    /// `kv-get` and `kv-set` of a `key`-byte key and a `value`-byte value.
    pub(crate) const fn kv(key: usize, value: usize) -> u64 {
        CALL + LOOKUP + bytes(key.saturating_add(value))
    }
}

/// What host calls took from the running callback's budget, so that a
/// guest whose own code then finds the tank empty is told who emptied it.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct HostUse {
    /// Units charged since the callback started.
    pub(crate) units: u64,
    /// The last import charged.
    pub(crate) last: &'static str,
}

/// What host calls are charged against.
#[derive(Debug)]
pub(crate) enum HostBudget {
    /// The store's fuel, shared with the guest's own instructions (fuel on).
    Fuel,
    /// Fuel is off: units of host work left in the running callback,
    /// refilled to [`HOST_WORK_PER_CALLBACK`] before every callback.
    Work {
        /// Units left.
        left: u64,
    },
}

impl HostBudget {
    /// The budget for a guest whose engine meters fuel or not.
    pub(crate) fn new(fuel_on: bool) -> Self {
        if fuel_on {
            Self::Fuel
        } else {
            Self::Work {
                left: HOST_WORK_PER_CALLBACK,
            }
        }
    }

    /// Refills the host-work budget for the next callback (no-op with fuel:
    /// the sandbox refills the fuel).
    #[inline]
    pub(crate) fn refill(&mut self) {
        if let Self::Work { left } = self {
            *left = HOST_WORK_PER_CALLBACK;
        }
    }
}

/// A host call the guest could not pay for; carried through wasmtime as the
/// trap error so the fault names the call (see `sandbox::classify`).
#[derive(Debug, thiserror::Error)]
#[error("host call `{call}` needed {cost} units and {left} were left")]
pub(crate) struct HostCallBudget {
    /// The import, e.g. `kv-get`.
    pub(crate) call: &'static str,
    /// What it would have cost.
    pub(crate) cost: u64,
    /// What the callback had left.
    pub(crate) left: u64,
}

/// Takes `cost` units from the running callback's budget, or traps the
/// guest (leaving the budget empty) when it has fewer left.
#[inline]
pub(crate) fn charge(
    store: &mut StoreContextMut<'_, GuestState>,
    call: &'static str,
    cost: u64,
) -> wasmtime::Result<()> {
    let state = store.data_mut();
    state.host_use.units = state.host_use.units.saturating_add(cost);
    state.host_use.last = call;
    if let HostBudget::Work { left } = &mut state.host_budget {
        return match left.checked_sub(cost) {
            Some(rest) => {
                *left = rest;
                Ok(())
            }
            None => {
                let had = std::mem::take(left);
                Err(wasmtime::Error::new(HostCallBudget {
                    call,
                    cost,
                    left: had,
                }))
            }
        };
    }
    let left = store.get_fuel()?;
    match left.checked_sub(cost) {
        Some(rest) => store.set_fuel(rest),
        None => {
            store.set_fuel(0)?;
            Err(wasmtime::Error::new(HostCallBudget { call, cost, left }))
        }
    }
}

type Cx<'a> = StoreContextMut<'a, GuestState>;

/// Links `wasmtrade:guest/types` and a charging `wasmtrade:guest/host`:
/// each import pays for its work first, then is answered by the
/// [`host::Host`] implementation (`imports.rs`).
pub(crate) fn add_to_linker(l: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    use host::Host as H;
    types::add_to_linker::<GuestState, HasSelf<GuestState>>(l, |s| s)?;
    let mut i = l.instance(HOST_INSTANCE)?;
    i.func_wrap("now", |mut s: Cx<'_>, (): ()| {
        charge(&mut s, "now", cost::plain())?;
        Ok((H::now(s.data_mut()),))
    })?;
    i.func_wrap(
        "log",
        |mut s: Cx<'_>, (level, message): (types::LogLevel, String)| {
            charge(&mut s, "log", cost::log(message.len()))?;
            H::log(s.data_mut(), level, message);
            Ok(())
        },
    )?;
    i.func_wrap("random-u64", |mut s: Cx<'_>, (): ()| {
        charge(&mut s, "random-u64", cost::plain())?;
        Ok((H::random_u64(s.data_mut()),))
    })?;
    i.func_wrap("position-of", |mut s: Cx<'_>, (id,): (types::InstrumentId,)| {
        charge(&mut s, "position-of", cost::position_of())?;
        Ok((H::position_of(s.data_mut(), id),))
    })?;
    i.func_wrap("positions", |mut s: Cx<'_>, (): ()| {
        let n = s.data().ctx.positions.len();
        charge(&mut s, "positions", cost::positions(n))?;
        Ok((H::positions(s.data_mut()),))
    })?;
    i.func_wrap("account-view", |mut s: Cx<'_>, (): ()| {
        charge(&mut s, "account-view", cost::account_view())?;
        Ok((H::account_view(s.data_mut()),))
    })?;
    i.func_wrap(
        "indicator",
        |mut s: Cx<'_>, (name, id): (String, types::InstrumentId)| {
            let values = s.data_mut().indicator_len(&name, id);
            charge(&mut s, "indicator", cost::indicator(name.len(), values))?;
            Ok((H::indicator(s.data_mut(), name, id),))
        },
    )?;
    i.func_wrap(
        "instrument-symbol",
        |mut s: Cx<'_>, (id,): (types::InstrumentId,)| {
            let len = s.data().symbol_len(id);
            charge(&mut s, "instrument-symbol", cost::symbol(len))?;
            Ok((H::instrument_symbol(s.data_mut(), id),))
        },
    )?;
    i.func_wrap("instrument-by-symbol", |mut s: Cx<'_>, (symbol,): (String,)| {
        charge(&mut s, "instrument-by-symbol", cost::symbol(symbol.len()))?;
        Ok((H::instrument_by_symbol(s.data_mut(), symbol),))
    })?;
    i.func_wrap(
        "set-timer",
        |mut s: Cx<'_>, (name, at): (String, types::Timestamp)| {
            charge(&mut s, "set-timer", cost::set_timer(name.len()))?;
            H::set_timer(s.data_mut(), name, at);
            Ok(())
        },
    )?;
    i.func_wrap("kv-get", |mut s: Cx<'_>, (key,): (String,)| {
        let value = s.data().ctx.kv.get(&key).map_or(0, <[u8]>::len);
        charge(&mut s, "kv-get", cost::kv(key.len(), value))?;
        Ok((H::kv_get(s.data_mut(), key),))
    })?;
    i.func_wrap("kv-set", |mut s: Cx<'_>, (key, value): (String, Vec<u8>)| {
        charge(&mut s, "kv-set", cost::kv(key.len(), value.len()))?;
        H::kv_set(s.data_mut(), key, value);
        Ok(())
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::Arc;

    use wasmtime::{AsContextMut, Config, Engine, Store};
    use wasmtrade_model::{GuestContext, Instruments};

    use super::*;
    use crate::HostConfig;

    fn store(fuel: Option<u64>) -> Store<GuestState> {
        let mut config = Config::new();
        config.consume_fuel(fuel.is_some());
        let engine = Engine::new(&config).unwrap();
        let host = HostConfig {
            fuel_per_callback: fuel,
            ..HostConfig::default()
        };
        let ctx = GuestContext::new(Arc::new(Instruments::new()), 1);
        let budget = Arc::new(crate::memory::MemoryBudget::new(None));
        let mut store = Store::new(&engine, GuestState::new(ctx, &host, &budget));
        if let Some(f) = fuel {
            store.set_fuel(f).unwrap();
        }
        store
    }

    #[test]
    fn costs_grow_with_the_bytes_copied() {
        assert_eq!(bytes(0), 0);
        assert_eq!(bytes(1), 1);
        assert_eq!(bytes(8), 1);
        assert_eq!(bytes(9), 2);
        assert_eq!(cost::kv(3, 0), CALL + LOOKUP + 1);
        let mib = cost::kv(3, 1 << 20);
        let two_mib = cost::kv(3, 2 << 20);
        assert_eq!(two_mib - mib, (1 << 20) / BYTES_PER_UNIT);
        assert_eq!(mib, CALL + LOOKUP + 131_073);
        assert_eq!(cost::log(4096) - cost::log(0), 512);
        assert_eq!(cost::indicator(3, 100) - cost::indicator(3, 0), 100);
        assert_eq!(cost::positions(10) - cost::positions(0), 10 * (ENTRY + 5));
        assert_eq!(cost::position_of(), 125);
    }

    #[test]
    fn a_charge_comes_out_of_the_fuel_and_traps_when_short() {
        let mut store = store(Some(1_000));
        let mut cx = store.as_context_mut();
        charge(&mut cx, "kv-get", cost::kv(0, 4000)).unwrap();
        assert_eq!(cx.get_fuel().unwrap(), 1_000 - 620);
        let err = charge(&mut cx, "kv-get", cost::kv(0, 4000)).unwrap_err();
        let hit = err.downcast_ref::<HostCallBudget>().unwrap();
        assert_eq!((hit.call, hit.cost, hit.left), ("kv-get", 620, 380));
        // The budget is spent: the guest is out of fuel, not left with 380.
        assert_eq!(cx.get_fuel().unwrap(), 0);
    }

    #[test]
    fn without_fuel_a_host_work_budget_is_charged_and_refilled() {
        let mut store = store(None);
        let mut cx = store.as_context_mut();
        let per_call = cost::kv(0, 1 << 20);
        let calls = HOST_WORK_PER_CALLBACK / per_call;
        for _ in 0..calls {
            charge(&mut cx, "kv-get", per_call).unwrap();
        }
        let err = charge(&mut cx, "kv-get", per_call).unwrap_err();
        let hit = err.downcast_ref::<HostCallBudget>().unwrap();
        assert_eq!(hit.left, HOST_WORK_PER_CALLBACK - calls * per_call);
        assert!(
            charge(&mut cx, "now", cost::plain()).is_err(),
            "budget left empty"
        );
        cx.data_mut().host_budget.refill();
        charge(&mut cx, "now", cost::plain()).unwrap();
    }
}
