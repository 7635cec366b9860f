//! The `serve` configuration: embedded defaults, then the TOML file, then
//! `WASMTRADE__SECTION__KEY=value` environment variables, then flags.
//! Every problem is reported at once, naming the key.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use wasmtrade_live::RiskChangesConfig;
use wasmtrade_live::{
    AccountConfig, BrokerConfig, EventsConfig, GuestsConfig, LiveConfig, MarketConfig, StoreConfig,
};
use wasmtrade_risk::RawRiskConfig;

use crate::cli::ServeArgs;

/// Prefix of environment overrides: `WASMTRADE__MARKET__SPEED=0` sets `market.speed`.
pub const ENV_PREFIX: &str = "WASMTRADE__";

/// The API server section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSection {
    /// Address of the gRPC API. Default `127.0.0.1:50051` (in a pod: `0.0.0.0:50051`).
    pub listen: String,
    /// File holding the API bearer token (a mounted Kubernetes Secret).
    /// `WASMTRADE_TOKEN` (the token itself) wins over it. With neither, a
    /// random token is generated into `<data_dir>/api-token` (mode 0600).
    pub token_file: Option<PathBuf>,
    /// File naming the API's principals (TOML, one `[[principal]]` per
    /// person or system: `name`, `role` = viewer/trader/deployer/admin,
    /// `token_sha256`; `wasmtrade token new` prints an entry). With it, no
    /// token is generated; `WASMTRADE_TOKEN`/`token_file`, if set, is one
    /// more principal, `token`, with the admin role.
    pub tokens_file: Option<PathBuf>,
    /// Seconds a graceful shutdown may take before the process exits anyway;
    /// keep it below the pod's `terminationGracePeriodSeconds`. Default 25.
    pub shutdown_grace_secs: u64,
    /// Address of the ops HTTP endpoints (`/healthz`, `/readyz`, `/status`,
    /// `/metrics`). Default `127.0.0.1:9464` (in a pod: `0.0.0.0:9464`);
    /// empty disables them.
    pub ops_listen: String,
}

impl Default for ServerSection {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:50051".to_string(),
            token_file: None,
            tokens_file: None,
            shutdown_grace_secs: 25,
            ops_listen: "127.0.0.1:9464".to_string(),
        }
    }
}

/// A policy `serve` runs from start to stop (`[[policies]]`,
/// docs/policies.md): an RL policy guest with the active version of a model
/// from the models directory, trading one instrument as a strategy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicySection {
    /// Its strategy id: orders, positions, events and the metrics label `policy`.
    pub name: String,
    /// The policy guest's wasm component (e.g. `clstm_ppo.wasm`).
    pub guest: PathBuf,
    /// The model's name in the models directory; its active version runs,
    /// and activating another version (`wasmtrade model activate`) swaps
    /// the weights while it runs.
    pub model: String,
    /// The symbol it trades (one of the market's).
    pub instrument: String,
    /// The guest's init configuration (a JSON object), e.g. `{"targets": [-1, 0, 1]}`. Default empty.
    pub config: String,
    /// Append every transition to `<checkpoints dir>/<model>/transitions.log`
    /// for a learner. Default true.
    pub transitions: bool,
    /// Evaluate each new checkpoint a learner writes for the model in the
    /// policy's shadow, and let the shadow gate promote it (docs/policies.md,
    /// "The shadow gate"). Default false: a person activates checkpoints.
    pub shadow_checkpoints: bool,
    /// Shadow gate: decisions before it decides. Default 500.
    pub shadow_decisions: u32,
    /// Shadow gate: how much higher the candidate's composite score must be. Default 0.1.
    pub shadow_margin: f64,
}

impl PolicySection {
    /// The shadow gate of this policy's checkpoints.
    pub fn gate(&self) -> wasmtrade_policy::GateConfig {
        wasmtrade_policy::GateConfig {
            decisions: self.shadow_decisions,
            margin: self.shadow_margin,
            ..wasmtrade_policy::GateConfig::default()
        }
    }
}

impl Default for PolicySection {
    fn default() -> Self {
        Self {
            name: String::new(),
            guest: PathBuf::new(),
            model: String::new(),
            instrument: String::new(),
            config: String::new(),
            transitions: true,
            shadow_checkpoints: false,
            shadow_decisions: wasmtrade_policy::GateConfig::default().decisions,
            shadow_margin: wasmtrade_policy::GateConfig::default().margin,
        }
    }
}

