//! The runtime's side: [`VenueBroker`], a [`Broker`] whose venue is a
//! `wasmtrade paper-venue` process.
//!
//! Requests go out in order through one writer thread (a `submit` never
//! blocks the event loop); events and bars come back on a stream
//! connection that resumes after the last sequence seen whenever it is
//! re-established, so no event is lost to a reconnect. While the venue is
//! unreachable `submit` refuses with [`BrokerError::Disconnected`]: nothing
//! is queued to go out late. A request whose outcome is unknown (the
//! connection broke while it was in flight) is left to reconciliation.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use wasmtrade_broker::{Broker, BrokerError, Connection, VenueReport};
use wasmtrade_model::{Bar, BrokerEvent, NewOrder, OrderId, StrategyId, Tick, Timestamp};
use wasmtrade_risk::{Amendment, RiskApproved};

use crate::protocol::{Hello, Reply, Request, StreamLine, VenueStatus};

/// Why talking to the venue failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VenueError {
    /// Socket trouble.
    #[error("paper venue: {0}")]
    Io(String),
    /// The venue answered something unexpected.
    #[error("paper venue protocol: {0}")]
    Protocol(String),
    /// The venue refused the request.
    #[error("paper venue refused: {0}")]
    Refused(String),
    /// Bad settings.
    #[error("paper venue settings: {0}")]
    Config(String),
}

const NAME: &str = "paper-venue";

/// One request/reply connection.
struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    fn open(addr: SocketAddr, timeout: Duration) -> Result<Conn, VenueError> {
        let stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| {
            VenueError::Io(format!(
                "cannot connect to {addr}: {e} (is `wasmtrade paper-venue` running there?)"
            ))
        })?;
        stream
            .set_nodelay(true)
            .and_then(|()| stream.set_read_timeout(Some(timeout.max(Duration::from_millis(100)))))
            .map_err(|e| VenueError::Io(format!("{addr}: {e}")))?;
        let writer = stream
            .try_clone()
            .map_err(|e| VenueError::Io(format!("{addr}: {e}")))?;
        Ok(Conn {
            reader: BufReader::new(stream),
            writer,
        })
    }

    fn send(&mut self, request: &Request) -> Result<(), VenueError> {
        let mut line = serde_json::to_string(request).map_err(|e| VenueError::Protocol(e.to_string()))?;
        line.push('\n');
        self.writer
            .write_all(line.as_bytes())
            .map_err(|e| VenueError::Io(format!("sending a request: {e}")))
    }

    fn call(&mut self, request: &Request) -> Result<Reply, VenueError> {
        self.send(request)?;
        let mut line = String::new();
        let n = self
            .reader
            .read_line(&mut line)
            .map_err(|e| VenueError::Io(format!("waiting for a reply: {e}")))?;
        if n == 0 {
            return Err(VenueError::Io("the venue closed the connection".into()));
        }
        serde_json::from_str(&line).map_err(|e| VenueError::Protocol(format!("bad reply line ({e}): {line}")))
    }
}

