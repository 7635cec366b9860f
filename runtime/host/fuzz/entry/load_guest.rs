//! The `load_guest` fuzz entry point, shared by the libFuzzer target
//! (`fuzz_targets/load_guest.rs`, nightly, `make fuzz`) and the stable replay
//! test (`runtime/host/tests/fuzz_corpus.rs`, part of `make test`):
//! upload → validate → compile → link → instantiate with arbitrary bytes, as
//! a strategy and as an indicator. Every input must end in `Ok` or a
//! `HostError`/`GuestFault`: never a panic, abort or hang.

use std::sync::{Arc, OnceLock};

use wasmtrade_host::{GuestEngine, HostConfig, HostError};
use wasmtrade_model::{
    Bar, GuestContext, IndicatorGuest, InstrumentId, Instruments, Price, Quantity, StrategyGuest, Timestamp,
};

/// One engine for the whole run, with small limits so one input stays fast.
fn engine() -> &'static GuestEngine {
    static ENGINE: OnceLock<GuestEngine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let config = HostConfig {
            max_module_bytes: 4 << 20,
            max_memory_bytes: 16 << 20,
            fuel_per_callback: Some(2_000_000),
            ..HostConfig::default()
        };
        match GuestEngine::new(config) {
            Ok(e) => e,
            Err(e) => panic!("the fuzz engine config is invalid: {e}"),
        }
    })
}

fn context() -> GuestContext {
    let mut instruments = Instruments::new();
    instruments.intern("AAPL");
    GuestContext::new(Arc::new(instruments), 1)
}

fn bar() -> Bar {
    let close = Price::from_int(100);
    Bar {
        instrument: InstrumentId(0),
        ts: Timestamp::from_secs(60),
        open: close,
        high: close,
        low: close,
        close,
        volume: Quantity::from_int(10),
    }
}

/// Loads `data` as a strategy (or, when it is another world, an indicator)
/// and drives one callback and a snapshot when it gets that far.
pub fn run(data: &[u8]) {
    let engine = engine();
    // Compiling is the expensive step: try the indicator world only when the
    // bytes compiled but are not a strategy.
    match engine.load_strategy(data) {
        Ok(module) => {
            if let Ok(mut guest) = module.instantiate(context(), "{}") {
                let _ = guest.on_bar(&bar());
                let _ = guest.snapshot();
            }
        }
        Err(HostError::WorldMismatch { .. }) => {
            if let Ok(module) = engine.load_indicator(data)
                && let Ok(mut guest) = module.instantiate(context(), "{}")
            {
                let _ = guest.update(&bar());
                let _ = guest.snapshot();
            }
        }
        Err(_) => {}
    }
}
