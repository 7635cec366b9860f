//! The ops server: an axum router over the shared state, the task counting
//! the runtime's events and the watchdog pinging the event loop, all
//! stopped by [`Ops::shutdown`].

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use tokio::task::JoinSet;
use wasmtrade_live::LiveError;

use crate::health::{Health, Phase, now, unix_seconds};
use crate::metrics::{self, Metrics};
use crate::source::{Sample, Source};

/// Settings of the ops server.
#[derive(Clone, Debug)]
pub struct OpsOptions {
    /// The version reported by `/status` and `wasmtrade_build_info`.
    pub version: String,
    /// The data dir reported by `/status`.
    pub data_dir: PathBuf,
    /// How often the watchdog pings the event loop.
    pub ping_every: Duration,
    /// How long the event loop may stay silent before `/healthz` fails.
    pub stall_after: Duration,
    /// How long a scrape or `/status` waits for the runtime's answer.
    pub poll_timeout: Duration,
    /// The hosted policies' metrics, served on `/metrics` too.
    pub policy_metrics: Option<crate::PolicyMetrics>,
}

impl OpsOptions {
    /// Defaults: ping every 2 s, stalled after 30 s of silence, 2 s per poll.
    pub fn new(version: impl Into<String>, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            version: version.into(),
            data_dir: data_dir.into(),
            ping_every: Duration::from_secs(2),
            stall_after: Duration::from_secs(30),
            poll_timeout: Duration::from_secs(2),
            policy_metrics: None,
        }
    }
}

struct Shared {
    options: OpsOptions,
    started: Instant,
    health: Health,
    metrics: Metrics,
    source: OnceLock<Arc<dyn Source>>,
}

/// The ops endpoints of `wasmtrade serve`: `/healthz`, `/readyz`, `/status`
/// and `/metrics`. Serve them first ([`Ops::serve`]), attach the runtime
/// once it started ([`Ops::attach`]), drain on SIGTERM ([`Ops::drain`]),
/// stop last ([`Ops::shutdown`]).
pub struct Ops {
    shared: Arc<Shared>,
    tasks: Mutex<JoinSet<()>>,
    stop: watch::Sender<bool>,
}

impl Ops {
    /// Ops endpoints in the starting phase (alive, not ready).
    pub fn new(options: OpsOptions) -> Self {
        let mut metrics = Metrics::new(&options.version, unix_seconds());
        if let Some(policies) = &options.policy_metrics {
            metrics.add_policies(policies);
        }
        let health = Health::new(options.stall_after);
        Self {
            shared: Arc::new(Shared {
                options,
                started: now(),
                health,
                metrics,
                source: OnceLock::new(),
            }),
            tasks: Mutex::new(JoinSet::new()),
            stop: watch::channel(false).0,
        }
    }

    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .spawn(task);
    }

    /// The routes, for serving elsewhere or testing in process.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .route("/status", get(status))
            .route("/metrics", get(metrics))
            .fallback(not_found)
            .with_state(self.shared.clone())
    }

    /// Answers on `listener` until [`Ops::shutdown`].
    pub fn serve(&self, listener: TcpListener) {
        let router = self.router();
        let mut stop = self.stop.subscribe();
        self.spawn(async move {
            let shutdown = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!("the ops server failed: {e}");
            }
        });
    }

    /// The runtime started: count its events, watch its event loop and
    /// follow its readiness. Only the first call has an effect.
    pub fn attach(&self, source: Arc<dyn Source>) {
        if self.shared.source.set(source.clone()).is_err() {
            return;
        }
        let rx = source.subscribe();
        self.shared.health.set_running();
        self.spawn(count_events(self.shared.clone(), rx, self.stop.subscribe()));
        self.spawn(watchdog(self.shared.clone(), source, self.stop.subscribe()));
    }

    /// Shutdown began: `/readyz` answers 503 from now on.
    pub fn drain(&self) {
        self.shared.health.set_draining();
    }

    /// The phase the process is in.
    pub fn phase(&self) -> Phase {
        self.shared.health.phase()
    }

    /// Stops the server and the tasks (waiting up to `timeout` for open
    /// connections to finish their request).
    pub async fn shutdown(self, timeout: Duration) {
        self.shared.health.set_draining();
        self.stop.send_replace(true);
        let mut tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner));
        let all = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(timeout, all).await.is_err() {
            tracing::warn!("the ops server did not stop within {timeout:?}: closing its connections");
        }
    }
}

/// Counts every event of the bus until told to stop; a lag is counted, not fatal.
async fn count_events(
    shared: Arc<Shared>,
    mut rx: tokio::sync::broadcast::Receiver<Arc<wasmtrade_live::Event>>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            event = rx.recv() => match event {
                Ok(e) => shared.metrics.record(&e),
                Err(RecvError::Lagged(n)) => {
                    shared.metrics.lagged(n);
                    tracing::warn!(missed = n, "the metrics subscriber fell behind the event bus");
                }
                Err(RecvError::Closed) => return,
            },
        }
    }
}

