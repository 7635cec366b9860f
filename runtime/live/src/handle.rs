//! The runtime's API as async methods: what the gRPC server (and tests)
//! call. Module changes are serialised; each one is audited with who did it.
//! The module service is in `modules`, the trading side in `trading`, risk
//! control in `crate::risk` and `crate::approvals`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{Mutex, mpsc, oneshot};
use wasmtrade_model::Instruments;
use wasmtrade_store::Module;

use crate::bus::Bus;
use crate::config::LiveConfig;
use crate::core::{Command, Control, Input};
use crate::error::LiveError;
use crate::feed::FeedStats;
use crate::registry::Registry;
use crate::view::RunningInfo;

mod modules;
mod policies;
pub(crate) mod shadows;
mod trading;

/// Shared state behind a [`Handle`].
pub(crate) struct Inner {
    pub(crate) tx: mpsc::Sender<Input>,
    pub(crate) control: mpsc::UnboundedSender<Control>,
    pub(crate) bus: Arc<Bus>,
    pub(crate) registry: Arc<Registry>,
    instruments: Arc<Instruments>,
    config: LiveConfig,
    feed: Arc<FeedStats>,
    ready: AtomicBool,
    pub(crate) changes: Mutex<()>,
    /// Kill switches engaged here take effect inside the event in flight.
    pub(crate) kill_signal: Arc<wasmtrade_engine::KillSignal>,
    /// Extra readiness conditions (Lease fences).
    readiness: Vec<crate::gate::ReadinessCheck>,
    /// The broker connection: `None` while connected, else why not.
    connection: crate::gate::ReadinessCheck,
    /// The broker adapter's own figures (reconnects, pacing).
    figures: crate::gate::FigureProbe,
    /// Broker requests and reports, journal commit times.
    traffic: Arc<crate::Traffic>,
    /// Set once shutdown has finished: background tasks (supervisor,
    /// connection watch) drop their handles, so the store is closed when
    /// the last outside handle goes (an in-process restart can reopen it).
    stopped: tokio::sync::watch::Sender<bool>,
    /// The outcome of start-up reconciliation.
    pub(crate) reconciliation: std::sync::Mutex<Option<crate::reconcile::ReconcileOutcome>>,
    /// Bounds the compilations of uploads (`guests.compile`).
    pub(crate) compiles: crate::compile::CompileGate,
    /// The running policies as started, each with the model version it
    /// runs now: what a restart after a fault rebuilds.
    pub(crate) policies: std::sync::Mutex<std::collections::BTreeMap<String, crate::policy::PolicySpec>>,
}

impl Inner {
    #[allow(clippy::too_many_arguments)] // one field each; built in one place (Runtime::start)
    pub(crate) fn new(
        tx: mpsc::Sender<Input>,
        control: mpsc::UnboundedSender<Control>,
        bus: Arc<Bus>,
        registry: Arc<Registry>,
        instruments: Arc<Instruments>,
        config: LiveConfig,
        feed: Arc<FeedStats>,
        kill_signal: Arc<wasmtrade_engine::KillSignal>,
        readiness: Vec<crate::gate::ReadinessCheck>,
        connection: crate::gate::ReadinessCheck,
        figures: crate::gate::FigureProbe,
        traffic: Arc<crate::Traffic>,
    ) -> Self {
        Self {
            compiles: crate::compile::CompileGate::new(config.guests.compile.clone()),
            tx,
            control,
            bus,
            registry,
            instruments,
            config,
            feed,
            ready: AtomicBool::new(false),
            changes: Mutex::new(()),
            kill_signal,
            readiness,
            connection,
            figures,
            traffic,
            reconciliation: std::sync::Mutex::new(None),
            policies: std::sync::Mutex::new(std::collections::BTreeMap::new()),
            stopped: tokio::sync::watch::channel(false).0,
        }
    }
}

/// A module as stored, with what runs of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleInfo {
    /// Versions, status, active version and config from the store.
    pub module: Module,
    /// The running guest, if any.
    pub running: Option<RunningInfo>,
}

/// Cheap-to-clone access to a running runtime.
#[derive(Clone)]
pub struct Handle {
    inner: Arc<Inner>,
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, LiveError> + Send + 'static,
) -> Result<T, LiveError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| LiveError::task("a blocking task failed", e))?
}

impl Handle {
    pub(crate) fn new(inner: Inner) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    pub(crate) fn set_ready(&self, ready: bool) {
        self.inner.ready.store(ready, Ordering::Relaxed);
    }

