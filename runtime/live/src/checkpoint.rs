//! Flat memory and restart time over a long run.
//!
//! Right after each periodic guest snapshot (`guests.snapshot_every_bars`)
//! and at shutdown, the event loop, between two events:
//!
//! 1. commits the journal (every record the OMS reflects is durable);
//! 2. takes finished orders, their fills and closed trades out of the OMS
//!    (and out of the in-process paper broker's books) and writes the
//!    orders to the store's order history, where `orders` queries still
//!    find them;
//! 3. stores a [`Checkpoint`] — the OMS's whole state at the journal's last
//!    sequence — and flushes;
//! 4. removes the journal records up to that sequence.
//!
//! Start-up reads the checkpoint and replays only the records after it
//! ([`Start::load`]), so restart time does not grow with history. A guest
//! restored from its periodic snapshot after a crash is handed the fills
//! after the snapshot again: they are in the journal after the checkpoint
//! taken with it. A crash
//! between any two steps is safe: the checkpoint is durable before a
//! record behind it is removed, and a journal whose compaction point is
//! ahead of its checkpoint is refused as damaged.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use wasmtrade_model::{Fill, Money, OrderId, Timestamp};
use wasmtrade_oms::{Oms, OmsCheckpoint};
use wasmtrade_store::{JournalEntry, PortfolioKind, PortfolioSnapshot, Seq, Store, StoreError};

use crate::error::LiveError;

/// What the live runtime stores in `portfolio/checkpoint`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Checkpoint {
    /// The account: cash, positions, P&L, working orders and their fills.
    pub(crate) oms: OmsCheckpoint,
    /// The highest paper execution number (`P-<n>`) seen: an in-process
    /// paper broker continues after it.
    pub(crate) paper_exec: u64,
    /// The highest order id released: an execution a venue reports for an
    /// order up to it that the OMS no longer holds was applied before.
    pub(crate) released_through: u64,
}

/// The number of a paper execution id (`P-<n>`).
pub(crate) fn paper_exec_number(exec_id: &str) -> Option<u64> {
    exec_id.strip_prefix("P-").and_then(|n| n.parse().ok())
}

fn highest_paper_exec<'a>(fills: impl IntoIterator<Item = &'a Fill>) -> u64 {
    fills
        .into_iter()
        .filter_map(|f| paper_exec_number(&f.exec_id))
        .max()
        .unwrap_or(0)
}

/// What start-up reads from the store: the checkpoint, if one was stored,
/// and the journal records after it.
pub(crate) struct Start {
    /// The checkpoint and when it was taken.
    pub(crate) checkpoint: Option<(Timestamp, Checkpoint)>,
    /// The journal records after the checkpoint (all of them without one).
    pub(crate) journal: Vec<JournalEntry>,
}

impl Start {
    /// Reads the checkpoint and the journal after it. Refuses a store whose
    /// journal was compacted past its checkpoint (records between them are
    /// gone) and any record that fails its checksum.
    pub(crate) fn load(store: &Store) -> Result<Self, LiveError> {
        let snapshot: Option<PortfolioSnapshot<Checkpoint>> =
            store.portfolio().get(PortfolioKind::Checkpoint)?;
        let base = store.journal().base_seq();
        let after = snapshot.as_ref().and_then(|s| s.journal_seq);
        if base > after {
            return Err(LiveError::from(StoreError::Corrupt {
                dir: store.dir().to_path_buf(),
                reason: format!(
                    "the journal was compacted up to record {} but the checkpoint reflects only {}: the records between them are lost (restore the data dir from a backup, see docs/durability.md)",
                    base.map_or(0, |s| s.0),
                    after.map_or(0, |s| s.0)
                ),
            }));
        }
        let journal = store
            .journal()
            .replay_after(after.unwrap_or(Seq(0)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            checkpoint: snapshot.map(|s| (s.as_of, s.value)),
            journal,
        })
    }

    /// The OMS the loop starts from: the checkpoint's, or an empty account
    /// holding `starting_cash` (the journal after it is applied next).
    pub(crate) fn oms(&self, starting_cash: Money) -> Result<Oms, LiveError> {
        match &self.checkpoint {
            None => Ok(Oms::new(starting_cash)),
            Some((_, c)) => Oms::from_checkpoint(c.oms.clone()).map_err(|e| {
                LiveError::Internal(format!(
                    "the stored checkpoint does not hold together ({e}); restore the data dir from a backup"
                ))
            }),
        }
    }

    /// The latest time the store knows of (checkpoint or journal).
    pub(crate) fn last_time(&self) -> Timestamp {
        let journal = crate::journal::last_time(&self.journal);
        match &self.checkpoint {
            Some((as_of, _)) => journal.max(*as_of),
            None => journal,
        }
    }

    /// The compactor that goes on from here.
    pub(crate) fn compactor(&self, store: Arc<Store>, history_limit: u64) -> Compactor {
        let (paper_exec, released_through) = self
            .checkpoint
            .as_ref()
            .map_or((0, 0), |(_, c)| (c.paper_exec, c.released_through));
        Compactor {
            store,
            history_limit,
            paper_exec,
            released_through,
        }
    }
}