/// Pings the event loop every `ping_every` until told to stop.
async fn watchdog(shared: Arc<Shared>, source: Arc<dyn Source>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(shared.options.ping_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tick.tick() => {}
        }
        if shared.health.phase() == Phase::Draining {
            return;
        }
        let answer = tokio::time::timeout(shared.options.stall_after, source.ping()).await;
        note(&shared, answer.map(|r| r.map(|()| None)));
    }
}

/// Records what a round trip to the event loop said; returns the sample.
fn note(
    shared: &Shared,
    answer: Result<Result<Option<Sample>, LiveError>, tokio::time::error::Elapsed>,
) -> Option<Sample> {
    match answer {
        Ok(Ok(sample)) => {
            shared.health.loop_answered(now());
            sample
        }
        Ok(Err(LiveError::Unavailable(_))) => {
            if shared.health.phase() == Phase::Running {
                tracing::error!("the event loop has stopped: /healthz and /readyz now answer 503");
            }
            shared.health.loop_stopped();
            None
        }
        Ok(Err(e)) => {
            tracing::warn!("cannot read the runtime: {e}");
            None
        }
        Err(_) => {
            tracing::warn!("the event loop did not answer in time");
            None
        }
    }
}

impl Shared {
    /// Polls the runtime (if attached), keeps the sample for `/metrics` and
    /// updates `wasmtrade_up` / `wasmtrade_ready`.
    async fn refresh(&self) -> Option<Sample> {
        let sample = match self.source.get() {
            Some(source) => {
                let answer = tokio::time::timeout(self.options.poll_timeout, source.sample()).await;
                note(self, answer.map(|r| r.map(Some)))
            }
            None => None,
        };
        if let Some(s) = &sample {
            self.metrics.set_sample(s.clone());
        }
        let now = now();
        self.metrics
            .set_health(self.health.is_alive(now), self.readiness(now).ok);
        sample
    }

    fn readiness(&self, now: Instant) -> crate::health::Verdict {
        let runtime_ready = self.source.get().is_some_and(|s| s.is_ready());
        self.health.readiness(runtime_ready, now)
    }
}

async fn healthz(State(shared): State<Arc<Shared>>) -> Response {
    let v = shared.health.liveness(now());
    let code = if v.ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = match v.reason {
        Some(reason) => json!({ "alive": v.ok, "reason": reason }),
        None => json!({ "alive": v.ok }),
    };
    (code, Json(body)).into_response()
}

async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    let v = shared.readiness(now());
    let code = if v.ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = match v.reason {
        Some(reason) => json!({ "ready": v.ok, "reason": reason }),
        None => json!({ "ready": v.ok }),
    };
    (code, Json(body)).into_response()
}

