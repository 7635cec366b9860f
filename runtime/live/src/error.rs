//! Errors of the live runtime. Each keeps what caused it (a store, host or
//! task error) as its [`source`](std::error::Error::source), and says which
//! [`ErrorClass`] it is: what the caller did wrong, or what broke. Only the
//! API layer turns a class into a protocol status code.

use std::error::Error as StdError;

use wasmtrade_host::HostError;
use wasmtrade_risk::RiskConfigError;
use wasmtrade_store::StoreError;

/// What kind of failure an error is, for the caller: the API layer maps
/// each class to its own status code (the runtime knows no protocol).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The request itself is malformed (bad name, bad bytes, bad config).
    InvalidArgument,
    /// A module, version or order the request names does not exist.
    NotFound,
    /// The request is valid but the state forbids it (e.g. removing the active version).
    FailedPrecondition,
    /// A configured limit was hit (upload size, live guests, disk space).
    ResourceExhausted,
    /// The new version failed to start (init or restore), or a concurrent
    /// change won; the old state holds.
    Aborted,
    /// The runtime is shutting down or not ready.
    Unavailable,
    /// A bug or an I/O failure of the runtime itself: the caller can do
    /// nothing about it but retry or report it.
    Internal,
}

/// The request input an [`LiveError::InvalidField`] (or an invalid guest
/// configuration from the store, or invalid risk limits) is about, in the
/// runtime's terms; the API layer names the request field that carried it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    /// A module name.
    Name,
    /// A strategy id (kill switches, halts).
    Strategy,
    /// A guest configuration (JSON object).
    Config,
    /// The declared sha256 of an upload.
    Sha256,
    /// The declared size of an upload.
    Size,
    /// A risk limits document.
    RiskDocument,
}

/// One problem with one request input, for structured error details.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadField {
    /// The input.
    pub field: Field,
    /// What is wrong with it and what is accepted.
    pub description: String,
}

/// Why a request to the runtime failed. Every message names the input that
/// was wrong and what to do about it.
///
/// The [`Display`](std::fmt::Display) text is the whole message, the
/// context followed by the text of each cause, since that is what operators
/// (and, unless the error is [`ErrorClass::Internal`], clients) read; the
/// typed cause itself stays reachable through
/// [`source`](std::error::Error::source) for logging and inspection.
#[derive(Debug, thiserror::Error)]
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
    /// One input of the request holds a value the runtime refuses.
    #[error("{message}")]
    InvalidField {
        /// The input.
        field: Field,
        /// What is wrong (naming the value) and what is accepted.
        message: String,
    },
    /// A risk limits document failed validation (every problem at once).
    #[error("risk limits: {source}")]
    RiskLimits {
        /// The problems, each naming its path in the document.
        #[source]
        source: RiskConfigError,
    },
    /// A store operation failed; the class follows the store's error.
    #[error("{}", joined(context, source))]
    Store {
        /// What the runtime was doing (empty: the store's message says it all).
        context: String,
        /// The store's error.
        #[source]
        source: StoreError,
    },
    /// The host refused a guest or failed to start it; the class follows
    /// the host's error.
    #[error("{}", joined(context, source))]
    Host {
        /// Which module (and version) and what was being done with it
        /// (empty: the host's message says it all).
        context: String,
        /// The host's error.
        #[source]
        source: HostError,
    },
    /// A runtime task (a blocking thread) failed or panicked.
    #[error("{what}: {source}")]
    Task {
        /// What the task was doing.
        what: String,
        /// Why it ended without an answer.
        #[source]
        source: tokio::task::JoinError,
    },
    /// Another error, with what the runtime was doing when it happened;
    /// the class is the inner error's.
    #[error("{context}: {source}")]
    Context {
        /// What was being done, e.g. ``policy `clstm` ``.
        context: String,
        /// The error.
        #[source]
        source: Box<LiveError>,
    },
}

