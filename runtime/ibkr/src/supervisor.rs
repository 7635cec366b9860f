//! Connecting (with client-id fallbacks on 326), installing a session,
//! reconciling, and the supervisor that watches the link, reconnects with
//! backoff and raises the absence alert.

use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use ibapi::client::blocking::{Client, Subscription};
use ibapi::orders::{ExecutionFilter, Executions, Orders};

use crate::IbkrError;
use crate::health::LinkState;
use crate::reader::{exec_report, reader_loop};
use crate::session::{Shared, State, ThreadSet, drain, lock, now, now_ts, retire};

/// Why one connect attempt failed.
pub(crate) enum ConnectFailure {
    /// The session was dropped after the handshake: the 326 signature.
    InUse,
    /// Anything else.
    Other(String),
}

fn connect_once(address: &str, client_id: i32) -> Result<Client, ConnectFailure> {
    match Client::connect(address, client_id) {
        Ok(c) => Ok(c),
        // ibapi 2.12 logs IB's error 326 and then reads the closed socket: an
        // I/O end-of-stream *after* the handshake is that signature (a refused
        // host fails inside the handshake with a different error).
        Err(ibapi::Error::Io(e))
            if matches!(
                e.kind(),
                std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
            ) =>
        {
            Err(ConnectFailure::InUse)
        }
        Err(ibapi::Error::ConnectionReset) => Err(ConnectFailure::InUse),
        Err(e) => Err(ConnectFailure::Other(e.to_string())),
    }
}

/// Tries the configured client id, then `client_id_fallbacks` following ids on 326.
pub(crate) fn connect_with_fallbacks(shared: &Shared) -> Result<(Client, i32), IbkrError> {
    let cfg = &shared.cfg;
    let address = cfg.address();
    let mut tried = 0;
    for offset in 0..=cfg.client_id_fallbacks {
        let client_id = cfg.client_id.saturating_add(offset as i32);
        tried += 1;
        match connect_once(&address, client_id) {
            Ok(c) => return Ok((c, client_id)),
            Err(ConnectFailure::InUse) => {
                lock(&shared.state).counters.client_id_conflicts += 1;
                tracing::warn!(client_id, %address, "IB Gateway dropped the session after the handshake: client id in use (326)");
                if offset == cfg.client_id_fallbacks {
                    return Err(IbkrError::ClientIdInUse {
                        address,
                        client_id,
                        tried,
                    });
                }
            }
            Err(ConnectFailure::Other(reason)) => {
                return Err(IbkrError::Connect {
                    address,
                    client_id,
                    reason,
                });
            }
        }
    }
    Err(IbkrError::ClientIdInUse {
        address,
        client_id: cfg.client_id,
        tried,
    })
}

/// Makes `client` the current one: starts its reader, then reconciles.
pub(crate) fn install(
    shared: &Arc<Shared>,
    client: Client,
    client_id: i32,
    threads: &ThreadSet,
) -> Result<(), IbkrError> {
    let stream = client.order_update_stream().map_err(|e| IbkrError::Request {
        request: "order update stream",
        reason: e.to_string(),
    })?;
    let client = Arc::new(client);
    let generation = {
        let mut st = lock(&shared.state);
        st.client_gen += 1;
        st.session_gen += 1;
        st.client = Some(Arc::clone(&client));
        st.client_id = client_id;
        st.server_version = client.server_version();
        st.next_ib_id = st.next_ib_id.max(client.next_order_id());
        st.link = LinkState::Reconciling;
        st.down_since = None;
        st.alert = false;
        st.client_gen
    };
    tracing::info!(address = %shared.cfg.address(), client_id, server_version = client.server_version(), "connected to IB Gateway");
    let s = Arc::clone(shared);
    threads.spawn("ibkr-reader", move || reader_loop(&s, stream, generation));
    reconcile(shared, &client);
    Ok(())
}

