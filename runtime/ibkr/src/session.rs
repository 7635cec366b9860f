//! The session with IB Gateway: the state shared by the adapter's threads,
//! the clock, permits and thread bookkeeping.
//!
//! Threads (all owned by [`IbkrBroker`](crate::IbkrBroker), stopped on drop):
//! - **writer** ([`crate::writer`]): the single paced sender;
//! - **reader** ([`crate::reader`], one per client): order updates and notices;
//! - **supervisor** ([`crate::supervisor`]): heartbeat, reconnect, alert, reconcile;
//! - **market** ([`crate::market`]): real-time bar subscriptions.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ibapi::client::blocking::{Client, Subscription};
use ibapi::contracts::Contract;
use ibapi::orders::{CancelOrder, PlaceOrder};
use wasmtrade_model::{Instruments, OrderId, Timestamp};

use crate::book::Book;
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
    pub silent_hangs: u64,
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
    pub fn sleep(&self, d: Duration) {
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
