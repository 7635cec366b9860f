//! Flat memory, store and restart time over a long run (issue 15, item 5).
//!
//! Before: the OMS kept every order and fill in memory and the journal was
//! never compacted, so serve's RSS grew ~1 KB per fill and ~2.4 KB per
//! order (54 → 277 MiB in 3 minutes at full market speed) and restart time
//! grew with history; every upload + `remove --version` cycle cost ~2.5 MiB
//! RSS and ~2.7 MB of store.
//!
//! The soak runs sma-cross on the embedded defaults (in-process paper
//! broker, synthetic market) as fast as the market goes, with a volume
//! participation limit so most orders fill in parts. It lasts
//! `WASMTRADE_SOAK_SECS` seconds (default 45; `make soak` runs it for ten
//! minutes) and prints every sample: RSS, store size, and the length of
//! every per-order collection the runtime keeps (the OMS's orders, index,
//! client-id map, fills and exec ids; the paper broker's working orders,
//! ledger orders, quantities and executions), read from `/status`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
#![allow(
    clippy::disallowed_methods,
    reason = "a soak samples a real process over real time"
)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use wasmtrade_e2e::ops::{get_ok, ops_addr};
use wasmtrade_e2e::{Serve, dir_size, guest_bytes, guest_path, rss, with_custom_section};

const MIB: u64 = 1024 * 1024;
const NAME: &str = "sma";
/// sma-cross trading often, 25 shares an order.
const CONFIG: &str = r#"{"fast": 2, "slow": 5, "quantity": 25}"#;
/// Bars of ~1M volume, of which 10 shares fill per bar: most orders fill
/// in three parts. The order history keeps 5000 orders (100 000 by
/// default), so the store, and sled's page cache in RSS with it, reach
/// their steady size within seconds instead of after ~100 000 orders.
const ENV: [(&str, &str); 5] = [
    ("WASMTRADE__MARKET__SPEED", "0"),
    ("WASMTRADE__STORE__ORDER_HISTORY", "5000"),
    ("WASMTRADE__ACCOUNT__PAPER__MAX_VOLUME_PARTICIPATION", "0.00001"),
    ("WASMTRADE__GUESTS__SNAPSHOT_EVERY_BARS", "500"),
    ("WASMTRADE_LOG", "wasmtrade_live=info,warn"),
];

fn soak_secs() -> u64 {
    std::env::var("WASMTRADE_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(45)
}

fn json(serve: &Serve, args: &[&str]) -> Value {
    serve
        .cli_json(args)
        .unwrap_or_else(|e| panic!("{e}\nserver stderr:\n{}", serve.stderr()))
}

fn upload(serve: &Serve, path: &Path, activate: bool) -> Value {
    let mut args = vec![
        "strategy",
        "upload",
        path.to_str().unwrap(),
        "--name",
        NAME,
        "--config",
        CONFIG,
        "--json",
    ];
    if activate {
        args.push("--activate");
    }
    json(serve, &args)
}

#[derive(Debug)]
struct Sample {
    secs: u64,
    rss: u64,
    store: u64,
    fills: u64,
    orders: u64,
    /// `/status`'s `collections`: name → entries.
    collections: BTreeMap<String, u64>,
}

/// `/status`'s per-order collection lengths.
fn collections(serve: &Serve) -> BTreeMap<String, u64> {
    let status: Value = serde_json::from_str(&get_ok(&ops_addr(serve), "/status")).unwrap();
    let c = status["collections"]
        .as_object()
        .unwrap_or_else(|| panic!("no collections in /status: {status}"));
    c.iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap())).collect()
}

#[allow(clippy::print_stdout, reason = "the soak prints its samples as it goes")]
fn sample(serve: &Serve, started: Instant) -> Sample {
    let account = json(serve, &["account", "--json"]);
    let s = Sample {
        secs: started.elapsed().as_secs(),
        rss: rss(serve.pid()).unwrap(),
        store: dir_size(&serve.data_dir.join("store")).unwrap(),
        fills: account["fills"].as_u64().unwrap(),
        orders: account["orders_sent"].as_u64().unwrap(),
        collections: collections(serve),
    };
    let maps: Vec<String> = s.collections.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!(
        "soak t={:>4}s  rss {:>6.1} MiB  store {:>6.1} MiB  orders {:>7}  fills {:>7}  {}",
        s.secs,
        s.rss as f64 / MIB as f64,
        s.store as f64 / MIB as f64,
        s.orders,
        s.fills,
        maps.join(" ")
    );
    s
}

