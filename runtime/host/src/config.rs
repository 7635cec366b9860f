//! Limits and knobs of the sandbox.

use serde::{Deserialize, Serialize};

use crate::HostError;

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;
/// Longest per-callback deadline accepted: one hour.
const MAX_DEADLINE_MS: u64 = 3_600_000;

/// How the host sandboxes guests. Every field has a default suited to
/// backtests; a TOML/JSON table may override any subset of them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HostConfig {
    /// Largest guest `.wasm` accepted, in bytes. Default 16 MiB.
    pub max_module_bytes: usize,
    /// Largest model a policy guest is handed, in bytes; a larger one is
    /// refused before the guest sees it. Default 64 MiB.
    pub max_model_bytes: usize,
    /// Fuel for one policy `load` (parsing and optimising a model costs far
    /// more than one event); `None` uses `fuel_per_callback`. Ignored when
    /// fuel is off. Default `Some(20_000_000_000)`.
    pub fuel_per_model_load: Option<u64>,
    /// Wall-clock budget of one policy `load`, in milliseconds, when
    /// deadlines are on (`deadline_ms`): a load still running then is
    /// stopped with a budget fault, the new instance is dropped and the
    /// running model goes on. A model load may take far longer than an
    /// event. `None` (the default) uses `deadline_ms`.
    pub model_load_deadline_ms: Option<u64>,
    /// Linear memory one guest may grow to, in bytes. Default 256 MiB.
    pub max_memory_bytes: usize,
    /// Linear memory all guests of the engine may hold together, in bytes:
    /// a growth that would pass it is refused, which stops the growing guest
    /// with a limit fault (quarantine in a live run) while the others keep
    /// running. `None` (the default) leaves the sum unbounded; serve sets it
    /// from the container's memory limit when it is not given (see
    /// docs/sandbox.md).
    pub max_total_memory_bytes: Option<usize>,
    /// Elements one guest table may grow to. Default 65 536.
    pub max_table_elements: usize,
    /// Core wasm instances, tables and memories one guest component may
    /// create (a Rust guest uses a handful). Default 32.
    pub max_instances: usize,
    /// Native stack guest code may use, in bytes. Default 512 KiB.
    pub max_wasm_stack: usize,
    /// Deterministic CPU budget per callback, in wasmtime fuel units (about
    /// one per wasm instruction); `None` turns fuel metering off, which makes
    /// guest code faster but lets a looping guest hang its thread until epoch
    /// deadlines arrive. Host calls are charged to the same budget for their
    /// work (`docs/host-calls.md`); with `None` they are charged to a budget
    /// of [`HOST_WORK_PER_CALLBACK`](crate::HOST_WORK_PER_CALLBACK) units per
    /// callback instead. Default `Some(50_000_000)`.
    pub fuel_per_callback: Option<u64>,
    /// Wall-clock budget per callback, in milliseconds, enforced with epoch
    /// interruption: a ticker thread advances the engine's epoch and a
    /// callback still running when its deadline passes is stopped with
    /// [`GuestFault::Budget`](wasmtrade_model::GuestFault::Budget). A callback
    /// is interrupted between `deadline_ms` and `deadline_ms` plus one tick
    /// (a tenth of the deadline, between 1 and 100 ms).
    ///
    /// Which budget to use: **fuel** counts instructions, so the same guest on
    /// the same events stops at the same instruction on every machine: use it
    /// for backtests and replays. The **deadline** measures time, which is what
    /// a live market cares about, but where it stops a guest depends on the
    /// machine and its load: use it in live trading (with or without fuel).
    /// `None` (the default) compiles no epoch checks and costs nothing.
    pub deadline_ms: Option<u64>,
    /// Guest instances (stores) this engine keeps alive at once, across all
    /// loaded modules; instantiating beyond it fails with
    /// [`HostError::TooManyGuests`]. With `pooling` the pool's `pool_guests`
    /// caps as well. Default 256.
    pub max_live_guests: usize,
    /// Intents one callback may return; more is a
    /// [`GuestFault::TooManyIntents`](wasmtrade_model::GuestFault::TooManyIntents).
    /// Default 1000.
    pub max_intents_per_callback: usize,
    /// Bytes of stdout/stderr kept between two log drains; the rest is
    /// dropped and counted. Default 64 KiB.
    pub max_log_bytes: usize,
    /// Pre-reserve guest slots with wasmtime's pooling allocator: faster
    /// instantiation and a hard cap of `pool_guests` live guests. Default off.
    pub pooling: bool,
    /// Guests that may be alive at once when `pooling` is on. Default 64.
    pub pool_guests: u32,
    /// Compile one guest's functions on every core (wasmtime's shared
    /// rayon pool). Fastest for one compilation at a time, but a second
    /// compilation started meanwhile queues behind all of the first's
    /// functions; off, each compilation runs on its caller's thread only, so
    /// concurrent compilations progress side by side. Default on; the live
    /// runtime turns it off (uploads are compiled concurrently there).
    pub parallel_compilation: bool,
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            max_module_bytes: 16 * MIB,
            max_model_bytes: 64 * MIB,
            fuel_per_model_load: Some(20_000_000_000),
            model_load_deadline_ms: None,
            max_memory_bytes: 256 * MIB,
            max_total_memory_bytes: None,
            max_table_elements: 65_536,
            max_instances: 32,
            max_wasm_stack: 512 * KIB,
            fuel_per_callback: Some(50_000_000),
            deadline_ms: None,
            max_live_guests: 256,
            max_intents_per_callback: 1000,
            max_log_bytes: 64 * KIB,
            pooling: false,
            pool_guests: 64,
            parallel_compilation: true,
        }
    }
}

