//! The [`Broker`] trait and the built-in [`paper`] broker (simulated fills,
//! commissions, slippage, partial fills, no look-ahead).
//!
//! A broker only accepts orders the risk engine approved
//! ([`RiskApproved`](wasmtrade_risk::RiskApproved) can only be created by
//! `wasmtrade-risk`), so no order can reach a venue around risk. Cancels need
//! no approval. Everything a broker learns about orders comes back as
//! [`BrokerEvent`]s drained in order by [`Broker::poll`].
//!
//! ```
//! use wasmtrade_broker::{Broker, paper::{PaperBroker, PaperConfig}};
//! use wasmtrade_model::*;
//! use wasmtrade_risk::{Engine, Exposure, RiskConfig};
//!
//! let mut instruments = Instruments::new();
//! let aapl = instruments.intern("AAPL");
//! let mut broker = PaperBroker::try_new(PaperConfig::default(), &instruments).unwrap();
//! let strategy = StrategyId::new("demo");
//! let order = NewOrder {
//!     client_id: ClientOrderId::new("b1"),
//!     instrument: aapl,
//!     side: Side::Buy,
//!     quantity: Quantity::from_int(10),
//!     order_type: OrderType::Market,
//!     tif: TimeInForce::Gtc,
//! };
//! let approved = Engine::new(RiskConfig::permissive())
//!     .check_new(&strategy, instruments.get(aapl).unwrap(), &order, &Exposure::default())
//!     .unwrap();
//! broker.submit(OrderId(1), &strategy, &approved, Timestamp::from_secs(0)).unwrap();
//! let p = |s: &str| s.parse::<Price>().unwrap();
//! broker.on_bar(&Bar { instrument: aapl, ts: Timestamp::from_secs(60), open: p("10"), high: p("11"),
//!     low: p("9"), close: p("10.5"), volume: Quantity::from_int(1000) });
//! let mut events = Vec::new();
//! broker.poll(&mut events);
//! assert!(matches!(events[0], BrokerEvent::Accepted { .. }));
//! let BrokerEvent::Filled(fill) = &events[1] else { panic!("expected a fill") };
//! assert_eq!((fill.price, fill.exec_id.as_str()), (p("10"), "P-1"));
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod paper;
mod venue;

pub use venue::{Connection, Execution, VenueOrder, VenueReport};

use std::time::Duration;

use wasmtrade_model::{Bar, BrokerEvent, CollectionSize, NewOrder, OrderId, StrategyId, Tick, Timestamp};
use wasmtrade_risk::{Amendment, RiskApproved};

/// Why a broker refused a request synchronously.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// The venue connection is down; the request was not sent.
    #[error("broker {venue} is disconnected: retry after it reconnects")]
    Disconnected {
        /// Venue name.
        venue: String,
    },
    /// The venue's message budget is exhausted.
    #[error("broker rate limit reached: retry in {retry_after_ms} ms")]
    RateLimited {
        /// Suggested wait.
        retry_after_ms: u64,
    },
    /// The order id was already submitted.
    #[error("order {id} was already submitted: use a new order id")]
    DuplicateOrderId {
        /// The id.
        id: OrderId,
    },
    /// The broker does not know the order.
    #[error("order {id} is unknown to the broker")]
    UnknownOrder {
        /// The id.
        id: OrderId,
    },
    /// The order is no longer working (filled, cancelled, expired or rejected).
    #[error("order {id} is no longer working")]
    OrderFinished {
        /// The id.
        id: OrderId,
    },
    /// The broker refused the request.
    #[error("order {id}: {reason}")]
    Refused {
        /// The id.
        id: OrderId,
        /// The broker's reason.
        reason: String,
    },
}

impl BrokerError {
    /// True if the same request may succeed later (connection or pacing
    /// problems); false if it is wrong in itself.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            BrokerError::Disconnected { .. } | BrokerError::RateLimited { .. }
        )
    }
}