/// The number of journal records the last start rebuilt the order book
/// from (the `order book rebuilt from the journal` log line).
fn rebuilt_orders(serve: &Serve) -> u64 {
    let log = serve.stderr();
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains("order book rebuilt"))
        .unwrap_or_else(|| panic!("no rebuild line in:\n{log}"));
    line.split("orders=")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no orders= in {line}"))
}

/// Stops serve with SIGTERM and starts it again on the same data dir;
/// returns it and how long the start took (to listening).
fn restart(mut serve: Serve) -> (Serve, Duration) {
    let dir = serve.data_dir.clone();
    let status = serve.terminate(Duration::from_secs(30)).unwrap();
    assert!(status.success(), "exit {status:?}:\n{}", serve.stderr());
    drop(serve);
    let t = Instant::now();
    let serve = Serve::start(&dir, &ENV).unwrap();
    (serve, t.elapsed())
}

/// Every per-order collection of the OMS and the paper broker is sampled,
/// and none holds more over the second half than a bound the first half
/// sets: finished orders leave memory, whatever the run's length.
#[allow(clippy::print_stdout, reason = "the soak prints what it found")]
fn assert_collections_flat(early: &[Sample], late: &[Sample]) {
    let expected = [
        "oms.orders",
        "oms.index",
        "oms.working",
        "oms.by_client",
        "oms.fills",
        "oms.exec_ids",
        "oms.trades",
        "paper.working",
        "paper.known",
        "paper.ledger_orders",
        "paper.ledger_quantities",
        "paper.ledger_executions",
    ];
    for name in expected {
        let peak = |samples: &[Sample]| {
            samples
                .iter()
                .map(|s| {
                    *s.collections
                        .get(name)
                        .unwrap_or_else(|| panic!("/status has no collection {name}: {:?}", s.collections))
                })
                .max()
                .unwrap()
        };
        let (before, after) = (peak(early), peak(late));
        println!("collection {name}: peak {before} in the first half, {after} in the second");
        // Only working orders (sma-cross keeps at most a few) and what
        // arrived since the last release stay; a per-order leak would
        // add thousands over the second half.
        assert!(
            after <= before * 2 + 200,
            "{name} grew from a peak of {before} to {after} over the second half"
        );
        assert!(after <= 2_000, "{name} holds {after} entries in a steady run");
    }
}

