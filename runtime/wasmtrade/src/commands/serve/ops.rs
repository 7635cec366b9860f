//! The ops endpoints of `serve` (`server.ops_listen`): bound before the
//! runtime starts so that probes get answers during start-up.

use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use wasmtrade_ops::{Ops, OpsOptions, PolicyMetrics};

use super::ServeConfig;

/// How long open ops connections may take to finish at exit.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(2);

/// Binds `server.ops_listen` and starts answering (alive, not ready);
/// `None` when it is empty (disabled). The policies' metrics are served too.
pub async fn start(config: &ServeConfig, policies: &PolicyMetrics) -> anyhow::Result<Option<Ops>> {
    let listen = config.server.ops_listen.as_str();
    if listen.is_empty() {
        tracing::info!("ops endpoints disabled (server.ops_listen is empty)");
        return Ok(None);
    }
    let listener = TcpListener::bind(listen).await.with_context(|| {
        format!("cannot listen on {listen} (server.ops_listen): is another server running? (an empty value disables the ops endpoints)")
    })?;
    let addr = listener
        .local_addr()
        .context("cannot read the ops listening address")?;
    let mut options = OpsOptions::new(env!("CARGO_PKG_VERSION"), &config.data_dir);
    options.policy_metrics = Some(policies.clone());
    let ops = Ops::new(options);
    ops.serve(listener);
    eprintln!("wasmtrade serve: ops endpoints on http://{addr} (/healthz /readyz /status /metrics)");
    tracing::info!(%addr, "ops endpoints listening");
    Ok(Some(ops))
}
