//! Opening, refusing and migrating data dirs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers outside #[test] functions fail loudly too"
)]

use crate::common;

use std::fs;

use common::{open, seal, with_raw_sled};
use wasmtrade_store::{SCHEMA_VERSION, Store, StoreError, StoreOptions};

fn try_open(dir: &std::path::Path) -> Result<Store, StoreError> {
    Store::open(dir, &StoreOptions::default())
}

fn write_schema(dir: &std::path::Path, version: u32) {
    let json =
        format!(r#"{{"schema_version":{version},"created":1704153600000000000,"engine":"sled 0.34"}}"#);
    with_raw_sled(dir, |db| {
        db.open_tree("meta")
            .unwrap()
            .insert("schema", seal(json.as_bytes()))
            .unwrap();
    });
}

#[test]
fn creates_a_new_store_in_a_missing_dir_and_reopens_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let store = open(&dir);
    assert_eq!(store.schema().schema_version, SCHEMA_VERSION);
    assert_eq!(store.schema().engine, "sled 0.34");
    let created = store.schema().created;
    drop(store);
    let store = open(&dir);
    assert_eq!(store.schema().created, created);
    assert!(!dir.join("sled.init").exists());
}

#[test]
fn refuses_a_missing_dir_when_creation_is_off() {
    let tmp = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        create: false,
        ..StoreOptions::default()
    };
    let err = Store::open(tmp.path().join("nope"), &options).unwrap_err();
    assert!(matches!(err, StoreError::Missing { .. }), "{err:?}");
}

#[test]
fn second_open_of_the_same_dir_is_locked_and_names_the_holder() {
    let tmp = tempfile::tempdir().unwrap();
    let first = open(tmp.path());
    let err = try_open(tmp.path()).unwrap_err();
    match &err {
        StoreError::Locked { dir, holder_pid } => {
            assert_eq!(dir, tmp.path());
            assert_eq!(*holder_pid, Some(std::process::id()));
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    assert!(
        err.to_string().contains(&format!("pid {}", std::process::id())),
        "{err}"
    );
    drop(first);
    try_open(tmp.path()).unwrap();
}

#[test]
fn non_empty_dir_without_a_store_is_not_a_store_and_is_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("notes.txt"), "mine").unwrap();
    let err = try_open(tmp.path()).unwrap_err();
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err:?}");
    assert!(err.to_string().contains("notes.txt"), "{err}");
    assert_eq!(fs::read_to_string(tmp.path().join("notes.txt")).unwrap(), "mine");
    assert!(!tmp.path().join("sled").exists());
}

#[test]
fn sled_db_without_schema_record_is_not_a_store() {
    let tmp = tempfile::tempdir().unwrap();
    drop(open(tmp.path()));
    with_raw_sled(tmp.path(), |db| {
        db.open_tree("meta").unwrap().remove("schema").unwrap();
    });
    let err = try_open(tmp.path()).unwrap_err();
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err:?}");
}

#[test]
fn newer_schema_is_refused_and_not_rewritten() {
    let tmp = tempfile::tempdir().unwrap();
    drop(open(tmp.path()));
    write_schema(tmp.path(), SCHEMA_VERSION + 1);
    let err = try_open(tmp.path()).unwrap_err();
    match err {
        StoreError::SchemaTooNew { found, supported, .. } => {
            assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    // Still the newer version on disk.
    let err = try_open(tmp.path()).unwrap_err();
    assert!(matches!(err, StoreError::SchemaTooNew { .. }));
}

#[test]
fn v0_store_is_migrated_to_v1_keeping_its_data() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    let seq = store.journal().append_durable(&common::intent(1)).unwrap();
    drop(store);
    write_schema(tmp.path(), 0);
    let store = open(tmp.path());
    assert_eq!(store.schema().schema_version, 1);
    let entries: Vec<_> = store.journal().replay().collect::<Result<_, _>>().unwrap();
    assert_eq!(entries[0].seq, seq);
    drop(store);
    assert_eq!(open(tmp.path()).schema().schema_version, 1);
}

#[test]
fn corrupt_schema_record_is_corrupt() {
    let tmp = tempfile::tempdir().unwrap();
    drop(open(tmp.path()));
    with_raw_sled(tmp.path(), |db| {
        let meta = db.open_tree("meta").unwrap();
        let mut v = meta.get("schema").unwrap().unwrap().to_vec();
        let last = v.len() - 2;
        v[last] ^= 0x20;
        meta.insert("schema", v).unwrap();
    });
    let err = try_open(tmp.path()).unwrap_err();
    assert!(err.is_corrupt(), "{err:?}");
    assert!(err.to_string().contains("meta/schema"), "{err}");
}

#[test]
fn missing_sled_file_is_corrupt_not_a_fresh_store() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    store.journal().append_durable(&common::intent(1)).unwrap();
    drop(store);
    fs::remove_file(tmp.path().join("sled/db")).unwrap();
    let err = try_open(tmp.path()).unwrap_err();
    assert!(err.is_corrupt(), "{err:?}");
    assert!(!tmp.path().join("sled/db").exists(), "nothing may be recreated");
}

