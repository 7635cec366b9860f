//! TEST FIXTURE, never deploy: a strategy with ambient authority.
//!
//! Reads a file (`std::fs::read`, importing `wasi:filesystem`) and the wall
//! clock (`std::time::SystemTime`, importing `wasi:clocks`). The host must
//! refuse it when it is loaded, naming the imports
//! (`HostError::ForbiddenImports`); it never runs.

use wasmtrade_sdk::{Bar, Context, Error, Intents, Strategy, export_strategy};

/// Tries to read `/etc/passwd` and the time on every bar.
#[derive(Debug)]
pub struct ForbiddenImport;

impl Strategy for ForbiddenImport {
    type Config = ();
    const NAME: &'static str = "hostile-forbidden-import";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn new(_config: (), _ctx: &mut dyn Context) -> Result<Self, Error> {
        Ok(Self)
    }

    #[allow(
        clippy::disallowed_methods,
        clippy::disallowed_types,
        reason = "reading the file system and the clock is the point of this fixture"
    )]
    fn on_bar(&mut self, ctx: &mut dyn Context, _bar: &Bar) -> Intents {
        let secret = std::fs::read("/etc/passwd").map_err(|e| Error::new(e.to_string()))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| Error::new(e.to_string()))?;
        ctx.info(&format!("read {} bytes at {}s", secret.len(), now.as_secs()));
        Ok(Vec::new())
    }
}

export_strategy!(ForbiddenImport);
