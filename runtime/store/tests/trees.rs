//! Round trips of every tree through close and reopen.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers outside #[test] functions fail loudly too"
)]

use crate::common;

use std::collections::BTreeMap;

use common::open;
use serde::{Deserialize, Serialize};
use wasmtrade_model::{StrategyId, Timestamp};
use wasmtrade_store::{
    Change, ContentHash, ModuleKind, PortfolioKind, PortfolioSnapshot, Seq, StoreError, Upload, VersionStatus,
};

fn upload<'a>(name: &'a str, label: &'a str) -> Upload<'a> {
    Upload {
        name,
        kind: ModuleKind::Strategy,
        label,
        uploaded_by: "alice",
        uploaded_at: Timestamp::from_secs(100),
        config: None,
    }
}

#[test]
fn modules_versions_active_and_bytes_survive_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    let v1 = store
        .modules()
        .add_version(&upload("sma-cross", "v1.0"), b"wasm one")
        .unwrap();
    let v2 = store
        .modules()
        .add_version(&upload("sma-cross", "v1.1"), b"wasm two")
        .unwrap();
    assert_eq!((v1.version, v2.version), (1, 2));
    assert_eq!(v1.sha256, ContentHash::of(b"wasm one"));
    // Same bytes again: the existing version, no new one.
    let again = store
        .modules()
        .add_version(&upload("sma-cross", "retry"), b"wasm one")
        .unwrap();
    assert_eq!(again, v1);
    store.modules().activate("sma-cross", 2).unwrap();
    // Another module sharing bytes stores them once.
    store
        .modules()
        .add_version(&upload("copy", "x"), b"wasm two")
        .unwrap();
    drop(store);

    let store = open(tmp.path());
    let m = store.modules().get("sma-cross").unwrap().unwrap();
    assert_eq!(m.versions.len(), 2);
    assert_eq!(m.active, Some(2));
    assert_eq!(m.active_version().unwrap().status, VersionStatus::Released);
    assert_eq!(m.version(1).unwrap().status, VersionStatus::Staged);
    assert_eq!(m.version(1).unwrap().uploaded_by, "alice");
    let (meta, bytes) = store.modules().active_bytes("sma-cross").unwrap().unwrap();
    assert_eq!((meta.version, bytes.as_slice()), (2, &b"wasm two"[..]));
    assert_eq!(store.modules().bytes(&v1.sha256).unwrap().unwrap(), b"wasm one");
    let names: Vec<_> = store
        .modules()
        .list()
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(names, ["copy", "sma-cross"]);
    // Rollback to v1.
    store.modules().activate("sma-cross", 1).unwrap();
    drop(store);
    assert_eq!(
        open(tmp.path())
            .modules()
            .get("sma-cross")
            .unwrap()
            .unwrap()
            .active,
        Some(1)
    );
}

#[test]
fn module_misuse_is_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    assert!(matches!(
        store.modules().activate("nope", 1),
        Err(StoreError::UnknownModule { .. })
    ));
    store.modules().add_version(&upload("s", "a"), b"x").unwrap();
    assert!(matches!(
        store.modules().activate("s", 9),
        Err(StoreError::UnknownVersion { version: 9, .. })
    ));
    store.modules().activate("s", 1).unwrap();
    let m = store.modules().quarantine("s", 1).unwrap();
    assert_eq!(m.active, None);
    let err = store.modules().activate("s", 1).unwrap_err();
    assert!(matches!(err, StoreError::Quarantined { .. }));
    assert!(err.to_string().contains("`s` version 1"), "{err}");
}

#[test]
fn artifacts_hit_by_fingerprint_and_miss_on_another() {
    let tmp = tempfile::tempdir().unwrap();
    let sha = ContentHash::of(b"module");
    let store = open(tmp.path());
    store
        .artifacts()
        .put(&sha, "wasmtime-48/x86_64/cfg1", b"code")
        .unwrap();
    drop(store);

    let store = open(tmp.path());
    let a = store.artifacts();
    assert_eq!(a.get(&sha, "wasmtime-48/x86_64/cfg1").unwrap().unwrap(), b"code");
    assert_eq!(
        a.get(&sha, "wasmtime-49/x86_64/cfg1").unwrap(),
        None,
        "another engine must recompile"
    );
    assert_eq!(
        a.get(&ContentHash::of(b"other"), "wasmtime-48/x86_64/cfg1")
            .unwrap(),
        None
    );
    let stats = a.stats();
    assert_eq!((stats.hits, stats.misses), (1, 2));
    a.put(&sha, "wasmtime-49/x86_64/cfg1", b"new code").unwrap();
    assert_eq!(a.retain_fingerprint("wasmtime-49/x86_64/cfg1").unwrap(), 1);
    assert_eq!(a.get(&sha, "wasmtime-48/x86_64/cfg1").unwrap(), None);
    assert_eq!(
        a.get(&sha, "wasmtime-49/x86_64/cfg1").unwrap().unwrap(),
        b"new code"
    );
}

