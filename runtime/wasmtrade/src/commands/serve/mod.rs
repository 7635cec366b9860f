//! `wasmtrade serve`: the long-running runtime with its gRPC API, until
//! SIGTERM/SIGINT, then a graceful shutdown.

mod cluster;
mod config;
mod ops;
mod policies;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use wasmtrade_live::Runtime;
use wasmtrade_server::Server;

use crate::cli::ServeArgs;
pub use config::ServeConfig;

/// Environment variable holding the API token itself.
pub const TOKEN_ENV: &str = "WASMTRADE_TOKEN";
/// Name of the generated token file in the data dir.
pub const TOKEN_FILE: &str = "api-token";

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
    runtime.block_on(serve(config))
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
    let token = token(&config)?;
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
    let models = wasmtrade_server::Models::new(dirs.store, dirs.checkpoints)
        .with_activation_hook(policies::activation_hook(runtime.handle()));
    let server = Server::new(runtime.handle(), &token).with_models(models);
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
    let signal = wait_for_signal().await?;
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

/// Waits for SIGTERM (Kubernetes) or SIGINT (Ctrl-C); names the one that came.
async fn wait_for_signal() -> anyhow::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}

/// The API token: `WASMTRADE_TOKEN`, else `server.token_file`, else the
/// token generated (once) into the data dir.
fn token(config: &ServeConfig) -> anyhow::Result<String> {
    if let Ok(t) = std::env::var(TOKEN_ENV)
        && !t.trim().is_empty()
    {
        return Ok(t.trim().to_string());
    }
    if let Some(path) = &config.server.token_file {
        let t = std::fs::read_to_string(path).with_context(|| {
            format!(
                "cannot read the API token file {} (server.token_file)",
                path.display()
            )
        })?;
        let t = t.trim();
        if t.is_empty() {
            bail!(
                "the API token file {} (server.token_file) is empty",
                path.display()
            );
        }
        return Ok(t.to_string());
    }
    generated_token(&config.data_dir)
}

fn generated_token(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join(TOKEN_FILE);
    if let Ok(t) = std::fs::read_to_string(&path)
        && !t.trim().is_empty()
    {
        return Ok(t.trim().to_string());
    }
    let mut raw = [0u8; 32];
    {
        use std::io::Read;
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut raw))
            .context("cannot read /dev/urandom to generate an API token: set WASMTRADE_TOKEN")?;
    }
    let token = hex::encode(raw);
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data_dir)
            .with_context(|| format!("cannot create the data dir {}", data_dir.display()))?;
    }
    write_private(&path, &token)?;
    eprintln!(
        "wasmtrade serve: generated an API token into {} (set WASMTRADE_TOKEN or server.token_file to choose one)",
        path.display()
    );
    Ok(token)
}

fn write_private(path: &Path, token: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create the token file {}", path.display()))?;
    f.write_all(token.as_bytes())
        .with_context(|| format!("cannot write the token file {}", path.display()))
}
