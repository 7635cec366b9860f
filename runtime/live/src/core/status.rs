//! What the loop reports about its modules and policies, and the snapshots it keeps of
//! them: the periodic ones a restart after a fault (or a crash) resumes
//! from, and the final ones at shutdown.

use wasmtrade_engine::SlotState;
use wasmtrade_model::StrategyId;

use super::{Core, GuestState};
use crate::view::{GuestKind, RunState, RunningInfo, ShadowInfo};

impl Core {
    /// What runs: every module's active pair, state, counters and shadow.
    pub(super) fn status(&mut self) -> Vec<RunningInfo> {
        let mut out = Vec::new();
        for (name, d) in self.deployments.iter() {
            let mut info = RunningInfo {
                name: name.clone(),
                kind: d.kind,
                version: d.active.version,
                config: d.active.config.clone(),
                state: RunState::Running,
                counters: Default::default(),
                shadow: None,
                model: None,
            };
            match d.kind {
                GuestKind::Strategy => {
                    if let Some(slot) = self.engine.strategies().iter().find(|s| s.id.as_str() == name) {
                        info.counters = slot.counters;
                        if let SlotState::Quarantined { reason } = &slot.state {
                            info.state = RunState::Quarantined(reason.clone());
                        }
                        info.shadow = slot.shadow.as_ref().map(ShadowInfo::of);
                    }
                }
                GuestKind::Indicator => {
                    if let Some(slot) = self.engine.indicators().iter().find(|s| s.name == *name)
                        && let Some(f) = &slot.fault
                    {
                        info.state = RunState::Quarantined(f.clone());
                    }
                }
            }
            out.push(info);
        }
        for (name, hosted) in self.deployments.policies() {
            let mut info = RunningInfo {
                name: name.clone(),
                kind: GuestKind::Strategy,
                version: u32::try_from(hosted.version).unwrap_or(u32::MAX),
                config: String::new(),
                state: RunState::Running,
                counters: Default::default(),
                shadow: None,
                model: Some(hosted.model.clone()),
            };
            if let Some(slot) = self.engine.strategies().iter().find(|s| s.id.as_str() == name) {
                info.counters = slot.counters;
                if let SlotState::Quarantined { reason } = &slot.state {
                    info.state = RunState::Quarantined(reason.clone());
                }
            }
            out.push(info);
        }
        out
    }

    /// Keeps the snapshot of every healthy strategy and policy (in memory, and on the
    /// store flushed in the background, so a crash resumes from here).
    pub(super) fn keep_snapshots(&mut self) {
        for (name, version) in self.deployments.snapshotted() {
            let id = StrategyId::new(&name);
            let Some(snapshot) = self.engine.snapshot_strategy(&id) else {
                continue;
            };
            match snapshot {
                Ok(state) => {
                    let now = self.engine.now();
                    if let Err(e) = self.store.snapshots().put(&id, version, now, &state) {
                        tracing::warn!(module = %name, "cannot store the periodic snapshot: {e}");
                    }
                    self.deployments.keep_good(&name, state);
                }
                // Guests without snapshot support restart from scratch; a
                // snapshot that trapped or ran out of budget quarantined the
                // guest (the engine reported the fault).
                Err(fault) => tracing::debug!(module = %name, "periodic snapshot failed: {fault}"),
            }
        }
    }

    /// Every running strategy's and policy's state, for shutdown.
    pub(super) fn snapshot_all(&mut self) -> Vec<GuestState> {
        let mut out = Vec::new();
        for (name, version) in self.deployments.snapshotted() {
            let id = StrategyId::new(&name);
            if let Some(slot) = self.engine.strategy_mut(&id) {
                let state = if slot.is_active() {
                    slot.guest.snapshot().map_err(|f| f.to_string())
                } else {
                    Err("quarantined".to_string())
                };
                let taken_at = self.engine.now();
                out.push(GuestState {
                    name,
                    version,
                    taken_at,
                    state,
                });
            }
        }
        out
    }

    /// The newest `limit` orders (of `strategy` if given), oldest first:
    /// those in memory (working, and finished since the last checkpoint)
    /// and, unless `open_only`, finished ones from the store's history.
    pub(super) fn orders(
        &self,
        open_only: bool,
        strategy: Option<&str>,
        limit: usize,
    ) -> Vec<wasmtrade_model::Order> {
        let wanted = |o: &wasmtrade_model::Order| {
            (!open_only || !o.status.is_terminal()) && strategy.is_none_or(|s| o.strategy.as_str() == s)
        };
        let mut orders: Vec<_> = self
            .engine
            .oms()
            .orders()
            .iter()
            .rev()
            .filter(|o| wanted(o))
            .take(limit)
            .cloned()
            .collect();
        if !open_only {
            let id = strategy.map(StrategyId::new);
            match self.store.history().recent(id.as_ref(), limit) {
                Ok(finished) => orders.extend(finished),
                Err(e) => tracing::warn!("cannot read the order history: {e}"),
            }
        }
        orders.sort_by_key(|o| std::cmp::Reverse(o.id));
        orders.dedup_by_key(|o| o.id);
        orders.truncate(limit);
        orders.reverse();
        orders
    }
}
