//! The command-line interface (clap).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::commands::client::{
    AccountArgs, EventsArgs, KillCommand, OrdersArgs, PositionsArgs, RiskCommand, StrategyCommand,
};

/// A WebAssembly-extensible trading runtime: backtest sandboxed strategies
/// written with the wasmtrade SDK.
#[derive(Debug, Parser)]
#[command(name = "wasmtrade", version, about, long_about = None)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug); `WASMTRADE_LOG` overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Replay bars through a wasm strategy with risk checks and the paper broker, and report.
    Backtest(Box<BacktestArgs>),
    /// Backtest a strategy over a grid (or a seeded random sample) of config
    /// values in parallel, ranked by a metric: optimised on the first part
    /// of the data (in-sample), reported on the rest (out-of-sample).
    Sweep(Box<SweepArgs>),
    /// Start a guest project in a new directory: a documented example
    /// strategy or indicator, native tests, the build commands and a README;
    /// it builds and backtests with no edits, outside this repository.
    New(NewArgs),
    /// Market data utilities.
    #[command(subcommand)]
    Data(DataCommand),
    /// Guest utilities.
    #[command(subcommand)]
    Guest(GuestCommand),
    /// Indicator guests on their own: run one over bars and see its values.
    #[command(subcommand)]
    Indicator(IndicatorCommand),
    /// Run the long-running runtime: live event loop, guests, risk, OMS,
    /// paper broker and the gRPC API.
    Serve(Box<ServeArgs>),
    /// Strategies and indicators on a running server: upload, versions, hot
    /// swap, shadow runs, logs and the audit trail.
    #[command(subcommand)]
    Strategy(StrategyCommand),
    /// Policy models on a running server: upload, versions, activate (also
    /// from a learner's checkpoint), checkpoints.
    #[command(subcommand)]
    Model(crate::commands::client::ModelCommand),
    /// Orders on a running server.
    Orders(OrdersArgs),
    /// Positions on a running server.
    Positions(PositionsArgs),
    /// The account of a running server.
    Account(AccountArgs),
    /// Follow everything that happens on a running server, one line per event.
    Events(EventsArgs),
    /// Kill switches (global, account, strategy) of a running server.
    #[command(subcommand)]
    Kill(KillCommand),
    /// Pre-trade risk limits of a running server: show, set, history, re-enable.
    #[command(subcommand)]
    Risk(RiskCommand),
    /// API tokens for `server.tokens_file`: hash one, or make a new one
    /// with its file entry.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Run the paper broker and its market as a separate process (a venue
    /// that keeps trading while the runtime restarts; `[broker] kind = "venue"`).
    PaperVenue(PaperVenueArgs),
}

/// `wasmtrade paper-venue`.
#[derive(Debug, Args)]
pub struct PaperVenueArgs {
    /// Address to listen on. Default `127.0.0.1:7700` (port 0 picks a free one).
    #[arg(long)]
    pub listen: Option<String>,
    /// Symbols, comma-separated. Default `SYNTH`.
    #[arg(long)]
    pub symbols: Option<String>,
    /// Seed of the random walks. Default 42.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Bars per bar interval of wall time (0 = as fast as possible). Default 1.
    #[arg(long)]
    pub speed: Option<f64>,
    /// Seconds of market time between bars. Default 1.
    #[arg(long)]
    pub bar_interval_secs: Option<u64>,
    /// The account's starting cash. Default 100000.
    #[arg(long)]
    pub cash: Option<String>,
}

/// `wasmtrade serve`. Settings come from embedded defaults, then the TOML
/// file, then `WASMTRADE_*` environment variables, then these flags.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The TOML config file (every key is optional; see `wasmtrade serve --print-config`).
    #[arg(long, env = "WASMTRADE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
    /// Address of the gRPC API (overrides `server.listen`).
    #[arg(long)]
    pub listen: Option<String>,
    /// Data directory (the store; overrides the top-level `data_dir` key).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Address of the ops endpoints `/healthz`, `/readyz`, `/status` and
    /// `/metrics` (overrides `server.ops_listen`; empty disables them).
    #[arg(long)]
    pub ops_listen: Option<String>,
}

