//! The write-ahead order journal and the durable order id counter.
//!
//! Records get consecutive sequence numbers from 1. [`Journal::append_batch`]
//! writes a batch atomically (all or none survive a crash) but **not
//! durably**; [`Journal::commit`] makes everything appended so far durable
//! with one flush (group commit). The engine appends the intents of one
//! event batch, commits once, and only then sends any of them:
//!
//! ```no_run
//! # fn demo(store: &wasmtrade_store::Store, orders: Vec<wasmtrade_model::Order>) -> Result<(), wasmtrade_store::StoreError> {
//! use wasmtrade_store::JournalRecord;
//! let intents: Vec<_> = orders.into_iter().map(JournalRecord::intent).collect();
//! store.journal().append_batch(&intents)?;
//! store.journal().commit()?; // durability point: now send them
//! # Ok(()) }
//! ```
//!
//! After any failed write or flush the journal refuses further records
//! ([`StoreError::JournalFailed`]): what reached the disk is unknown, so
//! the process must restart and recover. Sequence numbers of records lost
//! in a crash before their commit are reassigned on restart; a number is
//! meaningful once committed.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};
use wasmtrade_model::OrderId;

use crate::StoreError;
use crate::codec;
use crate::record::JournalRecord;
use crate::store::Shared;

/// Key of the order id high-water mark in the `meta` tree.
const ORDER_ID_HWM: &[u8] = b"order_id_hwm";
/// Key of the compaction point in the `meta` tree: records up to it were
/// removed behind a checkpoint ([`Journal::compact_through`]).
const JOURNAL_BASE: &[u8] = b"journal_base";
/// Records removed per sled batch when compacting.
const COMPACT_BATCH: usize = 4096;

/// A journal sequence number (1-based, consecutive).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Seq(pub u64);

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// The sequence numbers an append was given: `start..end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeqRange {
    /// First number.
    pub start: u64,
    /// One past the last.
    pub end: u64,
}

impl SeqRange {
    /// Number of records.
    pub fn len(&self) -> u64 {
        self.end - self.start
    }
    /// True for an empty append.
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
    /// The last number, if any.
    pub fn last(&self) -> Option<Seq> {
        (!self.is_empty()).then(|| Seq(self.end - 1))
    }
    /// Every number in order.
    pub fn iter(&self) -> impl Iterator<Item = Seq> + use<> {
        (self.start..self.end).map(Seq)
    }
}

/// A replayed record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalEntry {
    /// Its sequence number.
    pub seq: Seq,
    /// The record.
    pub record: JournalRecord,
}

#[derive(Serialize)]
struct StoredRef<'a> {
    seq: u64,
    record: &'a JournalRecord,
}

#[derive(Deserialize)]
struct Stored {
    seq: u64,
    record: JournalRecord,
}

#[derive(Debug)]
struct Writer {
    next_seq: u64,
    /// Set after a failed write or flush.
    failed: Option<String>,
}

#[derive(Debug)]
struct OrderIds {
    next: u64,
    /// First id not covered by the durable high-water mark.
    hwm: u64,
    block: u64,
}

/// The `journal` tree (plus the order id high-water mark in `meta`).
#[derive(Debug)]
pub struct Journal {
    shared: Arc<Shared>,
    tree: sled::Tree,
    meta: sled::Tree,
    writer: Mutex<Writer>,
    /// Highest sequence applied to sled.
    written: AtomicU64,
    /// Highest sequence covered by a successful flush.
    durable: AtomicU64,
    /// Records up to this sequence were compacted away.
    base: AtomicU64,
    order_ids: Mutex<OrderIds>,
}

impl Journal {
    pub(crate) fn open(
        shared: Arc<Shared>,
        meta: sled::Tree,
        order_id_block: u64,
    ) -> Result<Self, StoreError> {
        let tree = shared.tree("journal")?;
        let base = match meta
            .get(JOURNAL_BASE)
            .map_err(shared.err("reading the journal's compaction point"))?
        {
            None => 0,
            Some(raw) => codec::unseal_json::<u64>(&raw)
                .map_err(|r| shared.corrupt(format!("meta/journal_base: {r}")))?,
        };
        let tail = match tree.last().map_err(shared.err("reading the journal tail"))? {
            None => 0,
            Some((key, value)) => decode(&shared, &key, &value)?.0,
        };
        // A journal compacted to its end keeps counting after its base.
        let last = tail.max(base);
        let hwm = match meta
            .get(ORDER_ID_HWM)
            .map_err(shared.err("reading the order id mark"))?
        {
            None => 1,
            Some(raw) => codec::unseal_json::<u64>(&raw)
                .map_err(|r| shared.corrupt(format!("meta/order_id_hwm: {r}")))?,
        };
        Ok(Self {
            shared,
            tree,
            meta,
            writer: Mutex::new(Writer {
                next_seq: last + 1,
                failed: None,
            }),
            // What sled recovered at open is on disk.
            written: AtomicU64::new(last),
            durable: AtomicU64::new(last),
            base: AtomicU64::new(base),
            order_ids: Mutex::new(OrderIds {
                next: hwm,
                hwm,
                block: order_id_block.max(1),
            }),
        })
    }

