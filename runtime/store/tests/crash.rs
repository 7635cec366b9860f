//! CR10: sled's durability for our record types under `kill -9`.
//!
//! The test binary re-executes itself as a child (`crash_child`, activated by
//! an environment variable) that appends journal batches of 1–64 mixed
//! records (intents with fresh order ids, fills, status changes), commits
//! each batch with one flush and reports on stdout every order id before it
//! uses it and every committed sequence after `commit` returns. The parent
//! SIGKILLs it at a random point (after a random number of reported commits
//! plus random jitter, sometimes during start-up), reopens the same data
//! dir and checks:
//!
//! - the journal replays without error from #1 with no gap (checksums hold);
//! - every sequence reported as committed is present, with the batch it was
//!   reported for;
//! - every batch is whole: all of its records, in order, consecutively;
//! - order ids in intents increase along the journal, and `next_order_id`
//!   after the restart is above every id ever handed out;
//! - while the child runs, opening its data dir from the parent is refused
//!   with `Locked` naming the child's pid.
//!
//! The next child continues on the same data dir (it resumes after the last
//! batch found), so recovery followed by more work is covered too; the dir
//! is replaced every 10 runs to bound replay time.
//!
//! `WASMTRADE_STORE_CRASH_ITERS` (default 60) and `WASMTRADE_STORE_CRASH_SEED`
//! set the number of runs and the seed (failures print the seed and run).
//! A process kill leaves the OS page cache intact, so this cannot detect a
//! missing fsync: it tests sled's recovery and our framing, not power loss.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers outside #[test] functions fail loudly too"
)]

use crate::common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use wasmtrade_model::{ClientOrderId, OrderId, OrderStatus, Timestamp};
use wasmtrade_store::{JournalRecord, Store, StoreError, StoreOptions};

const CHILD_DIR: &str = "WASMTRADE_STORE_CRASH_CHILD_DIR";
const CHILD_FLUSH_MS: &str = "WASMTRADE_STORE_CRASH_CHILD_FLUSH_MS";

/// The tag every record carries: batch, index in batch, batch size.
fn tag(b: u64, i: usize, n: usize) -> String {
    format!("b{b}-i{i}-n{n}")
}

fn parse_tag(t: &str) -> (u64, usize, usize) {
    let mut it = t.split('-');
    let mut field = |p: char| {
        it.next()
            .and_then(|s| s.strip_prefix(p))
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap()
    };
    let (b, i, n) = (field('b'), field('i'), field('n'));
    (b, i as usize, n as usize)
}

fn record_tag(r: &JournalRecord) -> String {
    match r {
        JournalRecord::Intent { order, .. } => order.request.client_id.as_str().to_string(),
        JournalRecord::Fill(f) => f.exec_id.clone(),
        JournalRecord::Status { reason, .. } => reason.clone().unwrap(),
        other => panic!("unexpected record {other:?}"),
    }
}

/// The child: append and commit batches until killed.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return; // Only active when re-executed by `kill_9_at_random_points_loses_nothing_committed`.
    };
    let flush_every_ms = std::env::var(CHILD_FLUSH_MS).ok().and_then(|v| v.parse().ok());
    let options = StoreOptions {
        flush_every_ms,
        order_id_block: 16,
        ..StoreOptions::default()
    };
    let store = Store::open(&dir, &options).unwrap();
    let journal = store.journal();
    let first_batch = journal
        .replay()
        .map(|e| parse_tag(&record_tag(&e.unwrap().record)).0 + 1)
        .max()
        .unwrap_or(0);
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready").unwrap();
    out.flush().unwrap();
    for b in first_batch..first_batch + 5_000 {
        let mut rng = StdRng::seed_from_u64(b);
        let n = rng.random_range(1..=64usize);
        let mut records = Vec::with_capacity(n);
        let mut last_order = OrderId(0);
        for i in 0..n {
            let t = tag(b, i, n);
            records.push(match i % 3 {
                0 => {
                    last_order = journal.next_order_id().unwrap();
                    writeln!(out, "id {}", last_order.0).unwrap();
                    out.flush().unwrap();
                    let mut order = common::order(last_order.0);
                    order.request.client_id = ClientOrderId::new(&t);
                    JournalRecord::intent(order)
                }
                1 => {
                    let mut fill = common::fill(last_order.0, &t, 10);
                    fill.order_id = last_order;
                    JournalRecord::Fill(fill)
                }
                _ => JournalRecord::Status {
                    order_id: last_order,
                    status: OrderStatus::PartiallyFilled,
                    ts: Timestamp::from_secs(b as i64),
                    reason: Some(t),
                },
            });
        }
        let range = journal.commit_batch(&records).unwrap();
        writeln!(out, "commit {} {b}", range.end - 1).unwrap();
        out.flush().unwrap();
    }
}

#[derive(Default, Debug)]
struct Reported {
    max_id: u64,
    commits: Vec<(u64, u64)>,
}

fn parse_line(line: &str, rep: &mut Reported) -> bool {
    let parts: Vec<_> = line.split(' ').collect();
    match parts.as_slice() {
        ["id", id] => rep.max_id = rep.max_id.max(id.parse().unwrap()),
        ["commit", seq, batch] => rep.commits.push((seq.parse().unwrap(), batch.parse().unwrap())),
        _ => return false,
    }
    true
}