async fn status(State(shared): State<Arc<Shared>>) -> Response {
    let sample = shared.refresh().await;
    let now = now();
    let ready = shared.readiness(now);
    let live = shared.health.liveness(now);
    let mut body = json!({
        "version": shared.options.version,
        "phase": shared.health.phase(),
        "alive": live.ok,
        "ready": ready.ok,
        "uptime_seconds": shared.started.elapsed().as_secs_f64(),
        "data_dir": shared.options.data_dir.display().to_string(),
    });
    if let Some(reason) = ready.reason.or(live.reason) {
        body["reason"] = json!(reason);
    }
    let Some(s) = sample else {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    };
    body["market"] = json!({
        "bars": s.market_bars,
        "bars_processed": s.account.bars_processed,
        "finished": s.market_finished,
    });
    body["modules"] = json!(s.modules);
    body["risk"] = json!(s.risk);
    body["account"] = json!(s.account);
    let collections: serde_json::Map<String, serde_json::Value> = s
        .collections
        .iter()
        .map(|c| (c.name.to_string(), json!(c.len)))
        .collect();
    body["collections"] = serde_json::Value::Object(collections);
    (StatusCode::OK, Json(body)).into_response()
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    shared.refresh().await;
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        shared.metrics.render(),
    )
        .into_response()
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        "not found: the ops endpoints are /healthz, /readyz, /status and /metrics\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

    use std::sync::atomic::{AtomicBool, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::sync::broadcast;
    use wasmtrade_live::{Event, EventKind, SwapRecord};
    use wasmtrade_model::Timestamp;

    use super::*;
    use crate::source::BoxFuture;

    struct Fake {
        ready: AtomicBool,
        alive: AtomicBool,
        events: broadcast::Sender<Arc<Event>>,
    }

    impl Fake {
        fn new() -> Arc<Self> {
            Arc::new(Self {
                ready: AtomicBool::new(true),
                alive: AtomicBool::new(true),
                events: broadcast::channel(4).0,
            })
        }

        fn answer(&self) -> Result<(), LiveError> {
            if self.alive.load(Ordering::Relaxed) {
                Ok(())
            } else {
                Err(LiveError::Unavailable("stopped".into()))
            }
        }
    }

    impl Source for Fake {
        fn is_ready(&self) -> bool {
            self.ready.load(Ordering::Relaxed)
        }
        fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
            self.events.subscribe()
        }
        fn ping(&self) -> BoxFuture<'_, Result<(), LiveError>> {
            Box::pin(async move { self.answer() })
        }
        fn sample(&self) -> BoxFuture<'_, Result<Sample, LiveError>> {
            Box::pin(async move {
                self.answer()?;
                Ok(Sample {
                    market_bars: 7,
                    ..Sample::default()
                })
            })
        }
    }

    async fn start() -> (Ops, String) {
        let ops = Ops::new(OpsOptions::new("9.9.9", "/data"));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        ops.serve(listener);
        (ops, addr)
    }

    /// A plain HTTP/1.0 GET: the status code and the body.
    async fn get(addr: &str, path: &str) -> (u16, String) {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(format!("GET {path} HTTP/1.0\r\nHost: test\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).await.unwrap();
        let code = raw.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        let body = raw
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (code, body)
    }

    fn json(body: &str) -> serde_json::Value {
        serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
    }

    #[tokio::test]
    async fn readiness_goes_from_starting_to_ready_to_draining() {
        let (ops, addr) = start().await;
        let (code, body) = get(&addr, "/readyz").await;
        assert_eq!(code, 503);
        assert!(json(&body)["reason"].as_str().unwrap().starts_with("starting"));
        assert_eq!(get(&addr, "/healthz").await.0, 200);

        let fake = Fake::new();
        fake.ready.store(false, Ordering::Relaxed);
        ops.attach(fake.clone());
        assert_eq!(get(&addr, "/readyz").await.0, 503, "the runtime is not ready yet");
        fake.ready.store(true, Ordering::Relaxed);
        let (code, body) = get(&addr, "/readyz").await;
        assert_eq!((code, json(&body)), (200, serde_json::json!({ "ready": true })));

        ops.drain();
        let (code, body) = get(&addr, "/readyz").await;
        assert_eq!(code, 503);
        assert_eq!(json(&body)["reason"], "shutting down");
        assert_eq!(get(&addr, "/healthz").await.0, 200, "draining is not dying");
        let (_, metrics) = get(&addr, "/metrics").await;
        assert!(metrics.contains("wasmtrade_ready 0\n"), "{metrics}");
        ops.shutdown(Duration::from_secs(2)).await;
        assert!(
            tokio::net::TcpStream::connect(&addr).await.is_err(),
            "still listening"
        );
    }

    #[tokio::test]
    async fn a_stopped_event_loop_fails_healthz_and_up() {
        let (ops, addr) = start().await;
        let fake = Fake::new();
        ops.attach(fake.clone());
        let (_, metrics) = get(&addr, "/metrics").await;
        assert!(metrics.contains("wasmtrade_up 1\n"), "{metrics}");
        fake.alive.store(false, Ordering::Relaxed);
        let (_, metrics) = get(&addr, "/metrics").await;
        assert!(metrics.contains("wasmtrade_up 0\n"), "{metrics}");
        assert!(
            metrics.contains("wasmtrade_market_bars_total 7\n"),
            "the last sample stays"
        );
        let (code, body) = get(&addr, "/healthz").await;
        assert_eq!(code, 503);
        assert_eq!(json(&body)["reason"], "the event loop has stopped");
        assert_eq!(get(&addr, "/readyz").await.0, 503);
        assert_eq!(get(&addr, "/status").await.0, 503);
        ops.shutdown(Duration::from_secs(2)).await;
    }

    #[tokio::test]
    async fn metrics_count_bus_events_and_status_is_json() {
        let (ops, addr) = start().await;
        let fake = Fake::new();
        ops.attach(fake.clone());
        let swap = EventKind::Swap(SwapRecord {
            name: "sma".into(),
            action: wasmtrade_live::SwapAction::Activate,
            from: 0,
            to: 1,
            pause_ns: 1_000,
            error: None,
        });
        fake.events
            .send(Arc::new(Event {
                seq: 1,
                ts: Timestamp::EPOCH,
                kind: swap,
            }))
            .unwrap();
        let series = "wasmtrade_swaps_total{action=\"activate\",outcome=\"ok\"} 1\n";
        let mut metrics = String::new();
        for _ in 0..100 {
            metrics = get(&addr, "/metrics").await.1;
            if metrics.contains(series) {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert!(metrics.contains(series), "{metrics}");

        let (code, body) = get(&addr, "/status").await;
        assert_eq!(code, 200);
        let status = json(&body);
        assert_eq!(status["version"], "9.9.9");
        assert_eq!(status["phase"], "running");
        assert_eq!(status["ready"], true);
        assert_eq!(status["data_dir"], "/data");
        assert_eq!(status["market"]["bars"], 7);
        assert_eq!(status["account"]["cash"], "0");
        assert!(status["modules"].as_array().unwrap().is_empty());
        assert_eq!(status["risk"]["kill_switches"], serde_json::json!([]));
        ops.shutdown(Duration::from_secs(2)).await;
    }

    #[tokio::test]
    async fn unknown_paths_are_404() {
        let (ops, addr) = start().await;
        let (code, body) = get(&addr, "/nope").await;
        assert_eq!(code, 404);
        assert!(body.contains("/healthz"), "{body}");
        ops.shutdown(Duration::from_secs(2)).await;
    }
}
