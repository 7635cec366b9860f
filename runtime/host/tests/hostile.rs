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

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::context;
use wasmtrade_host::{GuestEngine, HostConfig, HostError, StrategyModule, WasmStrategy};
use wasmtrade_model::{
    Bar, ClientOrderId, Fill, GuestFault, InstrumentId, Money, OrderId, PositionView, Price, Quantity,
    RawIntent, Side, StrategyGuest, StrategyId, Timestamp,
};

/// Directory of the built guests: `$WASMTRADE_GUEST_DIR`, else the workspace's
/// `target/wasm32-wasip2/guest`.
fn guest_dir() -> PathBuf {
    match std::env::var_os("WASMTRADE_GUEST_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/wasm32-wasip2/guest"),
    }
}

/// Bytes of a built guest, e.g. `hostile_infinite_loop`.
fn guest(name: &str) -> Vec<u8> {
    let path = guest_dir().join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "guest {} is not built ({e}): run `make guests` (or set WASMTRADE_GUEST_DIR)",
            path.display()
        )
    })
}

/// The default engine, shared by the tests that need no special limits.
fn default_engine() -> &'static GuestEngine {
    static ENGINE: OnceLock<GuestEngine> = OnceLock::new();
    ENGINE.get_or_init(|| engine(HostConfig::default()))
}

/// Loads a guest; modules of the shared default engine are compiled once.
fn load(engine: &GuestEngine, name: &str) -> StrategyModule {
    static CACHE: Mutex<BTreeMap<String, StrategyModule>> = Mutex::new(BTreeMap::new());
    if !std::ptr::eq(engine, default_engine()) {
        return engine.load_strategy(&guest(name)).unwrap();
    }
    let mut cache = CACHE.lock().unwrap();
    cache
        .entry(name.to_string())
        .or_insert_with(|| engine.load_strategy(&guest(name)).unwrap())
        .clone()
}

fn hostile(engine: &GuestEngine, name: &str, config: &str) -> WasmStrategy {
    let module = load(engine, &format!("hostile_{}", name.replace('-', "_")));
    module.instantiate(context(), config).unwrap()
}

fn engine(config: HostConfig) -> GuestEngine {
    GuestEngine::new(config).unwrap()
}

/// Bar `n` of a wavy AAPL series with several moving-average crosses.
fn bar(n: i64) -> Bar {
    let x = n as f64;
    let close = Price::from_f64(100.0 + 8.0 * (x / 9.0).sin() + 0.02 * x).unwrap();
    Bar {
        instrument: InstrumentId(0),
        ts: Timestamp::from_secs(n * 60),
        open: close,
        high: close,
        low: close,
        close,
        volume: Quantity::from_int(1000),
    }
}

const BARS: i64 = 240;
const SMA_CONFIG: &str = r#"{"fast": 5, "slow": 20, "quantity": 3}"#;

/// `sma-cross` driven like the engine would: clock, fills at the close for
/// every order, positions; its transcript is every intent and log line.
struct Neighbour {
    guest: WasmStrategy,
    transcript: Vec<String>,
    fills: u64,
}

impl Neighbour {
    fn start(engine: &GuestEngine) -> Self {
        let module = load(engine, "sma_cross");
        Self {
            guest: module.instantiate(context(), SMA_CONFIG).unwrap(),
            transcript: Vec::new(),
            fills: 0,
        }
    }

    fn step(&mut self, n: i64) {
        let bar = bar(n);
        self.guest.context().now = bar.ts;
        let intents = self.guest.on_bar(&bar).unwrap();
        for intent in intents {
            self.transcript.push(format!("{n}: {intent:?}"));
            if let RawIntent::Submit {
                client_id,
                side,
                quantity,
                ..
            } = intent
            {
                self.fill(&bar, &client_id, side, quantity);
            }
        }
        let ctx = self.guest.context();
        for line in ctx.logs.drain(..) {
            self.transcript
                .push(format!("{n}: {:?} {}", line.level, line.message));
        }
    }

    fn fill(&mut self, bar: &Bar, client_id: &str, side: Side, quantity: f64) {
        self.fills += 1;
        let ctx = self.guest.context();
        let signed = if side == Side::Buy { quantity } else { -quantity };
        let held = ctx.position(bar.instrument).quantity + signed;
        if held == 0.0 {
            ctx.positions.remove(&bar.instrument);
        } else {
            ctx.positions.insert(
                bar.instrument,
                PositionView {
                    quantity: held,
                    ..PositionView::default()
                },
            );
        }
        let fill = Fill {
            order_id: OrderId(self.fills),
            strategy: StrategyId::new("sma"),
            client_id: ClientOrderId::new(client_id),
            instrument: bar.instrument,
            side,
            quantity: Quantity::from_f64(quantity).unwrap(),
            price: bar.close,
            commission: Money::from_f64(0.0).unwrap(),
            ts: bar.ts,
            exec_id: format!("e{}", self.fills),
        };
        let out = self.guest.on_fill(&fill).unwrap();
        self.transcript.push(format!("fill {client_id}: {out:?}"));
    }
}

/// `sma-cross` alone in a default engine: what every neighbour must reproduce.
fn reference() -> &'static [String] {
    static REFERENCE: OnceLock<Vec<String>> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let mut n = Neighbour::start(default_engine());
        (1..=BARS).for_each(|i| n.step(i));
        assert!(n.fills >= 4, "the reference run should trade: {:?}", n.transcript);
        n.transcript
    })
}

/// Runs `sma-cross` bar by bar in `engine`, calling `hostile(bar)` after each
/// of its bars, and checks its transcript against the reference.
fn beside(engine: &GuestEngine, mut hostile: impl FnMut(i64)) {
    let mut n = Neighbour::start(engine);
    for i in 1..=BARS {
        n.step(i);
        hostile(i);
    }
    assert_eq!(
        n.transcript,
        reference(),
        "sma-cross changed beside a hostile guest"
    );
}

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
            "memory_bomb_rss_child",
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
