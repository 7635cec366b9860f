//! Fixture builders shared by the store's integration tests.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::path::Path;

use wasmtrade_model::{
    ClientOrderId, Fill, InstrumentId, Money, NewOrder, Order, OrderId, OrderStatus, OrderType, Price,
    Quantity, Side, StrategyId, TimeInForce, Timestamp,
};
use wasmtrade_store::{JournalRecord, Store, StoreOptions};

/// Opens (or creates) a store with default options.
pub fn open(dir: &Path) -> Store {
    Store::open(dir, &StoreOptions::default()).unwrap()
}

/// A pending-new limit order.
pub fn order(id: u64) -> Order {
    Order {
        id: OrderId(id),
        strategy: StrategyId::new("sma-cross"),
        request: NewOrder {
            client_id: ClientOrderId::new(format!("c-{id}")),
            instrument: InstrumentId(7),
            side: if id.is_multiple_of(2) {
                Side::Buy
            } else {
                Side::Sell
            },
            quantity: Quantity::from_int(100),
            order_type: OrderType::Limit {
                limit: "187.31".parse::<Price>().unwrap(),
            },
            tif: TimeInForce::Day,
        },
        status: OrderStatus::PendingNew,
        filled: Quantity::ZERO,
        filled_notional: Money::ZERO,
        created: Timestamp::from_secs(1_700_000_000 + id as i64),
        updated: Timestamp::from_secs(1_700_000_000 + id as i64),
    }
}

/// An intent record for [`order`]`(id)`.
pub fn intent(id: u64) -> JournalRecord {
    JournalRecord::intent(order(id))
}

/// A fill of `qty` on order `id` with execution id `exec`.
pub fn fill(id: u64, exec: &str, qty: i64) -> Fill {
    Fill {
        order_id: OrderId(id),
        strategy: StrategyId::new("sma-cross"),
        client_id: ClientOrderId::new(format!("c-{id}")),
        instrument: InstrumentId(7),
        side: Side::Buy,
        quantity: Quantity::from_int(qty),
        price: "187.30".parse().unwrap(),
        commission: "0.35".parse().unwrap(),
        ts: Timestamp::from_secs(1_700_000_100),
        exec_id: exec.to_string(),
    }
}

/// A status record.
pub fn status(id: u64, status: OrderStatus) -> JournalRecord {
    JournalRecord::Status {
        order_id: OrderId(id),
        status,
        ts: Timestamp::from_secs(1_700_000_050),
        reason: None,
    }
}

/// The documented value envelope, written independently of the crate:
/// `[1][crc32(format ++ payload) LE][payload]`.
pub fn seal(payload: &[u8]) -> Vec<u8> {
    let mut h = crc32fast::Hasher::new();
    h.update(&[1]);
    h.update(payload);
    let mut out = vec![1];
    out.extend_from_slice(&h.finalize().to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// Runs `f` on the raw sled database of a closed store.
pub fn with_raw_sled<T>(dir: &Path, f: impl FnOnce(&sled::Db) -> T) -> T {
    let db = sled::Config::new().path(dir.join("sled")).open().unwrap();
    let out = f(&db);
    db.flush().unwrap();
    out
}
