//! Turns the engine's events into bus events: resolves symbols, tags guest
//! events with the running module version and follows orders so that every
//! order update names its strategy, client id, instrument and side.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use wasmtrade_engine::{EngineEvent, Observer};
use wasmtrade_model::{BrokerEvent, Instruments, OrderId, Quantity, Side, StrategyId};

use crate::bus::Bus;
use crate::event::{EventKind, OrderUpdate};

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

struct Tracked {
    strategy: StrategyId,
    client_id: String,
    symbol: Arc<str>,
    side: Side,
    quantity: Quantity,
}

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

/// The engine observer of the live runtime.
pub(crate) struct BusObserver {
    bus: Arc<Bus>,
    symbols: Symbols,
    versions: Versions,
    orders: BTreeMap<OrderId, Tracked>,
}

impl BusObserver {
    pub(crate) fn new(bus: Arc<Bus>, symbols: Symbols, versions: Versions) -> Self {
        Self {
            bus,
            symbols,
            versions,
            orders: BTreeMap::new(),
        }
    }

    fn symbol(&self, id: wasmtrade_model::InstrumentId) -> Arc<str> {
        self.symbols.get(id)
    }

    fn version(&self, name: &str) -> u32 {
        self.versions.versions.borrow().get(name).copied().unwrap_or(0)
    }

    fn update(
        &mut self,
        order_id: OrderId,
        status: &'static str,
        reason: String,
        terminal: bool,
    ) -> Option<EventKind> {
        let t = if terminal {
            self.orders.remove(&order_id)?
        } else {
            let t = self.orders.get(&order_id)?;
            Tracked {
                strategy: t.strategy.clone(),
                client_id: t.client_id.clone(),
                symbol: t.symbol.clone(),
                side: t.side,
                quantity: t.quantity,
            }
        };
        Some(EventKind::Order(OrderUpdate {
            order_id,
            strategy: t.strategy,
            client_id: t.client_id,
            symbol: t.symbol,
            side: t.side,
            quantity: t.quantity,
            status,
            reason,
        }))
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
            } => {
                let t = Tracked {
                    strategy: strategy.clone(),
                    client_id: order.client_id.to_string(),
                    symbol: self.symbol(order.instrument),
                    side: order.side,
                    quantity: order.quantity,
                };
                self.orders.insert(*order_id, t);
                let Some(kind) = self.update(*order_id, "submitted", String::new(), false) else {
                    return;
                };
                (*ts, kind)
            }
            EngineEvent::Broker(b) => {
                let (ts, kind) = match b {
                    BrokerEvent::Accepted { order_id, ts } => {
                        (*ts, self.update(*order_id, "accepted", String::new(), false))
                    }
                    BrokerEvent::Cancelled { order_id, ts } => {
                        (*ts, self.update(*order_id, "cancelled", String::new(), true))
                    }
                    BrokerEvent::Expired { order_id, ts } => {
                        (*ts, self.update(*order_id, "expired", String::new(), true))
                    }
                    BrokerEvent::Rejected { order_id, reason, ts } => {
                        (*ts, self.update(*order_id, "rejected", reason.clone(), true))
                    }
                    BrokerEvent::CancelRejected { order_id, reason, ts } => (
                        *ts,
                        self.update(*order_id, "cancel_rejected", reason.clone(), false),
                    ),
                    BrokerEvent::Filled(fill) => {
                        let filled_all = self
                            .orders
                            .get(&fill.order_id)
                            .is_some_and(|t| t.quantity <= fill.quantity);
                        if filled_all {
                            self.orders.remove(&fill.order_id);
                        }
                        let symbol = self.symbol(fill.instrument);
                        (
                            fill.ts,
                            Some(EventKind::Fill {
                                fill: fill.clone(),
                                symbol,
                            }),
                        )
                    }
                };
                let Some(kind) = kind else { return };
                (ts, kind)
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
