//! The `[cluster]` settings: when the integration is active, how long a
//! Lease lasts and how often it is renewed, and which StatefulSet ordinal
//! owns which broker accounts (and, optionally, which strategies).
//!
//! [`RawClusterConfig`] is what TOML deserialises into (every field has a
//! documented default, unknown keys are refused); [`ClusterConfig`] is the
//! validated form, built with [`RawClusterConfig::validate`], which reports
//! every problem at once.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, ConfigProblem};
use crate::lease::lease_name;

/// When the integration turns itself on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Active when `KUBERNETES_SERVICE_HOST` is set (the kubelet sets it in
    /// every container). Default.
    #[default]
    Auto,
    /// Always active (e.g. out of cluster with a kubeconfig, for a lab).
    On,
    /// Never active, even in a pod.
    Off,
}

/// The broker accounts (and strategies) one StatefulSet ordinal owns.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PodAssignment {
    /// The StatefulSet ordinal (`wasmtrade-2` has ordinal 2).
    pub ordinal: u32,
    /// Broker account ids this pod trades, e.g. `["DU123456"]`. Each gets
    /// its own Lease; no account may be listed under two ordinals.
    pub accounts: Vec<String>,
    /// Strategies this pod runs; absent = every strategy.
    pub strategies: Option<Vec<String>>,
}

impl PodAssignment {
    /// Whether this pod runs `strategy` (true when no list is configured).
    pub fn runs_strategy(&self, strategy: &str) -> bool {
        self.strategies
            .as_ref()
            .is_none_or(|list| list.iter().any(|s| s == strategy))
    }
}

/// The `[cluster]` table as written in TOML. Defaults:
///
/// ```toml
/// [cluster]
/// mode = "auto"               # auto | on | off
/// namespace = ""              # "" = the pod's namespace (POD_NAMESPACE / service account)
/// lease_duration_secs = 15    # how long a Lease stays valid without renewal
/// renew_every_secs = 5        # renewal period of a held Lease
/// fence_margin_ms = 3000      # the fence closes this long before the Lease can expire
/// events = true               # publish Kubernetes Events
///
/// [[cluster.pods]]
/// ordinal = 0
/// accounts = ["DU123456"]
/// # strategies = ["sma"]      # absent = every strategy
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawClusterConfig {
    /// When the integration is active. Default `auto`.
    pub mode: Mode,
    /// Namespace of the Leases and Events; empty = the pod's own. Default "".
    pub namespace: String,
    /// Seconds a Lease stays valid after its last renewal
    /// (`leaseDurationSeconds`). Default 15.
    pub lease_duration_secs: u64,
    /// Seconds between two renewals of a held Lease. Default 5.
    pub renew_every_secs: u64,
    /// Milliseconds before the Lease could expire (as other pods see it) at
    /// which the fence closes: covers clock skew between nodes and the time
    /// between a fence check and the broker send. Default 3000.
    pub fence_margin_ms: u64,
    /// Publish Kubernetes Events (swaps, quarantines, kill switch, Leases).
    /// Default true.
    pub events: bool,
    /// Ordinal → accounts (and strategies). An ordinal without an entry owns
    /// nothing. Default: none.
    pub pods: Vec<PodAssignment>,
}

impl Default for RawClusterConfig {
    fn default() -> Self {
        Self {
            mode: Mode::Auto,
            namespace: String::new(),
            lease_duration_secs: 15,
            renew_every_secs: 5,
            fence_margin_ms: 3000,
            events: true,
            pods: Vec::new(),
        }
    }
}

/// Validated Lease timing. The fence of a held Lease stays open for
/// `lease_duration - fence_margin` after the last renewal was *sent*.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseTiming {
    lease_duration: Duration,
    renew_every: Duration,
    fence_margin: Duration,
}

impl LeaseTiming {
    /// Timing from durations. Requires whole seconds of `lease_duration`
    /// (the API field is in seconds), a non-zero margin and renewal period,
    /// and room for two renewals before the fence closes:
    /// `2 × renew_every + fence_margin ≤ lease_duration`.
    pub fn new(
        lease_duration: Duration,
        renew_every: Duration,
        fence_margin: Duration,
    ) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        Self::check(lease_duration, renew_every, fence_margin, &mut problems);
        if problems.is_empty() {
            Ok(Self {
                lease_duration,
                renew_every,
                fence_margin,
            })
        } else {
            Err(ConfigError { problems })
        }
    }

    fn check(lease: Duration, renew: Duration, margin: Duration, out: &mut Vec<ConfigProblem>) {
        if lease.subsec_nanos() != 0 || lease.as_secs() == 0 || lease.as_secs() > 3600 {
            out.push(ConfigProblem::LeaseDuration {
                lease_ms: lease.as_millis(),
            });
        }
        if renew.is_zero() || margin.is_zero() || renew * 2 + margin > lease {
            out.push(ConfigProblem::Timing {
                lease_ms: lease.as_millis(),
                renew_ms: renew.as_millis(),
                margin_ms: margin.as_millis(),
            });
        }
    }

    /// `leaseDurationSeconds`.
    pub fn lease_duration(&self) -> Duration {
        self.lease_duration
    }

    /// Period between renewals of a held Lease, and between acquisition
    /// attempts of a Lease held by another pod.
    pub fn renew_every(&self) -> Duration {
        self.renew_every
    }

    /// How long before the Lease can expire the fence closes.
    pub fn fence_margin(&self) -> Duration {
        self.fence_margin
    }

    /// How long the fence stays open after a successful renewal was sent.
    pub fn fence_window(&self) -> Duration {
        self.lease_duration.saturating_sub(self.fence_margin)
    }

    /// Wait before retrying after a failed renewal (half the period).
    pub(crate) fn retry_after_failure(&self) -> Duration {
        (self.renew_every / 2).max(Duration::from_millis(10))
    }

    /// Timeout of one API request: a renewal slower than the period is as
    /// good as failed.
    pub(crate) fn request_timeout(&self) -> Duration {
        self.renew_every
    }
}

