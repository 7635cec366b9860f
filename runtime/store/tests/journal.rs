//! The write-ahead order journal: order, atomicity, dedupe, order ids.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers outside #[test] functions fail loudly too"
)]

use crate::common;

use common::{fill, intent, open, status};
use wasmtrade_model::{OrderId, OrderStatus, Quantity, Timestamp};
use wasmtrade_store::{Difference, DifferenceKind, JournalRecord, Seq, Store, StoreOptions};

#[test]
fn replays_every_kind_of_record_in_append_order_after_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let records = vec![
        intent(1),
        intent(2),
        status(1, OrderStatus::Accepted),
        JournalRecord::Fill(fill(1, "E-1", 40)),
        JournalRecord::NeverSent {
            order_id: OrderId(2),
            ts: Timestamp::from_secs(9),
            reason: "broker has no order with reference O-2".into(),
        },
        JournalRecord::Reconciliation(Difference {
            ts: Timestamp::from_secs(10),
            kind: DifferenceKind::MissedFill,
            order_id: Some(OrderId(1)),
            instrument: None,
            local: "filled 40".into(),
            broker: "filled 60".into(),
            resolution: "adopted the broker's execution E-2".into(),
        }),
        JournalRecord::Fill(fill(1, "E-2", 20)),
    ];
    let store = open(tmp.path());
    let mut seqs = Vec::new();
    for r in &records {
        seqs.push(store.journal().append(r).unwrap());
    }
    assert_eq!(seqs, (1..=7).map(Seq).collect::<Vec<_>>());
    store.journal().commit().unwrap();
    drop(store);

    let store = open(tmp.path());
    let replayed: Vec<_> = store.journal().replay().collect::<Result<_, _>>().unwrap();
    assert_eq!(
        replayed.iter().map(|e| e.record.clone()).collect::<Vec<_>>(),
        records
    );
    assert_eq!(replayed.iter().map(|e| e.seq).collect::<Vec<_>>(), seqs);
    let after: Vec<_> = store
        .journal()
        .replay_after(Seq(5))
        .map(|e| e.unwrap().seq.0)
        .collect();
    assert_eq!(after, [6, 7]);
    // Appending continues the sequence.
    assert_eq!(store.journal().append_durable(&intent(3)).unwrap(), Seq(8));
}

#[test]
fn replay_applies_each_exec_id_once() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    let journal = store.journal();
    journal
        .commit_batch(&[
            intent(1),
            JournalRecord::Fill(fill(1, "E-1", 30)),
            // The gateway re-sends the day's executions after a reconnect.
            JournalRecord::Fill(fill(1, "E-1", 30)),
            JournalRecord::Fill(fill(1, "E-2", 70)),
            JournalRecord::Fill(fill(1, "E-1", 30)),
            status(1, OrderStatus::Filled),
        ])
        .unwrap();
    let mut replay = journal.replay();
    let kinds: Vec<_> = replay.by_ref().map(|e| e.unwrap().seq.0).collect();
    assert_eq!(kinds, [1, 2, 4, 6]);
    assert_eq!(replay.duplicate_fills(), 2);

    let rec = journal.recover().unwrap();
    assert_eq!(rec.fills.len(), 2);
    assert_eq!(rec.duplicate_fills, 2);
    let o = &rec.orders[&OrderId(1)];
    assert_eq!(o.order.filled, Quantity::from_int(100));
    assert_eq!(o.order.status, OrderStatus::Filled);
    assert_eq!(rec.unresolved().count(), 0);
}

#[test]
fn recovery_lists_intents_whose_fate_is_unknown() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    store
        .journal()
        .commit_batch(&[
            intent(1),
            intent(2),
            intent(3),
            status(1, OrderStatus::Cancelled),
            JournalRecord::NeverSent {
                order_id: OrderId(3),
                ts: Timestamp::from_secs(1),
                reason: "absent at broker".into(),
            },
            status(99, OrderStatus::Accepted),
        ])
        .unwrap();
    let rec = store.journal().recover().unwrap();
    let open_ids: Vec<_> = rec.unresolved().map(|o| o.order.id).collect();
    assert_eq!(open_ids, [OrderId(2)]);
    assert!(rec.orders[&OrderId(3)].never_sent);
    assert_eq!(rec.orphan_records, 1);
    assert_eq!(rec.last_seq, Some(Seq(6)));
}

