//! The event loop thread: owns the engine (guests, risk, OMS, paper broker)
//! and takes bars from a bounded queue and control commands from a second
//! queue that it drains before every bar. A command therefore always runs
//! between two events — a swap can neither lose nor repeat an event, and
//! queries see a consistent book — and it never waits behind the bars
//! already queued (a command sender also drops a `Wake` into the bar queue
//! so that an idle loop notices it at once).

use std::rc::Rc;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use wasmtrade_broker::Broker;
use wasmtrade_engine::{Engine, EngineConfig, FaultPolicy, KillSignal};
use wasmtrade_model::{Bar, IndicatorGuest, Instruments, StrategyGuest, StrategyId, Timestamp};
use wasmtrade_oms::Oms;
use wasmtrade_risk::{Engine as RiskEngine, KillSwitchState, RiskConfig};
use wasmtrade_store::Store;

use crate::bus::Bus;
use crate::deployments::{ActiveRecord, Deployments};
use crate::error::LiveError;
use crate::event::{EventKind, SwapAction, SwapRecord};
use crate::observer::{BusObserver, LoopState, Symbols, Versions};
use crate::view::{AccountInfo, GuestKind};

mod command;
pub(crate) use command::Command;
mod deploy;
mod policies;
mod status;

/// A guest ready to be installed (instantiated and initialised off the loop).
pub(crate) enum NewGuest {
    /// A strategy.
    Strategy(Box<dyn StrategyGuest + Send>),
    /// An indicator.
    Indicator(Box<dyn IndicatorGuest + Send>),
}

impl NewGuest {
    /// Strategy or indicator.
    pub(crate) fn kind(&self) -> GuestKind {
        match self {
            NewGuest::Strategy(_) => GuestKind::Strategy,
            NewGuest::Indicator(_) => GuestKind::Indicator,
        }
    }
}

pub(super) type Reply<T> = oneshot::Sender<Result<T, LiveError>>;

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

/// The event loop's state.
pub(crate) struct Core {
    pub(crate) engine: Engine<Box<dyn Broker + Send>>,
    symbols: Symbols,
    pub(crate) bus: Arc<Bus>,
    pub(crate) store: Arc<Store>,
    /// The kill switches and halts as last stored.
    pub(crate) persisted_latches: KillSwitchState,
    /// The loop's time, shared with the observer.
    state: Versions,
    /// Every deployed module and policy: the one record of what runs.
    deployments: Deployments,
    snapshot_every: u64,
    bars_since_snapshot: u64,
    /// Checkpoints of the account and journal compaction.
    pub(crate) compactor: Option<crate::checkpoint::Compactor>,
    /// Why start-up reconciliation left the trading gate closed.
    pub(crate) reconcile_block: Option<String>,
}