/// Re-syncs the next order id and replays what IB knows about our orders
/// (open, completed, executions) through the book, so events missed while
/// away are emitted once. Opens the link for orders when it succeeds.
pub(crate) fn reconcile(shared: &Shared, client: &Client) {
    let deadline = now() + shared.cfg.request_timeout;
    let ok = reconcile_steps(shared, client, deadline);
    let mut st = lock(&shared.state);
    st.counters.reconciliations += 1;
    match ok {
        Ok(()) => {
            if matches!(st.link, LinkState::Reconciling) {
                st.link = LinkState::Up;
                tracing::info!("IB reconciliation done: orders open");
            }
        }
        Err(e) => {
            st.reconcile_requested = true;
            tracing::warn!(error = %e, "IB reconciliation incomplete: orders stay frozen, retrying");
        }
    }
}

fn reconcile_steps(shared: &Shared, client: &Client, deadline: Instant) -> Result<(), IbkrError> {
    let req = |request: &'static str, e: ibapi::Error| IbkrError::Request {
        request,
        reason: e.to_string(),
    };
    shared.permit("reqIds", deadline)?;
    let next = client.next_valid_order_id().map_err(|e| req("reqIds", e))?;
    {
        let mut st = lock(&shared.state);
        st.next_ib_id = st.next_ib_id.max(next);
    }
    shared.permit("reqOpenOrders", deadline)?;
    let sub = client.all_open_orders().map_err(|e| req("reqAllOpenOrders", e))?;
    let (items, done) = drain(|d| sub.next_timeout(d), deadline, |_: &Orders| false);
    let ts = now_ts();
    for item in items {
        let mut st = lock(&shared.state);
        match item {
            Orders::OrderData(d) => {
                st.book
                    .on_status(d.order_id, &d.order.order_ref, &d.order_state.status, 0.0, ts)
            }
            Orders::OrderStatus(s) => st.book.on_status(s.order_id, "", &s.status, s.filled, ts),
            Orders::Notice(_) => {}
        }
    }
    if !done {
        return Err(IbkrError::Timeout {
            request: "reqAllOpenOrders",
            timeout_ms: shared.cfg.request_timeout.as_millis() as u64,
        });
    }
    shared.permit("reqExecutions", deadline)?;
    let sub = client
        .executions(ExecutionFilter::default())
        .map_err(|e| req("reqExecutions", e))?;
    let (items, done) = drain(|d| sub.next_timeout(d), deadline, |_: &Executions| false);
    for item in items {
        let mut st = lock(&shared.state);
        match item {
            Executions::ExecutionData(e) => {
                st.book
                    .on_execution(exec_report(&e), &shared.instruments, now(), ts);
            }
            Executions::CommissionReport(c) => st.book.on_commission(&c.execution_id, c.commission),
            Executions::Notice(_) => {}
        }
    }
    if !done {
        return Err(IbkrError::Timeout {
            request: "reqExecutions",
            timeout_ms: shared.cfg.request_timeout.as_millis() as u64,
        });
    }
    Ok(())
}

fn check_alert(shared: &Shared, st: &mut State) {
    let Some(since) = st.down_since else { return };
    if !st.alert && since.elapsed() >= shared.cfg.alert_after {
        st.alert = true;
        st.counters.alerts_raised += 1;
        tracing::error!(
            address = %shared.cfg.address(),
            down_secs = since.elapsed().as_secs(),
            "IB Gateway unreachable for longer than alert_after_secs: check the gateway pod, its login (2FA) and the daily restart"
        );
    }
}

/// A reqCurrentTime round trip on its own thread (the library call blocks
/// until an answer or a connection reset).
struct Probe {
    started: Instant,
    result: mpsc::Receiver<bool>,
}

