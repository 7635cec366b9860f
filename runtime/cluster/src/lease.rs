//! One `coordination.k8s.io/v1` Lease per broker account, acquired with
//! optimistic concurrency and renewed by a background task.
//!
//! - **Absent** (404): create it with this process as holder
//!   (`POST`; a 409 AlreadyExists means another pod created it first: lost).
//! - **Free** (no holder) or **expired** (`renewTime + leaseDurationSeconds`
//!   is in the past, by this node's wall clock): `PUT` it with the
//!   `resourceVersion` that was read, this process as holder and
//!   `leaseTransitions + 1`. The API server rejects the write with 409 if
//!   anyone wrote the Lease in between, so of two pods racing at most one wins.
//! - **Held by another** and not expired: refused; the fence stays closed
//!   and the task tries again every `renew_every`.
//! - **Held by this process**: renew (`PUT` with the last `resourceVersion`
//!   and a new `renewTime`). A 409 means someone else wrote the Lease: read
//!   it again; if this process is no longer the holder, the fence closes.
//!
//! A renewal that fails for a transient reason (timeout, connection, 5xx)
//! changes nothing: the fence closes by itself when its window passes, and
//! the task retries after half a period.

use std::sync::Arc;
use std::time::SystemTime;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Api;
use kube::api::PostParams;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::LeaseTiming;
use crate::error::{Error, Refusal};
use crate::events::EventSink;
use crate::fence::Fence;

/// The prefix of every account Lease's name.
pub const LEASE_PREFIX: &str = "wasmtrade-account-";

/// A wall clock (the Lease's `renewTime` and `acquireTime` are wall-clock
/// times); replaceable for tests.
pub type WallClock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// The Lease name of a broker account: `wasmtrade-account-<id>` with the id
/// lowercased, every character other than `[a-z0-9]` replaced by '-' and
/// leading/trailing '-' trimmed (`DU123456` → `wasmtrade-account-du123456`).
pub fn lease_name(account: &str) -> Result<String, Error> {
    let bad = || Error::BadAccount {
        account: account.to_string(),
    };
    if account.chars().count() > 200 {
        return Err(bad());
    }
    let mapped: String = account
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9') => c,
            _ => '-',
        })
        .collect();
    let trimmed = mapped.trim_matches('-');
    if trimmed.is_empty() {
        return Err(bad());
    }
    Ok(format!("{LEASE_PREFIX}{trimmed}"))
}

/// What one acquisition attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// This process holds the Lease (newly or still).
    Held { transitions: u64 },
    /// Another holder's Lease has not expired.
    HeldByOther { holder: String },
    /// Another pod wrote the Lease between our read and our write (409).
    RaceLost,
    /// A transient failure (timeout, connection, 5xx, throttling).
    Failed { reason: String },
}

/// The state and loop of one account's Lease.
pub(crate) struct LeaseTask {
    pub(crate) api: Api<Lease>,
    pub(crate) namespace: String,
    pub(crate) name: String,
    pub(crate) holder: String,
    pub(crate) timing: LeaseTiming,
    pub(crate) fence: Fence,
    pub(crate) wall: WallClock,
    pub(crate) events: EventSink,
    /// The Lease as last written by this process while holding it.
    pub(crate) held: Option<Lease>,
    /// The highest `leaseTransitions` seen, so a re-created Lease continues
    /// the sequence instead of restarting at 0.
    pub(crate) max_transitions: Option<u64>,
}

enum Failure {
    NotFound,
    Conflict,
    Transient(String),
    Fatal(Error),
}

impl LeaseTask {
    /// One attempt: renew if held, else acquire. Fatal errors (RBAC,
    /// invalid object) are returned; everything else is an [`Attempt`].
    pub(crate) async fn step(&mut self) -> Result<Attempt, Error> {
        let attempt = match self.held.clone() {
            Some(lease) => self.renew(lease).await,
            None => self.acquire().await,
        };
        match attempt {
            Ok(a) => Ok(a),
            Err(Failure::Fatal(e)) => Err(e),
            Err(Failure::Transient(reason)) => Ok(Attempt::Failed { reason }),
            Err(Failure::Conflict) => {
                self.lose();
                Ok(Attempt::RaceLost)
            }
            Err(Failure::NotFound) => {
                self.lose();
                Ok(Attempt::Failed {
                    reason: "the Lease was deleted".to_string(),
                })
            }
        }
    }

    fn lose(&mut self) {
        self.fence.lost();
        self.held = None;
    }

