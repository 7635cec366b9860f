//! Restart resumes trading with the embedded defaults (the in-process paper
//! broker and the synthetic paper market): sma-cross trades on a fast
//! market, the server is stopped (SIGTERM, or `kill -9` twenty times) and
//! restarted on the same data dir, and after every restart each market
//! order fills at the next bar's open (none stays `accepted`), positions and
//! cash continue from before, and an order working at shutdown reaches the
//! strategy's `on_reject` with the reason.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
#![allow(
    clippy::disallowed_methods,
    reason = "the tests wait for a real-time market and bound their own duration"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use wasmtrade_e2e::{Serve, guest_path, wasmtrade_bin};

/// sma-cross long/flat with a fixed size: the position is 0 or `QUANTITY`.
const CONFIG: &str = r#"{"fast": 3, "slow": 8, "quantity": 10}"#;
const QUANTITY: f64 = 10.0;
const NAME: &str = "sma";
const LOG: (&str, &str) = ("WASMTRADE_LOG", "wasmtrade_live=info,warn");
const FAST: (&str, &str) = ("WASMTRADE__MARKET__SPEED", "3000");

fn json(serve: &Serve, args: &[&str]) -> Value {
    serve
        .cli_json(args)
        .unwrap_or_else(|e| panic!("{e}\nserver stderr:\n{}", serve.stderr()))
}

fn num(v: &Value) -> f64 {
    v.as_str()
        .unwrap_or_else(|| panic!("not a decimal string: {v}"))
        .parse()
        .unwrap()
}

fn upload(serve: &Serve) {
    let path = guest_path("sma_cross").unwrap();
    let out = serve
        .cli([
            "strategy",
            "upload",
            path.to_str().unwrap(),
            "--name",
            NAME,
            "--config",
            CONFIG,
            "--activate",
        ])
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Every order, by id.
fn orders(serve: &Serve) -> BTreeMap<u64, Value> {
    json(serve, &["orders", "--json", "--limit", "1000000"])["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["order_id"].as_u64().unwrap(), o.clone()))
        .collect()
}

fn open_ids(serve: &Serve) -> BTreeSet<u64> {
    json(serve, &["orders", "--open", "--json"])["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["order_id"].as_u64().unwrap())
        .collect()
}

fn net_position(serve: &Serve) -> f64 {
    json(serve, &["positions", "--json"])["positions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| num(&p["quantity"]))
        .sum()
}

fn signed_filled(o: &Value) -> f64 {
    let filled = num(&o["filled"]);
    if o["side"] == "sell" { -filled } else { filled }
}

fn gate_open(serve: &Serve) -> bool {
    json(serve, &["kill", "status", "--json"])["trading_gate_open"] == true
}

/// Waits until the market played `bars` bars and the account stopped moving.
fn settle(serve: &Serve, bars: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = Value::Null;
    loop {
        let account = json(serve, &["account", "--json"]);
        if account["bars"].as_u64() == Some(bars) && account == last {
            return account;
        }
        assert!(
            Instant::now() < deadline,
            "the market did not finish {bars} bars: {account}\n{}",
            serve.stderr()
        );
        last = account;
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The value of `key=` on the log line containing `marker`.
fn logged(serve: &Serve, marker: &str, key: &str) -> f64 {
    let log = serve.stderr();
    let line = log
        .lines()
        .find(|l| l.contains(marker))
        .unwrap_or_else(|| panic!("no `{marker}` line in:\n{log}"));
    let value = line
        .split(&format!("{key}="))
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no `{key}=` in: {line}"));
    value.trim_matches('"').parse().unwrap()
}

/// Orders created in this run (id above `after`) all filled, at most the
/// newest one still open (sent on the market's last bar); at least `min`.
fn assert_new_orders_filled(orders: &BTreeMap<u64, Value>, after: u64, min: usize, what: &str) {
    let new: Vec<&Value> = orders.range(after + 1..).map(|(_, o)| o).collect();
    assert!(
        new.len() >= min,
        "{what}: only {} orders after the restart (a stuck order stops sma-cross): {new:?}",
        new.len()
    );
    for (i, o) in new.iter().enumerate() {
        let newest = i + 1 == new.len();
        let filled = o["status"] == "filled" && num(&o["filled"]) == num(&o["quantity"]);
        assert!(
            filled || (newest && o["status"] == "accepted"),
            "{what}: order {o} did not fill (of {} new orders)",
            new.len()
        );
    }
}

/// A `wasmtrade events --bars --json` stream collected on a thread.
struct Events {
    child: std::process::Child,
    lines: Arc<Mutex<Vec<Value>>>,
}

impl Events {
    fn follow(serve: &Serve) -> Events {
        let mut child = Command::new(wasmtrade_bin().unwrap())
            .args(["events", "--bars", "--json"])
            .env_remove("WASMTRADE_LOG")
            .env("WASMTRADE_SERVER", &serve.addr)
            .env("WASMTRADE_TOKEN", &serve.token)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    sink.lock().unwrap().push(v);
                }
            }
        });
        Events { child, lines }
    }

    fn stop(mut self) -> Vec<Value> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(100));
        self.lines.lock().unwrap().clone()
    }
}