/// What is wrong with the `[[policies]]` sections, each naming its key.
fn policy_problems(policies: &[PolicySection]) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, p) in policies.iter().enumerate() {
        let key = |field: &str| format!("policies[{i}].{field}");
        if let Err(e) = wasmtrade_live::check_name(&p.name) {
            problems.push(format!("{}: {e}", key("name")));
        }
        if p.guest.as_os_str().is_empty() {
            problems.push(format!(
                "{} is required: the policy guest's .wasm file",
                key("guest")
            ));
        }
        if p.model.is_empty() {
            problems.push(format!(
                "{} is required: a model name in the models directory",
                key("model")
            ));
        }
        if p.instrument.is_empty() {
            problems.push(format!(
                "{} is required: the symbol the policy trades",
                key("instrument")
            ));
        }
        if let Err(e) = wasmtrade_live::check_config(&p.config) {
            problems.push(format!("{}: {e}", key("config")));
        }
        if let Err(e) = p.gate().check() {
            problems.push(format!(
                "{} / {}: {e}",
                key("shadow_decisions"),
                key("shadow_margin")
            ));
        }
        if let Some(j) = policies[..i].iter().position(|q| q.name == p.name) {
            problems.push(format!(
                "{} repeats policies[{j}].name ({:?}): names must be unique",
                key("name"),
                p.name
            ));
        }
        if let Some(j) = policies[..i]
            .iter()
            .position(|q| q.model == p.model && !p.model.is_empty())
        {
            problems.push(format!(
                "{} repeats policies[{j}].model ({:?}): give each policy its own model",
                key("model"),
                p.model
            ));
        }
    }
    problems
}

/// Everything `wasmtrade serve` reads. `wasmtrade serve --print-config`
/// prints it with every default filled in.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServeConfig {
    /// The gRPC API.
    pub server: ServerSection,
    /// Data directory (the store). Default `data`.
    pub data_dir: PathBuf,
    /// The paper market.
    pub market: MarketConfig,
    /// The account and paper broker.
    pub account: AccountConfig,
    /// Pre-trade risk limits: seed the store on the first start; later the
    /// store's revision is in force (`wasmtrade risk set`).
    pub risk: RawRiskConfig,
    /// How risk limit changes are approved.
    pub risk_changes: RiskChangesConfig,
    /// Guests and their sandbox.
    pub guests: GuestsConfig,
    /// Event stream buffers.
    pub events: EventsConfig,
    /// How the store stays flat over a long run (order history kept).
    pub store: StoreConfig,
    /// The venue: the in-process paper broker (default) or a
    /// `wasmtrade paper-venue` process.
    pub broker: BrokerConfig,
    /// The Kubernetes integration (active in a pod): which broker accounts
    /// each StatefulSet ordinal owns, their Lease timing, Events.
    pub cluster: wasmtrade_cluster::RawClusterConfig,
    /// RL policies run as strategies (none by default).
    pub policies: Vec<PolicySection>,
}

impl ServeConfig {
    /// The runtime's part.
    pub fn live(&self) -> LiveConfig {
        LiveConfig {
            data_dir: self.data_dir.clone(),
            market: self.market.clone(),
            account: self.account.clone(),
            risk: self.risk.clone(),
            risk_changes: self.risk_changes.clone(),
            guests: self.guests.clone(),
            events: self.events.clone(),
            store: self.store.clone(),
            broker: self.broker.clone(),
        }
    }
}

/// Sets `path` (already split) in `table` to `value`.
fn set(table: &mut toml::Table, path: &[String], value: toml::Value) -> anyhow::Result<()> {
    let Some((last, parents)) = path.split_last() else {
        bail!("empty key");
    };
    let mut t = table;
    for p in parents {
        let entry = t
            .entry(p.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        t = match entry {
            toml::Value::Table(inner) => inner,
            _ => bail!("`{p}` is not a table"),
        };
    }
    t.insert(last.clone(), value);
    Ok(())
}

/// Reads an environment value as TOML (numbers, booleans, arrays, inline
/// tables), falling back to a plain string.
fn env_value(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

/// Builds the configuration from the file, `env` (name, value pairs) and flags.
pub fn load(
    args: &ServeArgs,
    env: impl IntoIterator<Item = (String, String)>,
) -> anyhow::Result<ServeConfig> {
    let mut table = match &args.config {
        Some(path) => read_file(path)?,
        None => toml::Table::new(),
    };
    let mut problems = Vec::new();
    let mut env: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX))
        .collect();
    env.sort();
    for (key, raw) in env {
        let path: Vec<String> = key[ENV_PREFIX.len()..]
            .split("__")
            .map(str::to_ascii_lowercase)
            .collect();
        if let Err(e) = set(&mut table, &path, env_value(&raw)) {
            problems.push(format!("{key}: {e}"));
        }
    }
    if !problems.is_empty() {
        bail!("invalid environment overrides:\n  - {}", problems.join("\n  - "));
    }
    let mut config: ServeConfig = toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| {
            anyhow::anyhow!(
                "invalid configuration{}: {}",
                args.config
                    .as_ref()
                    .map(|p| format!(" in {}", p.display()))
                    .unwrap_or_default(),
                e.message()
            )
        })?;
    if let Some(listen) = &args.listen {
        config.server.listen = listen.clone();
    }
    if let Some(ops) = &args.ops_listen {
        config.server.ops_listen = ops.clone();
    }
    if let Some(dir) = &args.data_dir {
        config.data_dir = dir.clone();
    }
    if config.data_dir.as_os_str().is_empty() {
        config.data_dir = LiveConfig::default_data_dir();
    }
    let mut problems = config.live().problems();
    problems.extend(policy_problems(&config.policies));
    if config.server.listen.parse::<std::net::SocketAddr>().is_err() {
        problems.push(format!(
            "server.listen ({:?}) must be an address like 127.0.0.1:50051 or 0.0.0.0:50051",
            config.server.listen
        ));
    }
    if !config.server.ops_listen.is_empty()
        && config.server.ops_listen.parse::<std::net::SocketAddr>().is_err()
    {
        problems.push(format!(
            "server.ops_listen ({:?}) must be an address like 127.0.0.1:9464 or 0.0.0.0:9464, or empty to disable the ops endpoints",
            config.server.ops_listen
        ));
    }
    if config.server.shutdown_grace_secs == 0 {
        problems.push("server.shutdown_grace_secs must be at least 1".to_string());
    }
    if !problems.is_empty() {
        bail!("invalid configuration:\n  - {}", problems.join("\n  - "));
    }
    Ok(config)
}