#[test]
fn truncated_store_file_is_refused_as_corrupt() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    for i in 1..=200 {
        store.journal().append(&common::intent(i)).unwrap();
    }
    store.journal().commit().unwrap();
    store.close().unwrap();
    let db = tmp.path().join("sled/db");
    let len = fs::metadata(&db).unwrap().len();
    let f = fs::OpenOptions::new().write(true).open(&db).unwrap();
    f.set_len(len / 3).unwrap();
    drop(f);
    // sled alone recovers a prefix of its log here and would open with
    // committed records silently missing; the mark catches it.
    let err = try_open(tmp.path()).unwrap_err();
    assert!(err.is_corrupt(), "{err:?}");
    assert!(err.to_string().contains("truncated"), "{err}");
    // Refused again: nothing was rewritten.
    assert!(try_open(tmp.path()).unwrap_err().is_corrupt());
}

#[test]
fn bit_flip_in_a_journal_value_is_reported_with_its_sequence() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    store
        .journal()
        .commit_batch(&[common::intent(1), common::intent(2), common::intent(3)])
        .unwrap();
    drop(store);
    with_raw_sled(tmp.path(), |db| {
        let journal = db.open_tree("journal").unwrap();
        let mut v = journal.get(2u64.to_be_bytes()).unwrap().unwrap().to_vec();
        v[20] ^= 0x01;
        journal.insert(2u64.to_be_bytes(), v).unwrap();
    });
    let store = open(tmp.path());
    let mut replay = store.journal().replay();
    assert_eq!(replay.next().unwrap().unwrap().seq.0, 1);
    let err = replay.next().unwrap().unwrap_err();
    assert!(err.is_corrupt(), "{err:?}");
    assert!(
        err.to_string().contains("journal record #2: checksum mismatch"),
        "{err}"
    );
    assert!(replay.next().is_none(), "replay stops at the damage");
}

#[test]
fn corrupt_journal_tail_refuses_to_open() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    store
        .journal()
        .commit_batch(&[common::intent(1), common::intent(2)])
        .unwrap();
    drop(store);
    with_raw_sled(tmp.path(), |db| {
        db.open_tree("journal")
            .unwrap()
            .insert(2u64.to_be_bytes(), &b"\x01torn"[..])
            .unwrap();
    });
    let err = try_open(tmp.path()).unwrap_err();
    assert!(err.is_corrupt(), "{err:?}");
    assert!(err.to_string().contains("journal record #2"), "{err}");
}

#[test]
fn sled_dir_gone_with_mark_present_is_corrupt_not_recreated() {
    let tmp = tempfile::tempdir().unwrap();
    drop(open(tmp.path()));
    fs::remove_dir_all(tmp.path().join("sled")).unwrap();
    let err = try_open(tmp.path()).unwrap_err();
    assert!(err.is_corrupt(), "{err:?}");
    assert!(!tmp.path().join("sled").exists());
}

#[test]
fn leftover_unfinished_creation_is_cleaned_and_creation_retried() {
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir(tmp.path().join("sled.init")).unwrap();
    fs::write(tmp.path().join("sled.init/conf"), "partial").unwrap();
    let store = open(tmp.path());
    assert_eq!(store.schema().schema_version, SCHEMA_VERSION);
}

