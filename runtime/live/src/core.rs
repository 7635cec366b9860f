//! The event loop thread: owns the engine (guests, risk, OMS, paper broker)
//! and takes bars from a bounded queue and control commands from a second
//! queue that it drains before every bar. A command therefore always runs
//! between two events — a swap can neither lose nor repeat an event, and
//! queries see a consistent book — and it never waits behind the bars
//! already queued (a command sender also drops a `Wake` into the bar queue
//! so that an idle loop notices it at once).

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use wasmtrade_broker::Broker;
use wasmtrade_engine::{Engine, EngineConfig, FaultPolicy, KillSignal, SlotState, SwapError};
use wasmtrade_model::{Bar, IndicatorGuest, Instruments, StrategyGuest, StrategyId, Timestamp};
use wasmtrade_oms::Oms;
use wasmtrade_risk::{ChangeRecord, Engine as RiskEngine, HaltScope, KillScope, KillSwitchState, RiskConfig};
use wasmtrade_store::Store;

use crate::bus::Bus;
use crate::clock::Stopwatch;
use crate::error::LiveError;
use crate::event::{EventKind, SwapRecord};
use crate::observer::{BusObserver, LoopState, Symbols, Versions};
use crate::risk::RiskState;
use crate::view::{AccountInfo, GuestKind, Installed, RunState, RunningInfo, ShadowInfo};

/// A guest ready to be installed (instantiated and initialised off the loop).
pub(crate) enum NewGuest {
    /// A strategy.
    Strategy(Box<dyn StrategyGuest + Send>),
    /// An indicator.
    Indicator(Box<dyn IndicatorGuest + Send>),
}

type Reply<T> = oneshot::Sender<Result<T, LiveError>>;

/// What the market queue carries.
pub(crate) enum Input {
    /// A market bar.
    Bar(Bar),
    /// Nothing: wakes an idle loop to look at its control queue.
    Wake,
}

/// What the control queue carries.
pub(crate) enum Control {
    /// A control command.
    Command(Command),
    /// Finish: snapshot every guest and stop.
    Stop(oneshot::Sender<Vec<GuestState>>),
}

/// A guest's state at shutdown.
pub(crate) struct GuestState {
    pub(crate) name: String,
    pub(crate) version: u32,
    /// Engine time of the snapshot.
    pub(crate) taken_at: Timestamp,
    pub(crate) state: Result<Vec<u8>, String>,
}