impl HostConfig {
    /// This configuration with `max_total_memory_bytes` set, if it is not
    /// given, to `percent` % of the container's memory limit (when one can
    /// be read): the rest is the runtime's own (compiler, order book,
    /// journal, gRPC).
    pub fn with_container_memory_budget(mut self, percent: u8) -> Self {
        if self.max_total_memory_bytes.is_none()
            && let Some(limit) = crate::memory::container_memory_limit()
        {
            let share = limit / 100 * u64::from(percent.min(100));
            self.max_total_memory_bytes = usize::try_from(share).ok();
        }
        self
    }

    /// Checks the values, naming the first invalid field.
    pub fn validate(&self) -> Result<(), HostError> {
        fn bad(field: &'static str, reason: impl Into<String>) -> Result<(), HostError> {
            Err(HostError::Config {
                field,
                reason: reason.into(),
            })
        }
        if self.max_module_bytes == 0 {
            return bad("max_module_bytes", "must be positive");
        }
        if self.max_model_bytes == 0 {
            return bad("max_model_bytes", "must be positive");
        }
        if self.fuel_per_model_load == Some(0) {
            return bad(
                "fuel_per_model_load",
                "must be positive; omit it to use fuel_per_callback",
            );
        }
        if self.max_memory_bytes < 64 * KIB {
            return bad("max_memory_bytes", "must be at least one wasm page (65536)");
        }
        if u64::try_from(self.max_memory_bytes).is_err() || self.max_memory_bytes > 4096 * MIB {
            return bad("max_memory_bytes", "must be at most 4 GiB (wasm32)");
        }
        if let Some(total) = self.max_total_memory_bytes
            && total < 64 * KIB
        {
            return bad(
                "max_total_memory_bytes",
                "must be at least one wasm page (65536); omit it for no budget across guests",
            );
        }
        if self.max_table_elements == 0 {
            return bad("max_table_elements", "must be positive");
        }
        if self.max_instances == 0 {
            return bad("max_instances", "must be positive");
        }
        if !(16 * KIB..=64 * MIB).contains(&self.max_wasm_stack) {
            return bad("max_wasm_stack", "must be between 16 KiB and 64 MiB");
        }
        if self.fuel_per_callback == Some(0) {
            return bad("fuel_per_callback", "must be positive; omit it to turn fuel off");
        }
        if let Some(ms) = self.deadline_ms
            && !(1..=MAX_DEADLINE_MS).contains(&ms)
        {
            return bad(
                "deadline_ms",
                format!("must be between 1 and {MAX_DEADLINE_MS} (one hour); omit it to turn deadlines off"),
            );
        }
        if let Some(ms) = self.model_load_deadline_ms {
            if !(1..=MAX_DEADLINE_MS).contains(&ms) {
                return bad(
                    "model_load_deadline_ms",
                    format!("must be between 1 and {MAX_DEADLINE_MS} (one hour)"),
                );
            }
            if self.deadline_ms.is_none() {
                return bad(
                    "model_load_deadline_ms",
                    "needs deadlines on: set deadline_ms too (without it no deadline is compiled in)",
                );
            }
        }
        if self.max_live_guests == 0 {
            return bad("max_live_guests", "must be positive");
        }
        if self.max_intents_per_callback == 0 {
            return bad("max_intents_per_callback", "must be positive");
        }
        if self.pooling && self.pool_guests == 0 {
            return bad("pool_guests", "must be positive when pooling is on");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_load_deadline_needs_deadlines_on_and_a_sane_value() {
        let c = HostConfig {
            model_load_deadline_ms: Some(30_000),
            ..HostConfig::default()
        };
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("model_load_deadline_ms") && e.contains("deadline_ms"),
            "{e}"
        );
        let on = HostConfig {
            deadline_ms: Some(5),
            ..c.clone()
        };
        assert!(on.validate().is_ok());
        let zero = HostConfig {
            model_load_deadline_ms: Some(0),
            ..on
        };
        assert!(
            zero.validate()
                .unwrap_err()
                .to_string()
                .contains("model_load_deadline_ms")
        );
    }

    #[test]
    fn defaults_are_valid_and_partial_tables_deserialise() {
        HostConfig::default().validate().unwrap();
        let c: HostConfig = serde_json::from_str(r#"{"fuel_per_callback": null, "pooling": true}"#).unwrap();
        assert_eq!(c.fuel_per_callback, None);
        assert!(c.pooling);
        assert_eq!(c.max_memory_bytes, 256 * MIB);
    }

    #[test]
    fn rejects_unknown_fields_and_bad_values() {
        assert!(serde_json::from_str::<HostConfig>(r#"{"max_memory": 1}"#).is_err());
        let c = HostConfig {
            fuel_per_callback: Some(0),
            ..HostConfig::default()
        };
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("fuel_per_callback"), "{err}");
        for (c, field) in [
            (
                HostConfig {
                    deadline_ms: Some(0),
                    ..HostConfig::default()
                },
                "deadline_ms",
            ),
            (
                HostConfig {
                    max_live_guests: 0,
                    ..HostConfig::default()
                },
                "max_live_guests",
            ),
        ] {
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{err}");
        }
        let live: HostConfig =
            serde_json::from_str(r#"{"deadline_ms": 5, "fuel_per_callback": null}"#).unwrap();
        live.validate().unwrap();
        assert_eq!(live.deadline_ms, Some(5));
    }
}
