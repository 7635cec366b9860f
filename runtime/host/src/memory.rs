//! The memory budget of all guests together (`max_total_memory_bytes`).
//!
//! `max_memory_bytes` bounds one guest; this bounds their sum, so that a few
//! guests each growing to their own limit cannot take the process past its
//! container's memory limit (where the kernel would kill the whole runtime,
//! broker session and all). Every linear-memory growth of every guest is
//! reserved here first; a growth that would pass the budget is refused,
//! which stops that guest with a limit fault naming the budget (and so
//! quarantines it in a live run) while the others keep running. A guest's
//! share returns to the budget when its store is dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// The budget shared by every guest of one engine.
#[derive(Debug)]
pub(crate) struct MemoryBudget {
    limit: Option<usize>,
    used: AtomicUsize,
    refused: AtomicU64,
}

impl MemoryBudget {
    /// A budget of `limit` bytes (`None`: unbounded, only counted).
    pub(crate) fn new(limit: Option<usize>) -> Self {
        Self {
            limit,
            used: AtomicUsize::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// Linear memory held by all live guests, in bytes.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    /// Growths refused because of the budget since the engine started.
    pub(crate) fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// The budget, if any.
    pub(crate) fn limit(&self) -> Option<usize> {
        self.limit
    }

    /// Takes `bytes` from the budget, or says how much is used and the
    /// limit when they do not fit.
    fn reserve(&self, bytes: usize) -> Result<(), Exhausted> {
        let Some(limit) = self.limit else {
            self.used.fetch_add(bytes, Ordering::AcqRel);
            return Ok(());
        };
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|&total| total <= limit)
            })
            .map(|_| ())
            .map_err(|used| {
                self.refused.fetch_add(1, Ordering::Relaxed);
                Exhausted { used, limit }
            })
    }

    fn release(&self, bytes: usize) {
        // Never below zero, even if a share were released twice.
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                Some(used.saturating_sub(bytes))
            });
    }
}

/// The budget was exhausted: `used` bytes of `limit` are held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Exhausted {
    pub(crate) used: usize,
    pub(crate) limit: usize,
}

/// One guest's share of the budget; returned when dropped (with the store).
#[derive(Debug)]
pub(crate) struct MemoryShare {
    budget: Arc<MemoryBudget>,
    held: usize,
    /// The last growth reserved, given back if wasmtime then fails it.
    pending: usize,
}

impl MemoryShare {
    /// An empty share of `budget`.
    pub(crate) fn new(budget: Arc<MemoryBudget>) -> Self {
        Self {
            budget,
            held: 0,
            pending: 0,
        }
    }

    /// Reserves a growth from `current` to `desired` bytes.
    pub(crate) fn grow(&mut self, current: usize, desired: usize) -> Result<(), Exhausted> {
        let delta = desired.saturating_sub(current);
        self.budget.reserve(delta)?;
        self.held = self.held.saturating_add(delta);
        self.pending = delta;
        Ok(())
    }

    /// Gives back the last growth (wasmtime could not perform it).
    pub(crate) fn grow_failed(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        self.held = self.held.saturating_sub(pending);
        self.budget.release(pending);
    }
}

impl Drop for MemoryShare {
    fn drop(&mut self) {
        self.budget.release(self.held);
    }
}

/// The memory limit of the container this process runs in, in bytes, if
/// one is set and readable (cgroup v2 `memory.max`, else cgroup v1
/// `memory.limit_in_bytes`; "max" or an absurdly large v1 value: none).
pub fn container_memory_limit() -> Option<u64> {
    const V2: &str = "/sys/fs/cgroup/memory.max";
    const V1: &str = "/sys/fs/cgroup/memory/memory.limit_in_bytes";
    let read = |path: &str| std::fs::read_to_string(path).ok();
    if let Some(text) = read(V2) {
        return parse_limit(&text);
    }
    read(V1).and_then(|text| parse_limit(&text))
}

/// Parses a cgroup memory limit; `None` for "max" and for v1's "no limit"
/// (a page-rounded `i64::MAX`).
fn parse_limit(text: &str) -> Option<u64> {
    let text = text.trim();
    if text == "max" {
        return None;
    }
    let bytes: u64 = text.parse().ok()?;
    (bytes > 0 && bytes < (1 << 60)).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_past_the_budget_is_refused_and_names_the_usage() {
        let budget = Arc::new(MemoryBudget::new(Some(100)));
        let mut a = MemoryShare::new(budget.clone());
        let mut b = MemoryShare::new(budget.clone());
        assert!(a.grow(0, 60).is_ok());
        assert_eq!(b.grow(0, 50), Err(Exhausted { used: 60, limit: 100 }));
        assert!(b.grow(0, 40).is_ok());
        assert_eq!(budget.used(), 100);
        assert_eq!(budget.refused(), 1);
    }

    #[test]
    fn a_dropped_guest_returns_its_share() {
        let budget = Arc::new(MemoryBudget::new(Some(100)));
        let mut a = MemoryShare::new(budget.clone());
        a.grow(0, 30).unwrap();
        a.grow(30, 90).unwrap();
        assert_eq!(budget.used(), 90);
        drop(a);
        assert_eq!(budget.used(), 0);
        let mut b = MemoryShare::new(budget.clone());
        assert!(b.grow(0, 100).is_ok(), "the freed memory is available again");
    }

    #[test]
    fn a_failed_growth_is_given_back() {
        let budget = Arc::new(MemoryBudget::new(Some(100)));
        let mut a = MemoryShare::new(budget.clone());
        a.grow(0, 10).unwrap();
        a.grow(10, 80).unwrap();
        a.grow_failed();
        assert_eq!(budget.used(), 10);
        drop(a);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn without_a_limit_memory_is_counted_only() {
        let budget = Arc::new(MemoryBudget::new(None));
        let mut a = MemoryShare::new(budget.clone());
        a.grow(0, usize::MAX / 2).unwrap();
        assert_eq!(budget.used(), usize::MAX / 2);
        assert_eq!(budget.limit(), None);
    }

    #[test]
    fn cgroup_limits_parse_and_no_limit_reads_as_none() {
        assert_eq!(parse_limit("536870912\n"), Some(536_870_912));
        assert_eq!(parse_limit("max\n"), None);
        assert_eq!(parse_limit("9223372036854771712"), None);
        assert_eq!(parse_limit("garbage"), None);
        assert_eq!(parse_limit("0"), None);
    }
}
