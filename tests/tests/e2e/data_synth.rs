//! `wasmtrade data synth` on the real binary: business days by default, so
//! ten years of daily bars span ten calendar years and the report's CAGR and
//! 252 periods a year agree.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is a test failure with a location"
)]

use wasmtrade_e2e::{guest_path, run_cli};

/// Monday = 0 … Sunday = 6 of a `YYYY-MM-DD...` timestamp (Sakamoto's method).
fn weekday(ts: &str) -> u32 {
    let (y, m, d): (i32, u32, u32) = (
        ts[0..4].parse().unwrap(),
        ts[5..7].parse().unwrap(),
        ts[8..10].parse().unwrap(),
    );
    const T: [i32; 12] = [0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4];
    let y = if m < 3 { y - 1 } else { y };
    let sunday0 = (y + y / 4 - y / 100 + y / 400 + T[m as usize - 1] + d as i32).rem_euclid(7) as u32;
    (sunday0 + 6) % 7
}

fn timestamps(args: &[&str]) -> Vec<String> {
    let out = run_cli(args).unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect()
}

#[test]
fn data_synth_writes_business_days_by_default_and_every_day_on_request() {
    let business = timestamps(&["data", "synth", "--bars", "30"]);
    assert_eq!(business.len(), 30);
    assert!(business.iter().all(|t| weekday(t) < 5), "{business:?}");
    assert_eq!(&business[0][..10], "2015-01-02"); // a Friday
    assert_eq!(&business[1][..10], "2015-01-05"); // the Monday after
    let continuous = timestamps(&["data", "synth", "--bars", "30", "--calendar", "continuous"]);
    assert_eq!(&continuous[1][..10], "2015-01-03");
    assert!(continuous.iter().any(|t| weekday(t) >= 5));
}

#[test]
fn the_embedded_backtest_data_spans_ten_calendar_years_of_business_days() {
    let strategy = guest_path("sma_cross").unwrap().display().to_string();
    let out = run_cli([
        "backtest",
        "--strategy",
        &strategy,
        "--config",
        "fast=10,slow=30",
        "--json",
    ])
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let report = &v["report"];
    assert_eq!(report["periods_per_year"], 252.0);
    assert_eq!(report["bars"], 2520);
    assert!(
        v["data"].as_str().unwrap().contains("business days"),
        "{}",
        v["data"]
    );
    // 2,520 business days ≈ 9.66 calendar years: CAGR compounds over them.
    let total = report["total_return_pct"].as_f64().unwrap() / 100.0;
    let cagr = report["cagr_pct"].as_f64().unwrap() / 100.0;
    let years = (1.0 + total).ln() / (1.0 + cagr).ln();
    assert!((9.5..9.8).contains(&years), "CAGR implies {years} years");
}