/// What the event loop is built from.
pub(crate) struct CoreConfig {
    pub(crate) risk: RiskConfig,
    /// The account as the checkpoint left it (empty without one): the
    /// journal after the checkpoint is applied to it.
    pub(crate) oms: Oms,
    /// Checkpoints and journal compaction from here on.
    pub(crate) compactor: crate::checkpoint::Compactor,
    pub(crate) flatten_on_fault: bool,
    pub(crate) event_budget: wasmtrade_engine::EventBudget,
    pub(crate) snapshot_every_bars: u64,
    pub(crate) store: Arc<Store>,
    /// Kill switches and halts latched before the last stop.
    pub(crate) latches: KillSwitchState,
    pub(crate) kill_signal: Arc<KillSignal>,
    /// The journal after the checkpoint, read at start-up: the OMS is
    /// rebuilt from the checkpoint and it.
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
        config.oms,
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
    let record: Arc<dyn ActiveRecord> = config.store.clone();
    let mut core = Core {
        engine,
        symbols,
        bus,
        store: config.store,
        persisted_latches: config.latches,
        deployments: Deployments::new(record, state.clone()),
        state,
        snapshot_every: config.snapshot_every_bars.max(1),
        bars_since_snapshot: 0,
        compactor: Some(config.compactor),
        reconcile_block: None,
    };
    loop {
        loop {
            match control.try_recv() {
                Ok(Control::Command(c)) => core.command(c),
                Ok(Control::Stop(reply)) => {
                    let states = core.snapshot_all();
                    core.checkpoint();
                    let _ = reply.send(states);
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
    /// A loop with no instrument, the paper broker and `store`, whose
    /// activations are recorded through `record` (tests inject failures).
    #[cfg(test)]
    pub(crate) fn for_tests(store: Arc<Store>, record: Arc<dyn ActiveRecord>) -> Self {
        let instruments = Arc::new(Instruments::new());
        let broker: Box<dyn Broker + Send> =
            Box::new(wasmtrade_broker::paper::PaperBroker::new(Default::default()));
        let engine = Engine::new(
            instruments.clone(),
            RiskEngine::new(RiskConfig::default()),
            Oms::new(wasmtrade_model::Money::ZERO),
            broker,
            EngineConfig {
                fault_policy: FaultPolicy::Quarantine,
                ..EngineConfig::default()
            },
        );
        let state: Versions = Rc::new(LoopState::default());
        Core {
            engine,
            symbols: Symbols::of(&instruments),
            bus: Arc::new(Bus::new(64, 64)),
            store,
            persisted_latches: KillSwitchState::default(),
            deployments: Deployments::new(record, state.clone()),
            state,
            snapshot_every: 1,
            bars_since_snapshot: 0,
            compactor: None,
            reconcile_block: None,
        }
    }

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
        self.collect_verdicts();
        self.bars_since_snapshot += 1;
        if self.bars_since_snapshot >= self.snapshot_every {
            self.bars_since_snapshot = 0;
            self.keep_snapshots();
            // Right after the guests' snapshots: a guest restored from one
            // after a crash is handed the fills after it again, and those
            // are in the journal after this checkpoint.
            self.checkpoint();
        }
    }

    /// Moves finished orders to the history, stores a checkpoint of the
    /// account and compacts the journal behind it (see [`crate::checkpoint`]).
    /// A failure is logged; the journal then keeps every record.
    pub(crate) fn checkpoint(&mut self) {
        let now = self.engine.now();
        let Some(compactor) = &mut self.compactor else {
            return;
        };
        match compactor.run(&mut self.engine, now) {
            Ok(done) => tracing::debug!(
                orders = done.orders,
                records = done.records,
                seq = ?done.seq,
                "checkpoint stored, journal compacted"
            ),
            Err(e) => tracing::error!("cannot store the checkpoint (the journal keeps every record): {e}"),
        }
    }

    pub(crate) fn now(&self) -> Timestamp {
        self.engine.now()
    }

    fn swap_event(
        &self,
        name: &str,
        action: SwapAction,
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

    fn command(&mut self, command: Command) {
        match command {
            Command::Install {
                name,
                version,
                config,
                guest,
                action,
                restore,
                persist,
                reply,
            } => {
                let new = deploy::Install {
                    version,
                    config,
                    action,
                    restore,
                    persist,
                };
                let _ = reply.send(self.install(&name, guest, new));
            }
            Command::Shadow {
                name,
                version,
                config,
                guest,
                reply,
            } => {
                let _ = reply.send(self.shadow(&name, version, config, guest));
            }
            Command::StopShadow { name, reply } => {
                let _ = reply.send(self.stop_shadow(&name));
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
                self.swap_event(&name, SwapAction::Stopped, version, version, 0, Some(reason));
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
                let _ = reply.send(self.orders(open_only, strategy.as_deref(), limit));
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
            Command::Collections { reply } => {
                let mut sizes = self.engine.oms().collection_sizes();
                sizes.extend(self.engine.broker().collection_sizes());
                let _ = reply.send(sizes);
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
                prepared,
                reply,
            } => {
                let _ = reply.send(self.load_model(&model, version, prepared));
            }
            Command::ShadowModel {
                model,
                version,
                bytes,
                gate,
                prepared,
                reply,
            } => {
                let _ = reply.send(self.shadow_model(&model, version, &bytes, gate, prepared));
            }
            Command::PolicyShadows { reply } => {
                let _ = reply.send(self.policy_shadows());
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
}
