//! The public gRPC API of wasmtrade, package `wasmtrade.v1`, as generated
//! tonic/prost code shared by the server, the CLI and the tests.
//!
//! The API lives in `proto/wasmtrade/v1/wasmtrade.proto` and has two
//! services:
//!
//! - [`StrategyService`](v1::strategy_service_client::StrategyServiceClient):
//!   upload strategy and indicator components, list versions, activate (hot
//!   swap), roll back, remove, run a version in shadow and promote it, update
//!   a guest's configuration, read guest logs and the audit trail;
//! - [`TradingService`](v1::trading_service_client::TradingServiceClient):
//!   orders, positions, the account, a stream of everything that happens and
//!   the global kill switch.
//!
//! This crate owns the generated code (built by `build.rs` with
//! `tonic-prost-build` and a vendored `protoc`; never edited by hand). It
//! also exports [`FILE_DESCRIPTOR_SET`] so that the server can offer gRPC
//! reflection (`grpcurl` then needs no `.proto` file), and the
//! [authentication helpers](bearer): every call except the standard health
//! service carries the metadata `authorization: Bearer <token>`.
//!
//! # Example
//!
//! A request with the token, as the CLI sends it:
//!
//! ```
//! use wasmtrade_proto::{AUTH_HEADER, bearer, v1::ListRequest};
//!
//! let mut request = tonic::Request::new(ListRequest { name: "sma-cross".into() });
//! request.metadata_mut().insert(AUTH_HEADER, bearer("s3cret").parse()?);
//! assert_eq!(request.metadata().get(AUTH_HEADER).unwrap(), "Bearer s3cret");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! And a call (needs a running `wasmtrade serve` and an async runtime):
//!
//! ```no_run
//! use wasmtrade_proto::v1::{ListRequest, strategy_service_client::StrategyServiceClient};
//! use wasmtrade_proto::{AUTH_HEADER, bearer};
//!
//! async fn list(token: &str) -> Result<(), Box<dyn std::error::Error>> {
//!     let channel = tonic::transport::Endpoint::from_static("http://127.0.0.1:50051")
//!         .connect()
//!         .await?;
//!     let value: tonic::metadata::MetadataValue<_> = bearer(token).parse()?;
//!     let mut client = StrategyServiceClient::with_interceptor(channel, move |mut req: tonic::Request<()>| {
//!         req.metadata_mut().insert(AUTH_HEADER, value.clone());
//!         Ok(req)
//!     });
//!     let modules = client.list(ListRequest::default()).await?.into_inner().modules;
//!     println!("{} modules", modules.len());
//!     Ok(())
//! }
//! ```
//!
//! # Clients in other languages
//!
//! Generate them from the same `.proto` file. From the repository root, for
//! Python (`pip install grpcio-tools`):
//!
//! ```text
//! python -m grpc_tools.protoc -Iproto --python_out=OUT --grpc_python_out=OUT \
//!     proto/wasmtrade/v1/wasmtrade.proto
//! ```
//!
//! which writes `OUT/wasmtrade/v1/wasmtrade_pb2.py` and
//! `wasmtrade_pb2_grpc.py` (import them with `OUT` on `sys.path`). Other
//! languages work the same way with their `protoc` plugin; see
//! `proto/README.md` and `tests/python/grpc_client.py` for a complete client.

/// The generated messages, enums, clients and servers of `wasmtrade.v1`.
#[allow(
    missing_docs,
    clippy::all,
    clippy::pedantic,
    clippy::unwrap_used,
    clippy::expect_used
)]
pub mod v1 {
    tonic::include_proto!("wasmtrade.v1");
}

/// The encoded `google.protobuf.FileDescriptorSet` of `wasmtrade.v1`, for
/// gRPC reflection (`tonic_reflection::server::Builder::register_encoded_file_descriptor_set`).
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("wasmtrade_descriptor");

/// The metadata key that carries the token (`authorization`, lowercase as
/// gRPC metadata keys are).
pub const AUTH_HEADER: &str = "authorization";

/// The scheme in front of the token in [`AUTH_HEADER`].
const BEARER_SCHEME: &str = "Bearer";

/// The value of [`AUTH_HEADER`] for `token`: `Bearer <token>`.
pub fn bearer(token: &str) -> String {
    format!("{BEARER_SCHEME} {token}")
}

/// The token in an [`AUTH_HEADER`] value, or `None` when the value is not
/// `Bearer <token>` (the scheme is matched case-insensitively, surrounding
/// whitespace is ignored, an empty token is `None`).
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(char::is_whitespace)?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case(BEARER_SCHEME) && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use prost::Message;
    use prost_types::FileDescriptorSet;

    use super::*;

    #[test]
    fn descriptor_set_holds_both_services() {
        let set = FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).unwrap();
        let file = set
            .file
            .iter()
            .find(|f| f.package() == "wasmtrade.v1")
            .expect("the descriptor set has the wasmtrade.v1 file");
        let services: Vec<&str> = file.service.iter().map(|s| s.name()).collect();
        assert!(services.contains(&"StrategyService"), "{services:?}");
        assert!(services.contains(&"TradingService"), "{services:?}");
        let upload = file
            .service
            .iter()
            .flat_map(|s| &s.method)
            .find(|m| m.name() == "Upload")
            .unwrap();
        assert!(upload.client_streaming(), "Upload is a client stream");
    }

    #[test]
    fn bearer_round_trips_through_bearer_token() {
        assert_eq!(bearer("s3cret"), "Bearer s3cret");
        assert_eq!(bearer_token(&bearer("s3cret")), Some("s3cret"));
    }

    #[test]
    fn bearer_token_rejects_other_schemes_and_empty_tokens() {
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Bearer   "), None);
        assert_eq!(bearer_token(""), None);
    }
}