#[test]
fn after_sigterm_and_a_restart_every_market_order_fills_at_the_next_open_and_the_account_continues() {
    let dir = tempfile::tempdir().unwrap();
    // A first run to deploy the strategy; its bars may be over before it is.
    let bounded = [FAST, LOG, ("WASMTRADE__MARKET__MAX_BARS", "3000")];
    let mut serve = Serve::start(dir.path(), &bounded).unwrap();
    upload(&serve);
    settle(&serve, 3000);
    let last0 = orders(&serve).keys().last().copied().unwrap_or(0);
    assert!(serve.terminate(Duration::from_secs(10)).unwrap().success());

    // Run 1: restored, trades 3000 bars, and the market stops.
    serve = Serve::start(dir.path(), &bounded).unwrap();
    assert!(gate_open(&serve), "{}", serve.stderr());
    let account1 = settle(&serve, 3000);
    let orders1 = orders(&serve);
    assert_new_orders_filled(&orders1, last0, 5, "run 1");
    let position1 = net_position(&serve);
    let cash1 = num(&account1["cash"]);
    let last1 = *orders1.keys().last().unwrap();
    let open1: Vec<u64> = orders1
        .iter()
        .filter(|(_, o)| o["status"] == "accepted")
        .map(|(id, _)| *id)
        .collect();
    assert!(serve.terminate(Duration::from_secs(10)).unwrap().success());

    // Run 2: the same data dir; 6000 bars this time, with the event stream on.
    let longer = [FAST, LOG, ("WASMTRADE__MARKET__MAX_BARS", "6000")];
    serve = Serve::start(dir.path(), &longer).unwrap();
    let events = Events::follow(&serve);
    assert!(gate_open(&serve), "reconciliation disagreed:\n{}", serve.stderr());
    let account2 = settle(&serve, 6000);
    let events = events.stop();
    let orders2 = orders(&serve);
    assert_new_orders_filled(&orders2, last1, 5, "run 2");
    // The book the restart rebuilt is the account before SIGTERM.
    let marker = "order book rebuilt from the journal";
    assert_eq!(logged(&serve, marker, "cash"), cash1, "cash after the restart");
    assert_eq!(
        logged(&serve, marker, "net_position"),
        position1,
        "position after the restart"
    );
    // Run 1's orders are unchanged; the one working at SIGTERM was cancelled.
    for (id, before) in orders1.range(..=last1) {
        let after = &orders2[id];
        assert_eq!(
            after["filled"], before["filled"],
            "order {id}: {before} → {after}"
        );
        if open1.contains(id) {
            assert_eq!(
                after["status"], "cancelled",
                "order {id} working at SIGTERM: {after}"
            );
        } else {
            assert_eq!(after["status"], before["status"], "order {id}");
        }
    }
    // Positions continue: the position now is the one before plus every fill since.
    let position2 = net_position(&serve);
    let since: f64 = orders2.range(last1 + 1..).map(|(_, o)| signed_filled(o)).sum();
    assert_eq!(position2, position1 + since, "positions: {account2}");
    assert!(
        (0.0..=QUANTITY).contains(&position2),
        "long/flat of {QUANTITY}: exposure doubled? {position2}"
    );
    let all: f64 = orders2.values().map(signed_filled).sum();
    assert_eq!(position2, all, "the position is the sum of every fill");
    // Each fill the stream saw: at the open of the bar after the order's.
    let opens: BTreeMap<i64, f64> = events
        .iter()
        .filter(|e| e["kind"] == "bar")
        .map(|e| (e["ts_ns"].as_i64().unwrap(), num(&e["bar"]["open"])))
        .collect();
    let mut checked = 0;
    for fill in events.iter().filter(|e| e["kind"] == "fill") {
        let ts = fill["ts_ns"].as_i64().unwrap();
        let id = fill["fill"]["order_id"].as_u64().unwrap();
        let Some(open) = opens.get(&ts) else { continue };
        let created = orders2[&id]["created_ns"].as_i64().unwrap();
        assert_eq!(
            ts - created,
            1_000_000_000,
            "order {id} filled {} ns after it was sent, not on the next bar",
            ts - created
        );
        assert_eq!(
            num(&fill["fill"]["price"]),
            *open,
            "order {id}: not the next bar's open"
        );
        checked += 1;
    }
    assert!(
        checked >= 3,
        "too few fills seen with their bar ({checked}) in {} events",
        events.len()
    );
    eprintln!(
        "run 1: {} orders, cash {cash1}, position {position1}; run 2: {} new orders, {checked} fills checked at the next open",
        orders1.len(),
        orders2.len() - orders1.len()
    );
}

