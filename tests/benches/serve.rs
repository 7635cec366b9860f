//! The `wasmtrade serve` API path, measured in one process: the live runtime
//! and the gRPC server on a loopback port, a tonic client over loopback, the
//! paper market playing 4 symbols as fast as the event loop takes them
//! (`market.speed = 0`) for the whole run.
//!
//! ```text
//! make guests    # once: builds target/wasm32-wasip2/guest/sma_cross.wasm
//! cargo bench --workspace --bench serve
//! ```
//!
//! Set `WASMTRADE_GUEST_DIR` to take the guests from elsewhere. It runs in
//! well under a minute (after the release build) and prints one table:
//!
//! 1. **Hot swap of a precompiled module.** `sma-cross` v1 runs with
//!    `{"fast":5,"slow":20}`; more versions of the same code (each with its
//!    own custom section, so its own sha256) are uploaded and precompiled
//!    before the clock starts, then 200 `Activate` calls cycle over them while
//!    the market plays at full speed.
//!    - *pause*: `ActivateResponse.pause_ns`, how long the event loop was held
//!      for the hand-off (snapshot → restore → replace). Target: p99 < 1 ms.
//!    - *Activate round trip*: the RPC as the client sees it, which adds
//!      instantiating and initialising the new version off the loop, waiting
//!      behind the bars already queued for the loop, and the store update.
//! 2. **Upload-to-active of a ~1 MiB component.** `sma_cross.wasm` padded
//!    with a custom section to 1 MiB, 10 times (a different padding each time,
//!    so each is a new version): from opening the `Upload` stream (64 KiB
//!    chunks) to the `Activate` response; also the upload alone (which
//!    includes the server's validation and precompilation, `compile_ns`) and
//!    the activation alone.
//! 3. **Unary API throughput.** `GetAccount` calls per second from one client
//!    (one HTTP/2 connection) keeping 8 requests in flight for 2 s, with
//!    p50/p99/max latency. Each call is answered by the event loop, which
//!    takes control commands before the next bar (they do not queue behind
//!    the bars already in `events.queue`); the baseline, measured first and alone in the same run, is a runtime
//!    whose market plays at real time (4 bars/s): the API path alone.
//! 4. **Event stream throughput.** `StreamEvents { include_bars: true }` to
//!    one client for 3 s: events received per second, against the bars per
//!    second the market played in the same window (`Handle::market_bars`).
//!    Target: ≥ 100k events/s. A client that falls more than `events.buffer`
//!    events behind is cut with `DATA_LOSS`: at speed 0 the market can play
//!    bars faster than one client reads them, so this happens. The bench then
//!    says so, and the rate counts what arrived before the cut.
//!
//! After phases 1, 2 and 4 it checks (`List`) that `sma-cross` still runs:
//! a quarantined guest would leave the loop pumping bars without guest code
//! and the later figures measuring less work, so it prints a warning.

#![allow(clippy::print_stdout, reason = "a bench binary prints its figures")]
#![allow(
    clippy::disallowed_methods,
    reason = "a benchmark measures wall-clock time with Instant::now"
)]

use std::future::Future;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use sha2::{Digest, Sha256};
use tokio::task::JoinSet;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};
use wasmtrade_e2e::{guest_bytes, with_custom_section};
use wasmtrade_live::{Handle, LiveConfig, MarketConfig, Runtime};
use wasmtrade_proto::v1 as pb;
use wasmtrade_proto::v1::strategy_service_client::StrategyServiceClient;
use wasmtrade_proto::v1::trading_service_client::TradingServiceClient;
use wasmtrade_proto::{AUTH_HEADER, bearer};
use wasmtrade_server::Server;

