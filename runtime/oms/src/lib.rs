//! Order management: the order state machine, positions, cash, realised and
//! unrealised P&L, commissions and closed trades.
//!
//! The [`Oms`] is fed from two sides: the engine [`Oms::register`]s orders
//! that risk approved, and the broker's [`BrokerEvent`](wasmtrade_model::BrokerEvent)s
//! move them through the [`OrderStatus`](wasmtrade_model::OrderStatus)
//! lifecycle ([`Oms::apply`]). Illegal transitions, unknown orders and
//! overfills are typed [`OmsError`]s (never panics) and leave the state
//! untouched; fills are applied once per `exec_id`.
//!
//! Accounting is exact fixed point: a buy moves `price × quantity` out of
//! cash, a sell moves it in, commissions are debited. Positions are kept per
//! (strategy, instrument) as FIFO lots, so the invariant
//! `cash + Σ cost basis = starting cash + realised P&L − commissions` holds to
//! the last 10⁻¹⁸. Each closing fill produces one [`ClosedTrade`] per lot
//! portion it consumes; a fill that flips the side closes the old lots and
//! opens a new one with the rest. Commissions are attributed pro rata: the
//! entry share by the lot portion, the exit share by the closing fill portion.
//!
//! ```
//! use wasmtrade_model::*;
//! use wasmtrade_oms::Oms;
//!
//! let mut oms = Oms::new(Money::from_int(10_000));
//! let strategy = StrategyId::new("sma-cross");
//! let order = NewOrder {
//!     client_id: ClientOrderId::new("buy-1"),
//!     instrument: InstrumentId(0),
//!     side: Side::Buy,
//!     quantity: Quantity::from_int(10),
//!     order_type: OrderType::Market,
//!     tif: TimeInForce::Gtc,
//! };
//! let id = oms.next_order_id();
//! oms.register(id, strategy.clone(), order, Timestamp::from_secs(1))?;
//! oms.apply(&BrokerEvent::Filled(Fill {
//!     order_id: id,
//!     strategy: strategy.clone(),
//!     client_id: ClientOrderId::new("buy-1"),
//!     instrument: InstrumentId(0),
//!     side: Side::Buy,
//!     quantity: Quantity::from_int(10),
//!     price: Price::from_int(100),
//!     commission: Money::from_int(1),
//!     ts: Timestamp::from_secs(2),
//!     exec_id: "P-1".into(),
//! }))?;
//! oms.mark(InstrumentId(0), Price::from_int(105));
//! assert_eq!(oms.cash(), Money::from_int(8_999));
//! assert_eq!(oms.equity(), Money::from_int(10_049));
//! assert_eq!(oms.position(&strategy, InstrumentId(0)).unrealized_pnl, Money::from_int(50));
//! # Ok::<(), wasmtrade_oms::OmsError>(())
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod book;
mod error;
mod oms;

pub use book::{ClosedTrade, Direction, Position};
pub use error::OmsError;
pub use oms::{AccountTotals, Oms, OmsCheckpoint, Released};
