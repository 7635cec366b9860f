//! The shadow gate: a candidate model is promoted by evidence, not by hand.
//!
//! A candidate (a new instance of the policy's guest that loaded the new
//! weights) sees every observation the active model sees, on the same bar,
//! and decides too; its decisions are recorded, never traded. Both are
//! scored on the same window by what their targets would have earned — a
//! hypothetical book per model, marked at each bar's close, paying
//! [`GateConfig::turnover_cost`] on every change of position. After
//! [`GateConfig::decisions`] decisions the gate decides once:
//!
//! - **promote** when the candidate's composite score beats the active
//!   model's by at least [`GateConfig::margin`] and its maximum drawdown is
//!   not worse by more than [`GateConfig::max_drawdown_increase`]: the
//!   candidate becomes the running policy between two events, keeping the
//!   feature windows, working orders and counters;
//! - **keep** otherwise: the active model keeps running, the candidate is
//!   dropped (it stays a stored version a person can still activate);
//! - **refuse** at once when the candidate faults, or answers with a
//!   non-finite target or probabilities (NaN weights).
//!
//! The composite score of a window of `n` decisions with per-decision
//! returns `r` (net of turnover costs) is
//! `sharpe − 2 × max_drawdown`, where `sharpe = mean(r) / std(r) × √n`
//! (clamped to ±1000 when `r` barely varies). Only [`PolicyDecision::Target`]
//! decisions move the hypothetical position; `Hold` and explicit orders keep
//! it.

use wasmtrade_model::{GuestFault, ModelError, Observation, PolicyAction, PolicyDecision, PolicyGuest};

/// How a candidate is evaluated (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GateConfig {
    /// Decisions the candidate makes beside the active model before the
    /// gate decides.
    pub decisions: u32,
    /// How much higher the candidate's composite score must be.
    pub margin: f64,
    /// How much larger (as a fraction of equity) the candidate's maximum
    /// drawdown may be than the active model's.
    pub max_drawdown_increase: f64,
    /// Cost of trading one unit of equity, as a fraction (0.0005 = 5 bp).
    pub turnover_cost: f64,
}

impl Default for GateConfig {
    fn default() -> Self {
        Self {
            decisions: 500,
            margin: 0.1,
            max_drawdown_increase: 0.05,
            turnover_cost: 0.0005,
        }
    }
}

/// Largest evaluation window accepted.
pub const MAX_GATE_DECISIONS: u32 = 1_000_000;

impl GateConfig {
    /// Every problem with the configuration, or `Ok`.
    pub fn check(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        if !(1..=MAX_GATE_DECISIONS).contains(&self.decisions) {
            problems.push(format!(
                "decisions is {}: give 1 to {MAX_GATE_DECISIONS}",
                self.decisions
            ));
        }
        for (name, v) in [
            ("margin", self.margin),
            ("max_drawdown_increase", self.max_drawdown_increase),
            ("turnover_cost", self.turnover_cost),
        ] {
            if !v.is_finite() || v < 0.0 {
                problems.push(format!("{name} is {v}: give a finite number ≥ 0"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!("invalid shadow gate: {}", problems.join("; ")))
        }
    }
}

/// The figures of one model over the evaluation window.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Scores {
    /// Decisions scored.
    pub decisions: u32,
    /// Compounded return of the hypothetical book (0.02 = +2 %).
    pub total_return: f64,
    /// Mean over standard deviation of the per-decision returns, × √n.
    pub sharpe: f64,
    /// Largest fall from a peak, as a fraction of the peak.
    pub max_drawdown: f64,
    /// Mean absolute change of position per decision (fraction of equity).
    pub turnover: f64,
    /// `sharpe − 2 × max_drawdown`: what the gate compares.
    pub composite: f64,
}

/// What the gate decided about a candidate.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// The candidate runs now.
    Promote,
    /// The active model keeps running; the candidate was not better enough.
    Keep,
    /// The candidate failed (fault, non-finite output) and was dropped.
    Refuse {
        /// Why.
        reason: String,
    },
}

