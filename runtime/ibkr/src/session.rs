//! The session with IB Gateway: shared state, the single paced writer, the
//! order-update reader and the supervisor that watches the link, reconnects,
//! raises alerts and reconciles.
//!
//! Threads (all owned by [`IbkrBroker`](crate::IbkrBroker), stopped on drop):
//! - **writer**: pops the outbound priority queue (cancels first), takes a
//!   token from the bucket, then places/cancels or grants a permit to a
//!   caller that sends a data request itself;
//! - **reader** (one per client): turns order updates and notices into book
//!   changes and link transitions;
//! - **supervisor**: heartbeat, reconnect with backoff, alert, reconcile.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ibapi::client::blocking::{Client, Subscription};
use ibapi::contracts::Contract;
use ibapi::orders::{CancelOrder, ExecutionFilter, Executions, OrderUpdate, Orders, PlaceOrder};
use wasmtrade_model::{Instruments, OrderId, Timestamp};

use crate::book::{Book, ExecReport};
use crate::health::LinkState;
use crate::pacing::{HistoricalPacer, PacingStats, Priority, PriorityQueue, TokenBucket};
use crate::{IbkrConfig, IbkrError};

/// A request for the writer thread.
pub(crate) enum Outbound {
    /// Place (or modify, same IB id) an order.
    Place {
        id: OrderId,
        ib_id: i32,
        contract: Box<Contract>,
        order: Box<ibapi::orders::Order>,
        modify: bool,
    },
    /// Cancel an order.
    Cancel { id: OrderId, ib_id: i32 },
    /// Let a caller send one data request now.
    Permit(mpsc::SyncSender<()>),
}

pub(crate) struct Outbox {
    pub queue: PriorityQueue<Outbound>,
    pub bucket: TokenBucket,
    pub stats: PacingStats,
}

/// Counters behind [`IbkrHealth`](crate::IbkrHealth).
#[derive(Clone, Debug, Default)]
pub(crate) struct Counters {
    pub reconnects: u64,
    pub alerts_raised: u64,
    pub n1100: u64,
    pub n1101: u64,
    pub n1102: u64,
    pub client_id_conflicts: u64,
    pub subscriptions_replayed: u64,
    pub reconciliations: u64,
    pub bars_dropped: u64,
}

pub(crate) struct State {
    pub link: LinkState,
    pub client: Option<Arc<Client>>,
    /// Bumped for every new client object.
    pub client_gen: u64,
    /// Bumped for every (re)connect and on 1101: market data must be resubscribed.
    pub session_gen: u64,
    pub next_ib_id: i32,
    pub client_id: i32,
    pub server_version: i32,
    pub book: Book,
    pub down_since: Option<Instant>,
    pub alert: bool,
    pub counters: Counters,
    pub reconcile_requested: bool,
}

/// One per-order subscription, kept to read the errors IB addresses to that order id.
pub(crate) enum OrderSub {
    Place(Subscription<PlaceOrder>),
    Cancel(Subscription<CancelOrder>),
}

pub(crate) struct Shared {
    pub cfg: IbkrConfig,
    pub instruments: Arc<Instruments>,
    pub origin: Instant,
    pub state: Mutex<State>,
    pub outbox: Mutex<Outbox>,
    pub outbox_cv: Condvar,
    pub shutdown: AtomicBool,
    pub registry: Mutex<Vec<String>>,
    pub historical: Mutex<HistoricalPacer>,
    pub order_subs: Mutex<Vec<(i32, OrderSub)>>,
}

/// Locks a mutex, recovering the data if a thread panicked while holding it
/// (every critical section leaves the state consistent).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Monotonic time for deadlines, backoff and pacing: the adapter talks to a
/// real gateway in real time (the engine's Clock is for strategy time).
#[allow(
    clippy::disallowed_methods,
    reason = "network deadlines and pacing run on real time"
)]
pub(crate) fn now() -> Instant {
    Instant::now()
}

/// Wall-clock time as our timestamp (the adapter stamps events on receipt).
#[allow(
    clippy::disallowed_methods,
    reason = "venue events are stamped when they arrive"
)]
pub(crate) fn now_ts() -> Timestamp {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    Timestamp::from_nanos(nanos)
}

