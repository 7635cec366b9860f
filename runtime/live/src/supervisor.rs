//! The supervisor: what happens after a strategy faults. The event loop has
//! already quarantined it (no more events, working orders cancelled,
//! positions held or flattened); the supervisor records the fault in the
//! audit trail and asks the strategy's [`FaultTracker`] what next — restart
//! it after a backoff from its last good snapshot, or, after too many faults
//! in the window, stop it for good until an operator activates a version
//! (which also resets its tracker). A strategy over its budget per market
//! event is not restarted: its version is quarantined in the store, so a
//! restart of the runtime does not run it into the same storm.

use std::collections::BTreeMap;

use wasmtrade_host::{Decision, FaultTracker, QuarantinePolicy};

use crate::clock::unix_now;
use crate::core::Command;
use crate::event::EventKind;
use crate::handle::Handle;

/// [`GuestFault::kind`](wasmtrade_model::GuestFault::kind) of a fault over
/// the budget per market event.
const EVENT_BUDGET: &str = "event-budget";

/// Runs until the bus closes or the runtime has shut down.
/// `rx` is the bus's supervisor feed, taken before the runtime restores its
/// guests so that a fault during the restore is supervised too.
pub(crate) async fn supervise(
    handle: Handle,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<std::sync::Arc<crate::event::Event>>,
    policy: QuarantinePolicy,
) {
    let mut trackers: BTreeMap<String, FaultTracker> = BTreeMap::new();
    let stopped = handle.stopped();
    tokio::pin!(stopped);
    loop {
        let received = tokio::select! {
            r = rx.recv() => r,
            _ = &mut stopped => return,
        };
        let Some(event) = received else { return };
        match &event.kind {
            EventKind::Fault {
                name,
                version,
                kind,
                message,
                shadow: false,
                strategy: true,
            } => {
                handle.record("runtime", "fault", name, *version, &format!("{kind}: {message}"));
                if *kind == EVENT_BUDGET {
                    // Deterministic on the same events: a restart would only
                    // repeat it. Stopped for good, and so across restarts.
                    let reason = format!(
                        "stopped for good: {message}; the version is quarantined in the store: upload a fixed version (or raise guests.event_budget) to run it again"
                    );
                    handle.quarantine_for_good(name, *version, &reason).await;
                    trackers.remove(name);
                    continue;
                }
                let tracker = trackers
                    .entry(name.clone())
                    .or_insert_with(|| FaultTracker::new(&policy));
                match tracker.on_fault(unix_now()) {
                    Decision::Restart { after } => {
                        let (handle, name, version) = (handle.clone(), name.clone(), *version);
                        tokio::spawn(async move {
                            tokio::time::sleep(after).await;
                            match handle.restart(&name, version).await {
                                Ok(done) => handle.record(
                                    "runtime",
                                    "restart",
                                    &name,
                                    version,
                                    &format!("after {after:?}, {} bytes of state", done.state_bytes),
                                ),
                                Err(e) => {
                                    tracing::warn!(module = %name, "restart failed: {e}");
                                    handle.record(
                                        "runtime",
                                        "restart_failed",
                                        &name,
                                        version,
                                        &e.to_string(),
                                    );
                                }
                            }
                        });
                    }
                    Decision::StopForGood => {
                        let reason = format!(
                            "stopped for good after repeated faults (last: {kind}: {message}); activate a version to run it again"
                        );
                        handle.record("runtime", "stopped", name, *version, &reason);
                        let _ = handle.send_command(Command::Stopped {
                            name: name.clone(),
                            version: *version,
                            reason,
                        });
                    }
                }
            }
            EventKind::ModelVerdict(record) => handle.model_verdict(record).await,
            EventKind::Swap(s) if s.error.is_none() && s.action.by_operator() => {
                // An operator acted: the fault history starts over.
                trackers.remove(&s.name);
            }
            _ => {}
        }
    }
}