/// The validated `[cluster]` settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterConfig {
    mode: Mode,
    namespace: Option<String>,
    timing: LeaseTiming,
    events: bool,
    pods: BTreeMap<u32, PodAssignment>,
}

impl RawClusterConfig {
    /// Validates the settings, reporting every problem at once.
    pub fn validate(&self) -> Result<ClusterConfig, ConfigError> {
        let mut problems = Vec::new();
        let lease = Duration::from_secs(self.lease_duration_secs);
        let renew = Duration::from_secs(self.renew_every_secs);
        let margin = Duration::from_millis(self.fence_margin_ms);
        LeaseTiming::check(lease, renew, margin, &mut problems);
        if !self.namespace.is_empty() && !is_dns_label(&self.namespace) {
            problems.push(ConfigProblem::Namespace {
                namespace: self.namespace.clone(),
            });
        }
        let mut pods = BTreeMap::new();
        let mut owner_of: BTreeMap<String, (u32, String)> = BTreeMap::new();
        for pod in &self.pods {
            if pods.contains_key(&pod.ordinal) {
                problems.push(ConfigProblem::DuplicateOrdinal { ordinal: pod.ordinal });
                continue;
            }
            for account in &pod.accounts {
                check_account(pod.ordinal, account, &mut owner_of, &mut problems);
            }
            if let Some(strategies) = &pod.strategies
                && strategies.iter().any(|s| s.trim().is_empty())
            {
                problems.push(ConfigProblem::EmptyStrategy { ordinal: pod.ordinal });
            }
            pods.insert(pod.ordinal, pod.clone());
        }
        if !problems.is_empty() {
            return Err(ConfigError { problems });
        }
        Ok(ClusterConfig {
            mode: self.mode,
            namespace: (!self.namespace.is_empty()).then(|| self.namespace.clone()),
            timing: LeaseTiming {
                lease_duration: lease,
                renew_every: renew,
                fence_margin: margin,
            },
            events: self.events,
            pods,
        })
    }
}

fn check_account(
    ordinal: u32,
    account: &str,
    owner_of: &mut BTreeMap<String, (u32, String)>,
    problems: &mut Vec<ConfigProblem>,
) {
    let Ok(lease) = lease_name(account) else {
        problems.push(ConfigProblem::BadAccount {
            ordinal,
            account: account.to_string(),
        });
        return;
    };
    match owner_of.get(&lease) {
        Some((first, _)) if *first == ordinal => problems.push(ConfigProblem::DuplicateAccount {
            ordinal,
            account: account.to_string(),
        }),
        Some((first, other_account)) => problems.push(ConfigProblem::AccountOwnedTwice {
            account: account.to_string(),
            other_account: other_account.clone(),
            first: *first,
            second: ordinal,
            lease,
        }),
        None => {
            owner_of.insert(lease, (ordinal, account.to_string()));
        }
    }
}

impl Default for ClusterConfig {
    fn default() -> Self {
        // The defaults are valid by construction (checked by a test).
        Self {
            mode: Mode::Auto,
            namespace: None,
            timing: LeaseTiming {
                lease_duration: Duration::from_secs(15),
                renew_every: Duration::from_secs(5),
                fence_margin: Duration::from_millis(3000),
            },
            events: true,
            pods: BTreeMap::new(),
        }
    }
}

impl ClusterConfig {
    /// When the integration is active.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The configured namespace, if any (else the pod's own).
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// Lease timing.
    pub fn timing(&self) -> LeaseTiming {
        self.timing
    }

    /// Replaces the Lease timing (tests and simulations use sub-second
    /// timings that TOML, in whole seconds, cannot express).
    pub fn with_timing(mut self, timing: LeaseTiming) -> Self {
        self.timing = timing;
        self
    }

    /// Whether Kubernetes Events are published.
    pub fn events_enabled(&self) -> bool {
        self.events
    }

    /// Turns Event publishing on or off.
    pub fn with_events(mut self, enabled: bool) -> Self {
        self.events = enabled;
        self
    }

