//! Durable state of the wasmtrade runtime in one data dir, on sled 0.34.
//!
//! A [`Store`] holds guest modules with all their versions, which one is
//! active and the guest configuration, an audit trail of what operators did
//! to them, precompiled artifacts keyed by (content hash, engine
//! fingerprint), guest snapshots, the risk configuration with its change
//! log, positions and account snapshots, and the **write-ahead order
//! journal**: an intent is committed (flushed) before it reaches the broker,
//! and status changes and fills are journaled as they arrive.
//!
//! sled only syncs in the background every `flush_every_ms`; durability here
//! always means an explicit flush ([`Journal::commit`]), shared by every
//! record appended since the previous one (group commit). sled 0.34's own
//! flush is `sync_file_range` on Linux, which does not survive power loss,
//! so by default a flush is followed by `fdatasync` of sled's data file
//! ([`Durability`]).
//!
//! ```
//! use wasmtrade_model::{OrderId, OrderStatus, Timestamp};
//! use wasmtrade_store::{JournalRecord, Store, StoreOptions};
//!
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(dir.path(), &StoreOptions::default())?;
//! let id = store.journal().next_order_id()?;
//! let status = JournalRecord::Status { order_id: id, status: OrderStatus::Accepted, ts: Timestamp::from_secs(1), reason: None };
//! let seq = store.journal().append_durable(&status)?;
//! drop(store);
//!
//! let store = Store::open(dir.path(), &StoreOptions::default())?;
//! let replayed: Vec<_> = store.journal().replay().collect::<Result<_, _>>()?;
//! assert_eq!((replayed[0].seq, &replayed[0].record), (seq, &status));
//! assert!(store.journal().next_order_id()? > id);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Opening
//!
//! [`Store::open`] takes an exclusive lock on `<dir>/LOCK` first (a second
//! process gets [`StoreError::Locked`] with the holder's pid and opens
//! nothing). An empty or missing dir becomes a new store; a non-empty dir
//! without a store is refused ([`StoreError::NotAStore`]); a store with a
//! newer schema is refused ([`StoreError::SchemaTooNew`]); an older one is
//! migrated step by step. Anything sled cannot read, a missing sled file,
//! a value failing its checksum, or a journal or audit trail shorter than the
//! `MARK` written at the last open or close, or than the running `MARK.live`, is [`StoreError::Corrupt`]: the store is
//! never silently started empty or overwritten.
//!
//! A full volume surfaces as [`StoreError::DiskFull`]; after any failed
//! journal write or flush the journal refuses further records
//! ([`StoreError::JournalFailed`]) until the process restarts.
//!
//! # On-disk schema (version 1, engine `sled 0.34`)
//!
//! Every directory of the data dir is `0700` and every file `0600`
//! (owner only): the store tightens them when it opens.
//!
//! ```text
//! <dir>/LOCK           flock'd while open; holds the pid of the holder
//! <dir>/MARK           envelope of JSON {journal_seq, order_id_hwm, audit_seq}:
//!                      how far the store had got at the last open/close; a
//!                      store found behind it (truncated sled files) is refused
//! <dir>/MARK.live      two 32-byte slots [b"WTM1", journal_seq, order_id_hwm,
//!                      audit_seq (u64 LE each), crc32 LE], written alternately
//!                      after every durable commit: the same check for what
//!                      was committed since the last start (kill -9 writes no
//!                      closing MARK)
//! <dir>/sled/          the sled database (conf, db, blobs/, snap.*)
//! <dir>/sled.init/     only while a new store is being created; renamed
//!                      to sled/ once its schema record is flushed
//! ```
//!
//! Every value is an envelope `[format u8 = 1][crc32 u32 LE][payload]`, the
//! CRC (IEEE) taken over the format byte and the payload. Integers in keys
//! are big-endian so keys sort numerically.
//!
//! | tree | key | payload |
//! |---|---|---|
//! | `meta` | `schema` | JSON [`SchemaRecord`] `{schema_version, created (ns since epoch), engine}` |
//! | `meta` | `order_id_hwm` | JSON `u64`: first order id not yet reserved |
//! | `meta` | `journal_base` | JSON `u64`: records up to it were compacted away behind the `portfolio/checkpoint` ([`Journal::compact_through`]) |
//! | `journal` | `u64` seq | JSON `{seq, record}`, `record` a [`JournalRecord`] tagged by `type` (`intent`, `status`, `fill`, `never_sent`, `reconciliation`) |
//! | `orders` | `u64` order id | JSON `Order`: a finished order, kept after it left memory ([`OrderHistory`], newest `[store] order_history` only) |
//! | `modules` | module name (UTF-8) | JSON [`Module`]: kind, versions (sha256, size, label, uploaded_by/at, status `staged`/`released`/`quarantined`/`removed`), active version, `config` (guest JSON as text, may be absent) |
//! | `blobs` | sha256 (32 bytes) | raw module bytes, checked against the key on read; deleted with the last version that is not `removed` and uses them |
//! | `audit` | `u64` seq (1, 2, … in append order) | JSON [`AuditRecord`] `{ts, who, action, name, version, sha256, detail}` |
//! | `artifacts` | sha256 (32 bytes) ++ engine fingerprint (UTF-8) | raw precompiled artifact |
//! | `snapshots` | `u16` id length ++ strategy id ++ `u32` version | `i64` taken-at nanos ++ raw guest state |
//! | `risk` | `current` | JSON [`RiskRevision`] (document as JSON) |
//! | `risk` | `log/` ++ `u64` revision | JSON [`RiskRevision`] |
//! | `risk` | `latches` | JSON kill switches and halts (the risk crate's `KillSwitchState`), latched across restarts |
//! | `portfolio` | `positions`, `account`, `checkpoint` | JSON [`PortfolioSnapshot`] `{as_of, journal_seq, value}`; `checkpoint` holds the live runtime's whole account state (the OMS's) at `journal_seq` |
//!
//! Money, prices and quantities inside JSON are decimal strings (the model's
//! serde form), so they round-trip exactly.
//!
//! # Versions and migrations
//!
//! [`SCHEMA_VERSION`] is 1. A change to any tree, key or payload above is a
//! new version with a registered migration step from the previous one; each
//! step is idempotent and followed by a durable update of `meta/schema`, so
//! an interrupted migration resumes. The only step so far, 0 → 1, is a
//! no-op (pre-release stores had the same layout). The envelope has its own
//! format byte for changes to the framing.
//!
//! Adding a tree needs no new version: a tree absent from an older store
//! reads as empty, which is what it would have held. That is how `audit`
//! was added. Likewise `Module.config` and the `removed` status were added
//! within version 1: records written before them decode unchanged (`config`
//! defaults to empty). A binary from before them, though, reads a module
//! with a `removed` version as corrupt, so do not downgrade past them. The
//! same holds for `meta/journal_base` (with `orders` and
//! `portfolio/checkpoint`): an older binary reads a compacted journal as
//! one with a gap and refuses it.

mod artifacts;
mod audit;
mod codec;
mod error;
mod hash;
mod history;
mod journal;
mod lock;
mod mark;
mod modules;
mod perms;
mod portfolio;
mod record;
mod recovery;
mod risk;
mod schema;
mod snapshots;
mod store;

pub use artifacts::{Artifacts, CacheStats};
pub use audit::{Audit, AuditRecord};
pub use error::StoreError;
pub use hash::{BadHash, ContentHash};
pub use history::OrderHistory;
pub use journal::{Journal, JournalEntry, Replay, Seq, SeqRange};
pub use modules::{ActivePair, Module, ModuleKind, ModuleVersion, Modules, Upload, VersionStatus};
pub use perms::{DIR_MODE, FILE_MODE};
pub use portfolio::{Portfolio, PortfolioKind, PortfolioSnapshot};
pub use record::{Difference, DifferenceKind, IntentState, JournalRecord};
pub use recovery::{RecoveredOrder, Recovery};
pub use risk::{Change, RiskConfig, RiskRevision};
pub use schema::{ENGINE, SCHEMA_VERSION, SchemaRecord};
pub use snapshots::{Snapshot, Snapshots};
pub use store::{Durability, Store, StoreOptions};
