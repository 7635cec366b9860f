//! Kubernetes integration of `wasmtrade serve`: pod identity, a fenced
//! Lease per broker account, and Kubernetes Events.
//!
//! Active only in a pod (`KUBERNETES_SERVICE_HOST` set) or when configured
//! with `mode = "on"`. It
//!
//! - reads the pod's StatefulSet identity ([`PodIdentity`]: `POD_NAME`,
//!   `POD_NAMESPACE`, the ordinal) and looks up which broker accounts and
//!   strategies that ordinal owns in the `[cluster]` settings
//!   ([`RawClusterConfig`]);
//! - holds one `coordination.k8s.io/v1` Lease per broker account, acquired
//!   with optimistic concurrency and renewed in the background, and hands
//!   out a [`Fence`] per account that the order path checks before every
//!   broker send. The fence closes on its own when renewals stop
//!   succeeding, `fence_margin` before any other pod may take the Lease
//!   over, so two pods never trade one account, even after
//!   `kubectl delete pod --force` left the old pod running;
//! - publishes Kubernetes Events ([`EventSink`]) for swaps, quarantines,
//!   kill-switch changes and Lease changes, best-effort.
//!
//! `docs/kubernetes-integration.md` has the fencing argument, the RBAC
//! the chart must grant, and what the tests prove.
//!
//! # Example
//!
//! ```no_run
//! use wasmtrade_cluster::{Cluster, RawClusterConfig, SwapKind};
//!
//! # async fn serve() -> Result<(), Box<dyn std::error::Error>> {
//! let config = RawClusterConfig::default().validate()?;
//! let cluster = Cluster::from_env(config).await?; // None outside a pod
//! if let Some(cluster) = &cluster {
//!     let fences = cluster.acquire_owned().await?;
//!     let events = cluster.events();
//!     // The order path, before every broker send:
//!     match fences.check("DU123456") {
//!         Ok(token) => { /* send; journal the order with token.transitions() */ }
//!         Err(closed) => { /* do not send: tracing::warn!("{closed}") */ }
//!     }
//!     events.swap("sma", SwapKind::Activated, "version 2 (was 1)");
//!     // On SIGTERM, after the last order went out:
//!     cluster.shutdown().await;
//! }
//! # Ok(())
//! # }
//! ```

mod config;
mod error;
mod events;
mod fence;
mod identity;
mod lease;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use config::{ClusterConfig, LeaseTiming, Mode, PodAssignment, RawClusterConfig};
pub use error::{ConfigError, ConfigProblem, Error, IdentityError, Refusal};
pub use events::{EventSink, REPORTING_CONTROLLER, SwapKind};
pub use fence::{Fence, FenceError, FenceToken, Fences};
pub use identity::{PodIdentity, SERVICE_ACCOUNT_NAMESPACE_FILE, parse_ordinal};
pub use lease::{LEASE_PREFIX, WallClock, lease_name};

use lease::{Attempt, LeaseTask};

/// The cluster integration of one runtime process.
pub struct Cluster {
    client: kube::Client,
    identity: Arc<PodIdentity>,
    config: ClusterConfig,
    wall: WallClock,
    events: EventSink,
    leases: TaskTracker,
    lease_stop: CancellationToken,
    publisher: TaskTracker,
    publisher_stop: CancellationToken,
    /// Lease name → fence, for every account acquired so far.
    fences: Mutex<Option<BTreeMap<String, Fence>>>,
}

/// Builds a [`Cluster`] from an explicit client and identity (tests, or a
/// caller with its own client configuration).
pub struct ClusterBuilder {
    client: kube::Client,
    identity: PodIdentity,
    config: ClusterConfig,
    wall: WallClock,
}

impl ClusterBuilder {
    /// Replaces the wall clock used for `renewTime`, expiry and Event times.
    pub fn wall_clock(mut self, wall: WallClock) -> Self {
        self.wall = wall;
        self
    }

