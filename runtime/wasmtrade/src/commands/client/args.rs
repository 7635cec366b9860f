//! The command line of the gRPC client subcommands (clap): `strategy ...`,
//! `orders`, `positions`, `account`, `events` and `kill ...`.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

/// How to reach and authenticate to a `wasmtrade serve`, and how to print.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// Address of the server: `http://host:port` or `host:port`.
    #[arg(long, env = "WASMTRADE_SERVER", default_value = "http://127.0.0.1:50051")]
    pub server: String,
    /// API token, sent as `authorization: Bearer <token>` (wins over `--token-file`).
    #[arg(long, env = "WASMTRADE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// File holding the API token (surrounding whitespace is trimmed).
    #[arg(long, env = "WASMTRADE_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// Machine output: one JSON document (streams: one JSON object per line).
    #[arg(long)]
    pub json: bool,
    /// Deadline of each call that is not a stream, in seconds (1 to 3600).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
}

/// What kind of guest a module is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    /// A strategy (exports the strategy world; its orders belong to it).
    Strategy,
    /// An indicator (strategies read it by name).
    Indicator,
}

/// A module's configuration: `--config` pairs or JSON over `--config-file`.
#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    /// Guest configuration: `key=value,key=value`, or a JSON object.
    #[arg(long, default_value = "")]
    pub config: String,
    /// Guest configuration from a TOML or JSON file (merged under `--config`).
    #[arg(long)]
    pub config_file: Option<PathBuf>,
}

