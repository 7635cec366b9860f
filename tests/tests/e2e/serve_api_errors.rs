//! Bad input to `wasmtrade serve` gets a precise gRPC status whose message
//! names the problem, and never disturbs the strategies that run: every test
//! that sends a bad upload first starts `good` (sma-cross) and checks at the
//! end that it still runs, still has only its one version and still counts
//! bars.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is a test failure with a location"
)]

use crate::common;

use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn unknown_modules_and_versions_are_not_found() {
    let mut s = Server::with_good().await;
    let v2 = with_custom_section(&guest_bytes("sma_cross").unwrap(), "e2e", b"v2");
    let done = upload(&mut s.strategies, header(GOOD, GuestKind::Strategy, &v2, ""), &v2)
        .await
        .unwrap();
    assert_eq!(done.version, 2);

    let r = s.activate("nope", 1).await;
    assert_status("Activate(nope, 1)", r, Code::NotFound, &["`nope`"]);
    let r = s
        .strategies
        .rollback(RollbackRequest {
            name: "nope".into(),
            version: 0,
        })
        .await;
    assert_status("Rollback(nope)", r, Code::NotFound, &["`nope`"]);
    let r = s
        .strategies
        .rollback(RollbackRequest {
            name: "nope".into(),
            version: 1,
        })
        .await;
    assert_status("Rollback(nope, 1)", r, Code::NotFound, &["`nope`"]);
    let r = s
        .strategies
        .remove(RemoveRequest {
            name: "nope".into(),
            version: 0,
        })
        .await;
    assert_status("Remove(nope)", r, Code::NotFound, &["`nope`"]);
    let r = s
        .strategies
        .remove(RemoveRequest {
            name: "nope".into(),
            version: 1,
        })
        .await;
    assert_status("Remove(nope, 1)", r, Code::NotFound, &["`nope`"]);
    let r = s.strategies.list(ListRequest { name: "nope".into() }).await;
    assert_status("List(nope)", r, Code::NotFound, &["`nope`"]);

    let r = s.activate(GOOD, 7).await;
    assert_status(
        "Activate(good, 7)",
        r,
        Code::NotFound,
        &["`good`", "no version 7", "versions: 1, 2"],
    );
    let r = s
        .strategies
        .rollback(RollbackRequest {
            name: GOOD.into(),
            version: 7,
        })
        .await;
    assert_status(
        "Rollback(good, 7)",
        r,
        Code::NotFound,
        &["no version 7", "versions: 1, 2"],
    );
    let r = s
        .strategies
        .remove(RemoveRequest {
            name: GOOD.into(),
            version: 7,
        })
        .await;
    assert_status("Remove(good, 7)", r, Code::NotFound, &["no version 7"]);

    let m = s.module(GOOD).await;
    assert_eq!(m.active_version, 1, "{m:?}");
    assert_eq!(m.state, RunState::Running as i32, "{m:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn removed_and_active_versions_fail_precondition() {
    let mut s = Server::with_good().await;
    let v2 = with_custom_section(&guest_bytes("sma_cross").unwrap(), "e2e", b"v2");
    let done = upload(&mut s.strategies, header(GOOD, GuestKind::Strategy, &v2, ""), &v2)
        .await
        .unwrap();
    assert_eq!(done.version, 2);
    let removed = s
        .strategies
        .remove(RemoveRequest {
            name: GOOD.into(),
            version: 2,
        })
        .await
        .unwrap()
        .into_inner()
        .removed;
    assert_eq!(removed, [2]);

    let r = s.activate(GOOD, 2).await;
    assert_status(
        "Activate(good, removed 2)",
        r,
        Code::FailedPrecondition,
        &["version 2", "removed"],
    );
    let r = s
        .strategies
        .rollback(RollbackRequest {
            name: GOOD.into(),
            version: 2,
        })
        .await;
    assert_status(
        "Rollback(good, removed 2)",
        r,
        Code::FailedPrecondition,
        &["version 2", "removed"],
    );

    let r = s
        .strategies
        .remove(RemoveRequest {
            name: GOOD.into(),
            version: 1,
        })
        .await;
    assert_status(
        "Remove(good, active 1)",
        r,
        Code::FailedPrecondition,
        &["version 1", "active"],
    );

    let m = s.module(GOOD).await;
    assert_eq!(m.active_version, 1, "{m:?}");
    assert_eq!(m.state, RunState::Running as i32, "{m:?}");
    let bars = m.counters.unwrap_or_default().bars;
    s.bars_grow_past(bars).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn turning_the_kill_switch_on_needs_a_reason() {
    let mut s = Server::start(&[FAST_MARKET]).await;
    for reason in ["", "   "] {
        let r = s
            .trading
            .set_kill_switch(SetKillSwitchRequest {
                on: true,
                reason: reason.into(),
                ..Default::default()
            })
            .await;
        assert_status(
            &format!("SetKillSwitch(on, {reason:?})"),
            r,
            Code::InvalidArgument,
            &["reason"],
        );
    }
    let state = s
        .trading
        .get_kill_switch(GetKillSwitchRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(
        !state.on,
        "a refused request must leave the kill switch off: {state:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn calls_without_the_right_token_are_unauthenticated() {
    let mut s = Server::start(&[FAST_MARKET]).await;
    let bytes = guest_bytes("sma_cross").unwrap();
    let cases = [
        ("no token", Auth(None), "missing"),
        ("wrong token", Auth::bearer("not-the-token"), "wrong API token"),
        (
            "another scheme",
            Auth::raw(&format!("Basic {}", s.serve.token)),
            "malformed",
        ),
        ("empty bearer", Auth::raw("Bearer"), "malformed"),
    ];
    for (what, auth, needle) in cases {
        let mut strategies = StrategyServiceClient::with_interceptor(s.channel.clone(), auth.clone());
        let mut trading = TradingServiceClient::with_interceptor(s.channel.clone(), auth);
        let r = strategies.list(ListRequest::default()).await;
        assert_status(&format!("List with {what}"), r, Code::Unauthenticated, &[needle]);
        let r = trading.get_account(GetAccountRequest {}).await;
        assert_status(
            &format!("GetAccount with {what}"),
            r,
            Code::Unauthenticated,
            &[needle],
        );
        let r = trading
            .set_kill_switch(SetKillSwitchRequest {
                on: true,
                reason: "intruder".into(),
                ..Default::default()
            })
            .await;
        assert_status(
            &format!("SetKillSwitch with {what}"),
            r,
            Code::Unauthenticated,
            &[needle],
        );
        let r = upload(
            &mut strategies,
            header(GOOD, GuestKind::Strategy, &bytes, GOOD_CONFIG),
            &bytes,
        )
        .await;
        assert_status(
            &format!("Upload with {what}"),
            r,
            Code::Unauthenticated,
            &[needle],
        );
    }
    // Nothing got through.
    let modules = s
        .strategies
        .list(ListRequest::default())
        .await
        .unwrap()
        .into_inner()
        .modules;
    assert!(modules.is_empty(), "{modules:?}");
    let state = s
        .trading
        .get_kill_switch(GetKillSwitchRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(!state.on, "{state:?}");
}
