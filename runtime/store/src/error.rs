//! The store's error type: structured variants whose messages name the data
//! dir (and tree/key) and say what to do.

use std::io;
use std::path::{Path, PathBuf};

/// Everything that can go wrong opening or using a [`Store`](crate::Store).
///
/// Messages are written for the operator who has to act on them; the
/// predicates ([`is_disk_full`](Self::is_disk_full),
/// [`is_corrupt`](Self::is_corrupt)) are for code that has to decide.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Another process holds the data dir's lock file.
    #[error(
        "data dir {dir} is in use by another running process ({}); stop that process or give this one another data dir",
        holder_pid.map_or_else(|| "pid unknown".to_string(), |p| format!("pid {p}"))
    )]
    Locked {
        /// The data dir.
        dir: PathBuf,
        /// Pid written into the lock file by the holder, if readable.
        holder_pid: Option<u32>,
    },
    /// The data dir holds something that is not a wasmtrade store.
    #[error(
        "{dir} is not a wasmtrade store ({reason}); point the data dir at an empty directory or at an existing store, nothing was changed"
    )]
    NotAStore {
        /// The data dir.
        dir: PathBuf,
        /// What was found instead.
        reason: String,
    },
    /// The data dir does not exist and `create` was off.
    #[error("data dir {dir} does not exist; create it or enable creation of a new store")]
    Missing {
        /// The data dir.
        dir: PathBuf,
    },
    /// The store was written by a newer binary.
    #[error(
        "store at {dir} has schema version {found}, newer than version {supported} that this binary supports; run the newer wasmtrade (a downgrade would lose data), nothing was changed"
    )]
    SchemaTooNew {
        /// The data dir.
        dir: PathBuf,
        /// Schema version on disk.
        found: u32,
        /// Highest schema version this binary knows.
        supported: u32,
    },
    /// The store is older than this binary and no migration covers a step.
    #[error(
        "store at {dir} has schema version {from} and this binary has no migration from it; upgrade through an intermediate release, nothing was changed"
    )]
    NoMigration {
        /// The data dir.
        dir: PathBuf,
        /// The version without a migration step.
        from: u32,
    },
    /// The store was written by another storage engine (format).
    #[error(
        "store at {dir} was written by storage engine `{found}` but this binary reads `{expected}`; convert it with the matching release, nothing was changed"
    )]
    EngineMismatch {
        /// The data dir.
        dir: PathBuf,
        /// Engine recorded in the schema record.
        found: String,
        /// Engine of this binary.
        expected: String,
    },
    /// Data on disk failed a consistency check (checksum, framing, sled
    /// recovery). The store is never opened empty or rewritten in that case.
    #[error(
        "store at {dir} is corrupt: {reason}; refusing to use it: keep the data dir for analysis, restore it from a backup and let start-up reconciliation with the broker fill the gap"
    )]
    Corrupt {
        /// The data dir.
        dir: PathBuf,
        /// What failed, naming the tree and key.
        reason: String,
    },
    /// The volume is full (ENOSPC / quota).
    #[error(
        "disk full while {what} in {dir}: free space on the volume or grow it, then restart; the write was not acknowledged as durable"
    )]
    DiskFull {
        /// The data dir.
        dir: PathBuf,
        /// The operation that failed.
        what: String,
    },
    /// Any other I/O error.
    #[error("i/o error while {what} in {dir}")]
    Io {
        /// The data dir.
        dir: PathBuf,
        /// The operation that failed.
        what: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The storage engine failed in a way that is neither I/O nor corruption.
    #[error(
        "storage engine error while {what} in {dir}: {detail}; restart the process, and report it if it repeats"
    )]
    Engine {
        /// The data dir.
        dir: PathBuf,
        /// The operation that failed.
        what: String,
        /// The engine's description.
        detail: String,
    },
    /// The journal refuses records after a failed write or flush.
    #[error(
        "the order journal in {dir} stopped accepting records after a failed write ({first_error}); stop trading and restart the process so recovery can reconcile with the broker"
    )]
    JournalFailed {
        /// The data dir.
        dir: PathBuf,
        /// The first failure.
        first_error: String,
    },
    /// A value could not be encoded.
    #[error("cannot encode {what}: {detail}")]
    Encode {
        /// What was being written.
        what: String,
        /// The encoder's description.
        detail: String,
    },
    /// No module of that name is stored.
    #[error("no module named `{name}` in the store; upload it first")]
    UnknownModule {
        /// Module name.
        name: String,
    },
    /// The module has no such version.
    #[error("module `{name}` has no version {version}; list its versions to pick one")]
    UnknownVersion {
        /// Module name.
        name: String,
        /// Requested version.
        version: u32,
    },
    /// A quarantined version cannot become active.
    #[error(
        "module `{name}` version {version} is quarantined and cannot be activated; upload a fixed version"
    )]
    Quarantined {
        /// Module name.
        name: String,
        /// The quarantined version.
        version: u32,
    },
    /// A removed version cannot become active; its bytes may be gone.
    #[error("module `{name}` version {version} was removed: upload it again to use it")]
    Removed {
        /// Module name.
        name: String,
        /// The removed version.
        version: u32,
    },
    /// The active version of a module cannot be removed on its own.
    #[error(
        "module `{name}` version {version} is active and cannot be removed; activate (roll back to) another version first, or remove the whole module"
    )]
    ActiveVersion {
        /// Module name.
        name: String,
        /// The active version.
        version: u32,
    },
    /// A module name outside the documented rule (the API refuses it
    /// before it gets here).
    #[error("{reason}; nothing was stored")]
    InvalidName {
        /// What is wrong with the name.
        reason: wasmtrade_model::InvalidModuleName,
    },
    /// A guest configuration that is not JSON.
    #[error(
        "the configuration of module `{name}` is not valid JSON ({detail}); send a JSON document, or an empty one for `{{}}`"
    )]
    InvalidConfig {
        /// Module name.
        name: String,
        /// The parser's description, with line and column.
        detail: String,
    },
}