    /// True once start-up finished and until shutdown begins.
    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::Relaxed) && self.not_ready_reasons().is_empty()
    }

    /// Why the runtime is not ready although started: the broker connection
    /// is down, a Lease fence is closed (empty when all is well).
    pub fn not_ready_reasons(&self) -> Vec<String> {
        let connection = (self.inner.connection)();
        self.inner
            .readiness
            .iter()
            .filter_map(|check| check())
            .chain(connection)
            .collect()
    }

    /// The broker adapter's figures (reconnects, pacing); empty for the paper brokers.
    pub fn broker_figures(&self) -> Vec<crate::gate::BrokerFigure> {
        (self.inner.figures)()
    }

    /// Broker requests and reports so far, and journal commit times.
    pub fn traffic(&self) -> crate::TrafficFigures {
        self.inner.traffic.figures()
    }

    /// `(appended, not yet durable)` records of the order journal.
    pub fn journal_progress(&self) -> (u64, u64) {
        let journal = self.inner.registry.store().journal();
        let seq = |s: Option<wasmtrade_store::Seq>| s.map_or(0, |s| s.0);
        let (written, durable) = (seq(journal.last_seq()), seq(journal.durable_seq()));
        (written, written.saturating_sub(durable))
    }

    /// `(created since start, alive now)` guest instances of the host engine.
    pub fn guest_instances(&self) -> (u64, u64) {
        self.inner.registry.guest_instances()
    }

    /// `None` while the broker is connected, else why not.
    pub fn broker_disconnected(&self) -> Option<String> {
        (self.inner.connection)()
    }

    /// Tells the background tasks the runtime has shut down.
    pub(crate) fn mark_stopped(&self) {
        self.inner.stopped.send_replace(true);
    }

    /// Resolves once the runtime has shut down (its background tasks stop then).
    pub fn stopped(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.inner.stopped.subscribe();
        async move {
            let _ = rx.wait_for(|stopped| *stopped).await;
        }
    }

    /// Publishes a `broker_connection` event whenever the broker connection
    /// goes down or comes back (polled every `every`), until the bus closes.
    pub(crate) fn watch_connection(&self, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
        let handle = self.clone();
        let stopped = self.stopped();
        tokio::spawn(async move {
            tokio::pin!(stopped);
            let mut last: Option<String> = None;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = &mut stopped => return,
                }
                if !handle.inner.ready.load(Ordering::Relaxed) && last.is_some() {
                    return; // shutting down
                }
                let now = handle.broker_disconnected();
                if now != last {
                    if let Some(why) = &now {
                        tracing::error!("broker disconnected: {why}");
                    } else {
                        tracing::info!("broker connected again");
                    }
                    handle.inner.bus.publish(
                        crate::clock::unix_now(),
                        crate::event::EventKind::BrokerConnection {
                            connected: now.is_none(),
                            detail: now.clone().unwrap_or_default(),
                        },
                    );
                    last = now;
                }
                if handle.inner.control.is_closed() {
                    return;
                }
            }
        })
    }

    /// The instruments of the market.
    pub fn instruments(&self) -> &Arc<Instruments> {
        &self.inner.instruments
    }

    /// The configuration in force.
    pub fn config(&self) -> &LiveConfig {
        &self.inner.config
    }

    /// Bars the paper market has played so far.
    pub fn market_bars(&self) -> u64 {
        self.inner.feed.bars.load(Ordering::Relaxed)
    }

    /// True once the paper market has nothing more to play.
    pub fn market_finished(&self) -> bool {
        self.inner.feed.finished.load(Ordering::Relaxed)
    }

    /// Largest upload accepted, in bytes.
    pub fn max_upload_bytes(&self) -> u64 {
        self.inner.config.guests.max_upload_bytes
    }

    pub(crate) async fn command<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, LiveError> {
        let (tx, rx) = oneshot::channel();
        self.send_control(Control::Command(make(tx)))?;
        rx.await.map_err(|_| LiveError::stopped())
    }

    /// Queues a control message and wakes the loop if it idles (a full bar
    /// queue means it is busy and drains the control queue before each bar).
    pub(crate) fn send_control(&self, message: Control) -> Result<(), LiveError> {
        self.inner
            .control
            .send(message)
            .map_err(|_| LiveError::stopped())?;
        let _ = self.inner.tx.try_send(Input::Wake);
        Ok(())
    }

    /// Queues a command whose answer nobody waits for.
    pub(crate) fn send_command(&self, command: Command) -> Result<(), LiveError> {
        self.send_control(Control::Command(command))
    }

    /// An audit record without a sha256 (runtime actions).
    pub(crate) fn record(&self, who: &str, action: &str, name: &str, version: u32, detail: &str) {
        self.audit(who, action, name, version, "", detail);
    }
}