const COMMAND: &str = "cargo bench --workspace --bench serve";
const TOKEN: &str = "bench-token";
const NAME: &str = "sma-cross";
const CONFIG: &str = r#"{"fast":5,"slow":20}"#;
const SYMBOLS: [&str; 4] = ["AAA", "BBB", "CCC", "DDD"];
/// Versions besides v1 that the swaps cycle over.
const SWAP_VARIANTS: usize = 4;
const SWAPS: usize = 200;
const PAUSE_TARGET_NS: u64 = 1_000_000;
const BIG_BYTES: usize = 1024 * 1024;
const BIG_REPS: usize = 10;
const CHUNK_BYTES: usize = 64 * 1024;
const UNARY_IN_FLIGHT: usize = 8;
const UNARY_WINDOW: Duration = Duration::from_secs(2);
const STREAM_WINDOW: Duration = Duration::from_secs(3);
const STREAM_TARGET: f64 = 100_000.0;
/// Upper bound on any single call (a stuck server fails the bench, never hangs it).
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: serve bench failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let wasm = guest_bytes("sma_cross").context("the serve bench runs the real sma-cross guest")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = rt.block_on(bench(wasm))?;
    print!("{report}");
    Ok(())
}

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone)]
struct Auth(MetadataValue<Ascii>);

impl Interceptor for Auth {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request.metadata_mut().insert(AUTH_HEADER, self.0.clone());
        Ok(request)
    }
}

type Strategies = StrategyServiceClient<InterceptedService<Channel, Auth>>;
type Trading = TradingServiceClient<InterceptedService<Channel, Auth>>;

/// Awaits `f` for at most [`CALL_TIMEOUT`], naming `what` if it takes longer.
async fn within<T>(what: &str, f: impl Future<Output = Result<T, Status>>) -> anyhow::Result<T> {
    match tokio::time::timeout(CALL_TIMEOUT, f).await {
        Ok(r) => r.with_context(|| format!("{what} failed")),
        Err(_) => bail!("{what} took longer than {CALL_TIMEOUT:?}"),
    }
}

/// A live runtime with its gRPC server on a loopback port and a client.
struct Served {
    runtime: Runtime,
    handle: Handle,
    api: tokio::task::JoinHandle<Result<(), wasmtrade_server::ServerError>>,
    stop: tokio::sync::oneshot::Sender<()>,
    addr: std::net::SocketAddr,
    strategies: Strategies,
    trading: Trading,
    _dir: tempfile::TempDir,
}

impl Served {
    /// Starts a runtime whose paper market plays [`SYMBOLS`] at `speed`.
    async fn start(speed: f64) -> anyhow::Result<Served> {
        let dir = tempfile::tempdir().context("cannot create a temporary data dir")?;
        let config = LiveConfig {
            data_dir: dir.path().join("data"),
            market: MarketConfig {
                symbols: SYMBOLS.iter().map(|s| s.to_string()).collect(),
                speed,
                ..MarketConfig::default()
            },
            ..LiveConfig::default()
        };
        let runtime = Runtime::start(config)
            .await
            .map_err(|e| anyhow::anyhow!("cannot start the live runtime: {e}"))?;
        let handle = runtime.handle();
        let server = Server::new(handle.clone(), TOKEN);
        Server::set_serving(&server.health(), true).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot listen on 127.0.0.1:0")?;
        let addr = listener
            .local_addr()
            .context("cannot read the listening address")?;
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let api = tokio::spawn(server.serve(listener, async {
            let _ = stop_rx.await;
        }));
        let channel = Endpoint::from_shared(format!("http://{addr}"))
            .context("bad endpoint")?
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .connect()
            .await
            .with_context(|| format!("cannot connect to the server on {addr}"))?;
        let auth = Auth(bearer(TOKEN).parse().context("token is not valid metadata")?);
        Ok(Served {
            runtime,
            handle,
            api,
            stop,
            addr,
            strategies: StrategyServiceClient::with_interceptor(channel.clone(), auth.clone()),
            trading: TradingServiceClient::with_interceptor(channel, auth),
            _dir: dir,
        })
    }

