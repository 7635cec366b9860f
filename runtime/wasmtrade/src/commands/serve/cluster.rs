//! The Kubernetes integration of `serve` (`[cluster]`, active in a pod):
//! the Lease fence of every owned broker account gates every broker request
//! and the readiness; swaps, quarantines and kill-switch changes become
//! Kubernetes Events.

use std::sync::Arc;

use anyhow::Context;
use wasmtrade_cluster::{Cluster, EventSink, Fences, SwapKind};
use wasmtrade_live::{EventKind, Handle, StartOptions, SwapAction};

use super::ServeConfig;

/// The integration, when active, with the fences it holds.
pub struct Active {
    pub cluster: Cluster,
    fences: Arc<Fences>,
}

/// Starts the integration if this process runs in a pod (or `cluster.mode = "on"`)
/// and acquires the Lease of every broker account this pod's ordinal owns.
/// Start-up waits here while another pod still holds one (the start-up
/// probe covers it).
pub async fn start(config: &ServeConfig) -> anyhow::Result<Option<Active>> {
    let validated = config.cluster.validate().context("invalid [cluster] settings")?;
    let Some(cluster) = Cluster::from_env(validated)
        .await
        .context("cannot start the Kubernetes integration")?
    else {
        return Ok(None);
    };
    let fences = cluster
        .acquire_owned()
        .await
        .context("cannot acquire the broker accounts' Leases")?;
    tracing::info!(accounts = ?cluster.owned_accounts(), "broker account Leases held");
    Ok(Some(Active {
        cluster,
        fences: Arc::new(fences),
    }))
}

impl Active {
    /// The order gate (every fence must be open) and the readiness check.
    pub fn options(&self) -> StartOptions {
        let gate = self.fences.clone();
        let ready = self.fences.clone();
        StartOptions {
            order_gate: Some(Arc::new(move || {
                for (_, fence) in gate.iter() {
                    fence.check().map_err(|e| e.to_string())?;
                }
                Ok(())
            })),
            readiness: vec![Arc::new(move || {
                (!ready.all_open()).then(|| "a broker account's Lease fence is closed".to_string())
            })],
            policies: Vec::new(),
        }
    }

    /// Publishes the runtime's swaps, quarantines and kill-switch changes
    /// as Kubernetes Events, until the runtime's event stream ends.
    pub fn forward_events(&self, handle: &Handle) {
        let sink = self.cluster.events();
        let (mut rx, _) = handle.subscribe(false);
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(event) => publish(&sink, &event.kind),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "kubernetes event forwarding lagged");
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }
}

/// The Kubernetes Event of a runtime event, if it has one.
fn publish(sink: &EventSink, kind: &EventKind) {
    match kind {
        EventKind::Swap(s) => {
            let kind = match s.action {
                SwapAction::Activate | SwapAction::Config | SwapAction::Restore => SwapKind::Activated,
                SwapAction::Rollback => SwapKind::RolledBack,
                SwapAction::Promote => SwapKind::Promoted,
                SwapAction::AutoRollback => SwapKind::AutoRolledBack,
                SwapAction::ShadowStart
                | SwapAction::ShadowStop
                | SwapAction::Remove
                | SwapAction::Restart
                | SwapAction::Stopped
                | SwapAction::Model => return,
            };
            let detail = match &s.error {
                Some(e) => format!("version {} refused ({e}); version {} kept", s.to, s.from),
                None => format!("version {} (was {})", s.to, s.from),
            };
            sink.swap(&s.name, kind, &detail);
        }
        EventKind::Fault {
            name,
            version,
            kind,
            message,
            shadow: false,
            ..
        } => sink.quarantine(name, &format!("version {version}: {kind}: {message}")),
        EventKind::KillSwitch {
            scope,
            on,
            who,
            reason,
        } => {
            sink.kill_switch(*on, &format!("{scope} by {who}: {reason}"));
        }
        _ => {}
    }
}