#[test]
fn a_working_order_cancelled_by_reconciliation_reaches_on_reject_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    // A participation this small fills nothing: the first buy stays working.
    let starved = [
        FAST,
        LOG,
        ("WASMTRADE__ACCOUNT__PAPER__MAX_VOLUME_PARTICIPATION", "0.0000001"),
    ];
    let mut serve = Serve::start(dir.path(), &starved).unwrap();
    upload(&serve);
    let deadline = Instant::now() + Duration::from_secs(20);
    let working = loop {
        let open = open_ids(&serve);
        if let Some(id) = open.first() {
            break *id;
        }
        assert!(
            Instant::now() < deadline,
            "no order was sent:\n{}",
            serve.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(serve.terminate(Duration::from_secs(10)).unwrap().success());

    serve = Serve::start(dir.path(), &[FAST, LOG]).unwrap();
    assert!(gate_open(&serve), "{}", serve.stderr());
    let order = &orders(&serve)[&working];
    assert_eq!(order["status"], "cancelled", "{order}");
    let logs = serve.cli(["strategy", "logs", NAME]).unwrap();
    let logs = String::from_utf8_lossy(&logs.stdout).to_string();
    let client_id = order["client_id"].as_str().unwrap();
    assert!(
        logs.lines().any(|l| l.contains(&format!("{client_id} rejected"))
            && l.contains("the in-process paper broker restarted")),
        "sma-cross's on_reject did not log the reason for {client_id}:\n{logs}"
    );
    // Told, the strategy no longer waits for that order: it trades again.
    let deadline = Instant::now() + Duration::from_secs(20);
    while json(&serve, &["account", "--json"])["fills"]
        .as_u64()
        .unwrap_or(0)
        == 0
    {
        assert!(
            Instant::now() < deadline,
            "no fill after the restart:\n{}",
            serve.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn kill_9_twenty_times_orders_after_each_restart_fill_and_no_fill_is_lost_or_doubled() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let env = [FAST, LOG, ("WASMTRADE__GUESTS__SNAPSHOT_EVERY_BARS", "50")];
    let mut serve = Serve::start(dir.path(), &env).unwrap();
    upload(&serve);
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut fills = 0;
    for cycle in 0..20 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(300 + seed % 700));
        serve.kill().unwrap();
        serve = Serve::start(dir.path(), &env).unwrap();
        assert!(
            gate_open(&serve),
            "cycle {cycle}: reconciliation disagreed with the resumed paper books:\n{}",
            serve.stderr()
        );
        // Orders sent after the restart fill: fills arrive, and no order
        // stays open across two looks 300 ms (≈ 900 bars) apart.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let n = json(&serve, &["account", "--json"])["fills"]
                .as_u64()
                .unwrap_or(0);
            if n > 0 {
                fills += n;
                break;
            }
            assert!(
                Instant::now() < deadline,
                "cycle {cycle}: no fill after the restart:\n{}",
                serve.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let first = open_ids(&serve);
        std::thread::sleep(Duration::from_millis(300));
        let second = open_ids(&serve);
        let stuck: Vec<u64> = second.intersection(&first).copied().collect();
        assert!(stuck.is_empty(), "cycle {cycle}: orders {stuck:?} stay open");
    }
    assert!(
        serve
            .cli(["kill", "on", "--reason", "end of test"])
            .unwrap()
            .status
            .success()
    );
    std::thread::sleep(Duration::from_millis(300));
    let orders = orders(&serve);
    for o in orders.values() {
        assert!(num(&o["filled"]) <= num(&o["quantity"]), "overfilled: {o}");
    }
    let position = net_position(&serve);
    let all: f64 = orders.values().map(signed_filled).sum();
    assert_eq!(position, all, "the position is the sum of every fill once");
    assert!(
        (0.0..=QUANTITY).contains(&position),
        "long/flat of {QUANTITY}: {position}"
    );
    let took = started.elapsed();
    eprintln!(
        "20 kills in {took:?}: {} orders, {fills} fills right after the restarts",
        orders.len()
    );
    assert!(took < Duration::from_secs(180), "took {took:?}");
}
