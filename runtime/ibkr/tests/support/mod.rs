//! A scripted TWS-protocol peer on loopback: it performs the real API
//! handshake ("API\0", version range, server version + time, startApi,
//! nextValidId, managedAccounts) and answers requests with messages in
//! the wire format of server version 164, built from messages recorded in
//! ibapi's own test suite. Tests script replies per request and push
//! unsolicited messages (notices, fills) or a socket close at any time.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_arguments
)]

pub mod session;

use std::collections::BTreeSet;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The server version the peer announces (ibapi's SIZE_RULES, the version its
/// recorded order messages were captured at).
pub const SERVER_VERSION: i32 = 164;
/// The paper account the peer manages.
pub const ACCOUNT: &str = "DU1234567";

/// An openOrder for TSLA recorded by ibapi's tests at server version 164.
const OPEN_ORDER_TEMPLATE: &str = "5|13|76792991|TSLA|STK||0|?||SMART|USD|TSLA|NMS|BUY|100|MKT|0.0|0.0|DAY||DU1234567||0||100|1376327563|0|0|0||1376327563.0/DU1234567/100||||||||||0||-1|0||||||2147483647|0|0|0||3|0|0||0|0||0|None||0||||?|0|0||0|0||||||0|0|0|2147483647|2147483647|||0||IB|0|0||0|0|PreSubmitted|1.7976931348623157E308|1.7976931348623157E308|1.7976931348623157E308|1.7976931348623157E308|1.7976931348623157E308|1.7976931348623157E308|1.7976931348623157E308|1.7976931348623157E308|1.7976931348623157E308||||||0|0|0|None|1.7976931348623157E308|1.7976931348623157E308|1.7976931348623157E308|1.7976931348623157E308|1.7976931348623157E308|1.7976931348623157E308|0||||0|1|0|0|0|||0||";

/// A contractData for TSLA on SMART recorded by ibapi's tests at server version 164.
const CONTRACT_DATA_TEMPLATE: &str = "10|9001|TSLA|STK||0||SMART|USD|TSLA|NMS|NMS|76792991|0.01||ACTIVETIM,AD,ADJUST,ALERT,ALGO,ALLOC,AON,AVGCOST,BASKET,BENCHPX,CASHQTY,COND,CONDORDER,DARKONLY,DARKPOLL,DAY,DEACT,DEACTDIS,DEACTEOD,DIS,DUR,GAT,GTC,GTD,GTT,HID,IBKRATS,ICE,IMB,IOC,LIT,LMT,LOC,MIDPX,MIT,MKT,MOC,MTL,NGCOMB,NODARK,NONALGO,OCA,OPG,OPGREROUT,PEGBENCH,PEGMID,POSTATS,POSTONLY,PREOPGRTH,PRICECHK,REL,REL2MID,RELPCTOFS,RPI,RTH,SCALE,SCALEODD,SCALERST,SIZECHK,SNAPMID,SNAPMKT,SNAPREL,STP,STPLMT,SWEEP,TRAIL,TRAILLIT,TRAILLMT,TRAILMIT,WHATIF|SMART,AMEX,NYSE,CBOE,PHLX,ISE,CHX,ARCA,ISLAND,DRCTEDGE,BEX,BATS,EDGEA,CSFBALGO,JEFFALGO,BYX,IEX,EDGX,FOXRIVER,PEARL,NYSENAT,LTSE,MEMX,PSX|1|0|TESLA INC|NASDAQ||Consumer, Cyclical|Auto Manufacturers|Auto-Cars/Light Trucks|US/Eastern|20221229:0400-20221229:2000;20221230:0400-20221230:2000;20221231:CLOSED;20230101:CLOSED;20230102:CLOSED;20230103:0400-20230103:2000|20221229:0930-20221229:1600;20221230:0930-20221230:1600;20221231:CLOSED;20230101:CLOSED;20230102:CLOSED;20230103:0930-20230103:1600|||1|ISIN|US88160R1014|1|||26,26,26,26,26,26,26,26,26,26,26,26,26,26,26,26,26,26,26,26,26,26,26,26||COMMON|1|1|100||";

/// What the peer does.
#[derive(Clone, Debug)]
pub enum Action {
    /// Send one message (fields separated by '|').
    Send(String),
    /// Close the socket (the client sees the connection drop).
    Close,
}

/// One request the peer received: connection number and fields.
#[derive(Clone, Debug)]
pub struct Received {
    pub conn: usize,
    pub fields: Vec<String>,
}

impl Received {
    pub fn kind(&self) -> &str {
        &self.fields[0]
    }
    pub fn has(&self, value: &str) -> bool {
        self.fields.iter().any(|f| f == value)
    }
}

type Script = Box<dyn FnMut(usize, &[String]) -> Vec<Action> + Send>;

struct Inner {
    log: Mutex<Vec<Received>>,
    cv: Condvar,
    script: Mutex<Script>,
    pushed: Mutex<Vec<Action>>,
    refuse: Mutex<BTreeSet<i32>>,
    conns: AtomicUsize,
    stop: AtomicBool,
    silent: AtomicBool,
    next_valid_id: AtomicI32,
}

/// The peer. Dropping it stops it.
pub struct Peer {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
    handle: Option<JoinHandle<()>>,
}

impl Peer {
    /// Starts a peer; the script answers every request after startApi
    /// (except reqIds, which the peer answers itself).
    pub fn start(script: impl FnMut(usize, &[String]) -> Vec<Action> + Send + 'static) -> Peer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let inner = Arc::new(Inner {
            log: Mutex::new(Vec::new()),
            cv: Condvar::new(),
            script: Mutex::new(Box::new(script)),
            pushed: Mutex::new(Vec::new()),
            refuse: Mutex::new(BTreeSet::new()),
            conns: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            silent: AtomicBool::new(false),
            next_valid_id: AtomicI32::new(1000),
        });
        let i = Arc::clone(&inner);
        let handle = std::thread::spawn(move || {
            while !i.stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => serve(&i, stream),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    Err(_) => return,
                }
            }
        });
        Peer {
            addr,
            inner,
            handle: Some(handle),
        }
    }

    /// Refuses a client id with error 326 and closes, as TWS does for an id in use.
    pub fn refuse_client_id(&self, client_id: i32) {
        self.inner.refuse.lock().unwrap().insert(client_id);
    }

    /// Queues unsolicited actions on the current connection.
    pub fn push(&self, actions: Vec<Action>) {
        self.inner.pushed.lock().unwrap().extend(actions);
    }

    /// Keeps the socket open but stops answering anything (a hung
    /// gateway), until the next connection.
    pub fn go_silent(&self) {
        self.inner.silent.store(true, Ordering::Relaxed);
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.inner.conns.load(Ordering::Relaxed)
    }

    /// Everything received so far.
    pub fn log(&self) -> Vec<Received> {
        self.inner.log.lock().unwrap().clone()
    }

    /// Waits (at most 20 s, then panics) until the predicate holds for the log.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut log = self.inner.log.lock().unwrap();
        loop {
            if pred(&log) {
                return log.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "peer never saw {what}; log: {:#?}", *log);
            log = self
                .inner
                .cv
                .wait_timeout(log, left.min(Duration::from_millis(50)))
                .unwrap()
                .0;
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(payload);
    out
}