fn start_probe(client: &Arc<Client>) -> Probe {
    let (tx, rx) = mpsc::channel();
    let c = Arc::clone(client);
    let spawned = std::thread::Builder::new()
        .name("ibkr-probe".into())
        .spawn(move || {
            let _ = tx.send(c.server_time().is_ok());
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start IB probe thread");
    }
    Probe {
        started: now(),
        result: rx,
    }
}

/// How the supervisor tells whether the link is usable.
///
/// The library's flag is trusted until it first drops: then the link is
/// down at once, and a reqCurrentTime round trip decides when it is back.
/// ibapi 2.12 leaves its flag at false after its own successful reconnect
/// (its reset runs after it sets the flag), so from then on this client's
/// flag is stale and periodic probes watch the link instead.
#[derive(Default)]
struct Watch {
    flag_stale: bool,
    probe: Option<Probe>,
    last_probe: Option<Instant>,
    /// A watchdog probe went unanswered on a socket the library calls healthy.
    hung: bool,
}

impl Watch {
    /// `Some(up)` when known, `None` while a probe is still out.
    fn link_up(&mut self, shared: &Shared, client: &Arc<Client>, down: bool) -> Option<bool> {
        if !self.flag_stale {
            if client.is_connected() {
                self.watchdog(shared, client);
                return Some(!self.hung);
            }
            if !down {
                return Some(false);
            }
        } else if self.probe.is_none() {
            let every = shared.cfg.heartbeat.max(Duration::from_secs(1));
            let due = self.last_probe.is_none_or(|t| t.elapsed() >= every);
            if !due && !down {
                return Some(true);
            }
        }
        let answer = match self.probe.as_ref().map(|p| p.result.try_recv()) {
            None => {
                self.probe = Some(start_probe(client));
                self.last_probe = Some(now());
                return None;
            }
            Some(Ok(ok)) => Some(ok),
            Some(Err(mpsc::TryRecvError::Disconnected)) => Some(false),
            Some(Err(mpsc::TryRecvError::Empty)) => {
                // A probe that hangs means down; a new one starts once it returns.
                let stale = self
                    .probe
                    .as_ref()
                    .is_some_and(|p| p.started.elapsed() >= shared.cfg.request_timeout);
                return if stale { Some(false) } else { None };
            }
        };
        self.probe = None;
        if answer == Some(true) && !client.is_connected() {
            self.flag_stale = true;
        }
        answer
    }
}

impl Watch {
    /// IB9: while the link looks healthy, probe every `watchdog_secs`; an
    /// answer missing after `request_timeout` marks the gateway hung (alive
    /// socket, no traffic), which the supervisor answers with a new session.
    fn watchdog(&mut self, shared: &Shared, client: &Arc<Client>) {
        let Some(every) = shared.cfg.watchdog else {
            self.probe = None;
            return;
        };
        match self.probe.as_ref().map(|p| p.result.try_recv()) {
            None => {
                if self.last_probe.is_none_or(|t| t.elapsed() >= every) {
                    self.probe = Some(start_probe(client));
                    self.last_probe = Some(now());
                }
            }
            Some(Err(mpsc::TryRecvError::Empty)) => {
                if self
                    .probe
                    .as_ref()
                    .is_some_and(|p| p.started.elapsed() >= shared.cfg.request_timeout)
                {
                    self.hung = true;
                }
            }
            Some(_) => self.probe = None,
        }
    }
}

/// A long-lived request whose only job is to hear ibapi's reset: after its
/// own successful reconnect ibapi fails every open request with
/// `ConnectionReset`, which is the one reliable sign that the session was
/// re-established (and that market data and orders must be re-checked).
type Sentinel = Subscription<ibapi::accounts::AccountSummaryResult>;

fn open_sentinel(shared: &Shared) -> Option<Sentinel> {
    let client = shared
        .permit("reqAccountSummary", now() + shared.cfg.request_timeout)
        .ok()?;
    client
        .account_summary(
            &ibapi::accounts::types::AccountGroup("All".into()),
            &["TotalCashValue"],
        )
        .map_err(|e| tracing::debug!(error = %e, "IB sentinel request failed"))
        .ok()
}

/// Drains the sentinel; true if ibapi reset the session since the last look.
fn sentinel_reset(sentinel: &mut Option<Sentinel>) -> bool {
    let Some(s) = sentinel.as_ref() else { return false };
    while s.try_next().is_some() {}
    match s.error() {
        Some(ibapi::Error::ConnectionReset) => {
            *sentinel = None;
            true
        }
        Some(e) => {
            tracing::debug!(error = %e, "IB sentinel ended");
            *sentinel = None;
            false
        }
        None => false,
    }
}

pub(crate) fn supervisor_loop(shared: &Arc<Shared>, threads: &Arc<ThreadSet>) {
    let cfg = &shared.cfg;
    let mut backoff = cfg.reconnect_initial;
    let mut attempt = 0u32;
    let mut watch = Watch::default();
    let mut sentinel: Option<Sentinel> = None;
    while !shared.is_shutdown() {
        let client = lock(&shared.state).client.clone();
        let Some(client) = client else {
            attempt += 1;
            watch = Watch::default();
            sentinel = None;
            {
                let mut st = lock(&shared.state);
                st.down_since.get_or_insert_with(now);
                let last_error = match &st.link {
                    LinkState::Connecting { last_error, .. } => last_error.clone(),
                    _ => None,
                };
                st.link = LinkState::Connecting { attempt, last_error };
            }
            match connect_with_fallbacks(shared) {
                Ok((c, id)) => {
                    lock(&shared.state).counters.reconnects += 1;
                    if let Err(e) = install(shared, c, id, threads) {
                        tracing::error!(error = %e, "IB session set-up failed");
                    }
                    attempt = 0;
                    backoff = cfg.reconnect_initial;
                }
                Err(e) => {
                    tracing::warn!(error = %e, attempt, "IB Gateway reconnect attempt failed");
                    let mut st = lock(&shared.state);
                    st.link = LinkState::Connecting {
                        attempt,
                        last_error: Some(e.to_string()),
                    };
                    check_alert(shared, &mut st);
                    drop(st);
                    shared.sleep(backoff);
                    backoff = (backoff * 2).min(cfg.reconnect_max);
                }
            }
            continue;
        };
        shared.sleep(cfg.heartbeat);
        if sentinel.is_none() && lock(&shared.state).down_since.is_none() {
            sentinel = open_sentinel(shared);
        }
        let reset = sentinel_reset(&mut sentinel);
        if reset {
            // ibapi's flag reads false from now on; probes watch the link.
            watch.flag_stale = true;
            watch.probe = None;
            watch.last_probe = Some(now());
        }
        let down = lock(&shared.state).down_since.is_some();
        let up = if reset {
            Some(true)
        } else {
            watch.link_up(shared, &client, down)
        };
        let Some(up) = up else {
            continue;
        };
        if watch.hung {
            let mut st = lock(&shared.state);
            st.counters.silent_hangs += 1;
            st.down_since.get_or_insert_with(now);
            st.link = LinkState::Connecting {
                attempt: 1,
                last_error: Some("IB Gateway stopped answering (watchdog): starting a new session".into()),
            };
            st.client = None;
            st.client_gen += 1;
            drop(st);
            tracing::error!(address = %cfg.address(), "IB Gateway socket open but silent: watchdog probe unanswered, reconnecting");
            retire(client);
            continue;
        }
        let mut st = lock(&shared.state);
        if !up {
            if st.down_since.is_none() {
                st.down_since = Some(now());
                st.link = LinkState::Connecting {
                    attempt: 1,
                    last_error: Some(
                        "socket to IB Gateway lost; the client library reconnects with the same client id"
                            .into(),
                    ),
                };
                tracing::warn!(address = %cfg.address(), "IB Gateway socket lost: orders refused until reconnected and reconciled");
            }
            check_alert(shared, &mut st);
            if st.down_since.is_some_and(|t| t.elapsed() >= cfg.takeover_after) {
                tracing::warn!("the client library did not reconnect in time: starting a fresh session");
                st.client = None;
                st.client_gen += 1;
                drop(st);
                retire(client);
            }
        } else if st.down_since.take().is_some() || reset {
            st.counters.reconnects += 1;
            st.alert = false;
            st.session_gen += 1;
            st.link = LinkState::Reconciling;
            tracing::info!("IB Gateway socket restored: resubscribing and reconciling");
            drop(st);
            reconcile(shared, &client);
        } else if std::mem::take(&mut st.reconcile_requested) {
            if !matches!(st.link, LinkState::Degraded { .. }) {
                st.link = LinkState::Reconciling;
            }
            drop(st);
            reconcile(shared, &client);
        }
    }
}
