//! The fence: a cheap check, made before every broker send, that this
//! process still holds the account's Lease.
//!
//! A [`Fence`] is open while (a) this process holds the Lease and (b) the
//! last successful write of the Lease (acquisition or renewal) was *sent*
//! less than `lease_duration - fence_margin` ago, measured on the local
//! monotonic clock. The renewal task extends (b); losing the Lease, or
//! shutting down, closes (a). Nothing but time is needed to close the
//! fence: a pod cut off from the API server stops sending on its own,
//! `fence_margin` before any other pod may consider the Lease expired.
//!
//! [`Fence::check`] is two atomic loads and a monotonic clock read; it
//! returns a [`FenceToken`], the Lease's `leaseTransitions` at acquisition,
//! to stamp on orders and journal records: tokens grow with each change of
//! holder, so a record with an older token than the current holder's comes
//! from a stale holder.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use thiserror::Error;
use tokio::time::Instant;

/// Proof that the fence was open at the moment of the check, carrying the
/// Lease's transition count (the fencing token).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FenceToken(u64);

impl FenceToken {
    /// The Lease's `leaseTransitions` when this process acquired it.
    pub fn transitions(self) -> u64 {
        self.0
    }
}

impl fmt::Display for FenceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Why the fence is closed: no order may be sent for the account.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FenceError {
    /// This process does not hold the account's Lease (another pod does,
    /// it was lost, or it was never acquired).
    #[error(
        "account `{account}`: this pod does not hold Lease `{lease}`; another pod may own the account \
         (see `kubectl get lease {lease} -o yaml`), orders stay blocked until the Lease is acquired"
    )]
    NotHeld {
        /// The broker account.
        account: Arc<str>,
        /// Its Lease.
        lease: Arc<str>,
    },
    /// The Lease has not been renewed in time (API server unreachable?).
    #[error(
        "account `{account}`: Lease `{lease}` last renewed {since_ms} ms ago, beyond the fence window of \
         {window_ms} ms; orders stay blocked until a renewal succeeds (check the API server connection)"
    )]
    Expired {
        /// The broker account.
        account: Arc<str>,
        /// Its Lease.
        lease: Arc<str>,
        /// Time since the last successful renewal was sent.
        since_ms: u128,
        /// The fence window (`lease_duration - fence_margin`).
        window_ms: u128,
    },
    /// The integration shut down and released the Lease.
    #[error("account `{account}`: Lease `{lease}` was released at shutdown; no more orders")]
    Released {
        /// The broker account.
        account: Arc<str>,
        /// Its Lease.
        lease: Arc<str>,
    },
    /// [`Fences::check`] for an account this pod never tried to acquire.
    #[error("account `{account}` is not fenced by this pod; it is not among the accounts it acquired")]
    UnknownAccount {
        /// The broker account.
        account: String,
    },
}

const NOT_HELD: u64 = 0;
const HELD: u64 = 1;
const RELEASED: u64 = 2;

#[derive(Debug)]
struct Inner {
    account: Arc<str>,
    lease: Arc<str>,
    /// The instant deadlines are counted from.
    base: Instant,
    window: Duration,
    state: AtomicU64,
    /// Nanoseconds after `base` at which the last successful write was sent.
    renewed_at: AtomicU64,
    transitions: AtomicU64,
    /// Set once the "fence closed by time" warning was logged for the
    /// current renewal, so the hot path logs it once.
    warned: AtomicBool,
}

/// The fence of one broker account. Clones share state; checking is
/// lock-free.
#[derive(Clone, Debug)]
pub struct Fence {
    inner: Arc<Inner>,
}

