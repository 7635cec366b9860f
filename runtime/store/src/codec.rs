//! The value envelope: `[format u8][crc32 u32 LE][payload]`.
//!
//! The CRC (IEEE, `crc32fast`) covers the format byte and the payload, so a
//! torn or bit-flipped value is detected on read instead of decoded into a
//! wrong order. Payloads are JSON for documents and raw bytes for blobs.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The only envelope format so far.
pub(crate) const FORMAT_V1: u8 = 1;
/// Bytes before the payload.
pub(crate) const HEADER_LEN: usize = 5;

/// Wraps `payload` in a v1 envelope.
pub(crate) fn seal(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.push(FORMAT_V1);
    out.extend_from_slice(&checksum(FORMAT_V1, payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// Checks an envelope and returns its payload, or why it is unreadable.
pub(crate) fn unseal(value: &[u8]) -> Result<&[u8], String> {
    if value.len() < HEADER_LEN {
        return Err(format!(
            "value is {} bytes, shorter than the {HEADER_LEN}-byte header (torn write?)",
            value.len()
        ));
    }
    let format = value[0];
    if format != FORMAT_V1 {
        return Err(format!(
            "unknown value format {format} (this binary reads format {FORMAT_V1})"
        ));
    }
    let stored = u32::from_le_bytes([value[1], value[2], value[3], value[4]]);
    let payload = &value[HEADER_LEN..];
    let computed = checksum(format, payload);
    if stored != computed {
        return Err(format!(
            "checksum mismatch (stored {stored:08x}, computed {computed:08x})"
        ));
    }
    Ok(payload)
}

/// A JSON document in an envelope.
pub(crate) fn seal_json<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    Ok(seal(&serde_json::to_vec(value)?))
}

/// Opens an envelope and decodes its JSON payload.
pub(crate) fn unseal_json<T: DeserializeOwned>(value: &[u8]) -> Result<T, String> {
    let payload = unseal(value)?;
    serde_json::from_slice(payload).map_err(|e| format!("undecodable payload: {e}"))
}

fn checksum(format: u8, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&[format]);
    h.update(payload);
    h.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trips_any_payload(payload in proptest::collection::vec(any::<u8>(), 0..512)) {
            let sealed = seal(&payload);
            prop_assert_eq!(unseal(&sealed).unwrap(), &payload[..]);
        }

        #[test]
        fn detects_any_single_bit_flip(payload in proptest::collection::vec(any::<u8>(), 0..256), bit in any::<usize>()) {
            let mut sealed = seal(&payload);
            let bit = bit % (sealed.len() * 8);
            sealed[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(unseal(&sealed).is_err());
        }

        #[test]
        fn detects_truncation(payload in proptest::collection::vec(any::<u8>(), 1..256), cut in any::<usize>()) {
            let sealed = seal(&payload);
            let keep = cut % sealed.len();
            prop_assert!(unseal(&sealed[..keep]).is_err());
        }
    }

    #[test]
    fn rejects_unknown_format() {
        let mut sealed = seal(b"x");
        sealed[0] = 9;
        assert!(unseal(&sealed).unwrap_err().contains("unknown value format 9"));
    }
}