/// When market orders fill.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FillTiming {
    /// At the next bar's open (no look-ahead; default).
    NextOpen,
    /// At the close of the bar that produced the order.
    Close,
}

/// `wasmtrade backtest`.
#[derive(Debug, Args)]
pub struct BacktestArgs {
    /// The strategy component (`.wasm`, built for wasm32-wasip2); with
    /// `--model`, a policy component (the `policy` world).
    #[arg(long)]
    pub strategy: PathBuf,
    /// An ONNX model for a policy guest given as `--strategy`: the policy
    /// trades as a strategy (observation window from bars, position and cash;
    /// target position turned into market orders).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Strategy id (default: the guest's name).
    #[arg(long)]
    pub id: Option<String>,
    /// Strategy configuration: `key=value,key=value`, or a JSON object.
    #[arg(long, default_value = "")]
    pub config: String,
    /// Strategy configuration from a TOML or JSON file (merged under `--config`).
    #[arg(long)]
    pub config_file: Option<PathBuf>,
    /// OHLCV file(s): CSV, or Parquet (`.parquet`/`.pq`) with the same columns;
    /// without it, a seeded synthetic data set is used.
    #[arg(long)]
    pub data: Vec<PathBuf>,
    /// Symbol for CSV files without a `symbol` column.
    #[arg(long, default_value = "SYNTH")]
    pub symbol: String,
    /// IANA time zone of naive timestamps in the CSV (e.g. America/New_York).
    #[arg(long, default_value = "UTC")]
    pub tz: String,
    /// An indicator guest: `NAME=PATH` or `NAME=PATH:key=value,...` (repeatable).
    #[arg(long = "indicator")]
    pub indicators: Vec<String>,
    /// Starting cash.
    #[arg(long, default_value = "10000")]
    pub cash: String,
    /// Commission as a fraction of notional (0.002 = 0.2 %).
    #[arg(long, default_value = "0")]
    pub commission: String,
    /// When market orders fill.
    #[arg(long, value_enum, default_value = "next-open")]
    pub fill: FillTiming,
    /// Risk: largest quantity of one order.
    #[arg(long)]
    pub max_order_qty: Option<String>,
    /// Risk: largest notional of one order.
    #[arg(long)]
    pub max_order_notional: Option<String>,
    /// Risk: largest absolute position per instrument.
    #[arg(long)]
    pub max_position: Option<String>,
    /// CPU budget per guest callback in fuel units, or `none`.
    #[arg(long)]
    pub fuel: Option<String>,
    /// Seed of the guests' random number generators.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Periods per year for annualised figures (default: inferred from the data).
    #[arg(long)]
    pub periods_per_year: Option<f64>,
    /// Write the closed trades as CSV to this file.
    #[arg(long)]
    pub trades_csv: Option<PathBuf>,
    /// Write the equity curve as CSV to this file: timestamp (RFC 3339),
    /// equity, drawdown (fraction of the running peak, ≤ 0) and exposed,
    /// one row per bar time.
    #[arg(long)]
    pub equity_csv: Option<PathBuf>,
    /// Write a self-contained HTML report to this file (no scripts, no
    /// network; opens from disk). `backtest`: the report's figures, the
    /// equity curve, the drawdown, the price with the trades marked, and the
    /// closed trades. `sweep`: the heatmap, the ranked table and the
    /// walk-forward windows.
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Never show a progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// Compile the guests even if the compiled-guest cache holds them, and
    /// store nothing there. The cache: `$WASMTRADE_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/wasmtrade/compiled`, else
    /// `~/.cache/wasmtrade/compiled`, at most `$WASMTRADE_CACHE_MAX_BYTES`
    /// (default 1 GiB).
    #[arg(long)]
    pub no_cache: bool,
}

