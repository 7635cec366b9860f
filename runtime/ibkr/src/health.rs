//! A snapshot of the adapter's health for the ops layer.

use serde::Serialize;

use crate::pacing::PacingStats;

/// The link to IB Gateway as the adapter sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
#[non_exhaustive]
pub enum LinkState {
    /// Socket up, IB servers reachable, reconciled: orders are accepted.
    Up,
    /// Connecting or reconnecting the socket.
    Connecting {
        /// Attempts since the link was lost.
        attempt: u32,
        /// Why the last attempt failed.
        last_error: Option<String>,
    },
    /// Socket up but the gateway lost IB's servers (code 1100): new orders frozen, cancels allowed.
    Degraded {
        /// The IB code that caused it.
        code: i32,
    },
    /// Just (re)connected or restored: replaying subscriptions and reconciling; orders frozen.
    Reconciling,
    /// Shut down by the host.
    Closed,
}

/// What the ops layer can read: [`IbkrBroker::health`](crate::IbkrBroker::health).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IbkrHealth {
    /// Link state.
    pub link: LinkState,
    /// Client id of the current session.
    pub client_id: i32,
    /// Server version the gateway negotiated (0 before the first connect).
    pub server_version: i32,
    /// Completed reconnects since start.
    pub reconnects: u64,
    /// Seconds the gateway has been away (0 when up).
    pub down_for_secs: u64,
    /// True while the gateway has been away longer than `alert_after_secs`.
    pub alert: bool,
    /// Alerts raised since start.
    pub alerts_raised: u64,
    /// Connectivity notices from IB: 1100 (lost), 1101 (restored, data lost), 1102 (restored, data kept).
    pub notices_1100: u64,
    /// See `notices_1100`.
    pub notices_1101: u64,
    /// See `notices_1100`.
    pub notices_1102: u64,
    /// Client-id conflicts (326) met while connecting.
    pub client_id_conflicts: u64,
    /// Market-data subscriptions replayed after reconnects.
    pub subscriptions_replayed: u64,
    /// Reconciliations run after (re)connects.
    pub reconciliations: u64,
    /// Executions dropped as duplicates (IB re-sends after restarts).
    pub duplicate_executions: u64,
    /// Sessions restarted because the gateway kept the socket open but stopped answering (IB9).
    pub silent_hangs: u64,
    /// Bars dropped because the consumer was not reading.
    pub bars_dropped: u64,
    /// Outbound pacing.
    pub pacing: PacingSnapshot,
}

/// Outbound pacing figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PacingSnapshot {
    /// Messages sent through the limiter.
    pub sent: u64,
    /// Messages that waited for a token.
    pub delayed: u64,
    /// Mean wait of delayed messages, µs.
    pub mean_delay_us: u64,
    /// Longest wait, µs.
    pub max_delay_us: u64,
    /// Requests queued right now.
    pub queued: u64,
    /// Historical requests refused by the historical-data pacer.
    pub historical_paced: u64,
}

impl PacingSnapshot {
    pub(crate) fn from_stats(s: &PacingStats, queued: usize) -> Self {
        Self {
            sent: s.sent,
            delayed: s.delayed,
            mean_delay_us: s.total_delay_us.checked_div(s.delayed).unwrap_or(0),
            max_delay_us: s.max_delay_us,
            queued: queued as u64,
            historical_paced: s.historical_paced,
        }
    }
}
