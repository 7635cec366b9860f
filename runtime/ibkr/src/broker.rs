//! [`IbkrBroker`]: the [`Broker`] over IB Gateway.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ibapi::accounts::types::AccountGroup;
use ibapi::accounts::{AccountSummaryResult, PositionUpdate};
use ibapi::contracts::Contract;
use ibapi::orders::{ExecutionFilter, Executions, Orders};
use tokio::sync::mpsc;
use wasmtrade_broker::{Broker, BrokerError, Connection, Execution, VenueOrder, VenueReport};
use wasmtrade_model::{
    Bar, BrokerEvent, CollectionSize, Money, NewOrder, OrderId, OrderStatus, OrderType, Quantity, StrategyId,
    Tick, Timestamp,
};
use wasmtrade_risk::{Amendment, RiskApproved};

use crate::book::Tracked;
use crate::health::{IbkrHealth, LinkState, PacingSnapshot};
use crate::market::{IbkrMarket, market_loop};
use crate::pacing::Priority;
use crate::session::{self, Outbound, Shared, ThreadSet, drain, lock, now, now_ts};
use crate::{IbkrConfig, IbkrError, mapping};

const VENUE: &str = "ibkr";

/// The IB Gateway broker. Calls never block on the network: orders and
/// cancels are queued for the paced writer thread and everything IB says
/// comes back through [`Broker::poll`]. Dropping it stops its threads.
pub struct IbkrBroker {
    shared: Arc<Shared>,
    threads: Arc<ThreadSet>,
}

impl std::fmt::Debug for IbkrBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IbkrBroker")
            .field("address", &self.shared.cfg.address())
            .finish()
    }
}

impl IbkrBroker {
    /// Connects to IB Gateway (trying `client_id_fallbacks` more ids on error
    /// 326), reconciles, starts the writer, reader, supervisor and market
    /// threads, and returns the broker and the bar source for
    /// `config.symbols`. Fails without retrying when the first connection
    /// fails; once connected, losses are retried forever with backoff.
    pub fn connect(
        config: IbkrConfig,
        instruments: Arc<wasmtrade_model::Instruments>,
    ) -> Result<(IbkrBroker, IbkrMarket), IbkrError> {
        for s in &config.symbols {
            if instruments.by_symbol(s).is_none() {
                return Err(IbkrError::NotAnInstrument { symbol: s.clone() });
            }
        }
        let shared = Arc::new(Shared::new(config, instruments));
        let threads = Arc::new(ThreadSet::default());
        let s = Arc::clone(&shared);
        threads.spawn("ibkr-writer", move || crate::writer::writer_loop(&s));
        let broker = IbkrBroker {
            shared: Arc::clone(&shared),
            threads: Arc::clone(&threads),
        };
        // On error the broker drops here and stops the writer.
        let (client, id) = crate::supervisor::connect_with_fallbacks(&shared)?;
        crate::supervisor::install(&shared, client, id, &threads)?;
        let (s, t) = (Arc::clone(&shared), Arc::clone(&threads));
        threads.spawn("ibkr-supervisor", move || {
            crate::supervisor::supervisor_loop(&s, &t)
        });
        let (tx, rx) = mpsc::channel::<Bar>(4096);
        let s = Arc::clone(&shared);
        threads.spawn("ibkr-market", move || market_loop(&s, tx));
        Ok((broker, IbkrMarket::new(shared, rx)))
    }

    /// A snapshot for the ops layer: link state, reconnects, alerts, pacing.
    pub fn health(&self) -> IbkrHealth {
        health_of(&self.shared)
    }

