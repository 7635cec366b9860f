//! Starting and stopping the live runtime.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

use wasmtrade_broker::Broker;
use wasmtrade_host::GuestEngine;
use wasmtrade_model::StrategyId;
use wasmtrade_store::{Store, StoreOptions};

use crate::bus::Bus;
use crate::config::LiveConfig;
use crate::core::{self, Control, Input};
use crate::error::LiveError;
use crate::feed::FeedStats;
use crate::gate::{GatedBroker, StartOptions};
use crate::handle::{Handle, Inner};
use crate::registry::Registry;
use crate::venue::{BarSink, Connected, spawn};

/// The store's directory inside the data dir.
pub const STORE_DIR: &str = "store";

/// A running runtime: the event loop thread, the paper market thread and
/// the [`Handle`] the API uses.
pub struct Runtime {
    handle: Handle,
    core: Option<JoinHandle<()>>,
    feed: Option<JoinHandle<()>>,
    /// The supervisor and the connection watch; awaited at shutdown.
    tasks: Vec<tokio::task::JoinHandle<()>>,
    stop_feed: Arc<AtomicBool>,
    /// What the venue needs kept while the runtime lives (IB market data
    /// subscriptions).
    _keep_alive: Option<Box<dyn std::any::Any + Send>>,
}

/// What a graceful shutdown did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Guest snapshots written to the store.
    pub snapshots: usize,
    /// Guests whose snapshot failed (name and reason).
    pub failed: Vec<(String, String)>,
    /// Bars the market played.
    pub bars: u64,
}

impl Runtime {
    /// Opens the store, starts the event loop, restores the active guests
    /// (from precompiled artifacts and their last snapshots) and starts the
    /// paper market. Every configuration problem is reported at once.
    pub async fn start(config: LiveConfig) -> Result<Runtime, LiveError> {
        Self::start_with(config, StartOptions::default()).await
    }

