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
