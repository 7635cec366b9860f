//! Guest state snapshots, per strategy id and module version.

use std::sync::Arc;

use wasmtrade_model::{StrategyId, Timestamp};

use crate::StoreError;
use crate::codec;
use crate::store::Shared;

/// One guest snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// Strategy id.
    pub strategy: StrategyId,
    /// Module version that produced it.
    pub version: u32,
    /// When it was taken.
    pub taken_at: Timestamp,
    /// The bytes the guest's `snapshot()` returned.
    pub state: Vec<u8>,
}

/// The `snapshots` tree; one snapshot per (strategy, version), replaced on
/// each put. Writes are not flushed: call [`Store::flush`](crate::Store::flush)
/// after snapshotting at shutdown.
#[derive(Debug)]
pub struct Snapshots {
    shared: Arc<Shared>,
    tree: sled::Tree,
}

impl Snapshots {
    pub(crate) fn open(shared: Arc<Shared>) -> Result<Self, StoreError> {
        Ok(Self {
            tree: shared.tree("snapshots")?,
            shared,
        })
    }

    /// Stores (replaces) the snapshot of `strategy` at `version`.
    pub fn put(
        &self,
        strategy: &StrategyId,
        version: u32,
        taken_at: Timestamp,
        state: &[u8],
    ) -> Result<(), StoreError> {
        let key = key(strategy, version)?;
        let mut payload = Vec::with_capacity(8 + state.len());
        payload.extend_from_slice(&taken_at.nanos().to_be_bytes());
        payload.extend_from_slice(state);
        self.tree.insert(key, codec::seal(&payload)).map_err(
            self.shared
                .err(format!("storing the snapshot of {strategy} v{version}")),
        )?;
        Ok(())
    }

    /// The snapshot of `strategy` at `version`.
    pub fn get(&self, strategy: &StrategyId, version: u32) -> Result<Option<Snapshot>, StoreError> {
        let raw = self.tree.get(key(strategy, version)?).map_err(
            self.shared
                .err(format!("reading the snapshot of {strategy} v{version}")),
        )?;
        raw.map(|raw| self.decode(strategy, version, &raw)).transpose()
    }

    /// The most recently taken snapshot of `strategy`, whatever its version.
    pub fn latest(&self, strategy: &StrategyId) -> Result<Option<Snapshot>, StoreError> {
        let prefix = prefix(strategy)?;
        let mut best: Option<Snapshot> = None;
        for item in self.tree.scan_prefix(&prefix) {
            let (k, raw) = item.map_err(self.shared.err(format!("listing snapshots of {strategy}")))?;
            let version = k
                .get(prefix.len()..)
                .and_then(|v| <[u8; 4]>::try_from(v).ok())
                .map(u32::from_be_bytes)
                .ok_or_else(|| {
                    self.shared
                        .corrupt(format!("snapshots/{strategy}: malformed key {k:?}"))
                })?;
            let snap = self.decode(strategy, version, &raw)?;
            if best.as_ref().is_none_or(|b| snap.taken_at >= b.taken_at) {
                best = Some(snap);
            }
        }
        Ok(best)
    }

    fn decode(&self, strategy: &StrategyId, version: u32, raw: &[u8]) -> Result<Snapshot, StoreError> {
        let payload = codec::unseal(raw).map_err(|r| {
            self.shared
                .corrupt(format!("snapshots/{strategy}/v{version}: {r}"))
        })?;
        let (ts, state) = payload.split_first_chunk::<8>().ok_or_else(|| {
            self.shared.corrupt(format!(
                "snapshots/{strategy}/v{version}: payload shorter than its timestamp"
            ))
        })?;
        Ok(Snapshot {
            strategy: strategy.clone(),
            version,
            taken_at: Timestamp::from_nanos(i64::from_be_bytes(*ts)),
            state: state.to_vec(),
        })
    }
}

/// `u16 BE length ++ strategy id`.
fn prefix(strategy: &StrategyId) -> Result<Vec<u8>, StoreError> {
    let id = strategy.as_str().as_bytes();
    let len = u16::try_from(id.len()).map_err(|_| StoreError::Encode {
        what: format!("snapshot key for {strategy}"),
        detail: "strategy id longer than 65535 bytes".into(),
    })?;
    let mut k = Vec::with_capacity(2 + id.len() + 4);
    k.extend_from_slice(&len.to_be_bytes());
    k.extend_from_slice(id);
    Ok(k)
}

/// `prefix ++ u32 BE version`.
fn key(strategy: &StrategyId, version: u32) -> Result<Vec<u8>, StoreError> {
    let mut k = prefix(strategy)?;
    k.extend_from_slice(&version.to_be_bytes());
    Ok(k)
}