    /// [`start`](Self::start) with an order gate and readiness conditions
    /// (the Kubernetes Lease fences, in a pod).
    pub async fn start_with(config: LiveConfig, options: StartOptions) -> Result<Runtime, LiveError> {
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(LiveError::InvalidArgument(format!(
                "invalid configuration:\n  - {}",
                problems.join("\n  - ")
            )));
        }
        let data_dir = if config.data_dir.as_os_str().is_empty() {
            LiveConfig::default_data_dir()
        } else {
            config.data_dir.clone()
        };
        // Guests together get 60 % of the container's memory limit unless
        // the config names a budget: a few guests growing to their own
        // limits must not get the whole pod OOM-killed.
        let sandbox = config.guests.sandbox.clone().with_container_memory_budget(60);
        match sandbox.max_total_memory_bytes {
            Some(bytes) => tracing::info!(bytes, "memory budget of all guests together"),
            None => tracing::info!(
                "no memory budget across guests (no container limit found; set guests.sandbox.max_total_memory_bytes)"
            ),
        }
        let venue = crate::venue::from_config(&config)?;
        let (store, host, start) = tokio::task::spawn_blocking(move || {
            // The store owns its own directory: the data dir (a PVC root)
            // may also hold `lost+found`, the API token and models.
            let store = Store::open(data_dir.join(STORE_DIR), &StoreOptions::default())?;
            // A checkpoint or journal that cannot be read refuses the start
            // (never an empty book).
            let start = crate::checkpoint::Start::load(&store)?;
            let host = GuestEngine::new(sandbox)?;
            Ok::<_, LiveError>((store, host, start))
        })
        .await
        .map_err(|e| LiveError::Internal(format!("store set-up panicked: {e}")))??;
        let venue_name = venue.name();
        let (connected, start) = tokio::task::spawn_blocking(move || {
            let connected = venue.connect(&start);
            (connected, start)
        })
        .await
        .map_err(|e| LiveError::Internal(format!("connecting the {venue_name} panicked: {e}")))?;
        let Connected {
            instruments,
            broker,
            bars,
            memory,
            starting_cash,
            connection_probe,
            figures,
            keep_alive,
        } = connected?;
        tracing::info!(
            venue = venue_name,
            instruments = instruments.len(),
            "venue connected"
        );
        let store = Arc::new(store);
        let (risk, latches) = {
            let (store, from_file) = (store.clone(), config.risk.clone());
            tokio::task::spawn_blocking(move || {
                Ok::<_, LiveError>((
                    crate::risk::startup_limits(&store, &from_file)?,
                    crate::risk::startup_latches(&store)?,
                ))
            })
            .await
            .map_err(|e| LiveError::Internal(format!("risk set-up panicked: {e}")))??
        };
        if latches != Default::default() {
            tracing::warn!(
                ?latches,
                "kill switches or halts latched before the last stop are still on"
            );
        }
        let kill_signal = crate::risk::kill_signal();
        let traffic = Arc::new(crate::Traffic::default());
        let broker: Box<dyn Broker + Send> = Box::new(GatedBroker {
            inner: broker,
            gate: options.order_gate.clone(),
            traffic: traffic.clone(),
        });
        let readiness = options.readiness.clone();
        let bus = Arc::new(Bus::new(config.events.buffer, config.guests.log_lines_kept));
        let (tx, rx) = mpsc::channel::<Input>(config.events.queue);
        let (control_tx, control_rx) = mpsc::unbounded_channel();
        let core = {
            let (instruments, bus) = (instruments.clone(), bus.clone());
            let oms = start.oms(starting_cash)?;
            let compactor = start.compactor(store.clone(), config.store.order_history);
            let core_config = core::CoreConfig {
                risk,
                oms,
                compactor,
                flatten_on_fault: config.guests.quarantine.positions
                    == wasmtrade_host::PositionAction::Flatten,
                event_budget: config.guests.event_budget,
                snapshot_every_bars: config.guests.snapshot_every_bars,
                store: store.clone(),
                latches,
                kill_signal: kill_signal.clone(),
                journal: start.journal,
                traffic: traffic.clone(),
            };
            spawn("event-loop", move || {
                core::run(instruments, core_config, broker, bus, rx, control_rx)
            })?
        };
        let registry = Arc::new(Registry::new(
            store,
            Arc::new(host),
            instruments.clone(),
            config.guests.seed,
        ));
        let stats = Arc::new(FeedStats::default());
        let handle = Handle::new(Inner::new(
            tx.clone(),
            control_tx,
            bus,
            registry,
            instruments,
            config.clone(),
            stats.clone(),
            kill_signal,
            readiness,
            connection_probe,
            figures,
            traffic,
        ));
        let supervisor_feed = handle
            .supervisor_feed()
            .ok_or_else(|| LiveError::Internal("the supervisor's feed was already taken".into()))?;
        handle.restore_active().await?;
        for spec in options.policies.iter().cloned() {
            handle.add_policy(spec).await?;
        }
        let timeout = Duration::from_millis(config.broker.reconcile_timeout_ms);
        let outcome = handle.reconcile(memory, timeout).await?;
        handle.after_restore(&config.risk_changes, &outcome).await?;
        let supervisor = tokio::spawn(crate::supervisor::supervise(
            handle.clone(),
            supervisor_feed,
            config.guests.quarantine.clone(),
        ));
        let stop_feed = Arc::new(AtomicBool::new(false));
        let feed = bars.start(BarSink::new(tx, stop_feed.clone(), stats))?;
        handle.set_ready(true);
        let watch = handle.watch_connection(Duration::from_millis(500));
        Ok(Runtime {
            _keep_alive: keep_alive,
            handle,
            core: Some(core),
            feed,
            tasks: vec![supervisor, watch],
            stop_feed,
        })
    }

    /// The handle the API uses (cheap to clone).
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Graceful shutdown: readiness off, the market stops, the event in
    /// flight finishes, every guest is snapshotted into the store and the
    /// store is flushed.
    pub async fn shutdown(mut self) -> Result<ShutdownReport, LiveError> {
        self.handle.set_ready(false);
        self.stop_feed.store(true, Ordering::Relaxed);
        let (reply, states) = oneshot::channel();
        let mut report = ShutdownReport::default();
        if self.handle.send_control(Control::Stop(reply)).is_ok()
            && let Ok(states) = states.await
        {
            let registry = self.handle.inner().registry.clone();
            let (snapshots, failed) = tokio::task::spawn_blocking(move || {
                let (mut ok, mut failed) = (0, Vec::new());
                for s in states {
                    match s.state {
                        Ok(bytes) => {
                            let id = StrategyId::new(&s.name);
                            // Engine time: what the guest has seen (start-up
                            // hands it the fills after this).
                            match registry
                                .store()
                                .snapshots()
                                .put(&id, s.version, s.taken_at, &bytes)
                            {
                                Ok(()) => ok += 1,
                                Err(e) => failed.push((s.name, e.to_string())),
                            }
                        }
                        Err(reason) => failed.push((s.name, reason)),
                    }
                }
                if let Err(e) = registry.store().flush() {
                    failed.push(("<store>".into(), e.to_string()));
                }
                (ok, failed)
            })
            .await
            .map_err(|e| LiveError::Internal(format!("shutdown snapshot panicked: {e}")))?;
            report.snapshots = snapshots;
            report.failed = failed;
        }
        for t in [self.feed.take(), self.core.take()].into_iter().flatten() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
        report.bars = self.handle.market_bars();
        self.handle.mark_stopped();
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_shutdown_the_data_dir_reopens_in_the_same_process() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let config = LiveConfig {
                data_dir: dir.path().join("data"),
                ..LiveConfig::default()
            };
            let runtime = Runtime::start(config.clone()).await.unwrap();
            let handle = runtime.handle();
            assert!(handle.broker_disconnected().is_none());
            drop(handle);
            runtime.shutdown().await.unwrap();
            // The supervisor and the connection watch have let go of the
            // store: a second start in this process opens it again.
            let again = Runtime::start(config)
                .await
                .expect("the store is closed after shutdown");
            again.shutdown().await.unwrap();
        });
    }
}
