//! Folding a replayed journal into the state recovery starts from.

use std::collections::BTreeMap;

use wasmtrade_model::{Fill, Order, OrderId};

use crate::StoreError;
use crate::journal::{Journal, Seq};
use crate::record::{Difference, JournalRecord};

/// An order as the journal left it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveredOrder {
    /// The order with its last journaled status and its journaled fills.
    pub order: Order,
    /// The broker confirmed it never received the order.
    pub never_sent: bool,
    /// Sequence of its intent record.
    pub intent_seq: Seq,
}

impl RecoveredOrder {
    /// True when nothing about the order is left to learn from the broker.
    pub fn is_resolved(&self) -> bool {
        self.never_sent || self.order.status.is_terminal()
    }
}

/// The journal folded into orders, fills and differences.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Last replayed sequence.
    pub last_seq: Option<Seq>,
    /// Every journaled order by id.
    pub orders: BTreeMap<OrderId, RecoveredOrder>,
    /// Fills in journal order, each `exec_id` once.
    pub fills: Vec<Fill>,
    /// Fills skipped as duplicates of an earlier `exec_id`.
    pub duplicate_fills: u64,
    /// Reconciliation differences in journal order.
    pub differences: Vec<Difference>,
    /// Status, fill or never-sent records for an order without an intent.
    pub orphan_records: u64,
}

impl Recovery {
    /// Orders whose fate must be looked up at the broker before trading.
    pub fn unresolved(&self) -> impl Iterator<Item = &RecoveredOrder> {
        self.orders.values().filter(|o| !o.is_resolved())
    }
}

impl Journal {
    /// Replays the whole journal into a [`Recovery`].
    pub fn recover(&self) -> Result<Recovery, StoreError> {
        let mut out = Recovery::default();
        let mut replay = self.replay();
        for entry in replay.by_ref() {
            let entry = entry?;
            out.last_seq = Some(entry.seq);
            apply(&mut out, entry.seq, entry.record);
        }
        out.duplicate_fills = replay.duplicate_fills();
        Ok(out)
    }
}

fn apply(out: &mut Recovery, seq: Seq, record: JournalRecord) {
    match record {
        JournalRecord::Intent { order_id, order, .. } => {
            out.orders.insert(
                order_id,
                RecoveredOrder {
                    order,
                    never_sent: false,
                    intent_seq: seq,
                },
            );
        }
        JournalRecord::Status {
            order_id, status, ts, ..
        } => match out.orders.get_mut(&order_id) {
            Some(o) => {
                o.order.status = status;
                o.order.updated = ts;
            }
            None => out.orphan_records += 1,
        },
        JournalRecord::Fill(fill) => {
            match out.orders.get_mut(&fill.order_id) {
                Some(o) => {
                    o.order.filled += fill.quantity;
                    o.order.filled_notional += fill.price.notional(fill.quantity);
                    o.order.updated = fill.ts;
                }
                None => out.orphan_records += 1,
            }
            out.fills.push(fill);
        }
        JournalRecord::NeverSent { order_id, ts, .. } => match out.orders.get_mut(&order_id) {
            Some(o) => {
                o.never_sent = true;
                o.order.updated = ts;
            }
            None => out.orphan_records += 1,
        },
        JournalRecord::Reconciliation(d) => out.differences.push(d),
    }
}