    async fn acquire(&mut self) -> Result<Attempt, Failure> {
        let current = match self.call("get", self.api.get_opt(&self.name)).await? {
            None => return self.create().await,
            Some(lease) => lease,
        };
        let spec = current.spec.clone().unwrap_or_default();
        let transitions = non_negative(spec.lease_transitions);
        self.note_transitions(transitions);
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        if holder.as_deref() == Some(self.holder.as_str()) {
            // Our own (this process's) Lease, e.g. after a renewal whose
            // answer was lost: renew it.
            return self.renew(current).await;
        }
        if let Some(holder) = holder
            && !self.expired(&spec)
        {
            self.lose();
            return Ok(Attempt::HeldByOther { holder });
        }
        let next = transitions + 1;
        let now = self.now();
        let mut lease = current;
        lease.spec = Some(LeaseSpec {
            holder_identity: Some(self.holder.clone()),
            lease_duration_seconds: Some(self.duration_secs()),
            acquire_time: Some(now.clone()),
            renew_time: Some(now),
            lease_transitions: Some(i32::try_from(next).unwrap_or(i32::MAX)),
            ..spec
        });
        self.write(lease, next).await
    }

    async fn create(&mut self) -> Result<Attempt, Failure> {
        let next = self.max_transitions.map_or(0, |t| t + 1);
        let now = self.now();
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                namespace: Some(self.namespace.clone()),
                labels: Some(
                    [(
                        "app.kubernetes.io/managed-by".to_string(),
                        "wasmtrade".to_string(),
                    )]
                    .into(),
                ),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(self.holder.clone()),
                lease_duration_seconds: Some(self.duration_secs()),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                lease_transitions: Some(i32::try_from(next).unwrap_or(i32::MAX)),
                ..LeaseSpec::default()
            }),
        };
        let sent = Instant::now();
        let created = self
            .call("create", self.api.create(&PostParams::default(), &lease))
            .await?;
        self.gained(created, sent, next)
    }

    async fn renew(&mut self, mut lease: Lease) -> Result<Attempt, Failure> {
        let transitions = lease
            .spec
            .as_ref()
            .map_or(0, |s| non_negative(s.lease_transitions));
        let now = self.now();
        if let Some(spec) = lease.spec.as_mut() {
            spec.renew_time = Some(now);
            spec.lease_duration_seconds = Some(self.duration_secs());
        }
        match self.write(lease, transitions).await {
            Err(Failure::Conflict) => {
                // Someone else wrote our Lease. Read it: still ours (an
                // annotation, a label) → renew on the new version; else lost.
                match self.call("get", self.api.get_opt(&self.name)).await? {
                    Some(mut current) if holder_of(&current) == Some(self.holder.as_str()) => {
                        if let Some(spec) = current.spec.as_mut() {
                            spec.renew_time = Some(self.now());
                        }
                        self.write(current, transitions).await
                    }
                    Some(current) => {
                        self.lose();
                        Ok(Attempt::HeldByOther {
                            holder: holder_of(&current).unwrap_or("").to_string(),
                        })
                    }
                    None => Err(Failure::NotFound),
                }
            }
            other => other,
        }
    }

    /// `PUT` with the object's `resourceVersion` (optimistic concurrency).
    async fn write(&mut self, lease: Lease, transitions: u64) -> Result<Attempt, Failure> {
        let sent = Instant::now();
        let written = self
            .call(
                "update",
                self.api.replace(&self.name, &PostParams::default(), &lease),
            )
            .await?;
        self.gained(written, sent, transitions)
    }

    fn gained(&mut self, lease: Lease, sent: Instant, transitions: u64) -> Result<Attempt, Failure> {
        let was_held = self.fence.is_held() && self.fence.last_token().transitions() == transitions;
        self.note_transitions(transitions);
        self.held = Some(lease);
        self.fence.renewed(sent, transitions);
        if !was_held {
            tracing::info!(
                account = %self.fence.account(), lease = %self.name, token = transitions,
                "lease acquired; orders for the account may be sent"
            );
            self.events
                .lease_acquired(self.fence.account(), &self.name, transitions);
        }
        Ok(Attempt::Held { transitions })
    }

    /// Clears the holder (graceful shutdown). The fence is closed first.
    pub(crate) async fn release(&mut self) {
        self.fence.release();
        let Some(mut lease) = self.held.take() else {
            return;
        };
        let now = self.now();
        if let Some(spec) = lease.spec.as_mut() {
            spec.holder_identity = None;
            spec.renew_time = Some(now);
        }
        let params = PostParams::default();
        let put = self.api.replace(&self.name, &params, &lease);
        match self.call("update", put).await {
            Ok(_) => {
                tracing::info!(account = %self.fence.account(), lease = %self.name, "lease released");
                self.events.lease_released(self.fence.account(), &self.name);
            }
            Err(Failure::Conflict | Failure::NotFound) => {
                tracing::info!(lease = %self.name, "lease no longer ours at release; nothing to clear");
            }
            Err(Failure::Transient(reason)) => tracing::warn!(
                lease = %self.name, %reason,
                "could not release the lease; another pod takes it over once it expires"
            ),
            Err(Failure::Fatal(e)) => {
                tracing::warn!(lease = %self.name, error = %e, "could not release the lease")
            }
        }
    }

    /// The renewal loop, until `cancel`; then the release.
    pub(crate) async fn run(mut self, cancel: CancellationToken) {
        let mut wait = self.timing.renew_every();
        loop {
            tokio::select! {
                () = cancel.cancelled() => break,
                () = tokio::time::sleep(wait) => {}
            }
            wait = self.timing.renew_every();
            let was_held = self.fence.is_held();
            match self.step().await {
                Ok(Attempt::Held { .. }) => {}
                Ok(Attempt::Failed { reason }) => {
                    tracing::warn!(lease = %self.name, %reason, "lease request failed; retrying");
                    wait = self.timing.retry_after_failure();
                }
                Ok(Attempt::HeldByOther { holder }) => {
                    tracing::debug!(lease = %self.name, %holder, "lease held by another pod");
                }
                Ok(Attempt::RaceLost) => {
                    tracing::info!(lease = %self.name, "another pod wrote the lease first");
                }
                Err(e) => {
                    tracing::error!(lease = %self.name, error = %e, "lease request refused; retrying");
                }
            }
            if was_held && !self.fence.is_held() {
                tracing::error!(
                    account = %self.fence.account(), lease = %self.name,
                    "lease lost; orders for the account are blocked"
                );
                self.events.lease_lost(self.fence.account(), &self.name);
            }
        }
        self.release().await;
    }

    async fn call<T>(
        &self,
        verb: &'static str,
        request: impl Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, Failure> {
        match tokio::time::timeout(self.timing.request_timeout(), request).await {
            Err(_) => Err(Failure::Transient(format!(
                "{verb} timed out after {} ms",
                self.timing.request_timeout().as_millis()
            ))),
            Ok(Ok(value)) => Ok(value),
            Ok(Err(kube::Error::Api(status))) => Err(match status.code {
                404 => Failure::NotFound,
                409 => Failure::Conflict,
                408 | 429 | 500..=599 => Failure::Transient(format!(
                    "{verb}: {} {}: {}",
                    status.code, status.reason, status.message
                )),
                code => Failure::Fatal(Error::Refused(Box::new(Refusal {
                    verb,
                    lease: self.name.clone(),
                    namespace: self.namespace.clone(),
                    code,
                    reason: status.reason.clone(),
                    message: status.message.clone(),
                    hint: hint(code),
                }))),
            }),
            Ok(Err(other)) => Err(Failure::Transient(format!("{verb}: {other}"))),
        }
    }

    fn expired(&self, spec: &LeaseSpec) -> bool {
        let Some(last) = spec.renew_time.as_ref().or(spec.acquire_time.as_ref()) else {
            return true;
        };
        let secs = spec
            .lease_duration_seconds
            .map_or(self.duration_secs(), |s| s.max(0));
        match last.0.checked_add(SignedDuration::from_secs(i64::from(secs))) {
            Ok(expires) => self.now().0 >= expires,
            // Beyond the representable range: a corrupt Lease, not a live one.
            Err(_) => true,
        }
    }

    fn note_transitions(&mut self, t: u64) {
        self.max_transitions = Some(self.max_transitions.map_or(t, |m| m.max(t)));
    }

    fn now(&self) -> MicroTime {
        micro_time(&self.wall)
    }

    fn duration_secs(&self) -> i32 {
        i32::try_from(self.timing.lease_duration().as_secs()).unwrap_or(i32::MAX)
    }
}

