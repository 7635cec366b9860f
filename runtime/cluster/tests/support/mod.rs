//! A fake Kubernetes API server on loopback that replays recorded
//! exchanges (tests/fixtures/*.json) to kube's real client and records
//! what the client sent.
//!
//! A fixture is `{ "description": ..., "exchanges": [ { "request": { "method",
//! "path", "expect": { "<JSON pointer>": <value> } }, "response": { "status",
//! "body" }, "repeat": false } ] }`. Each request is answered by the first
//! unused exchange with its method and path (so Lease and Event traffic
//! may interleave); a `repeat` exchange answers any number of requests.
//! In `expect` and response bodies `"$HOLDER"` stands for the holder
//! identity of the process under test; in `expect`, `"$ANY"` means
//! "present" and `"$ABSENT"` means "missing or null".

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use wasmtrade_cluster::{
    Cluster, ClusterConfig, LeaseTiming, PodIdentity, RawClusterConfig, WallClock, client_from,
};

/// One request as the fake server received it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub content_type: Option<String>,
    pub body: Value,
}

struct Exchange {
    method: String,
    path: String,
    expect: serde_json::Map<String, Value>,
    status: u16,
    body: Value,
    repeat: bool,
    used: bool,
}

struct Shared {
    holder: String,
    exchanges: Mutex<Vec<Exchange>>,
    recorded: Mutex<Vec<Recorded>>,
    problems: Mutex<Vec<String>>,
    /// Black-holes every request (a network partition).
    partitioned: AtomicBool,
}

/// The running fake API server.
pub struct FakeApi {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("{name}.json"))
}

fn substitute(value: &Value, holder: &str) -> Value {
    match value {
        Value::String(s) if s == "$HOLDER" => Value::String(holder.to_string()),
        Value::Array(items) => Value::Array(items.iter().map(|v| substitute(v, holder)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), substitute(v, holder)))
                .collect(),
        ),
        other => other.clone(),
    }
}

impl FakeApi {
    /// Serves the exchanges of the named fixtures, in order, on a fresh
    /// loopback port.
    pub async fn start(fixtures: &[&str], holder: &str) -> Result<FakeApi> {
        let mut exchanges = Vec::new();
        for name in fixtures {
            let path = fixture_path(name);
            let text =
                std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            let fixture: Value =
                serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
            let Some(list) = fixture["exchanges"].as_array() else {
                bail!("{}: no `exchanges` array", path.display());
            };
            for (i, ex) in list.iter().enumerate() {
                let req = &ex["request"];
                let resp = &ex["response"];
                let (Some(method), Some(p), Some(status)) = (
                    req["method"].as_str(),
                    req["path"].as_str(),
                    resp["status"].as_u64(),
                ) else {
                    bail!("{}: exchange {i} lacks method, path or status", path.display());
                };
                exchanges.push(Exchange {
                    method: method.to_string(),
                    path: p.to_string(),
                    expect: req["expect"].as_object().cloned().unwrap_or_default(),
                    status: u16::try_from(status)?,
                    body: substitute(&resp["body"], holder),
                    repeat: ex["repeat"].as_bool().unwrap_or(false),
                    used: false,
                });
            }
        }
        let shared = Arc::new(Shared {
            holder: holder.to_string(),
            exchanges: Mutex::new(exchanges),
            recorded: Mutex::new(Vec::new()),
            problems: Mutex::new(Vec::new()),
            partitioned: AtomicBool::new(false),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeApi { addr, shared, task })
    }

    /// A kube client for this server (kube's real `Client`, plain HTTP).
    pub fn client(&self) -> Result<kube::Client> {
        let url = format!("http://{}", self.addr).parse()?;
        let mut config = kube::Config::new(url);
        config.default_namespace = "trading".to_string();
        Ok(client_from(config)?)
    }

    /// From now on every request hangs unanswered.
    pub fn partition(&self) {
        self.shared.partitioned.store(true, Ordering::SeqCst);
    }

    /// The requests received so far.
    pub fn recorded(&self) -> Vec<Recorded> {
        self.shared.recorded.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Requests received with `method` on `path` (a trailing `*` matches
    /// any suffix).
    pub fn requests(&self, method: &str, path: &str) -> Vec<Recorded> {
        self.recorded()
            .into_iter()
            .filter(|r| r.method == method && path_matches(path, &r.path))
            .collect()
    }

    /// Fails on any unexpected request, unmet expectation, or (unless
    /// `allow_unused`) exchange never requested.
    pub fn verify(&self, allow_unused: bool) -> Result<()> {
        let mut problems = self.shared.problems.lock().map(|p| p.clone()).unwrap_or_default();
        if !allow_unused && let Ok(exchanges) = self.shared.exchanges.lock() {
            for ex in exchanges.iter().filter(|e| !e.used && !e.repeat) {
                problems.push(format!("never requested: {} {}", ex.method, ex.path));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            bail!("{}\nrequests: {:#?}", problems.join("\n"), self.recorded())
        }
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An exact path, or a prefix ending in `*` (for generated names).
fn path_matches(pattern: &str, path: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => path.starts_with(prefix),
        None => pattern == path,
    }
}

fn check_expectations(
    expect: &serde_json::Map<String, Value>,
    body: &Value,
    holder: &str,
    what: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    for (pointer, want) in expect {
        let got = body.pointer(pointer);
        let ok = match want.as_str() {
            Some("$ANY") => got.is_some_and(|v| !v.is_null()),
            Some("$ABSENT") => got.is_none_or(Value::is_null),
            Some("$HOLDER") => got.and_then(Value::as_str) == Some(holder),
            _ => got == Some(want),
        };
        if !ok {
            out.push(format!("{what}: {pointer} expected {want}, got {got:?}"));
        }
    }
    out
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if shared.partitioned.load(Ordering::SeqCst) {
        std::future::pending::<()>().await;
    }
    let body_json: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap_or(Value::String(String::from_utf8_lossy(&body).into()))
    };
    let recorded = Recorded {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: uri.query().map(str::to_string),
        content_type: headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body: body_json.clone(),
    };
    let what = format!("{} {}", recorded.method, recorded.path);
    if let Ok(mut r) = shared.recorded.lock() {
        r.push(recorded);
    }
    let answer = {
        let Ok(mut exchanges) = shared.exchanges.lock() else {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        exchanges
            .iter_mut()
            .find(|e| !e.used && e.method == method.as_str() && path_matches(&e.path, uri.path()))
            .map(|e| {
                e.used = !e.repeat;
                let problems = check_expectations(&e.expect, &body_json, &shared.holder, &what);
                (e.status, e.body.clone(), problems)
            })
    };
    match answer {
        Some((status, body, problems)) => {
            if let Ok(mut p) = shared.problems.lock() {
                p.extend(problems);
            }
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, axum::Json(body)).into_response()
        }
        None => {
            if let Ok(mut p) = shared.problems.lock() {
                p.push(format!("unexpected request: {what}"));
            }
            let status = serde_json::json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": format!("fake api server: no recorded exchange for {what}"),
                "reason": "InternalError", "code": 500
            });
            (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(status)).into_response()
        }
    }
}

/// 2026-03-01T10:00:00Z, the wall-clock time the fixtures are written for.
pub fn fixture_time() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_772_359_200)
}