#[test]
fn store_dirs_are_owner_only_and_files_private() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let store = open(&dir);
    // An artifact and a module: both land in sled's files.
    store
        .artifacts()
        .put(&wasmtrade_store::ContentHash::of(b"m"), "fp", &[7; 100_000])
        .unwrap();
    drop(store);
    // A store left 0755/0644 by an older binary is tightened when opened.
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(dir.join("MARK"), fs::Permissions::from_mode(0o644)).unwrap();
    drop(open(&dir));
    let mut seen = (0, 0);
    let mut pending = vec![dir.clone()];
    while let Some(p) = pending.pop() {
        let meta = fs::symlink_metadata(&p).unwrap();
        let mode = meta.permissions().mode() & 0o777;
        if meta.is_dir() {
            assert_eq!(mode, wasmtrade_store::DIR_MODE, "{}", p.display());
            pending.extend(fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            seen.0 += 1;
        } else {
            assert_eq!(mode, wasmtrade_store::FILE_MODE, "{}", p.display());
            seen.1 += 1;
        }
    }
    // The data dir, sled/ and its files, LOCK and MARK.
    assert!(seen.0 >= 2 && seen.1 >= 3, "{seen:?}");
}

/// Copies `dir/sled` and `dir/MARK` aside (the store must be closed).
fn back_up(dir: &std::path::Path, to: &std::path::Path) {
    let copy = |from: &std::path::Path, to: &std::path::Path| {
        let status = std::process::Command::new("cp")
            .arg("-a")
            .arg(from)
            .arg(to)
            .status()
            .unwrap();
        assert!(status.success());
    };
    copy(&dir.join("sled"), &to.join("sled"));
    copy(&dir.join("MARK"), &to.join("MARK"));
}

/// Puts the copies back over `dir`, leaving `MARK.live` as it is.
fn roll_back(dir: &std::path::Path, from: &std::path::Path) {
    fs::remove_dir_all(dir.join("sled")).unwrap();
    fs::rename(from.join("sled"), dir.join("sled")).unwrap();
    fs::copy(from.join("MARK"), dir.join("MARK")).unwrap();
}

fn audit(n: u32) -> wasmtrade_store::AuditRecord {
    wasmtrade_store::AuditRecord {
        ts: wasmtrade_model::Timestamp::from_secs(i64::from(n)),
        who: "deployer".into(),
        action: "upload".into(),
        name: "sma".into(),
        version: n,
        sha256: String::new(),
        detail: String::new(),
    }
}

// A process killed with kill -9 writes no closing MARK: without the running
// witness, sled files rolled back to their state at the last start (damage
// sled "recovers" by dropping what follows it) opened as if nothing had
// been committed since.
#[test]
fn journal_records_committed_since_the_last_start_and_then_lost_refuse_the_open() {
    let tmp = tempfile::tempdir().unwrap();
    let aside = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    store
        .journal()
        .commit_batch(&[common::intent(1), common::intent(2)])
        .unwrap();
    drop(store);
    back_up(tmp.path(), aside.path());
    // The next run commits more, then dies; its sled files lose those records.
    let store = open(tmp.path());
    for id in 3..=9 {
        store.journal().append_durable(&common::intent(id)).unwrap();
    }
    drop(store);
    roll_back(tmp.path(), aside.path());
    let err = try_open(tmp.path()).unwrap_err();
    assert!(err.is_corrupt(), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("journal ends at record #2"), "{text}");
    assert!(text.contains("#9"), "{text}");
    assert!(text.contains("MARK.live"), "{text}");
}

#[test]
fn audit_records_lost_since_the_last_start_refuse_the_open() {
    let tmp = tempfile::tempdir().unwrap();
    let aside = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    store.audit().append(&audit(1)).unwrap();
    drop(store);
    back_up(tmp.path(), aside.path());
    let store = open(tmp.path());
    store.audit().append(&audit(2)).unwrap();
    store.audit().append(&audit(3)).unwrap();
    drop(store);
    roll_back(tmp.path(), aside.path());
    let err = try_open(tmp.path()).unwrap_err();
    assert!(err.is_corrupt(), "{err:?}");
    assert!(err.to_string().contains("audit trail ends at record #1"), "{err}");
}

#[test]
fn deleting_both_marks_accepts_an_older_backup_on_purpose() {
    let tmp = tempfile::tempdir().unwrap();
    let aside = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    store.journal().append_durable(&common::intent(1)).unwrap();
    drop(store);
    back_up(tmp.path(), aside.path());
    let store = open(tmp.path());
    store.journal().append_durable(&common::intent(2)).unwrap();
    drop(store);
    roll_back(tmp.path(), aside.path());
    fs::remove_file(tmp.path().join("MARK")).unwrap();
    fs::remove_file(tmp.path().join("MARK.live")).unwrap();
    let store = try_open(tmp.path()).unwrap();
    assert_eq!(store.journal().last_seq().map(|s| s.0), Some(1));
}
