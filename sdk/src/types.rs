//! Plain Rust mirrors of the WIT `types` interface: what a guest receives and returns.
//!
//! Prices and quantities are `f64` here: guests compute with floats and the
//! host converts every returned number to fixed point (refusing NaN and
//! infinities) before its risk engine sees it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Nanoseconds since the Unix epoch, UTC (simulated time in backtests).
pub type Timestamp = i64;

/// Host-assigned handle of an instrument, stable for the life of a run.
/// Map it to a symbol with [`Context::symbol`](crate::Context::symbol).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InstrumentId(pub u32);

impl fmt::Display for InstrumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// One OHLCV bar. `ts` is the bar's opening time; the bar is delivered once it has closed.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bar {
    /// Instrument.
    pub instrument: InstrumentId,
    /// Opening time of the bar.
    pub ts: Timestamp,
    /// First trade price.
    pub open: f64,
    /// Highest trade price.
    pub high: f64,
    /// Lowest trade price.
    pub low: f64,
    /// Last trade price.
    pub close: f64,
    /// Traded volume.
    pub volume: f64,
}

/// What a tick carries.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum TickData {
    /// A trade print.
    Trade {
        /// Trade price.
        price: f64,
        /// Trade size.
        size: f64,
    },
    /// A top-of-book quote.
    Quote {
        /// Best bid.
        bid: f64,
        /// Size at the best bid.
        bid_size: f64,
        /// Best ask.
        ask: f64,
        /// Size at the best ask.
        ask_size: f64,
    },
}

/// One market data tick.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tick {
    /// Instrument.
    pub instrument: InstrumentId,
    /// Event time.
    pub ts: Timestamp,
    /// Payload.
    pub data: TickData,
}

/// Order side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Buy.
    Buy,
    /// Sell.
    Sell,
}

impl Side {
    /// The other side.
    pub const fn opposite(self) -> Self {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }
    /// `quantity` signed by the side (positive for buys).
    pub fn signed(self, quantity: f64) -> f64 {
        match self {
            Side::Buy => quantity,
            Side::Sell => -quantity,
        }
    }
}

/// How long an order stays working.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeInForce {
    /// Until the end of the trading day.
    Day,
    /// Until cancelled (the default of the builders).
    #[default]
    Gtc,
    /// Fill what is possible at once, cancel the rest.
    Ioc,
    /// Fill completely at once or cancel.
    Fok,
}

/// Order type with its prices.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum OrderType {
    /// At the market.
    Market,
    /// At this limit price or better.
    Limit(f64),
    /// A market order once the market trades through this stop price.
    Stop(f64),
    /// A limit order at `limit` once the market trades through `stop`.
    StopLimit {
        /// Trigger price.
        stop: f64,
        /// Limit price once triggered.
        limit: f64,
    },
}

/// A new order. `client_id` is chosen by the guest and must be unique among
/// its working orders: fills and rejections are addressed by it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewOrder {
    /// Guest-chosen id (1 to 64 bytes, no control characters).
    pub client_id: String,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Side.
    pub side: Side,
    /// Quantity (positive).
    pub quantity: f64,
    /// Type and prices.
    pub order_type: OrderType,
    /// Time in force.
    pub tif: TimeInForce,
}

impl NewOrder {
    /// A market order, good till cancelled.
    pub fn market(client_id: impl Into<String>, instrument: InstrumentId, side: Side, quantity: f64) -> Self {
        Self {
            client_id: client_id.into(),
            instrument,
            side,
            quantity,
            order_type: OrderType::Market,
            tif: TimeInForce::Gtc,
        }
    }
    /// A limit order at `price`, good till cancelled.
    pub fn limit(
        client_id: impl Into<String>,
        instrument: InstrumentId,
        side: Side,
        quantity: f64,
        price: f64,
    ) -> Self {
        Self {
            order_type: OrderType::Limit(price),
            ..Self::market(client_id, instrument, side, quantity)
        }
    }
    /// A stop order triggered at `stop`, good till cancelled.
    pub fn stop(
        client_id: impl Into<String>,
        instrument: InstrumentId,
        side: Side,
        quantity: f64,
        stop: f64,
    ) -> Self {
        Self {
            order_type: OrderType::Stop(stop),
            ..Self::market(client_id, instrument, side, quantity)
        }
    }
    /// The same order with another time in force.
    pub fn with_tif(mut self, tif: TimeInForce) -> Self {
        self.tif = tif;
        self
    }
}

/// What a guest asks the host to do. Every intent passes the host's pre-trade
/// risk checks; a refused one comes back through `on_reject`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum OrderIntent {
    /// Place a new order.
    Submit(NewOrder),
    /// Cancel the working order with this client id.
    Cancel(String),
    /// Change a working order.
    Amend {
        /// Client id of the working order.
        client_id: String,
        /// New total quantity, if it changes.
        quantity: Option<f64>,
        /// New limit price, if it changes.
        limit_price: Option<f64>,
    },
}