    /// Reads [`health`](Self::health) from any thread, after the broker
    /// itself moved to the event loop (readiness, `/status`, metrics).
    pub fn health_probe(&self) -> impl Fn() -> IbkrHealth + Send + Sync + 'static {
        let shared = Arc::clone(&self.shared);
        move || health_of(&shared)
    }

    /// Stops the threads and closes the socket (also done on drop).
    pub fn shutdown(&mut self) {
        if self.shared.shutdown.swap(true, Ordering::SeqCst) {
            return;
        }
        self.shared.outbox_cv.notify_all();
        let client = {
            let mut st = lock(&self.shared.state);
            st.link = LinkState::Closed;
            st.client.take()
        };
        if let Some(c) = client {
            session::retire(c);
        }
        self.threads.join_all(Duration::from_secs(2));
    }

    fn contract_for(&self, order: &NewOrder) -> Result<Contract, BrokerError> {
        let symbol = self
            .shared
            .instruments
            .get(order.instrument)
            .map(|i| i.symbol.clone())
            .ok_or_else(|| BrokerError::Refused {
                id: OrderId(0),
                reason: format!("instrument {} is not in this run", order.instrument),
            })?;
        Ok(crate::market::stock(&symbol))
    }

    fn require_up(&self) -> Result<(), BrokerError> {
        if lock(&self.shared.state).link == LinkState::Up {
            Ok(())
        } else {
            Err(BrokerError::Disconnected { venue: VENUE.into() })
        }
    }
}

impl Drop for IbkrBroker {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Broker for IbkrBroker {
    fn submit(
        &mut self,
        id: OrderId,
        strategy: &StrategyId,
        order: &RiskApproved<NewOrder>,
        _ts: Timestamp,
    ) -> Result<(), BrokerError> {
        let order = order.get();
        let contract = self.contract_for(order).map_err(|e| match e {
            BrokerError::Refused { reason, .. } => BrokerError::Refused { id, reason },
            other => other,
        })?;
        let ib_order = {
            let mut st = lock(&self.shared.state);
            if st.book.contains(id) {
                return Err(BrokerError::DuplicateOrderId { id });
            }
            if st.link != LinkState::Up {
                return Err(BrokerError::Disconnected { venue: VENUE.into() });
            }
            let ib_id = st.next_ib_id;
            st.next_ib_id += 1;
            st.book.track(
                id,
                Tracked {
                    ib_id,
                    strategy: strategy.clone(),
                    client_id: order.client_id.clone(),
                    order: order.clone(),
                    status: OrderStatus::PendingNew,
                    filled: Quantity::ZERO,
                    reason: None,
                },
            );
            let reference = mapping::order_ref(st.book.prefix(), id);
            (
                ib_id,
                mapping::ib_order(order, reference, &self.shared.cfg.account),
            )
        };
        self.shared.enqueue(
            Priority::Order,
            Outbound::Place {
                id,
                ib_id: ib_order.0,
                contract: Box::new(contract),
                order: Box::new(ib_order.1),
                modify: false,
            },
        );
        Ok(())
    }

    fn cancel(&mut self, id: OrderId, _ts: Timestamp) -> Result<(), BrokerError> {
        let ib_id = {
            let st = lock(&self.shared.state);
            let t = st.book.get(id).ok_or(BrokerError::UnknownOrder { id })?;
            if !t.status.is_working() {
                return Err(BrokerError::OrderFinished { id });
            }
            // Cancels go out in every state with a socket, including 1100 and reconciliation.
            if st.client.is_none() || matches!(st.link, LinkState::Connecting { .. } | LinkState::Closed) {
                return Err(BrokerError::Disconnected { venue: VENUE.into() });
            }
            t.ib_id
        };
        self.shared
            .enqueue(Priority::Cancel, Outbound::Cancel { id, ib_id });
        Ok(())
    }

