//! `wasmtrade serve`: the long-running runtime.

use crate::cli::ServeArgs;

/// Runs the runtime until SIGTERM/SIGINT.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    anyhow::bail!("serve is being built: {args:?}")
}
