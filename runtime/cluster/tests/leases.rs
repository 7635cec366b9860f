//! The account Lease against recorded API-server exchanges: kube's real
//! client over HTTP on loopback, a fake server replaying
//! tests/fixtures/lease_*.json and checking what the client sent.

use crate::support;

use std::time::Duration;

use tokio::time::Instant;

use anyhow::Result;
use support::{
    FAST_LEASE, FAST_WINDOW, FakeApi, LEASE_PATH, LEASES_PATH, cluster, config, fast_config, identity, lines,
    wait_until,
};
use wasmtrade_cluster::{Error, FenceError, PodAssignment, RawClusterConfig};

const ACCOUNT: &str = "DU123456";

fn get() -> String {
    format!("GET {LEASE_PATH}")
}
fn put() -> String {
    format!("PUT {LEASE_PATH}")
}
fn post() -> String {
    format!("POST {LEASES_PATH}")
}

#[tokio::test]
async fn acquires_an_absent_lease_by_creating_it() -> Result<()> {
    let id = identity()?;
    let api = FakeApi::start(&["lease_absent_create", "lease_release"], id.holder()).await?;
    let cluster = cluster(&api, id, config(false)?)?;

    let fences = cluster.acquire_accounts(&[ACCOUNT]).await?;

    assert_eq!(fences.check(ACCOUNT)?.transitions(), 0);
    assert_eq!(lines(&api), [get(), post()]);
    let created = &api.requests("POST", LEASES_PATH)[0].body;
    assert_eq!(created.pointer("/spec/leaseDurationSeconds"), Some(&15.into()));
    cluster.shutdown().await;
    api.verify(false)
}

#[tokio::test]
async fn releases_the_lease_on_graceful_shutdown() -> Result<()> {
    let id = identity()?;
    let api = FakeApi::start(&["lease_absent_create", "lease_release"], id.holder()).await?;
    let cluster = cluster(&api, id, config(false)?)?;
    let fences = cluster.acquire_accounts(&[ACCOUNT]).await?;
    assert!(fences.all_open());

    cluster.shutdown().await;

    assert!(matches!(fences.check(ACCOUNT), Err(FenceError::Released { .. })));
    assert_eq!(lines(&api), [get(), post(), put()]);
    // The PUT cleared the holder on the version this process wrote (the
    // fixture checks resourceVersion 1001 and the absent holderIdentity).
    api.verify(false)?;
    // Acquiring after shutdown is refused.
    let again = cluster.acquire_accounts(&[ACCOUNT]).await;
    assert!(matches!(again, Err(Error::ShutDown)));
    Ok(())
}

#[tokio::test]
async fn refuses_a_lease_another_pod_holds_and_keeps_the_fence_closed() -> Result<()> {
    let id = identity()?;
    let api = FakeApi::start(&["lease_held_by_other"], id.holder()).await?;
    let cluster = cluster(&api, id, config(false)?)?;

    let fences = cluster.acquire_accounts(&[ACCOUNT]).await?;

    assert!(matches!(fences.check(ACCOUNT), Err(FenceError::NotHeld { .. })));
    assert_eq!(lines(&api), [get()], "no write to a live Lease");
    cluster.shutdown().await;
    assert_eq!(lines(&api), [get()], "nothing to release");
    api.verify(false)
}

#[tokio::test]
async fn a_new_pod_with_the_old_pods_name_does_not_inherit_its_lease() -> Result<()> {
    // kubectl delete pod --force: the old wasmtrade-0 may still run and
    // renew; the new wasmtrade-0 has the same name but another identity.
    let id = identity()?;
    assert!(id.holder().starts_with("wasmtrade-0/"));
    let api = FakeApi::start(&["lease_held_by_old_incarnation"], id.holder()).await?;
    let cluster = cluster(&api, id, config(false)?)?;

    let fences = cluster.acquire_accounts(&[ACCOUNT]).await?;

    assert!(matches!(fences.check(ACCOUNT), Err(FenceError::NotHeld { .. })));
    assert_eq!(lines(&api), [get()]);
    cluster.shutdown().await;
    api.verify(false)
}

