//! Kubernetes Events (`events.k8s.io/v1`) about this pod: strategy swaps,
//! quarantines, kill-switch changes and account Leases.
//!
//! Publishing is best-effort and never blocks the caller: [`EventSink`]
//! methods put the event on a bounded queue (`try_send`; a full queue
//! drops the event and counts it) and a background task writes it. A
//! failed write is logged and dropped. The same event (type, reason,
//! note) repeated within ten minutes is not written again: like
//! client-go's event recorder, the first Event gets a `series` whose count
//! and `lastObservedTime` are patched at most every ten seconds. New Events
//! are limited by a token bucket (burst 25, then one per ten seconds).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::identity::PodIdentity;
use crate::lease::{WallClock, micro_time};

/// The `reportingController` of every Event.
pub const REPORTING_CONTROLLER: &str = "wasmtrade.io/runtime";

const QUEUE: usize = 256;
const AGGREGATE_WINDOW: Duration = Duration::from_secs(600);
const SERIES_FLUSH: Duration = Duration::from_secs(10);
const BURST: u32 = 25;
const REFILL_EVERY: Duration = Duration::from_secs(10);
const MAX_CACHED: usize = 512;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Which kind of hot swap happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SwapKind {
    /// A version was activated (reason `StrategyActivated`).
    Activated,
    /// An operator rolled back to an earlier version (`StrategyRolledBack`).
    RolledBack,
    /// A shadow version was promoted (`StrategyPromoted`).
    Promoted,
    /// A failed `init`/`restore` kept the old version (`StrategyAutoRolledBack`, Warning).
    AutoRolledBack,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Type {
    Normal,
    Warning,
}

impl Type {
    fn as_str(self) -> &'static str {
        match self {
            Type::Normal => "Normal",
            Type::Warning => "Warning",
        }
    }
}

#[derive(Debug)]
struct Pending {
    type_: Type,
    reason: &'static str,
    action: &'static str,
    note: String,
}

/// Publishes Kubernetes Events about this pod. Cheap to clone; every
/// method returns at once.
#[derive(Clone, Debug)]
pub struct EventSink {
    tx: Option<mpsc::Sender<Pending>>,
    dropped: Arc<AtomicU64>,
}

impl EventSink {
    /// A sink that publishes nothing (outside a pod, or `events = false`).
    pub fn disabled() -> Self {
        Self {
            tx: None,
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    /// A strategy version changed.
    pub fn swap(&self, strategy: &str, kind: SwapKind, detail: &str) {
        let (type_, reason) = match kind {
            SwapKind::Activated => (Type::Normal, "StrategyActivated"),
            SwapKind::RolledBack => (Type::Normal, "StrategyRolledBack"),
            SwapKind::Promoted => (Type::Normal, "StrategyPromoted"),
            SwapKind::AutoRolledBack => (Type::Warning, "StrategyAutoRolledBack"),
        };
        self.send(type_, reason, "Swap", format!("strategy {strategy}: {detail}"));
    }

    /// A strategy was quarantined after a fault (Warning).
    pub fn quarantine(&self, strategy: &str, detail: &str) {
        let note = format!("strategy {strategy}: {detail}");
        self.send(Type::Warning, "StrategyQuarantined", "Quarantine", note);
    }

    /// The kill switch was engaged (Warning) or released (Normal).
    pub fn kill_switch(&self, engaged: bool, detail: &str) {
        let (type_, reason) = if engaged {
            (Type::Warning, "KillSwitchEngaged")
        } else {
            (Type::Normal, "KillSwitchReleased")
        };
        self.send(type_, reason, "KillSwitch", detail.to_string());
    }

    pub(crate) fn lease_acquired(&self, account: &str, lease: &str, token: u64) {
        let note = format!("account {account}: lease {lease} acquired, fencing token {token}");
        self.send(Type::Normal, "AccountLeaseAcquired", "Acquire", note);
    }

    pub(crate) fn lease_lost(&self, account: &str, lease: &str) {
        let note = format!("account {account}: lease {lease} lost or not renewed; orders for it are blocked");
        self.send(Type::Warning, "AccountLeaseLost", "Renew", note);
    }

    pub(crate) fn lease_released(&self, account: &str, lease: &str) {
        let note = format!("account {account}: lease {lease} released at shutdown");
        self.send(Type::Normal, "AccountLeaseReleased", "Release", note);
    }

    /// Events dropped because the queue was full or the rate limit hit.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn send(&self, type_: Type, reason: &'static str, action: &'static str, note: String) {
        let Some(tx) = &self.tx else { return };
        let pending = Pending {
            type_,
            reason,
            action,
            note: truncate(note, 1024),
        };
        if tx.try_send(pending).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(
                    dropped = n,
                    "kubernetes event queue full or closed; event dropped"
                );
            }
        }
    }
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

/// The background writer. Built with [`publisher`].
pub(crate) struct Publisher {
    api: Api<Event>,
    identity: Arc<PodIdentity>,
    wall: WallClock,
    rx: mpsc::Receiver<Pending>,
    dropped: Arc<AtomicU64>,
    cache: BTreeMap<(Type, &'static str, String), Series>,
    tokens: u32,
    refilled: Instant,
    seq: u64,
}

struct Series {
    name: String,
    count: i32,
    last_observed: MicroTime,
    first_seen: Instant,
    dirty: bool,
}

/// A sink and the task that writes what it is given.
pub(crate) fn publisher(
    client: kube::Client,
    identity: Arc<PodIdentity>,
    wall: WallClock,
) -> (EventSink, Publisher) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let dropped = Arc::new(AtomicU64::new(0));
    let api = Api::namespaced(client, identity.namespace());
    let sink = EventSink {
        tx: Some(tx),
        dropped: dropped.clone(),
    };
    let publisher = Publisher {
        api,
        identity,
        wall,
        rx,
        dropped,
        cache: BTreeMap::new(),
        tokens: BURST,
        refilled: Instant::now(),
        seq: 0,
    };
    (sink, publisher)
}