impl Verdict {
    /// The label of the verdict (`promote`, `keep`, `refuse`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::Promote => "promote",
            Verdict::Keep => "keep",
            Verdict::Refuse { .. } => "refuse",
        }
    }
}

/// A decision of the gate, with its evidence.
#[derive(Clone, Debug, PartialEq)]
pub struct ShadowOutcome {
    /// The candidate's model version.
    pub version: u64,
    /// What was decided.
    pub verdict: Verdict,
    /// The candidate's figures.
    pub candidate: Scores,
    /// The active model's figures over the same window.
    pub active: Scores,
}

/// A running evaluation, as listings show it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ShadowProgress {
    /// The candidate's model version.
    pub version: u64,
    /// The gate it is evaluated by.
    pub gate: GateConfig,
    /// The candidate's figures so far.
    pub candidate: Scores,
    /// The active model's figures over the same decisions.
    pub active: Scores,
}

/// What one model's targets would have earned.
#[derive(Clone, Debug)]
struct Book {
    position: f64,
    equity: f64,
    peak: f64,
    max_drawdown: f64,
    sum: f64,
    sum_sq: f64,
    steps: u32,
    traded: f64,
}

impl Default for Book {
    fn default() -> Self {
        Self {
            position: 0.0,
            equity: 1.0,
            peak: 1.0,
            max_drawdown: 0.0,
            sum: 0.0,
            sum_sq: 0.0,
            steps: 0,
            traded: 0.0,
        }
    }
}

impl Book {
    /// The bar that just closed moved the price by `price_return`: the
    /// position held over it earns that; then it moves to `target` (none:
    /// it stays), paying `cost` per unit traded.
    fn step(&mut self, price_return: f64, target: Option<f64>, cost: f64) {
        let mut r = self.position * price_return;
        if let Some(t) = target {
            let t = t.clamp(-1.0, 1.0);
            let trade = (t - self.position).abs();
            r -= cost * trade;
            self.traded += trade;
            self.position = t;
        }
        self.equity *= (1.0 + r).max(0.0);
        self.peak = self.peak.max(self.equity);
        if self.peak > 0.0 {
            self.max_drawdown = self.max_drawdown.max(1.0 - self.equity / self.peak);
        }
        self.sum += r;
        self.sum_sq += r * r;
        self.steps += 1;
    }

    fn scores(&self) -> Scores {
        let n = f64::from(self.steps.max(1));
        let mean = self.sum / n;
        let var = (self.sum_sq / n - mean * mean).max(0.0);
        let sharpe = if mean == 0.0 {
            0.0
        } else {
            (mean / var.sqrt().max(1e-12) * n.sqrt()).clamp(-1000.0, 1000.0)
        };
        Scores {
            decisions: self.steps,
            total_return: self.equity - 1.0,
            sharpe,
            max_drawdown: self.max_drawdown,
            turnover: self.traded / n,
            composite: sharpe - 2.0 * self.max_drawdown,
        }
    }
}

/// The target a decision asks for, if it is one.
fn target(action: &PolicyAction) -> Option<f64> {
    match action.decision {
        PolicyDecision::Target(t) => Some(t),
        PolicyDecision::Hold | PolicyDecision::Orders(_) => None,
    }
}

/// Why an action cannot be trusted, if it cannot.
fn untrustworthy(action: &PolicyAction) -> Option<String> {
    if let Some(t) = target(action)
        && !t.is_finite()
    {
        return Some(format!(
            "the candidate asked for a non-finite target ({t}): NaN or infinite weights?"
        ));
    }
    if action.probabilities.iter().any(|p| !p.is_finite()) || !action.value.is_finite() {
        return Some(
            "the candidate's action probabilities or value are not finite: NaN or infinite weights?".into(),
        );
    }
    None
}

/// A candidate under evaluation beside the active model.
pub(crate) struct Shadow<P> {
    pub(crate) guest: P,
    version: u64,
    gate: GateConfig,
    candidate: Book,
    active: Book,
    last_close: Option<f64>,
}

/// What a step of the shadow led to.
pub(crate) enum Step {
    /// Still evaluating.
    Continue,
    /// The gate decided; on [`Verdict::Promote`] the caller runs the candidate.
    Decided(ShadowOutcome),
}

