//! What the crash and rollout tests share: a runtime trading two strategies
//! against a `wasmtrade paper-venue`, and the checks that nothing was lost.

#![allow(dead_code, reason = "each test binary uses a part")]

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use wasmtrade_e2e::venue::Venue;
use wasmtrade_e2e::{Serve, guest_path};

/// Runs the CLI with `--json` and parses it; panics with the server's stderr.
pub fn json(serve: &Serve, args: &[&str]) -> Value {
    serve
        .cli_json(args)
        .unwrap_or_else(|e| panic!("{e}\nserver stderr:\n{}", serve.stderr()))
}

/// `wasmtrade serve` trading with `venue` on `data_dir`.
pub fn start(data_dir: &std::path::Path, venue: &Venue, extra: &[(&str, &str)]) -> Serve {
    let mut env = vec![
        ("WASMTRADE__BROKER__KIND", "venue"),
        ("WASMTRADE__BROKER__VENUE_ADDRESS", venue.addr.as_str()),
        ("WASMTRADE__GUESTS__SNAPSHOT_EVERY_BARS", "3"),
        ("WASMTRADE_LOG", "wasmtrade_live=info,warn"),
    ];
    env.extend_from_slice(extra);
    Serve::start(data_dir, &env).unwrap()
}

/// A small deterministic generator for the kill points (xorshift).
pub struct Rng(pub u64);

impl Rng {
    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Two sma-cross instances that trade often on a fast market.
pub const STRATEGIES: [(&str, &str); 2] = [
    ("fast", r#"{"fast": 2, "slow": 4, "quantity": 10}"#),
    ("slow", r#"{"fast": 3, "slow": 7, "quantity": 5}"#),
];

/// Uploads and activates both strategies.
pub fn upload_strategies(serve: &Serve) {
    let path = guest_path("sma_cross").unwrap();
    for (name, config) in STRATEGIES {
        let out = serve
            .cli([
                "strategy",
                "upload",
                path.to_str().unwrap(),
                "--name",
                name,
                "--config",
                config,
                "--activate",
            ])
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

/// Both strategies run their active version, each restored from a stored
/// snapshot, and start-up reconciliation opened the trading gate.
pub fn assert_strategies_back(serve: &Serve, run: usize) {
    let state = json(serve, &["kill", "status", "--json"]);
    assert_eq!(
        state["trading_gate_open"],
        true,
        "run {run}: reconciliation did not agree with the venue: {state}\n{}",
        serve.stderr()
    );
    let list = json(serve, &["strategy", "list", "--json"]);
    for (name, _) in STRATEGIES {
        let m = list["modules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .unwrap_or_else(|| panic!("run {run}: {name} is not listed: {list}"));
        assert!(
            m["active_version"].as_u64().is_some() && m["state"] == "running",
            "run {run}: {name} is not running its active version: {m}"
        );
    }
    let log = serve.stderr();
    for (name, _) in STRATEGIES {
        let restored = log.lines().any(|l| {
            l.contains("restored") && l.contains(&format!("module={name}")) && !l.contains("state_bytes=0")
        });
        assert!(
            restored,
            "run {run}: {name} was not restored from a snapshot:\n{log}"
        );
    }
}

/// Stops new orders, lets the last ones fill, then checks: no intent
/// reached the venue twice, every venue order is the runtime's with the
/// same filled quantity, every execution is a runtime fill, and cash and
/// the net position are the venue's. Returns (venue orders, executions).
pub fn assert_agrees_with_venue(serve: &Serve, venue: &Venue) -> (usize, usize) {
    assert!(
        serve
            .cli(["kill", "on", "--reason", "end of test"])
            .unwrap()
            .status
            .success()
    );
    let mut settled = false;
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(100));
        let open = json(serve, &["orders", "--open", "--json"]);
        let open = &open["orders"];
        let venue_open = venue
            .report()
            .unwrap()
            .orders
            .iter()
            .filter(|o| !o.status.is_terminal())
            .count();
        if open.as_array().unwrap().is_empty() && venue_open == 0 {
            settled = true;
            break;
        }
    }
    assert!(settled, "orders were still open 10 s after the kill switch");
    std::thread::sleep(Duration::from_millis(300));

    let status = venue.status().unwrap();
    assert_eq!(
        status.duplicate_submissions, 0,
        "an intent reached the venue twice: {status:?}"
    );
    let report = venue.report().unwrap();
    let orders = json(serve, &["orders", "--json", "--limit", "100000"]);
    let ours: BTreeMap<u64, &Value> = orders["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["order_id"].as_u64().unwrap(), o))
        .collect();
    for v in &report.orders {
        let o = ours
            .get(&v.id.0)
            .unwrap_or_else(|| panic!("venue order {} is unknown to the runtime", v.id));
        let filled: f64 = o["filled"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            filled,
            v.filled.to_f64(),
            "order {}: runtime {o}, venue {v:?}",
            v.id
        );
    }
    let account = json(serve, &["account", "--json"]);
    let cash: f64 = account["cash"].as_str().unwrap().parse().unwrap();
    let venue_cash = report.cash.unwrap().to_f64();
    assert!(
        (cash - venue_cash).abs() < 1e-6,
        "cash: runtime {cash}, venue {venue_cash}"
    );
    let positions = json(serve, &["positions", "--json"]);
    let ours: f64 = positions["positions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["quantity"].as_str().unwrap().parse::<f64>().unwrap())
        .sum();
    let theirs: f64 = report.positions.values().map(|q| q.to_f64()).sum();
    assert_eq!(
        ours, theirs,
        "net position: runtime {positions}, venue {:?}",
        report.positions
    );
    (report.orders.len(), report.executions.len())
}