impl Publisher {
    /// Writes events until `stop`; then drains the queue and flushes every
    /// pending series count.
    pub(crate) async fn run(mut self, stop: tokio_util::sync::CancellationToken) {
        let mut flush = tokio::time::interval(SERIES_FLUSH);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                pending = self.rx.recv() => match pending {
                    Some(p) => self.publish(p).await,
                    None => break,
                },
                _ = flush.tick() => self.flush_series().await,
            }
        }
        while let Ok(p) = self.rx.try_recv() {
            self.publish(p).await;
        }
        self.flush_series().await;
    }

    async fn publish(&mut self, p: Pending) {
        let now = Instant::now();
        self.cache
            .retain(|_, s| now.duration_since(s.first_seen) < AGGREGATE_WINDOW);
        let key = (p.type_, p.reason, p.note);
        if let Some(series) = self.cache.get_mut(&key) {
            series.count = series.count.saturating_add(1);
            series.last_observed = micro_time(&self.wall);
            series.dirty = true;
            return;
        }
        if !self.take_token(now) || self.cache.len() >= MAX_CACHED {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::warn!(
                reason = key.1,
                dropped = n,
                "kubernetes event rate limit hit; event dropped"
            );
            return;
        }
        let (type_, reason, note) = key;
        self.seq += 1;
        let time = micro_time(&self.wall);
        let nanos = time.0.as_nanosecond();
        let name = format!("{}.{:x}{:x}", self.identity.pod_name(), nanos, self.seq);
        let event = self.event(&name, type_, reason, p.action, &note, time.clone());
        match tokio::time::timeout(REQUEST_TIMEOUT, self.api.create(&PostParams::default(), &event)).await {
            Ok(Ok(_)) => {
                tracing::debug!(event = %name, reason, "kubernetes event published");
                self.cache.insert(
                    (type_, reason, note),
                    Series {
                        name,
                        count: 1,
                        last_observed: time,
                        first_seen: now,
                        dirty: false,
                    },
                );
            }
            Ok(Err(e)) => tracing::warn!(reason, error = %e, "could not publish a kubernetes event"),
            Err(_) => tracing::warn!(reason, "publishing a kubernetes event timed out"),
        }
    }

    fn event(
        &self,
        name: &str,
        type_: Type,
        reason: &str,
        action: &str,
        note: &str,
        time: MicroTime,
    ) -> Event {
        let id = &self.identity;
        Event {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some(id.namespace().to_string()),
                ..ObjectMeta::default()
            },
            event_time: Some(time),
            type_: Some(type_.as_str().to_string()),
            reason: Some(reason.to_string()),
            action: Some(action.to_string()),
            note: Some(note.to_string()),
            regarding: Some(ObjectReference {
                api_version: Some("v1".to_string()),
                kind: Some("Pod".to_string()),
                name: Some(id.pod_name().to_string()),
                namespace: Some(id.namespace().to_string()),
                uid: id.uid().map(str::to_string),
                ..ObjectReference::default()
            }),
            reporting_controller: Some(REPORTING_CONTROLLER.to_string()),
            reporting_instance: Some(id.pod_name().to_string()),
            ..Event::default()
        }
    }

    async fn flush_series(&mut self) {
        let dirty: Vec<_> = self
            .cache
            .values_mut()
            .filter(|s| s.dirty)
            .map(|s| {
                s.dirty = false;
                (s.name.clone(), s.count, s.last_observed.clone())
            })
            .collect();
        for (name, count, last_observed_time) in dirty {
            let series = EventSeries {
                count,
                last_observed_time,
            };
            let patch = Patch::Merge(serde_json::json!({ "series": series }));
            let params = PatchParams::default();
            let request = self.api.patch(&name, &params, &patch);
            match tokio::time::timeout(REQUEST_TIMEOUT, request).await {
                Ok(Ok(_)) => tracing::debug!(event = %name, count, "kubernetes event series updated"),
                Ok(Err(e)) => {
                    tracing::warn!(event = %name, error = %e, "could not update a kubernetes event series")
                }
                Err(_) => tracing::warn!(event = %name, "updating a kubernetes event series timed out"),
            }
        }
    }

    fn take_token(&mut self, now: Instant) -> bool {
        let elapsed = now.duration_since(self.refilled);
        let earned = u32::try_from(elapsed.as_nanos() / REFILL_EVERY.as_nanos()).unwrap_or(u32::MAX);
        if earned >= BURST {
            self.tokens = BURST;
            self.refilled = now;
        } else if earned > 0 {
            self.tokens = (self.tokens + earned).min(BURST);
            self.refilled += REFILL_EVERY * earned;
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_cut_at_a_character_boundary() {
        let s = truncate("é".repeat(600), 1024);
        assert_eq!(s.len(), 1024);
        let s = truncate(format!("a{}", "é".repeat(600)), 1024);
        assert_eq!(s.len(), 1023);
    }

    #[tokio::test]
    async fn a_disabled_sink_accepts_and_ignores_everything() {
        let sink = EventSink::disabled();
        sink.swap("sma", SwapKind::Activated, "v2");
        sink.quarantine("sma", "trap");
        sink.kill_switch(true, "operator");
        assert_eq!(sink.dropped(), 0);
    }
}