#[tokio::test]
async fn takes_over_an_expired_lease_with_its_resource_version() -> Result<()> {
    let id = identity()?;
    let api = FakeApi::start(&["lease_expired_takeover"], id.holder()).await?;
    let cluster = cluster(&api, id, config(false)?)?;

    let fences = cluster.acquire_accounts(&[ACCOUNT]).await?;

    assert_eq!(fences.check(ACCOUNT)?.transitions(), 4, "leaseTransitions 3 + 1");
    assert_eq!(lines(&api), [get(), put()]);
    api.verify(false)?;
    // (The release PUT at shutdown is not part of this recorded exchange.)
    cluster.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn losing_the_race_for_an_expired_lease_keeps_the_fence_closed() -> Result<()> {
    let id = identity()?;
    let api = FakeApi::start(&["lease_takeover_conflict"], id.holder()).await?;
    let cluster = cluster(&api, id, config(false)?)?;

    let fences = cluster.acquire_accounts(&[ACCOUNT]).await?;

    assert!(matches!(fences.check(ACCOUNT), Err(FenceError::NotHeld { .. })));
    assert_eq!(lines(&api), [get(), put()]);
    cluster.shutdown().await;
    assert_eq!(
        lines(&api),
        [get(), put()],
        "nothing to release after a lost race"
    );
    api.verify(true)
}

#[tokio::test]
async fn renewals_keep_the_fence_open_beyond_the_lease_duration() -> Result<()> {
    let id = identity()?;
    let holder = id.holder().to_string();
    let api = FakeApi::start(&["lease_absent_create", "lease_renewals_ok"], &holder).await?;
    let cluster = cluster(&api, id, fast_config()?)?;
    let fences = cluster.acquire_accounts(&[ACCOUNT]).await?;
    let start = Instant::now();

    while start.elapsed() < FAST_LEASE + Duration::from_millis(500) {
        assert!(
            fences.check(ACCOUNT).is_ok(),
            "closed after {:?}",
            start.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let renewals = api.requests("PUT", LEASE_PATH);
    assert!(renewals.len() >= 4, "{} renewals", renewals.len());
    for r in &renewals {
        assert_eq!(
            r.body.pointer("/spec/holderIdentity").and_then(|v| v.as_str()),
            Some(holder.as_str())
        );
    }
    assert_eq!(
        renewals[0]
            .body
            .pointer("/metadata/resourceVersion")
            .and_then(|v| v.as_str()),
        Some("1001")
    );
    assert_eq!(
        renewals[1]
            .body
            .pointer("/metadata/resourceVersion")
            .and_then(|v| v.as_str()),
        Some("1002")
    );
    cluster.shutdown().await;
    api.verify(false)
}

/// Waits for the fence to close while renewals fail, and checks it closed
/// within the fence window of the acquisition (never later), i.e. before
/// another pod could see the Lease expire.
async fn assert_fence_closes_in_time(
    api: &FakeApi,
    fences: &wasmtrade_cluster::Fences,
    acquired: Instant,
) -> Result<()> {
    let closed_at = wait_until(FAST_LEASE * 3, || fences.check(ACCOUNT).is_err()).await?;
    let err = fences.check(ACCOUNT);
    assert!(matches!(err, Err(FenceError::Expired { .. })), "{err:?}");
    let after = closed_at.duration_since(acquired);
    // Open for (almost) the whole window, closed before the Lease expires.
    assert!(
        after + Duration::from_millis(300) >= FAST_WINDOW,
        "closed after only {after:?}"
    );
    assert!(
        after <= FAST_WINDOW + Duration::from_millis(250),
        "closed late: {after:?}"
    );
    assert!(after < FAST_LEASE);
    assert!(
        !api.requests("PUT", LEASE_PATH).is_empty(),
        "renewals were attempted"
    );
    Ok(())
}

#[tokio::test]
async fn failing_renewals_close_the_fence_before_the_lease_can_expire() -> Result<()> {
    let id = identity()?;
    let api = FakeApi::start(&["lease_absent_create", "lease_renewals_fail"], id.holder()).await?;
    let cluster = cluster(&api, id, fast_config()?)?;
    let fences = cluster.acquire_accounts(&[ACCOUNT]).await?;
    let acquired = Instant::now();
    assert!(fences.check(ACCOUNT).is_ok());

    assert_fence_closes_in_time(&api, &fences, acquired).await?;
    cluster.shutdown().await;
    api.verify(false)
}

#[tokio::test]
async fn a_partition_from_the_api_server_closes_the_fence_on_its_own() -> Result<()> {
    let id = identity()?;
    let api = FakeApi::start(&["lease_absent_create", "lease_renewals_ok"], id.holder()).await?;
    let cluster = cluster(&api, id, fast_config()?)?;
    let fences = cluster.acquire_accounts(&[ACCOUNT]).await?;
    let acquired = Instant::now();
    // Let one renewal through, then black-hole every request.
    wait_until(FAST_LEASE, || !api.requests("PUT", LEASE_PATH).is_empty()).await?;
    api.partition();
    let renewed = Instant::now();

    let closed_at = wait_until(FAST_LEASE * 3, || fences.check(ACCOUNT).is_err()).await?;
    assert!(matches!(fences.check(ACCOUNT), Err(FenceError::Expired { .. })));
    let after = closed_at.duration_since(acquired);
    assert!(
        closed_at.duration_since(renewed) <= FAST_WINDOW + Duration::from_millis(250),
        "{after:?}"
    );
    cluster.shutdown().await; // the release times out; bounded
    api.verify(true)
}

#[tokio::test]
async fn a_conflict_on_renewal_means_another_pod_took_over() -> Result<()> {
    let id = identity()?;
    let api = FakeApi::start(&["lease_absent_create", "lease_renewal_conflict"], id.holder()).await?;
    let cluster = cluster(&api, id, fast_config()?)?;
    let fences = cluster.acquire_accounts(&[ACCOUNT]).await?;
    assert!(fences.check(ACCOUNT).is_ok());

    wait_until(FAST_LEASE, || fences.check(ACCOUNT).is_err()).await?;

    assert!(matches!(fences.check(ACCOUNT), Err(FenceError::NotHeld { .. })));
    let seen = lines(&api);
    assert_eq!(seen[..4], [get(), post(), put(), get()]);
    cluster.shutdown().await;
    let puts = api.requests("PUT", LEASE_PATH).len();
    assert_eq!(puts, 1, "no release of a Lease another pod holds");
    api.verify(true)
}

#[tokio::test]
async fn forbidden_is_an_error_that_names_the_missing_rbac() -> Result<()> {
    let id = identity()?;
    let api = FakeApi::start(&["lease_forbidden"], id.holder()).await?;
    let cluster = cluster(&api, id, config(false)?)?;

    let err = cluster.acquire_accounts(&[ACCOUNT]).await;

    let Err(err @ Error::Refused(_)) = err else {
        panic!("expected a refusal, got {err:?}");
    };
    assert!(matches!(&err, Error::Refused(r) if r.code == 403 && r.verb == "get"));
    let msg = err.to_string();
    assert!(
        msg.contains("leases.coordination.k8s.io") && msg.contains("get/create/update"),
        "{msg}"
    );
    cluster.shutdown().await;
    api.verify(false)
}

#[tokio::test]
async fn acquires_the_accounts_its_ordinal_owns() -> Result<()> {
    let id = identity()?;
    let api = FakeApi::start(&["lease_absent_create", "lease_release"], id.holder()).await?;
    let raw = RawClusterConfig {
        events: false,
        pods: vec![
            PodAssignment {
                ordinal: 0,
                accounts: vec![ACCOUNT.into()],
                strategies: Some(vec!["sma".into()]),
            },
            PodAssignment {
                ordinal: 1,
                accounts: vec!["DU999999".into()],
                strategies: None,
            },
        ],
        ..RawClusterConfig::default()
    };
    let cluster = cluster(&api, id, raw.validate()?)?;
    assert_eq!(cluster.owned_accounts(), [ACCOUNT]);
    assert!(cluster.runs_strategy("sma") && !cluster.runs_strategy("rsi"));

    let fences = cluster.acquire_owned().await?;

    assert_eq!(fences.len(), 1);
    assert!(fences.check(ACCOUNT).is_ok());
    assert!(matches!(
        fences.check("DU999999"),
        Err(FenceError::UnknownAccount { .. })
    ));
    // Asking again shares the same fence and makes no request.
    let again = cluster.acquire_accounts(&[ACCOUNT]).await?;
    assert!(again.check(ACCOUNT).is_ok());
    assert_eq!(lines(&api), [get(), post()]);
    cluster.shutdown().await;
    api.verify(false)
}

#[tokio::test]
async fn refuses_two_accounts_that_share_a_lease() -> Result<()> {
    let id = identity()?;
    let api = FakeApi::start(&[], id.holder()).await?;
    let cluster = cluster(&api, id, config(false)?)?;
    let err = cluster.acquire_accounts(&["DU-1", "du_1"]).await;
    assert!(matches!(err, Err(Error::AccountCollision { .. })), "{err:?}");
    assert!(api.recorded().is_empty());
    Ok(())
}
