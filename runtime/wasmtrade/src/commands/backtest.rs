//! `wasmtrade backtest`: load data and guests, run, report.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use wasmtrade_broker::paper::{FillTiming as PaperFillTiming, PaperConfig};
use wasmtrade_engine::{Backtest, BacktestConfig, BacktestResult};
use wasmtrade_host::{GuestEngine, HostConfig, IndicatorModule, PolicyModule, StrategyModule};
use wasmtrade_market::{CsvOptions, load_bars as load_bars_file};
use wasmtrade_model::{
    Bar, GuestContext, Instruments, Money, PolicyAction, PolicyObserver, PolicyStats, Quantity, Rate,
    StrategyGuest, StrategyId,
};
use wasmtrade_policy::PolicyStrategy;
use wasmtrade_risk::{Limits, RiskConfig};

use super::backtest_html;
use crate::cli::{BacktestArgs, FillTiming};
use crate::commands::data::default_config;
use crate::compile_cache::{CacheUse, Cacheable, CompileCache};
use crate::guest_config;
use crate::table::two_columns;

/// Where a backtest's wall time went, for the report: reading (or
/// generating) the bars, compiling and starting the guests, the run itself,
/// and writing the trades and building the report.
#[derive(Clone, Copy, Debug)]
struct Timings {
    load: Duration,
    compile: Duration,
    run: Duration,
    report: Duration,
    bars: u64,
    /// Whether the guests' compiled code came from the cache.
    cache: CacheUse,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            load: Duration::ZERO,
            compile: Duration::ZERO,
            run: Duration::ZERO,
            report: Duration::ZERO,
            bars: 0,
            cache: CacheUse::Off,
        }
    }
}

impl Timings {
    fn total(&self) -> Duration {
        self.load + self.compile + self.run + self.report
    }

    fn rate(&self, d: Duration) -> f64 {
        let secs = d.as_secs_f64();
        if secs > 0.0 { self.bars as f64 / secs } else { 0.0 }
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "load_secs": self.load.as_secs_f64(),
            "compile_secs": self.compile.as_secs_f64(),
            "compile_cache": self.cache.as_str(),
            "run_secs": self.run.as_secs_f64(),
            "report_secs": self.report.as_secs_f64(),
            "total_secs": self.total().as_secs_f64(),
            "bars": self.bars,
            "run_bars_per_sec": self.rate(self.run),
            "total_bars_per_sec": self.rate(self.total()),
        })
    }

    fn rows(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                TIME_ROW,
                format!(
                    "load {:.3}, compile {:.3} (cache {}), run {:.3}, report {:.3} (total {:.3})",
                    self.load.as_secs_f64(),
                    self.compile.as_secs_f64(),
                    self.cache.as_str(),
                    self.run.as_secs_f64(),
                    self.report.as_secs_f64(),
                    self.total().as_secs_f64()
                ),
            ),
            (
                SPEED_ROW,
                format!(
                    "{:.0} in the run, {:.0} overall",
                    self.rate(self.run),
                    self.rate(self.total())
                ),
            ),
        ]
    }
}

/// The report's timing rows (they differ from run to run; everything above
/// them is deterministic).
pub const TIME_ROW: &str = "Time [s]";
/// See [`TIME_ROW`].
pub const SPEED_ROW: &str = "Speed [bars/s]";

/// A stopwatch for [`Timings`] (the CLI measures its own wall time).
#[allow(clippy::disallowed_methods, reason = "the report times the backtest's phases")]
pub(crate) fn now() -> Instant {
    Instant::now()
}

