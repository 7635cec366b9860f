//! A refused request field comes back from `wasmtrade serve` as
//! `INVALID_ARGUMENT` with `google.rpc.BadRequest` details naming the field,
//! which a client decodes with tonic-types without parsing the message.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is a test failure with a location"
)]

use tonic_types::{FieldViolation, StatusExt};
use wasmtrade_proto::v1::SetLimitsRequest;
use wasmtrade_proto::v1::risk_service_client::RiskServiceClient;

use crate::common;

use common::*;

/// The call failed with INVALID_ARGUMENT; returns its field violations.
fn violations<T: std::fmt::Debug>(what: &str, result: Result<T, Status>) -> Vec<FieldViolation> {
    let status = match result {
        Ok(v) => panic!("{what}: expected INVALID_ARGUMENT, but it succeeded with {v:?}"),
        Err(s) => s,
    };
    assert_eq!(status.code(), Code::InvalidArgument, "{what}: {status:?}");
    let details = status.get_error_details();
    let bad_request = details
        .bad_request()
        .unwrap_or_else(|| panic!("{what}: no BadRequest details in {status:?}"));
    assert!(!bad_request.field_violations.is_empty(), "{what}: {status:?}");
    bad_request.field_violations.clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_fields_come_back_as_bad_request_field_violations() {
    let mut s = Server::start(&[FAST_MARKET]).await;
    let bytes = guest_bytes("sma_cross").unwrap();
    upload(
        &mut s.strategies,
        header(GOOD, GuestKind::Strategy, &bytes, GOOD_CONFIG),
        &bytes,
    )
    .await
    .unwrap_or_else(|e| panic!("uploading good: {e:?}\nserver stderr:\n{}", s.serve.stderr()));

    // A configuration that is JSON but not an object, on activation.
    let r = s
        .strategies
        .activate(ActivateRequest {
            name: GOOD.into(),
            version: 1,
            config_json: Some("[1, 2]".into()),
        })
        .await;
    let v = violations("Activate with config [1, 2]", r);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].field, "config_json", "{v:?}");
    assert!(
        v[0].description.contains("must be a JSON object, got an array"),
        "{v:?}"
    );

    // A configuration that is not JSON, in an upload header.
    let other = with_custom_section(&bytes, "e2e", b"v2");
    let r = upload(
        &mut s.strategies,
        header(GOOD, GuestKind::Strategy, &other, "{fast: 5"),
        &other,
    )
    .await;
    let v = violations("Upload with config {fast: 5", r);
    assert_eq!(v[0].field, "header.config_json", "{v:?}");
    assert!(v[0].description.contains("not valid JSON"), "{v:?}");

    // A module name outside the rule, in an upload header.
    let r = upload(
        &mut s.strategies,
        header("..", GuestKind::Strategy, &bytes, ""),
        &bytes,
    )
    .await;
    let v = violations("Upload named ..", r);
    assert_eq!(v[0].field, "header.name", "{v:?}");
    assert!(
        v[0].description.contains("module name \"..\" is invalid"),
        "{v:?}"
    );

    // Risk limits with two bad fields: one violation each, on document_json.
    let mut risk = RiskServiceClient::with_interceptor(s.channel.clone(), Auth::bearer(&s.serve.token));
    let r = risk
        .set_limits(SetLimitsRequest {
            document_json: r#"{"strategies": {"sma": {"max_position": -1, "max_order_notional": 0}}}"#.into(),
            ..Default::default()
        })
        .await;
    let v = violations("SetLimits with max_position -1", r);
    assert!(v.len() >= 2, "one violation per problem: {v:?}");
    assert!(v.iter().all(|v| v.field == "document_json"), "{v:?}");
    assert!(
        v.iter()
            .any(|v| v.description.contains("strategies.sma.max_position")),
        "{v:?}"
    );

    // Nothing was stored or changed by the refusals.
    let m = s.module(GOOD).await;
    assert_eq!(m.versions.len(), 1, "{m:?}");
}