/// `wasmtrade strategy upload`.
#[derive(Debug, Args)]
pub struct UploadArgs {
    /// The component (`.wasm`, built for wasm32-wasip2).
    pub file: PathBuf,
    /// Module name: the strategy id or the indicator name ([A-Za-z0-9_.-], 1..64).
    #[arg(long)]
    pub name: String,
    /// What kind of guest the component is.
    #[arg(long, value_enum, default_value = "strategy")]
    pub kind: KindArg,
    /// Free-text version label, e.g. `v2` or a git describe.
    #[arg(long, default_value = "")]
    pub label: String,
    /// The configuration handed to the guest's init.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Make the new version active right after the upload.
    #[arg(long)]
    pub activate: bool,
    /// Deadline of the upload itself, in seconds (1 to 3600; at least
    /// --timeout). The server compiles the component, which may take far
    /// longer than other calls; it refuses a compilation over its
    /// `guests.compile.timeout_ms` (60 s by default) with the reason, which
    /// a shorter deadline here would hide.
    #[arg(long, default_value_t = 180, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub upload_timeout: u64,
    /// Server, token and output.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `wasmtrade strategy ...`: guests on a running server.
#[derive(Debug, Subcommand)]
pub enum StrategyCommand {
    /// Upload a strategy or indicator component as a new version.
    Upload(Box<UploadArgs>),
    /// Modules with their versions, state, counters and shadow runs.
    List {
        /// Only this module.
        name: Option<String>,
        /// Server, token and output.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Make a version active (hot swap between two events).
    Activate {
        /// The module.
        name: String,
        /// The version to activate.
        #[arg(value_parser = clap::value_parser!(u32).range(1..))]
        version: u32,
        /// A new configuration for this version (default: the version's
        /// own, given at upload or at its last activation).
        #[command(flatten)]
        config: ConfigArgs,
        /// Server, token and output.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Re-activate the previously active version, or the one given.
    Rollback {
        /// The module.
        name: String,
        /// The version to go back to (default: the one active before).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        to: Option<u32>,
        /// Server, token and output.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Remove one version, or the whole module (stopping it).
    Remove {
        /// The module.
        name: String,
        /// Only this version (not the active one).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        version: Option<u32>,
        /// Server, token and output.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// A guest's log lines.
    Logs {
        /// The module.
        name: String,
        /// Keep following new lines.
        #[arg(long, short)]
        follow: bool,
        /// How many recent lines to show first (default: all the server keeps).
        #[arg(long)]
        tail: Option<u32>,
        /// Server, token and output.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Run a version in shadow beside the active one (intents compared, never sent).
    Shadow {
        /// The module.
        name: String,
        /// The version to run in shadow.
        #[arg(value_parser = clap::value_parser!(u32).range(1..))]
        version: u32,
        /// Server, token and output.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Stop a module's shadow run.
    ShadowStop {
        /// The module.
        name: String,
        /// Server, token and output.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Make the shadow version the active one.
    Promote {
        /// The module.
        name: String,
        /// Server, token and output.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Replace a running guest's configuration (its state is handed over).
    Config {
        /// The module.
        name: String,
        /// The new configuration.
        #[command(flatten)]
        config: ConfigArgs,
        /// Server, token and output.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Who uploaded, activated, promoted, rolled back or removed what.
    Audit {
        /// Only this module.
        name: Option<String>,
        /// Server, token and output.
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// `wasmtrade orders`.
#[derive(Debug, Args)]
pub struct OrdersArgs {
    /// Only open orders.
    #[arg(long)]
    pub open: bool,
    /// Only this strategy's orders.
    #[arg(long)]
    pub strategy: Option<String>,
    /// At most this many, the most recent.
    #[arg(long, default_value_t = 1000)]
    pub limit: u32,
    /// Server, token and output.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `wasmtrade positions`.
#[derive(Debug, Args)]
pub struct PositionsArgs {
    /// Only this strategy's positions.
    #[arg(long)]
    pub strategy: Option<String>,
    /// Server, token and output.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `wasmtrade account`.
#[derive(Debug, Args)]
pub struct AccountArgs {
    /// Server, token and output.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `wasmtrade events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Also stream every market bar (high volume).
    #[arg(long)]
    pub bars: bool,
    /// Stop after this many events (default: run until interrupted).
    #[arg(long)]
    pub count: Option<u64>,
    /// Server, token and output.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Which kill switch: the global one unless `--account` or `--strategy`.
#[derive(Debug, Clone, Args)]
pub struct KillScopeArgs {
    /// The account's kill switch instead of the global one.
    #[arg(long, conflicts_with = "strategy")]
    pub account: bool,
    /// One strategy's kill switch instead of the global one.
    #[arg(long)]
    pub strategy: Option<String>,
}

/// `wasmtrade kill ...`: kill switches (global, account, strategy).
#[derive(Debug, Subcommand)]
pub enum KillCommand {
    /// Block new orders at once (only risk-reducing orders pass); working
    /// orders are cancelled per the risk config's kill policy. Latched
    /// across restarts until `kill off`.
    On {
        /// Why (recorded in the audit trail).
        #[arg(long)]
        reason: String,
        /// Which switch.
        #[command(flatten)]
        scope: KillScopeArgs,
        /// Server, token and output.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Allow new orders again (a person's decision, audited).
    Off {
        /// Why (recorded in the audit trail).
        #[arg(long, default_value = "")]
        reason: String,
        /// Which switch.
        #[command(flatten)]
        scope: KillScopeArgs,
        /// Server, token and output.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show every kill switch and halt, since when and why.
    Status {
        /// Server, token and output.
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// `wasmtrade risk ...`: the pre-trade limits of a running server.
#[derive(Debug, Subcommand)]
pub enum RiskCommand {
    /// The limits in force (TOML, or JSON with --json), with their revision.
    Show {
        /// Server, token and output.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Change the limits: a whole TOML file (the `[risk]` section's keys at
    /// the top level), and/or single keys, e.g.
    /// `--limit strategies.sma-cross.max_position=500`. Refused if someone
    /// else changed them since they were read. A change that loosens limits
    /// while `risk_changes.second_approver_to_loosen` is on is stored as
    /// pending: its id is printed, and another principal approves it with
    /// `wasmtrade risk approve ID`.
    Set {
        /// TOML file replacing the whole configuration.
        #[arg(long)]
        file: Option<PathBuf>,
        /// `dotted.key=value` (value in TOML syntax; repeatable), applied to
        /// the limits in force (or to --file).
        #[arg(long = "limit", value_name = "KEY=VALUE")]
        limits: Vec<String>,
        /// Why (kept with the revision).
        #[arg(long, default_value = "")]
        note: String,
        /// Server, token and output.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Approve another principal's pending change (it takes effect now).
    /// Needs the deployer role; nobody approves their own change.
    Approve {
        /// The pending change's id (`wasmtrade risk pending`).
        id: u64,
        /// Server, token and output.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// The changes waiting for a second principal's approval.
    Pending {
        /// Server, token and output.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Every revision: who, when, why.
    History {
        /// Server, token and output.
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Lift a halt (daily loss, drawdown, repeated executions).
    Reenable {
        /// The halted strategy; without it, the account.
        #[arg(long)]
        strategy: Option<String>,
        /// Server, token and output.
        #[command(flatten)]
        client: ClientArgs,
    },
}