    /// Appends one record (atomic, not yet durable: see [`commit`](Self::commit)).
    pub fn append(&self, record: &JournalRecord) -> Result<Seq, StoreError> {
        let range = self.append_batch(std::slice::from_ref(record))?;
        Ok(Seq(range.start))
    }

    /// Appends `records` as one atomic batch with consecutive sequence
    /// numbers: after a crash either all of them or none are present. Not
    /// durable until the next [`commit`](Self::commit).
    pub fn append_batch(&self, records: &[JournalRecord]) -> Result<SeqRange, StoreError> {
        let mut w = self.lock_writer();
        if let Some(first_error) = &w.failed {
            return Err(self.failed(first_error));
        }
        let start = w.next_seq;
        let mut batch = sled::Batch::default();
        for (seq, record) in (start..).zip(records) {
            let value = codec::seal_json(&StoredRef { seq, record }).map_err(|e| StoreError::Encode {
                what: format!("journal record {}", Seq(seq)),
                detail: e.to_string(),
            })?;
            batch.insert(&seq.to_be_bytes(), value);
        }
        let end = start + records.len() as u64;
        if let Err(e) = self.tree.apply_batch(batch) {
            let err = StoreError::sled(
                &self.shared.dir,
                format!("appending journal records {start}..{end}"),
                e,
            );
            w.failed = Some(err.to_string());
            return Err(err);
        }
        w.next_seq = end;
        self.written.store(end - 1, Ordering::Release);
        Ok(SeqRange { start, end })
    }

    /// Makes every record appended so far durable (one sled flush, then by
    /// default an `fdatasync`: see [`Durability`](crate::Durability)) and
    /// returns the last durable sequence. Appends from any thread
    /// since the previous commit share this one flush.
    pub fn commit(&self) -> Result<Option<Seq>, StoreError> {
        let target = self.written.load(Ordering::Acquire);
        if target > self.durable.load(Ordering::Acquire) {
            if let Some(first_error) = &self.lock_writer().failed {
                return Err(self.failed(first_error));
            }
            if let Err(err) = self.shared.flush("flushing the journal") {
                self.lock_writer().failed = Some(err.to_string());
                return Err(err);
            }
            self.durable.fetch_max(target, Ordering::AcqRel);
            self.shared.advance_mark(|m| m.journal_seq = target);
        }
        Ok(self.durable_seq())
    }

    /// Appends one record and commits it.
    pub fn append_durable(&self, record: &JournalRecord) -> Result<Seq, StoreError> {
        let seq = self.append(record)?;
        self.commit()?;
        Ok(seq)
    }

    /// Appends a batch atomically and commits it with one flush.
    pub fn commit_batch(&self, records: &[JournalRecord]) -> Result<SeqRange, StoreError> {
        let range = self.append_batch(records)?;
        self.commit()?;
        Ok(range)
    }

    /// The last appended sequence.
    pub fn last_seq(&self) -> Option<Seq> {
        let s = self.written.load(Ordering::Acquire);
        (s > 0).then_some(Seq(s))
    }

    /// The last sequence known durable.
    pub fn durable_seq(&self) -> Option<Seq> {
        let s = self.durable.load(Ordering::Acquire);
        (s > 0).then_some(Seq(s))
    }

    /// Every record still held (after the compaction point,
    /// [`base_seq`](Self::base_seq)) in sequence order, skipping fills
    /// whose `exec_id` was already seen. Each value is checksum-verified; a
    /// gap or a bad value ends the replay with [`StoreError::Corrupt`].
    pub fn replay(&self) -> Replay {
        self.replay_after(Seq(self.base.load(Ordering::Acquire)))
    }

    /// The compaction point: records up to it were removed behind a
    /// checkpoint (`None` if the journal was never compacted).
    pub fn base_seq(&self) -> Option<Seq> {
        let s = self.base.load(Ordering::Acquire);
        (s > 0).then_some(Seq(s))
    }

    /// Removes every record up to `through`, which a checkpoint stored
    /// before this call must reflect (the caller's part: start-up reads the
    /// checkpoint, then [`replay_after`](Self::replay_after) its sequence).
    /// Only durable records are removed: `through` is capped at
    /// [`durable_seq`](Self::durable_seq). The compaction point is recorded
    /// first, so a crash in the middle leaves records that
    /// [`replay`](Self::replay) skips. Returns how many records were removed;
    /// they leave the disk when the next flush makes the removal durable.
    pub fn compact_through(&self, through: Seq) -> Result<u64, StoreError> {
        let through = through.0.min(self.durable.load(Ordering::Acquire));
        let old = self.base.load(Ordering::Acquire);
        if through <= old {
            return Ok(0);
        }
        let value = codec::seal_json(&through).map_err(|e| StoreError::Encode {
            what: "journal compaction point".into(),
            detail: e.to_string(),
        })?;
        self.meta
            .insert(JOURNAL_BASE, value)
            .map_err(self.shared.err("recording the journal's compaction point"))?;
        self.base.store(through, Ordering::Release);
        let mut removed = 0u64;
        let end = through.saturating_add(1).to_be_bytes();
        loop {
            let mut batch = sled::Batch::default();
            let mut n = 0usize;
            for key in self.tree.range(..end).keys().take(COMPACT_BATCH) {
                batch.remove(key.map_err(self.shared.err("listing compacted journal records"))?);
                n += 1;
            }
            if n == 0 {
                break;
            }
            self.tree.apply_batch(batch).map_err(
                self.shared
                    .err(format!("removing journal records up to {}", Seq(through))),
            )?;
            removed += n as u64;
        }
        Ok(removed)
    }