impl StoreError {
    /// True when the volume is full: new intents must be refused before
    /// anything is sent.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, StoreError::DiskFull { .. })
    }
    /// True when data on disk failed a consistency check.
    pub fn is_corrupt(&self) -> bool {
        matches!(self, StoreError::Corrupt { .. })
    }

    pub(crate) fn io(dir: &Path, what: impl Into<String>, source: io::Error) -> Self {
        let what = what.into();
        if is_disk_full(&source) {
            StoreError::DiskFull {
                dir: dir.to_path_buf(),
                what,
            }
        } else {
            StoreError::Io {
                dir: dir.to_path_buf(),
                what,
                source,
            }
        }
    }

    /// Maps a sled error met while `what`.
    pub(crate) fn sled(dir: &Path, what: impl Into<String>, err: sled::Error) -> Self {
        let what = what.into();
        match err {
            sled::Error::Io(source) => Self::io(dir, what, source),
            sled::Error::Corruption { at, .. } => StoreError::Corrupt {
                dir: dir.to_path_buf(),
                reason: match at {
                    Some(at) => format!("sled found corrupt data at {at:?} while {what}"),
                    None => format!("sled found corrupt data while {what}"),
                },
            },
            other => StoreError::Engine {
                dir: dir.to_path_buf(),
                what,
                detail: other.to_string(),
            },
        }
    }

    pub(crate) fn corrupt(dir: &Path, reason: impl Into<String>) -> Self {
        StoreError::Corrupt {
            dir: dir.to_path_buf(),
            reason: reason.into(),
        }
    }
}

/// ENOSPC and EDQUOT.
fn is_disk_full(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enospc_from_sled_is_disk_full() {
        let err = sled::Error::Io(io::Error::from_raw_os_error(28));
        let mapped = StoreError::sled(Path::new("/data"), "appending to the journal", err);
        assert!(mapped.is_disk_full(), "{mapped:?}");
        assert!(mapped.to_string().contains("/data"), "{mapped}");
    }

    #[test]
    fn sled_corruption_is_corrupt() {
        let err = sled::Error::Corruption { at: None, bt: () };
        let mapped = StoreError::sled(Path::new("/data"), "opening", err);
        assert!(mapped.is_corrupt());
        assert!(
            mapped.to_string().contains("restore it from a backup"),
            "{mapped}"
        );
    }

    #[test]
    fn other_io_errors_keep_their_source() {
        let mapped = StoreError::io(
            Path::new("/d"),
            "reading",
            io::Error::from(io::ErrorKind::PermissionDenied),
        );
        assert!(matches!(mapped, StoreError::Io { .. }));
        assert!(std::error::Error::source(&mapped).is_some());
    }
}