    /// Drops the client, stops the server and shuts the runtime down.
    async fn stop(self) -> anyhow::Result<()> {
        let Served {
            runtime, api, stop, ..
        } = self;
        let _ = stop.send(());
        match tokio::time::timeout(Duration::from_secs(10), runtime.shutdown()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => eprintln!("serve bench: runtime shutdown failed: {e}"),
            Err(_) => eprintln!("serve bench: runtime shutdown took longer than 10 s"),
        }
        match tokio::time::timeout(Duration::from_secs(5), api).await {
            Ok(Ok(Err(e))) => bail!("the gRPC server failed: {e}"),
            Ok(Err(e)) => bail!("the gRPC server task panicked: {e}"),
            Ok(Ok(Ok(()))) | Err(_) => Ok(()),
        }
    }
}

async fn bench(wasm: Vec<u8>) -> anyhow::Result<String> {
    // Baseline first, alone: GetAccount with the market at real time (4
    // bars/s), so the loop queue is empty and only the API path remains.
    eprintln!("serve bench: 0/4 unary baseline ...");
    let idle = Served::start(1.0).await?;
    let base = unary_throughput(&idle.trading, &idle.handle).await?;
    idle.stop().await?;

    let mut fast = Served::start(0.0).await?;
    let mut out = String::new();
    out += &format!("wasmtrade serve bench: `{COMMAND}`\n");
    let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    out += &format!(
        "in-process runtime + gRPC server on {}, tonic client over loopback, {cpus} CPUs; paper market: {} symbols at speed 0 (as fast as the event loop takes bars); events.queue = {}, events.buffer = {}\n\n",
        fast.addr,
        SYMBOLS.len(),
        fast.handle.config().events.queue,
        fast.handle.config().events.buffer,
    );

    eprintln!("serve bench: 1/4 hot swap ...");
    out += &swap_pause(&mut fast.strategies, &fast.handle, &wasm).await?;
    out += &guest_check(&mut fast.strategies, "the swaps").await?;
    out.push('\n');
    eprintln!("serve bench: 2/4 upload-to-active ...");
    out += &upload_to_active(&mut fast.strategies, &wasm).await?;
    out += &guest_check(&mut fast.strategies, "the uploads").await?;
    out.push('\n');
    eprintln!("serve bench: 3/4 unary throughput ...");
    let busy = unary_throughput(&fast.trading, &fast.handle).await?;
    out += &unary_report(&busy, &base, fast.handle.config().events.queue);
    eprintln!("serve bench: 4/4 event stream ...");
    out += &stream_throughput(&fast.trading, &fast.handle).await?;
    out += &guest_check(&mut fast.strategies, "the stream").await?;
    fast.stop().await?;
    Ok(out)
}

/// One line on the guest after a phase: a quarantined guest no longer runs
/// on the bars, so the figures after it would measure less work.
async fn guest_check(client: &mut Strategies, after: &str) -> anyhow::Result<String> {
    let request = pb::ListRequest {
        name: NAME.to_string(),
    };
    let r = within("List", client.list(request)).await?.into_inner();
    let m = r
        .modules
        .first()
        .with_context(|| format!("List does not show {NAME}"))?;
    let bars = m.counters.as_ref().map_or(0, |c| c.bars);
    let fills = m.counters.as_ref().map_or(0, |c| c.fills);
    Ok(match pb::RunState::try_from(m.state) {
        Ok(pb::RunState::Running) => format!(
            "   after {after}: {NAME} v{} running ({bars} bars and {fills} fills seen)\n",
            m.active_version
        ),
        state => format!(
            "   WARNING after {after}: {NAME} v{} is {state:?} ({}): the figures after this point run without guest code\n",
            m.active_version,
            if m.fault.is_empty() {
                "no fault recorded"
            } else {
                &m.fault
            }
        ),
    })
}

/// The messages of one upload: the header, then the bytes in chunks.
fn upload_messages(bytes: &[u8], label: &str, config: &str) -> Vec<pb::UploadChunk> {
    use pb::upload_chunk::Chunk;
    let header = pb::UploadHeader {
        name: NAME.to_string(),
        kind: pb::GuestKind::Strategy as i32,
        label: label.to_string(),
        sha256: hex::encode(Sha256::digest(bytes)),
        size: bytes.len() as u64,
        config_json: config.to_string(),
    };
    std::iter::once(Chunk::Header(header))
        .chain(bytes.chunks(CHUNK_BYTES).map(|c| Chunk::Data(c.to_vec())))
        .map(|chunk| pb::UploadChunk { chunk: Some(chunk) })
        .collect()
}