    /// Starts the integration (the Event publisher, when enabled). Call it
    /// inside a Tokio runtime.
    pub fn build(self) -> Cluster {
        let identity = Arc::new(self.identity);
        let publisher = TaskTracker::new();
        let publisher_stop = CancellationToken::new();
        let events = if self.config.events_enabled() {
            let (sink, task) = events::publisher(self.client.clone(), identity.clone(), self.wall.clone());
            publisher.spawn(task.run(publisher_stop.clone()));
            sink
        } else {
            EventSink::disabled()
        };
        publisher.close();
        Cluster {
            client: self.client,
            identity,
            config: self.config,
            wall: self.wall,
            events,
            leases: TaskTracker::new(),
            lease_stop: CancellationToken::new(),
            publisher,
            publisher_stop,
            fences: Mutex::new(Some(BTreeMap::new())),
        }
    }
}

impl Cluster {
    /// The integration if this process runs in a pod (or `mode = "on"`),
    /// `None` otherwise (or with `mode = "off"`). Reads the identity from
    /// the environment and configures the client in-cluster (outside a
    /// pod, from the kubeconfig).
    pub async fn from_env(config: ClusterConfig) -> Result<Option<Cluster>, Error> {
        let in_pod = std::env::var("KUBERNETES_SERVICE_HOST").is_ok_and(|v| !v.is_empty());
        let active = match config.mode() {
            Mode::Off => false,
            Mode::On => true,
            Mode::Auto => in_pod,
        };
        if !active {
            tracing::debug!("not in a Kubernetes pod; cluster integration off");
            return Ok(None);
        }
        let identity = PodIdentity::from_env(config.namespace())?;
        let client_config = if in_pod {
            kube::Config::incluster().map_err(|e| Error::ClientConfig {
                reason: e.to_string(),
            })?
        } else {
            kube::Config::infer().await.map_err(|e| Error::ClientConfig {
                reason: e.to_string(),
            })?
        };
        let client = client_from(client_config)?;
        let cluster = Cluster::builder(client, identity, config).build();
        cluster.log_assignment();
        Ok(Some(cluster))
    }