impl Shared {
    pub fn new(cfg: IbkrConfig, instruments: Arc<Instruments>) -> Self {
        let origin = now();
        let rate = cfg.max_messages_per_sec;
        let book = Book::new(cfg.order_ref_prefix.clone(), cfg.commission_wait);
        let registry = cfg.symbols.clone();
        Self {
            state: Mutex::new(State {
                link: LinkState::Connecting {
                    attempt: 0,
                    last_error: None,
                },
                client: None,
                client_gen: 0,
                session_gen: 0,
                next_ib_id: 1,
                client_id: cfg.client_id,
                server_version: 0,
                book,
                down_since: None,
                alert: false,
                counters: Counters::default(),
                reconcile_requested: false,
            }),
            outbox: Mutex::new(Outbox {
                queue: PriorityQueue::default(),
                // A burst of a quarter second's budget, then the steady rate.
                bucket: TokenBucket::new(rate, (rate / 4).max(1), Duration::ZERO),
                stats: PacingStats::default(),
            }),
            outbox_cv: Condvar::new(),
            shutdown: AtomicBool::new(false),
            registry: Mutex::new(registry),
            historical: Mutex::new(HistoricalPacer::default()),
            order_subs: Mutex::new(Vec::new()),
            cfg,
            instruments,
            origin,
        }
    }

    pub fn is_shutdown(&self) -> bool {
        self.shutdown.load(Ordering::Relaxed)
    }

    pub fn enqueue(&self, priority: Priority, item: Outbound) {
        lock(&self.outbox).queue.push(priority, item);
        self.outbox_cv.notify_all();
    }

    /// Waits for the pacer's permission to send one data request, then
    /// returns the current client.
    pub fn permit(&self, request: &'static str, deadline: Instant) -> Result<Arc<Client>, IbkrError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.enqueue(Priority::Data, Outbound::Permit(tx));
        let wait = deadline.saturating_duration_since(now());
        loop {
            if self.is_shutdown() {
                return Err(IbkrError::Disconnected);
            }
            let left = deadline.saturating_duration_since(now());
            if left.is_zero() {
                return Err(IbkrError::Timeout {
                    request,
                    timeout_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                });
            }
            match rx.recv_timeout(left.min(Duration::from_millis(50))) {
                Ok(()) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return Err(IbkrError::Disconnected),
            }
        }
        lock(&self.state).client.clone().ok_or(IbkrError::Disconnected)
    }