/// Runs one child and kills it; returns what it reported.
fn run_child(dir: &Path, rng: &mut StdRng) -> Reported {
    let flush = [None, Some(1), Some(500)][rng.random_range(0..3)];
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "crash::crash_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.with_extension("stderr")).unwrap());
    if let Some(ms) = flush {
        cmd.env(CHILD_FLUSH_MS, ms.to_string());
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut rep = Reported::default();
    // 10% of runs die during start-up or recovery; the rest after 0-40 commits.
    if rng.random_bool(0.9) {
        let want = rng.random_range(0..40usize);
        loop {
            let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|e| {
                let _ = child.kill();
                let stderr = std::fs::read_to_string(dir.with_extension("stderr")).unwrap_or_default();
                panic!("child stalled or died before being killed ({e}); its stderr:\n{stderr}")
            });
            parse_line(&line, &mut rep);
            // libtest may print `test crash_child ... ` before the first line.
            let ready = line.ends_with("ready");
            if (want == 0 && ready) || (want > 0 && rep.commits.len() >= want) {
                break;
            }
        }
        // A second process is refused while the child holds the data dir.
        match Store::open(dir, &StoreOptions::default()) {
            Err(StoreError::Locked { holder_pid, .. }) => assert_eq!(holder_pid, Some(child.id())),
            other => panic!("expected Locked by the child, got {other:?}"),
        }
        std::thread::sleep(Duration::from_micros(rng.random_range(0..2_000)));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    reader.join().unwrap();
    for line in rx.try_iter() {
        // A line cut by the kill has no newline yet and is not a report.
        parse_line(&line, &mut rep);
    }
    rep
}

/// Reopens the dir and checks every invariant; returns the highest order id
/// in the journal.
fn verify(dir: &Path, rep: &Reported, max_id_ever: u64) -> u64 {
    let store = Store::open(dir, &StoreOptions::default()).unwrap_or_else(|e| panic!("reopen failed: {e}"));
    let entries: Vec<_> = store
        .journal()
        .replay()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("replay failed: {e}"));
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e.seq.0, i as u64 + 1, "contiguous prefix");
    }
    let last = entries.last().map_or(0, |e| e.seq.0);
    for &(seq, batch) in &rep.commits {
        assert!(
            seq <= last,
            "committed #{seq} (batch {batch}) lost: journal ends at #{last}"
        );
        let (b, i, n) = parse_tag(&record_tag(&entries[seq as usize - 1].record));
        assert_eq!((b, i + 1), (batch, n), "#{seq} should end batch {batch}");
    }
    // Batches are whole and in order.
    let mut pos = 0;
    let mut prev_batch = None;
    let mut max_intent_id = 0;
    while pos < entries.len() {
        let (b, i0, n) = parse_tag(&record_tag(&entries[pos].record));
        assert_eq!(i0, 0, "batch {b} starts mid-batch at #{}", pos + 1);
        assert!(prev_batch.is_none_or(|p| b > p), "batch {b} after {prev_batch:?}");
        assert!(
            pos + n <= entries.len(),
            "batch {b} torn: {} of {n} records",
            entries.len() - pos
        );
        for (i, e) in entries[pos..pos + n].iter().enumerate() {
            assert_eq!(
                parse_tag(&record_tag(&e.record)),
                (b, i, n),
                "batch {b} record {i} at #{}",
                e.seq.0
            );
            if let JournalRecord::Intent { order_id, .. } = e.record {
                assert!(
                    order_id.0 > max_intent_id,
                    "order id {order_id} not above {max_intent_id}"
                );
                max_intent_id = order_id.0;
            }
        }
        prev_batch = Some(b);
        pos += n;
    }
    let next = store.journal().next_order_id().unwrap().0;
    assert!(
        next > max_id_ever.max(rep.max_id),
        "next order id {next} reuses an id already handed out"
    );
    next
}

#[test]
fn kill_9_at_random_points_loses_nothing_committed() {
    let iterations: u64 = std::env::var("WASMTRADE_STORE_CRASH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let seed: u64 = std::env::var("WASMTRADE_STORE_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut tmp = tempfile::tempdir().unwrap();
    let mut max_id_ever = 0;
    let mut total_commits = 0;
    for run in 0..iterations {
        if run % 10 == 0 {
            tmp = tempfile::tempdir().unwrap();
            max_id_ever = 0;
        }
        let dir = tmp.path().join("data");
        let rep = run_child(&dir, &mut rng);
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| verify(&dir, &rep, max_id_ever)));
        match outcome {
            Ok(next) => max_id_ever = max_id_ever.max(next).max(rep.max_id),
            Err(e) => {
                eprintln!(
                    "CR10 violation: seed {seed}, run {run}, data dir kept at {}",
                    tmp.path().display()
                );
                let _ = tmp.keep();
                std::panic::resume_unwind(e);
            }
        }
        total_commits += rep.commits.len();
    }
    eprintln!(
        "CR10: {iterations} kill -9 runs, {total_commits} reported commits verified, 0 violations (seed {seed})"
    );
}
