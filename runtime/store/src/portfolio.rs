//! Positions and account snapshots.
//!
//! Like the risk document, the snapshot types belong to other crates (the
//! OMS), so values are any serde type kept as JSON. Each snapshot records
//! the journal sequence it reflects, so recovery can replay only what came
//! after it.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use wasmtrade_model::Timestamp;

use crate::StoreError;
use crate::codec;
use crate::journal::Seq;
use crate::store::Shared;

/// Which snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortfolioKind {
    /// Positions per instrument (`portfolio/positions`).
    Positions,
    /// Cash and account values (`portfolio/account`).
    Account,
    /// The live runtime's whole account state, the journal compacted
    /// behind it (`portfolio/checkpoint`).
    Checkpoint,
}

impl PortfolioKind {
    fn key(self) -> &'static str {
        match self {
            PortfolioKind::Positions => "positions",
            PortfolioKind::Account => "account",
            PortfolioKind::Checkpoint => "checkpoint",
        }
    }
}

/// A stored snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PortfolioSnapshot<T> {
    /// Time of the state.
    pub as_of: Timestamp,
    /// Last journal record reflected in it.
    pub journal_seq: Option<Seq>,
    /// The state.
    pub value: T,
}

/// The `portfolio` tree. Writes are not flushed on their own.
#[derive(Debug)]
pub struct Portfolio {
    shared: Arc<Shared>,
    tree: sled::Tree,
}

impl Portfolio {
    pub(crate) fn open(shared: Arc<Shared>) -> Result<Self, StoreError> {
        Ok(Self {
            tree: shared.tree("portfolio")?,
            shared,
        })
    }

    /// Replaces the `kind` snapshot.
    pub fn put<T: Serialize>(
        &self,
        kind: PortfolioKind,
        snapshot: &PortfolioSnapshot<T>,
    ) -> Result<(), StoreError> {
        let value = codec::seal_json(snapshot).map_err(|e| StoreError::Encode {
            what: format!("{} snapshot", kind.key()),
            detail: e.to_string(),
        })?;
        self.tree
            .insert(kind.key(), value)
            .map_err(self.shared.err(format!("storing the {} snapshot", kind.key())))?;
        Ok(())
    }

    /// The `kind` snapshot, decoded as `T`.
    pub fn get<T: DeserializeOwned>(
        &self,
        kind: PortfolioKind,
    ) -> Result<Option<PortfolioSnapshot<T>>, StoreError> {
        let raw = self
            .tree
            .get(kind.key())
            .map_err(self.shared.err(format!("reading the {} snapshot", kind.key())))?;
        raw.map(|raw| {
            codec::unseal_json(&raw)
                .map_err(|r| self.shared.corrupt(format!("portfolio/{}: {r}", kind.key())))
        })
        .transpose()
    }
}