    /// Like [`replay`](Self::replay), starting after `after` (fills are
    /// deduplicated among the replayed records only).
    pub fn replay_after(&self, after: Seq) -> Replay {
        let start = after.0.saturating_add(1);
        Replay {
            shared: self.shared.clone(),
            iter: self.tree.range(start.to_be_bytes()..),
            expected: start,
            exec_ids: BTreeSet::new(),
            duplicate_fills: 0,
            done: false,
        }
    }

    /// A fresh order id: monotonic across restarts and never reused. Ids are
    /// reserved in blocks whose upper bound is flushed before the first id of
    /// the block is handed out, so a crash can skip ids but never repeat one.
    pub fn next_order_id(&self) -> Result<OrderId, StoreError> {
        let mut ids = self.order_ids.lock().unwrap_or_else(PoisonError::into_inner);
        if ids.next >= ids.hwm {
            let hwm = ids.next.saturating_add(ids.block);
            let value = codec::seal_json(&hwm).map_err(|e| StoreError::Encode {
                what: "order id mark".into(),
                detail: e.to_string(),
            })?;
            self.meta
                .insert(ORDER_ID_HWM, value)
                .map_err(self.shared.err("reserving order ids"))?;
            self.shared.flush("flushing reserved order ids")?;
            ids.hwm = hwm;
            self.shared.advance_mark(|m| m.order_id_hwm = hwm);
        }
        let id = ids.next;
        ids.next += 1;
        Ok(OrderId(id))
    }

    /// The durable order id high-water mark.
    pub(crate) fn order_id_hwm(&self) -> u64 {
        self.order_ids.lock().unwrap_or_else(PoisonError::into_inner).hwm
    }

    fn lock_writer(&self) -> MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn failed(&self, first_error: &str) -> StoreError {
        StoreError::JournalFailed {
            dir: self.shared.dir.clone(),
            first_error: first_error.to_string(),
        }
    }
}

/// Iterator over journal records; see [`Journal::replay`].
pub struct Replay {
    shared: Arc<Shared>,
    iter: sled::Iter,
    expected: u64,
    exec_ids: BTreeSet<String>,
    duplicate_fills: u64,
    done: bool,
}

impl Replay {
    /// Fills skipped so far because their `exec_id` was already replayed.
    pub fn duplicate_fills(&self) -> u64 {
        self.duplicate_fills
    }

    fn step(&mut self) -> Result<Option<JournalEntry>, StoreError> {
        loop {
            let Some(item) = self.iter.next() else {
                return Ok(None);
            };
            let (key, value) = item.map_err(self.shared.err("replaying the journal"))?;
            let (seq, record) = decode(&self.shared, &key, &value)?;
            if seq != self.expected {
                return Err(self.shared.corrupt(format!(
                    "journal gap: record {} follows {} (records {}..{} are missing)",
                    Seq(seq),
                    Seq(self.expected.saturating_sub(1)),
                    self.expected,
                    seq
                )));
            }
            self.expected += 1;
            if let JournalRecord::Fill(fill) = &record
                && !self.exec_ids.insert(fill.exec_id.clone())
            {
                self.duplicate_fills += 1;
                continue;
            }
            return Ok(Some(JournalEntry {
                seq: Seq(seq),
                record,
            }));
        }
    }
}

impl Iterator for Replay {
    type Item = Result<JournalEntry, StoreError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let out = self.step().transpose();
        if !matches!(out, Some(Ok(_))) {
            self.done = true;
        }
        out
    }
}

/// Decodes and cross-checks one stored record.
fn decode(shared: &Shared, key: &[u8], value: &[u8]) -> Result<(u64, JournalRecord), StoreError> {
    let seq = <[u8; 8]>::try_from(key)
        .map(u64::from_be_bytes)
        .map_err(|_| shared.corrupt(format!("journal: malformed key {key:02x?}")))?;
    let stored: Stored =
        codec::unseal_json(value).map_err(|r| shared.corrupt(format!("journal record {}: {r}", Seq(seq))))?;
    if stored.seq != seq {
        return Err(shared.corrupt(format!(
            "journal record {} holds the value of record {}",
            Seq(seq),
            Seq(stored.seq)
        )));
    }
    Ok((seq, stored.record))
}