    /// A builder from an explicit client and identity.
    pub fn builder(client: kube::Client, identity: PodIdentity, config: ClusterConfig) -> ClusterBuilder {
        #[expect(
            clippy::disallowed_methods,
            reason = "a Lease's renewTime and an Event's eventTime are wall-clock times by API definition"
        )]
        let wall: WallClock = Arc::new(SystemTime::now);
        ClusterBuilder {
            client,
            identity,
            config,
            wall,
        }
    }

    fn log_assignment(&self) {
        let id = &self.identity;
        match self.assignment() {
            Some(a) => tracing::info!(
                pod = %id.pod_name(), ordinal = id.ordinal(), accounts = ?a.accounts,
                strategies = ?a.strategies, "cluster integration on"
            ),
            None => tracing::warn!(
                pod = %id.pod_name(), ordinal = id.ordinal(),
                "no [[cluster.pods]] entry for this ordinal: this pod owns no broker account"
            ),
        }
    }

    /// This process's identity.
    pub fn identity(&self) -> &PodIdentity {
        &self.identity
    }

    /// The settings.
    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// What this pod's ordinal owns; `None` = nothing.
    pub fn assignment(&self) -> Option<&PodAssignment> {
        self.config.assignment(self.identity.ordinal())
    }

    /// The broker accounts this pod's ordinal owns (empty = none).
    pub fn owned_accounts(&self) -> &[String] {
        self.assignment().map_or(&[], |a| a.accounts.as_slice())
    }

    /// Whether this pod runs `strategy`: its entry lists it or lists no
    /// strategies; a pod without an entry runs none.
    pub fn runs_strategy(&self, strategy: &str) -> bool {
        self.assignment().is_some_and(|a| a.runs_strategy(strategy))
    }

    /// The Event sink (a disabled one with `events = false`).
    pub fn events(&self) -> EventSink {
        self.events.clone()
    }

    /// [`Cluster::acquire_accounts`] for [`Cluster::owned_accounts`].
    pub async fn acquire_owned(&self) -> Result<Fences, Error> {
        let owned = self.owned_accounts().to_vec();
        self.acquire_accounts(&owned).await
    }

    /// Makes one acquisition attempt per account now, then keeps renewing
    /// (or, for Leases another pod holds, keeps trying) in the background.
    ///
    /// Returns a fence per account, open for the ones acquired. A Lease
    /// held by another pod, or an unreachable API server, is not an error:
    /// that fence stays closed until a later attempt succeeds. An error
    /// means retrying will not help (bad account id, RBAC, invalid object);
    /// then nothing is held. Accounts acquired before share their fences.
    pub async fn acquire_accounts<S: AsRef<str>>(&self, accounts: &[S]) -> Result<Fences, Error> {
        let timing = self.config.timing();
        let namespace = self.config.namespace().unwrap_or(self.identity.namespace());
        let api: Api<Lease> = Api::namespaced(self.client.clone(), namespace);
        let mut fences = Fences::default();
        let mut new_tasks = Vec::new();
        {
            let mut seen: BTreeMap<String, &str> = BTreeMap::new();
            let guard = self.fences.lock().unwrap_or_else(PoisonError::into_inner);
            let known = guard.as_ref().ok_or(Error::ShutDown)?;
            for account in accounts {
                let account = account.as_ref();
                let name = lease_name(account)?;
                if let Some(first) = seen.insert(name.clone(), account)
                    && first != account
                {
                    return Err(Error::AccountCollision {
                        first: first.to_string(),
                        second: account.to_string(),
                        lease: name,
                    });
                }
                if let Some(fence) = known.get(&name) {
                    fences.insert(fence.clone());
                    continue;
                }
                let fence = Fence::new(account, &name, timing.fence_window());
                fences.insert(fence.clone());
                new_tasks.push(LeaseTask {
                    api: api.clone(),
                    namespace: namespace.to_string(),
                    name,
                    holder: self.identity.holder().to_string(),
                    timing,
                    fence,
                    wall: self.wall.clone(),
                    events: self.events.clone(),
                    held: None,
                    max_transitions: None,
                });
            }
        }
        let mut fatal = None;
        for task in &mut new_tasks {
            match task.step().await {
                Ok(attempt) => log_first_attempt(task, &attempt),
                Err(e) => {
                    fatal.get_or_insert(e);
                }
            }
        }
        if let Some(e) = fatal {
            for task in &mut new_tasks {
                task.release().await;
            }
            return Err(e);
        }
        let shut_down = {
            let mut guard = self.fences.lock().unwrap_or_else(PoisonError::into_inner);
            match guard.as_mut() {
                Some(known) => {
                    for task in new_tasks.drain(..) {
                        known.insert(task.name.clone(), task.fence.clone());
                        self.leases.spawn(task.run(self.lease_stop.clone()));
                    }
                    false
                }
                None => true,
            }
        };
        if shut_down {
            for task in &mut new_tasks {
                task.release().await;
            }
            return Err(Error::ShutDown);
        }
        Ok(fences)
    }

    /// Graceful shutdown: closes every fence, clears the holder of every
    /// Lease this process holds (so a successor acquires at once instead of
    /// waiting for expiry), then flushes pending Events. Bounded by a few
    /// request timeouts; call it after the last order was sent.
    pub async fn shutdown(&self) {
        let fences = self
            .fences
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .unwrap_or_default();
        for fence in fences.values() {
            fence.release();
        }
        let bound = self.config.timing().request_timeout() * 3;
        self.lease_stop.cancel();
        self.leases.close();
        if tokio::time::timeout(bound, self.leases.wait()).await.is_err() {
            tracing::warn!("lease release did not finish in time; the leases expire on their own");
        }
        self.publisher_stop.cancel();
        if tokio::time::timeout(bound, self.publisher.wait()).await.is_err() {
            tracing::warn!("pending kubernetes events were not all written before shutdown");
        }
    }
}

fn log_first_attempt(task: &LeaseTask, attempt: &Attempt) {
    let (account, lease) = (task.fence.account(), &task.name);
    match attempt {
        Attempt::Held { .. } => {}
        Attempt::HeldByOther { holder } => tracing::warn!(
            %account, %lease, %holder,
            "account lease held by another process; standing by (orders blocked) until it is released or expires"
        ),
        Attempt::RaceLost => tracing::warn!(
            %account, %lease, "another pod acquired the account lease first; standing by"
        ),
        Attempt::Failed { reason } => tracing::warn!(
            %account, %lease, %reason, "could not reach the API server for the account lease; retrying"
        ),
    }
}

/// A client for `config`, with kube's own retries off: the Lease loop
/// retries on its own schedule, and a hidden retry would only delay it.
pub fn client_from(mut config: kube::Config) -> Result<kube::Client, Error> {
    config.default_retry = false;
    kube::Client::try_from(config).map_err(|e| Error::ClientConfig {
        reason: e.to_string(),
    })
}
