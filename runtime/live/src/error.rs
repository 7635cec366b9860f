//! Errors of the live runtime, classified by what the caller did wrong (or
//! what broke) so that the API layer can map each to a precise status.

/// Why a request to the runtime failed. Every message names the input that
/// was wrong and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LiveError {
    /// The request itself is malformed (bad name, bad bytes, bad config).
    #[error("{0}")]
    InvalidArgument(String),
    /// A module, version or order the request names does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request is valid but the state forbids it (e.g. removing the active version).
    #[error("{0}")]
    FailedPrecondition(String),
    /// A configured limit was hit (upload size, live guests).
    #[error("{0}")]
    ResourceExhausted(String),
    /// The new version failed to start (init or restore); the old one runs on.
    #[error("{0}")]
    Aborted(String),
    /// The runtime is shutting down or not ready.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an I/O failure of the runtime itself.
    #[error("{0}")]
    Internal(String),
}

impl LiveError {
    pub(crate) fn stopped() -> Self {
        LiveError::Unavailable("the runtime is shutting down: retry against the restarted server".into())
    }
}

impl From<wasmtrade_store::StoreError> for LiveError {
    fn from(e: wasmtrade_store::StoreError) -> Self {
        use wasmtrade_store::StoreError as S;
        match &e {
            S::UnknownVersion { .. } | S::UnknownModule { .. } => LiveError::NotFound(e.to_string()),
            S::Quarantined { .. } | S::Removed { .. } | S::ActiveVersion { .. } => {
                LiveError::FailedPrecondition(e.to_string())
            }
            S::InvalidConfig { .. } => LiveError::InvalidArgument(e.to_string()),
            _ if e.is_disk_full() => LiveError::ResourceExhausted(e.to_string()),
            _ => LiveError::Internal(format!("store: {e}")),
        }
    }
}

impl From<wasmtrade_host::HostError> for LiveError {
    fn from(e: wasmtrade_host::HostError) -> Self {
        use wasmtrade_host::HostError as H;
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        match e {
            H::ModuleTooLarge { .. } | H::TooManyGuests { .. } => LiveError::ResourceExhausted(message),
            H::NotWasm
            | H::CoreModule
            | H::Compile { .. }
            | H::ForbiddenImports { .. }
            | H::WorldMismatch { .. }
            | H::Link { .. } => LiveError::InvalidArgument(message),
            H::Init { .. } | H::Startup { .. } | H::Instantiate { .. } => LiveError::Aborted(message),
            _ => LiveError::Internal(message),
        }
    }
}
