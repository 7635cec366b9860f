//! The one place runtime errors become gRPC statuses.

use tonic::{Code, Status};
use wasmtrade_live::LiveError;

/// The status for a runtime error: the code says what kind of problem it
/// is, the message (from the runtime) names the input and what to do.
pub fn to_status(e: LiveError) -> Status {
    let code = match &e {
        LiveError::InvalidArgument(_) => Code::InvalidArgument,
        LiveError::NotFound(_) => Code::NotFound,
        LiveError::FailedPrecondition(_) => Code::FailedPrecondition,
        LiveError::ResourceExhausted(_) => Code::ResourceExhausted,
        LiveError::Aborted(_) => Code::Aborted,
        LiveError::Unavailable(_) => Code::Unavailable,
        LiveError::Internal(_) => Code::Internal,
    };
    Status::new(code, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
