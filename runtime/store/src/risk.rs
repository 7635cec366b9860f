//! The risk configuration document and its change log.
//!
//! The store does not know the risk crate's types: the document is any
//! serde value, kept as JSON. Every change appends a log record naming who
//! changed it, when and why, in the same atomic batch as the new document.

use std::sync::{Arc, Mutex, PoisonError};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use wasmtrade_model::Timestamp;

use crate::StoreError;
use crate::codec;
use crate::store::Shared;

const CURRENT: &[u8] = b"current";
const LATCHES: &[u8] = b"latches";
const PENDING: &[u8] = b"pending";
const LOG_PREFIX: &[u8] = b"log/";

/// Who changed the configuration, when and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change<'a> {
    /// The principal (user, token name).
    pub changed_by: &'a str,
    /// When.
    pub changed_at: Timestamp,
    /// Why, free text.
    pub note: &'a str,
}

/// One revision of the configuration (`risk/current` and `risk/log/<rev>`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RiskRevision<T> {
    /// 1, 2, … per change.
    pub revision: u64,
    /// The principal.
    pub changed_by: String,
    /// When.
    pub changed_at: Timestamp,
    /// Why.
    pub note: String,
    /// The document as of this revision.
    pub document: T,
}

/// The `risk` tree. Changes are flushed before they return.
#[derive(Debug)]
pub struct RiskConfig {
    shared: Arc<Shared>,
    tree: sled::Tree,
    /// Serialises `set` so revision numbers are unique.
    writer: Mutex<()>,
}

impl RiskConfig {
    pub(crate) fn open(shared: Arc<Shared>) -> Result<Self, StoreError> {
        Ok(Self {
            tree: shared.tree("risk")?,
            shared,
            writer: Mutex::new(()),
        })
    }

    /// Replaces the configuration with `document` and logs the change;
    /// returns the new revision number.
    pub fn set<T: Serialize>(&self, document: &T, change: &Change<'_>) -> Result<u64, StoreError> {
        let document = serde_json::to_value(document).map_err(|e| StoreError::Encode {
            what: "risk configuration".into(),
            detail: e.to_string(),
        })?;
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let revision = self.current::<serde_json::Value>()?.map_or(1, |c| c.revision + 1);
        let record = RiskRevision {
            revision,
            changed_by: change.changed_by.to_string(),
            changed_at: change.changed_at,
            note: change.note.to_string(),
            document,
        };
        let value = codec::seal_json(&record).map_err(|e| StoreError::Encode {
            what: format!("risk revision {revision}"),
            detail: e.to_string(),
        })?;
        let mut batch = sled::Batch::default();
        batch.insert(CURRENT, value.clone());
        batch.insert(log_key(revision), value);
        self.tree
            .apply_batch(batch)
            .map_err(self.shared.err(format!("storing risk revision {revision}")))?;
        self.shared.flush(&format!("flushing risk revision {revision}"))?;
        Ok(revision)
    }

    /// The current configuration, decoded as `T`.
    pub fn current<T: DeserializeOwned>(&self) -> Result<Option<RiskRevision<T>>, StoreError> {
        let raw = self
            .tree
            .get(CURRENT)
            .map_err(self.shared.err("reading the risk configuration"))?;
        raw.map(|raw| codec::unseal_json(&raw).map_err(|r| self.shared.corrupt(format!("risk/current: {r}"))))
            .transpose()
    }

    /// Every revision, oldest first, with documents as JSON values.
    pub fn history(&self) -> Result<Vec<RiskRevision<serde_json::Value>>, StoreError> {
        let mut out = Vec::new();
        for item in self.tree.scan_prefix(LOG_PREFIX) {
            let (k, raw) = item.map_err(self.shared.err("reading the risk change log"))?;
            let rev: RiskRevision<serde_json::Value> = codec::unseal_json(&raw).map_err(|r| {
                self.shared
                    .corrupt(format!("risk/{}: {r}", String::from_utf8_lossy(&k)))
            })?;
            out.push(rev);
        }
        Ok(out)
    }
}

impl RiskConfig {
    /// Replaces the persisted kill switches and halts (`risk/latches`): a
    /// latch survives restarts until a person resets it. Flushed before it
    /// returns.
    pub fn set_latches<T: Serialize>(&self, latches: &T) -> Result<(), StoreError> {
        let value = codec::seal_json(latches).map_err(|e| StoreError::Encode {
            what: "kill switches and halts".into(),
            detail: e.to_string(),
        })?;
        self.tree
            .insert(LATCHES, value)
            .map_err(self.shared.err("storing the kill switches and halts"))?;
        self.shared.flush("flushing the kill switches and halts")?;
        Ok(())
    }

    /// The persisted kill switches and halts, decoded as `T`.
    pub fn latches<T: DeserializeOwned>(&self) -> Result<Option<T>, StoreError> {
        let raw = self
            .tree
            .get(LATCHES)
            .map_err(self.shared.err("reading the kill switches and halts"))?;
        raw.map(|raw| codec::unseal_json(&raw).map_err(|r| self.shared.corrupt(format!("risk/latches: {r}"))))
            .transpose()
    }
}

impl RiskConfig {
    /// Replaces the persisted changes waiting for a second approver
    /// (`risk/pending`), so a proposal survives a restart and its id is
    /// never reused. Flushed before it returns.
    pub fn set_pending<T: Serialize>(&self, pending: &T) -> Result<(), StoreError> {
        let value = codec::seal_json(pending).map_err(|e| StoreError::Encode {
            what: "pending risk changes".into(),
            detail: e.to_string(),
        })?;
        self.tree
            .insert(PENDING, value)
            .map_err(self.shared.err("storing the pending risk changes"))?;
        self.shared.flush("flushing the pending risk changes")?;
        Ok(())
    }

    /// The persisted pending changes, decoded as `T`.
    pub fn pending<T: DeserializeOwned>(&self) -> Result<Option<T>, StoreError> {
        let raw = self
            .tree
            .get(PENDING)
            .map_err(self.shared.err("reading the pending risk changes"))?;
        raw.map(|raw| codec::unseal_json(&raw).map_err(|r| self.shared.corrupt(format!("risk/pending: {r}"))))
            .transpose()
    }
}

/// `log/ ++ u64 BE revision`, so the log iterates in order.
fn log_key(revision: u64) -> Vec<u8> {
    let mut k = LOG_PREFIX.to_vec();
    k.extend_from_slice(&revision.to_be_bytes());
    k
}