/// Runs a backtest from the command line.
pub fn run(args: BacktestArgs) -> anyhow::Result<()> {
    let mut timings = Timings::default();
    let started = now();
    let config = backtest_config(&args)?;
    let (bars, instruments, data_source) = load_bars(&args)?;
    let instruments = Arc::new(instruments);
    timings.load = started.elapsed();
    timings.bars = bars.len() as u64;
    let started = now();
    let host = GuestEngine::new(host_config(&args)?).context("cannot start the wasm engine")?;

    let strategy_json = guest_config::build(&args.config, args.config_file.as_deref())?;
    let ctx = GuestContext::new(instruments.clone(), args.seed);
    let cache = CompileCache::from_env(args.no_cache);
    let cache = cache.as_ref();
    let (guest, sha256, policy_stats) = match &args.model {
        None => {
            let module: StrategyModule = load_guest_bytes(&args.strategy)
                .and_then(|bytes| compile(&host, cache, &bytes, &mut timings.cache))
                .with_context(|| format!("cannot load strategy {}", args.strategy.display()))?;
            let guest = module
                .instantiate(ctx, &strategy_json)
                .with_context(|| format!("strategy {} failed to start", args.strategy.display()))?;
            (
                Box::new(guest) as Box<dyn StrategyGuest>,
                module.sha256().to_string(),
                None,
            )
        }
        Some(model) => {
            let (guest, sha256, stats) = load_policy(
                &host,
                (cache, &mut timings.cache),
                &args.strategy,
                model,
                ctx,
                &strategy_json,
            )?;
            (guest, sha256, Some(stats))
        }
    };
    let id = StrategyId::new(args.id.clone().unwrap_or_else(|| guest.info().name.clone()));

    let mut backtest = Backtest::new(instruments.clone(), config)?;
    for (n, spec) in args.indicators.iter().enumerate() {
        let (name, guest) = load_indicator(
            &host,
            (cache, &mut timings.cache),
            spec,
            instruments.clone(),
            args.seed.wrapping_add(n as u64 + 1),
        )?;
        backtest.add_indicator(name, guest)?;
    }
    backtest.add_strategy(id, guest)?;
    timings.compile = started.elapsed();

    let started = now();
    let bar_progress = progress_bar(&args, bars.len() as u64);
    let result = backtest.run(bars.iter(), &mut |done| {
        if let Some(pb) = &bar_progress {
            pb.set_position(done);
        }
    })?;
    if let Some(pb) = bar_progress {
        pb.finish_and_clear();
    }
    timings.run = started.elapsed();

    let started = now();
    if let Some(path) = &args.trades_csv {
        write_trades(&result, path)?;
    }
    if let Some(path) = &args.equity_csv {
        write_equity(&result, path)?;
    }
    let module = module_summary(&args.strategy, &sha256);
    if let Some(path) = &args.html {
        let run = backtest_html::Run {
            result: &result,
            bars: &bars,
            strategy: &module,
            data: &data_source,
        };
        backtest_html::write(path, &run)?;
    }
    let policy = policy_stats.map(|s| *s.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    let report = Report {
        result: &result,
        module,
        data: data_source,
        policy,
    };
    timings.report = started.elapsed();
    print_report(&report, &args, &timings)
}

/// What the report prints besides the timings.
struct Report<'a> {
    result: &'a BacktestResult,
    module: String,
    data: String,
    policy: Option<PolicyStats>,
}

/// The latest [`PolicyStats`] of a policy run, for the report.
#[derive(Default)]
struct LatestStats(Arc<Mutex<PolicyStats>>);

impl PolicyObserver for LatestStats {
    fn on_step(&self, stats: &PolicyStats, _action: &PolicyAction) {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = *stats;
    }
}

type PolicyGuestAndStats = (Box<dyn StrategyGuest>, String, Arc<Mutex<PolicyStats>>);

/// Loads a policy guest and its model and wraps them as a strategy.
fn load_policy(
    host: &GuestEngine,
    (cache, used): (Option<&CompileCache>, &mut CacheUse),
    path: &Path,
    model: &Path,
    ctx: GuestContext,
    config_json: &str,
) -> anyhow::Result<PolicyGuestAndStats> {
    let module: PolicyModule = load_guest_bytes(path)
        .and_then(|bytes| compile(host, cache, &bytes, used))
        .with_context(|| format!("cannot load policy {}", path.display()))?;
    let guest = module
        .instantiate(ctx, config_json)
        .with_context(|| format!("policy {} failed to start", path.display()))?;
    let bytes = std::fs::read(model).with_context(|| format!("cannot read model {}", model.display()))?;
    let mut strategy = PolicyStrategy::new(guest, &bytes).with_context(|| {
        format!(
            "cannot load model {} into policy {}",
            model.display(),
            path.display()
        )
    })?;
    let latest = LatestStats::default();
    let stats = latest.0.clone();
    strategy.set_observer(Arc::new(latest));
    Ok((Box::new(strategy), module.sha256().to_string(), stats))
}

/// Compiles a guest, or loads it from the compiled-guest cache; records
/// how in `used`.
pub(crate) fn compile<M: Cacheable>(
    host: &GuestEngine,
    cache: Option<&CompileCache>,
    bytes: &[u8],
    used: &mut CacheUse,
) -> anyhow::Result<M> {
    let (module, how) = match cache {
        Some(cache) => cache.load::<M>(host, bytes)?,
        None => (M::compile(host, bytes)?, CacheUse::Off),
    };
    *used = used.and(how);
    Ok(module)
}

fn module_summary(path: &Path, sha256: &str) -> String {
    format!("{} (sha256 {})", path.display(), &sha256[..sha256.len().min(16)])
}

