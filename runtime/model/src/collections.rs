//! Sizes of the in-memory collections that grow with orders and fills.
//!
//! Every component that keeps something per order (the OMS, a broker's own
//! books) reports its collections' lengths, so `/status`, the metrics and
//! a soak can show that finished orders are released and nothing grows
//! once a run is steady.

use serde::Serialize;

/// The length of one per-order collection, named `owner.collection`
/// (e.g. `oms.index`, `paper.ledger_orders`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct CollectionSize {
    /// `owner.collection`, stable across releases (a metric label).
    pub name: &'static str,
    /// Entries now.
    pub len: u64,
}

impl CollectionSize {
    /// The size of `name` holding `len` entries.
    pub fn new(name: &'static str, len: usize) -> Self {
        Self {
            name,
            len: u64::try_from(len).unwrap_or(u64::MAX),
        }
    }
}
