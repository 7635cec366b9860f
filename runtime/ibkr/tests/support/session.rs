//! Helpers shared by the session tests: instruments, configs, approved
//! orders, waits on broker events, the scripted peers they talk to.

#![allow(
    dead_code,
    unused_imports,
    reason = "each test binary uses a subset of the helpers and re-exports"
)]
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(clippy::disallowed_methods, reason = "tests bound their waits with real time")]

pub use std::sync::Arc;
pub use std::time::{Duration, Instant};

pub use super::{
    Action, Peer, Received, commission, default_reply, error, exec_details, open_order, order_status, placed,
    realtime_bar,
};
pub use wasmtrade_broker::{Broker, BrokerError, Connection};
pub use wasmtrade_ibkr::{IbkrBroker, IbkrConfig, IbkrError, IbkrMarket, LinkState, RawIbkrConfig};
pub use wasmtrade_model::{
    BrokerEvent, ClientOrderId, InstrumentId, Instruments, Money, NewOrder, OrderId, OrderStatus, OrderType,
    Price, Quantity, Side, StrategyId, TimeInForce, Timestamp,
};
pub use wasmtrade_risk::{Engine, Exposure, RiskApproved, RiskConfig};

pub const AAPL: InstrumentId = InstrumentId(0);

pub fn instruments() -> Arc<Instruments> {
    let mut i = Instruments::new();
    i.intern("AAPL");
    i.intern("MSFT");
    Arc::new(i)
}

pub fn config(peer: &Peer, extra: &str) -> IbkrConfig {
    let timeout = if extra.contains("request_timeout_ms") {
        ""
    } else {
        "request_timeout_ms = 5000\n"
    };
    let text = format!(
        "host = \"127.0.0.1\"\nport = {}\nheartbeat_ms = 20\nreconnect_initial_ms = 50\nreconnect_max_ms = 200\n\
         {timeout}commission_wait_ms = 10000\n{extra}",
        peer.port()
    );
    let raw: RawIbkrConfig = toml::from_str(&text).unwrap();
    IbkrConfig::try_from(raw).unwrap()
}

pub fn connect(peer: &Peer, extra: &str) -> (IbkrBroker, IbkrMarket) {
    IbkrBroker::connect(config(peer, extra), instruments()).unwrap()
}

pub fn approved(side: Side, qty: i64, order_type: OrderType, tif: TimeInForce) -> RiskApproved<NewOrder> {
    let ins = instruments();
    let order = NewOrder {
        client_id: ClientOrderId::new("g1"),
        instrument: AAPL,
        side,
        quantity: Quantity::from_int(qty),
        order_type,
        tif,
    };
    Engine::new(RiskConfig::permissive())
        .check_new(
            &StrategyId::new("s"),
            ins.get(AAPL).unwrap(),
            &order,
            &Exposure::default(),
        )
        .unwrap()
}

pub fn limit(price: &str) -> OrderType {
    OrderType::Limit {
        limit: price.parse().unwrap(),
    }
}

pub fn submit(b: &mut IbkrBroker, id: u64, order: &RiskApproved<NewOrder>) -> Result<(), BrokerError> {
    b.submit(OrderId(id), &StrategyId::new("s"), order, Timestamp::from_secs(0))
}

/// Polls until `pred` holds for all events so far (20 s bound against hangs).
pub fn events_until(
    b: &mut IbkrBroker,
    what: &str,
    pred: impl Fn(&[BrokerEvent]) -> bool,
) -> Vec<BrokerEvent> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut all = Vec::new();
    loop {
        b.poll(&mut all);
        if pred(&all) {
            return all;
        }
        assert!(Instant::now() < deadline, "never saw {what}; events: {all:#?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn until(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "never saw {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn fills(events: &[BrokerEvent]) -> Vec<&wasmtrade_model::Fill> {
    events
        .iter()
        .filter_map(|e| match e {
            BrokerEvent::Filled(f) => Some(f),
            _ => None,
        })
        .collect()
}

pub fn count(log: &[Received], kind: &str) -> usize {
    log.iter().filter(|r| r.kind() == kind).count()
}

pub fn quiet_peer() -> Peer {
    Peer::start(|_, f| default_reply(f).unwrap_or_default())
}

pub fn filling_peer() -> Peer {
    Peer::start(|_, f| {
        if let Some(r) = default_reply(f) {
            return r;
        }
        if f[0] != "3" {
            return vec![];
        }
        let (id, r) = placed(f, "wt-");
        let s = Action::Send;
        vec![
            s(open_order(
                id,
                "AAPL",
                "BUY",
                "100",
                "LMT",
                "187.5",
                &r,
                "Submitted",
            )),
            s(order_status(id, "Submitted", "0", "100", "0")),
            s(exec_details(
                "-1", id, "AAPL", "E.1", "BOT", "40", "187.5", "40", &r,
            )),
            s(commission("E.1", "1.0")),
            s(order_status(id, "Submitted", "40", "60", "187.5")),
            s(exec_details(
                "-1", id, "AAPL", "E.2", "BOT", "60", "187.25", "100", &r,
            )),
            s(commission("E.2", "1.5")),
            s(exec_details(
                "-1", id, "AAPL", "E.2", "BOT", "60", "187.25", "100", &r,
            )),
            s(order_status(id, "Filled", "100", "0", "187.35")),
        ]
    })
}

pub fn bar_request_id(log: &[Received], conn: usize) -> String {
    log.iter()
        .find(|r| r.kind() == "50" && r.conn == conn)
        .unwrap()
        .fields[2]
        .clone()
}
