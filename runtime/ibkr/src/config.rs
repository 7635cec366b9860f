//! `[broker.ibkr]` configuration: deserialised raw, then validated.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::IbkrError;

/// Paper or live account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Paper trading account (gateway port 4002 by default).
    #[default]
    Paper,
    /// Live account (gateway port 4001); needs `allow_live = true`.
    Live,
}

/// The `[broker.ibkr]` TOML section as written. Every key has a default;
/// see `docs/ibkr.md` for the reference.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawIbkrConfig {
    /// Gateway host. Default `127.0.0.1`.
    pub host: String,
    /// Gateway API port. Default: 4002 (paper), 4001 (live).
    pub port: Option<u16>,
    /// API client id; keep it stable per runtime instance. Default 17.
    pub client_id: i32,
    /// How many following ids (`client_id + 1`, ...) to try when the id is in
    /// use (IB error 326). Default 0: fail clearly instead.
    pub client_id_fallbacks: u32,
    /// Account code (e.g. `DU1234567`); empty uses the gateway's first managed account.
    pub account: String,
    /// `paper` (default) or `live`.
    pub mode: Mode,
    /// Explicit opt-in to live trading. Default false.
    pub allow_live: bool,
    /// Universe to stream bars for. Default empty.
    pub symbols: Vec<String>,
    /// Bar length in seconds, a multiple of 5 (IB real-time bars are 5 s). Default 60.
    pub bar_seconds: u32,
    /// Outbound message budget per second (IB's hard limit is 50). Default 40.
    pub max_messages_per_sec: u32,
    /// First reconnect delay in ms (doubles up to `reconnect_max_ms`). Default 1000.
    pub reconnect_initial_ms: u64,
    /// Longest reconnect delay in ms. Default 60000.
    pub reconnect_max_ms: u64,
    /// Connection check period in ms. Default 500.
    pub heartbeat_ms: u64,
    /// Probe a healthy-looking link with reqCurrentTime this often (s); an
    /// answer missing after `request_timeout_ms` restarts the session (a
    /// silent gateway). 0 disables. Default 30.
    pub watchdog_secs: u64,
    /// Raise an alert when the gateway stays away longer than this (s). Default 300.
    pub alert_after_secs: u64,
    /// After this long without the client library's own reconnect succeeding,
    /// drop it and reconnect from scratch (s). Default 600.
    pub takeover_after_secs: u64,
    /// Timeout for connect, reconciliation and one-shot requests (ms). Default 10000.
    pub request_timeout_ms: u64,
    /// How long to hold an execution waiting for its commission report before
    /// emitting the fill with zero commission (ms). Default 2000.
    pub commission_wait_ms: u64,
    /// Prefix of the order reference carrying our order id. Default `wt-`.
    pub order_ref_prefix: String,
}

impl Default for RawIbkrConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: None,
            client_id: 17,
            client_id_fallbacks: 0,
            account: String::new(),
            mode: Mode::Paper,
            allow_live: false,
            symbols: Vec::new(),
            bar_seconds: 60,
            max_messages_per_sec: 40,
            reconnect_initial_ms: 1_000,
            reconnect_max_ms: 60_000,
            heartbeat_ms: 500,
            watchdog_secs: 30,
            alert_after_secs: 300,
            takeover_after_secs: 600,
            request_timeout_ms: 10_000,
            commission_wait_ms: 2_000,
            order_ref_prefix: "wt-".into(),
        }
    }
}

/// Validated configuration. Build it with [`IbkrConfig::try_from`] on a
/// [`RawIbkrConfig`] (or [`IbkrConfig::paper`] for the defaults).
#[derive(Clone, Debug)]
pub struct IbkrConfig {
    /// Gateway host.
    pub host: String,
    /// Gateway port.
    pub port: u16,
    /// Client id.
    pub client_id: i32,
    /// Fallback ids to try on error 326.
    pub client_id_fallbacks: u32,
    /// Account code, empty for the gateway's first managed account.
    pub account: String,
    /// Paper or live.
    pub mode: Mode,
    /// Bar universe.
    pub symbols: Vec<String>,
    /// Bar length in seconds.
    pub bar_seconds: u32,
    /// Outbound messages per second.
    pub max_messages_per_sec: u32,
    /// First reconnect delay.
    pub reconnect_initial: Duration,
    /// Longest reconnect delay.
    pub reconnect_max: Duration,
    /// Connection check period.
    pub heartbeat: Duration,
    /// Watchdog probe period on a healthy link (`None`: off).
    pub watchdog: Option<Duration>,
    /// Alert threshold for an absent gateway.
    pub alert_after: Duration,
    /// When to give up on the client library's own reconnect.
    pub takeover_after: Duration,
    /// Timeout of one-shot requests.
    pub request_timeout: Duration,
    /// Wait for a commission report.
    pub commission_wait: Duration,
    /// Order reference prefix.
    pub order_ref_prefix: String,
}

impl IbkrConfig {
    /// The defaults: paper gateway on `127.0.0.1:4002`, client id 17.
    pub fn paper() -> Self {
        // The defaults are valid by construction (tested below).
        match Self::try_from(RawIbkrConfig::default()) {
            Ok(c) => c,
            Err(e) => unreachable!("default config invalid: {e}"),
        }
    }
    /// `host:port`.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

fn config_err(field: &'static str, reason: impl Into<String>) -> IbkrError {
    IbkrError::Config {
        field,
        reason: reason.into(),
    }
}

impl TryFrom<RawIbkrConfig> for IbkrConfig {
    type Error = IbkrError;