/// Control commands.
pub(crate) enum Command {
    /// Run `guest` as module `name` at `version`: swap with state hand-off
    /// if the module runs, else start it (restoring `restore` if given).
    Install {
        name: String,
        version: u32,
        config: String,
        guest: NewGuest,
        action: &'static str,
        restore: Option<Vec<u8>>,
        reply: Reply<Installed>,
    },
    /// Run `guest` in shadow of strategy `name`.
    Shadow {
        name: String,
        version: u32,
        guest: Box<dyn StrategyGuest + Send>,
        reply: Reply<ShadowInfo>,
    },
    /// Stop the shadow run of `name`.
    StopShadow { name: String, reply: Reply<ShadowInfo> },
    /// Make the shadow of `name` active.
    Promote { name: String, reply: Reply<Installed> },
    /// Restart quarantined strategy `name` at `version` from its last good snapshot.
    Restart {
        name: String,
        version: u32,
        guest: Box<dyn StrategyGuest + Send>,
        reply: Reply<Installed>,
    },
    /// Publish that `name` is stopped for good after too many faults.
    Stopped {
        name: String,
        version: u32,
        reason: String,
    },
    /// Stop module `name` (cancelling its orders); replies with the version that ran.
    Remove { name: String, reply: Reply<Option<u32>> },
    /// What runs.
    Status {
        reply: oneshot::Sender<Vec<RunningInfo>>,
    },
    /// Orders (all or open), optionally of one strategy.
    Orders {
        open_only: bool,
        strategy: Option<String>,
        limit: usize,
        reply: oneshot::Sender<Vec<wasmtrade_model::Order>>,
    },
    /// Positions, optionally of one strategy.
    Positions {
        strategy: Option<String>,
        reply: oneshot::Sender<Vec<(StrategyId, wasmtrade_oms::Position)>>,
    },
    /// The account.
    Account { reply: oneshot::Sender<AccountInfo> },
    /// Turn a kill switch on or off.
    Kill {
        scope: KillScope,
        on: bool,
        who: String,
        reason: String,
        reply: oneshot::Sender<RiskState>,
    },
    /// Kill switches, halts and the trading gate.
    RiskState { reply: oneshot::Sender<RiskState> },
    /// Replace the risk limits (validated and stored by the handle).
    SetLimits {
        config: Box<RiskConfig>,
        who: String,
        reply: oneshot::Sender<ChangeRecord>,
    },
    /// Open the trading gate (after start-up reconciliation); replies
    /// whether it was closed.
    OpenGate {
        who: String,
        reply: oneshot::Sender<bool>,
    },
    /// Lift a halt.
    Reenable {
        scope: HaltScope,
        who: String,
        reply: Reply<RiskState>,
    },
    /// Give restored strategies the fills after their snapshot (start-up).
    Redeliver {
        since: Vec<(String, Timestamp)>,
        reply: oneshot::Sender<usize>,
    },
    /// Run policy `name` (built off the loop) as a strategy (start-up).
    AddPolicy {
        name: String,
        hosted: crate::policy::Hosted,
        guest: Box<dyn StrategyGuest + Send>,
        reply: Reply<()>,
    },
    /// Hand version `version` of model `model` to every policy running it,
    /// between two events; replies with the policies that took it.
    LoadModel {
        model: String,
        version: u64,
        bytes: std::sync::Arc<Vec<u8>>,
        reply: Reply<Vec<String>>,
    },
    /// Reconcile with the venue (start-up).
    Reconcile {
        memory: crate::reconcile::VenueMemory,
        timeout: std::time::Duration,
        reply: oneshot::Sender<crate::reconcile::ReconcileOutcome>,
    },
}

struct Running {
    kind: GuestKind,
    version: u32,
    config: String,
}

/// The event loop's state.
pub(crate) struct Core {
    pub(crate) engine: Engine<Box<dyn Broker + Send>>,
    symbols: Symbols,
    pub(crate) bus: Arc<Bus>,
    pub(crate) store: Arc<Store>,
    /// The kill switches and halts as last stored.
    pub(crate) persisted_latches: KillSwitchState,
    state: Versions,
    running: BTreeMap<String, Running>,
    /// The last snapshot of each running strategy taken while it was
    /// healthy: what a restart after a fault resumes from.
    last_good: BTreeMap<String, Vec<u8>>,
    snapshot_every: u64,
    bars_since_snapshot: u64,
    /// Why start-up reconciliation left the trading gate closed.
    pub(crate) reconcile_block: Option<String>,
    /// Policies from the configuration (strategies outside the registry).
    policies: BTreeMap<String, crate::policy::Hosted>,
}

/// What the event loop is built from.
pub(crate) struct CoreConfig {
    pub(crate) risk: RiskConfig,
    pub(crate) starting_cash: wasmtrade_model::Money,
    pub(crate) flatten_on_fault: bool,
    pub(crate) event_budget: wasmtrade_engine::EventBudget,
    pub(crate) snapshot_every_bars: u64,
    pub(crate) store: Arc<Store>,
    /// Kill switches and halts latched before the last stop.
    pub(crate) latches: KillSwitchState,
    pub(crate) kill_signal: Arc<KillSignal>,
    /// The journal, read at start-up: the OMS is rebuilt from it.
    pub(crate) journal: Vec<wasmtrade_store::JournalEntry>,
    /// Where journal commit times are recorded.
    pub(crate) traffic: Arc<crate::Traffic>,
}