#[test]
fn group_commit_makes_a_batch_durable_with_one_flush() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    let journal = store.journal();
    let batch: Vec<_> = (1..=64).map(intent).collect();
    let range = journal.append_batch(&batch).unwrap();
    assert_eq!((range.start, range.end, range.len()), (1, 65, 64));
    assert_eq!(journal.last_seq(), Some(Seq(64)));
    assert_eq!(journal.durable_seq(), None, "appended is not durable");
    journal.append(&status(1, OrderStatus::Accepted)).unwrap();
    assert_eq!(journal.commit().unwrap(), Some(Seq(65)));
    assert_eq!(journal.durable_seq(), Some(Seq(65)));
    // Nothing new: no flush needed, same answer.
    assert_eq!(journal.commit().unwrap(), Some(Seq(65)));
    assert!(journal.append_batch(&[]).unwrap().is_empty());
}

#[test]
fn group_commit_covers_appends_from_many_threads() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    let journal = store.journal();
    std::thread::scope(|s| {
        for t in 0..4u64 {
            s.spawn(move || {
                for i in 0..50 {
                    journal
                        .append_batch(&[intent(t * 1000 + i), status(t * 1000 + i, OrderStatus::Accepted)])
                        .unwrap();
                    if i % 10 == 9 {
                        journal.commit().unwrap();
                    }
                }
            });
        }
    });
    journal.commit().unwrap();
    let entries: Vec<_> = journal.replay().collect::<Result<_, _>>().unwrap();
    assert_eq!(entries.len(), 400);
    // Each two-record batch stayed adjacent despite concurrency.
    for pair in entries.chunks(2) {
        assert_eq!(pair[0].record.order_id(), pair[1].record.order_id());
        assert!(matches!(pair[0].record, JournalRecord::Intent { .. }));
    }
}

#[test]
fn order_ids_are_monotonic_across_reopen_and_never_reused() {
    let tmp = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        order_id_block: 8,
        ..StoreOptions::default()
    };
    let mut seen = Vec::new();
    for _ in 0..5 {
        let store = Store::open(tmp.path(), &options).unwrap();
        for _ in 0..11 {
            seen.push(store.journal().next_order_id().unwrap().0);
        }
        drop(store);
    }
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    assert_eq!(seen[0], 1);
}

#[test]
fn a_compacted_journal_replays_after_its_base_and_keeps_counting_across_reopens() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    for i in 1..=100 {
        store.journal().append(&status(i, OrderStatus::Accepted)).unwrap();
    }
    // Only durable records can be compacted.
    assert_eq!(store.journal().compact_through(Seq(60)).unwrap(), 0);
    store.journal().commit().unwrap();
    assert_eq!(store.journal().compact_through(Seq(60)).unwrap(), 60);
    assert_eq!(
        store.journal().compact_through(Seq(40)).unwrap(),
        0,
        "never backwards"
    );
    let seqs = |s: &Store| -> Vec<u64> { s.journal().replay().map(|e| e.unwrap().seq.0).collect() };
    assert_eq!(seqs(&store), (61..=100).collect::<Vec<_>>());
    store.journal().commit().unwrap();
    drop(store);

    let store = open(tmp.path());
    assert_eq!(store.journal().base_seq(), Some(Seq(60)));
    assert_eq!(seqs(&store), (61..=100).collect::<Vec<_>>());
    // Compacted to its end: the next record still follows the last one,
    // after a reopen too (the MARK check sees no rollback).
    store.journal().commit().unwrap();
    assert_eq!(store.journal().compact_through(Seq(100)).unwrap(), 40);
    drop(store);
    let store = open(tmp.path());
    assert!(seqs(&store).is_empty());
    assert_eq!(store.journal().last_seq(), Some(Seq(100)));
    let next = store
        .journal()
        .append_durable(&status(7, OrderStatus::Cancelled))
        .unwrap();
    assert_eq!(next, Seq(101));
    assert_eq!(seqs(&store), [101]);
}
