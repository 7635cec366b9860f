//! The kill switch under full load (reliability notes RT7), measured in one
//! process: the live runtime's paper market plays 4 symbols as fast as the
//! event loop takes them (`market.speed = 0`); `knight` (the order-flood
//! fixture with `count = 1`) sends a market order on every bar, so an order
//! is always working; `spin` (the infinite-loop fixture) runs until its
//! fuel budget stops it on every bar it sees and is restarted 10 ms later,
//! again and again — so the loop is often inside a guest that does not
//! return when the switch is pulled.
//!
//! ```text
//! make guests    # once
//! cargo bench --workspace --bench kill
//! ```
//!
//! 50 cycles: `Handle::set_kill_switch(on)` (what the gRPC call runs), then
//! off again after 100 ms. The reply comes once the event loop has engaged
//! the latch, cancelled the working orders (sent to the broker) and stored
//! the latch, so its latency bounds both "new orders blocked" (which the
//! engine applies earlier, at its next order or callback) and "cancels
//! sent". Targets: blocked ≤ 100 ms p99, cancels sent ≤ 1 s. Each cycle
//! also checks from the event stream that no order was submitted while
//! the switch was on, and that no order stayed working.

#![allow(clippy::print_stdout, reason = "a bench binary prints its figures")]
#![allow(
    clippy::disallowed_methods,
    reason = "a benchmark measures wall-clock time with Instant::now"
)]

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use sha2::{Digest, Sha256};
use wasmtrade_e2e::guest_bytes;
use wasmtrade_live::{EventKind, GuestKind, Handle, LiveConfig, MarketConfig, Runtime, UploadMeta};

const COMMAND: &str = "cargo bench --workspace --bench kill";
const CYCLES: usize = 50;
const BLOCK_TARGET: Duration = Duration::from_millis(100);
const CANCEL_TARGET: Duration = Duration::from_secs(1);

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kill bench: cannot start tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kill bench failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn install(handle: &Handle, guest: &str, name: &str, config: &str) -> anyhow::Result<()> {
    let bytes = guest_bytes(guest).with_context(|| format!("no {guest}.wasm: run `make guests` first"))?;
    let meta = UploadMeta {
        name: name.to_string(),
        kind: GuestKind::Strategy,
        label: "bench".to_string(),
        sha256: hex::encode(Sha256::digest(&bytes)),
        size: bytes.len() as u64,
        config: config.to_string(),
    };
    let up = handle
        .upload(meta, bytes, "bench")
        .await
        .map_err(|e| anyhow::anyhow!("upload of {name}: {e}"))?;
    handle
        .activate(name, up.version, None, "bench")
        .await
        .map_err(|e| anyhow::anyhow!("activation of {name}: {e}"))?;
    Ok(())
}

async fn run() -> anyhow::Result<String> {
    let dir = tempfile::tempdir().context("cannot create a temporary data dir")?;
    let mut config = LiveConfig {
        data_dir: dir.path().join("data"),
        market: MarketConfig {
            symbols: ["AAA", "BBB", "CCC", "DDD"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            speed: 0.0,
            ..MarketConfig::default()
        },
        ..LiveConfig::default()
    };
    if let Some(restart) = config.guests.quarantine.restart.as_mut() {
        restart.initial_backoff_ms = 10;
        restart.max_backoff_ms = 10;
        restart.max_faults = u32::MAX;
    }
    let runtime = Runtime::start(config)
        .await
        .map_err(|e| anyhow::anyhow!("cannot start the live runtime: {e}"))?;
    let handle = runtime.handle();
    install(&handle, "hostile_infinite_loop", "spin", "{}").await?;
    install(&handle, "hostile_order_flood", "knight", r#"{"count":1}"#).await?;
    let (mut events, _) = handle.subscribe(false);
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut latency = Histogram::<u64>::new(3).context("histogram")?;
    let (mut submitted_while_on, mut rejected_while_on, mut left_working) = (0u64, 0u64, 0usize);
    for cycle in 0..CYCLES {
        // Drain what happened while the switch was off.
        while events.try_recv().is_ok() {}
        let start = Instant::now();
        handle
            .set_kill_switch(true, None, false, &format!("bench cycle {cycle}"), "bench")
            .await
            .map_err(|e| anyhow::anyhow!("kill on: {e}"))?;
        latency.record(u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX))?;
        // Everything up to the switch's own event happened before the latch
        // was reported; after it, nothing may be submitted until it is off.
        let mut after_switch = false;
        let until = Instant::now() + Duration::from_millis(100);
        while Instant::now() < until {
            if let Ok(Ok(e)) = tokio::time::timeout(Duration::from_millis(10), events.recv()).await {
                match &e.kind {
                    EventKind::KillSwitch { on: true, .. } => after_switch = true,
                    EventKind::Order(o)
                        if after_switch && o.status == wasmtrade_live::OrderStep::Submitted =>
                    {
                        submitted_while_on += 1
                    }
                    EventKind::Rejection(r) if after_switch && r.rejection.code.as_str() == "kill-switch" => {
                        rejected_while_on += 1;
                    }
                    _ => {}
                }
            }
        }
        left_working += handle
            .orders(true, None, 1000)
            .await
            .map_err(|e| anyhow::anyhow!("orders: {e}"))?
            .len();
        handle
            .set_kill_switch(false, None, false, "", "bench")
            .await
            .map_err(|e| anyhow::anyhow!("kill off: {e}"))?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let account = handle
        .account()
        .await
        .map_err(|e| anyhow::anyhow!("account: {e}"))?;
    runtime
        .shutdown()
        .await
        .map_err(|e| anyhow::anyhow!("shutdown: {e}"))?;
    if rejected_while_on == 0 {
        bail!("knight's orders were never refused by the kill switch: the drill did not exercise it");
    }
    let ms = |ns: u64| format!("{:.2} ms", ns as f64 / 1e6);
    let p99 = latency.value_at_quantile(0.99);
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    Ok(format!(
        "wasmtrade kill switch bench: `{COMMAND}`\n\
         full load: 4 symbols at speed 0 ({} bars in the run), `knight` ordering on every bar, `spin` looping until its fuel runs out on every bar it sees\n\n\
         {CYCLES} kill on/off cycles, SetKillSwitch(on) until the latch is engaged, working orders cancelled and the latch stored:\n\
         \x20 p50 {}  p99 {}  max {}\n\
         \x20 new orders blocked ≤ {} p99: {} (the engine applies it earlier: before its next order or callback)\n\
         \x20 cancels sent ≤ {}: {}\n\
         while on: {submitted_while_on} orders submitted (must be 0), {rejected_while_on} refused with kill-switch; orders left working: {left_working} (must be 0)\n",
        account.stats.bars,
        ms(latency.value_at_quantile(0.5)),
        ms(p99),
        ms(latency.max()),
        ms(u64::try_from(BLOCK_TARGET.as_nanos()).unwrap_or(u64::MAX)),
        verdict(Duration::from_nanos(p99) <= BLOCK_TARGET),
        ms(u64::try_from(CANCEL_TARGET.as_nanos()).unwrap_or(u64::MAX)),
        verdict(Duration::from_nanos(latency.max()) <= CANCEL_TARGET),
    ))
}