pub(crate) fn load_guest_bytes(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn money(flag: &str, text: &str) -> anyhow::Result<Money> {
    text.parse::<Money>()
        .with_context(|| format!("--{flag} `{text}` is not a decimal amount (e.g. 10000 or 2500.50)"))
}

pub(crate) fn backtest_config(args: &BacktestArgs) -> anyhow::Result<BacktestConfig> {
    let starting_cash = money("cash", &args.cash)?;
    if !starting_cash.is_positive() {
        bail!("--cash must be positive, got {}", args.cash);
    }
    let rate: Rate = args.commission.parse().with_context(|| {
        format!(
            "--commission `{}` is not a decimal fraction (e.g. 0.002)",
            args.commission
        )
    })?;
    if rate.is_negative() {
        bail!("--commission must not be negative, got {}", args.commission);
    }
    let mut commission = PaperConfig::default().commission;
    commission.rate = rate;
    let paper = PaperConfig {
        fill_timing: match args.fill {
            FillTiming::NextOpen => PaperFillTiming::NextOpen,
            FillTiming::Close => PaperFillTiming::SameClose,
        },
        commission,
        ..PaperConfig::default()
    };
    let quantity = |flag: &str, v: &Option<String>| -> anyhow::Result<Option<Quantity>> {
        v.as_deref()
            .map(|t| {
                t.parse::<Quantity>()
                    .with_context(|| format!("--{flag} `{t}` is not a decimal quantity"))
            })
            .transpose()
    };
    let limits = Limits {
        max_order_quantity: quantity("max-order-qty", &args.max_order_qty)?,
        max_order_notional: args
            .max_order_notional
            .as_deref()
            .map(|t| money("max-order-notional", t))
            .transpose()?,
        max_position: quantity("max-position", &args.max_position)?,
        ..Limits::default()
    };
    let risk = RiskConfig::default()
        .with_commission_rate(rate)
        .and_then(|r| r.with_account(limits))
        .context("invalid risk limits")?;
    Ok(BacktestConfig {
        starting_cash,
        paper,
        risk,
        periods_per_year: args.periods_per_year,
        ..BacktestConfig::default()
    })
}

pub(crate) fn host_config(args: &BacktestArgs) -> anyhow::Result<HostConfig> {
    let mut cfg = HostConfig::default();
    if let Some(f) = &args.fuel {
        cfg.fuel_per_callback = if f == "none" {
            None
        } else {
            Some(
                f.parse()
                    .with_context(|| format!("--fuel `{f}` is not a number or `none`"))?,
            )
        };
    }
    Ok(cfg)
}

/// Loads the bars; also says where they came from, for the report.
pub(crate) fn load_bars(args: &BacktestArgs) -> anyhow::Result<(Vec<Bar>, Instruments, String)> {
    load_bars_from(&args.data, &args.symbol, &args.tz)
}

/// The bars of `data` (CSV files; `symbol` and `tz` as `--symbol` and
/// `--tz`), or the embedded synthetic set without files; also says where
/// they came from.
pub(crate) fn load_bars_from(
    data: &[PathBuf],
    symbol: &str,
    tz: &str,
) -> anyhow::Result<(Vec<Bar>, Instruments, String)> {
    let mut instruments = Instruments::new();
    if data.is_empty() {
        let cfg = default_config();
        let bars =
            wasmtrade_market::generate(&cfg, &mut instruments).context("cannot generate synthetic bars")?;
        let source = format!(
            "synthetic {} (seeded GBM, seed {}, {} days; no --data given, see `wasmtrade data synth`)",
            cfg.symbol,
            cfg.seed,
            cfg.calendar.as_str()
        );
        return Ok((bars, instruments, source));
    }
    let options = CsvOptions::with_symbol(symbol).time_zone_named(tz)?;
    let mut all = Vec::new();
    for path in data {
        let bars = load_bars_file(path, &options, &mut instruments)?;
        all.extend(bars);
    }
    if data.len() > 1 {
        // Stable: bars of equal time keep file order.
        all.sort_by_key(|b| b.ts);
    }
    if all.is_empty() {
        bail!("no bars in {}", display_paths(data));
    }
    Ok((all, instruments, display_paths(data)))
}

fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses `NAME=PATH[:k=v,...]` and instantiates the indicator.
fn load_indicator(
    host: &GuestEngine,
    cache: (Option<&CompileCache>, &mut CacheUse),
    spec: &str,
    instruments: Arc<Instruments>,
    seed: u64,
) -> anyhow::Result<(String, Box<dyn wasmtrade_model::IndicatorGuest>)> {
    let (name, path, module, json) = compile_indicator(host, cache, spec)?;
    let guest = module
        .instantiate(GuestContext::new(instruments, seed), &json)
        .with_context(|| format!("indicator {name} ({path}) failed to start"))?;
    Ok((name, Box::new(guest)))
}

/// Parses `NAME=PATH[:k=v,...]` and compiles the indicator: its name, path,
/// module and configuration JSON.
pub(crate) fn compile_indicator(
    host: &GuestEngine,
    (cache, used): (Option<&CompileCache>, &mut CacheUse),
    spec: &str,
) -> anyhow::Result<(String, String, IndicatorModule, String)> {
    let Some((name, rest)) = spec.split_once('=') else {
        bail!("--indicator `{spec}` is not NAME=PATH[:key=value,...]");
    };
    let (path, pairs) = match rest.split_once(':') {
        Some((p, c)) => (p, c),
        None => (rest, ""),
    };
    let json = guest_config::build(pairs, None).with_context(|| format!("--indicator `{spec}`"))?;
    let bytes = load_guest_bytes(Path::new(path))?;
    let module: IndicatorModule =
        compile(host, cache, &bytes, used).with_context(|| format!("cannot load indicator {path}"))?;
    Ok((name.to_string(), path.to_string(), module, json))
}

pub(crate) fn progress_bar(args: &BacktestArgs, total: u64) -> Option<ProgressBar> {
    if args.no_progress || args.json || !std::io::stderr().is_terminal() || total < 200_000 {
        return None;
    }
    let pb = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template("{spinner} {bar:40} {pos}/{len} bars {per_sec} eta {eta}")
    {
        pb.set_style(style);
    }
    Some(pb)
}

fn write_trades(result: &BacktestResult, path: &Path) -> anyhow::Result<()> {
    let file = std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut w = std::io::BufWriter::new(file);
    result
        .write_trades_csv(&mut w)
        .with_context(|| format!("cannot write trades to {}", path.display()))?;
    w.flush()
        .with_context(|| format!("cannot write trades to {}", path.display()))
}

fn write_equity(result: &BacktestResult, path: &Path) -> anyhow::Result<()> {
    let file = std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut w = std::io::BufWriter::new(file);
    result
        .write_equity_csv(&mut w)
        .with_context(|| format!("cannot write the equity curve to {}", path.display()))?;
    w.flush()
        .with_context(|| format!("cannot write the equity curve to {}", path.display()))
}

fn print_report(report: &Report<'_>, args: &BacktestArgs, timings: &Timings) -> anyhow::Result<()> {
    let (result, module, data, policy) = (
        report.result,
        &report.module,
        &report.data,
        report.policy.as_ref(),
    );
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        let strategies: Vec<_> = result
            .strategies
            .iter()
            .map(|s| {
                serde_json::json!({
                    "id": s.id.as_str(),
                    "guest": s.info.name,
                    "version": s.info.version,
                    "sdk_version": s.info.sdk_version,
                    "contract_version": s.info.contract_version,
                    "bars": s.counters.bars,
                    "fills": s.counters.fills,
                    "intents": s.counters.intents,
                    "rejects": s.counters.rejects,
                })
            })
            .collect();
        let mut v = serde_json::json!({
            "report": result.report,
            "strategies": strategies,
            "module": module,
            "data": data,
            "timings": timings.json(),
        });
        if let Some(p) = policy {
            v["policy"] = serde_json::json!({
                "steps": p.steps,
                "cumulative_reward": p.cumulative_reward,
                "portfolio_value": p.portfolio_value,
            });
        }
        writeln!(out, "{v}").context("cannot write to stdout")?;
        return Ok(());
    }
    let mut rows = vec![("Strategy", module.to_string()), ("Data", data.to_string())];
    for s in &result.strategies {
        rows.push(("Guest", format!("{} as `{}`", s.info, s.id)));
    }
    if let Some(p) = policy {
        rows.push(("Policy steps", p.steps.to_string()));
        rows.push(("Policy reward", format!("{:.2}", p.cumulative_reward)));
    }
    rows.extend(result.report.rows());
    rows.extend(timings.rows());
    write!(out, "{}", two_columns(&rows)).context("cannot write to stdout")?;
    if let Some(path) = &args.trades_csv {
        writeln!(out, "Trades written to {}", path.display()).context("cannot write to stdout")?;
    }
    if let Some(path) = &args.equity_csv {
        writeln!(out, "Equity curve written to {}", path.display()).context("cannot write to stdout")?;
    }
    if let Some(path) = &args.html {
        writeln!(out, "Report written to {}", path.display()).context("cannot write to stdout")?;
    }
    Ok(())
}
