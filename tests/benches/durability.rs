//! Durability costs (issue 4), measured in one process:
//!
//! 1. **Journal appends/s with durability on** (sled flush + `fdatasync` per
//!    commit): one record per commit, and 64 per commit (group commit).
//! 2. **Added latency per order from journaling**: the engine sends one
//!    market order per bar through the paper broker, without a journal and
//!    with the store's write-ahead journal (intent durable before the send);
//!    per-bar latency percentiles of both and the p99 difference.
//! 3. **Restart to ready with 100 active guests**: `Runtime::start` on a
//!    data dir holding 100 active strategies (sma-cross under 100 names),
//!    each loaded from its precompiled artifact and restored from its
//!    snapshot (target < 1 s); the median of 5 restarts.
//!
//! ```text
//! make guests    # once
//! cargo bench --workspace --bench durability
//! ```

#![allow(clippy::print_stdout, reason = "a bench binary prints its figures")]
#![allow(
    clippy::disallowed_methods,
    reason = "a benchmark measures wall-clock time with Instant::now"
)]

use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use hdrhistogram::Histogram;
use sha2::{Digest, Sha256};
use wasmtrade_broker::paper::{PaperBroker, PaperConfig};
use wasmtrade_e2e::guest_bytes;
use wasmtrade_engine::{Engine, EngineConfig, FaultPolicy};
use wasmtrade_live::{GuestKind, LiveConfig, MarketConfig, Runtime, StoreJournal, UploadMeta};
use wasmtrade_model::{
    Bar, Fill, GuestContext, GuestFault, GuestInfo, InstrumentId, Instruments, Intents, Money, OrderId,
    OrderStatus, Price, Quantity, RawIntent, RawOrderType, RejectNotice, Side, StrategyGuest, Tick,
    TimeInForce, Timestamp,
};
use wasmtrade_oms::Oms;
use wasmtrade_risk::{Engine as RiskEngine, RiskConfig};
use wasmtrade_store::{JournalRecord, Store, StoreOptions};

const COMMAND: &str = "cargo bench --workspace --bench durability";
const GUESTS: usize = 100;
const READY_TARGET: Duration = Duration::from_secs(1);

fn main() -> ExitCode {
    match run() {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("durability bench failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<String> {
    let mut out = format!("durability ({COMMAND})\n");
    appends(&mut out)?;
    order_latency(&mut out)?;
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start tokio")?;
    tokio.block_on(restart_to_ready(&mut out))?;
    Ok(out)
}

fn status_record(n: u64) -> JournalRecord {
    JournalRecord::Status {
        order_id: OrderId(n),
        status: OrderStatus::Accepted,
        ts: Timestamp::from_secs(n as i64),
        reason: None,
    }
}

fn appends(out: &mut String) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), &StoreOptions::default())?;
    for batch in [1usize, 64] {
        let rounds = if batch == 1 { 2_000 } else { 200 };
        let start = Instant::now();
        let mut n = 0;
        for _ in 0..rounds {
            for _ in 0..batch {
                n += 1;
                store.journal().append(&status_record(n))?;
            }
            store.journal().commit()?;
        }
        let per_sec = n as f64 / start.elapsed().as_secs_f64();
        writeln!(
            out,
            "  journal, durable, {batch:>2} record(s) per commit: {per_sec:>10.0} appends/s"
        )?;
    }
    Ok(())
}

/// Sends one market order per bar.
struct EveryBar {
    ctx: GuestContext,
    info: GuestInfo,
    n: u64,
}

impl StrategyGuest for EveryBar {
    fn info(&self) -> &GuestInfo {
        &self.info
    }
    fn context(&mut self) -> &mut GuestContext {
        &mut self.ctx
    }
    fn on_bar(&mut self, _bar: &Bar) -> Intents {
        self.n += 1;
        Ok(vec![RawIntent::Submit {
            client_id: format!("o{}", self.n),
            instrument: 0,
            side: if self.n.is_multiple_of(2) {
                Side::Sell
            } else {
                Side::Buy
            },
            quantity: 1.0,
            order_type: RawOrderType::Market,
            tif: TimeInForce::Gtc,
        }])
    }
    fn on_tick(&mut self, _tick: &Tick) -> Intents {
        Ok(vec![])
    }
    fn on_fill(&mut self, _fill: &Fill) -> Intents {
        Ok(vec![])
    }
    fn on_timer(&mut self, _name: &str, _ts: Timestamp) -> Intents {
        Ok(vec![])
    }
    fn on_reject(&mut self, _notice: &RejectNotice) -> Intents {
        Ok(vec![])
    }
    fn snapshot(&mut self) -> Result<Vec<u8>, GuestFault> {
        Ok(vec![])
    }
    fn restore(&mut self, _state: &[u8]) -> Result<(), GuestFault> {
        Ok(())
    }
}

