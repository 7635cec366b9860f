//! Graceful rollout, as `kubectl rollout restart` does it to a StatefulSet
//! pod: SIGTERM during order flow → exit 0 within the grace period; the
//! restarted process loads its guests from precompiled artifacts (no
//! recompilation) and resumes from their snapshots; repeated SIGTERM/restart
//! cycles on one data dir while the venue keeps trading lose nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
#![allow(
    clippy::disallowed_methods,
    reason = "a test measures the shutdown against the grace period in real time"
)]

use std::time::{Duration, Instant};

use crate::recovery;

use recovery::{assert_agrees_with_venue, assert_strategies_back, start, upload_strategies};
use wasmtrade_e2e::venue::Venue;

const GRACE: &[(&str, &str)] = &[("WASMTRADE__SERVER__SHUTDOWN_GRACE_SECS", "5")];

#[test]
fn sigterm_exits_0_within_the_grace_period_and_the_restart_resumes_without_recompiling() {
    let venue = Venue::start("40").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut serve = start(dir.path(), &venue, GRACE);
    upload_strategies(&serve);
    for cycle in 0..10 {
        std::thread::sleep(Duration::from_millis(600));
        let asked = Instant::now();
        let status = serve.terminate(Duration::from_secs(10)).unwrap();
        let took = asked.elapsed();
        assert!(
            status.success(),
            "cycle {cycle}: exit {status:?}\n{}",
            serve.stderr()
        );
        assert!(
            took < Duration::from_secs(5),
            "cycle {cycle}: shutdown took {took:?}, over the 5 s grace"
        );
        let log = serve.stderr();
        assert!(log.contains("2 guest snapshots saved"), "cycle {cycle}: {log}");
        serve = start(dir.path(), &venue, GRACE);
        assert_strategies_back(&serve, cycle);
        let log = serve.stderr();
        assert!(
            log.contains("loaded the precompiled artifact: no compile"),
            "cycle {cycle}: guests were not loaded from their artifacts:\n{log}"
        );
        assert!(
            !log.contains("compiling from the stored wasm"),
            "cycle {cycle}: a guest was recompiled:\n{log}"
        );
    }
    let (orders, executions) = assert_agrees_with_venue(&serve, &venue);
    assert!(
        executions > 10,
        "too little order flow: {orders} orders, {executions} executions"
    );
}

/// A rollout can stop a pod that is still starting. SIGTERM while the
/// runtime starts (after the ops endpoints are up, before "listening on")
/// used to hit the default action — the handler was installed only after
/// start-up — and the process died by the signal. It is now a graceful stop
/// as soon as the start has finished: exit 0, store closed cleanly.
#[test]
fn sigterm_during_start_up_is_a_graceful_stop_not_a_death_by_signal() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    // A long start: the replayed market (a million bars) is read and
    // parsed after the ops endpoints are up.
    let data = dir.path().join("bars.csv");
    let synth = std::process::Command::new(wasmtrade_e2e::wasmtrade_bin().unwrap())
        .args([
            "data",
            "synth",
            "--bars",
            "1000000",
            "--interval-secs",
            "60",
            "--out",
        ])
        .arg(&data)
        .status()
        .unwrap();
    assert!(synth.success());
    let mut child = std::process::Command::new(wasmtrade_e2e::wasmtrade_bin().unwrap())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env_remove("WASMTRADE_LOG")
        .env("WASMTRADE_TOKEN", "e2e-token")
        .env("WASMTRADE__SERVER__OPS_LISTEN", "127.0.0.1:0")
        .env("WASMTRADE__MARKET__SOURCE", "replay")
        .env("WASMTRADE__MARKET__REPLAY_FILE", &data)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let ops_up = line.contains("ops endpoints on");
        seen.push(line);
        if ops_up {
            break;
        }
    }
    assert!(
        seen.last().is_some_and(|l| l.contains("ops endpoints on")),
        "{seen:?}"
    );
    let term = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    seen.extend(lines.map_while(Result::ok));
    let status = child.wait().unwrap();
    assert!(status.success(), "exited with {status}; stderr: {seen:#?}");
    assert!(
        seen.iter().any(|l| l.contains("SIGTERM: shutting down")),
        "{seen:#?}"
    );
    // The store was closed cleanly: the next start opens it.
    let replay = [
        ("WASMTRADE__MARKET__SOURCE", "replay"),
        ("WASMTRADE__MARKET__REPLAY_FILE", data.to_str().unwrap()),
    ];
    let mut again = wasmtrade_e2e::Serve::start(dir.path(), &replay).unwrap();
    assert!(again.terminate(Duration::from_secs(30)).unwrap().success());
}