/// Builds the engine on the calling thread and runs the loop until `Stop`
/// or until every sender is gone.
pub(crate) fn run(
    instruments: Arc<Instruments>,
    config: CoreConfig,
    broker: Box<dyn Broker + Send>,
    bus: Arc<Bus>,
    mut rx: mpsc::Receiver<Input>,
    mut control: mpsc::UnboundedReceiver<Control>,
) {
    let state: Versions = Rc::new(LoopState::default());
    let mut engine = Engine::new(
        instruments.clone(),
        RiskEngine::new(config.risk),
        Oms::new(config.starting_cash),
        broker,
        EngineConfig {
            fault_policy: FaultPolicy::Quarantine,
            flatten_on_fault: config.flatten_on_fault,
            budget: config.event_budget,
        },
    );
    engine.risk_mut().restore_kill_switches(config.latches.clone());
    // Live, nothing trades before start-up reconciliation has passed,
    // whatever `risk.require_reconciliation` says (that setting is for runs
    // without a venue to reconcile with).
    engine
        .risk_mut()
        .set_trading_gate(false, "startup", wasmtrade_model::Timestamp::EPOCH);
    engine.set_kill_signal(config.kill_signal);
    let rebuilt = crate::journal::rebuild(engine.oms_mut(), &config.journal);
    let net_position = engine
        .oms()
        .positions()
        .fold(wasmtrade_model::Quantity::ZERO, |q, (_, p)| q + p.quantity);
    tracing::info!(
        orders = rebuilt.orders,
        fills = rebuilt.fills,
        open = rebuilt.unresolved,
        refused = rebuilt.refused,
        cash = %engine.oms().cash(),
        net_position = %net_position,
        "order book rebuilt from the journal"
    );
    engine.set_journal(Box::new(
        crate::journal::StoreJournal::new(config.store.clone()).with_traffic(config.traffic.clone()),
    ));
    let symbols = Symbols::of(&instruments);
    engine.set_observer(Box::new(BusObserver::new(
        bus.clone(),
        symbols.clone(),
        state.clone(),
    )));
    let mut core = Core {
        engine,
        symbols,
        bus,
        store: config.store,
        persisted_latches: config.latches,
        state,
        running: BTreeMap::new(),
        last_good: BTreeMap::new(),
        snapshot_every: config.snapshot_every_bars.max(1),
        bars_since_snapshot: 0,
        reconcile_block: None,
        policies: BTreeMap::new(),
    };
    loop {
        loop {
            match control.try_recv() {
                Ok(Control::Command(c)) => core.command(c),
                Ok(Control::Stop(reply)) => {
                    let _ = reply.send(core.snapshot_all());
                    return;
                }
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => return,
            }
        }
        match rx.blocking_recv() {
            Some(Input::Bar(bar)) => core.on_bar(&bar),
            Some(Input::Wake) => {}
            None => return,
        }
    }
}

impl Core {
    fn on_bar(&mut self, bar: &Bar) {
        self.state.now.set(bar.ts);
        if self.bus.wants_bars() {
            let symbol = self.symbols.get(bar.instrument);
            self.bus.publish(bar.ts, EventKind::Bar { bar: *bar, symbol });
        }
        if let Err(e) = self.engine.on_bar(bar) {
            // With the quarantine policy the engine only fails on bugs; keep going.
            tracing::error!("event loop: bar at {} failed: {e}", bar.ts);
        }
        // A halt risk imposed, or a kill switch the signal engaged, in this bar.
        self.sync_latches();
        self.bars_since_snapshot += 1;
        if self.bars_since_snapshot >= self.snapshot_every {
            self.bars_since_snapshot = 0;
            self.keep_snapshots();
        }
    }

    /// Keeps the snapshot of every healthy strategy in memory.
    fn keep_snapshots(&mut self) {
        let names: Vec<String> = self
            .running
            .iter()
            .filter(|(_, r)| r.kind == GuestKind::Strategy)
            .map(|(n, _)| n.clone())
            .collect();
        for name in names {
            let Some(snapshot) = self.engine.snapshot_strategy(&StrategyId::new(&name)) else {
                continue;
            };
            match snapshot {
                Ok(state) => {
                    // Also on the store (flushed in the background), so a
                    // crash resumes from here rather than from the start.
                    if let Some(version) = self.running.get(&name).map(|r| r.version) {
                        let now = self.engine.now();
                        if let Err(e) =
                            self.store
                                .snapshots()
                                .put(&StrategyId::new(&name), version, now, &state)
                        {
                            tracing::warn!(module = %name, "cannot store the periodic snapshot: {e}");
                        }
                    }
                    self.last_good.insert(name, state);
                }
                // Guests without snapshot support restart from scratch; a
                // snapshot that trapped or ran out of budget quarantined the
                // guest (the engine reported the fault).
                Err(fault) => tracing::debug!(module = %name, "periodic snapshot failed: {fault}"),
            }
        }
    }