impl<P: PolicyGuest> Shadow<P> {
    pub(crate) fn new(guest: P, version: u64, gate: GateConfig) -> Result<Self, ModelError> {
        gate.check().map_err(|message| ModelError::Refused { message })?;
        Ok(Self {
            guest,
            version,
            gate,
            candidate: Book::default(),
            active: Book::default(),
            last_close: None,
        })
    }

    pub(crate) fn version(&self) -> u64 {
        self.version
    }

    pub(crate) fn progress(&self) -> ShadowProgress {
        ShadowProgress {
            version: self.version,
            gate: self.gate,
            candidate: self.candidate.scores(),
            active: self.active.scores(),
        }
    }

    fn outcome(&self, verdict: Verdict) -> ShadowOutcome {
        ShadowOutcome {
            version: self.version,
            verdict,
            candidate: self.candidate.scores(),
            active: self.active.scores(),
        }
    }

    /// The candidate decides on `obs` (the bar closed at `close`) beside the
    /// active model's `active` action.
    pub(crate) fn step(&mut self, obs: &Observation, close: f64, active: &PolicyAction) -> Step {
        let price_return = match self.last_close {
            Some(prev) if prev > 0.0 && close.is_finite() => close / prev - 1.0,
            _ => 0.0,
        };
        self.last_close = Some(close);
        let action = match self.guest.act(obs) {
            Ok(a) => a,
            Err(fault) => return Step::Decided(self.refuse(&fault)),
        };
        if let Some(reason) = untrustworthy(&action) {
            return Step::Decided(self.outcome(Verdict::Refuse { reason }));
        }
        let cost = self.gate.turnover_cost;
        self.candidate.step(price_return, target(&action), cost);
        self.active.step(price_return, target(active), cost);
        if self.candidate.steps < self.gate.decisions {
            return Step::Continue;
        }
        let (c, a) = (self.candidate.scores(), self.active.scores());
        let better = c.composite >= a.composite + self.gate.margin;
        let risk_ok = c.max_drawdown <= a.max_drawdown + self.gate.max_drawdown_increase;
        Step::Decided(self.outcome(if better && risk_ok {
            Verdict::Promote
        } else {
            Verdict::Keep
        }))
    }

    fn refuse(&self, fault: &GuestFault) -> ShadowOutcome {
        self.outcome(Verdict::Refuse {
            reason: format!("the candidate faulted: {fault}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_book_earns_its_position_times_the_move_net_of_costs() {
        let mut b = Book::default();
        b.step(0.0, Some(1.0), 0.001);
        assert!((b.equity - 0.999).abs() < 1e-12);
        b.step(0.10, None, 0.001);
        assert!((b.equity - 0.999 * 1.1).abs() < 1e-12);
        // Reversing trades two units.
        b.step(0.0, Some(-1.0), 0.001);
        assert!((b.traded - 3.0).abs() < 1e-12);
        b.step(0.05, None, 0.001);
        assert!(b.equity < 0.999 * 1.1 * 0.998);
        assert!(b.max_drawdown > 0.05);
        let s = b.scores();
        assert_eq!(s.decisions, 4);
        assert!((s.composite - (s.sharpe - 2.0 * s.max_drawdown)).abs() < 1e-12);
    }

    #[test]
    fn a_flat_book_scores_zero() {
        let mut b = Book::default();
        for _ in 0..10 {
            b.step(0.01, None, 0.0);
        }
        assert_eq!(b.scores().composite, 0.0);
        assert_eq!(b.scores().total_return, 0.0);
    }

    #[test]
    fn the_gate_configuration_is_checked() {
        assert!(GateConfig::default().check().is_ok());
        let bad = GateConfig {
            decisions: 0,
            margin: f64::NAN,
            max_drawdown_increase: -1.0,
            turnover_cost: f64::INFINITY,
        };
        let e = bad.check().unwrap_err();
        for word in ["decisions", "margin", "max_drawdown_increase", "turnover_cost"] {
            assert!(e.contains(word), "{e}");
        }
    }
}
