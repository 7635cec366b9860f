//! What a venue reports about itself: the connection state and, for
//! reconciliation, its view of our orders, executions, positions and cash.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use wasmtrade_model::{InstrumentId, Money, OrderId, OrderStatus, Price, Quantity, Side, Timestamp};

/// The state of a broker connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
#[non_exhaustive]
pub enum Connection {
    /// Connected and able to take orders.
    Connected,
    /// Connecting for the first time, or reconnecting after a loss.
    Connecting {
        /// Attempts since the connection was lost.
        attempt: u32,
        /// Why the last attempt failed, if one did.
        last_error: Option<String>,
    },
    /// Disconnected; new intents are refused until it comes back.
    Disconnected {
        /// Why.
        reason: String,
    },
}

impl Connection {
    /// True when orders can be sent.
    pub fn is_connected(&self) -> bool {
        matches!(self, Connection::Connected)
    }
}

/// One of our orders as the venue sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VenueOrder {
    /// Our order id (the intent id the order carried as its reference).
    pub id: OrderId,
    /// Status at the venue.
    pub status: OrderStatus,
    /// Quantity filled at the venue.
    pub filled: Quantity,
    /// Why the venue rejected or ended it, if it says.
    pub reason: Option<String>,
}

/// One execution at the venue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Execution {
    /// Our order id.
    pub order_id: OrderId,
    /// The venue's execution id (unique per execution).
    pub exec_id: String,
    /// Instrument.
    pub instrument: InstrumentId,
    /// Side.
    pub side: Side,
    /// Executed quantity (positive).
    pub quantity: Quantity,
    /// Price.
    pub price: Price,
    /// Commission (positive is a cost).
    pub commission: Money,
    /// When it happened.
    pub ts: Timestamp,
}

/// The venue's view, answered by [`Broker::report`](crate::Broker::report).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VenueReport {
    /// Orders the venue knows that carry one of our ids: every working
    /// order, plus the finished ones it still remembers (at least every id
    /// asked about in `known`). An id asked about and absent here was
    /// **confirmed absent**: the venue never received it.
    pub orders: Vec<VenueOrder>,
    /// Executions of those orders (at least of every order in `orders`).
    pub executions: Vec<Execution>,
    /// Net position per instrument for the account (long positive).
    /// (Serialized as `[[instrument, quantity], …]`: JSON object keys are
    /// strings.)
    #[serde(with = "pairs")]
    pub positions: BTreeMap<InstrumentId, Quantity>,
    /// Cash balance, if the venue reports one.
    pub cash: Option<Money>,
    /// False when the venue could not answer for every id in `known`
    /// (then nothing may be concluded from an id's absence).
    pub complete: bool,
}

/// A map as a list of pairs (JSON object keys must be strings).
mod pairs {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use wasmtrade_model::{InstrumentId, Quantity};

    pub(super) fn serialize<S: Serializer>(
        map: &BTreeMap<InstrumentId, Quantity>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        map.iter().collect::<Vec<_>>().serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<InstrumentId, Quantity>, D::Error> {
        Ok(Vec::<(InstrumentId, Quantity)>::deserialize(d)?
            .into_iter()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_round_trips_through_json() {
        let mut report = VenueReport {
            cash: Some(Money::from_int(5)),
            complete: true,
            ..VenueReport::default()
        };
        report.positions.insert(InstrumentId(3), Quantity::from_int(-7));
        let text = serde_json::to_string(&report).unwrap();
        assert_eq!(serde_json::from_str::<VenueReport>(&text).unwrap(), report);
    }
}
