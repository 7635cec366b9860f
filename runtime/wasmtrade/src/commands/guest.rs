//! `wasmtrade guest inspect`.

use anyhow::Context;
use wasmtrade_host::{GuestEngine, HostConfig};

use crate::cli::InspectArgs;
use crate::table::two_columns;

/// Validates a component against the strategy and indicator worlds and prints what it is.
pub fn inspect(args: InspectArgs) -> anyhow::Result<()> {
    let bytes = std::fs::read(&args.path).with_context(|| format!("cannot read {}", args.path.display()))?;
    let engine = GuestEngine::new(HostConfig::default()).context("cannot start the wasm engine")?;
    let (world, sha256) = match engine.load_strategy(&bytes) {
        Ok(m) => ("strategy", m.sha256().to_string()),
        Err(strategy_err) => match engine.load_indicator(&bytes) {
            Ok(m) => ("indicator", m.sha256().to_string()),
            Err(_) => {
                return Err(strategy_err)
                    .with_context(|| format!("{} is not a valid guest", args.path.display()));
            }
        },
    };
    if args.json {
        let v = serde_json::json!({
            "path": args.path.display().to_string(),
            "world": world,
            "sha256": sha256,
            "bytes": bytes.len(),
        });
        println!("{v}");
    } else {
        print!(
            "{}",
            two_columns(&[
                ("Path", args.path.display().to_string()),
                ("World", format!("wasmtrade:guest/{world}@0.1.0")),
                ("Size", format!("{} bytes", bytes.len())),
                ("SHA-256", sha256),
            ])
        );
    }
    Ok(())
}