#[test]
fn a_long_run_with_partial_fills_keeps_rss_store_and_restart_time_flat() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &ENV).unwrap();
    upload(&serve, &guest_path("sma_cross").unwrap(), true);
    let total = soak_secs();
    let every = Duration::from_secs((total / 12).max(2));
    let started = Instant::now();
    std::thread::sleep(every);
    let mut samples = vec![sample(&serve, started)];
    while started.elapsed() < Duration::from_secs(total / 2) {
        std::thread::sleep(every);
        samples.push(sample(&serve, started));
    }
    // A restart halfway, and one at the end: the second replays no more
    // than the first although twice the history lies behind it.
    let first = samples.last().unwrap().orders;
    let (serve, early_restart) = restart(serve);
    let early_rebuilt = rebuilt_orders(&serve);
    let warm = sample(&serve, started);
    let mut late = Vec::new();
    while started.elapsed() < Duration::from_secs(total) {
        std::thread::sleep(every);
        late.push(sample(&serve, started));
    }
    let last = late.last().unwrap();
    let orders = first + last.orders;
    let fills = samples.last().unwrap().fills + last.fills;
    assert!(
        fills > orders + orders / 2,
        "expected most orders to fill in parts: {orders} orders, {fills} fills"
    );
    assert!(orders > 500, "too little trading for a soak: {orders} orders");
    // Finished orders are still queryable, from the store's history.
    let listed = json(&serve, &["orders", "--json", "--limit", "200"]);
    let listed = listed["orders"].as_array().unwrap();
    assert_eq!(listed.len(), 200, "orders --limit 200 returned {}", listed.len());
    assert!(listed.iter().any(|o| o["status"] == "filled"));

    let peak_rss = late.iter().map(|s| s.rss).max().unwrap();
    let peak_store = late.iter().map(|s| s.store).max().unwrap();
    println!(
        "soak: {orders} orders, {fills} fills in {}s; rss {} → {} MiB (peak {}), store {} → {} MiB (peak {})",
        last.secs,
        warm.rss / MIB,
        last.rss / MIB,
        peak_rss / MIB,
        warm.store / MIB,
        last.store / MIB,
        peak_store / MIB
    );
    // Before, ~1 KB per fill and 2.4 KB per order stayed in memory: the
    // second half alone would have added this much.
    let old_growth = last.fills * 1024 + last.orders * 2400;
    println!(
        "second half: {} orders, {} fills (≈{} MiB kept in memory before)",
        last.orders,
        last.fills,
        old_growth / MIB
    );
    let (serve, late_restart) = restart(serve);
    let late_rebuilt = rebuilt_orders(&serve);
    println!(
        "restart to listening: {:?} after {} orders (rebuilt {} from the journal), {:?} after {} orders (rebuilt {})",
        early_restart, first, early_rebuilt, late_restart, orders, late_rebuilt
    );
    assert!(
        peak_rss <= warm.rss + 24 * MIB,
        "RSS grew from {} to {} MiB over the second half",
        warm.rss / MIB,
        peak_rss / MIB
    );
    assert!(
        peak_store <= warm.store + warm.store / 2 + 8 * MIB,
        "the store grew from {} to {} MiB over the second half",
        warm.store / MIB,
        peak_store / MIB
    );

    assert_collections_flat(&samples, &late);

    // A SIGTERM checkpoints at the end: nothing is left to replay.
    assert_eq!((early_rebuilt, late_rebuilt), (0, 0));
    assert!(
        late_restart <= early_restart * 2 + Duration::from_secs(2),
        "restart took {late_restart:?} after {orders} orders vs {early_restart:?} after {first}"
    );
    // Trading goes on after the restart.
    let before = json(&serve, &["account", "--json"])["fills"].as_u64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while json(&serve, &["account", "--json"])["fills"].as_u64().unwrap() == before {
        assert!(
            Instant::now() < deadline,
            "no fill after the restart:\n{}",
            serve.stderr()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_hundred_upload_and_remove_cycles_keep_rss_and_store_flat() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &[("WASMTRADE__MARKET__SPEED", "20")]).unwrap();
    upload(&serve, &guest_path("sma_cross").unwrap(), true);
    let bytes = guest_bytes("sma_cross").unwrap();
    let files = tempfile::tempdir().unwrap();
    let mut samples = Vec::new();
    for cycle in 0..100u32 {
        // Other bytes every cycle: a new version, compiled and stored.
        let variant = with_custom_section(&bytes, "soak", &cycle.to_le_bytes());
        let path = files.path().join(format!("v{cycle}.wasm"));
        std::fs::write(&path, variant).unwrap();
        let uploaded = upload(&serve, &path, false);
        let version = uploaded["upload"]["version"]
            .as_u64()
            .unwrap_or_else(|| panic!("no version in {uploaded}"))
            .to_string();
        json(
            &serve,
            &["strategy", "remove", NAME, "--version", &version, "--json"],
        );
        if cycle % 10 == 9 {
            let (r, s) = (
                rss(serve.pid()).unwrap(),
                dir_size(&serve.data_dir.join("store")).unwrap(),
            );
            println!(
                "cycle {:>3}: rss {:>6.1} MiB  store {:>6.1} MiB",
                cycle + 1,
                r as f64 / MIB as f64,
                s as f64 / MIB as f64
            );
            samples.push((r, s));
        }
    }
    // After the first 20 cycles (allocator and sled warm-up), 80 more
    // cycles may not add what they used to (2.5 MiB RSS, 2.7 MB store each).
    let (rss_warm, store_warm) = samples[1];
    let rss_peak = samples[2..].iter().map(|s| s.0).max().unwrap();
    let store_peak = samples[2..].iter().map(|s| s.1).max().unwrap();
    // sled frees the segments of removed artifacts lazily, so the store's
    // size is a saw tooth: its troughs show what is really kept, its peaks
    // must stay far below the ~216 MB that 80 kept artifacts would take.
    let store_trough = samples[samples.len() - 3..].iter().map(|s| s.1).min().unwrap();
    assert!(
        rss_peak <= rss_warm + 32 * MIB,
        "RSS grew {} → {} MiB over 80 upload/remove cycles",
        rss_warm / MIB,
        rss_peak / MIB
    );
    assert!(
        store_trough <= store_warm + 32 * MIB,
        "the store kept growing over 80 upload/remove cycles: {} MiB after 20, at least {} MiB in the last 30",
        store_warm / MIB,
        store_trough / MIB
    );
    assert!(
        store_peak <= store_warm + 96 * MIB,
        "the store grew {} → {} MiB over 80 upload/remove cycles",
        store_warm / MIB,
        store_peak / MIB
    );
    let list = json(&serve, &["strategy", "list", NAME, "--json"]);
    assert_eq!(list["modules"][0]["state"], "running", "{list}");
}