async fn upload(
    client: &mut Strategies,
    messages: Vec<pb::UploadChunk>,
) -> anyhow::Result<pb::UploadResponse> {
    let r = within("Upload", client.upload(tokio_stream::iter(messages))).await?;
    let r = r.into_inner();
    if !r.created {
        bail!(
            "upload of {NAME} gave existing version {} instead of a new one",
            r.version
        );
    }
    Ok(r)
}

async fn activate(client: &mut Strategies, version: u32) -> anyhow::Result<pb::ActivateResponse> {
    let request = pb::ActivateRequest {
        name: NAME.to_string(),
        version,
        config_json: None,
    };
    let r = within(&format!("Activate {NAME} v{version}"), client.activate(request)).await?;
    Ok(r.into_inner())
}

fn histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).context("cannot create a histogram")
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// `ns` as a human duration: `812 ns`, `12.3 µs`, `4.56 ms`, `1.23 s`.
fn human(ns: u64) -> String {
    let v = ns as f64;
    if ns < 1_000 {
        format!("{ns} ns")
    } else if ns < 1_000_000 {
        format!("{:.1} µs", v / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.2} ms", v / 1e6)
    } else {
        format!("{:.2} s", v / 1e9)
    }
}

/// `x` per second with a thousands separator: `123,456/s`.
fn rate(x: f64) -> String {
    let n = x.round() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    format!("{out}/s")
}

fn median(v: &[u64]) -> u64 {
    let mut v = v.to_vec();
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "MISS" }
}

/// 1. `pause_ns` and the Activate round trip over [`SWAPS`] activations.
async fn swap_pause(client: &mut Strategies, handle: &Handle, wasm: &[u8]) -> anyhow::Result<String> {
    let mut versions = Vec::new();
    let v1 = upload(client, upload_messages(wasm, "v1", CONFIG)).await?;
    activate(client, v1.version).await?;
    versions.push(v1.version);
    for i in 0..SWAP_VARIANTS {
        let bytes = with_custom_section(wasm, "wasmtrade-bench", format!("swap-{i}").as_bytes());
        let r = upload(client, upload_messages(&bytes, &format!("swap-{i}"), "")).await?;
        versions.push(r.version);
    }
    let mut pause = histogram()?;
    let mut rtt = histogram()?;
    let mut state_bytes = 0;
    let bars0 = handle.market_bars();
    let start = Instant::now();
    for i in 0..SWAPS {
        // v1 is active: start with the next one and cycle.
        let version = versions[(i + 1) % versions.len()];
        let t = Instant::now();
        let r = activate(client, version).await?;
        rtt.saturating_record(nanos(t.elapsed()));
        pause.saturating_record(r.pause_ns.max(1));
        state_bytes = r.state_bytes;
        if r.version != version {
            bail!("Activate v{version} answered with v{}", r.version);
        }
    }
    let window = start.elapsed();
    let bars = handle.market_bars().saturating_sub(bars0);
    let p99 = pause.value_at_quantile(0.99);
    let mut s = format!(
        "1. hot swap of a precompiled module: {SWAPS} activations of {NAME} cycling over {} versions ({} bytes of state handed over), market at full speed ({} bars in {}, {})\n",
        versions.len(),
        state_bytes,
        bars,
        human(nanos(window)),
        rate(bars as f64 / window.as_secs_f64()),
    );
    s += &format!("   {:<34} {:>10} {:>10} {:>10}\n", "figure", "p50", "p99", "max");
    s += &format!(
        "   {:<34} {:>10} {:>10} {:>10}   target p99 < {}: {}\n",
        "pause (ActivateResponse.pause_ns)",
        human(pause.value_at_quantile(0.5)),
        human(p99),
        human(pause.max()),
        human(PAUSE_TARGET_NS),
        verdict(p99 < PAUSE_TARGET_NS),
    );
    s += &format!(
        "   {:<34} {:>10} {:>10} {:>10}\n",
        "Activate round trip (client)",
        human(rtt.value_at_quantile(0.5)),
        human(rtt.value_at_quantile(0.99)),
        human(rtt.max()),
    );
    s += "   (the round trip adds instantiate + init off the loop, at most one bar in flight on the loop, and the store update)\n";
    Ok(s)
}