/// The wall clock's time, to the microsecond the API server keeps.
pub(crate) fn micro_time(wall: &WallClock) -> MicroTime {
    let ts = Timestamp::try_from(wall()).unwrap_or(Timestamp::UNIX_EPOCH);
    MicroTime(ts.round(k8s_openapi::jiff::Unit::Microsecond).unwrap_or(ts))
}

fn holder_of(lease: &Lease) -> Option<&str> {
    lease
        .spec
        .as_ref()
        .and_then(|s| s.holder_identity.as_deref())
        .filter(|h| !h.is_empty())
}

fn non_negative(v: Option<i32>) -> u64 {
    v.map_or(0, |v| u64::try_from(v).unwrap_or(0))
}

fn hint(code: u16) -> &'static str {
    match code {
        401 => "the service-account token was rejected; check the pod's token mount",
        403 => {
            "grant the runtime's ServiceAccount get/create/update on leases.coordination.k8s.io \
             in this namespace (see docs/kubernetes-integration.md)"
        }
        _ => "this is not retried; check the Lease object and the API server's message",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_names_are_sanitised_account_ids() {
        let ok = |a: &str| lease_name(a).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ok("DU123456"), "wasmtrade-account-du123456");
        assert_eq!(ok("U1234567"), "wasmtrade-account-u1234567");
        assert_eq!(ok("  paper_Acct.7 "), "wasmtrade-account-paper-acct-7");
        assert_eq!(ok("ñ-x"), "wasmtrade-account-x");
        for bad in ["", "---", "ß", &"a".repeat(201)] {
            assert!(matches!(lease_name(bad), Err(Error::BadAccount { .. })), "{bad}");
        }
        // Within the 253-character limit of an object name.
        assert!(ok(&"a".repeat(200)).len() <= 253);
    }
}