/// State shared with the writer and stream threads.
struct Shared {
    inbox: Mutex<Vec<BrokerEvent>>,
    connection: Mutex<Connection>,
    last_seq: AtomicU64,
    stop: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A [`Broker`] backed by a `wasmtrade paper-venue` process.
pub struct VenueBroker {
    addr: SocketAddr,
    hello: Hello,
    shared: Arc<Shared>,
    requests: Sender<Request>,
    timeout: Duration,
}

impl VenueBroker {
    /// Connects to the venue at `addr` and asks what it trades.
    pub fn connect(addr: SocketAddr, timeout: Duration) -> Result<VenueBroker, VenueError> {
        let mut conn = Conn::open(addr, timeout)?;
        let hello = match conn.call(&Request::Hello)? {
            Reply::Hello(h) => h,
            other => return Err(VenueError::Protocol(format!("expected hello, got {other:?}"))),
        };
        let shared = Arc::new(Shared {
            inbox: Mutex::new(Vec::new()),
            connection: Mutex::new(Connection::Connected),
            last_seq: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let (requests, rx) = channel();
        {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("venue-writer".into())
                .spawn(move || writer(addr, conn, &rx, &shared, timeout))
                .map_err(|e| VenueError::Io(format!("cannot start the venue writer: {e}")))?;
        }
        Ok(VenueBroker {
            addr,
            hello,
            shared,
            requests,
            timeout,
        })
    }

    /// What the venue trades.
    pub fn hello(&self) -> &Hello {
        &self.hello
    }

    /// The venue's counters.
    pub fn status(&self) -> Result<VenueStatus, VenueError> {
        match Conn::open(self.addr, self.timeout)?.call(&Request::Status)? {
            Reply::Status(s) => Ok(s),
            other => Err(VenueError::Protocol(format!("expected status, got {other:?}"))),
        }
    }

    /// Reads the connection state from any thread (for readiness).
    pub fn connection_probe(&self) -> impl Fn() -> Connection + Send + Sync + 'static {
        let shared = self.shared.clone();
        move || lock(&shared.connection).clone()
    }

    /// What starts the stream of events and bars, later, from another
    /// thread (after start-up reconciliation, while the broker itself is
    /// owned by the event loop).
    pub fn stream_starter(&self) -> StreamStarter {
        StreamStarter {
            addr: self.addr,
            shared: self.shared.clone(),
            timeout: self.timeout,
        }
    }
}

/// Starts a [`VenueBroker`]'s stream (see [`VenueBroker::stream_starter`]).
pub struct StreamStarter {
    addr: SocketAddr,
    shared: Arc<Shared>,
    timeout: Duration,
}

impl StreamStarter {
    /// Starts the stream after the last event seen (the last
    /// [`report`](Broker::report)'s, so nothing between them is lost).
    /// Events land in the inbox [`poll`](Broker::poll) drains; each bar is
    /// handed to `on_bar` after the events before it. The stream
    /// reconnects with backoff; it ends when `on_bar` returns false.
    pub fn start(self, on_bar: impl FnMut(Bar) -> bool + Send + 'static) -> Result<(), VenueError> {
        let (addr, shared, timeout) = (self.addr, self.shared, self.timeout);
        std::thread::Builder::new()
            .name("venue-stream".into())
            .spawn(move || stream(addr, &shared, timeout, on_bar))
            .map(drop)
            .map_err(|e| VenueError::Io(format!("cannot start the venue stream: {e}")))
    }
}

impl Drop for VenueBroker {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

/// Sends requests in order; reconnects after a broken connection.
fn writer(addr: SocketAddr, conn: Conn, rx: &Receiver<Request>, shared: &Shared, timeout: Duration) {
    let mut conn = Some(conn);
    while let Ok(request) = rx.recv() {
        if conn.is_none() {
            match Conn::open(addr, timeout) {
                Ok(c) => {
                    conn = Some(c);
                    *lock(&shared.connection) = Connection::Connected;
                }
                Err(e) => {
                    *lock(&shared.connection) = Connection::Disconnected {
                        reason: e.to_string(),
                    };
                    tracing::error!(?request, "not sent, the venue is unreachable: {e}");
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        match c.call(&request) {
            Ok(Reply::Ok) => {}
            Ok(Reply::Error { message, duplicate }) => {
                tracing::warn!(?request, duplicate, "the venue refused: {message}");
                if let Request::Submit { id, .. } = request
                    && !duplicate
                {
                    lock(&shared.inbox).push(BrokerEvent::Rejected {
                        order_id: id,
                        reason: message,
                        ts: Timestamp::EPOCH,
                    });
                }
            }
            Ok(other) => tracing::warn!(?request, "unexpected venue reply: {other:?}"),
            Err(e) => {
                // The outcome is unknown: reconciliation resolves it.
                tracing::error!(?request, "venue request failed, outcome unknown: {e}");
                *lock(&shared.connection) = Connection::Disconnected {
                    reason: e.to_string(),
                };
                conn = None;
            }
        }
    }
}

/// Reads the stream; resubscribes after the last sequence seen on loss.
fn stream(addr: SocketAddr, shared: &Shared, timeout: Duration, mut on_bar: impl FnMut(Bar) -> bool) {
    let mut attempt: u32 = 0;
    while !shared.stop.load(Ordering::Relaxed) {
        let after = shared.last_seq.load(Ordering::Acquire);
        let result = Conn::open(addr, timeout).and_then(|mut c| {
            c.send(&Request::Subscribe { after })?;
            c.reader
                .get_ref()
                .set_read_timeout(None)
                .map_err(|e| VenueError::Io(e.to_string()))?;
            Ok(c)
        });
        let mut conn = match result {
            Ok(c) => c,
            Err(e) => {
                attempt = attempt.saturating_add(1);
                *lock(&shared.connection) = Connection::Connecting {
                    attempt,
                    last_error: Some(e.to_string()),
                };
                std::thread::sleep(Duration::from_millis(100u64 << attempt.min(5)));
                continue;
            }
        };
        attempt = 0;
        *lock(&shared.connection) = Connection::Connected;
        let mut line = String::new();
        loop {
            line.clear();
            match conn.reader.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            match serde_json::from_str::<StreamLine>(&line) {
                Ok(StreamLine::Event { seq, event }) => {
                    if seq > shared.last_seq.load(Ordering::Acquire) {
                        lock(&shared.inbox).push(event);
                        shared.last_seq.store(seq, Ordering::Release);
                    }
                }
                Ok(StreamLine::Bar { bar }) => {
                    if !on_bar(bar) {
                        return;
                    }
                }
                Err(e) => tracing::warn!("bad venue stream line ({e}): {line}"),
            }
        }
        *lock(&shared.connection) = Connection::Connecting {
            attempt: 1,
            last_error: Some("the venue stream closed".into()),
        };
    }
}

impl Broker for VenueBroker {
    fn submit(
        &mut self,
        id: OrderId,
        strategy: &StrategyId,
        order: &RiskApproved<NewOrder>,
        _ts: Timestamp,
    ) -> Result<(), BrokerError> {
        if !lock(&self.shared.connection).is_connected() {
            return Err(BrokerError::Disconnected { venue: NAME.into() });
        }
        self.requests
            .send(Request::Submit {
                id,
                strategy: strategy.clone(),
                order: order.get().clone(),
            })
            .map_err(|_| BrokerError::Disconnected { venue: NAME.into() })
    }

    fn cancel(&mut self, id: OrderId, _ts: Timestamp) -> Result<(), BrokerError> {
        if !lock(&self.shared.connection).is_connected() {
            return Err(BrokerError::Disconnected { venue: NAME.into() });
        }
        self.requests
            .send(Request::Cancel { id })
            .map_err(|_| BrokerError::Disconnected { venue: NAME.into() })
    }

    fn amend(
        &mut self,
        id: OrderId,
        _change: &RiskApproved<Amendment>,
        _ts: Timestamp,
    ) -> Result<(), BrokerError> {
        Err(BrokerError::Refused {
            id,
            reason: "the paper venue does not amend orders: cancel and send a new one".into(),
        })
    }

    fn on_bar(&mut self, _bar: &Bar) {}

    fn on_tick(&mut self, _tick: &Tick) {}

    fn poll(&mut self, out: &mut Vec<BrokerEvent>) {
        out.append(&mut lock(&self.shared.inbox));
    }

    fn connection(&self) -> Connection {
        lock(&self.shared.connection).clone()
    }

    fn report(&mut self, _known: &[OrderId], timeout: Duration) -> Result<VenueReport, BrokerError> {
        let refused = |e: VenueError| BrokerError::Disconnected {
            venue: format!("{NAME} ({e})"),
        };
        let mut conn = Conn::open(self.addr, timeout).map_err(refused)?;
        match conn.call(&Request::Report).map_err(refused)? {
            Reply::Report { report, as_of } => {
                // Events up to `as_of` are in the report: the stream starts after them.
                self.shared.last_seq.fetch_max(as_of, Ordering::AcqRel);
                Ok(report)
            }
            other => Err(BrokerError::Disconnected {
                venue: format!("{NAME} (unexpected reply {other:?})"),
            }),
        }
    }
}
