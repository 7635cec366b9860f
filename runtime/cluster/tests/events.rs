//! Kubernetes Events against recorded API-server exchanges
//! (tests/fixtures/events.json, event_lease_lifecycle.json).

use crate::support;

use anyhow::Result;
use support::{EVENTS_PATH, FakeApi, cluster, config, identity};
use wasmtrade_cluster::SwapKind;

#[tokio::test]
async fn publishes_swaps_quarantines_and_the_kill_switch_about_the_pod() -> Result<()> {
    let id = identity()?;
    let api = FakeApi::start(&["events"], id.holder()).await?;
    let cluster = cluster(&api, id, config(true)?)?;
    let events = cluster.events();

    let trap = "trap: wasm `unreachable` executed; restarting from the last snapshot in 1 s";
    events.quarantine("sma", trap);
    events.quarantine("sma", trap); // aggregated into a series, not a second Event
    events.kill_switch(true, "operator alice: daily loss limit reached");
    events.swap("sma", SwapKind::Activated, "version 2 (was 1)");
    cluster.shutdown().await; // drains the queue and flushes the series

    let posts = api.requests("POST", EVENTS_PATH);
    let reasons: Vec<_> = posts
        .iter()
        .filter_map(|r| r.body.pointer("/reason").and_then(|v| v.as_str()))
        .collect();
    assert_eq!(
        reasons,
        ["StrategyQuarantined", "KillSwitchEngaged", "StrategyActivated"]
    );
    let patches = api.requests("PATCH", &format!("{EVENTS_PATH}/*"));
    assert_eq!(patches.len(), 1);
    let first_name = posts[0].body.pointer("/metadata/name").and_then(|v| v.as_str());
    assert_eq!(
        patches[0].path.rsplit('/').next(),
        first_name,
        "the series updates the first Event"
    );
    assert_eq!(
        patches[0].content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    assert!(first_name.is_some_and(|n| n.starts_with("wasmtrade-0.")));
    assert_eq!(events.dropped(), 0);
    api.verify(false)
}

#[tokio::test]
async fn lease_acquisition_and_release_are_published() -> Result<()> {
    let id = identity()?;
    let api = FakeApi::start(
        &["lease_absent_create", "event_lease_lifecycle", "lease_release"],
        id.holder(),
    )
    .await?;
    let cluster = cluster(&api, id, config(true)?)?;
    let fences = cluster.acquire_accounts(&["DU123456"]).await?;
    assert!(fences.all_open());
    cluster.shutdown().await;
    api.verify(false)
}

#[tokio::test]
async fn a_failing_event_write_never_blocks_the_caller() -> Result<()> {
    // No exchange recorded: every Event POST gets a 500.
    let id = identity()?;
    let api = FakeApi::start(&[], id.holder()).await?;
    let cluster = cluster(&api, id, config(true)?)?;
    let events = cluster.events();
    let start = tokio::time::Instant::now();
    for i in 0..1000 {
        events.kill_switch(i % 2 == 0, &format!("flip {i}"));
    }
    assert!(
        start.elapsed() < std::time::Duration::from_millis(200),
        "{:?}",
        start.elapsed()
    );
    cluster.shutdown().await;
    // The queue (256) and the burst limit (25) bound what reaches the API.
    let posts = api.requests("POST", EVENTS_PATH).len();
    assert!((1..=25).contains(&posts), "{posts} posts");
    assert!(events.dropped() > 0);
    Ok(())
}