/// A '|'-separated message as a framed, NUL-separated one.
fn encode(msg: &str) -> Vec<u8> {
    let mut body = msg.replace('|', "\0");
    if !body.ends_with('\0') {
        body.push('\0');
    }
    frame(body.as_bytes())
}

/// Reads more bytes or returns one framed message; `None` on close/stop.
fn read_frame(stream: &mut TcpStream, buf: &mut Vec<u8>, inner: &Inner) -> Option<Option<Vec<u8>>> {
    if buf.len() >= 4 {
        let n = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        if buf.len() >= 4 + n {
            let msg = buf[4..4 + n].to_vec();
            buf.drain(..4 + n);
            return Some(Some(msg));
        }
    }
    let mut chunk = [0u8; 8192];
    match stream.read(&mut chunk) {
        Ok(0) => None,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            Some(None)
        }
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            if inner.stop.load(Ordering::Relaxed) {
                None
            } else {
                Some(None)
            }
        }
        Err(_) => None,
    }
}

fn serve(inner: &Inner, mut stream: TcpStream) {
    let conn = inner.conns.fetch_add(1, Ordering::Relaxed);
    stream.set_nonblocking(false).unwrap();
    stream.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::new();
    // "API\0" then the framed version range.
    let deadline = Instant::now() + Duration::from_secs(5);
    while buf.len() < 4 {
        if read_frame(&mut stream, &mut buf, inner).is_none() || Instant::now() > deadline {
            return;
        }
    }
    assert_eq!(&buf[..4], b"API\0", "client did not send the API prefix");
    buf.drain(..4);
    let version = loop {
        match read_frame(&mut stream, &mut buf, inner) {
            None => return,
            Some(Some(v)) => break String::from_utf8_lossy(&v).into_owned(),
            Some(None) => {}
        }
    };
    assert!(
        version.starts_with('v') && version.contains(".."),
        "bad version range {version:?}"
    );
    let hello = format!("{SERVER_VERSION}\u{0}20260102 09:30:00 US/Eastern\u{0}");
    stream.write_all(&frame(hello.as_bytes())).unwrap();
    // Anything queued for a previous connection is stale.
    inner.pushed.lock().unwrap().clear();
    inner.silent.store(false, Ordering::Relaxed);
    loop {
        let pushed: Vec<Action> = std::mem::take(&mut *inner.pushed.lock().unwrap());
        if !run(&mut stream, pushed) {
            return;
        }
        let msg = match read_frame(&mut stream, &mut buf, inner) {
            None => return,
            Some(None) => continue,
            Some(Some(m)) => m,
        };
        let text = String::from_utf8_lossy(&msg).into_owned();
        let mut fields: Vec<String> = text.split('\0').map(str::to_string).collect();
        if fields.last().is_some_and(String::is_empty) {
            fields.pop();
        }
        {
            let mut log = inner.log.lock().unwrap();
            log.push(Received {
                conn,
                fields: fields.clone(),
            });
            inner.cv.notify_all();
        }
        let actions = if inner.silent.load(Ordering::Relaxed) {
            vec![]
        } else if fields[0] == "71" {
            let client_id: i32 = fields[2].parse().unwrap();
            if inner.refuse.lock().unwrap().contains(&client_id) {
                vec![
                    Action::Send(error(
                        -1,
                        326,
                        "Unable to connect as the client id is already in use.  Retry with a unique client id.",
                    )),
                    Action::Close,
                ]
            } else {
                let id = inner.next_valid_id.load(Ordering::Relaxed);
                vec![
                    Action::Send(format!("9|1|{id}|")),
                    Action::Send(format!("15|1|{ACCOUNT}|")),
                ]
            }
        } else if fields[0] == "49" {
            // reqCurrentTime: the adapter's liveness probe.
            vec![Action::Send("49|1|1767364200|".into())]
        } else if fields[0] == "8" {
            vec![Action::Send(format!(
                "9|1|{}|",
                inner.next_valid_id.load(Ordering::Relaxed)
            ))]
        } else {
            (inner.script.lock().unwrap())(conn, &fields)
        };
        if !run(&mut stream, actions) {
            return;
        }
    }
}

