//! Changing the risk limits at run time, with four eyes where configured.
//!
//! A change is validated (every problem at once), checked against the
//! revision it was made from, then either applied at once or — when it
//! loosens a limit and `risk_changes.second_approver_to_loosen` is on —
//! stored as a pending change with an id. It takes effect only when
//! another principal approves it ([`Handle::approve_risk_change`]); the
//! principal who proposed it cannot, and no name typed by a caller counts.
//! Pending changes live in the store (`risk/pending`), so they survive a
//! restart and their ids are never reused; each principal has at most one
//! (a new proposal replaces its previous one), and approving a change made
//! against a revision that is no longer in force is refused.

use serde::{Deserialize, Serialize};
use wasmtrade_model::Timestamp;
use wasmtrade_risk::{RawRiskConfig, RiskConfig};
use wasmtrade_store::{Change, Store};

use crate::clock::unix_now;
use crate::core::Command;
use crate::error::{Field, LiveError};
use crate::handle::Handle;
use crate::risk::RiskChange;

/// A change of the limits waiting for a second principal's approval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PendingRiskChange {
    /// Its id (1, 2, … never reused).
    pub id: u64,
    /// The principal who proposed it.
    pub proposed_by: String,
    /// When (wall clock).
    pub proposed_at: Timestamp,
    /// Why.
    pub note: String,
    /// The revision it was made against.
    pub base_revision: u64,
    /// The whole proposed configuration as JSON.
    pub document: serde_json::Value,
}

/// What [`Handle::set_risk_limits`] did.
#[derive(Clone, Debug, PartialEq)]
pub enum RiskChangeOutcome {
    /// In force now.
    Applied(RiskChange),
    /// Stored, waiting for another principal's approval.
    Pending(PendingRiskChange),
}

/// `risk/pending` in the store.
#[derive(Debug, Default, Serialize, Deserialize)]
struct PendingBook {
    /// The last id given out.
    last_id: u64,
    changes: Vec<PendingRiskChange>,
}

fn read_book(store: &Store) -> Result<PendingBook, LiveError> {
    Ok(store.risk().pending::<PendingBook>()?.unwrap_or_default())
}

async fn blocking<T: Send + 'static>(
    what: &'static str,
    f: impl FnOnce() -> Result<T, LiveError> + Send + 'static,
) -> Result<T, LiveError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| LiveError::task(format!("{what} failed"), e))?
}

fn validate(document: serde_json::Value) -> Result<(RawRiskConfig, RiskConfig), LiveError> {
    let raw: RawRiskConfig = serde_json::from_value(document).map_err(|e| LiveError::InvalidField {
        field: Field::RiskDocument,
        message: format!("risk limits: {e}"),
    })?;
    let config = RiskConfig::try_from(raw.clone()).map_err(|source| LiveError::RiskLimits { source })?;
    Ok((raw, config))
}

fn with_note(head: String, note: &str) -> String {
    if note.is_empty() {
        head
    } else {
        format!("{head}: {note}")
    }
}

impl Handle {
    /// The revision in force and its configuration.
    async fn current_limits(&self) -> Result<(u64, RiskConfig), LiveError> {
        let store = self.inner().registry.shared_store();
        let current = blocking("reading the risk limits", move || {
            Ok(store.risk().current::<RawRiskConfig>()?)
        })
        .await?;
        Ok(match current {
            Some(c) => (c.revision, RiskConfig::try_from(c.document).unwrap_or_default()),
            None => (0, RiskConfig::default()),
        })
    }

    /// Changes the limits as principal `who`: validated (every problem at
    /// once), refused with `Aborted` unless `expected_revision` (when given)
    /// is current, then applied — stored (flushed), put in force between two
    /// events, audited — or, when it loosens a limit and a second approver
    /// is required, stored as pending for another principal to approve.
    pub async fn set_risk_limits(
        &self,
        document: serde_json::Value,
        expected_revision: Option<u64>,
        note: &str,
        who: &str,
    ) -> Result<RiskChangeOutcome, LiveError> {
        let (raw, config) = validate(document)?;
        let _guard = self.inner().changes.lock().await;
        let (current_revision, old) = self.current_limits().await?;
        if let Some(expected) = expected_revision
            && expected != current_revision
        {
            return Err(LiveError::Aborted(format!(
                "the risk limits changed meanwhile: revision {current_revision} is current, the change was made \
                 against revision {expected}; read them again and retry"
            )));
        }
        if old.loosened_by(&config) && self.config().risk_changes.second_approver_to_loosen {
            let pending = self.propose(raw, note, who, current_revision).await?;
            self.record(
                who,
                "risk_propose",
                "",
                0,
                &with_note(
                    format!(
                        "pending change {} against revision {current_revision} loosens limits: \
                         it waits for another principal's approval",
                        pending.id
                    ),
                    note,
                ),
            );
            return Ok(RiskChangeOutcome::Pending(pending));
        }
        let change = self.apply_limits(raw, config, note, who.to_string()).await?;
        self.record(
            who,
            "risk_set",
            "",
            0,
            &with_note(
                format!(
                    "revision {}{}",
                    change.revision,
                    if change.loosens { " (loosens)" } else { "" }
                ),
                note,
            ),
        );
        Ok(RiskChangeOutcome::Applied(change))
    }