/// `wasmtrade sweep`: every `wasmtrade backtest` option (except the
/// single-run outputs `--model`, `--id`, `--trades-csv`, `--equity-csv`;
/// `--html` writes the sweep's page), plus the search.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// The backtest every combination runs; `--config` and `--config-file`
    /// are the base the grid's keys are set on.
    #[command(flatten)]
    pub backtest: BacktestArgs,
    /// Config keys and their values: `key=START..END[:STEP]` (inclusive),
    /// `key=a|b|c` or `key=v`, comma-separated or repeated, e.g.
    /// `--grid fast=5..50:5,slow=20..200:10`.
    #[arg(long, required = true)]
    pub grid: Vec<String>,
    /// Keep only combinations where this holds: `fast<slow`, `stop<=0.05`
    /// (< <= > >= == !=, between keys or a key and a number; repeatable).
    #[arg(long = "constraint")]
    pub constraints: Vec<String>,
    /// Run a seeded random sample of N combinations instead of all of them.
    #[arg(long)]
    pub random: Option<usize>,
    /// Seed of `--random`.
    #[arg(long, default_value_t = 42)]
    pub search_seed: u64,
    /// What to rank by (higher is better; drawdown closer to zero).
    #[arg(long, value_enum, default_value = "sharpe")]
    pub metric: crate::sweep::rank::Metric,
    /// Fraction of the bars to optimise on (in-sample); the best
    /// combinations are then run on the rest (out-of-sample). `1` optimises
    /// on all bars, with no out-of-sample report.
    #[arg(long, default_value_t = 0.7)]
    pub train: f64,
    /// Walk-forward: cut the bars into N consecutive windows, optimise on
    /// each window's first `--train` part and report its best combination
    /// on the window's rest.
    #[arg(long)]
    pub walk_forward: Option<usize>,
    /// Parallel runs (default: the machine's cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Rows in the printed table, and rows run out-of-sample.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Write every combination's results, ranked, as CSV.
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Print a heatmap of the best metric over two keys, `X,Y` (default: the
    /// first two --grid keys when there are two or more). `--html` (of the
    /// backtest options) writes the sweep's page: the heatmap, the ranked
    /// table and the walk-forward windows.
    #[arg(long)]
    pub heatmap: Option<String>,
}

/// `wasmtrade new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// What to create.
    #[arg(value_enum)]
    pub kind: NewKind,
    /// The guest's name, also its package and directory name: lowercase
    /// ASCII letters, digits, `-` and `_`, starting with a letter.
    pub name: String,
    /// The guest's language (Rust today).
    #[arg(long, value_enum, default_value_t = NewLang::Rust)]
    pub lang: NewLang,
    /// The directory to create the project in (as `DIR/NAME`).
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// Depend on the SDK in this directory (e.g. `sdk/` of a wasmtrade
    /// clone) instead of a copy of this binary's SDK inside the project
    /// (`NAME/wasmtrade-sdk/`).
    #[arg(long)]
    pub sdk: Option<PathBuf>,
}

/// What `wasmtrade new` creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NewKind {
    /// A strategy (world `strategy`): bars in, orders out.
    Strategy,
    /// An indicator (world `indicator`): bars in, values out.
    Indicator,
}

/// The languages `wasmtrade new` writes projects in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NewLang {
    /// Rust with the wasmtrade SDK, built with `cargo` for `wasm32-wasip2`.
    Rust,
}

/// `wasmtrade data ...`.
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Generate a seeded geometric-Brownian-motion OHLCV data set as CSV.
    Synth(SynthArgs),
}