/// A venue: paper or live. Calls are synchronous and never block; live
/// adapters queue requests for their async tasks and push events back.
pub trait Broker {
    /// Sends an approved order under host id `id` at time `ts`.
    fn submit(
        &mut self,
        id: OrderId,
        strategy: &StrategyId,
        order: &RiskApproved<NewOrder>,
        ts: Timestamp,
    ) -> Result<(), BrokerError>;
    /// Requests a cancel. Cancels need no risk approval. A cancel the venue
    /// refuses comes back as [`BrokerEvent::CancelRejected`].
    fn cancel(&mut self, id: OrderId, ts: Timestamp) -> Result<(), BrokerError>;
    /// Changes a working order's quantity and/or limit price.
    fn amend(
        &mut self,
        id: OrderId,
        change: &RiskApproved<Amendment>,
        ts: Timestamp,
    ) -> Result<(), BrokerError>;
    /// A closed bar (a simulated venue matches working orders; live brokers ignore it).
    fn on_bar(&mut self, bar: &Bar);
    /// A tick (a simulated venue matches working orders; live brokers ignore it).
    fn on_tick(&mut self, tick: &Tick);
    /// Appends every pending event to `out`, in the order they happened.
    fn poll(&mut self, out: &mut Vec<BrokerEvent>);
    /// The state of the connection to the venue. An in-process venue is
    /// always [`Connection::Connected`].
    fn connection(&self) -> Connection {
        Connection::Connected
    }
    /// What the venue itself says about our orders, executions, positions
    /// and cash, for reconciliation at start-up and after a reconnect. The
    /// venue is the source of truth for what happened while we were away.
    /// `known` lists the order ids (intent ids, sent as the order reference)
    /// whose fate is unknown locally; a venue that can only be asked order by
    /// order looks those up. Blocks for at most `timeout`.
    fn report(&mut self, known: &[OrderId], timeout: Duration) -> Result<VenueReport, BrokerError>;
    /// The runtime made its finished orders durable and released them from
    /// its own books: an in-process venue may forget them too (its
    /// positions and cash stay), so its memory stays flat over a long run;
    /// an adapter to a venue of its own (IB) forgets its tracking of them,
    /// the venue keeps its books. The default does nothing (an adapter
    /// that keeps nothing per order here).
    fn release_finished(&mut self) {}
    /// The lengths of the per-order collections this adapter keeps in this
    /// process (its order and execution books), for `/status` and soaks.
    /// Empty for an adapter that keeps none here (the separate paper
    /// venue keeps its books in its own process).
    fn collection_sizes(&self) -> Vec<CollectionSize> {
        Vec::new()
    }
}

impl<B: Broker + ?Sized> Broker for Box<B> {
    fn submit(
        &mut self,
        id: OrderId,
        strategy: &StrategyId,
        order: &RiskApproved<NewOrder>,
        ts: Timestamp,
    ) -> Result<(), BrokerError> {
        (**self).submit(id, strategy, order, ts)
    }
    fn cancel(&mut self, id: OrderId, ts: Timestamp) -> Result<(), BrokerError> {
        (**self).cancel(id, ts)
    }
    fn amend(
        &mut self,
        id: OrderId,
        change: &RiskApproved<Amendment>,
        ts: Timestamp,
    ) -> Result<(), BrokerError> {
        (**self).amend(id, change, ts)
    }
    fn on_bar(&mut self, bar: &Bar) {
        (**self).on_bar(bar);
    }
    fn on_tick(&mut self, tick: &Tick) {
        (**self).on_tick(tick);
    }
    fn poll(&mut self, out: &mut Vec<BrokerEvent>) {
        (**self).poll(out);
    }
    fn connection(&self) -> Connection {
        (**self).connection()
    }
    fn report(&mut self, known: &[OrderId], timeout: Duration) -> Result<VenueReport, BrokerError> {
        (**self).report(known, timeout)
    }
    fn release_finished(&mut self) {
        (**self).release_finished();
    }
    fn collection_sizes(&self) -> Vec<CollectionSize> {
        (**self).collection_sizes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_connection_and_pacing_errors_are_retryable() {
        assert!(BrokerError::Disconnected { venue: "ib".into() }.is_retryable());
        assert!(BrokerError::RateLimited { retry_after_ms: 20 }.is_retryable());
        assert!(!BrokerError::UnknownOrder { id: OrderId(1) }.is_retryable());
        assert!(!BrokerError::DuplicateOrderId { id: OrderId(1) }.is_retryable());
    }
}
