//! The audit trail: who did what to which module, in the order it was done.
//!
//! Records are appended under consecutive sequence numbers (1, 2, …) and
//! flushed before [`Audit::append`] returns, so an acknowledged record
//! survives a crash. The next number is one past the last key on disk, so
//! the order carries over a reopen.

use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use wasmtrade_model::Timestamp;

use crate::StoreError;
use crate::codec;
use crate::store::Shared;

/// One audited action (`audit/<seq>`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When it was done.
    pub ts: Timestamp,
    /// The principal (user, token name).
    pub who: String,
    /// What was done, e.g. `upload`, `activate`, `remove`.
    pub action: String,
    /// The module it was done to.
    pub name: String,
    /// The module version, 0 when the action concerns no single version.
    pub version: u32,
    /// SHA-256 of the version's bytes (lowercase hex), empty when none.
    pub sha256: String,
    /// Free text: a reason, the previous version, an error.
    pub detail: String,
}

/// The `audit` tree, append-only. Appends are flushed before they return.
#[derive(Debug)]
pub struct Audit {
    shared: Arc<Shared>,
    tree: sled::Tree,
    /// The sequence number of the next record; held while it is inserted,
    /// so numbers follow append order without gaps.
    next: Mutex<u64>,
}

impl Audit {
    pub(crate) fn open(shared: Arc<Shared>) -> Result<Self, StoreError> {
        let tree = shared.tree("audit")?;
        let last = tree.last().map_err(shared.err("reading the last audit record"))?;
        let next = match last {
            None => 1,
            Some((key, _)) => seq_of(&key)
                .and_then(|seq| seq.checked_add(1))
                .ok_or_else(|| shared.corrupt(format!("audit: malformed key {key:?}")))?,
        };
        Ok(Self {
            shared,
            tree,
            next: Mutex::new(next),
        })
    }

    /// Appends `record` durably; returns its sequence number.
    pub fn append(&self, record: &AuditRecord) -> Result<u64, StoreError> {
        let value = codec::seal_json(record).map_err(|e| StoreError::Encode {
            what: format!("audit record `{}` on module `{}`", record.action, record.name),
            detail: e.to_string(),
        })?;
        let seq = {
            let mut next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
            let seq = *next;
            self.tree
                .insert(seq.to_be_bytes(), value)
                .map_err(self.shared.err(format!("appending audit record {seq}")))?;
            *next += 1;
            seq
        };
        self.shared.flush(&format!("flushing audit record {seq}"))?;
        self.shared.advance_mark(|m| m.audit_seq = seq);
        Ok(seq)
    }

    /// The sequence number of the last record (0 when there is none).
    pub(crate) fn last_seq(&self) -> u64 {
        self.next
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .saturating_sub(1)
    }

    /// Every record in append order, or only those about module `name`.
    pub fn list(&self, name: Option<&str>) -> Result<Vec<AuditRecord>, StoreError> {
        let mut out = Vec::new();
        for item in self.tree.iter() {
            let (key, raw) = item.map_err(self.shared.err("reading the audit trail"))?;
            let record: AuditRecord = codec::unseal_json(&raw).map_err(|r| {
                let seq = seq_of(&key).map_or_else(|| format!("{key:?}"), |s| s.to_string());
                self.shared.corrupt(format!("audit/{seq}: {r}"))
            })?;
            if name.is_none_or(|n| n == record.name) {
                out.push(record);
            }
        }
        Ok(out)
    }

    /// How many records there are.
    pub fn len(&self) -> usize {
        self.tree.len()
    }

    /// True when nothing has been audited yet.
    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }
}

/// The big-endian `u64` sequence number in a key.
fn seq_of(key: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(key).ok().map(u64::from_be_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Durability, Store, StoreOptions};

    fn open(dir: &std::path::Path) -> Store {
        let options = StoreOptions {
            durability: Durability::SledFlush,
            ..StoreOptions::default()
        };
        Store::open(dir, &options).unwrap()
    }

    fn record(secs: i64, action: &str, name: &str, version: u32) -> AuditRecord {
        AuditRecord {
            ts: Timestamp::from_secs(secs),
            who: "alice".into(),
            action: action.into(),
            name: name.into(),
            version,
            sha256: format!("{:064x}", version),
            detail: String::new(),
        }
    }

    #[test]
    fn appends_in_order_and_continues_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        assert!(store.audit().is_empty());
        let first = [
            record(3, "upload", "sma", 1),
            record(1, "upload", "rsi", 1),
            record(2, "activate", "sma", 1),
        ];
        let seqs: Vec<u64> = first.iter().map(|r| store.audit().append(r).unwrap()).collect();
        assert_eq!(seqs, [1, 2, 3]);
        drop(store);

        let store = open(dir.path());
        assert_eq!(
            store.audit().list(None).unwrap(),
            first,
            "append order, not time order"
        );
        let later = record(0, "remove", "sma", 1);
        assert_eq!(store.audit().append(&later).unwrap(), 4);
        drop(store);

        let store = open(dir.path());
        let audit = store.audit();
        assert_eq!(audit.len(), 4);
        let all = audit.list(None).unwrap();
        assert_eq!(all.last(), Some(&later));
        let sma: Vec<(String, u32)> = audit
            .list(Some("sma"))
            .unwrap()
            .into_iter()
            .map(|r| (r.action, r.version))
            .collect();
        assert_eq!(
            sma,
            [
                ("upload".to_string(), 1),
                ("activate".to_string(), 1),
                ("remove".to_string(), 1)
            ]
        );
        assert!(audit.list(Some("none")).unwrap().is_empty());
    }

    #[test]
    fn sequence_numbers_sort_numerically_past_one_byte() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        for i in 0..260u32 {
            store.audit().append(&record(0, "upload", "m", i)).unwrap();
        }
        let versions: Vec<u32> = store
            .audit()
            .list(None)
            .unwrap()
            .iter()
            .map(|r| r.version)
            .collect();
        assert_eq!(versions, (0..260).collect::<Vec<_>>());
    }

    #[test]
    fn a_corrupt_record_names_its_sequence_number() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        store.audit().append(&record(0, "upload", "m", 1)).unwrap();
        store
            .audit()
            .tree
            .insert(2u64.to_be_bytes(), codec::seal(b"not json"))
            .unwrap();
        let err = store.audit().list(None).unwrap_err();
        assert!(err.is_corrupt(), "{err:?}");
        assert!(err.to_string().contains("audit/2:"), "{err}");
    }
}