    fn amend(
        &mut self,
        id: OrderId,
        change: &RiskApproved<Amendment>,
        _ts: Timestamp,
    ) -> Result<(), BrokerError> {
        self.require_up()?;
        let change = change.get();
        let (ib_id, new_order) = {
            let mut st = lock(&self.shared.state);
            let t = st.book.get(id).ok_or(BrokerError::UnknownOrder { id })?;
            if !t.status.is_working() {
                return Err(BrokerError::OrderFinished { id });
            }
            let mut o = t.order.clone();
            if let Some(q) = change.quantity {
                o.quantity = q;
            }
            if let Some(l) = change.limit_price {
                o.order_type = match o.order_type {
                    OrderType::Limit { .. } => OrderType::Limit { limit: l },
                    OrderType::StopLimit { stop, .. } => OrderType::StopLimit { stop, limit: l },
                    _ => {
                        return Err(BrokerError::Refused {
                            id,
                            reason: "only limit and stop-limit orders have a limit price to change".into(),
                        });
                    }
                };
            }
            let ib_id = t.ib_id;
            st.book.amend(id, o.clone());
            (ib_id, o)
        };
        let contract = self.contract_for(&new_order)?;
        let reference = mapping::order_ref(&self.shared.cfg.order_ref_prefix, id);
        let order = mapping::ib_order(&new_order, reference, &self.shared.cfg.account);
        self.shared.enqueue(
            Priority::Order,
            Outbound::Place {
                id,
                ib_id,
                contract: Box::new(contract),
                order: Box::new(order),
                modify: true,
            },
        );
        Ok(())
    }

    fn on_bar(&mut self, _bar: &Bar) {}

    fn on_tick(&mut self, _tick: &Tick) {}

    fn poll(&mut self, out: &mut Vec<BrokerEvent>) {
        out.extend(lock(&self.shared.state).book.events.drain(..));
    }

    fn connection(&self) -> Connection {
        match &lock(&self.shared.state).link {
            LinkState::Up => Connection::Connected,
            LinkState::Connecting { attempt, last_error } => Connection::Connecting {
                attempt: *attempt,
                last_error: last_error.clone(),
            },
            LinkState::Degraded { code } => Connection::Disconnected {
                reason: format!(
                    "IB Gateway lost its connection to IB (code {code}): new orders refused, cancels sent"
                ),
            },
            LinkState::Reconciling => Connection::Connecting {
                attempt: 0,
                last_error: Some("reconnected; reconciling before orders are accepted".into()),
            },
            LinkState::Closed => Connection::Disconnected {
                reason: "adapter shut down".into(),
            },
        }
    }

    fn release_finished(&mut self) {
        lock(&self.shared.state).book.release_finished();
    }

    fn collection_sizes(&self) -> Vec<CollectionSize> {
        lock(&self.shared.state).book.collection_sizes()
    }

