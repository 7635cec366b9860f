//! Run-time control of the risk engine: configuration and limits, kill
//! switches, halts and the trading gate. Every change returns a
//! [`ChangeRecord`] for the caller to journal (R23).

use wasmtrade_model::{Money, StrategyId, Timestamp};

use crate::audit::{self, ChangeRecord};
use crate::config::{Limits, RiskConfig, RiskConfigError};
use crate::engine::Engine;
use crate::killswitch::{HaltScope, KillScope, KillSwitchState, Latch};

/// Which limits a [`Engine::set_limits`] call replaces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LimitScope {
    /// The account limits.
    Account,
    /// One strategy's limits.
    Strategy(StrategyId),
    /// One instrument's limits (by symbol).
    Instrument(String),
}

impl Engine {
    /// The configuration in force.
    pub fn config(&self) -> &RiskConfig {
        &self.config
    }

    /// Replaces the configuration without an audit record (kill switches
    /// and halts are kept). Prefer [`Engine::replace_config`].
    pub fn set_config(&mut self, config: RiskConfig) {
        self.config = config;
    }

    /// Replaces the configuration; returns the audit record.
    pub fn replace_config(&mut self, config: RiskConfig, who: &str, now: Timestamp) -> ChangeRecord {
        let old = std::mem::replace(&mut self.config, config);
        let loosens = old.loosened_by(&self.config);
        let (o, n) = (&old.raw, &self.config.raw);
        ChangeRecord {
            who: who.to_string(),
            when: now,
            what: "config".into(),
            old: audit::json(o),
            new: audit::json(n),
            loosens,
        }
    }

    /// Replaces the limits of one scope (validated like a file); returns
    /// the audit record.
    pub fn set_limits(
        &mut self,
        scope: &LimitScope,
        limits: Limits,
        who: &str,
        now: Timestamp,
    ) -> Result<ChangeRecord, RiskConfigError> {
        let raw = &self.config.raw;
        let (what, old) = match scope {
            LimitScope::Account => ("account".to_string(), Some(raw.account.clone())),
            LimitScope::Strategy(id) => (
                format!("strategies.{id}"),
                raw.strategies.get(id.as_str()).cloned(),
            ),
            LimitScope::Instrument(sym) => (format!("instruments.{sym}"), raw.instruments.get(sym).cloned()),
        };
        let new = limits.clone();
        let config = self.config.clone().edit(|raw| match scope {
            LimitScope::Account => raw.account = limits,
            LimitScope::Strategy(id) => {
                raw.strategies.insert(id.to_string(), limits);
            }
            LimitScope::Instrument(sym) => {
                raw.instruments.insert(sym.clone(), limits);
            }
        })?;
        self.config = config;
        Ok(ChangeRecord {
            who: who.to_string(),
            when: now,
            what,
            loosens: audit::loosens(old.as_ref().unwrap_or(&Limits::default()), &new),
            old: audit::json(&old),
            new: audit::json(&new),
        })
    }

    /// Turns a kill switch on or off without an audit record (tests,
    /// backtests). Prefer [`Engine::engage_kill_switch`] and
    /// [`Engine::reset_kill_switch`].
    pub fn set_kill_switch(&mut self, scope: &KillScope, on: bool) {
        let latch = on.then(|| Latch {
            by: "api".into(),
            at: Timestamp::EPOCH,
            reason: String::new(),
        });
        self.latches.set(scope, latch);
    }

    /// Engages a kill switch (latched until [`Engine::reset_kill_switch`]).
    /// While one applies, only risk-reducing orders (shrinking |position|
    /// without flipping, counting open orders) pass. The caller then applies
    /// [`RiskConfig::kill_policy`] (cancel working orders, flatten).
    pub fn engage_kill_switch(
        &mut self,
        scope: &KillScope,
        who: &str,
        reason: &str,
        now: Timestamp,
    ) -> ChangeRecord {
        let latch = Latch {
            by: who.to_string(),
            at: now,
            reason: reason.to_string(),
        };
        let new = audit::json(&latch);
        let old = self.latches.set(scope, Some(latch));
        kill_record(scope, who, now, &old, new, false)
    }

    /// Releases a kill switch (a person's decision).
    pub fn reset_kill_switch(&mut self, scope: &KillScope, who: &str, now: Timestamp) -> ChangeRecord {
        let old = self.latches.set(scope, None);
        kill_record(scope, who, now, &old, "null".into(), old.is_some())
    }

    /// Whether the kill switch of exactly this scope is on.
    pub fn kill_switch(&self, scope: &KillScope) -> bool {
        self.latches.latch(scope).is_some()
    }

    /// Every kill switch and halt, to persist.
    pub fn kill_switches(&self) -> &KillSwitchState {
        &self.latches
    }

    /// Restores persisted kill switches and halts (after a restart).
    pub fn restore_kill_switches(&mut self, state: KillSwitchState) {
        self.latches = state;
    }

    /// Lifts a halt (daily loss, drawdown, repeated executions): a person's
    /// decision. The execution window of the scope is cleared and the
    /// drawdown is measured from the current P&L; a daily loss still beyond
    /// its limit halts again at the next [`Engine::on_pnl`].
    pub fn reenable(&mut self, scope: &HaltScope, who: &str, now: Timestamp) -> ChangeRecord {
        let old = self.latches.lift(scope);
        match scope {
            HaltScope::Account => {
                self.flow.account.executions = Default::default();
                self.pnl.account.reset_peak();
            }
            HaltScope::Strategy(id) => {
                if let Some(sf) = self.flow.strategies.get_mut(id) {
                    sf.counters.executions = Default::default();
                    sf.instruments
                        .values_mut()
                        .for_each(|c| c.executions = Default::default());
                }
                if let Some(p) = self.pnl.strategies.get_mut(id) {
                    p.reset_peak();
                }
            }
        }
        ChangeRecord {
            who: who.to_string(),
            when: now,
            what: match scope {
                HaltScope::Account => "halt.account".into(),
                HaltScope::Strategy(id) => format!("halt.strategy.{id}"),
            },
            loosens: old.is_some(),
            old: audit::json(&old),
            new: "null".into(),
        }
    }

    /// Opens or closes the trading gate (R21): closed, every new order and
    /// amendment is refused with `reconciliation-pending`.
    pub fn set_trading_gate(&mut self, open: bool, who: &str, now: Timestamp) -> ChangeRecord {
        let old = std::mem::replace(&mut self.gate_open, open);
        ChangeRecord {
            who: who.to_string(),
            when: now,
            what: "trading_gate".into(),
            old: audit::json(&old),
            new: audit::json(&open),
            loosens: open && !old,
        }
    }

    /// The account's P&L today (realised + unrealised, net of commissions),
    /// tracked while a daily-loss or drawdown limit is configured; `None`
    /// otherwise or before the first report.
    pub fn account_day_pnl(&self) -> Option<Money> {
        self.pnl.account.today()
    }

    /// Whether the trading gate is open.
    pub fn trading_gate(&self) -> bool {
        self.gate_open
    }
}

fn kill_record(
    scope: &KillScope,
    who: &str,
    now: Timestamp,
    old: &Option<Latch>,
    new: String,
    loosens: bool,
) -> ChangeRecord {
    ChangeRecord {
        who: who.to_string(),
        when: now,
        what: match scope {
            KillScope::Global => "kill_switch.global".into(),
            KillScope::Account => "kill_switch.account".into(),
            KillScope::Strategy(id) => format!("kill_switch.strategy.{id}"),
        },
        old: audit::json(old),
        new,
        loosens,
    }
}
