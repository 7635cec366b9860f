//! Journal durability cost: appends/s and added latency per order with a
//! flush per append and with group commit (64 per flush), in both
//! durability modes (sled flush + `fdatasync`, the default; sled's
//! `sync_file_range` flush alone), against raw `File::write_all +
//! sync_data` of the same bytes measured in the same run.
//!
//! `cargo bench -p wasmtrade-store --bench journal` (env `JOURNAL_BENCH_N`
//! sets the number of durable appends, default 1000; the data dir is a temp
//! dir under `TMPDIR`, so point that at the volume you want measured).
#![allow(clippy::print_stdout, reason = "a bench binary reports on stdout")]
#![allow(clippy::disallowed_methods, reason = "a benchmark measures wall time")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a bench binary fails loudly"
)]

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use wasmtrade_model::{
    ClientOrderId, InstrumentId, Money, NewOrder, Order, OrderId, OrderStatus, OrderType, Quantity, Side,
    StrategyId, TimeInForce, Timestamp,
};
use wasmtrade_store::{Durability, JournalRecord, Store, StoreOptions};

const GROUP: usize = 64;

fn intent(id: u64) -> JournalRecord {
    JournalRecord::intent(Order {
        id: OrderId(id),
        strategy: StrategyId::new("sma-cross"),
        request: NewOrder {
            client_id: ClientOrderId::new(format!("sma-{id}")),
            instrument: InstrumentId(3),
            side: Side::Buy,
            quantity: Quantity::from_int(100),
            order_type: OrderType::Limit {
                limit: "187.31".parse().unwrap(),
            },
            tif: TimeInForce::Day,
        },
        status: OrderStatus::PendingNew,
        filled: Quantity::ZERO,
        filled_notional: Money::ZERO,
        created: Timestamp::from_secs(1_700_000_000),
        updated: Timestamp::from_secs(1_700_000_000),
    })
}

struct Run {
    name: &'static str,
    records: u64,
    elapsed: Duration,
    /// Added latency per order, in nanoseconds.
    latency: Histogram<u64>,
}

impl Run {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            records: 0,
            elapsed: Duration::ZERO,
            latency: Histogram::new_with_bounds(1, 60_000_000_000, 3).unwrap(),
        }
    }
    fn per_sec(&self) -> f64 {
        self.records as f64 / self.elapsed.as_secs_f64()
    }
    fn record(&mut self, orders: u64, took: Duration) {
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX).max(1);
        self.latency.record_n(ns, orders).unwrap();
        self.records += orders;
        self.elapsed += took;
    }
    fn print(&self, baseline: Option<&Run>) {
        let us = |q: f64| self.latency.value_at_quantile(q) as f64 / 1000.0;
        let ratio = baseline.map_or(String::new(), |b| {
            format!("  {:.2}x {}", self.per_sec() / b.per_sec(), b.name)
        });
        println!(
            "{:<38} {:>8.0} appends/s   p50 {:>8.1} µs   p99 {:>8.1} µs{ratio}",
            self.name,
            self.per_sec(),
            us(0.50),
            us(0.99)
        );
    }
}

/// The bytes the journal writes per record, for a like-for-like baseline.
fn record_bytes() -> Vec<u8> {
    let mut v = vec![1u8, 0, 0, 0, 0];
    v.extend(serde_json::to_vec(&serde_json::json!({"seq": 1, "record": intent(1)})).unwrap());
    v
}

/// Appends to a plain file; `prealloc` writes and syncs zeros first, so the
/// measured `sync_data` calls need no metadata commit (like sled's
/// preallocated segments), otherwise the file grows with every append.
fn raw_file(n: u64, group: usize, prealloc: bool, name: &'static str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let mut file = File::create(dir.path().join("wal")).unwrap();
    if prealloc {
        let len = n as usize * record_bytes().len();
        file.write_all(&vec![0; len]).unwrap();
        file.sync_all().unwrap();
        file.seek(SeekFrom::Start(0)).unwrap();
    }
    let bytes = record_bytes();
    let mut run = Run::new(name);
    for _ in 0..n / group as u64 {
        let t = Instant::now();
        for _ in 0..group {
            file.write_all(&bytes).unwrap();
        }
        file.sync_data().unwrap();
        run.record(group as u64, t.elapsed());
    }
    run
}

fn journal(n: u64, group: usize, durability: Durability, name: &'static str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        durability,
        ..StoreOptions::default()
    };
    let store = Store::open(dir.path(), &options).unwrap();
    let journal = store.journal();
    let mut run = Run::new(name);
    let mut id = 0;
    for _ in 0..n / group as u64 {
        let batch: Vec<_> = (0..group)
            .map(|_| {
                id += 1;
                intent(id)
            })
            .collect();
        let t = Instant::now();
        journal.commit_batch(&batch).unwrap();
        run.record(group as u64, t.elapsed());
    }
    run
}

fn journal_unflushed(n: u64) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
    let mut run = Run::new("journal append, no flush");
    for id in 1..=n {
        let r = intent(id);
        let t = Instant::now();
        store.journal().append(&r).unwrap();
        run.record(1, t.elapsed());
    }
    run
}

fn main() {
    let n: u64 = std::env::var("JOURNAL_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    println!(
        "journal durability, {n} durable appends per mode, record {} bytes, temp dir under {}",
        record_bytes().len(),
        std::env::temp_dir().display()
    );
    let grow1 = raw_file(n, 1, false, "raw append+sync_data, 1/sync");
    let raw1 = raw_file(n, 1, true, "raw prealloc write+sync_data, 1/sync");
    let j1 = journal(n, 1, Durability::Fsync, "journal fsync, 1/flush");
    let s1 = journal(n, 1, Durability::SledFlush, "journal sled-flush only, 1/flush");
    let grow64 = raw_file(n * 16, GROUP, false, "raw append+sync_data, 64/sync");
    let raw64 = raw_file(n * 16, GROUP, true, "raw prealloc write+sync_data, 64/sync");
    let j64 = journal(n * 16, GROUP, Durability::Fsync, "journal fsync, 64/flush");
    let s64 = journal(
        n * 16,
        GROUP,
        Durability::SledFlush,
        "journal sled-flush only, 64/flush",
    );
    let mem = journal_unflushed(n * 16);
    grow1.print(None);
    raw1.print(None);
    j1.print(Some(&raw1));
    s1.print(Some(&raw1));
    grow64.print(None);
    raw64.print(None);
    j64.print(Some(&raw64));
    s64.print(Some(&raw64));
    mem.print(None);
    println!(
        "group commit: {:.1}x the appends/s of a flush per append",
        j64.per_sec() / j1.per_sec()
    );
}