fn read_file(path: &Path) -> anyhow::Result<toml::Table> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    text.parse::<toml::Table>()
        .map_err(|e| anyhow::anyhow!("{} is not valid TOML: {}", path.display(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(config: Option<PathBuf>) -> ServeArgs {
        ServeArgs {
            config,
            print_config: false,
            listen: None,
            data_dir: None,
            ops_listen: None,
        }
    }

    #[test]
    fn no_file_and_no_env_gives_the_embedded_defaults() {
        let c = load(&args(None), Vec::new()).unwrap();
        assert_eq!(c.server.listen, "127.0.0.1:50051");
        assert_eq!(c.data_dir, PathBuf::from("data"));
        assert_eq!(c.market.symbols, ["SYNTH"]);
    }

    #[test]
    fn the_file_then_env_then_flags_override_in_that_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.toml");
        std::fs::write(
            &path,
            "[market]\nspeed = 5.0\nsymbols = [\"A\", \"B\"]\n[server]\nlisten = \"127.0.0.1:1\"\n",
        )
        .unwrap();
        let env = vec![
            ("WASMTRADE__MARKET__SPEED".to_string(), "0".to_string()),
            ("WASMTRADE__SERVER__LISTEN".to_string(), "127.0.0.1:2".to_string()),
            ("UNRELATED".to_string(), "x".to_string()),
        ];
        let mut a = args(Some(path));
        a.listen = Some("127.0.0.1:3".into());
        let c = load(&a, env).unwrap();
        assert_eq!(c.market.speed, 0.0);
        assert_eq!(c.market.symbols, ["A", "B"]);
        assert_eq!(c.server.listen, "127.0.0.1:3");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_reported_with_their_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.toml");
        std::fs::write(&path, "[market]\nspeeed = 5.0\n").unwrap();
        let e = load(&args(Some(path)), Vec::new()).unwrap_err().to_string();
        assert!(e.contains("speeed"), "{e}");
        let env = vec![
            ("WASMTRADE__MARKET__SPEED".to_string(), "-1".to_string()),
            ("WASMTRADE__SERVER__LISTEN".to_string(), "nowhere".to_string()),
        ];
        let e = load(&args(None), env).unwrap_err().to_string();
        assert!(e.contains("market.speed") && e.contains("server.listen"), "{e}");
    }

    #[test]
    fn policies_from_env_are_read_and_their_problems_named_by_key() {
        let env = vec![(
            "WASMTRADE__POLICIES".to_string(),
            r#"[{name = "clstm", guest = "p.wasm", model = "clstm", instrument = "SYNTH"}]"#.to_string(),
        )];
        let c = load(&args(None), env).unwrap();
        assert_eq!(c.policies.len(), 1);
        assert!(c.policies[0].transitions);
        let env = vec![(
            "WASMTRADE__POLICIES".to_string(),
            r#"[{name = "a", guest = "p.wasm", model = "m", instrument = "SYNTH"},
                {name = "a", model = "m", instrument = "SYNTH", config = "[1]"}]"#
                .to_string(),
        )];
        let e = load(&args(None), env).unwrap_err().to_string();
        for needle in [
            "policies[1].guest is required",
            "policies[1].config",
            "policies[1].name repeats policies[0].name",
            "policies[1].model repeats policies[0].model",
        ] {
            assert!(e.contains(needle), "{needle}: {e}");
        }
    }

    #[test]
    fn the_documented_example_file_holds_exactly_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/wasmtrade.toml");
        let c = load(&args(Some(path)), Vec::new()).unwrap();
        assert_eq!(c, load(&args(None), Vec::new()).unwrap());
    }

    #[test]
    fn print_config_output_reads_back_as_the_same_config() {
        let c = load(&args(None), Vec::new()).unwrap();
        let text = toml::to_string(&c).unwrap();
        let back: ServeConfig = toml::from_str(&text).unwrap();
        assert_eq!(back, c);
    }
}
