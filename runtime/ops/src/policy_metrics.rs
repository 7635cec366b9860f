//! Prometheus metrics of RL policies, the seed bot's figures: decisions
//! taken, cumulative reward, action latency and portfolio value, one series
//! per policy (label `policy`).
//!
//! | name | type | what |
//! |---|---|---|
//! | `wasmtrade_policy_steps_total` | counter | decisions taken |
//! | `wasmtrade_policy_reward_cumulative` | gauge | sum of rewards (change in equity) |
//! | `wasmtrade_policy_action_latency_seconds` | histogram | one `act` call into the guest |
//! | `wasmtrade_policy_portfolio_value` | gauge | equity at the last decision |
//!
//! Wire it up by wrapping the guest in [`Timed`] (latency) and giving the
//! `wasmtrade_policy::PolicyStrategy` an
//! [`PolicyMetrics::observer`] (steps, reward, value):
//!
//! ```
//! use prometheus_client::registry::Registry;
//! use wasmtrade_model::{PolicyAction, PolicyDecision, PolicyObserver, PolicyStats};
//! use wasmtrade_ops::PolicyMetrics;
//!
//! let metrics = PolicyMetrics::default();
//! let mut registry = Registry::default();
//! metrics.register(&mut registry);
//! let action = PolicyAction { decision: PolicyDecision::Hold, index: 1, probabilities: vec![0.2, 0.8], value: 0.1 };
//! let stats = PolicyStats { steps: 1, cumulative_reward: 2.5, portfolio_value: 10_002.5 };
//! metrics.observer("clstm").on_step(&stats, &action);
//! let mut text = String::new();
//! prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
//! assert!(text.contains(r#"wasmtrade_policy_steps_total{policy="clstm"} 1"#));
//! ```

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use wasmtrade_model::{
    GuestContext, GuestFault, GuestInfo, ModelError, ModelInfo, Observation, PolicyAction, PolicyGuest,
    PolicyObserver, PolicyStats,
};

/// Buckets of `wasmtrade_policy_action_latency_seconds`: 10 µs to 100 ms.
const LATENCY_BUCKETS: [f64; 13] = [
    0.000_01, 0.000_02, 0.000_05, 0.000_1, 0.000_2, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PolicyLabels {
    policy: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// The policy metric families; cheap to clone (shared handles).
#[derive(Clone, Debug)]
pub struct PolicyMetrics {
    steps: Family<PolicyLabels, Counter>,
    reward: Family<PolicyLabels, FloatGauge>,
    latency: Family<PolicyLabels, Histogram>,
    portfolio: Family<PolicyLabels, FloatGauge>,
}

impl Default for PolicyMetrics {
    fn default() -> Self {
        Self {
            steps: Family::default(),
            reward: Family::default(),
            latency: Family::new_with_constructor(|| Histogram::new(LATENCY_BUCKETS)),
            portfolio: Family::default(),
        }
    }
}

impl PolicyMetrics {
    /// Adds the four families to `registry` (names prefixed `wasmtrade_policy_`).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "wasmtrade_policy_steps",
            "Decisions taken by the policy",
            self.steps.clone(),
        );
        registry.register(
            "wasmtrade_policy_reward_cumulative",
            "Sum of the policy's rewards (change in equity between decisions)",
            self.reward.clone(),
        );
        registry.register(
            "wasmtrade_policy_action_latency_seconds",
            "Time of one act call into the policy guest",
            self.latency.clone(),
        );
        registry.register(
            "wasmtrade_policy_portfolio_value",
            "Equity of the policy's account at its last decision",
            self.portfolio.clone(),
        );
    }

    fn labels(policy: &str) -> PolicyLabels {
        PolicyLabels {
            policy: policy.to_string(),
        }
    }

    /// Records the time one `act` took.
    pub fn observe_latency(&self, policy: &str, latency: Duration) {
        self.latency
            .get_or_create(&Self::labels(policy))
            .observe(latency.as_secs_f64());
    }

    /// An observer for a `wasmtrade_policy::PolicyStrategy`
    /// that feeds the steps, reward and portfolio value of `policy`.
    pub fn observer(&self, policy: &str) -> Arc<dyn PolicyObserver> {
        Arc::new(Observer {
            metrics: self.clone(),
            labels: Self::labels(policy),
        })
    }
}

struct Observer {
    metrics: PolicyMetrics,
    labels: PolicyLabels,
}

impl PolicyObserver for Observer {
    fn on_step(&self, stats: &PolicyStats, _action: &PolicyAction) {
        self.metrics.steps.get_or_create(&self.labels).inc();
        self.metrics
            .reward
            .get_or_create(&self.labels)
            .set(stats.cumulative_reward);
        self.metrics
            .portfolio
            .get_or_create(&self.labels)
            .set(stats.portfolio_value);
    }
}

/// A [`PolicyGuest`] whose `act` calls are timed into
/// `wasmtrade_policy_action_latency_seconds`.
pub struct Timed<P> {
    inner: P,
    metrics: PolicyMetrics,
    policy: String,
}

impl<P> Timed<P> {
    /// Wraps `inner`, recording under the label `policy`.
    pub fn new(inner: P, metrics: PolicyMetrics, policy: &str) -> Self {
        Self {
            inner,
            metrics,
            policy: policy.to_string(),
        }
    }

    /// The wrapped guest.
    pub fn inner(&mut self) -> &mut P {
        &mut self.inner
    }
}

impl<P: PolicyGuest> PolicyGuest for Timed<P> {
    fn info(&self) -> &GuestInfo {
        self.inner.info()
    }

    fn context(&mut self) -> &mut GuestContext {
        self.inner.context()
    }

    fn load(&mut self, model: &[u8]) -> Result<ModelInfo, ModelError> {
        self.inner.load(model)
    }

    fn take_fuel_used(&mut self) -> u64 {
        self.inner.take_fuel_used()
    }

    #[allow(
        clippy::disallowed_methods,
        reason = "latency is an operational metric, never part of a decision"
    )]
    fn act(&mut self, observation: &Observation) -> Result<PolicyAction, GuestFault> {
        let start = std::time::Instant::now();
        let out = self.inner.act(observation);
        self.metrics.observe_latency(&self.policy, start.elapsed());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtrade_model::PolicyDecision;

    #[test]
    fn renders_the_four_policy_families_per_policy() {
        let m = PolicyMetrics::default();
        let mut registry = Registry::default();
        m.register(&mut registry);
        let action = PolicyAction {
            decision: PolicyDecision::Target(1.0),
            index: 2,
            probabilities: vec![0.1, 0.2, 0.7],
            value: 0.3,
        };
        let obs = m.observer("p1");
        for steps in 1..=3 {
            let stats = PolicyStats {
                steps,
                cumulative_reward: -1.5,
                portfolio_value: 9_998.5,
            };
            obs.on_step(&stats, &action);
        }
        m.observe_latency("p1", Duration::from_micros(150));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for line in [
            r#"wasmtrade_policy_steps_total{policy="p1"} 3"#,
            r#"wasmtrade_policy_reward_cumulative{policy="p1"} -1.5"#,
            r#"wasmtrade_policy_portfolio_value{policy="p1"} 9998.5"#,
            r#"wasmtrade_policy_action_latency_seconds_count{policy="p1"} 1"#,
            r#"wasmtrade_policy_action_latency_seconds_bucket{le="0.0002",policy="p1"} 1"#,
        ] {
            assert!(text.contains(line), "missing `{line}` in\n{text}");
        }
    }
}