    /// Approves pending change `id` as principal `who` and puts it in force.
    /// Refused when `who` proposed it (`FailedPrecondition`), when no such
    /// change waits (`NotFound`), and when another revision came into force
    /// since it was proposed (`Aborted`; the stale proposal is dropped).
    pub async fn approve_risk_change(&self, id: u64, who: &str) -> Result<RiskChange, LiveError> {
        let _guard = self.inner().changes.lock().await;
        let store = self.inner().registry.shared_store();
        let book = {
            let store = store.clone();
            blocking("reading the pending risk changes", move || read_book(&store)).await?
        };
        let Some(pending) = book.changes.iter().find(|p| p.id == id).cloned() else {
            return Err(LiveError::NotFound(format!(
                "no pending risk change {id}: list them with `wasmtrade risk pending`"
            )));
        };
        if pending.proposed_by == who {
            self.record(
                who,
                "risk_refused",
                "",
                0,
                &format!("approving its own pending change {id}"),
            );
            return Err(LiveError::FailedPrecondition(format!(
                "{who} proposed pending risk change {id} and cannot approve it: another principal \
                 (deployer role) must run `wasmtrade risk approve {id}`"
            )));
        }
        let (current_revision, _) = self.current_limits().await?;
        if current_revision != pending.base_revision {
            self.forget_pending(id).await?;
            return Err(LiveError::Aborted(format!(
                "pending risk change {id} was proposed against revision {} but revision {current_revision} is \
                 in force now: it is dropped; propose the change again",
                pending.base_revision
            )));
        }
        let (raw, config) = validate(pending.document.clone())?;
        let changed_by = format!("{} (approved by {who})", pending.proposed_by);
        let change = self.apply_limits(raw, config, &pending.note, changed_by).await?;
        self.forget_pending(id).await?;
        self.record(
            who,
            "risk_approve",
            "",
            0,
            &with_note(
                format!(
                    "revision {}{}: pending change {id} proposed by {}",
                    change.revision,
                    if change.loosens { " (loosens)" } else { "" },
                    pending.proposed_by
                ),
                &pending.note,
            ),
        );
        Ok(change)
    }

    /// The changes waiting for a second principal, oldest first.
    pub async fn pending_risk_changes(&self) -> Result<Vec<PendingRiskChange>, LiveError> {
        let store = self.inner().registry.shared_store();
        let book = blocking("reading the pending risk changes", move || read_book(&store)).await?;
        Ok(book.changes)
    }

    /// Stores a proposal (replacing `who`'s previous one). The caller holds
    /// the changes lock.
    async fn propose(
        &self,
        raw: RawRiskConfig,
        note: &str,
        who: &str,
        base_revision: u64,
    ) -> Result<PendingRiskChange, LiveError> {
        let store = self.inner().registry.shared_store();
        let document = serde_json::to_value(&raw)
            .map_err(|e| LiveError::Internal(format!("encoding the proposed risk limits failed: {e}")))?;
        let (note, who) = (note.to_string(), who.to_string());
        blocking("storing the pending risk change", move || {
            let mut book = read_book(&store)?;
            book.last_id += 1;
            let pending = PendingRiskChange {
                id: book.last_id,
                proposed_by: who,
                proposed_at: unix_now(),
                note,
                base_revision,
                document,
            };
            book.changes.retain(|p| p.proposed_by != pending.proposed_by);
            book.changes.push(pending.clone());
            store.risk().set_pending(&book)?;
            Ok(pending)
        })
        .await
    }

    async fn forget_pending(&self, id: u64) -> Result<(), LiveError> {
        let store = self.inner().registry.shared_store();
        blocking("storing the pending risk changes", move || {
            let mut book = read_book(&store)?;
            book.changes.retain(|p| p.id != id);
            Ok(store.risk().set_pending(&book)?)
        })
        .await
    }

    /// Stores the new revision (flushed) and puts it in force between two
    /// events. The caller holds the changes lock.
    async fn apply_limits(
        &self,
        raw: RawRiskConfig,
        config: RiskConfig,
        note: &str,
        changed_by: String,
    ) -> Result<RiskChange, LiveError> {
        let store = self.inner().registry.shared_store();
        let note = note.to_string();
        let who = changed_by.clone();
        let revision = blocking("storing the risk limits", move || {
            let change = Change {
                changed_by: &changed_by,
                changed_at: unix_now(),
                note: &note,
            };
            Ok(store.risk().set(&raw, &change)?)
        })
        .await?;
        let record = self
            .command(|reply| Command::SetLimits {
                config: Box::new(config),
                who,
                reply,
            })
            .await?;
        Ok(RiskChange {
            revision,
            loosens: record.loosens,
        })
    }
}
