//! Turns the engine's events into bus events: resolves symbols, tags guest
//! events with the running module version and names, in every order update,
//! the order's strategy, client id, instrument and side — read from the OMS's
//! order the engine hands over, so no order map is kept here (one that
//! dropped an order only when a single fill covered it leaked every
//! partially filled order).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use wasmtrade_engine::{EngineEvent, Observer};
use wasmtrade_model::{BrokerEvent, Instruments, NewOrder, OrderId, StrategyId};

use crate::bus::Bus;
use crate::event::{EventKind, OrderStep, OrderUpdate};

/// What the event loop tells the observer: which version of each module
/// runs, and the loop's time.
#[derive(Default)]
pub(crate) struct LoopState {
    /// Running version per module name.
    pub(crate) versions: RefCell<BTreeMap<String, u32>>,
    /// Time of the event being processed.
    pub(crate) now: std::cell::Cell<wasmtrade_model::Timestamp>,
}

/// Shared between the event loop and its observer (one thread).
pub(crate) type Versions = Rc<LoopState>;

/// Every instrument's symbol, shared, indexed by instrument id: built once
/// so that events do not allocate a symbol string each.
#[derive(Clone, Debug)]
pub(crate) struct Symbols(Arc<[Arc<str>]>);

impl Symbols {
    pub(crate) fn of(instruments: &Instruments) -> Self {
        let table: Vec<Arc<str>> = (0..instruments.len())
            .map(|i| {
                let id = wasmtrade_model::InstrumentId(u32::try_from(i).unwrap_or(u32::MAX));
                instruments
                    .get(id)
                    .map_or_else(|| Arc::from(id.to_string()), |x| Arc::from(x.symbol.as_str()))
            })
            .collect();
        Self(table.into())
    }

    pub(crate) fn get(&self, id: wasmtrade_model::InstrumentId) -> Arc<str> {
        self.0
            .get(id.0 as usize)
            .cloned()
            .unwrap_or_else(|| Arc::from(id.to_string()))
    }
}

/// The engine observer of the live runtime. It keeps no order state: each
/// order update is described from the OMS's order the engine hands over.
pub(crate) struct BusObserver {
    bus: Arc<Bus>,
    symbols: Symbols,
    versions: Versions,
}

impl BusObserver {
    pub(crate) fn new(bus: Arc<Bus>, symbols: Symbols, versions: Versions) -> Self {
        Self {
            bus,
            symbols,
            versions,
        }
    }

    fn symbol(&self, id: wasmtrade_model::InstrumentId) -> Arc<str> {
        self.symbols.get(id)
    }

    fn version(&self, name: &str) -> u32 {
        self.versions.versions.borrow().get(name).copied().unwrap_or(0)
    }

    fn update(
        &self,
        order_id: OrderId,
        strategy: &StrategyId,
        request: &NewOrder,
        status: OrderStep,
        reason: String,
    ) -> EventKind {
        EventKind::Order(OrderUpdate {
            order_id,
            strategy: strategy.clone(),
            client_id: request.client_id.to_string(),
            symbol: self.symbol(request.instrument),
            side: request.side,
            quantity: request.quantity,
            status,
            reason,
        })
    }
}

impl Observer for BusObserver {
    fn on_event(&mut self, event: &EngineEvent) {
        let (ts, kind) = match event {
            EngineEvent::OrderSubmitted {
                order_id,
                strategy,
                order,
                ts,
            } => (
                *ts,
                self.update(*order_id, strategy, order, OrderStep::Submitted, String::new()),
            ),
            EngineEvent::Broker { event, order } => {
                let (status, reason, ts) = match event {
                    BrokerEvent::Filled(fill) => {
                        let symbol = self.symbol(fill.instrument);
                        let kind = EventKind::Fill {
                            fill: fill.clone(),
                            symbol,
                        };
                        self.bus.publish(fill.ts, kind);
                        return;
                    }
                    BrokerEvent::Accepted { ts, .. } => (OrderStep::Accepted, String::new(), *ts),
                    BrokerEvent::Cancelled { ts, .. } => (OrderStep::Cancelled, String::new(), *ts),
                    BrokerEvent::Expired { ts, .. } => (OrderStep::Expired, String::new(), *ts),
                    BrokerEvent::Rejected { reason, ts, .. } => (OrderStep::Rejected, reason.clone(), *ts),
                    BrokerEvent::CancelRejected { reason, ts, .. } => {
                        (OrderStep::CancelRejected, reason.clone(), *ts)
                    }
                };
                // An event of an order the OMS does not know was refused there.
                let Some(order) = order else { return };
                (
                    ts,
                    self.update(order.id, &order.strategy, &order.request, status, reason),
                )
            }
            EngineEvent::Rejected(notice) => (notice.ts, EventKind::Rejection(notice.clone())),
            EngineEvent::GuestFault { strategy, fault } => (
                self.versions.now.get(),
                EventKind::Fault {
                    name: strategy.to_string(),
                    version: self.version(strategy.as_str()),
                    kind: fault.kind(),
                    message: describe(fault),
                    shadow: false,
                    strategy: true,
                },
            ),
            EngineEvent::IndicatorFault { name, fault } => (
                self.versions.now.get(),
                EventKind::Fault {
                    name: name.clone(),
                    version: self.version(name),
                    kind: fault.kind(),
                    message: describe(fault),
                    shadow: false,
                    strategy: false,
                },
            ),
            EngineEvent::ShadowFault { strategy, tag, fault } => (
                self.versions.now.get(),
                EventKind::Fault {
                    name: strategy.to_string(),
                    version: *tag,
                    kind: fault.kind(),
                    message: describe(fault),
                    shadow: true,
                    strategy: true,
                },
            ),
            EngineEvent::GuestLog { strategy, line } => (
                line.ts,
                EventKind::Log {
                    name: strategy.to_string(),
                    version: self.version(strategy.as_str()),
                    shadow: false,
                    line: line.clone(),
                },
            ),
            EngineEvent::ShadowLog { strategy, tag, line } => (
                line.ts,
                EventKind::Log {
                    name: strategy.to_string(),
                    version: *tag,
                    shadow: true,
                    line: line.clone(),
                },
            ),
        };
        self.bus.publish(ts, kind);
    }
}

/// A fault as the event stream and the audit trail report it: the fault
/// and, for a trap, the guest's wasm backtrace.
fn describe(fault: &wasmtrade_model::GuestFault) -> String {
    match fault {
        wasmtrade_model::GuestFault::Trap {
            backtrace: Some(bt), ..
        } if !bt.is_empty() => format!("{fault}\nwasm backtrace:\n{bt}"),
        _ => fault.to_string(),
    }
}