/// `wasmtrade data synth`.
#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Output file (`-` for stdout): CSV, or Parquet when it ends in
    /// `.parquet`/`.pq`.
    #[arg(long, default_value = "-")]
    pub out: PathBuf,
    /// Number of bars.
    #[arg(long, default_value_t = 2520)]
    pub bars: usize,
    /// Random seed (same seed, same data on every machine).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Symbol.
    #[arg(long, default_value = "SYNTH")]
    pub symbol: String,
    /// Seconds between bars.
    #[arg(long, default_value_t = 86_400)]
    pub interval_secs: i64,
    /// First price (a positive decimal).
    #[arg(long, default_value = "100")]
    pub price: String,
    /// Annual drift (0.07 = 7 %).
    #[arg(long, default_value_t = 0.07)]
    pub drift: f64,
    /// Annual volatility (0.2 = 20 %).
    #[arg(long, default_value_t = 0.2)]
    pub volatility: f64,
    /// Which days have bars: `business` (Monday to Friday, UTC; a step onto
    /// a weekend moves to Monday) or `continuous` (every day).
    #[arg(long, value_enum, default_value = "business")]
    pub calendar: Calendar,
}

/// `data synth --calendar`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Calendar {
    /// Monday to Friday.
    Business,
    /// Every day.
    Continuous,
}

/// `wasmtrade guest ...`.
#[derive(Debug, Subcommand)]
pub enum GuestCommand {
    /// Validate a guest component and show what it is.
    Inspect(InspectArgs),
}

/// `wasmtrade guest inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The component (`.wasm`).
    pub path: PathBuf,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `wasmtrade indicator ...`.
#[derive(Debug, Subcommand)]
pub enum IndicatorCommand {
    /// Feed every bar to an indicator guest and print (or write as CSV) its
    /// values per bar: timestamp, symbol, close, one column per output.
    Run(IndicatorRunArgs),
}

/// `wasmtrade indicator run`.
#[derive(Debug, Args)]
pub struct IndicatorRunArgs {
    /// The indicator component (`.wasm`, world `indicator`).
    #[arg(long)]
    pub guest: PathBuf,
    /// Indicator configuration: `key=value,key=value`, or a JSON object.
    #[arg(long, default_value = "")]
    pub config: String,
    /// OHLCV file(s), CSV or Parquet; without it, the seeded synthetic data set of
    /// `wasmtrade backtest`.
    #[arg(long)]
    pub data: Vec<PathBuf>,
    /// Symbol for CSV files without a `symbol` column.
    #[arg(long, default_value = "SYNTH")]
    pub symbol: String,
    /// IANA time zone of naive timestamps in the CSV (e.g. America/New_York).
    #[arg(long, default_value = "UTC")]
    pub tz: String,
    /// Write every row as CSV to this file (`-` for stdout) instead of
    /// printing a short table.
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Print a JSON summary (guest, outputs, rows, first and last rows).
    #[arg(long)]
    pub json: bool,
    /// Seed of the guest's random number generator.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Compile the guest even if the compiled-guest cache holds it, and
    /// store nothing there (see `wasmtrade backtest --help`).
    #[arg(long)]
    pub no_cache: bool,
}

/// `wasmtrade token ...`: API tokens for the tokens file (`server.tokens_file`).
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print the sha256 of the token read from stdin (surrounding whitespace
    /// trimmed): the `token_sha256` of a `[[principal]]` entry.
    Hash,
    /// Make a new random token for a principal: its `[[principal]]` entry
    /// goes to stdout (append it to the tokens file), the token itself to
    /// stderr, once (hand it to its holder; it is stored nowhere).
    New {
        /// The principal's name (1 to 64 of A-Z a-z 0-9 _ - . @), as the
        /// audit trail will show it.
        #[arg(long)]
        name: String,
        /// What it may do.
        #[arg(long, value_enum)]
        role: RoleArg,
        /// One JSON object with name, role, token and token_sha256 on stdout instead.
        #[arg(long)]
        json: bool,
    },
}

/// A principal's role (see `wasmtrade token new --help`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    /// Read-only calls.
    Viewer,
    /// Reads and the kill switch.
    Trader,
    /// Reads, guests, models, risk limits and approvals, lifting halts.
    Deployer,
    /// Everything.
    Admin,
}