/// `context: ` before the text of `e` and each of its causes.
fn joined(context: &str, e: &dyn StdError) -> String {
    let mut message = String::new();
    if !context.is_empty() {
        message.push_str(context);
        message.push_str(": ");
    }
    message.push_str(&e.to_string());
    let mut source = e.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

fn store_class(e: &StoreError) -> ErrorClass {
    use StoreError as S;
    match e {
        S::UnknownVersion { .. } | S::UnknownModule { .. } => ErrorClass::NotFound,
        S::Quarantined { .. } | S::Removed { .. } | S::ActiveVersion { .. } => ErrorClass::FailedPrecondition,
        S::InvalidConfig { .. } | S::InvalidName { .. } => ErrorClass::InvalidArgument,
        _ if e.is_disk_full() => ErrorClass::ResourceExhausted,
        _ => ErrorClass::Internal,
    }
}

fn host_class(e: &HostError) -> ErrorClass {
    use HostError as H;
    match e {
        H::ModuleTooLarge { .. } | H::TooManyGuests { .. } => ErrorClass::ResourceExhausted,
        H::NotWasm
        | H::CoreModule
        | H::Compile { .. }
        | H::ForbiddenImports { .. }
        | H::WorldMismatch { .. }
        | H::Link { .. } => ErrorClass::InvalidArgument,
        H::Init { .. } | H::Startup { .. } | H::Instantiate { .. } => ErrorClass::Aborted,
        _ => ErrorClass::Internal,
    }
}

impl LiveError {
    pub(crate) fn stopped() -> Self {
        LiveError::Unavailable("the runtime is shutting down: retry against the restarted server".into())
    }

    /// What kind of failure this is.
    pub fn class(&self) -> ErrorClass {
        match self {
            LiveError::InvalidArgument(_) | LiveError::InvalidField { .. } | LiveError::RiskLimits { .. } => {
                ErrorClass::InvalidArgument
            }
            LiveError::NotFound(_) => ErrorClass::NotFound,
            LiveError::FailedPrecondition(_) => ErrorClass::FailedPrecondition,
            LiveError::ResourceExhausted(_) => ErrorClass::ResourceExhausted,
            LiveError::Aborted(_) => ErrorClass::Aborted,
            LiveError::Unavailable(_) => ErrorClass::Unavailable,
            LiveError::Internal(_) | LiveError::Task { .. } => ErrorClass::Internal,
            LiveError::Store { source, .. } => store_class(source),
            LiveError::Host { source, .. } => host_class(source),
            LiveError::Context { source, .. } => source.class(),
        }
    }

    /// The request inputs this error is about, each with what is wrong with
    /// it (empty when it is about none in particular).
    pub fn bad_fields(&self) -> Vec<BadField> {
        match self {
            LiveError::InvalidField { field, message } => vec![BadField {
                field: *field,
                description: message.clone(),
            }],
            LiveError::RiskLimits { source } => source
                .problems
                .iter()
                .map(|p| BadField {
                    field: Field::RiskDocument,
                    description: p.to_string(),
                })
                .collect(),
            LiveError::Store {
                source: source @ StoreError::InvalidConfig { .. },
                ..
            } => vec![BadField {
                field: Field::Config,
                description: source.to_string(),
            }],
            LiveError::Context { source, .. } => source.bad_fields(),
            _ => Vec::new(),
        }
    }

    /// `self` with what the runtime was doing when it happened (its text is
    /// then `context: ` and the error's); the class stays the same.
    pub fn context(self, context: impl Into<String>) -> Self {
        LiveError::Context {
            context: context.into(),
            source: Box::new(self),
        }
    }

    /// A store error with what the runtime was doing.
    pub fn store(context: impl Into<String>, source: StoreError) -> Self {
        LiveError::Store {
            context: context.into(),
            source,
        }
    }

    /// A host error with the module (and version) and what was being done.
    pub fn host(context: impl Into<String>, source: HostError) -> Self {
        LiveError::Host {
            context: context.into(),
            source,
        }
    }

    /// A task that ended without an answer, with what it was doing.
    pub fn task(what: impl Into<String>, source: tokio::task::JoinError) -> Self {
        LiveError::Task {
            what: what.into(),
            source,
        }
    }
}

impl From<StoreError> for LiveError {
    fn from(source: StoreError) -> Self {
        LiveError::store("", source)
    }
}

impl From<HostError> for LiveError {
    fn from(source: HostError) -> Self {
        LiveError::host("", source)
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;
    use std::path::PathBuf;

    use super::*;

    fn io_failure() -> StoreError {
        StoreError::Io {
            dir: PathBuf::from("/data/store"),
            what: "writing the audit trail".into(),
            source: std::io::Error::other("device went away"),
        }
    }

    #[test]
    fn store_errors_keep_their_cause_and_their_class() {
        let e = LiveError::from(StoreError::UnknownModule { name: "x".into() });
        assert_eq!(e.class(), ErrorClass::NotFound);
        assert_eq!(e.to_string(), "no module named `x` in the store; upload it first");

        let e = LiveError::store("recording the swap", io_failure());
        assert_eq!(e.class(), ErrorClass::Internal);
        let text = e.to_string();
        assert!(
            text.starts_with("recording the swap: i/o error while writing the audit trail"),
            "{text}"
        );
        assert!(text.ends_with("device went away"), "{text}");
        let cause = e.source().and_then(|s| s.downcast_ref::<StoreError>());
        assert!(matches!(cause, Some(StoreError::Io { .. })), "{cause:?}");
    }

    #[test]
    fn host_errors_keep_their_class_and_context_keeps_the_inner_class() {
        let e = LiveError::host("module `m` version 2 failed to start", HostError::NotWasm);
        assert_eq!(e.class(), ErrorClass::InvalidArgument);
        assert!(
            e.to_string()
                .starts_with("module `m` version 2 failed to start: not a wasm file")
        );
        assert!(e.source().is_some_and(|s| s.is::<HostError>()));

        let e = LiveError::from(HostError::Init {
            message: "bad period".into(),
        })
        .context("policy `p`");
        assert_eq!(e.class(), ErrorClass::Aborted);
        assert_eq!(
            e.to_string(),
            "policy `p`: guest refused its configuration: bad period"
        );

        let e = LiveError::from(HostError::Engine { reason: "no".into() });
        assert_eq!(e.class(), ErrorClass::Internal);
    }

    #[test]
    fn every_message_variant_has_its_class() {
        let cases = [
            (
                LiveError::InvalidArgument(String::new()),
                ErrorClass::InvalidArgument,
            ),
            (LiveError::NotFound(String::new()), ErrorClass::NotFound),
            (
                LiveError::FailedPrecondition(String::new()),
                ErrorClass::FailedPrecondition,
            ),
            (
                LiveError::ResourceExhausted(String::new()),
                ErrorClass::ResourceExhausted,
            ),
            (LiveError::Aborted(String::new()), ErrorClass::Aborted),
            (LiveError::Unavailable(String::new()), ErrorClass::Unavailable),
            (LiveError::Internal(String::new()), ErrorClass::Internal),
        ];
        for (e, class) in cases {
            assert_eq!(e.class(), class, "{e:?}");
        }
    }

    #[test]
    fn field_errors_name_their_input() {
        let e = LiveError::InvalidField {
            field: Field::Config,
            message: "guest config is not valid JSON".into(),
        }
        .context("activate `m`");
        assert_eq!(e.class(), ErrorClass::InvalidArgument);
        assert_eq!(
            e.bad_fields(),
            vec![BadField {
                field: Field::Config,
                description: "guest config is not valid JSON".into()
            }]
        );
        let e = LiveError::from(StoreError::InvalidConfig {
            name: "m".into(),
            detail: "EOF at line 1".into(),
        });
        assert_eq!(e.bad_fields().first().map(|b| b.field), Some(Field::Config));
        assert!(LiveError::store("x", io_failure()).bad_fields().is_empty());
    }
}