fn run(stream: &mut TcpStream, actions: Vec<Action>) -> bool {
    for a in actions {
        match a {
            Action::Send(m) => {
                if stream.write_all(&encode(&m)).is_err() {
                    return false;
                }
            }
            Action::Close => {
                let _ = stream.shutdown(std::net::Shutdown::Both);
                return false;
            }
        }
    }
    true
}

// ------------------------------------------------------ message builders --

/// An error / notice (server < 166: no advanced-reject field).
pub fn error(id: i32, code: i32, text: &str) -> String {
    format!("4|2|{id}|{code}|{text}|")
}

/// An openOrder for an order id with the given reference and status.
pub fn open_order(
    order_id: i32,
    symbol: &str,
    action: &str,
    qty: &str,
    order_type: &str,
    lmt: &str,
    order_ref: &str,
    status: &str,
) -> String {
    let mut f: Vec<String> = OPEN_ORDER_TEMPLATE.split('|').map(str::to_string).collect();
    f[1] = order_id.to_string();
    f[3] = symbol.into();
    f[11] = symbol.into();
    f[13] = action.into();
    f[14] = qty.into();
    f[15] = order_type.into();
    f[16] = lmt.into();
    f[23] = order_ref.into();
    let status_at = f.iter().position(|x| x == "PreSubmitted").unwrap();
    f[status_at] = status.into();
    f.join("|")
}