    fn try_from(raw: RawIbkrConfig) -> Result<Self, IbkrError> {
        let port = raw.port.unwrap_or(match raw.mode {
            Mode::Paper => 4002,
            Mode::Live => 4001,
        });
        if !raw.allow_live {
            if raw.mode == Mode::Live {
                return Err(IbkrError::LiveNotAllowed {
                    what: "mode = \"live\"".into(),
                });
            }
            if port == 4001 || port == 7496 {
                return Err(IbkrError::LiveNotAllowed {
                    what: format!("port {port} is IB's live port"),
                });
            }
        }
        if raw.host.trim().is_empty() {
            return Err(config_err("host", "must not be empty"));
        }
        if port == 0 {
            return Err(config_err("port", "must be 1..=65535"));
        }
        if raw.client_id < 0 {
            return Err(config_err(
                "client_id",
                format!("{} is negative; use 0 or more", raw.client_id),
            ));
        }
        if raw.bar_seconds == 0 || !raw.bar_seconds.is_multiple_of(5) {
            return Err(config_err(
                "bar_seconds",
                format!(
                    "{} is not a positive multiple of 5 (IB real-time bars are 5 s)",
                    raw.bar_seconds
                ),
            ));
        }
        if raw.max_messages_per_sec == 0 || raw.max_messages_per_sec > 50 {
            return Err(config_err(
                "max_messages_per_sec",
                format!(
                    "{} is outside 1..=50 (IB disconnects above 50/s)",
                    raw.max_messages_per_sec
                ),
            ));
        }
        if raw.reconnect_initial_ms == 0 || raw.reconnect_max_ms < raw.reconnect_initial_ms {
            return Err(config_err(
                "reconnect_max_ms",
                "reconnect_initial_ms must be positive and not above reconnect_max_ms",
            ));
        }
        if raw.heartbeat_ms == 0 || raw.request_timeout_ms == 0 {
            return Err(config_err(
                "heartbeat_ms",
                "heartbeat_ms and request_timeout_ms must be positive",
            ));
        }
        if raw.order_ref_prefix.is_empty() || raw.order_ref_prefix.contains('\0') {
            return Err(config_err("order_ref_prefix", "must be non-empty text"));
        }
        let mut symbols = Vec::with_capacity(raw.symbols.len());
        for s in raw.symbols {
            let s = s.trim().to_ascii_uppercase();
            if s.is_empty() {
                return Err(config_err("symbols", "contains an empty symbol"));
            }
            if !symbols.contains(&s) {
                symbols.push(s);
            }
        }
        Ok(Self {
            host: raw.host,
            port,
            client_id: raw.client_id,
            client_id_fallbacks: raw.client_id_fallbacks,
            account: raw.account,
            mode: raw.mode,
            symbols,
            bar_seconds: raw.bar_seconds,
            max_messages_per_sec: raw.max_messages_per_sec,
            reconnect_initial: Duration::from_millis(raw.reconnect_initial_ms),
            reconnect_max: Duration::from_millis(raw.reconnect_max_ms),
            heartbeat: Duration::from_millis(raw.heartbeat_ms),
            watchdog: (raw.watchdog_secs > 0).then(|| Duration::from_secs(raw.watchdog_secs)),
            alert_after: Duration::from_secs(raw.alert_after_secs),
            takeover_after: Duration::from_secs(raw.takeover_after_secs),
            request_timeout: Duration::from_millis(raw.request_timeout_ms),
            commission_wait: Duration::from_millis(raw.commission_wait_ms),
            order_ref_prefix: raw.order_ref_prefix,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<IbkrConfig, IbkrError> {
        let raw: RawIbkrConfig = toml::from_str(text).unwrap();
        IbkrConfig::try_from(raw)
    }

    #[test]
    fn defaults_are_a_paper_gateway_on_4002() {
        let c = IbkrConfig::paper();
        assert_eq!(
            (c.address().as_str(), c.client_id, c.mode),
            ("127.0.0.1:4002", 17, Mode::Paper)
        );
    }

    #[test]
    fn live_mode_needs_the_explicit_opt_in() {
        let e = parse("mode = \"live\"").unwrap_err();
        assert!(matches!(e, IbkrError::LiveNotAllowed { .. }), "{e}");
        assert!(e.to_string().contains("allow_live = true"));
        let c = parse("mode = \"live\"\nallow_live = true").unwrap();
        assert_eq!(c.port, 4001);
    }

    #[test]
    fn live_port_in_paper_mode_needs_the_opt_in_too() {
        assert!(matches!(
            parse("port = 4001"),
            Err(IbkrError::LiveNotAllowed { .. })
        ));
        assert!(parse("port = 4001\nallow_live = true").is_ok());
    }

    #[test]
    fn rejects_bar_length_not_a_multiple_of_five() {
        let e = parse("bar_seconds = 7").unwrap_err();
        assert!(e.to_string().contains("bar_seconds"), "{e}");
    }

    #[test]
    fn rejects_a_message_budget_above_ibs_limit() {
        assert!(parse("max_messages_per_sec = 51").is_err());
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<RawIbkrConfig>("prot = 1").is_err());
    }

    #[test]
    fn symbols_are_upper_cased_and_deduplicated() {
        let c = parse("symbols = [\"aapl\", \"AAPL\", \"spy\"]").unwrap();
        assert_eq!(c.symbols, vec!["AAPL", "SPY"]);
    }
}
