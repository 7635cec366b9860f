//! `wasmtrade serve`: the long-running runtime with its gRPC API, until
//! SIGTERM/SIGINT, then a graceful shutdown.

mod checkpoint_watch;
mod cluster;
mod config;
mod ops;
mod policies;
mod tokens;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use wasmtrade_live::Runtime;
use wasmtrade_server::Server;

use crate::cli::ServeArgs;
pub use config::ServeConfig;

/// Runs the runtime until SIGTERM/SIGINT.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = config::load(&args, std::env::vars())?;
    if args.print_config {
        print!(
            "{}",
            toml::to_string_pretty(&config).context("cannot print the configuration")?
        );
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("wasmtrade-api")
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let served = runtime.block_on(serve(config));
    // An upload's compilation that overran `guests.compile.timeout_ms` may
    // still run on a blocking thread (Cranelift cannot be interrupted); it
    // holds no store, so exit without waiting for it.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    served
}

/// The models and checkpoints directories: `$WASMTRADE_MODELS_DIR` and
/// `$WASMTRADE_CHECKPOINTS_DIR` (the `/models` and `/checkpoints` volumes in
/// a pod), by default `<data_dir>/models` and `<data_dir>/checkpoints`.
struct ModelDirs {
    store: wasmtrade_models::ModelStore,
    checkpoints: wasmtrade_models::Checkpoints,
    checkpoints_dir: std::path::PathBuf,
}

fn model_dirs(config: &ServeConfig) -> anyhow::Result<ModelDirs> {
    let dir = |var: &str, default: &str| {
        std::env::var_os(var)
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| config.data_dir.join(default))
    };
    let (models, checkpoints_dir) = (
        dir("WASMTRADE_MODELS_DIR", "models"),
        dir("WASMTRADE_CHECKPOINTS_DIR", "checkpoints"),
    );
    let store = wasmtrade_models::ModelStore::open(&models, 64 << 20)
        .with_context(|| format!("cannot open the models directory {}", models.display()))?;
    let checkpoints = wasmtrade_models::Checkpoints::open(&checkpoints_dir).with_context(|| {
        format!(
            "cannot open the checkpoints directory {}",
            checkpoints_dir.display()
        )
    })?;
    Ok(ModelDirs {
        store,
        checkpoints,
        checkpoints_dir,
    })
}

async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    // Before anything else: a SIGTERM that comes while the runtime starts
    // (a quick rollout) is a graceful stop right after the start, not the
    // default action of dying between "listening on" and the handler.
    let signals = Signals::listen()?;
    let principals = tokens::principals(&config)?;
    let listener = TcpListener::bind(&config.server.listen).await.with_context(|| {
        format!(
            "cannot listen on {} (server.listen): is another server running?",
            config.server.listen
        )
    })?;
    let addr = listener
        .local_addr()
        .context("cannot read the listening address")?;
    let policy_metrics = wasmtrade_ops::PolicyMetrics::default();
    let ops = ops::start(&config, &policy_metrics).await?;
    let dirs = model_dirs(&config)?;
    let specs = policies::specs(
        &config.policies,
        &dirs.store,
        &dirs.checkpoints_dir,
        &policy_metrics,
    )?;
    let cluster = cluster::start(&config).await?;
    let mut options = cluster.as_ref().map(cluster::Active::options).unwrap_or_default();
    options.policies = specs;
    let runtime = Runtime::start_with(config.live(), options)
        .await
        .map_err(|e| anyhow!("cannot start the runtime: {e}"))?;
    if let Some(cluster) = &cluster {
        cluster.forward_events(&runtime.handle());
    }
    if let Some(ops) = &ops {
        ops.attach(Arc::new(runtime.handle()));
    }
    tokio::spawn(checkpoint_watch::run(
        runtime.handle(),
        config.policies.clone(),
        dirs.store.clone(),
        dirs.checkpoints.clone(),
    ));
    let models = wasmtrade_server::Models::new(dirs.store, dirs.checkpoints)
        .with_activation_hook(policies::activation_hook(runtime.handle()))
        .with_policies(runtime.handle());
    let server = Server::with_principals(runtime.handle(), principals).with_models(models);
    let health = server.health();
    Server::set_serving(&health, true).await;
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let api = tokio::spawn(server.serve(listener, async {
        let _ = stop_rx.await;
    }));
    eprintln!(
        "wasmtrade serve: listening on {addr} (data dir {})",
        config.data_dir.display()
    );
    tracing::info!(%addr, "ready");
    let signal = signals.next().await;
    eprintln!("wasmtrade serve: {signal}: shutting down");
    // Readiness first (gRPC health and /readyz together), so the Service
    // stops sending new work.
    if let Some(ops) = &ops {
        ops.drain();
    }
    Server::set_serving(&health, false).await;
    let grace = Duration::from_secs(config.server.shutdown_grace_secs);
    match tokio::time::timeout(grace, runtime.shutdown()).await {
        Ok(Ok(report)) => {
            eprintln!(
                "wasmtrade serve: stopped after {} bars; {} guest snapshots saved{}",
                report.bars,
                report.snapshots,
                if report.failed.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; not saved: {}",
                        report
                            .failed
                            .iter()
                            .map(|(n, r)| format!("{n} ({r})"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            );
        }
        Ok(Err(e)) => eprintln!("wasmtrade serve: shutdown failed: {e}"),
        Err(_) => eprintln!(
            "wasmtrade serve: shutdown took longer than server.shutdown_grace_secs ({}s): exiting anyway",
            grace.as_secs()
        ),
    }
    // After the last order: release the Leases so a successor takes over at once.
    if let Some(cluster) = &cluster {
        cluster.cluster.shutdown().await;
    }
    let _ = stop_tx.send(());
    let api = tokio::time::timeout(Duration::from_secs(2), api).await;
    // Last: /readyz answers 503 until the very end.
    if let Some(ops) = ops {
        ops.shutdown(ops::STOP_TIMEOUT).await;
    }
    match api {
        Ok(Ok(Err(e))) => bail!("the API server failed: {e}"),
        _ => Ok(()),
    }
}

/// SIGTERM (Kubernetes) and SIGINT (Ctrl-C), listened for from the start.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn listen() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            term: signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?,
        })
    }

    /// Waits for the first of them (one that came earlier counts); names it.
    async fn next(mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}