/// A contractData (stock on SMART) answering request `req_id`.
pub fn contract_data(req_id: &str, symbol: &str, con_id: i32) -> String {
    let mut f: Vec<String> = CONTRACT_DATA_TEMPLATE.split('|').map(str::to_string).collect();
    f[1] = req_id.into();
    f[2] = symbol.into();
    f[9] = symbol.into();
    f[12] = con_id.to_string();
    f.join("|")
}

/// An orderStatus.
pub fn order_status(order_id: i32, status: &str, filled: &str, remaining: &str, avg: &str) -> String {
    format!("3|{order_id}|{status}|{filled}|{remaining}|{avg}|1376327563|0|{avg}|17||0||")
}

/// An execDetails (request id -1 when unsolicited).
pub fn exec_details(
    req_id: &str,
    order_id: i32,
    symbol: &str,
    exec_id: &str,
    side: &str,
    shares: &str,
    price: &str,
    cum: &str,
    order_ref: &str,
) -> String {
    format!(
        "11|{req_id}|{order_id}|76792991|{symbol}|STK||0.0|||ISLAND|USD|{symbol}|NMS|{exec_id}|20260102  10:04:56|{ACCOUNT}|ISLAND|{side}|{shares}|{price}|1376327563|17|0|{cum}|{price}|{order_ref}||||2||"
    )
}

/// A commissionReport.
pub fn commission(exec_id: &str, amount: &str) -> String {
    format!("59|1|{exec_id}|{amount}|USD|1.7976931348623157E308|1.7976931348623157E308||")
}

/// A 5-second real-time bar.
pub fn realtime_bar(req_id: &str, time: i64, o: &str, h: &str, l: &str, c: &str, volume: &str) -> String {
    format!("50|3|{req_id}|{time}|{o}|{h}|{l}|{c}|{volume}|{c}|12|")
}

/// Empty answers to the reconciliation and report requests; `None` for others.
pub fn default_reply(fields: &[String]) -> Option<Vec<Action>> {
    let s = Action::Send;
    match fields[0].as_str() {
        // reqAllOpenOrders / reqOpenOrders
        "16" | "5" => Some(vec![s("53|1|".into())]),
        // reqExecutions: [7, version, reqId, ...]
        "7" => Some(vec![s(format!("55|1|{}|", fields[2]))]),
        // reqCompletedOrders
        "99" => Some(vec![s("102|".into())]),
        // reqPositions
        "61" => Some(vec![
            s(format!(
                "61|3|{ACCOUNT}|265598|AAPL|STK||0.0|||NASDAQ|USD|AAPL|NMS|100|187.0|"
            )),
            s("62|1|".into()),
        ]),
        // reqAccountSummary: [62, version, reqId, group, tags]
        "62" => Some(vec![
            s(format!(
                "63|1|{}|{ACCOUNT}|TotalCashValue|100000.50|USD|",
                fields[2]
            )),
            s(format!("64|1|{}|", fields[2])),
        ]),
        // subscription cancels, reqRealTimeBars (bars are pushed by tests)
        "50" | "51" | "63" | "64" => Some(vec![]),
        _ => None,
    }
}

/// The IB order id and our reference in a placeOrder request.
pub fn placed(fields: &[String], prefix: &str) -> (i32, String) {
    let id = fields[1].parse().unwrap();
    let r = fields
        .iter()
        .find(|f| f.starts_with(prefix))
        .cloned()
        .unwrap_or_default();
    (id, r)
}
