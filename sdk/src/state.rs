//! Encoding guest state for snapshots (JSON, exact for `f64`).
//!
//! A snapshot must let a new instance resume exactly where the old one
//! stopped, so floats round-trip bit for bit (the SDK enables serde_json's
//! `float_roundtrip`). Keep a version field in your state if its shape may
//! change between guest versions.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use wasmtrade_sdk::state;
//!
//! #[derive(Serialize, Deserialize, PartialEq, Debug)]
//! struct Counter { bars: u64, mean: f64 }
//!
//! let bytes = state::encode(&Counter { bars: 3, mean: 0.1 + 0.2 }).unwrap();
//! let back: Counter = state::decode(&bytes).unwrap();
//! assert_eq!(back, Counter { bars: 3, mean: 0.1 + 0.2 });
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;

/// Serialises state to bytes.
pub fn encode<T: Serialize>(state: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(state).map_err(|e| Error::new(format!("cannot encode state: {e}")))
}

/// Reads state produced by [`encode`]; errors read `invalid state: ...`.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(Error::state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_round_trip_bit_for_bit() {
        let xs: Vec<f64> = (1..2000)
            .map(|i| (i as f64).sqrt() / 7.0 + 1e-300 * i as f64)
            .collect();
        let back: Vec<f64> = decode(&encode(&xs).unwrap()).unwrap();
        assert!(xs.iter().zip(&back).all(|(a, b)| a.to_bits() == b.to_bits()));
    }

    #[test]
    fn garbage_state_is_an_invalid_state_error() {
        let err = decode::<Vec<f64>>(b"{").unwrap_err();
        assert!(err.to_string().starts_with("invalid state: "), "{err}");
    }
}
