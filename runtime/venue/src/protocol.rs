//! The wire format: one JSON object per line.

use serde::{Deserialize, Serialize};
use wasmtrade_broker::VenueReport;
use wasmtrade_model::{Bar, BrokerEvent, Money, NewOrder, OrderId, StrategyId};

/// A request line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum Request {
    /// What the venue trades.
    Hello,
    /// A new order; `id` is the runtime's intent id.
    Submit {
        /// Intent id (the order reference).
        id: OrderId,
        /// Owning strategy (for the venue's logs).
        strategy: StrategyId,
        /// The order.
        order: NewOrder,
    },
    /// Cancel order `id`.
    Cancel {
        /// Intent id.
        id: OrderId,
    },
    /// Everything the venue knows about the account.
    Report,
    /// Counters (for tests and operators).
    Status,
    /// Turn this connection into the event and bar stream.
    Subscribe {
        /// The last event sequence already seen (0 = from the start).
        after: u64,
    },
}

/// The venue's answer to `hello`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Symbols in instrument-id order (intern them in this order).
    pub symbols: Vec<String>,
    /// The account's starting cash.
    pub starting_cash: Money,
    /// Seconds between bars.
    pub bar_interval_secs: u64,
}

/// Counters of the venue.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VenueStatus {
    /// Orders accepted.
    pub orders: u64,
    /// Executions.
    pub executions: u64,
    /// Submissions refused because the id was already used: an intent sent twice.
    pub duplicate_submissions: u64,
    /// Bars produced.
    pub bars: u64,
    /// The last event sequence.
    pub last_seq: u64,
}

/// A reply line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "reply")]
pub enum Reply {
    /// The request was done.
    Ok,
    /// The request was refused.
    Error {
        /// Why.
        message: String,
        /// True when the id was already used.
        duplicate: bool,
    },
    /// Answer to `hello`.
    Hello(Hello),
    /// Answer to `report`: the report and the sequence of the last event it includes.
    Report {
        /// The report.
        report: VenueReport,
        /// Subscribe after this to miss nothing.
        as_of: u64,
    },
    /// Answer to `status`.
    Status(VenueStatus),
}

/// A line of the stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum StreamLine {
    /// A broker event with its sequence number.
    Event {
        /// Sequence (1, 2, …).
        seq: u64,
        /// The event.
        event: BrokerEvent,
    },
    /// A closed bar.
    Bar {
        /// The bar.
        bar: Bar,
    },
}
