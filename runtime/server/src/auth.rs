//! Bearer-token authentication for every service except health.

use sha2::{Digest, Sha256};
use tonic::{Request, Status};
use wasmtrade_proto::{AUTH_HEADER, bearer_token};

/// Metadata key a client may set to name the person acting (recorded in the
/// audit trail next to the token's identity).
pub const ACTOR_HEADER: &str = "x-wasmtrade-actor";

/// Who made a request, as the audit trail records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal(pub String);

/// Checks `authorization: Bearer <token>` against the configured token.
#[derive(Clone)]
pub struct Auth {
    /// SHA-256 of the token: compared in constant time, never logged.
    digest: [u8; 32],
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Auth { token: <redacted> }")
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Auth {
    /// An authenticator accepting exactly `token`.
    pub fn new(token: &str) -> Self {
        Self {
            digest: digest(token),
        }
    }

    /// Lets the request in (recording its [`Principal`]) or refuses it with
    /// `Unauthenticated`.
    #[allow(clippy::result_large_err, reason = "tonic's interceptor signature")]
    pub fn check<T>(&self, mut request: Request<T>) -> Result<Request<T>, Status> {
        let Some(value) = request.metadata().get(AUTH_HEADER) else {
            return Err(Status::unauthenticated(
                "missing `authorization: Bearer <token>` metadata: send the API token",
            ));
        };
        let Some(token) = value.to_str().ok().and_then(bearer_token) else {
            return Err(Status::unauthenticated(
                "malformed authorization metadata: expected `Bearer <token>`",
            ));
        };
        // Compare digests byte by byte without early exit.
        let given = digest(token);
        let diff = given
            .iter()
            .zip(self.digest.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if diff != 0 {
            return Err(Status::unauthenticated("wrong API token"));
        }
        let actor = request
            .metadata()
            .get(ACTOR_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().filter(|c| !c.is_control()).take(64).collect::<String>())
            .filter(|s| !s.is_empty());
        let who = match actor {
            Some(a) => format!("token:{a}"),
            None => "token".to_string(),
        };
        request.extensions_mut().insert(Principal(who));
        Ok(request)
    }
}

/// The principal the interceptor recorded (or `unknown`).
pub fn who<T>(request: &Request<T>) -> String {
    request
        .extensions()
        .get::<Principal>()
        .map_or_else(|| "unknown".to_string(), |p| p.0.clone())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn with(value: Option<&str>) -> Request<()> {
        let mut r = Request::new(());
        if let Some(v) = value {
            r.metadata_mut().insert(AUTH_HEADER, v.parse().unwrap());
        }
        r
    }

    #[test]
    fn a_request_without_the_token_is_unauthenticated() {
        let e = Auth::new("s3cret").check(with(None)).unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unauthenticated);
        assert!(e.message().contains("missing"));
    }

    #[test]
    fn a_wrong_token_is_unauthenticated() {
        let e = Auth::new("s3cret").check(with(Some("Bearer nope"))).unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unauthenticated);
        assert_eq!(e.message(), "wrong API token");
        let e = Auth::new("s3cret").check(with(Some("Basic s3cret"))).unwrap_err();
        assert!(e.message().contains("malformed"));
    }

    #[test]
    fn the_right_token_passes_and_names_the_actor() {
        let mut r = with(Some("Bearer s3cret"));
        r.metadata_mut().insert(ACTOR_HEADER, "alice".parse().unwrap());
        let r = Auth::new("s3cret").check(r).unwrap();
        assert_eq!(who(&r), "token:alice");
    }
}
