//! Helpers for the end-to-end tests: where the real binary and the real
//! guests are, and how to run them.
//!
//! The guests are built by `make guests` (part of `make test`) into
//! `target/wasm32-wasip2/guest/`; the binary by `cargo build --release -p
//! wasmtrade`. Set `WASMTRADE_GUEST_DIR` / `WASMTRADE_BIN` to use others.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, bail};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The directory holding built guest components.
pub fn guest_dir() -> PathBuf {
    match std::env::var_os("WASMTRADE_GUEST_DIR") {
        Some(d) => PathBuf::from(d),
        None => workspace_root().join("target/wasm32-wasip2/guest"),
    }
}

/// Path of a built guest (`sma_cross`, `rsi`, ...); fails with what to run if missing.
pub fn guest_path(name: &str) -> anyhow::Result<PathBuf> {
    let p = guest_dir().join(format!("{name}.wasm"));
    if !p.is_file() {
        bail!(
            "guest {} is not built: run `make guests` (or `make test`)",
            p.display()
        );
    }
    Ok(p)
}

/// The bytes of a built guest.
pub fn guest_bytes(name: &str) -> anyhow::Result<Vec<u8>> {
    let p = guest_path(name)?;
    std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))
}

/// Path of the `wasmtrade` binary of the current profile.
pub fn wasmtrade_bin() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("WASMTRADE_BIN") {
        return Ok(PathBuf::from(p));
    }
    // The test executable lives in target/<profile>/deps/.
    let exe = std::env::current_exe().context("cannot find the test executable")?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("test executable is not in target/<profile>/deps")?;
    let bin = profile_dir.join("wasmtrade");
    if !bin.is_file() {
        bail!(
            "{} is not built: run `cargo build --release -p wasmtrade` (or `make test`)",
            bin.display()
        );
    }
    Ok(bin)
}

/// Runs the binary with `args` and returns its output.
pub fn run_cli<I, S>(args: I) -> anyhow::Result<Output>
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let bin = wasmtrade_bin()?;
    Command::new(&bin)
        .args(args)
        .env_remove("WASMTRADE_LOG")
        .output()
        .with_context(|| format!("cannot run {}", bin.display()))
}

/// A Python interpreter with TA-Lib (set up by `make test`).
pub fn python() -> anyhow::Result<PathBuf> {
    match std::env::var_os("WASMTRADE_PYTHON") {
        Some(p) => Ok(PathBuf::from(p)),
        None => bail!("set WASMTRADE_PYTHON to a python with TA-Lib and numpy, or run `make test`"),
    }
}
