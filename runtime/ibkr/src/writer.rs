//! The single paced writer: pops the outbound priority queue (cancels
//! first), takes a token from the bucket, then places/cancels or grants a
//! permit to a caller that sends one data request itself.

use std::time::Duration;

use crate::health::LinkState;
use crate::session::{OrderSub, Outbound, Shared, lock, now_ts};

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