/// `wasm` with a custom section padding it to about [`BIG_BYTES`]; `tag`
/// makes each padding (so each sha256) different.
fn padded(wasm: &[u8], tag: usize) -> Vec<u8> {
    let name = "wasmtrade-bench-pad";
    // Section id, a 3-byte size, the name's length and the name.
    let overhead = 1 + 3 + 1 + name.len();
    let len = BIG_BYTES.saturating_sub(wasm.len() + overhead);
    let mut payload = format!("pad-{tag}-").into_bytes();
    payload.resize(len.max(payload.len()), 0x5a);
    with_custom_section(wasm, name, &payload)
}

/// 2. Upload + Activate of a ~1 MiB component, [`BIG_REPS`] times.
async fn upload_to_active(client: &mut Strategies, wasm: &[u8]) -> anyhow::Result<String> {
    let (mut total, mut up, mut act, mut compile, mut pause) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut size = 0;
    for rep in 0..BIG_REPS {
        let bytes = padded(wasm, rep);
        size = bytes.len();
        // Hashing and chunking are the client's work before it sends.
        let messages = upload_messages(&bytes, &format!("big-{rep}"), "");
        let t0 = Instant::now();
        let r = upload(client, messages).await?;
        let t1 = Instant::now();
        let a = activate(client, r.version).await?;
        let t2 = Instant::now();
        total.push(nanos(t2 - t0));
        up.push(nanos(t1 - t0));
        act.push(nanos(t2 - t1));
        compile.push(r.compile_ns);
        pause.push(a.pause_ns);
    }
    let row = |name: &str, v: &[u64]| {
        format!(
            "   {:<34} {:>10} {:>10}\n",
            name,
            human(median(v)),
            human(v.iter().copied().max().unwrap_or(0))
        )
    };
    let mut s = format!(
        "2. upload-to-active of a {:.2} MiB component ({size} bytes, {} KiB chunks), {BIG_REPS} new versions\n",
        size as f64 / (1024.0 * 1024.0),
        CHUNK_BYTES / 1024
    );
    s += &format!("   {:<34} {:>10} {:>10}\n", "figure", "median", "max");
    s += &row("Upload stream → Activate response", &total);
    s += &row("Upload alone", &up);
    s += &row("  of which validate + precompile", &compile);
    s += &row("Activate alone", &act);
    s += &row("  of which pause", &pause);
    Ok(s)
}

/// What [`unary_throughput`] measured.
struct Unary {
    latency: Histogram<u64>,
    window: Duration,
    /// Bars the market played per second in the window.
    bars_per_sec: f64,
}

/// 3. `GetAccount` calls per second with [`UNARY_IN_FLIGHT`] in flight.
async fn unary_throughput(trading: &Trading, handle: &Handle) -> anyhow::Result<Unary> {
    let bars0 = handle.market_bars();
    let start = Instant::now();
    let deadline = start + UNARY_WINDOW;
    let mut tasks = JoinSet::new();
    for _ in 0..UNARY_IN_FLIGHT {
        let mut client = trading.clone();
        tasks.spawn(async move {
            let mut latency = histogram()?;
            while Instant::now() < deadline {
                let t = Instant::now();
                within("GetAccount", client.get_account(pb::GetAccountRequest {})).await?;
                latency.saturating_record(nanos(t.elapsed()));
            }
            Ok::<_, anyhow::Error>(latency)
        });
    }
    let mut latency = histogram()?;
    while let Some(done) = tasks.join_next().await {
        let h = done.context("a GetAccount task panicked")??;
        latency.add(&h).context("cannot merge histograms")?;
    }
    let window = start.elapsed();
    let bars = handle.market_bars().saturating_sub(bars0);
    Ok(Unary {
        latency,
        window,
        bars_per_sec: bars as f64 / window.as_secs_f64(),
    })
}

