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
