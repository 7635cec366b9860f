//! Why a model-store operation failed.

use std::path::PathBuf;

/// Errors of the model store, the checkpoints directory and the transitions log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelsError {
    /// A file-system operation failed.
    #[error("{action} {}", path.display())]
    Io {
        /// What was being done, e.g. `cannot write`.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A model or checkpoint name that is not `[a-z0-9_-]{1,64}` (lowercase).
    #[error("invalid name `{name}`: use 1 to 64 of a-z, 0-9, `-` and `_`")]
    InvalidName {
        /// The name given.
        name: String,
    },
    /// No such model.
    #[error("no model named `{name}` in {}", dir.display())]
    UnknownModel {
        /// The name.
        name: String,
        /// The models directory.
        dir: PathBuf,
    },
    /// No such version of a model.
    #[error("model `{name}` has no version {version} (see `wasmtrade model list`)")]
    UnknownVersion {
        /// The name.
        name: String,
        /// The version asked for.
        version: u64,
    },
    /// No such checkpoint.
    #[error("no checkpoint `{id}` of `{name}` in {}", dir.display())]
    UnknownCheckpoint {
        /// Model name.
        name: String,
        /// Checkpoint id.
        id: String,
        /// The checkpoints directory.
        dir: PathBuf,
    },
    /// A model above the size limit.
    #[error("model is {size} bytes, above the limit of {limit} bytes")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A transition could not be encoded.
    #[error("cannot encode a transition: {0}")]
    Encode(String),
    /// A record in the middle of the transitions log is corrupt.
    #[error("transitions log {} is corrupt at byte {offset}: {reason}", path.display())]
    Corrupt {
        /// The log file.
        path: PathBuf,
        /// Where the bad record starts.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
}

impl ModelsError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { action, path, source }
    }

    /// True if the caller named something that does not exist (a gRPC `NotFound`).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            Self::UnknownModel { .. } | Self::UnknownVersion { .. } | Self::UnknownCheckpoint { .. }
        )
    }
}