impl OrderIntent {
    /// Submit a market order, good till cancelled.
    pub fn market(client_id: impl Into<String>, instrument: InstrumentId, side: Side, quantity: f64) -> Self {
        Self::Submit(NewOrder::market(client_id, instrument, side, quantity))
    }
    /// Submit a limit order at `price`, good till cancelled.
    pub fn limit(
        client_id: impl Into<String>,
        instrument: InstrumentId,
        side: Side,
        quantity: f64,
        price: f64,
    ) -> Self {
        Self::Submit(NewOrder::limit(client_id, instrument, side, quantity, price))
    }
    /// Cancel the working order `client_id`.
    pub fn cancel(client_id: impl Into<String>) -> Self {
        Self::Cancel(client_id.into())
    }
    /// Change the quantity and/or limit price of the working order `client_id`.
    pub fn amend(client_id: impl Into<String>, quantity: Option<f64>, limit_price: Option<f64>) -> Self {
        Self::Amend {
            client_id: client_id.into(),
            quantity,
            limit_price,
        }
    }
    /// The client id the intent addresses.
    pub fn client_id(&self) -> &str {
        match self {
            OrderIntent::Submit(o) => &o.client_id,
            OrderIntent::Cancel(id) | OrderIntent::Amend { client_id: id, .. } => id,
        }
    }
    /// The new order, if this is a submit.
    pub fn as_submit(&self) -> Option<&NewOrder> {
        match self {
            OrderIntent::Submit(o) => Some(o),
            _ => None,
        }
    }
}

impl From<NewOrder> for OrderIntent {
    fn from(order: NewOrder) -> Self {
        OrderIntent::Submit(order)
    }
}

/// An execution of one of the guest's orders.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fill {
    /// Client id of the order.
    pub client_id: String,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Side.
    pub side: Side,
    /// Executed quantity (positive).
    pub quantity: f64,
    /// Execution price.
    pub price: f64,
    /// Commission charged (positive is a cost).
    pub commission: f64,
    /// Execution time.
    pub ts: Timestamp,
}

/// Why an intent was refused (by risk, by the broker or by the host).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reject {
    /// Client id of the intent or order.
    pub client_id: String,
    /// Stable machine-readable code such as `max-order-quantity`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// When.
    pub ts: Timestamp,
}

/// The guest's position in one instrument (signed: negative is short).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// Instrument.
    pub instrument: InstrumentId,
    /// Signed quantity.
    pub quantity: f64,
    /// Average entry price.
    pub average_price: f64,
    /// Realised P&L.
    pub realized_pnl: f64,
    /// Unrealised P&L at the last price.
    pub unrealized_pnl: f64,
}

impl Position {
    /// A flat position in `instrument`.
    pub fn flat(instrument: InstrumentId) -> Self {
        Self {
            instrument,
            ..Self::default()
        }
    }
    /// True if the quantity is zero.
    pub fn is_flat(&self) -> bool {
        self.quantity == 0.0
    }
    /// True if the quantity is positive.
    pub fn is_long(&self) -> bool {
        self.quantity > 0.0
    }
    /// True if the quantity is negative.
    pub fn is_short(&self) -> bool {
        self.quantity < 0.0
    }
}

/// The guest's account view.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Account {
    /// Cash.
    pub cash: f64,
    /// Cash plus marked positions.
    pub equity: f64,
    /// What the guest may still commit.
    pub buying_power: f64,
    /// Realised P&L.
    pub realized_pnl: f64,
    /// Unrealised P&L.
    pub unrealized_pnl: f64,
}

/// Severity of a log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Trace.
    Trace,
    /// Debug.
    Debug,
    /// Info.
    Info,
    /// Warning.
    Warn,
    /// Error.
    Error,
}

/// What a guest says about itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestInfo {
    /// Guest name, e.g. `sma-cross`.
    pub name: String,
    /// Guest version, e.g. `1.2.0`.
    pub version: String,
    /// Version of the SDK that built it ([`SDK_VERSION`](crate::SDK_VERSION)).
    pub sdk_version: String,
    /// Version of the WIT contract it speaks ([`CONTRACT_VERSION`](crate::CONTRACT_VERSION)).
    pub contract_version: String,
}

impl GuestInfo {
    /// The info of a guest built with this SDK.
    pub fn new(name: &str, version: &str) -> Self {
        Self {
            name: name.to_string(),
            version: version.to_string(),
            sdk_version: crate::SDK_VERSION.to_string(),
            contract_version: crate::CONTRACT_VERSION.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_fill_every_field() {
        let i = OrderIntent::limit("b1", InstrumentId(3), Side::Buy, 5.0, 99.5);
        let o = i.as_submit().cloned().unwrap();
        assert_eq!(o.order_type, OrderType::Limit(99.5));
        assert_eq!(o.tif, TimeInForce::Gtc);
        assert_eq!(i.client_id(), "b1");
        assert_eq!(OrderIntent::cancel("x").client_id(), "x");
        let day = NewOrder::market("m", InstrumentId(0), Side::Sell, 1.0).with_tif(TimeInForce::Day);
        assert_eq!(day.tif, TimeInForce::Day);
    }

    #[test]
    fn guest_info_carries_sdk_and_contract_versions() {
        let info = GuestInfo::new("x", "1.0.0");
        assert_eq!(info.sdk_version, env!("CARGO_PKG_VERSION"));
        assert_eq!(info.contract_version, "0.1.0");
    }
}
