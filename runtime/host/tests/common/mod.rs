//! Builds the fixture guests in `tests/fixtures` once per test binary.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod hostile;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use wasmtrade_model::{Bar, GuestContext, InstrumentId, Instruments, Price, Quantity, Timestamp};

/// Directory of the built fixture `.wasm` files.
fn fixture_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let fixtures = manifest.join("tests/fixtures");
        // A separate target dir: the outer cargo holds the lock on the main one's build dir.
        let target = manifest.join("../../target/host-fixtures");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(&fixtures)
            .args(["build", "--release", "--target", "wasm32-wasip2", "--workspace"])
            .env("CARGO_TARGET_DIR", &target)
            .env_remove("RUSTFLAGS")
            // Not linted: `make test` sets clippy-driver as the workspace
            // wrapper for this repository's crates, not for the fixtures.
            .env_remove("RUSTC_WORKSPACE_WRAPPER")
            .env_remove("CLIPPY_ARGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_BUILD_TARGET")
            .status()
            .expect("run cargo to build the fixture guests");
        assert!(
            status.success(),
            "building the fixture guests failed (rustup target add wasm32-wasip2?)"
        );
        target.join("wasm32-wasip2/release")
    })
}

/// Bytes of a fixture, by crate name without the `host-fixture-` prefix.
pub fn fixture(name: &str) -> Vec<u8> {
    let file = format!("host_fixture_{}.wasm", name.replace('-', "_"));
    std::fs::read(fixture_dir().join(&file)).unwrap_or_else(|e| panic!("read {file}: {e}"))
}

/// A context with two instruments, AAPL (#0) and MSFT (#1).
pub fn context() -> GuestContext {
    let mut instruments = Instruments::new();
    instruments.intern("AAPL");
    instruments.intern("MSFT");
    GuestContext::new(Arc::new(instruments), 7)
}

/// The n-th bar of AAPL.
pub fn bar(n: i64) -> Bar {
    let close = Price::from_f64(100.0 + n as f64 * 0.25).unwrap();
    Bar {
        instrument: InstrumentId(0),
        ts: Timestamp::from_secs(n * 60),
        open: close,
        high: close,
        low: close,
        close,
        volume: Quantity::from_int(1000),
    }
}
