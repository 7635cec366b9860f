//! The sandbox refuses what hostile guests try at load, restore and
//! instantiation, and bounds what they flood (orders, logs, live guests):
//! the real guests of `guests/hostile` (reliability.md WG7, WG8, WG11).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
#![allow(
    clippy::disallowed_methods,
    reason = "the deadline tests measure wall-clock time"
)]

use crate::common;

use common::hostile::*;

#[test]
fn trap_on_nth_reports_the_panic_message() {
    let engine = default_engine();
    let mut g = hostile(engine, "trap-on-nth", r#"{"nth": 4}"#);
    let mut results = Vec::new();
    beside(engine, |i| {
        if i <= 5 {
            results.push(g.on_bar(&bar(i)));
        }
    });
    assert_eq!(
        results[..3]
            .iter()
            .map(|r| r.as_ref().unwrap().len())
            .sum::<usize>(),
        3
    );
    let Err(GuestFault::Trap { reason, backtrace }) = &results[3] else {
        panic!("expected a trap, got {:?}", results[3])
    };
    assert!(reason.contains("trap-on-nth: bar 4 is cursed"), "{reason}");
    assert!(backtrace.is_some());
    assert!(matches!(results[4], Err(GuestFault::Quarantined { .. })));
}

#[test]
fn order_flood_is_refused_whole_every_time() {
    let engine = default_engine();
    let mut g = hostile(engine, "order-flood", "{}");
    let mut faults = Vec::new();
    beside(engine, |i| {
        if i <= 3 {
            faults.push(g.on_bar(&bar(i)).unwrap_err());
        }
    });
    for fault in faults {
        assert_eq!(
            fault,
            GuestFault::TooManyIntents {
                count: 5000,
                limit: 1000
            }
        );
    }
    // Not a trap: the engine decides (and its policy may restart or stop it).
    assert!(g.quarantined().is_none());
}

#[test]
fn log_flood_is_bounded() {
    let engine = default_engine();
    let mut g = hostile(engine, "log-flood", "{}");
    let limits = g.context().limits;
    let mut stored = Vec::new();
    beside(engine, |i| {
        if i <= 3 {
            assert!(g.on_bar(&bar(i)).unwrap().is_empty());
            let ctx = g.context();
            let bytes: usize = ctx.logs.iter().map(|l| l.message.len()).sum();
            assert!(ctx.logs.len() <= limits.max_log_lines, "{}", ctx.logs.len());
            assert!(ctx.logs.iter().all(|l| l.message.len() <= limits.max_log_line));
            stored.push((ctx.logs.len(), bytes, ctx.dropped_logs));
            // The engine drains the log after every callback.
            ctx.logs.clear();
        }
    });
    for (lines, bytes, _) in &stored {
        assert_eq!(*lines, limits.max_log_lines);
        assert!(*bytes <= limits.max_log_lines * limits.max_log_line);
    }
    // 10 000 lines plus ~2 MiB of stdout/stderr per bar: almost all dropped and counted.
    let dropped = stored.last().unwrap().2;
    assert!(dropped >= 3 * 9_000, "{dropped}");
    assert!(g.quarantined().is_none());
}

#[test]
fn forbidden_import_is_refused_at_load_naming_it() {
    let engine = default_engine();
    let err = engine
        .load_strategy(&guest("hostile_forbidden_import"))
        .unwrap_err();
    let HostError::ForbiddenImports { imports } = &err else {
        panic!("expected forbidden imports, got {err}")
    };
    for prefix in [
        "wasi:filesystem/types@",
        "wasi:filesystem/preopens@",
        "wasi:clocks/wall-clock@",
    ] {
        assert!(
            imports.iter().any(|i| i.starts_with(prefix)),
            "{prefix}: {imports:?}"
        );
    }
    let msg = err.to_string();
    assert!(msg.contains("`wasi:filesystem/types@"), "{msg}");
    assert!(msg.contains("`wasi:clocks/wall-clock@"), "{msg}");
    assert!(err.is_guest_problem());
    beside(engine, |_| {});
}

#[test]
fn bad_snapshot_restore_traps_or_errors_and_garbage_is_refused() {
    let engine = default_engine();
    let mut source = hostile(engine, "bad-snapshot", "{}");
    source.on_bar(&bar(1)).unwrap();
    let garbage = source.snapshot().unwrap();
    assert_eq!(garbage.len(), 4096);

    let mut trap = hostile(engine, "bad-snapshot", r#"{"restore": "trap"}"#);
    let mut error = hostile(engine, "bad-snapshot", r#"{"restore": "error"}"#);
    let mut results = Vec::new();
    beside(engine, |i| {
        if i == 1 {
            results.push(trap.restore(&garbage));
            results.push(error.restore(&garbage));
        }
    });
    let Err(GuestFault::Trap { reason, .. }) = &results[0] else {
        panic!("expected a trap, got {:?}", results[0])
    };
    assert!(
        reason.contains("bad-snapshot: refusing to restore 4096 bytes"),
        "{reason}"
    );
    assert!(trap.quarantined().is_some());
    let Err(GuestFault::Returned { message }) = &results[1] else {
        panic!("expected a returned error, got {:?}", results[1])
    };
    assert!(
        message.contains("bad-snapshot: 4096 bytes of snapshot are malformed"),
        "{message}"
    );
    assert!(error.quarantined().is_none());
    // A well-behaved guest refuses the garbage with an error, not a trap.
    let mut sma = Neighbour::start(engine);
    assert!(matches!(
        sma.guest.restore(&garbage),
        Err(GuestFault::Returned { .. })
    ));
    (1..=BARS).for_each(|i| sma.step(i));
    assert_eq!(sma.transcript, reference());
}

#[test]
fn max_live_guests_refuses_beyond_the_limit() {
    let engine = engine(HostConfig {
        max_live_guests: 2,
        ..HostConfig::default()
    });
    let module = engine.load_strategy(&guest("hostile_order_flood")).unwrap();
    let a = module.instantiate(context(), "{}").unwrap();
    let b = module.instantiate(context(), "{}").unwrap();
    assert_eq!(engine.live_guests(), 2);
    let err = module.instantiate(context(), "{}").unwrap_err();
    assert!(
        matches!(err, HostError::TooManyGuests { live: 2, limit: 2 }),
        "{err}"
    );
    assert!(err.to_string().contains("`max_live_guests`"), "{err}");
    // The limit is per engine, across modules.
    assert!(matches!(
        engine
            .load_strategy(&guest("sma_cross"))
            .unwrap()
            .instantiate(context(), SMA_CONFIG),
        Err(HostError::TooManyGuests { .. })
    ));
    drop(a);
    assert_eq!(engine.live_guests(), 1);
    drop(b);
    // Failed instantiations release their slot too.
    let bad = module.instantiate(context(), r#"{"count": "many"}"#);
    assert!(matches!(bad, Err(HostError::Init { .. })), "{bad:?}");
    assert_eq!(engine.live_guests(), 0);
    beside(&engine, |_| {});
}

#[test]
fn table_memory_and_instance_limits_refuse_at_instantiation() {
    let bytes = guest("hostile_trap_on_nth");
    for (config, expect) in [
        (
            HostConfig {
                max_table_elements: 1,
                ..HostConfig::default()
            },
            "table of",
        ),
        (
            HostConfig {
                max_memory_bytes: 64 << 10,
                ..HostConfig::default()
            },
            "memory of",
        ),
        (
            HostConfig {
                max_instances: 1,
                ..HostConfig::default()
            },
            "instance",
        ),
    ] {
        let engine = engine(config);
        let module = engine.load_strategy(&bytes).unwrap();
        let err = module.instantiate(context(), "{}").unwrap_err();
        let HostError::Instantiate { reason } = &err else {
            panic!("expected an instantiation error, got {err}")
        };
        assert!(reason.contains(expect), "{expect}: {reason}");
        assert_eq!(engine.live_guests(), 0);
    }
}