/// A wall clock that starts at [`fixture_time`] and runs with real time.
pub fn fixture_clock() -> WallClock {
    let start = tokio::time::Instant::now();
    Arc::new(move || fixture_time() + start.elapsed())
}

/// The identity of the process under test: pod `wasmtrade-0` in `trading`.
pub fn identity() -> Result<PodIdentity> {
    Ok(PodIdentity::new(
        "wasmtrade-0",
        "trading",
        Some("3a1e9c0d-5b7f-4c2e-8d61-0f4b2a9e7c55"),
    )?)
}

/// Default settings (15 s Lease), events off unless asked for.
pub fn config(events: bool) -> Result<ClusterConfig> {
    Ok(RawClusterConfig::default().validate()?.with_events(events))
}

/// The Lease duration of [`fast_config`].
pub const FAST_LEASE: Duration = Duration::from_secs(2);
/// The fence window of [`fast_config`].
pub const FAST_WINDOW: Duration = Duration::from_millis(1500);

/// Fast settings for time-dependent tests: 2 s Lease, renew every 250 ms,
/// fence margin 500 ms (fence window 1.5 s).
pub fn fast_config() -> Result<ClusterConfig> {
    let timing = LeaseTiming::new(FAST_LEASE, Duration::from_millis(250), Duration::from_millis(500))?;
    Ok(config(false)?.with_timing(timing))
}

/// A cluster integration talking to `api`.
pub fn cluster(api: &FakeApi, identity: PodIdentity, config: ClusterConfig) -> Result<Cluster> {
    Ok(Cluster::builder(api.client()?, identity, config)
        .wall_clock(fixture_clock())
        .build())
}

/// The Lease path of account DU123456 in namespace `trading`.
pub const LEASE_PATH: &str =
    "/apis/coordination.k8s.io/v1/namespaces/trading/leases/wasmtrade-account-du123456";
/// The Lease collection path in namespace `trading`.
pub const LEASES_PATH: &str = "/apis/coordination.k8s.io/v1/namespaces/trading/leases";
/// The Event collection path in namespace `trading`.
pub const EVENTS_PATH: &str = "/apis/events.k8s.io/v1/namespaces/trading/events";

/// Polls `done` every 10 ms until it holds or `limit` passes; returns when
/// it first held.
pub async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> Result<tokio::time::Instant> {
    let start = tokio::time::Instant::now();
    loop {
        if done() {
            return Ok(tokio::time::Instant::now());
        }
        if start.elapsed() > limit {
            bail!("condition not met within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `METHOD path` of every request so far.
pub fn lines(api: &FakeApi) -> Vec<String> {
    api.recorded()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}
