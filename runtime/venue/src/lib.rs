//! The paper venue as its own process, and the runtime's client of it.
//!
//! `wasmtrade paper-venue` runs a [`PaperBroker`](wasmtrade_broker::paper::PaperBroker)
//! behind a seeded random-walk market in a process of its own. It keeps
//! producing bars and filling working orders while the runtime is down —
//! like a real broker — so the runtime's start-up reconciliation is tested
//! against a counterparty that really kept going. The runtime talks to it
//! with a [`VenueBroker`] (a [`Broker`](wasmtrade_broker::Broker)) and takes
//! its market data from the same venue ([`VenueBroker::stream_starter`]).
//!
//! # Protocol
//!
//! JSON lines over TCP (one request line, one reply line; this is a test
//! counterparty on loopback, not a public API). Requests ([`Request`]):
//! `hello`, `submit {id, strategy, order}`, `cancel {id}`, `report`,
//! `status`, and `subscribe {after}`, which turns the connection into a
//! stream of [`StreamLine`]s: every broker event with a sequence number
//! greater than `after` (the backlog first, then live, with no gap), and
//! every bar from then on. An order's id is the runtime's intent id — the
//! venue's order reference — so after a crash the runtime asks the venue
//! what became of each intent. The venue refuses a second order with an id
//! it has seen and counts it ([`VenueStatus::duplicate_submissions`]): the
//! crash tests assert that count stays 0.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod client;
mod protocol;
mod server;

pub use client::{StreamStarter, VenueBroker, VenueError};
pub use protocol::{Hello, Reply, Request, StreamLine, VenueStatus};
pub use server::{PaperVenue, VenueConfig};
