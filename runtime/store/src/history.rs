//! Finished orders, queryable after they left the runtime's memory.
//!
//! The live runtime keeps only working orders in memory; when an order
//! finishes it is written here (its final status, filled quantity and
//! notional) before the journal records that led to it are compacted away.
//! The history keeps the newest `limit` orders (`[store] order_history`);
//! older ones are removed as new ones arrive, so the store stays flat over
//! a long run.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use wasmtrade_model::{Order, OrderId, StrategyId};

use crate::StoreError;
use crate::codec;
use crate::store::Shared;

/// The `orders` tree: finished orders by id. Writes are not flushed on
/// their own (the checkpoint that follows them flushes).
#[derive(Debug)]
pub struct OrderHistory {
    shared: Arc<Shared>,
    tree: sled::Tree,
    /// Orders held (counted once at open).
    len: AtomicU64,
}

impl OrderHistory {
    pub(crate) fn open(shared: Arc<Shared>) -> Result<Self, StoreError> {
        let tree = shared.tree("orders")?;
        let len = tree.len() as u64;
        Ok(Self {
            tree,
            shared,
            len: AtomicU64::new(len),
        })
    }

    /// Records finished orders (replacing any with the same id), then
    /// removes the oldest until at most `limit` are held.
    pub fn put(&self, orders: &[Order], limit: u64) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        let mut added = 0u64;
        for order in orders {
            let value = codec::seal_json(order).map_err(|e| StoreError::Encode {
                what: format!("order {} for the history", order.id),
                detail: e.to_string(),
            })?;
            let key = order.id.0.to_be_bytes();
            if !self
                .tree
                .contains_key(key)
                .map_err(self.shared.err("reading the order history"))?
            {
                added += 1;
            }
            batch.insert(&key, value);
        }
        self.tree
            .apply_batch(batch)
            .map_err(self.shared.err("writing the order history"))?;
        let mut len = self.len.fetch_add(added, Ordering::AcqRel) + added;
        if len > limit {
            let mut batch = sled::Batch::default();
            let mut removed = 0u64;
            for key in self.tree.iter().keys().take((len - limit) as usize) {
                batch.remove(key.map_err(self.shared.err("listing the order history"))?);
                removed += 1;
            }
            self.tree
                .apply_batch(batch)
                .map_err(self.shared.err("trimming the order history"))?;
            len = self.len.fetch_sub(removed, Ordering::AcqRel) - removed;
        }
        tracing::trace!(held = len, "order history written");
        Ok(())
    }

    /// The newest `limit` finished orders (of `strategy` if given), oldest first.
    pub fn recent(&self, strategy: Option<&StrategyId>, limit: usize) -> Result<Vec<Order>, StoreError> {
        let mut out = Vec::new();
        for item in self.tree.iter().rev() {
            if out.len() >= limit {
                break;
            }
            let (key, value) = item.map_err(self.shared.err("reading the order history"))?;
            let order: Order = codec::unseal_json(&value)
                .map_err(|r| self.shared.corrupt(format!("orders/{key:02x?}: {r}")))?;
            if strategy.is_none_or(|s| &order.strategy == s) {
                out.push(order);
            }
        }
        out.reverse();
        Ok(out)
    }

    /// The finished order with this id, if the history still holds it.
    pub fn get(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        let raw = self
            .tree
            .get(id.0.to_be_bytes())
            .map_err(self.shared.err(format!("reading order {id} from the history")))?;
        raw.map(|raw| codec::unseal_json(&raw).map_err(|r| self.shared.corrupt(format!("orders/{id}: {r}"))))
            .transpose()
    }

    /// How many orders the history holds.
    pub fn len(&self) -> u64 {
        self.len.load(Ordering::Acquire)
    }

    /// True when the history holds no order.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use wasmtrade_model::{
        ClientOrderId, InstrumentId, Money, NewOrder, OrderStatus, OrderType, Quantity, Side, TimeInForce,
        Timestamp,
    };

    use crate::{Store, StoreOptions};

    use super::*;

    fn order(id: u64, strategy: &str) -> Order {
        Order {
            id: OrderId(id),
            strategy: StrategyId::new(strategy),
            request: NewOrder {
                client_id: ClientOrderId::new(format!("c{id}")),
                instrument: InstrumentId(0),
                side: Side::Buy,
                quantity: Quantity::from_int(1),
                order_type: OrderType::Market,
                tif: TimeInForce::Gtc,
            },
            status: OrderStatus::Filled,
            filled: Quantity::from_int(1),
            filled_notional: Money::from_int(100),
            created: Timestamp::from_secs(id as i64),
            updated: Timestamp::from_secs(id as i64),
        }
    }

    #[test]
    fn the_history_keeps_the_newest_orders_up_to_its_limit_across_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
            let h = store.history();
            let batch: Vec<Order> = (1..=30)
                .map(|i| order(i, if i % 2 == 0 { "a" } else { "b" }))
                .collect();
            h.put(&batch[..20], 25).unwrap();
            h.put(&batch[20..], 25).unwrap();
            assert_eq!(h.len(), 25);
            assert_eq!(h.get(OrderId(5)).unwrap(), None);
            assert_eq!(h.get(OrderId(6)).unwrap(), Some(batch[5].clone()));
        }
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        let h = store.history();
        assert_eq!(h.len(), 25);
        let ids: Vec<u64> = h.recent(None, 3).unwrap().iter().map(|o| o.id.0).collect();
        assert_eq!(ids, [28, 29, 30]);
        let a: Vec<u64> = h
            .recent(Some(&StrategyId::new("a")), 2)
            .unwrap()
            .iter()
            .map(|o| o.id.0)
            .collect();
        assert_eq!(a, [28, 30]);
        // Writing an order again replaces it and does not count twice.
        h.put(&[order(30, "a")], 25).unwrap();
        assert_eq!(h.len(), 25);
    }
}
