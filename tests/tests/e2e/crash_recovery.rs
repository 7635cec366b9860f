//! Crash recovery against a venue that keeps trading: `wasmtrade serve` is
//! killed with SIGKILL at random points of active order flow (two
//! strategies trading on a fast market) and restarted on the same data dir,
//! again and again, while a separate `wasmtrade paper-venue` process keeps
//! filling. After every restart the trading gate must have opened (start-up
//! reconciliation agreed with the venue) and every strategy must be back on
//! its active version with its snapshot restored. At the end: no order id
//! reached the venue twice, every venue order is the runtime's with the same
//! filled quantity, and positions and cash are the venue's (so no fill was
//! lost). `WASMTRADE_CRASH_RUNS` sets the number of kills (default 50).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::time::Duration;

use crate::recovery;

use recovery::{Rng, assert_agrees_with_venue, assert_strategies_back, start, upload_strategies};
use wasmtrade_e2e::venue::Venue;

#[test]
fn kill_9_during_order_flow_never_sends_an_intent_twice_nor_loses_a_fill() {
    let runs: usize = std::env::var("WASMTRADE_CRASH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let venue = Venue::start("40").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut serve = start(dir.path(), &venue, &[]);
    upload_strategies(&serve);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut never_sent, mut missed) = (0, 0);
    for run in 0..runs {
        std::thread::sleep(Duration::from_millis(150 + rng.below(750)));
        serve.kill().unwrap();
        serve = start(dir.path(), &venue, &[]);
        assert_strategies_back(&serve, run);
        let log = serve.stderr();
        never_sent += log.matches("marked never-sent").count();
        missed += log.matches("MissedFill").count();
    }
    let (orders, executions) = assert_agrees_with_venue(&serve, &venue);
    assert!(
        executions > 20,
        "too little order flow to test anything: {executions} executions"
    );
    eprintln!(
        "{runs} kills: {orders} venue orders, {executions} executions, {never_sent} intents found never sent, \
         {missed} fills adopted after a crash"
    );
}