    /// Re-runs quarantined strategy `name` (still at `version`) as `guest`,
    /// from its last good snapshot when there is one.
    fn restart(
        &mut self,
        name: &str,
        version: u32,
        mut guest: Box<dyn StrategyGuest + Send>,
    ) -> Result<Installed, LiveError> {
        let watch = Stopwatch::start();
        let id = StrategyId::new(name);
        let quarantined = self
            .engine
            .strategies()
            .iter()
            .any(|s| s.id == id && !s.is_active());
        let same = self.running.get(name).is_some_and(|r| r.version == version);
        if !(quarantined && same) {
            return Err(LiveError::FailedPrecondition(format!(
                "`{name}` v{version} is no longer the quarantined version: restart skipped"
            )));
        }
        let mut state_bytes = 0;
        if let Some(state) = self.last_good.get(name) {
            guest.restore(state).map_err(|fault| {
                LiveError::Aborted(format!(
                    "restart of `{name}` v{version}: its last good snapshot was refused: {fault}"
                ))
            })?;
            state_bytes = state.len();
        }
        match self.engine.swap_strategy(&id, guest, false) {
            Ok(done) => drop(done.old),
            Err(refused) => return Err(LiveError::Aborted(refused.error.to_string())),
        }
        let pause_ns = watch.elapsed_ns();
        self.swap_event(name, "restart", version, version, pause_ns, None);
        Ok(Installed {
            name: name.to_string(),
            version,
            previous: Some(version),
            pause_ns,
            state_bytes: state_bytes as u64,
        })
    }

    pub(crate) fn now(&self) -> Timestamp {
        self.engine.now()
    }

    fn swap_event(
        &self,
        name: &str,
        action: &'static str,
        from: u32,
        to: u32,
        pause_ns: u64,
        error: Option<String>,
    ) {
        self.bus.publish(
            self.now(),
            EventKind::Swap(SwapRecord {
                name: name.to_string(),
                action,
                from,
                to,
                pause_ns,
                error,
            }),
        );
    }

