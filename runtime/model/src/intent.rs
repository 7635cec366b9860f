//! What a guest asks for, as it asked: [`RawIntent`]s with untrusted `f64`
//! numbers, and their validation into fixed-point [`OrderIntent`]s
//! ([`RawIntent::into_intent`]) before the risk engine sees them.

use serde::{Deserialize, Serialize};

use crate::{
    ClientOrderId, InstrumentId, Instruments, NewOrder, OrderIntent, OrderType, Price, Quantity, RejectCode,
    Rejection, Side, TimeInForce,
};

/// Longest client order id a guest may use, in bytes.
pub const MAX_CLIENT_ID_LEN: usize = 64;

/// An order type as a guest sent it (untrusted `f64` prices).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum RawOrderType {
    /// Market.
    Market,
    /// Limit at a price.
    Limit(f64),
    /// Stop at a trigger price.
    Stop(f64),
    /// Stop-limit.
    StopLimit {
        /// Trigger.
        stop: f64,
        /// Limit.
        limit: f64,
    },
}

/// An intent as a guest returned it, before validation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum RawIntent {
    /// Place an order.
    Submit {
        /// Guest id.
        client_id: String,
        /// Instrument handle.
        instrument: u32,
        /// Side.
        side: Side,
        /// Quantity.
        quantity: f64,
        /// Type and prices.
        order_type: RawOrderType,
        /// Time in force.
        tif: TimeInForce,
    },
    /// Cancel a working order.
    Cancel {
        /// Guest id.
        client_id: String,
    },
    /// Change a working order.
    Amend {
        /// Guest id.
        client_id: String,
        /// New quantity.
        quantity: Option<f64>,
        /// New limit price.
        limit_price: Option<f64>,
    },
}

impl RawIntent {
    /// The client id the intent addresses (possibly invalid).
    pub fn client_id(&self) -> &str {
        match self {
            RawIntent::Submit { client_id, .. }
            | RawIntent::Cancel { client_id }
            | RawIntent::Amend { client_id, .. } => client_id,
        }
    }

    /// Converts to a fixed-point [`OrderIntent`], refusing non-finite numbers,
    /// unknown instruments and malformed client ids. Sign, tick and lot checks
    /// belong to the risk engine.
    pub fn into_intent(self, instruments: &Instruments) -> Result<OrderIntent, Rejection> {
        fn client(id: String) -> Result<ClientOrderId, Rejection> {
            if id.is_empty() || id.len() > MAX_CLIENT_ID_LEN || id.chars().any(char::is_control) {
                return Err(Rejection::new(
                    RejectCode::InvalidClientId,
                    format!("client id must be 1..={MAX_CLIENT_ID_LEN} bytes without control characters"),
                ));
            }
            Ok(ClientOrderId::new(id))
        }
        fn price(what: &str, v: f64) -> Result<Price, Rejection> {
            Price::from_f64(v).map_err(|e| Rejection::new(RejectCode::NotFinite, format!("{what}: {e}")))
        }
        fn qty(v: f64) -> Result<Quantity, Rejection> {
            Quantity::from_f64(v).map_err(|e| Rejection::new(RejectCode::NotFinite, format!("quantity: {e}")))
        }
        match self {
            RawIntent::Submit {
                client_id,
                instrument,
                side,
                quantity,
                order_type,
                tif,
            } => {
                let client_id = client(client_id)?;
                let id = InstrumentId(instrument);
                if instruments.get(id).is_none() {
                    return Err(Rejection::new(
                        RejectCode::UnknownInstrument,
                        format!("instrument {id} is not known to the host"),
                    ));
                }
                let order_type = match order_type {
                    RawOrderType::Market => OrderType::Market,
                    RawOrderType::Limit(l) => OrderType::Limit {
                        limit: price("limit price", l)?,
                    },
                    RawOrderType::Stop(s) => OrderType::Stop {
                        stop: price("stop price", s)?,
                    },
                    RawOrderType::StopLimit { stop, limit } => OrderType::StopLimit {
                        stop: price("stop price", stop)?,
                        limit: price("limit price", limit)?,
                    },
                };
                Ok(OrderIntent::Submit(NewOrder {
                    client_id,
                    instrument: id,
                    side,
                    quantity: qty(quantity)?,
                    order_type,
                    tif,
                }))
            }
            RawIntent::Cancel { client_id } => Ok(OrderIntent::Cancel {
                client_id: client(client_id)?,
            }),
            RawIntent::Amend {
                client_id,
                quantity,
                limit_price,
            } => Ok(OrderIntent::Amend {
                client_id: client(client_id)?,
                quantity: quantity.map(qty).transpose()?,
                limit_price: limit_price.map(|p| price("limit price", p)).transpose()?,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instruments() -> Instruments {
        let mut i = Instruments::new();
        i.intern("AAPL");
        i
    }

    #[test]
    fn converts_a_valid_submit() {
        let raw = RawIntent::Submit {
            client_id: "b1".into(),
            instrument: 0,
            side: Side::Buy,
            quantity: 10.0,
            order_type: RawOrderType::Limit(101.25),
            tif: TimeInForce::Day,
        };
        let OrderIntent::Submit(o) = raw.into_intent(&instruments()).unwrap() else {
            panic!("not a submit")
        };
        assert_eq!(o.quantity, Quantity::from_int(10));
        assert_eq!(o.order_type.limit_price(), Some("101.25".parse().unwrap()));
    }

    #[test]
    fn refuses_nan_quantity_and_infinite_price() {
        let raw = RawIntent::Submit {
            client_id: "b1".into(),
            instrument: 0,
            side: Side::Buy,
            quantity: f64::NAN,
            order_type: RawOrderType::Market,
            tif: TimeInForce::Day,
        };
        assert_eq!(
            raw.into_intent(&instruments()).unwrap_err().code,
            RejectCode::NotFinite
        );
        let raw = RawIntent::Amend {
            client_id: "b1".into(),
            quantity: None,
            limit_price: Some(f64::INFINITY),
        };
        assert_eq!(
            raw.into_intent(&instruments()).unwrap_err().code,
            RejectCode::NotFinite
        );
    }

    #[test]
    fn refuses_unknown_instrument_and_bad_client_ids() {
        let raw = RawIntent::Submit {
            client_id: "b1".into(),
            instrument: 7,
            side: Side::Buy,
            quantity: 1.0,
            order_type: RawOrderType::Market,
            tif: TimeInForce::Day,
        };
        assert_eq!(
            raw.into_intent(&instruments()).unwrap_err().code,
            RejectCode::UnknownInstrument
        );
        for bad in [String::new(), "x".repeat(65), "a\nb".to_string()] {
            let raw = RawIntent::Cancel { client_id: bad };
            assert_eq!(
                raw.into_intent(&instruments()).unwrap_err().code,
                RejectCode::InvalidClientId
            );
        }
    }
}
