//! Kill switches (R19) and automatic halts (R12 daily loss and drawdown,
//! R15 repeated executions): latched blocks that let only risk-reducing
//! orders through until a person resets them.
//!
//! Both live in one [`KillSwitchState`] so the caller can persist it and
//! restore it after a restart: a latch survives until someone resets it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use wasmtrade_model::{RejectCode, StrategyId, Timestamp};

/// Where a kill switch applies.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KillScope {
    /// Every order of the runtime.
    Global,
    /// Every order of the account.
    Account,
    /// One strategy's orders.
    Strategy(StrategyId),
}

impl KillScope {
    /// `global`, `account` or `strategy <id>`.
    pub fn describe(&self) -> String {
        match self {
            KillScope::Global => "global".into(),
            KillScope::Account => "account".into(),
            KillScope::Strategy(id) => format!("strategy {id}"),
        }
    }
}

/// Who engaged a latch, when and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Latch {
    /// Person or component that engaged it.
    pub by: String,
    /// When.
    pub at: Timestamp,
    /// Why, in words.
    pub reason: String,
}

/// Why risk halted a strategy or the account by itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HaltReason {
    /// R12: the day's loss passed `max_daily_loss`.
    DailyLoss,
    /// R12: the fall from the day's peak passed `max_drawdown`.
    Drawdown,
    /// R15: more executions than `max_executions` within the window.
    RepeatedExecutions,
}

impl HaltReason {
    /// The rejection code of orders refused because of this halt.
    pub const fn code(self) -> RejectCode {
        match self {
            HaltReason::DailyLoss => RejectCode::MaxDailyLoss,
            HaltReason::Drawdown => RejectCode::MaxDrawdown,
            HaltReason::RepeatedExecutions => RejectCode::RepeatedExecutions,
        }
    }
}

/// What a halt applies to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HaltScope {
    /// The whole account.
    Account,
    /// One strategy.
    Strategy(StrategyId),
}

impl HaltScope {
    /// `account` or `strategy <id>`.
    pub fn describe(&self) -> String {
        match self {
            HaltScope::Account => "account".into(),
            HaltScope::Strategy(id) => format!("strategy {id}"),
        }
    }
}

/// A halt risk imposed: returned by the `on_*` methods so the caller can
/// raise an alert (R24), and kept (latched) in the [`KillSwitchState`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Halt {
    /// What is halted.
    pub scope: HaltScope,
    /// Why.
    pub reason: HaltReason,
    /// When.
    pub at: Timestamp,
    /// The values involved, in words.
    pub detail: String,
}

/// Every latch: kill switches and halts. Serialise it to persist it and pass
/// it to [`Engine::restore_kill_switches`](crate::Engine::restore_kill_switches)
/// after a restart.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KillSwitchState {
    /// The global kill switch.
    pub global: Option<Latch>,
    /// The account kill switch.
    pub account: Option<Latch>,
    /// Per-strategy kill switches.
    pub strategies: BTreeMap<StrategyId, Latch>,
    /// The account halt (first reason wins until reset).
    pub account_halt: Option<Halt>,
    /// Per-strategy halts.
    pub strategy_halts: BTreeMap<StrategyId, Halt>,
}

impl KillSwitchState {
    /// The latch of exactly this scope.
    pub fn latch(&self, scope: &KillScope) -> Option<&Latch> {
        match scope {
            KillScope::Global => self.global.as_ref(),
            KillScope::Account => self.account.as_ref(),
            KillScope::Strategy(id) => self.strategies.get(id),
        }
    }

    /// Engages (`Some`) or releases (`None`) the switch of one scope;
    /// returns the previous latch.
    pub(crate) fn set(&mut self, scope: &KillScope, latch: Option<Latch>) -> Option<Latch> {
        match scope {
            KillScope::Global => std::mem::replace(&mut self.global, latch),
            KillScope::Account => std::mem::replace(&mut self.account, latch),
            KillScope::Strategy(id) => match latch {
                Some(l) => self.strategies.insert(id.clone(), l),
                None => self.strategies.remove(id),
            },
        }
    }

    /// The scope name of the kill switch that blocks `strategy`, if any
    /// (global before account before strategy).
    pub(crate) fn blocking(&self, strategy: &StrategyId) -> Option<&'static str> {
        if self.global.is_some() {
            Some("global")
        } else if self.account.is_some() {
            Some("account")
        } else if !self.strategies.is_empty() && self.strategies.contains_key(strategy) {
            Some("strategy")
        } else {
            None
        }
    }

    /// The halt that blocks `strategy`, if any (account first).
    pub fn halt_of(&self, strategy: &StrategyId) -> Option<&Halt> {
        self.account_halt.as_ref().or_else(|| {
            if self.strategy_halts.is_empty() {
                None
            } else {
                self.strategy_halts.get(strategy)
            }
        })
    }

    /// Records a halt unless that scope is halted already; returns it if new.
    pub(crate) fn halt(&mut self, halt: Halt) -> Option<Halt> {
        let slot = match &halt.scope {
            HaltScope::Account => &mut self.account_halt,
            HaltScope::Strategy(id) => {
                if self.strategy_halts.contains_key(id) {
                    return None;
                }
                self.strategy_halts.insert(id.clone(), halt.clone());
                return Some(halt);
            }
        };
        if slot.is_some() {
            return None;
        }
        *slot = Some(halt.clone());
        Some(halt)
    }

    /// Lifts a halt; returns it if there was one.
    pub(crate) fn lift(&mut self, scope: &HaltScope) -> Option<Halt> {
        match scope {
            HaltScope::Account => self.account_halt.take(),
            HaltScope::Strategy(id) => self.strategy_halts.remove(id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn latch() -> Latch {
        Latch {
            by: "ops".into(),
            at: Timestamp::from_secs(1),
            reason: "drill".into(),
        }
    }

    #[test]
    fn scopes_block_in_order() {
        let s = StrategyId::new("s");
        let mut k = KillSwitchState::default();
        assert_eq!(k.blocking(&s), None);
        k.set(&KillScope::Strategy(s.clone()), Some(latch()));
        assert_eq!(k.blocking(&s), Some("strategy"));
        assert_eq!(k.blocking(&StrategyId::new("other")), None);
        k.set(&KillScope::Global, Some(latch()));
        assert_eq!(k.blocking(&StrategyId::new("other")), Some("global"));
    }

    #[test]
    fn persists_and_restores() {
        let s = StrategyId::new("s");
        let mut k = KillSwitchState::default();
        k.set(&KillScope::Account, Some(latch()));
        k.halt(Halt {
            scope: HaltScope::Strategy(s.clone()),
            reason: HaltReason::DailyLoss,
            at: Timestamp::from_secs(2),
            detail: "loss 600 beyond 500".into(),
        });
        let text = serde_json::to_string(&k).unwrap();
        let back: KillSwitchState = serde_json::from_str(&text).unwrap();
        assert_eq!(back, k);
        assert_eq!(back.halt_of(&s).unwrap().reason, HaltReason::DailyLoss);
    }

    #[test]
    fn the_first_halt_reason_stays() {
        let mut k = KillSwitchState::default();
        let h = |reason| Halt {
            scope: HaltScope::Account,
            reason,
            at: Timestamp::EPOCH,
            detail: String::new(),
        };
        assert!(k.halt(h(HaltReason::Drawdown)).is_some());
        assert!(k.halt(h(HaltReason::DailyLoss)).is_none());
        assert_eq!(k.account_halt.as_ref().unwrap().reason, HaltReason::Drawdown);
    }
}