#[test]
fn snapshots_per_strategy_and_version_survive_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let s = StrategyId::new("sma-cross");
    let other = StrategyId::new("sma-cross-2");
    let store = open(tmp.path());
    store
        .snapshots()
        .put(&s, 1, Timestamp::from_secs(10), b"state v1")
        .unwrap();
    store
        .snapshots()
        .put(&s, 2, Timestamp::from_secs(20), b"state v2")
        .unwrap();
    store
        .snapshots()
        .put(&s, 1, Timestamp::from_secs(30), b"state v1 again")
        .unwrap();
    store
        .snapshots()
        .put(&other, 1, Timestamp::from_secs(99), b"other")
        .unwrap();
    store.flush().unwrap();
    drop(store);

    let store = open(tmp.path());
    let snap = store.snapshots().get(&s, 2).unwrap().unwrap();
    assert_eq!(
        (snap.version, snap.taken_at, snap.state.as_slice()),
        (2, Timestamp::from_secs(20), &b"state v2"[..])
    );
    let latest = store.snapshots().latest(&s).unwrap().unwrap();
    assert_eq!(
        (latest.version, latest.state.as_slice()),
        (1, &b"state v1 again"[..])
    );
    assert_eq!(store.snapshots().get(&s, 3).unwrap(), None);
    assert_eq!(store.snapshots().latest(&StrategyId::new("none")).unwrap(), None);
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Limits {
    max_order_quantity: String,
    symbols: BTreeMap<String, u32>,
}

#[test]
fn risk_document_and_change_log_survive_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    let first = Limits {
        max_order_quantity: "1000".into(),
        symbols: BTreeMap::from([("AAPL".into(), 5)]),
    };
    let second = Limits {
        max_order_quantity: "500".into(),
        ..first.clone()
    };
    let change = |who, secs, note| Change {
        changed_by: who,
        changed_at: Timestamp::from_secs(secs),
        note,
    };
    assert_eq!(
        store.risk().set(&first, &change("alice", 1, "initial")).unwrap(),
        1
    );
    assert_eq!(
        store.risk().set(&second, &change("bob", 2, "tighten")).unwrap(),
        2
    );
    drop(store);

    let store = open(tmp.path());
    let current = store.risk().current::<Limits>().unwrap().unwrap();
    assert_eq!(
        (current.revision, current.document, current.changed_by.as_str()),
        (2, second, "bob")
    );
    let history = store.risk().history().unwrap();
    let who: Vec<_> = history
        .iter()
        .map(|r| (r.revision, r.changed_by.as_str(), r.note.as_str()))
        .collect();
    assert_eq!(who, [(1, "alice", "initial"), (2, "bob", "tighten")]);
    assert_eq!(
        serde_json::from_value::<Limits>(history[0].document.clone()).unwrap(),
        first
    );
}

#[test]
fn pending_risk_changes_survive_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    assert_eq!(store.risk().pending::<Vec<String>>().unwrap(), None);
    let pending = vec!["change 1 by alice".to_string()];
    store.risk().set_pending(&pending).unwrap();
    drop(store);
    let store = open(tmp.path());
    assert_eq!(store.risk().pending::<Vec<String>>().unwrap(), Some(pending));
}

#[test]
fn positions_and_account_snapshots_survive_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    let positions = BTreeMap::from([(7u32, "100".to_string()), (8, "-5".to_string())]);
    let snap = PortfolioSnapshot {
        as_of: Timestamp::from_secs(5),
        journal_seq: Some(Seq(42)),
        value: positions.clone(),
    };
    store.portfolio().put(PortfolioKind::Positions, &snap).unwrap();
    store
        .portfolio()
        .put(
            PortfolioKind::Account,
            &PortfolioSnapshot {
                as_of: Timestamp::from_secs(5),
                journal_seq: Some(Seq(42)),
                value: "100000.25".to_string(),
            },
        )
        .unwrap();
    store.close().unwrap();

    let store = open(tmp.path());
    assert_eq!(
        store.portfolio().get(PortfolioKind::Positions).unwrap(),
        Some(snap)
    );
    let account = store
        .portfolio()
        .get::<String>(PortfolioKind::Account)
        .unwrap()
        .unwrap();
    assert_eq!(account.value, "100000.25");
}

#[test]
fn module_names_outside_the_rule_are_not_stored() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    let long = "a".repeat(200);
    for name in ["", ".", "..", "a/b", "Sma", "smа", long.as_str()] {
        let e = store
            .modules()
            .add_version(&upload(name, "x"), b"wasm")
            .unwrap_err();
        assert!(matches!(e, StoreError::InvalidName { .. }), "{name:?}: {e}");
        assert!(e.to_string().contains("1 to 64 characters from a-z"), "{e}");
    }
    assert!(store.modules().list().unwrap().is_empty());
}
