//! The sandbox against the real hostile guests of `guests/hostile` (built by
//! `make guests`; set `WASMTRADE_GUEST_DIR` to use another directory): each
//! ends with the right fault, the host survives, and a well-behaved
//! `sma-cross` in the same engine keeps producing exactly the results of a
//! run without the hostile guest (reliability.md WG1–WG4, WG7, WG8, WG11).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
#![allow(
    clippy::disallowed_methods,
    reason = "the deadline tests measure wall-clock time"
)]

use crate::common;

use common::hostile::*;

#[test]
fn infinite_loop_is_stopped_by_fuel() {
    let engine = engine(HostConfig {
        fuel_per_callback: Some(5_000_000),
        ..HostConfig::default()
    });
    let mut g = hostile(&engine, "infinite-loop", r#"{"after": 3}"#);
    let mut faults = Vec::new();
    beside(&engine, |i| {
        if i <= 5 {
            faults.push(g.on_bar(&bar(i)));
        }
    });
    assert!(faults[..3].iter().all(Result::is_ok), "{faults:?}");
    let fault = faults[3].clone().unwrap_err();
    assert_eq!(
        fault,
        GuestFault::Budget {
            budget: "fuel 5000000 per callback".into()
        }
    );
    assert!(matches!(faults[4], Err(GuestFault::Quarantined { .. })));
}

#[test]
fn infinite_loop_is_stopped_by_the_epoch_deadline() {
    for fuel in [None, Some(u64::MAX / 4)] {
        let engine = engine(HostConfig {
            fuel_per_callback: fuel,
            deadline_ms: Some(50),
            ..HostConfig::default()
        });
        let mut g = hostile(&engine, "infinite-loop", r#"{"after": 1}"#);
        let mut took = Duration::ZERO;
        beside(&engine, |i| {
            if i == 1 {
                g.on_bar(&bar(i)).unwrap();
            } else if i == 2 {
                let start = Instant::now();
                let fault = g.on_bar(&bar(i)).unwrap_err();
                took = start.elapsed();
                assert_eq!(
                    fault,
                    GuestFault::Budget {
                        budget: "deadline 50 ms per callback".into()
                    }
                );
            }
        });
        // At least the deadline; at most deadline + a tick, plus slack for a loaded machine.
        assert!(took >= Duration::from_millis(50), "{took:?}");
        assert!(took < Duration::from_secs(2), "{took:?}");
        assert!(g.quarantined().unwrap().contains("deadline 50 ms"));
    }
}

#[test]
fn deadline_covers_startup_too() {
    let engine = engine(HostConfig {
        fuel_per_callback: None,
        deadline_ms: Some(20),
        ..HostConfig::default()
    });
    // `after: 0` loops on the first bar; the module itself starts fine.
    let mut g = hostile(&engine, "infinite-loop", "{}");
    assert_eq!(g.on_bar(&bar(1)).unwrap_err().kind(), "budget");
    // A fresh instance of the same module still works up to its loop.
    let mut again = hostile(&engine, "infinite-loop", r#"{"after": 2}"#);
    again.on_bar(&bar(1)).unwrap();
    again.on_bar(&bar(2)).unwrap();
}

#[test]
fn deep_recursion_is_a_stack_overflow_trap() {
    let engine = default_engine();
    let mut g = hostile(engine, "deep-recursion", r#"{"after": 2}"#);
    let mut fault = None;
    beside(engine, |i| {
        if i <= 2 {
            g.on_bar(&bar(i)).unwrap();
        } else if i == 3 {
            fault = g.on_bar(&bar(i)).err();
        }
    });
    let Some(GuestFault::Trap { reason, backtrace }) = fault else {
        panic!("expected a trap, got {fault:?}")
    };
    assert!(reason.starts_with("stack overflow"), "{reason}");
    assert!(reason.contains("524288 bytes"), "{reason}");
    assert!(backtrace.is_some_and(|b| b.contains("descend")));
    assert!(matches!(g.on_bar(&bar(4)), Err(GuestFault::Quarantined { .. })));
}

#[test]
fn memory_bomb_hits_the_memory_limit() {
    let engine = engine(HostConfig {
        max_memory_bytes: 64 << 20,
        ..HostConfig::default()
    });
    let mut g = hostile(&engine, "memory-bomb", r#"{"after": 1}"#);
    let mut fault = None;
    beside(&engine, |i| match i {
        1 => g.on_bar(&bar(i)).map(drop).unwrap(),
        2 => fault = g.on_bar(&bar(i)).err(),
        _ => {}
    });
    let Some(GuestFault::Limit { what }) = fault else {
        panic!("expected a limit fault, got {fault:?}")
    };
    assert!(what.contains("above the limit of 67108864 bytes"), "{what}");
    assert!(g.quarantined().is_some());
}

#[test]
fn the_memory_budget_of_all_guests_stops_the_guest_that_would_pass_it_and_a_dropped_guest_frees_its_share() {
    // Each guest may grow to 64 MiB, all of them together to 80 MiB.
    let engine = engine(HostConfig {
        max_memory_bytes: 64 << 20,
        max_total_memory_bytes: Some(80 << 20),
        ..HostConfig::default()
    });
    let mut first = hostile(&engine, "memory-bomb", r#"{"after": 1, "chunk_kib": 16384}"#);
    let first_fault = first.on_bar(&bar(1)).err();
    assert!(first_fault.is_none(), "{first_fault:?}");
    // The first bomb grows until its own limit (64 MiB) stops it.
    let fault = (2..20).find_map(|i| first.on_bar(&bar(i)).err());
    let Some(GuestFault::Limit { what }) = fault else {
        panic!("expected a limit fault, got {fault:?}")
    };
    assert!(what.contains("above the limit of"), "{what}");
    let held = engine.guest_memory_bytes();
    assert!(held > 40 << 20, "the first bomb holds {held} bytes");
    // The second cannot take what the first holds.
    let mut second = hostile(&engine, "memory-bomb", r#"{"after": 0, "chunk_kib": 16384}"#);
    let fault = (1..20).find_map(|i| second.on_bar(&bar(i)).err());
    let Some(GuestFault::Limit { what }) = fault else {
        panic!("expected a limit fault, got {fault:?}")
    };
    assert!(what.contains("memory of all guests"), "{what}");
    assert!(what.contains("max_total_memory_bytes"), "{what}");
    assert_eq!(engine.guest_memory_budget(), Some(80 << 20));
    assert!(engine.guest_memory_refusals() >= 1);
    // Dropping the stopped guests gives the memory back.
    drop(first);
    drop(second);
    assert_eq!(engine.guest_memory_bytes(), 0);
    let mut third = hostile(&engine, "memory-bomb", r#"{"after": 0, "chunk_kib": 16384}"#);
    let fault = (1..20).find_map(|i| third.on_bar(&bar(i)).err());
    let Some(GuestFault::Limit { what }) = fault else {
        panic!("expected a limit fault, got {fault:?}")
    };
    assert!(
        what.contains("above the limit of"),
        "with the memory back, its own limit stops it first: {what}"
    );
}

/// VmRSS of this process, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .map(|v| v.trim().parse().unwrap())
        .expect("VmRSS in /proc/self/status");
    kib * 1024
}

const RSS_CHILD: &str = "WASMTRADE_HOSTILE_RSS_CHILD";

/// Runs `memory_bomb_rss_child` alone in a fresh process, so other tests'
/// allocations do not blur the measurement.
#[test]
fn memory_bomb_leaves_the_process_rss_bounded() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "hostile::memory_bomb_rss_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(RSS_CHILD, "1")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("rss bounded"), "the child did not run: {text}");
}

#[test]
fn memory_bomb_rss_child() {
    if std::env::var_os(RSS_CHILD).is_none() {
        return;
    }
    const LIMIT: u64 = 64 << 20;
    const SLACK: u64 = 24 << 20;
    let engine = engine(HostConfig {
        max_memory_bytes: LIMIT as usize,
        ..HostConfig::default()
    });
    let module = engine.load_strategy(&guest("hostile_memory_bomb")).unwrap();
    // Warm up: one instance of everything the rounds use.
    drop(module.instantiate(context(), "{}").unwrap());
    let baseline = rss();
    let mut peaks = Vec::new();
    for round in 0..6 {
        let mut g = module.instantiate(context(), "{}").unwrap();
        let fault = g.on_bar(&bar(1)).unwrap_err();
        assert_eq!(fault.kind(), "limit", "round {round}: {fault}");
        let alive = rss();
        drop(g);
        let after = rss();
        eprintln!(
            "round {round}: baseline {} MiB, bomb alive {} MiB, dropped {} MiB",
            baseline >> 20,
            alive >> 20,
            after >> 20
        );
        assert!(alive <= baseline + LIMIT + SLACK, "round {round}: {alive} bytes");
        assert!(
            after <= baseline + SLACK,
            "round {round}: {after} bytes after drop"
        );
        peaks.push(alive);
    }
    eprintln!(
        "rss bounded: peaks {:?} MiB",
        peaks.iter().map(|p| p >> 20).collect::<Vec<_>>()
    );
}
