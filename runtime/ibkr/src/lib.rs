//! Interactive Brokers connectivity through IB Gateway: an [`IbkrBroker`]
//! (the [`Broker`](wasmtrade_broker::Broker) trait) and an [`IbkrMarket`]
//! bar source, with reconnects, pacing and a health snapshot.
//!
//! The only crate that depends on [`ibapi`] (pinned to 2.12.0, the classic
//! text protocol, client versions v100..v200: works with IB Gateway /TWS
//! 10.x and later, which still accept that range; see `docs/ibkr.md`).
//! The client library's blocking API runs on the adapter's own threads;
//! the `Broker` calls only queue requests and drain events, so they never
//! block on the network.
//!
//! - Our [`OrderId`](wasmtrade_model::OrderId) travels as IB's `orderRef`
//!   (`wt-<id>`), so orders are found again after a crash or reconnect.
//! - Executions are deduplicated by exec id and emitted with their
//!   commission report.
//! - Outbound messages go through one writer with a token bucket below
//!   IB's 50 msg/s; cancels jump the queue.
//! - On socket loss the link goes `Connecting`, `submit` returns
//!   `Disconnected`; on return the market-data registry is replayed and
//!   orders reconciled before orders are accepted again. Codes 1100 / 1101 /
//!   1102 freeze / resubscribe+reconcile / reconcile.
//!
//! ```no_run
//! use std::sync::Arc;
//! use wasmtrade_ibkr::{IbkrBroker, IbkrConfig, RawIbkrConfig};
//! use wasmtrade_model::Instruments;
//!
//! let raw: RawIbkrConfig = toml::from_str("port = 4002\nclient_id = 17\nsymbols = [\"AAPL\"]").unwrap();
//! let mut instruments = Instruments::new();
//! instruments.intern("AAPL");
//! let (broker, mut market) = IbkrBroker::connect(IbkrConfig::try_from(raw).unwrap(), Arc::new(instruments)).unwrap();
//! let mut bars = market.take_bars().unwrap();
//! let first = bars.blocking_recv();
//! println!("{:?} {:?}", broker.health().link, first);
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod book;
mod broker;
mod config;
mod error;
mod health;
mod mapping;
mod market;
mod pacing;
mod reader;
mod session;
mod supervisor;
mod writer;

pub use broker::IbkrBroker;
pub use config::{IbkrConfig, Mode, RawIbkrConfig};
pub use error::IbkrError;
pub use health::{IbkrHealth, LinkState, PacingSnapshot};
pub use market::{ContractInfo, IbkrMarket, OptionChain, OptionQuote, OptionRight};
pub use pacing::{HistoricalPacer, PacingStats, Priority, PriorityQueue, TokenBucket};
