//! The crate's errors. Fence errors live with the fence ([`crate::FenceError`]).

use std::fmt;

use thiserror::Error;

/// Every problem found in the `[cluster]` settings.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub struct ConfigError {
    /// The problems, in the order of the settings.
    pub problems: Vec<ConfigProblem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid [cluster] settings: ")?;
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                write!(f, "; ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// One problem in the `[cluster]` settings; each names the key.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ConfigProblem {
    /// The Lease duration is not a whole number of seconds in 1..=3600.
    #[error("cluster.lease_duration_secs ({lease_ms} ms) must be a whole number of seconds from 1 to 3600")]
    LeaseDuration {
        /// The configured duration, in milliseconds.
        lease_ms: u128,
    },
    /// Renewal period and margin leave no room for a failed renewal.
    #[error(
        "cluster.renew_every_secs ({renew_ms} ms) and cluster.fence_margin_ms ({margin_ms} ms) must be non-zero \
         with 2 × renew_every + fence_margin ≤ cluster.lease_duration_secs ({lease_ms} ms), \
         so one failed renewal does not close the fence; renew more often or lengthen the lease"
    )]
    Timing {
        /// The Lease duration, in milliseconds.
        lease_ms: u128,
        /// The renewal period, in milliseconds.
        renew_ms: u128,
        /// The fence margin, in milliseconds.
        margin_ms: u128,
    },
    /// The namespace is not a DNS label.
    #[error(
        "cluster.namespace `{namespace}` is not a Kubernetes namespace name \
         (lowercase letters, digits and '-', at most 63); leave it empty to use the pod's namespace"
    )]
    Namespace {
        /// The configured namespace.
        namespace: String,
    },
    /// Two `[[cluster.pods]]` entries have the same ordinal.
    #[error("cluster.pods: ordinal {ordinal} is listed twice; merge the two entries")]
    DuplicateOrdinal {
        /// The ordinal.
        ordinal: u32,
    },
    /// An account id gives no usable Lease name.
    #[error(
        "cluster.pods[ordinal={ordinal}].accounts: `{account}` is not a usable account id \
         (it needs at least one letter or digit, and at most 200 characters)"
    )]
    BadAccount {
        /// The ordinal of the entry.
        ordinal: u32,
        /// The account id as written.
        account: String,
    },
    /// The same account twice in one entry.
    #[error("cluster.pods[ordinal={ordinal}].accounts lists `{account}` twice")]
    DuplicateAccount {
        /// The ordinal of the entry.
        ordinal: u32,
        /// The account id.
        account: String,
    },
    /// One account (or two ids mapping to one Lease) under two ordinals.
    #[error(
        "cluster.pods: account `{account}` (Lease `{lease}`) is owned by ordinals {first} and {second} \
         (as `{other_account}` and `{account}`); give each account to exactly one ordinal"
    )]
    AccountOwnedTwice {
        /// The account id found second.
        account: String,
        /// The account id found first (may differ only in case/punctuation).
        other_account: String,
        /// The ordinal that lists it first.
        first: u32,
        /// The ordinal that lists it again.
        second: u32,
        /// The Lease both map to.
        lease: String,
    },
    /// An empty strategy name.
    #[error("cluster.pods[ordinal={ordinal}].strategies contains an empty name; remove it")]
    EmptyStrategy {
        /// The ordinal of the entry.
        ordinal: u32,
    },
}

/// The pod's identity could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// Neither `POD_NAME` nor `HOSTNAME` is set.
    #[error(
        "cannot tell which pod this is: POD_NAME and HOSTNAME are unset; \
         add POD_NAME from the downward API (fieldRef metadata.name) to the container"
    )]
    NoPodName,
    /// The pod name has no `-<ordinal>` suffix.
    #[error(
        "pod name `{name}` has no StatefulSet ordinal (expected `<statefulset>-<n>`, e.g. `wasmtrade-2`); \
         run the runtime as a StatefulSet pod, or set [cluster] mode = \"off\""
    )]
    NoOrdinal {
        /// The pod name.
        name: String,
    },
    /// The namespace is unknown.
    #[error(
        "cannot tell the pod's namespace: POD_NAMESPACE is unset and {path} cannot be read ({reason}); \
         add POD_NAMESPACE from the downward API (fieldRef metadata.namespace) or set [cluster] namespace"
    )]
    NoNamespace {
        /// The service-account namespace file tried.
        path: String,
        /// Why reading it failed.
        reason: String,
    },
}

/// A failure of the cluster integration.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// Invalid settings.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The pod identity could not be read.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// No Kubernetes client configuration (in-cluster or kubeconfig).
    #[error(
        "cannot configure the Kubernetes client: {reason}; in a pod, mount the service-account token \
         (automountServiceAccountToken: true on the runtime's ServiceAccount or pod)"
    )]
    ClientConfig {
        /// What kube reported.
        reason: String,
    },
    /// An account id gives no usable Lease name.
    #[error(
        "account `{account}` gives no usable Lease name (it needs a letter or digit, at most 200 characters)"
    )]
    BadAccount {
        /// The account id.
        account: String,
    },
    /// Two accounts passed together map to one Lease.
    #[error("accounts `{first}` and `{second}` map to the same Lease `{lease}`; they cannot be fenced apart")]
    AccountCollision {
        /// One account.
        first: String,
        /// The other.
        second: String,
        /// Their common Lease.
        lease: String,
    },
    /// The API server refused for a reason retrying will not fix
    /// (RBAC, admission, a malformed object).
    #[error(transparent)]
    Refused(Box<Refusal>),
    /// `acquire_accounts` was called after `shutdown`.
    #[error("the cluster integration is shut down; no Lease can be acquired")]
    ShutDown,
}

/// A request about a Lease the API server refused (see [`Error::Refused`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "the Kubernetes API refused {verb} of Lease `{lease}` in namespace `{namespace}`: {code} {reason}: {message}; \
     {hint}"
)]
pub struct Refusal {
    /// `get`, `create` or `update`.
    pub verb: &'static str,
    /// The Lease name.
    pub lease: String,
    /// The namespace.
    pub namespace: String,
    /// HTTP status.
    pub code: u16,
    /// The Status reason (`Forbidden`, `Invalid`, ...).
    pub reason: String,
    /// The Status message.
    pub message: String,
    /// What to do.
    pub hint: &'static str,
}