fn unary_report(busy: &Unary, idle: &Unary, queue: usize) -> String {
    let row = |name: &str, u: &Unary| {
        let calls = u.latency.len();
        format!(
            "   {:<34} {:>10} {:>10} {:>10} {:>10}   ({calls} calls in {}, market {})\n",
            name,
            rate(calls as f64 / u.window.as_secs_f64()),
            human(u.latency.value_at_quantile(0.5)),
            human(u.latency.value_at_quantile(0.99)),
            human(u.latency.max()),
            human(nanos(u.window)),
            rate(u.bars_per_sec),
        )
    };
    let mut s = format!(
        "3. unary API: GetAccount from one client (one connection), {UNARY_IN_FLIGHT} in flight for {}\n",
        human(nanos(UNARY_WINDOW))
    );
    s += &format!(
        "   {:<34} {:>10} {:>10} {:>10} {:>10}\n",
        "figure", "calls", "p50", "p99", "max"
    );
    s += &row("market at speed 0 (loop saturated)", busy);
    s += &row("baseline: market at speed 1, alone", idle);
    let busy_rate = busy.latency.len() as f64 / busy.window.as_secs_f64();
    let idle_rate = idle.latency.len() as f64 / idle.window.as_secs_f64();
    s += &format!(
        "   saturated / baseline throughput: {:.3}x; each call is answered by the event loop between two bars (commands do not queue behind the {queue} bars of events.queue)\n\n",
        busy_rate / idle_rate.max(f64::MIN_POSITIVE),
    );
    s
}

/// 4. `StreamEvents { include_bars }` events per second to one client.
async fn stream_throughput(trading: &Trading, handle: &Handle) -> anyhow::Result<String> {
    let mut client = trading.clone();
    let request = pb::StreamEventsRequest { include_bars: true };
    let mut stream = within("StreamEvents", client.stream_events(request))
        .await?
        .into_inner();
    let bars0 = handle.market_bars();
    let start = Instant::now();
    let deadline = tokio::time::Instant::now() + STREAM_WINDOW;
    let (mut events, mut bar_events) = (0u64, 0u64);
    let mut cut: Option<Status> = None;
    let mut ended = false;
    loop {
        match tokio::time::timeout_at(deadline, stream.message()).await {
            Err(_) => break,
            Ok(Ok(Some(e))) => {
                events += 1;
                if matches!(e.kind, Some(pb::event::Kind::Bar(_))) {
                    bar_events += 1;
                }
            }
            Ok(Ok(None)) => {
                ended = true;
                break;
            }
            Ok(Err(status)) if status.code() == Code::DataLoss => {
                cut = Some(status);
                break;
            }
            Ok(Err(status)) => return Err(status).context("StreamEvents failed"),
        }
    }
    let window = start.elapsed();
    let bars = handle.market_bars().saturating_sub(bars0);
    drop(stream);
    let per_sec = events as f64 / window.as_secs_f64();
    let mut s = format!(
        "4. event stream: StreamEvents(include_bars) to one client for {}\n",
        human(nanos(STREAM_WINDOW))
    );
    s += &format!(
        "   {:<34} {:>10}   ({events} events, {bar_events} of them bars, in {})   target ≥ {}: {}\n",
        "events received",
        rate(per_sec),
        human(nanos(window)),
        rate(STREAM_TARGET),
        verdict(per_sec >= STREAM_TARGET),
    );
    s += &format!(
        "   {:<34} {:>10}   ({bars} bars in the same window)\n",
        "market bars played",
        rate(bars as f64 / window.as_secs_f64()),
    );
    if let Some(status) = cut {
        s += &format!(
            "   DATA_LOSS: the market outran this client by more than events.buffer ({}) events and the server cut the stream after {}; the rate above counts the {events} events that arrived before the cut. Server: {}\n",
            handle.config().events.buffer,
            human(nanos(window)),
            status.message()
        );
    }
    if ended {
        s += "   the server ended the stream before the window closed\n";
    }
    Ok(s)
}