/// What one checkpoint did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Compacted {
    /// Orders moved to the history.
    pub(crate) orders: usize,
    /// Journal records removed.
    pub(crate) records: u64,
    /// The sequence the checkpoint reflects.
    pub(crate) seq: Option<Seq>,
}

/// Runs the checkpoints of one event loop (see the module docs).
pub(crate) struct Compactor {
    store: Arc<Store>,
    history_limit: u64,
    paper_exec: u64,
    released_through: u64,
}

impl Compactor {
    /// True when `id` is an order this runtime finished and released.
    pub(crate) fn released(&self, id: OrderId) -> bool {
        id.0 <= self.released_through
    }

    /// Releases finished orders to the history, stores a checkpoint of
    /// `engine`'s account and compacts the journal behind it. Call it
    /// between events. On a store error nothing is compacted (the journal
    /// keeps every record, start-up replays them).
    pub(crate) fn run<B: wasmtrade_broker::Broker>(
        &mut self,
        engine: &mut wasmtrade_engine::Engine<B>,
        now: Timestamp,
    ) -> Result<Compacted, StoreError> {
        let journal = self.store.journal();
        journal.commit()?;
        let released = engine.release_finished();
        self.paper_exec = self
            .paper_exec
            .max(highest_paper_exec(&released.fills))
            .max(highest_paper_exec(engine.oms().fills()));
        if let Some(last) = released.orders.iter().map(|o| o.id.0).max() {
            self.released_through = self.released_through.max(last);
        }
        self.store.history().put(&released.orders, self.history_limit)?;
        let seq = journal.durable_seq();
        let checkpoint = Checkpoint {
            oms: engine.oms().checkpoint(),
            paper_exec: self.paper_exec,
            released_through: self.released_through,
        };
        self.store.portfolio().put(
            PortfolioKind::Checkpoint,
            &PortfolioSnapshot {
                as_of: now,
                journal_seq: seq,
                value: checkpoint,
            },
        )?;
        self.store.flush()?;
        let records = match seq {
            Some(seq) => journal.compact_through(seq)?,
            None => 0,
        };
        Ok(Compacted {
            orders: released.orders.len(),
            records,
            seq,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use wasmtrade_model::OrderStatus;
    use wasmtrade_store::{JournalRecord, StoreOptions};

    fn status(id: u64) -> JournalRecord {
        JournalRecord::Status {
            order_id: OrderId(id),
            status: OrderStatus::Accepted,
            ts: Timestamp::from_secs(id as i64),
            reason: None,
        }
    }

    #[test]
    fn start_replays_only_the_journal_after_the_checkpoint_and_refuses_one_compacted_past_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path(), &StoreOptions::default()).unwrap());
        for i in 1..=10 {
            store.journal().append(&status(i)).unwrap();
        }
        store.journal().commit().unwrap();
        let fresh = Start::load(&store).unwrap();
        assert!(fresh.checkpoint.is_none());
        assert_eq!(fresh.journal.len(), 10);

        // A checkpoint through record 6 (what the compactor stores), then
        // the journal compacted behind it.
        let mut oms = Oms::new(Money::from_int(1000));
        oms.mark(
            wasmtrade_model::InstrumentId(0),
            wasmtrade_model::Price::from_int(5),
        );
        let checkpoint = Checkpoint {
            oms: oms.checkpoint(),
            paper_exec: 42,
            released_through: 3,
        };
        store
            .portfolio()
            .put(
                PortfolioKind::Checkpoint,
                &PortfolioSnapshot {
                    as_of: Timestamp::from_secs(60),
                    journal_seq: Some(Seq(6)),
                    value: checkpoint.clone(),
                },
            )
            .unwrap();
        store.flush().unwrap();
        store.journal().compact_through(Seq(6)).unwrap();
        let start = Start::load(&store).unwrap();
        let seqs: Vec<u64> = start.journal.iter().map(|e| e.seq.0).collect();
        assert_eq!(seqs, [7, 8, 9, 10]);
        assert_eq!(start.checkpoint.as_ref().map(|c| &c.1), Some(&checkpoint));
        assert_eq!(start.last_time(), Timestamp::from_secs(60));
        assert_eq!(start.oms(Money::ZERO).unwrap().checkpoint(), oms.checkpoint());
        let compactor = start.compactor(store.clone(), 10);
        assert!(compactor.released(OrderId(3)) && !compactor.released(OrderId(4)));

        // Compacted past the checkpoint: records 7 and 8 are gone for good.
        store.journal().compact_through(Seq(8)).unwrap();
        let err = Start::load(&store).err().expect("refused");
        assert!(err.to_string().contains("compacted up to record 8"), "{err}");
    }

    #[test]
    fn paper_execution_numbers_are_read_from_their_ids_only() {
        assert_eq!(paper_exec_number("P-17"), Some(17));
        assert_eq!(paper_exec_number("E-17"), None);
        assert_eq!(paper_exec_number("P-x"), None);
    }
}