    /// Sleeps up to `d`, waking early on shutdown.
    fn sleep(&self, d: Duration) {
        let end = now() + d;
        while !self.is_shutdown() {
            let left = end.saturating_duration_since(now());
            if left.is_zero() {
                return;
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
    }
}

// ---------------------------------------------------------------- writer --

pub(crate) fn writer_loop(shared: &Shared) {
    loop {
        let (priority, item) = {
            let mut ob = lock(&shared.outbox);
            loop {
                if shared.is_shutdown() {
                    return;
                }
                if let Some(x) = ob.queue.pop() {
                    break x;
                }
                ob = shared
                    .outbox_cv
                    .wait_timeout(ob, Duration::from_millis(100))
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .0;
            }
        };
        let mut waited = Duration::ZERO;
        loop {
            let r = lock(&shared.outbox).bucket.try_take(shared.origin.elapsed());
            match r {
                Ok(()) => break,
                Err(wait) => {
                    waited += wait;
                    std::thread::sleep(wait);
                }
            }
        }
        lock(&shared.outbox).stats.record(waited);
        if waited > Duration::ZERO {
            tracing::debug!(
                ?priority,
                waited_us = waited.as_micros() as u64,
                "IB request paced"
            );
        }
        send(shared, item);
    }
}

fn send(shared: &Shared, item: Outbound) {
    match item {
        Outbound::Permit(tx) => {
            let _ = tx.try_send(());
        }
        Outbound::Place {
            id,
            ib_id,
            contract,
            order,
            modify,
        } => {
            let client = {
                let mut st = lock(&shared.state);
                if st.link != LinkState::Up || st.client.is_none() {
                    let reason = format!(
                        "not sent: IB Gateway link is {:?} (the order was queued when it dropped)",
                        st.link
                    );
                    if modify {
                        tracing::warn!(order = %id, %reason, "modification dropped");
                    } else {
                        st.book.not_sent(id, reason, now_ts());
                    }
                    return;
                }
                st.client.clone()
            };
            let Some(client) = client else { return };
            match client.place_order(ib_id, &contract, &order) {
                Ok(sub) => lock(&shared.order_subs).push((ib_id, OrderSub::Place(sub))),
                Err(e) => {
                    let reason = format!("IB client could not send the order: {e}");
                    if modify {
                        tracing::warn!(order = %id, %reason, "modification not sent");
                    } else {
                        lock(&shared.state).book.not_sent(id, reason, now_ts());
                    }
                }
            }
        }
        Outbound::Cancel { id, ib_id } => {
            let client = lock(&shared.state).client.clone();
            let result = match client {
                Some(c) => c.cancel_order(ib_id, "").map_err(|e| e.to_string()),
                None => Err("IB Gateway disconnected".to_string()),
            };
            match result {
                Ok(sub) => lock(&shared.order_subs).push((ib_id, OrderSub::Cancel(sub))),
                Err(reason) => {
                    lock(&shared.state)
                        .book
                        .events
                        .push_back(wasmtrade_model::BrokerEvent::CancelRejected {
                            order_id: id,
                            reason: format!("cancel not sent: {reason}"),
                            ts: now_ts(),
                        })
                }
            }
        }
    }
}

// ---------------------------------------------------------------- reader --

pub(crate) fn reader_loop(shared: &Shared, stream: Subscription<OrderUpdate>, generation: u64) {
    loop {
        if shared.is_shutdown() || lock(&shared.state).client_gen != generation {
            return;
        }
        if let Some(u) = stream.next_timeout(Duration::from_millis(20)) {
            handle_update(shared, u);
            while let Some(u) = stream.try_next() {
                handle_update(shared, u);
            }
        }
        poll_order_subs(shared);
        lock(&shared.state).book.flush_expired(now());
    }
}

pub(crate) fn handle_update(shared: &Shared, u: OrderUpdate) {
    let ts = now_ts();
    match u {
        OrderUpdate::OrderStatus(s) => lock(&shared.state)
            .book
            .on_status(s.order_id, "", &s.status, s.filled, ts),
        OrderUpdate::OpenOrder(d) => {
            lock(&shared.state).book.on_status(
                d.order_id,
                &d.order.order_ref,
                &d.order_state.status,
                0.0,
                ts,
            );
        }
        OrderUpdate::ExecutionData(e) => {
            let report = exec_report(&e);
            lock(&shared.state)
                .book
                .on_execution(report, &shared.instruments, now(), ts);
        }
        OrderUpdate::CommissionReport(c) => lock(&shared.state)
            .book
            .on_commission(&c.execution_id, c.commission),
        OrderUpdate::Message(n) => on_notice(shared, n.code, &n.message),
    }
}

pub(crate) fn exec_report(e: &ibapi::orders::ExecutionData) -> ExecReport {
    ExecReport {
        ib_id: e.execution.order_id,
        order_ref: e.execution.order_reference.clone(),
        exec_id: e.execution.execution_id.clone(),
        symbol: e.contract.symbol.to_string(),
        side: e.execution.side.clone(),
        shares: e.execution.shares,
        price: e.execution.price,
    }
}

/// A notice not tied to one order: connectivity codes and warnings.
pub(crate) fn on_notice(shared: &Shared, code: i32, message: &str) {
    let mut st = lock(&shared.state);
    match code {
        1100 => {
            st.counters.n1100 += 1;
            st.link = LinkState::Degraded { code };
            tracing::error!(
                code,
                message,
                "IB Gateway lost its connection to IB: new orders frozen, cancels still sent"
            );
        }
        1101 => {
            st.counters.n1101 += 1;
            st.link = LinkState::Reconciling;
            st.session_gen += 1;
            st.reconcile_requested = true;
            tracing::warn!(
                code,
                message,
                "IB connectivity restored, market data lost: resubscribing and reconciling"
            );
        }
        1102 => {
            st.counters.n1102 += 1;
            st.link = LinkState::Reconciling;
            st.reconcile_requested = true;
            tracing::warn!(
                code,
                message,
                "IB connectivity restored, data kept: reconciling orders"
            );
        }
        326 => {
            st.counters.client_id_conflicts += 1;
            tracing::error!(code, message, "IB reports the client id in use");
        }
        100 => tracing::error!(code, message, "IB pacing violation: messages sent too fast"),
        1300 => tracing::warn!(
            code,
            message,
            "IB socket port reset: the gateway will drop this socket"
        ),
        2103 | 2105 | 2157 | 2110 => tracing::warn!(code, message, "IB data farm or server link broken"),
        2100..=2200 => {
            tracing::debug!(code, message, "IB farm status")
        }
        c if crate::mapping::is_order_rejection(c) || crate::mapping::is_cancel_rejection(c) || c == 202 => {
            // Order-addressed; handled from the order's own subscription.
        }
        _ => tracing::warn!(code, message, "unmapped IB notice"),
    }
}

fn poll_order_subs(shared: &Shared) {
    let mut notices = Vec::new();
    {
        let mut subs = lock(&shared.order_subs);
        for (ib_id, sub) in subs.iter() {
            match sub {
                OrderSub::Place(s) => {
                    while let Some(m) = s.try_next() {
                        if let PlaceOrder::Message(n) = m {
                            notices.push((*ib_id, n.code, n.message, false));
                        }
                    }
                }
                OrderSub::Cancel(s) => {
                    while let Some(m) = s.try_next() {
                        if let CancelOrder::Notice(n) = m {
                            notices.push((*ib_id, n.code, n.message, true));
                        }
                    }
                }
            }
        }
        if subs.len() > 256 {
            // Keep the newest; old orders' errors have long arrived.
            let excess = subs.len() - 256;
            subs.drain(..excess);
        }
    }
    if notices.is_empty() {
        return;
    }
    let ts = now_ts();
    let mut st = lock(&shared.state);
    for (ib_id, code, message, cancel) in notices {
        st.book.on_order_error(ib_id, code, &message, cancel, ts);
    }
}

// ------------------------------------------------------------ supervisor --

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

/// Reads a request's answers until its end (true) or the deadline (false).
/// `is_end` marks an item that ends streams IB does not close on their own.
/// `next` is the subscription's `next_timeout` (ibapi's decoder trait is private).
pub(crate) fn drain<T>(
    next: impl Fn(Duration) -> Option<T>,
    deadline: Instant,
    is_end: impl Fn(&T) -> bool,
) -> (Vec<T>, bool) {
    let mut out = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(now());
        if left.is_zero() {
            return (out, false);
        }
        match next(left) {
            Some(x) if is_end(&x) => return (out, true),
            Some(x) => out.push(x),
            None => return (out, now() < deadline),
        }
    }
}

/// Threads started by the adapter, joined on shutdown.
#[derive(Default)]
pub(crate) struct ThreadSet {
    handles: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl ThreadSet {
    pub fn spawn(&self, name: &str, f: impl FnOnce() + Send + 'static) {
        match std::thread::Builder::new().name(name.to_string()).spawn(f) {
            Ok(h) => lock(&self.handles).push(h),
            Err(e) => tracing::error!(thread = name, error = %e, "cannot start IB adapter thread"),
        }
    }
    /// Joins the threads, waiting at most `limit`; threads still running
    /// then are left to finish on their own (a client library stuck in its
    /// reconnect loop can hold one for minutes).
    pub fn join_all(&self, limit: Duration) {
        let handles = std::mem::take(&mut *lock(&self.handles));
        let deadline = now() + limit;
        for h in handles {
            while !h.is_finished() && now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if h.is_finished() {
                let _ = h.join();
            } else {
                tracing::warn!(thread = ?h.thread().name(), "IB adapter thread still busy at shutdown: left to finish");
            }
        }
    }
}

/// Disconnects and drops a client on a detached thread: ibapi joins its
/// dispatcher on drop, and a dispatcher inside its own reconnect loop
/// (up to 20 attempts, ~7 minutes) would block the caller that long.
pub(crate) fn retire(client: Arc<Client>) {
    let spawned = std::thread::Builder::new()
        .name("ibkr-retire".into())
        .spawn(move || {
            client.disconnect();
            drop(client);
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the IB client retirement thread");
    }
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
}

impl Watch {
    /// `Some(up)` when known, `None` while a probe is still out.
    fn link_up(&mut self, shared: &Shared, client: &Arc<Client>, down: bool) -> Option<bool> {
        if !self.flag_stale {
            if client.is_connected() {
                self.probe = None;
                return Some(true);
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
