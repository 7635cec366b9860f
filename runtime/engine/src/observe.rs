//! What the engine reports while it runs, for journals, streams and tests.

use wasmtrade_model::{
    BrokerEvent, GuestFault, LogLine, NewOrder, Order, OrderId, RejectNotice, StrategyId, Timestamp,
};

/// Something that happened in the engine.
#[derive(Clone, Debug, PartialEq)]
pub enum EngineEvent {
    /// An approved order was registered and handed to the broker.
    OrderSubmitted {
        /// Host id.
        order_id: OrderId,
        /// Owner.
        strategy: StrategyId,
        /// The order.
        order: NewOrder,
        /// When.
        ts: Timestamp,
    },
    /// The broker reported something (acceptance, fill, cancel, ...) and
    /// the OMS applied it.
    Broker {
        /// What the broker reported.
        event: BrokerEvent,
        /// The order as the OMS holds it after the event (strategy, request,
        /// status, filled quantity): observers read order state here rather
        /// than keeping their own copy.
        order: Option<Order>,
    },
    /// An intent or order was refused.
    Rejected(RejectNotice),
    /// A guest faulted.
    GuestFault {
        /// Which strategy.
        strategy: StrategyId,
        /// What happened.
        fault: GuestFault,
    },
    /// An indicator guest faulted and was quarantined (live runs).
    IndicatorFault {
        /// Which indicator.
        name: String,
        /// What happened.
        fault: GuestFault,
    },
    /// A shadow guest logged a line.
    ShadowLog {
        /// Which strategy it shadows.
        strategy: StrategyId,
        /// The shadow's tag (module version).
        tag: u32,
        /// The line.
        line: LogLine,
    },
    /// A shadow guest faulted and stopped; the active guest runs on.
    ShadowFault {
        /// Which strategy it shadows.
        strategy: StrategyId,
        /// The shadow's tag (module version).
        tag: u32,
        /// What happened.
        fault: GuestFault,
    },
    /// A guest logged a line.
    GuestLog {
        /// Which strategy.
        strategy: StrategyId,
        /// The line.
        line: LogLine,
    },
}

/// Receives engine events.
pub trait Observer {
    /// Called for each event, in order.
    fn on_event(&mut self, event: &EngineEvent);

    /// Whether this observer wants events at all: the engine builds none
    /// for one that does not. Default `true`.
    fn wants_events(&self) -> bool {
        true
    }
}

/// The observer of an engine nobody watches (the default): wants nothing,
/// so the engine builds no events.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoObserver;

impl Observer for NoObserver {
    fn on_event(&mut self, _event: &EngineEvent) {}

    fn wants_events(&self) -> bool {
        false
    }
}

/// Collects events in memory (tests, small runs).
#[derive(Debug, Default, Clone)]
pub struct Recorder {
    /// Events so far.
    pub events: std::sync::Arc<std::sync::Mutex<Vec<EngineEvent>>>,
}

impl Observer for Recorder {
    fn on_event(&mut self, event: &EngineEvent) {
        if let Ok(mut e) = self.events.lock() {
            e.push(event.clone());
        }
    }
}