    fn set_running(&mut self, name: &str, kind: GuestKind, version: u32, config: String) -> Option<u32> {
        self.state.versions.borrow_mut().insert(name.to_string(), version);
        self.running
            .insert(
                name.to_string(),
                Running {
                    kind,
                    version,
                    config,
                },
            )
            .map(|r| r.version)
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Install {
                name,
                version,
                config,
                guest,
                action,
                restore,
                reply,
            } => {
                let result = self.install(&name, version, config, guest, action, restore);
                let _ = reply.send(result);
            }
            Command::Shadow {
                name,
                version,
                guest,
                reply,
            } => {
                let _ = reply.send(self.shadow(&name, version, guest));
            }
            Command::StopShadow { name, reply } => {
                let id = StrategyId::new(&name);
                let result = match self.engine.stop_shadow(&id) {
                    Some(s) => {
                        let from = self.running.get(&name).map_or(0, |r| r.version);
                        self.swap_event(&name, "shadow_stop", from, s.tag, 0, None);
                        Ok(ShadowInfo::of(&s))
                    }
                    None => Err(LiveError::FailedPrecondition(format!(
                        "`{name}` has no shadow run: start one with StartShadow"
                    ))),
                };
                let _ = reply.send(result);
            }
            Command::Promote { name, reply } => {
                let _ = reply.send(self.promote(&name));
            }
            Command::Restart {
                name,
                version,
                guest,
                reply,
            } => {
                let _ = reply.send(self.restart(&name, version, guest));
            }
            Command::Stopped {
                name,
                version,
                reason,
            } => {
                self.swap_event(&name, "stopped", version, version, 0, Some(reason));
            }
            Command::Remove { name, reply } => {
                let result = self.remove(&name);
                let _ = reply.send(Ok(result));
            }
            Command::Status { reply } => {
                let _ = reply.send(self.status());
            }
            Command::Orders {
                open_only,
                strategy,
                limit,
                reply,
            } => {
                let mut orders: Vec<_> = self
                    .engine
                    .oms()
                    .orders()
                    .iter()
                    .rev()
                    .filter(|o| !open_only || !o.status.is_terminal())
                    .filter(|o| strategy.as_deref().is_none_or(|s| o.strategy.as_str() == s))
                    .take(limit)
                    .cloned()
                    .collect();
                orders.reverse();
                let _ = reply.send(orders);
            }
            Command::Positions { strategy, reply } => {
                let positions = self
                    .engine
                    .oms()
                    .positions()
                    .filter(|(id, _)| strategy.as_deref().is_none_or(|s| id.as_str() == s))
                    .map(|(id, p)| (id.clone(), p))
                    .collect();
                let _ = reply.send(positions);
            }
            Command::Account { reply } => {
                let _ = reply.send(AccountInfo::of(&self.engine));
            }
            Command::Kill {
                scope,
                on,
                who,
                reason,
                reply,
            } => {
                let _ = reply.send(self.kill(scope, on, &who, &reason));
            }
            Command::RiskState { reply } => {
                let _ = reply.send(self.risk_state());
            }
            Command::SetLimits { config, who, reply } => {
                let _ = reply.send(self.set_limits(*config, &who));
            }
            Command::OpenGate { who, reply } => {
                let _ = reply.send(self.open_gate(&who));
            }
            Command::Reenable { scope, who, reply } => {
                let _ = reply.send(self.reenable(scope, &who));
            }
            Command::Redeliver { since, reply } => {
                let mut n = 0;
                for (name, ts) in since {
                    n += self.engine.redeliver_fills_since(&StrategyId::new(&name), ts);
                }
                let _ = reply.send(n);
            }
            Command::AddPolicy {
                name,
                hosted,
                guest,
                reply,
            } => {
                let _ = reply.send(self.add_policy(name, hosted, guest));
            }
            Command::LoadModel {
                model,
                version,
                bytes,
                reply,
            } => {
                let _ = reply.send(self.load_model(&model, version, &bytes));
            }
            Command::Reconcile {
                memory,
                timeout,
                reply,
            } => {
                let outcome = self.reconcile(memory, timeout);
                // The differences, adopted events and never-sent marks are
                // durable before the gate can open.
                if let Err(e) = self.store.journal().commit() {
                    tracing::error!("cannot flush the reconciliation records: {e}");
                }
                if !outcome.agreed {
                    let detail = outcome.differences.join("; ");
                    self.bus.publish(
                        self.now(),
                        EventKind::Halt {
                            scope: "account".into(),
                            reason: "reconciliation-mismatch".into(),
                            detail: detail.clone(),
                            lifted: false,
                            who: "startup-reconciliation".into(),
                        },
                    );
                    self.reconcile_block = Some(detail);
                }
                let _ = reply.send(outcome);
            }
        }
    }

    fn install(
        &mut self,
        name: &str,
        version: u32,
        config: String,
        guest: NewGuest,
        action: &'static str,
        restore: Option<Vec<u8>>,
    ) -> Result<Installed, LiveError> {
        let watch = Stopwatch::start();
        let previous = self.running.get(name).map(|r| r.version);
        let kind = match &guest {
            NewGuest::Strategy(_) => GuestKind::Strategy,
            NewGuest::Indicator(_) => GuestKind::Indicator,
        };
        if let Some(r) = self.running.get(name)
            && r.kind != kind
        {
            return Err(LiveError::FailedPrecondition(format!(
                "`{name}` runs as {} but version {version} is {}: use another name",
                r.kind, kind
            )));
        }
        let mut state_bytes = 0;
        let outcome: Result<(), SwapError> = match guest {
            NewGuest::Strategy(mut g) => {
                let id = StrategyId::new(name);
                if previous.is_some() {
                    match self.engine.swap_strategy(&id, g, true) {
                        Ok(done) => {
                            state_bytes = done.state_bytes;
                            Ok(())
                        }
                        Err(refused) => Err(refused.error),
                    }
                } else {
                    if let Some(state) = &restore {
                        if let Err(fault) = g.restore(state) {
                            tracing::warn!(module = name, "saved state refused, starting fresh: {fault}");
                        } else {
                            state_bytes = state.len();
                        }
                    }
                    self.engine
                        .add_strategy(id, g)
                        .map_err(|e| SwapError::Unknown { name: e.to_string() })
                }
            }
            NewGuest::Indicator(mut g) => {
                if previous.is_some() {
                    match self.engine.swap_indicator(name, g, true) {
                        Ok(done) => {
                            state_bytes = done.state_bytes;
                            Ok(())
                        }
                        Err(refused) => Err(refused.error),
                    }
                } else {
                    if let Some(state) = &restore
                        && g.restore(state).is_ok()
                    {
                        state_bytes = state.len();
                    }
                    self.engine
                        .add_indicator(name.to_string(), g)
                        .map_err(|e| SwapError::Unknown { name: e.to_string() })
                }
            }
        };
        let pause_ns = watch.elapsed_ns();
        let from = previous.unwrap_or(0);
        match outcome {
            Ok(()) => {
                self.set_running(name, kind, version, config);
                self.swap_event(name, action, from, version, pause_ns, None);
                Ok(Installed {
                    name: name.to_string(),
                    version,
                    previous,
                    pause_ns,
                    state_bytes: state_bytes as u64,
                })
            }
            Err(e) => {
                let message = match previous {
                    Some(p) if e.quarantined_the_running_guest() => format!(
                        "{e}; version {p} was quarantined by that fault and no longer trades \
                         (guests.quarantine decides whether it restarts from its last good snapshot); \
                         version {version} was not installed"
                    ),
                    Some(p) => format!("{e}; version {p} keeps running (automatic rollback)"),
                    None => e.to_string(),
                };
                self.swap_event(
                    name,
                    "auto_rollback",
                    from,
                    version,
                    pause_ns,
                    Some(message.clone()),
                );
                Err(LiveError::Aborted(message))
            }
        }
    }

    fn add_policy(
        &mut self,
        name: String,
        hosted: crate::policy::Hosted,
        guest: Box<dyn StrategyGuest + Send>,
    ) -> Result<(), LiveError> {
        if self.running.contains_key(&name) || self.policies.contains_key(&name) {
            return Err(LiveError::FailedPrecondition(format!(
                "policy `{name}`: a strategy or policy of that name already runs: give the policy another name"
            )));
        }
        self.engine
            .add_strategy(StrategyId::new(&name), guest)
            .map_err(|e| LiveError::FailedPrecondition(format!("policy `{name}`: {e}")))?;
        let to = u32::try_from(hosted.version).unwrap_or(u32::MAX);
        self.policies.insert(name.clone(), hosted);
        // Its events carry the model version.
        self.state.versions.borrow_mut().insert(name.clone(), to);
        self.swap_event(&name, "model", 0, to, 0, None);
        Ok(())
    }

    /// Swaps the weights of every policy running `model` (each keeps its
    /// state), in name order; a policy that refuses keeps its weights, the
    /// error says why and the policies after it are not tried (`serve`
    /// gives each model to one policy).
    fn load_model(&mut self, model: &str, version: u64, bytes: &[u8]) -> Result<Vec<String>, LiveError> {
        let names: Vec<String> = self
            .policies
            .iter()
            .filter(|(_, h)| h.model == model)
            .map(|(n, _)| n.clone())
            .collect();
        let mut done = Vec::with_capacity(names.len());
        for name in names {
            let watch = Stopwatch::start();
            let kept = self.policies.get(&name).map_or(0, |h| h.version);
            let (from, to) = (
                u32::try_from(kept).unwrap_or(u32::MAX),
                u32::try_from(version).unwrap_or(u32::MAX),
            );
            let Some(slot) = self.engine.strategy_mut(&StrategyId::new(&name)) else {
                continue;
            };
            let outcome = slot.guest.load_model(bytes);
            let pause_ns = watch.elapsed_ns();
            match outcome {
                Ok(info) => {
                    tracing::info!(policy = %name, model, version, shape = ?info.input_shape, "model swapped");
                    if let Some(h) = self.policies.get_mut(&name) {
                        h.version = version;
                    }
                    self.state.versions.borrow_mut().insert(name.clone(), to);
                    self.swap_event(&name, "model", from, to, pause_ns, None);
                    done.push(name);
                }
                Err(e) => {
                    let err = crate::policy::refused(&name, model, version, kept, &e);
                    self.swap_event(&name, "model", from, to, pause_ns, Some(err.to_string()));
                    return Err(err);
                }
            }
        }
        Ok(done)
    }

    fn shadow(
        &mut self,
        name: &str,
        version: u32,
        guest: Box<dyn StrategyGuest + Send>,
    ) -> Result<ShadowInfo, LiveError> {
        let Some(r) = self.running.get(name) else {
            return Err(LiveError::FailedPrecondition(format!(
                "`{name}` is not running: activate a version before starting a shadow run"
            )));
        };
        if r.kind != GuestKind::Strategy {
            return Err(LiveError::FailedPrecondition(format!(
                "`{name}` is an indicator: only strategies run in shadow"
            )));
        }
        let from = r.version;
        let id = StrategyId::new(name);
        match self.engine.start_shadow(&id, guest, version, true) {
            Ok(_) => {
                self.swap_event(name, "shadow_start", from, version, 0, None);
                Ok(ShadowInfo {
                    version,
                    ..ShadowInfo::default()
                })
            }
            Err(refused) => {
                let message = refused.error.to_string();
                self.swap_event(name, "shadow_start", from, version, 0, Some(message.clone()));
                Err(LiveError::Aborted(message))
            }
        }
    }

    fn promote(&mut self, name: &str) -> Result<Installed, LiveError> {
        let watch = Stopwatch::start();
        let id = StrategyId::new(name);
        let promoted = self.engine.promote_shadow(&id).map_err(|e| match e {
            SwapError::Unknown { .. } => LiveError::FailedPrecondition(format!("`{name}` is not running")),
            other => LiveError::FailedPrecondition(other.to_string()),
        })?;
        let pause_ns = watch.elapsed_ns();
        let config = self
            .running
            .get(name)
            .map(|r| r.config.clone())
            .unwrap_or_default();
        let previous = self.set_running(name, GuestKind::Strategy, promoted.tag, config);
        self.swap_event(
            name,
            "promote",
            previous.unwrap_or(0),
            promoted.tag,
            pause_ns,
            None,
        );
        drop(promoted.old);
        Ok(Installed {
            name: name.to_string(),
            version: promoted.tag,
            previous,
            pause_ns,
            state_bytes: 0,
        })
    }

    fn remove(&mut self, name: &str) -> Option<u32> {
        let running = self.running.remove(name)?;
        self.last_good.remove(name);
        self.state.versions.borrow_mut().remove(name);
        match running.kind {
            GuestKind::Strategy => {
                self.engine.remove_strategy(&StrategyId::new(name));
            }
            GuestKind::Indicator => {
                self.engine.remove_indicator(name);
            }
        }
        self.swap_event(name, "remove", running.version, 0, 0, None);
        Some(running.version)
    }

    fn status(&mut self) -> Vec<RunningInfo> {
        let mut out = Vec::with_capacity(self.running.len());
        for (name, r) in &self.running {
            let mut info = RunningInfo {
                name: name.clone(),
                kind: r.kind,
                version: r.version,
                config: r.config.clone(),
                state: RunState::Running,
                counters: Default::default(),
                shadow: None,
            };
            match r.kind {
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
        out
    }

    fn snapshot_all(&mut self) -> Vec<GuestState> {
        let mut out = Vec::new();
        let strategies: Vec<(String, u32)> = self
            .running
            .iter()
            .filter(|(_, r)| r.kind == GuestKind::Strategy)
            .map(|(n, r)| (n.clone(), r.version))
            .collect();
        for (name, version) in strategies {
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
}
