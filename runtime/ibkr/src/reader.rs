//! The order-update reader (one per client): turns IB's order status,
//! open-order, execution and commission messages and its notices into book
//! changes and link transitions.

use std::time::Duration;

use ibapi::client::blocking::Subscription;
use ibapi::orders::{CancelOrder, OrderUpdate, PlaceOrder};

use crate::book::ExecReport;
use crate::health::LinkState;
use crate::session::{OrderSub, Shared, lock, now, now_ts};

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