    fn report(&mut self, known: &[OrderId], timeout: Duration) -> Result<VenueReport, BrokerError> {
        let deadline = now() + timeout;
        let disconnected = |_| BrokerError::Disconnected { venue: VENUE.into() };
        let mut report = VenueReport {
            complete: true,
            ..VenueReport::default()
        };
        let mut orders: BTreeMap<OrderId, VenueOrder> = BTreeMap::new();
        let mut executions: BTreeMap<String, Execution> = BTreeMap::new();
        match collect(&self.shared, deadline, &mut orders, &mut executions, &mut report) {
            Ok(()) => {}
            Err(IbkrError::Disconnected) => return Err(disconnected(())),
            Err(e) => {
                tracing::warn!(error = %e, "IB venue report incomplete");
                report.complete = false;
            }
        }
        // Orders this session saw that IB's lists did not repeat (e.g. finished
        // before the completed-orders window) keep what we saw.
        let st = lock(&self.shared.state);
        for o in st.book.venue_orders() {
            orders.entry(o.id).or_insert(o);
        }
        for e in st.book.executions() {
            executions.entry(e.exec_id.clone()).or_insert(e);
        }
        drop(st);
        for e in executions.values() {
            if let Some(o) = orders.get_mut(&e.order_id)
                && o.filled.is_zero()
            {
                o.filled = executions
                    .values()
                    .filter(|x| x.order_id == e.order_id)
                    .fold(Quantity::ZERO, |a, x| a + x.quantity);
            }
        }
        if known.iter().any(|id| !orders.contains_key(id)) && !report.complete {
            tracing::warn!("some asked-about orders are absent from an incomplete IB report");
        }
        report.orders = orders.into_values().collect();
        report.executions = executions.into_values().collect();
        Ok(report)
    }
}

fn status_of(text: &str, filled: Quantity) -> Option<OrderStatus> {
    match mapping::status(text, filled)? {
        OrderStatus::PendingCancel => Some(OrderStatus::PendingCancel),
        s => Some(s),
    }
}

/// Asks IB for open and completed orders, executions, positions and cash.
fn collect(
    shared: &Shared,
    deadline: Instant,
    orders: &mut BTreeMap<OrderId, VenueOrder>,
    executions: &mut BTreeMap<String, Execution>,
    report: &mut VenueReport,
) -> Result<(), IbkrError> {
    let prefix = shared.cfg.order_ref_prefix.as_str();
    let fail = |request: &'static str, e: ibapi::Error| IbkrError::Request {
        request,
        reason: e.to_string(),
    };
    let timed_out = |request: &'static str| IbkrError::Timeout {
        request,
        timeout_ms: 0,
    };
    let mut ib_to_ours = BTreeMap::new();
    let mut statuses = Vec::new();

    let client = shared.permit("reqAllOpenOrders", deadline)?;
    let sub = client
        .all_open_orders()
        .map_err(|e| fail("reqAllOpenOrders", e))?;
    let (items, done) = drain(|d| sub.next_timeout(d), deadline, |_: &Orders| false);
    drop(sub);
    let client = shared.permit("reqCompletedOrders", deadline)?;
    let sub = client
        .completed_orders(true)
        .map_err(|e| fail("reqCompletedOrders", e))?;
    let (completed, done2) = drain(|d| sub.next_timeout(d), deadline, |_: &Orders| false);
    drop(sub);
    for item in items.into_iter().chain(completed) {
        match item {
            Orders::OrderData(d) => {
                let Some(id) = mapping::parse_order_ref(prefix, &d.order.order_ref) else {
                    continue;
                };
                ib_to_ours.insert(d.order_id, id);
                let filled = mapping::quantity(d.order.filled_quantity).unwrap_or(Quantity::ZERO);
                if let Some(status) = status_of(&d.order_state.status, filled) {
                    orders.insert(
                        id,
                        VenueOrder {
                            id,
                            status,
                            filled,
                            reason: (!d.order_state.warning_text.is_empty())
                                .then(|| d.order_state.warning_text.clone()),
                        },
                    );
                }
            }
            Orders::OrderStatus(s) => statuses.push(s),
            Orders::Notice(_) => {}
        }
    }
    for s in statuses {
        if let Some(id) = ib_to_ours.get(&s.order_id)
            && let Some(o) = orders.get_mut(id)
        {
            let filled = mapping::quantity(s.filled).unwrap_or(o.filled);
            o.filled = filled;
            if let Some(st) = status_of(&s.status, filled) {
                o.status = st;
            }
        }
    }
    if !done || !done2 {
        return Err(timed_out("orders"));
    }

    let client = shared.permit("reqExecutions", deadline)?;
    let sub = client
        .executions(ExecutionFilter::default())
        .map_err(|e| fail("reqExecutions", e))?;
    let (items, done) = drain(|d| sub.next_timeout(d), deadline, |_: &Executions| false);
    drop(sub);
    let mut commissions = BTreeMap::new();
    for item in items {
        match item {
            Executions::ExecutionData(e) => {
                let r = crate::reader::exec_report(&e);
                let Some(id) = mapping::parse_order_ref(prefix, &r.order_ref)
                    .or_else(|| ib_to_ours.get(&r.ib_id).copied())
                else {
                    continue;
                };
                let (Some(side), Some(quantity), Some(price), Some(instrument)) = (
                    mapping::exec_side(&r.side),
                    mapping::quantity(r.shares),
                    mapping::price(r.price),
                    shared.instruments.by_symbol(&r.symbol).map(|i| i.id),
                ) else {
                    continue;
                };
                executions.insert(
                    r.exec_id.clone(),
                    Execution {
                        order_id: id,
                        exec_id: r.exec_id,
                        instrument,
                        side,
                        quantity,
                        price,
                        commission: Money::ZERO,
                        ts: now_ts(),
                    },
                );
            }
            Executions::CommissionReport(c) => {
                commissions.insert(
                    c.execution_id,
                    Money::from_f64(c.commission).unwrap_or(Money::ZERO),
                );
            }
            Executions::Notice(_) => {}
        }
    }
    for (exec_id, c) in commissions {
        if let Some(e) = executions.get_mut(&exec_id) {
            e.commission = c;
        }
    }
    if !done {
        return Err(timed_out("reqExecutions"));
    }

    let client = shared.permit("reqPositions", deadline)?;
    let sub = client.positions().map_err(|e| fail("reqPositions", e))?;
    let (items, done) = drain(
        |d| sub.next_timeout(d),
        deadline,
        |p: &PositionUpdate| matches!(p, PositionUpdate::PositionEnd),
    );
    drop(sub);
    let account = shared.cfg.account.as_str();
    for item in items {
        if let PositionUpdate::Position(p) = item {
            if !account.is_empty() && p.account != account {
                continue;
            }
            let Some(i) = shared.instruments.by_symbol(&p.contract.symbol.to_string()) else {
                continue;
            };
            if let Some(q) = mapping::quantity(p.position) {
                *report.positions.entry(i.id).or_insert(Quantity::ZERO) += q;
            }
        }
    }
    if !done {
        return Err(timed_out("reqPositions"));
    }

    let client = shared.permit("reqAccountSummary", deadline)?;
    let sub = client
        .account_summary(&AccountGroup("All".into()), &["TotalCashValue"])
        .map_err(|e| fail("reqAccountSummary", e))?;
    let (items, done) = drain(
        |d| sub.next_timeout(d),
        deadline,
        |a: &AccountSummaryResult| matches!(a, AccountSummaryResult::End),
    );
    drop(sub);
    for item in items {
        if let AccountSummaryResult::Summary(s) = item
            && s.tag == "TotalCashValue"
            && (account.is_empty() || s.account == account)
            && let Ok(v) = s.value.parse::<Money>()
        {
            report.cash = Some(report.cash.unwrap_or(Money::ZERO) + v);
            if account.is_empty() {
                break;
            }
        }
    }
    if !done {
        return Err(timed_out("reqAccountSummary"));
    }
    Ok(())
}

/// The health snapshot of a session.
fn health_of(shared: &Shared) -> IbkrHealth {
    let (pacing, queued) = {
        let ob = lock(&shared.outbox);
        (ob.stats, ob.queue.len())
    };
    let st = lock(&shared.state);
    IbkrHealth {
        link: st.link.clone(),
        client_id: st.client_id,
        server_version: st.server_version,
        reconnects: st.counters.reconnects,
        down_for_secs: st.down_since.map(|t| t.elapsed().as_secs()).unwrap_or(0),
        alert: st.alert,
        alerts_raised: st.counters.alerts_raised,
        notices_1100: st.counters.n1100,
        notices_1101: st.counters.n1101,
        notices_1102: st.counters.n1102,
        client_id_conflicts: st.counters.client_id_conflicts,
        subscriptions_replayed: st.counters.subscriptions_replayed,
        reconciliations: st.counters.reconciliations,
        duplicate_executions: st.book.duplicate_executions,
        silent_hangs: st.counters.silent_hangs,
        bars_dropped: st.counters.bars_dropped,
        pacing: PacingSnapshot::from_stats(&pacing, queued),
    }
}