impl Fence {
    /// A closed fence for `account`, guarded by Lease `lease`, open for
    /// `window` after each successful renewal.
    pub(crate) fn new(account: &str, lease: &str, window: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                account: account.into(),
                lease: lease.into(),
                base: Instant::now(),
                window,
                state: AtomicU64::new(NOT_HELD),
                renewed_at: AtomicU64::new(0),
                transitions: AtomicU64::new(0),
                warned: AtomicBool::new(false),
            }),
        }
    }

    /// Succeeds only while this process holds the Lease and its last
    /// renewal is younger than the fence window. Call it before every
    /// broker send; attach the token to the order and its journal record.
    pub fn check(&self) -> Result<FenceToken, FenceError> {
        self.check_at(Instant::now())
    }

    /// [`Fence::check`] as of `now` (a pure function of the fence's state
    /// and the time, which the unit tests drive without a paused clock).
    fn check_at(&self, now: Instant) -> Result<FenceToken, FenceError> {
        let inner = &*self.inner;
        match inner.state.load(Ordering::Acquire) {
            HELD => {}
            RELEASED => {
                return Err(FenceError::Released {
                    account: inner.account.clone(),
                    lease: inner.lease.clone(),
                });
            }
            _ => {
                return Err(FenceError::NotHeld {
                    account: inner.account.clone(),
                    lease: inner.lease.clone(),
                });
            }
        }
        let renewed = Duration::from_nanos(inner.renewed_at.load(Ordering::Acquire));
        let token = FenceToken(inner.transitions.load(Ordering::Acquire));
        let since = now.saturating_duration_since(inner.base).saturating_sub(renewed);
        if since < inner.window {
            return Ok(token);
        }
        if !inner.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                account = %inner.account,
                lease = %inner.lease,
                since_ms = since.as_millis(),
                "fence closed: the lease was not renewed in time; orders blocked"
            );
        }
        Err(FenceError::Expired {
            account: inner.account.clone(),
            lease: inner.lease.clone(),
            since_ms: since.as_millis(),
            window_ms: inner.window.as_millis(),
        })
    }

    /// Whether [`Fence::check`] would succeed now.
    pub fn is_open(&self) -> bool {
        self.check().is_ok()
    }

    /// The broker account this fence guards.
    pub fn account(&self) -> &str {
        &self.inner.account
    }

    /// The Lease's name.
    pub fn lease(&self) -> &str {
        &self.inner.lease
    }

    /// The fencing token of the current (or last) holding, even if the
    /// fence is closed now (for logs).
    pub fn last_token(&self) -> FenceToken {
        FenceToken(self.inner.transitions.load(Ordering::Acquire))
    }

    /// Opens (or keeps open) the fence after a successful write of the
    /// Lease that was sent at `sent`.
    pub(crate) fn renewed(&self, sent: Instant, transitions: u64) {
        let inner = &*self.inner;
        if inner.state.load(Ordering::Acquire) == RELEASED {
            return;
        }
        let at = sent.saturating_duration_since(inner.base).as_nanos();
        let at = u64::try_from(at).unwrap_or(u64::MAX);
        inner.transitions.store(transitions, Ordering::Release);
        inner.renewed_at.store(at, Ordering::Release);
        inner.warned.store(false, Ordering::Relaxed);
        inner.state.store(HELD, Ordering::Release);
    }

    /// Closes the fence: the Lease is held by someone else or lost.
    pub(crate) fn lost(&self) {
        let _ = self
            .inner
            .state
            .compare_exchange(HELD, NOT_HELD, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Closes the fence for good (shutdown).
    pub(crate) fn release(&self) {
        self.inner.state.store(RELEASED, Ordering::Release);
    }

    /// Whether this process believes it holds the Lease (regardless of the
    /// renewal deadline).
    pub(crate) fn is_held(&self) -> bool {
        self.inner.state.load(Ordering::Acquire) == HELD
    }
}

/// The fences of the accounts one `acquire_accounts` call asked for.
#[derive(Clone, Debug, Default)]
pub struct Fences {
    by_account: BTreeMap<String, Fence>,
}

impl Fences {
    pub(crate) fn insert(&mut self, fence: Fence) {
        self.by_account.insert(fence.account().to_string(), fence);
    }

    /// The fence of `account`.
    pub fn get(&self, account: &str) -> Option<&Fence> {
        self.by_account.get(account)
    }

    /// Checks the fence of `account` (an unknown account is refused).
    pub fn check(&self, account: &str) -> Result<FenceToken, FenceError> {
        match self.by_account.get(account) {
            Some(fence) => fence.check(),
            None => Err(FenceError::UnknownAccount {
                account: account.to_string(),
            }),
        }
    }

    /// Every fence, by account.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Fence)> {
        self.by_account.iter().map(|(a, f)| (a.as_str(), f))
    }

    /// Whether every fence is open now.
    pub fn all_open(&self) -> bool {
        self.by_account.values().all(Fence::is_open)
    }

    /// How many accounts.
    pub fn len(&self) -> usize {
        self.by_account.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.by_account.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fence() -> Fence {
        Fence::new("DU1", "wasmtrade-account-du1", Duration::from_secs(12))
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_new_fence_is_closed() {
        let f = fence();
        assert!(matches!(f.check(), Err(FenceError::NotHeld { .. })));
    }

    #[test]
    fn opens_on_renewal_and_closes_after_the_window_on_its_own() {
        let f = fence();
        let t0 = f.inner.base + ms(1_000);
        f.renewed(t0, 4);
        assert_eq!(f.check_at(t0), Ok(FenceToken(4)));
        assert_eq!(f.check_at(t0 + ms(11_999)), Ok(FenceToken(4)));
        let err = f.check_at(t0 + ms(12_000));
        assert!(
            matches!(
                err,
                Err(FenceError::Expired {
                    since_ms: 12_000,
                    window_ms: 12_000,
                    ..
                })
            ),
            "{err:?}"
        );
        // A renewal sent later reopens it with the same token.
        let t1 = t0 + ms(13_000);
        f.renewed(t1, 4);
        assert_eq!(f.check_at(t1), Ok(FenceToken(4)));
    }

    #[test]
    fn the_window_counts_from_when_the_renewal_was_sent() {
        let f = fence();
        let sent = f.inner.base + ms(1_000);
        // A slow answer: the renewal is recorded 5 s after it was sent, and
        // 12 s after sending the fence is closed although only 7 s passed
        // since the answer.
        f.renewed(sent, 1);
        assert!(f.check_at(sent + ms(5_000)).is_ok());
        assert!(matches!(
            f.check_at(sent + ms(12_000)),
            Err(FenceError::Expired { .. })
        ));
    }

    #[test]
    fn lost_and_released_close_it() {
        let f = fence();
        f.renewed(Instant::now(), 2);
        f.lost();
        assert!(matches!(f.check(), Err(FenceError::NotHeld { .. })));
        f.renewed(Instant::now(), 3);
        assert_eq!(f.check(), Ok(FenceToken(3)));
        f.release();
        assert!(matches!(f.check(), Err(FenceError::Released { .. })));
        f.renewed(Instant::now(), 4);
        assert!(
            matches!(f.check(), Err(FenceError::Released { .. })),
            "release is final"
        );
    }

    #[test]
    fn fences_refuse_unknown_accounts() {
        let mut all = Fences::default();
        all.insert(fence());
        assert!(matches!(all.check("DU2"), Err(FenceError::UnknownAccount { .. })));
        assert!(matches!(all.check("DU1"), Err(FenceError::NotHeld { .. })));
        assert!(!all.all_open());
    }
}
