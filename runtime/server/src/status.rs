//! The one place runtime errors become gRPC statuses.
//!
//! The runtime classifies its errors ([`ErrorClass`]); only this module
//! knows gRPC codes. An internal error's cause is logged here with a short
//! incident id, and the client gets only that id: its message may name
//! paths, store records or a bug, none of which the caller can act on.
//! Errors about a named request field carry `google.rpc.BadRequest` field
//! violations, so clients can point at the field without parsing text.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};
use wasmtrade_live::{ErrorClass, Field, LiveError};

/// The gRPC code of an error class.
pub fn code_of(class: ErrorClass) -> Code {
    match class {
        ErrorClass::InvalidArgument => Code::InvalidArgument,
        ErrorClass::NotFound => Code::NotFound,
        ErrorClass::FailedPrecondition => Code::FailedPrecondition,
        ErrorClass::ResourceExhausted => Code::ResourceExhausted,
        ErrorClass::Aborted => Code::Aborted,
        ErrorClass::Unavailable => Code::Unavailable,
        ErrorClass::Internal => Code::Internal,
    }
}

/// The request field that carries `field`, as named in the request messages
/// (relative to the message holding it: `UploadHeader` for uploads).
fn field_name(field: Field) -> &'static str {
    match field {
        Field::Name => "name",
        Field::Strategy => "strategy",
        Field::Config => "config_json",
        Field::Sha256 => "sha256",
        Field::Size => "size",
        Field::RiskDocument => "document_json",
    }
}

/// The status for a runtime error: the code says what kind of problem it
/// is, the message (from the runtime) names the input and what to do;
/// request fields are named at the top level of the request message.
pub fn to_status(e: LiveError) -> Status {
    to_status_in(e, "")
}

/// As [`to_status`], for a request whose fields sit in sub-message
/// `message` (e.g. `header` for an upload's `UploadHeader`): the BadRequest
/// violations then name `header.config_json` and so on.
pub fn to_status_in(e: LiveError, message: &str) -> Status {
    let class = e.class();
    if class == ErrorClass::Internal {
        return internal(&e);
    }
    let violations: Vec<FieldViolation> = e
        .bad_fields()
        .into_iter()
        .map(|b| {
            let name = field_name(b.field);
            let path = if message.is_empty() {
                name.to_string()
            } else {
                format!("{message}.{name}")
            };
            FieldViolation::new(path, b.description)
        })
        .collect();
    if violations.is_empty() {
        Status::new(code_of(class), e.to_string())
    } else {
        Status::with_error_details(
            code_of(class),
            e.to_string(),
            ErrorDetails::with_bad_request(violations),
        )
    }
}

/// `INVALID_ARGUMENT` about request field `field` (a dot-separated path),
/// with `message` as the status message and the field violation's text.
pub fn invalid_field(field: &str, message: impl Into<String>) -> Status {
    let message = message.into();
    Status::with_error_details(
        Code::InvalidArgument,
        message.clone(),
        ErrorDetails::with_bad_request_violation(field, message),
    )
}

/// Logs an internal error with its whole cause chain under a fresh incident
/// id, and returns a status that carries only that id.
fn internal(e: &LiveError) -> Status {
    let incident = incident_id();
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        causes.push(s.to_string());
        source = s.source();
    }
    tracing::error!(
        incident = %incident,
        error = %e,
        causes = ?causes,
        detail = ?e,
        "internal error answering a request"
    );
    Status::internal(format!(
        "internal error (incident {incident}): the server logged the cause; retry, and if it repeats \
         report the incident id to the operator"
    ))
}

/// A short id, unique enough to find one log line among a day's.
fn incident_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut h = std::hash::RandomState::new().build_hasher();
    h.write_u64(NEXT.fetch_add(1, Ordering::Relaxed));
    format!("{:08x}", h.finish() as u32)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use wasmtrade_store::StoreError;

    use super::*;

    #[test]
    fn each_class_has_its_own_code() {
        let cases = [
            (ErrorClass::InvalidArgument, Code::InvalidArgument),
            (ErrorClass::NotFound, Code::NotFound),
            (ErrorClass::FailedPrecondition, Code::FailedPrecondition),
            (ErrorClass::ResourceExhausted, Code::ResourceExhausted),
            (ErrorClass::Aborted, Code::Aborted),
            (ErrorClass::Unavailable, Code::Unavailable),
            (ErrorClass::Internal, Code::Internal),
        ];
        for (class, code) in cases {
            assert_eq!(code_of(class), code, "{class:?}");
        }
    }

    #[test]
    fn each_error_kind_has_its_own_code_and_keeps_its_message() {
        let s = to_status(LiveError::NotFound("no module named `x`".into()));
        assert_eq!(s.code(), Code::NotFound);
        assert_eq!(s.message(), "no module named `x`");
        assert_eq!(to_status(LiveError::Aborted(String::new())).code(), Code::Aborted);
        assert_eq!(
            to_status(LiveError::ResourceExhausted(String::new())).code(),
            Code::ResourceExhausted
        );
        let s = to_status(LiveError::from(StoreError::ActiveVersion {
            name: "m".into(),
            version: 2,
        }));
        assert_eq!(s.code(), Code::FailedPrecondition);
        assert!(s.message().contains("version 2 is active"), "{}", s.message());
        assert!(s.get_error_details().bad_request().is_none());
    }

    #[test]
    fn an_internal_errors_cause_is_not_in_the_clients_message() {
        let e = LiveError::store(
            "recording the swap",
            StoreError::Io {
                dir: PathBuf::from("/srv/secret-data-dir"),
                what: "writing the audit trail".into(),
                source: std::io::Error::other("sled page 7 unreadable"),
            },
        );
        let s = to_status(e);
        assert_eq!(s.code(), Code::Internal);
        for leak in [
            "secret-data-dir",
            "sled page 7",
            "audit trail",
            "recording the swap",
        ] {
            assert!(!s.message().contains(leak), "{leak} leaked: {}", s.message());
        }
        assert!(s.message().contains("incident "), "{}", s.message());

        let s = to_status(LiveError::Internal("the store has no bytes for module abc".into()).context("x"));
        assert_eq!(s.code(), Code::Internal);
        assert!(!s.message().contains("no bytes"), "{}", s.message());
    }

    #[test]
    fn incident_ids_differ() {
        assert_ne!(incident_id(), incident_id());
        assert_eq!(incident_id().len(), 8);
    }

    #[test]
    fn field_errors_carry_bad_request_violations_naming_the_request_field() {
        let e = wasmtrade_live::check_config("[1]").unwrap_err();
        let s = to_status_in(e, "header");
        assert_eq!(s.code(), Code::InvalidArgument);
        assert!(s.message().contains("must be a JSON object"), "{}", s.message());
        let details = s.get_error_details();
        let violations = &details.bad_request().unwrap().field_violations;
        assert_eq!(violations.len(), 1);
        assert_eq!(violations[0].field, "header.config_json");
        assert!(violations[0].description.contains("got an array"));

        let s = to_status(wasmtrade_live::check_name("..").unwrap_err().context("activate"));
        let details = s.get_error_details();
        assert_eq!(details.bad_request().unwrap().field_violations[0].field, "name");

        let s = invalid_field("pending_id", "pending_id is 0");
        assert_eq!(s.code(), Code::InvalidArgument);
        assert_eq!(
            s.get_error_details().bad_request().unwrap().field_violations[0].field,
            "pending_id"
        );
    }
}
