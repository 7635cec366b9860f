//! `wasmtrade serve` refuses to start on a data dir it must not touch — one
//! held by another running server, or a store whose files were truncated —
//! with a message naming the problem, and it changes nothing there (the
//! store-level cases, including a newer schema and checksum failures, are
//! in `runtime/store/tests/open.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
#![allow(
    clippy::disallowed_methods,
    reason = "a test waits in real time for a process"
)]

use std::path::Path;
use std::time::Duration;

use wasmtrade_e2e::{Serve, guest_path, serve_refused};

fn refused(dir: &Path) -> String {
    serve_refused(dir, &[]).unwrap()
}

#[test]
fn a_data_dir_held_by_a_running_server_is_refused_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let first = Serve::start(dir.path(), &[]).unwrap();
    let stderr = refused(dir.path());
    assert!(
        stderr.contains("in use by another running process") && stderr.contains(&first.pid().to_string()),
        "the refusal names the lock and the holder's pid {}:\n{stderr}",
        first.pid()
    );
    // The first server is unharmed.
    assert!(first.cli(["account", "--json"]).unwrap().status.success());
}

#[test]
fn a_truncated_store_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let mut serve = Serve::start(dir.path(), &[]).unwrap();
    let path = guest_path("sma_cross").unwrap();
    let out = serve
        .cli([
            "strategy",
            "upload",
            path.to_str().unwrap(),
            "--name",
            "sma",
            "--config",
            "fast=5,slow=20",
            "--activate",
        ])
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(serve.terminate(Duration::from_secs(30)).unwrap().success());
    // Cut the database file down to its first 64 bytes (sled preallocates
    // its segments, so a milder cut may only remove unused space, which the
    // store rightly opens).
    let db = dir.path().join("store/sled/db");
    let len = 64;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&db)
        .unwrap()
        .set_len(len)
        .unwrap();
    let kept = std::fs::read(&db).unwrap();
    let stderr = refused(dir.path());
    assert!(
        stderr.contains("corrupt") || stderr.contains("truncated"),
        "the refusal says the store is damaged:\n{stderr}"
    );
    // Our code writes nothing to a store it refuses. sled 0.34 itself,
    // though, zeroes the torn tail of its log (here from byte 53) and
    // extends the file to a segment while recovering, even when it then
    // fails: its header is kept, and the store stays refused (below), but
    // the torn bytes are gone. Evidence for the closing note; a copy of the
    // sled dir before opening after an unclean stop would keep them.
    let now = std::fs::read(&db).unwrap();
    assert_eq!(now[..53], kept[..53], "sled kept its header");
    // Refused again: it did not start empty the first time.
    refused(dir.path());
}

/// Copies `from` to `to` with `cp -a` (a directory or a file).
fn copy(from: &Path, to: &Path) {
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success(), "cp -a {} {}", from.display(), to.display());
}

// Issue 15, item 6: sled files damaged after a kill -9 used to open with
// everything committed since the last start gone (a module missing, the
// journal rolled back from 37 to 15 orders), because the MARK is written
// only at open and close. The running witness (MARK.live) catches it.
#[test]
fn a_store_rolled_back_after_kill_9_is_refused_instead_of_opening_with_history_missing() {
    let dir = tempfile::tempdir().unwrap();
    let aside = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    // A first run ends cleanly; its sled files are kept aside.
    let mut serve = Serve::start(dir.path(), &[]).unwrap();
    assert!(serve.terminate(Duration::from_secs(30)).unwrap().success());
    copy(&store.join("sled"), &aside.path().join("sled"));
    copy(&store.join("MARK"), &aside.path().join("MARK"));
    // The second run uploads and trades, then is killed.
    let mut serve = Serve::start(dir.path(), &[("WASMTRADE__MARKET__SPEED", "200")]).unwrap();
    let path = guest_path("sma_cross").unwrap();
    let out = serve
        .cli([
            "strategy",
            "upload",
            path.to_str().unwrap(),
            "--name",
            "sma",
            "--config",
            "fast=3,slow=8",
            "--activate",
        ])
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::thread::sleep(Duration::from_secs(3));
    serve.kill().unwrap();
    // Its sled files lose what it wrote (as damage sled "recovers" from
    // does); the MARK written when it started says nothing about that.
    std::fs::remove_dir_all(store.join("sled")).unwrap();
    copy(&aside.path().join("sled"), &store.join("sled"));
    std::fs::copy(aside.path().join("MARK"), store.join("MARK")).unwrap();
    let stderr = refused(dir.path());
    assert!(
        stderr.contains("corrupt") && stderr.contains("MARK.live"),
        "the refusal says what is missing and how to accept a backup on purpose:\n{stderr}"
    );
    assert!(
        stderr.contains("audit trail ends at record #") || stderr.contains("journal ends at record #"),
        "{stderr}"
    );
}