    /// What the pod with `ordinal` owns; `None` = nothing.
    pub fn assignment(&self, ordinal: u32) -> Option<&PodAssignment> {
        self.pods.get(&ordinal)
    }
}

/// An RFC 1123 label (namespaces): lowercase alphanumerics and '-', at most
/// 63 characters, starting and ending alphanumeric.
pub(crate) fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> RawClusterConfig {
        #[derive(Deserialize)]
        struct Root {
            cluster: RawClusterConfig,
        }
        match toml::from_str::<Root>(toml_text) {
            Ok(root) => root.cluster,
            Err(e) => panic!("{e}"),
        }
    }

    fn problems(raw: &RawClusterConfig) -> Vec<String> {
        match raw.validate() {
            Ok(_) => Vec::new(),
            Err(e) => e.problems.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn defaults_are_valid_and_match_the_validated_default() {
        let validated = RawClusterConfig::default().validate();
        assert_eq!(validated.ok(), Some(ClusterConfig::default()));
    }

    #[test]
    fn parses_the_documented_example() {
        let raw = parse(
            r#"
            [cluster]
            lease_duration_secs = 15
            renew_every_secs = 5
            [[cluster.pods]]
            ordinal = 0
            accounts = ["DU123456"]
            [[cluster.pods]]
            ordinal = 1
            accounts = ["DU999999", "U1234567"]
            strategies = ["sma"]
            "#,
        );
        let config = match raw.validate() {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(config.timing().fence_window(), Duration::from_secs(12));
        let zero = config.assignment(0).map(|a| a.accounts.clone());
        assert_eq!(zero, Some(vec!["DU123456".to_string()]));
        let one = config.assignment(1);
        assert!(one.is_some_and(|a| a.runs_strategy("sma") && !a.runs_strategy("rsi")));
        assert!(config.assignment(0).is_some_and(|a| a.runs_strategy("anything")));
        assert!(config.assignment(7).is_none());
    }

    #[test]
    fn refuses_unknown_keys() {
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Root {
            cluster: RawClusterConfig,
        }
        let err = toml::from_str::<Root>("[cluster]\nlease_secs = 3\n");
        assert!(err.is_err_and(|e| e.to_string().contains("unknown field `lease_secs`")));
    }

    #[test]
    fn reports_every_problem_at_once() {
        let raw = RawClusterConfig {
            lease_duration_secs: 10,
            renew_every_secs: 5,
            fence_margin_ms: 1000,
            namespace: "Trading_NS".into(),
            pods: vec![
                PodAssignment {
                    ordinal: 0,
                    accounts: vec!["DU1".into(), "".into()],
                    strategies: Some(vec![" ".into()]),
                },
                PodAssignment {
                    ordinal: 1,
                    accounts: vec!["du1".into()],
                    strategies: None,
                },
                PodAssignment {
                    ordinal: 1,
                    accounts: vec![],
                    strategies: None,
                },
            ],
            ..RawClusterConfig::default()
        };
        let p = problems(&raw);
        assert_eq!(p.len(), 6, "{p:#?}");
        assert!(p[0].contains("cluster.renew_every_secs"), "{}", p[0]);
        assert!(p[1].contains("cluster.namespace"), "{}", p[1]);
        assert!(p[2].contains("cluster.pods[ordinal=0].accounts"), "{}", p[2]);
        assert!(p[3].contains("strategies"), "{}", p[3]);
        assert!(
            p[4].contains("`du1`") && p[4].contains("ordinals 0 and 1"),
            "{}",
            p[4]
        );
        assert!(p[5].contains("ordinal 1 is listed twice"), "{}", p[5]);
    }

    #[test]
    fn refuses_a_zero_or_huge_lease() {
        for secs in [0, 3601] {
            let raw = RawClusterConfig {
                lease_duration_secs: secs,
                ..RawClusterConfig::default()
            };
            let p = problems(&raw);
            assert!(
                p.iter().any(|p| p.contains("cluster.lease_duration_secs")),
                "{p:?}"
            );
        }
    }

    #[test]
    fn timing_allows_sub_second_renewals_for_tests() {
        let t = LeaseTiming::new(
            Duration::from_secs(1),
            Duration::from_millis(200),
            Duration::from_millis(300),
        );
        assert!(t.is_ok_and(|t| t.fence_window() == Duration::from_millis(700)));
        let bad = LeaseTiming::new(
            Duration::from_millis(1500),
            Duration::from_millis(200),
            Duration::from_millis(300),
        );
        assert!(bad.is_err());
    }

    #[test]
    fn refuses_the_same_account_twice_in_one_pod() {
        let raw = RawClusterConfig {
            pods: vec![PodAssignment {
                ordinal: 3,
                accounts: vec!["DU1".into(), "DU1".into()],
                strategies: None,
            }],
            ..RawClusterConfig::default()
        };
        let p = problems(&raw);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains("twice"), "{}", p[0]);
    }
}
