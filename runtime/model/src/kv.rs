//! A guest's private key-value space, bounded in bytes and entries.

use std::collections::BTreeMap;

/// Why a write to a [`KvSpace`] was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KvFull {
    /// The keys and values would take more bytes than allowed.
    #[error(
        "key-value space full: {needed} bytes of keys and values needed, the limit is {limit} (`max_kv_bytes`); overwrite or shrink existing entries"
    )]
    Bytes {
        /// Bytes the space would hold after the write.
        needed: usize,
        /// The limit.
        limit: usize,
    },
    /// A new key would exceed the number of entries allowed.
    #[error(
        "key-value space full: {limit} entries already (`max_kv_entries`); reuse existing keys instead of adding new ones"
    )]
    Entries {
        /// The limit.
        limit: usize,
    },
}

/// A guest's key-value space: a sorted map whose size in bytes (keys plus
/// values) is kept as it changes, so every operation is O(log n) in the
/// number of entries and never scans the map.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KvSpace {
    map: BTreeMap<String, Vec<u8>>,
    /// Sum of key and value lengths over every entry.
    bytes: usize,
}

impl KvSpace {
    /// An empty space.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value stored under `key`.
    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.map.get(key).map(Vec::as_slice)
    }

    /// Entries stored.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Bytes of keys and values stored (what `max_kv_bytes` bounds).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.map.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// Stores `value` under `key` (replacing what was there) if the space
    /// stays within `max_bytes` of keys and values and `max_entries`
    /// entries; on refusal nothing changes.
    pub fn set(
        &mut self,
        key: &str,
        value: &[u8],
        max_bytes: usize,
        max_entries: usize,
    ) -> Result<(), KvFull> {
        let size = key.len().saturating_add(value.len());
        if let Some(old) = self.map.get_mut(key) {
            let needed = (self.bytes - key.len() - old.len()).saturating_add(size);
            if needed > max_bytes {
                return Err(KvFull::Bytes {
                    needed,
                    limit: max_bytes,
                });
            }
            // A fresh allocation: a shrunk value must not keep the old capacity.
            *old = value.to_vec();
            self.bytes = needed;
            return Ok(());
        }
        if self.map.len() >= max_entries {
            return Err(KvFull::Entries { limit: max_entries });
        }
        let needed = self.bytes.saturating_add(size);
        if needed > max_bytes {
            return Err(KvFull::Bytes {
                needed,
                limit: max_bytes,
            });
        }
        self.map.insert(key.to_string(), value.to_vec());
        self.bytes = needed;
        Ok(())
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Vec<u8>> {
        let value = self.map.remove(key)?;
        self.bytes -= key.len() + value.len();
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte count recomputed the slow way.
    fn scanned(kv: &KvSpace) -> usize {
        kv.iter().map(|(k, v)| k.len() + v.len()).sum()
    }

    #[test]
    fn size_accounting_follows_inserts_overwrites_refusals_and_removals() {
        let mut kv = KvSpace::new();
        kv.set("a", b"12345", 20, 3).unwrap();
        kv.set("bb", b"1", 20, 3).unwrap();
        assert_eq!((kv.bytes(), kv.len()), (9, 2));
        // Overwrite larger, then smaller: only the difference counts.
        kv.set("a", b"1234567890", 20, 3).unwrap();
        assert_eq!(kv.bytes(), 14);
        kv.set("a", b"", 20, 3).unwrap();
        assert_eq!(kv.bytes(), 4);
        assert_eq!(kv.get("a"), Some(&b""[..]));
        // A refused overwrite leaves the old value and the count alone.
        assert_eq!(
            kv.set("bb", &[0; 19], 20, 3),
            Err(KvFull::Bytes {
                needed: 22,
                limit: 20
            })
        );
        assert_eq!((kv.get("bb"), kv.bytes()), (Some(&b"1"[..]), 4));
        assert_eq!(kv.remove("bb"), Some(b"1".to_vec()));
        assert_eq!(kv.remove("bb"), None);
        assert_eq!((kv.bytes(), kv.len()), (1, 1));
        assert_eq!(kv.bytes(), scanned(&kv));
    }

    #[test]
    fn the_entry_limit_refuses_new_keys_but_not_overwrites() {
        let mut kv = KvSpace::new();
        kv.set("a", b"1", 100, 2).unwrap();
        kv.set("b", b"2", 100, 2).unwrap();
        assert_eq!(kv.set("c", b"3", 100, 2), Err(KvFull::Entries { limit: 2 }));
        kv.set("b", b"22", 100, 2).unwrap();
        assert_eq!((kv.len(), kv.bytes()), (2, 5));
        kv.remove("a");
        kv.set("c", b"3", 100, 2).unwrap();
        assert_eq!(kv.get("c"), Some(&b"3"[..]));
    }

    #[test]
    fn the_byte_limit_counts_keys_and_values_of_every_entry() {
        let mut kv = KvSpace::new();
        kv.set("k", b"1234567", 8, 10).unwrap();
        assert_eq!(
            kv.set("j", b"", 8, 10),
            Err(KvFull::Bytes { needed: 9, limit: 8 })
        );
        assert_eq!(kv.len(), 1);
        kv.set("k", b"7654321", 8, 10).unwrap();
        assert_eq!(kv.bytes(), 8);
    }

    #[test]
    fn a_key_storm_keeps_the_count_exact() {
        let mut kv = KvSpace::new();
        let mut refused = 0;
        for i in 0..20_000u32 {
            let key = format!("k{}", i % 5_000);
            let value = vec![0u8; (i % 7) as usize];
            if kv.set(&key, &value, 40_000, 4_000).is_err() {
                refused += 1;
            }
        }
        assert!(refused > 0);
        assert!(kv.len() <= 4_000);
        assert!(kv.bytes() <= 40_000);
        assert_eq!(kv.bytes(), scanned(&kv));
    }
}