fn per_bar(journal: Option<Arc<Store>>, bars: i64) -> anyhow::Result<Histogram<u64>> {
    let mut instruments = Instruments::new();
    instruments.intern("AAA");
    let instruments = Arc::new(instruments);
    let mut engine = Engine::new(
        instruments.clone(),
        RiskEngine::new(RiskConfig::permissive()),
        Oms::new(Money::from_int(1_000_000_000)),
        PaperBroker::new(PaperConfig::default()),
        EngineConfig {
            fault_policy: FaultPolicy::Quarantine,
            flatten_on_fault: false,
            ..EngineConfig::default()
        },
    );
    if let Some(store) = journal {
        engine.set_journal(Box::new(StoreJournal::new(store)));
    }
    let guest = EveryBar {
        ctx: GuestContext::new(instruments, 1),
        info: GuestInfo::default(),
        n: 0,
    };
    engine
        .add_strategy(wasmtrade_model::StrategyId::new("s"), Box::new(guest))
        .map_err(|e| anyhow!("{e}"))?;
    let mut hist = Histogram::<u64>::new(3)?;
    for i in 1..=bars {
        let bar = Bar {
            instrument: InstrumentId(0),
            ts: Timestamp::from_secs(i * 60),
            open: Price::from_int(100),
            high: Price::from_int(101),
            low: Price::from_int(99),
            close: Price::from_int(100),
            volume: Quantity::from_int(1_000),
        };
        let start = Instant::now();
        engine.on_bar(&bar).map_err(|e| anyhow!("{e}"))?;
        hist.record(u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX))?;
    }
    let sent = engine.stats().orders_sent;
    anyhow::ensure!(sent as i64 == bars, "expected {bars} orders sent, got {sent}");
    Ok(hist)
}

fn order_latency(out: &mut String) -> anyhow::Result<()> {
    const BARS: i64 = 3_000;
    let without = per_bar(None, BARS)?;
    let dir = tempfile::tempdir()?;
    let store = Arc::new(Store::open(dir.path(), &StoreOptions::default())?);
    let with = per_bar(Some(store), BARS)?;
    let us = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1_000.0;
    writeln!(
        out,
        "  one order per bar, no journal:      p50 {:>8.1} µs  p99 {:>8.1} µs",
        us(&without, 0.5),
        us(&without, 0.99)
    )?;
    writeln!(
        out,
        "  one order per bar, durable journal: p50 {:>8.1} µs  p99 {:>8.1} µs",
        us(&with, 0.5),
        us(&with, 0.99)
    )?;
    writeln!(
        out,
        "  added by journaling, per order:     p50 {:>8.1} µs  p99 {:>8.1} µs",
        us(&with, 0.5) - us(&without, 0.5),
        us(&with, 0.99) - us(&without, 0.99)
    )?;
    Ok(())
}

async fn restart_to_ready(out: &mut String) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = LiveConfig {
        data_dir: dir.path().join("data"),
        market: MarketConfig {
            speed: 1.0,
            ..MarketConfig::default()
        },
        ..LiveConfig::default()
    };
    let bytes = guest_bytes("sma_cross").context("no sma_cross.wasm: run `make guests` first")?;
    let runtime = Runtime::start(config.clone()).await.map_err(|e| anyhow!("{e}"))?;
    let handle = runtime.handle();
    for i in 0..GUESTS {
        let name = format!("s{i:03}");
        let meta = UploadMeta {
            name: name.clone(),
            kind: GuestKind::Strategy,
            label: "bench".into(),
            sha256: hex::encode(Sha256::digest(&bytes)),
            size: bytes.len() as u64,
            config: r#"{"fast": 5, "slow": 20}"#.into(),
        };
        let up = handle
            .upload(meta, bytes.clone(), "bench")
            .await
            .map_err(|e| anyhow!("{e}"))?;
        handle
            .activate(&name, up.version, None, "bench")
            .await
            .map_err(|e| anyhow!("{e}"))?;
    }
    drop(handle); // the store closes with the last handle
    let report = runtime.shutdown().await.map_err(|e| anyhow!("{e}"))?;
    anyhow::ensure!(
        report.snapshots == GUESTS,
        "expected {GUESTS} snapshots, got {report:?}"
    );
    let mut times = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let runtime = Runtime::start(config.clone()).await.map_err(|e| anyhow!("{e}"))?;
        times.push(start.elapsed());
        let running = runtime.handle().list(None).await.map_err(|e| anyhow!("{e}"))?;
        anyhow::ensure!(
            running.iter().filter(|m| m.running.is_some()).count() == GUESTS,
            "not every guest runs after the restart"
        );
        runtime.shutdown().await.map_err(|e| anyhow!("{e}"))?;
    }
    times.sort();
    let median = times[times.len() / 2];
    writeln!(
        out,
        "  restart to ready, {GUESTS} active guests (artifacts + snapshots): median {:.0} ms (min {:.0}, max {:.0}); target < {} ms: {}",
        median.as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3,
        READY_TARGET.as_millis(),
        if median < READY_TARGET { "met" } else { "NOT met" }
    )?;
    Ok(())
}
