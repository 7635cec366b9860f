//! The engine-wide cap on live guests (`max_live_guests`): every store is
//! admitted against a counter and releases its slot when dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::HostError;
use crate::engine::Shared;

/// Live guests of one engine, with their limit.
#[derive(Debug)]
pub(crate) struct LiveGuests {
    count: AtomicUsize,
    created: AtomicU64,
    limit: usize,
}

impl LiveGuests {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            count: AtomicUsize::new(0),
            created: AtomicU64::new(0),
            limit,
        }
    }

    /// Guests alive now.
    pub(crate) fn current(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// Guests admitted since the engine started.
    pub(crate) fn created(&self) -> u64 {
        self.created.load(Ordering::Relaxed)
    }

    /// Takes a slot, or refuses if all are taken.
    fn acquire(&self) -> Result<(), HostError> {
        self.count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.limit).then_some(n + 1)
            })
            .map(|_| {
                self.created.fetch_add(1, Ordering::Relaxed);
            })
            .map_err(|live| HostError::TooManyGuests {
                live,
                limit: self.limit,
            })
    }

    fn release(&self) {
        self.count.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One admitted guest's slot; dropping it frees the slot. It also keeps the
/// engine's shared state (and so its epoch ticker) alive while the guest lives.
pub(crate) struct LiveGuard {
    shared: Arc<Shared>,
}

impl LiveGuard {
    /// Admits a guest into `shared`'s engine, or fails with [`HostError::TooManyGuests`].
    pub(crate) fn admit(shared: &Arc<Shared>) -> Result<Self, HostError> {
        shared.live.acquire()?;
        Ok(Self {
            shared: shared.clone(),
        })
    }

    /// The engine's shared state.
    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.shared.live.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_beyond_the_limit_and_frees_slots() {
        let live = LiveGuests::new(2);
        live.acquire().unwrap();
        live.acquire().unwrap();
        assert!(matches!(
            live.acquire(),
            Err(HostError::TooManyGuests { live: 2, limit: 2 })
        ));
        live.release();
        assert_eq!(live.current(), 1);
        live.acquire().unwrap();
        assert_eq!(live.current(), 2);
        assert_eq!(live.created(), 3, "a refused admission creates nothing");
    }
}
