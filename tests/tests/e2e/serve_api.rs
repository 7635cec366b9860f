//! The standard services next to ours: `grpc.health.v1` answers without a
//! token (Kubernetes gRPC probes), reflection lists the services (grpcurl)
//! for a client with the token, and the event stream carries swaps, orders,
//! fills and kill switch changes in sequence order.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::time::Duration;

use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use wasmtrade_e2e::{Serve, guest_path};
use wasmtrade_proto::v1::trading_service_client::TradingServiceClient;
use wasmtrade_proto::v1::{SetKillSwitchRequest, StreamEventsRequest, event};
use wasmtrade_proto::{AUTH_HEADER, bearer};

async fn channel(serve: &Serve) -> Channel {
    Endpoint::from_shared(serve.url())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

fn authed<T>(token: &str, message: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    r.metadata_mut()
        .insert(AUTH_HEADER, bearer(token).parse().unwrap());
    r
}

#[tokio::test(flavor = "multi_thread")]
async fn health_answers_without_a_token_and_reflection_lists_the_services() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &[]).unwrap();
    let ch = channel(&serve).await;
    let mut health = HealthClient::new(ch.clone());
    for service in ["", "wasmtrade.v1.StrategyService", "wasmtrade.v1.TradingService"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "service {service:?}");
    }

    let mut reflection = ServerReflectionClient::new(ch);
    let ask = || ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let refused = reflection
        .server_reflection_info(tokio_stream::iter(vec![ask()]))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    let mut stream = reflection
        .server_reflection_info(authed(&serve.token, tokio_stream::iter(vec![ask()])))
        .await
        .unwrap()
        .into_inner();
    let response = stream.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer: {response:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "wasmtrade.v1.StrategyService",
        "wasmtrade.v1.TradingService",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_event_stream_carries_swaps_orders_fills_and_the_kill_switch_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &[("WASMTRADE__MARKET__SPEED", "2000")]).unwrap();
    let mut trading = TradingServiceClient::new(channel(&serve).await);
    let mut events = trading
        .stream_events(authed(&serve.token, StreamEventsRequest { include_bars: false }))
        .await
        .unwrap()
        .into_inner();
    let v1 = guest_path("sma_cross").unwrap();
    let cli = serve.clone_cli_env();
    let out = tokio::task::spawn_blocking(move || {
        cli.run([
            "strategy",
            "upload",
            v1.to_str().unwrap(),
            "--name",
            "sma",
            "--config",
            r#"{"fast":3,"slow":8,"quantity":10}"#,
            "--activate",
        ])
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let (mut swap, mut order, mut fill, mut last_seq) = (false, false, false, 0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !(swap && order && fill) {
        let e = tokio::time::timeout_at(deadline, events.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(e.seq > last_seq, "sequence numbers increase");
        last_seq = e.seq;
        match e.kind.unwrap() {
            event::Kind::Swap(s) => {
                assert_eq!(
                    (s.name.as_str(), s.action.as_str(), s.to_version),
                    ("sma", "activate", 1)
                );
                swap = true;
            }
            event::Kind::Order(o) => order |= o.strategy == "sma",
            event::Kind::Fill(f) => fill |= f.strategy == "sma",
            event::Kind::Bar(_) => panic!("bars were not asked for"),
            _ => {}
        }
    }
    let state = trading
        .set_kill_switch(authed(
            &serve.token,
            SetKillSwitchRequest {
                on: true,
                reason: "drill".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(
        state.on && state.reason == "drill" && state.who == "token",
        "{state:?}"
    );
    loop {
        let e = tokio::time::timeout_at(deadline, events.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Some(event::Kind::KillSwitch(k)) = e.kind {
            assert!(k.on);
            assert_eq!(k.reason, "drill");
            assert_eq!(k.scope, "global");
            break;
        }
    }
}
