//! Intents from guests: risk checks, the OMS, the broker, and the
//! rejections, cancels and amends that come back to the guest.

use wasmtrade_broker::Broker;
use wasmtrade_model::{ClientOrderId, OrderId, OrderIntent, RawIntent, RejectCode, RejectNotice, Rejection};

use crate::engine::{Engine, MAX_REJECT_CHAIN};
use crate::observe::EngineEvent;

impl<B: Broker> Engine<B> {
    pub(crate) fn process_intent(&mut self, idx: usize, raw: RawIntent, depth: u32) {
        self.strategies[idx].counters.intents += 1;
        let client_hint = raw.client_id().to_string();
        let intent = match raw.into_intent(&self.instruments) {
            Ok(i) => i,
            Err(rejection) => {
                let client_id = ClientOrderId::new(if client_hint.is_empty() { "?" } else { &client_hint });
                self.reject(idx, client_id, None, rejection, depth);
                return;
            }
        };
        match intent {
            OrderIntent::Submit(order) => self.submit(idx, order, depth),
            OrderIntent::Cancel { client_id } => self.cancel(idx, client_id, depth),
            OrderIntent::Amend {
                client_id,
                quantity,
                limit_price,
            } => self.amend(idx, client_id, quantity, limit_price, depth),
        }
    }

    pub(crate) fn submit(&mut self, idx: usize, order: wasmtrade_model::NewOrder, depth: u32) {
        // An operator's kill switch applies before any further order.
        self.poll_kill_signal();
        let strategy = self.strategies[idx].id.clone();
        let instruments = self.instruments.clone();
        let Some(instrument) = instruments.get(order.instrument) else {
            let r = Rejection::new(
                RejectCode::UnknownInstrument,
                format!("instrument {} is unknown", order.instrument),
            );
            self.reject(idx, order.client_id, None, r, depth);
            return;
        };
        if self
            .oms
            .working_order_by_client(&strategy, &order.client_id)
            .is_some()
        {
            let r = Rejection::new(
                RejectCode::DuplicateClientId,
                format!("a working order already uses client id `{}`", order.client_id),
            );
            self.reject(idx, order.client_id, None, r, depth);
            return;
        }
        let exposure =
            crate::exposure::exposure(&self.oms, &self.risk, &strategy, order.instrument, self.now);
        let approved = match self.risk.check_new(&strategy, instrument, &order, &exposure) {
            Ok(a) => a,
            Err(r) => {
                self.reject(idx, order.client_id, None, r, depth);
                return;
            }
        };
        let id = match self.take_order_id() {
            Ok(id) => id,
            Err(e) => {
                self.stats.journal_refusals += 1;
                let r = Rejection::new(
                    RejectCode::Broker,
                    format!("not sent: no durable order id ({e}); nothing reached the broker"),
                );
                self.reject(idx, order.client_id, None, r, depth);
                return;
            }
        };
        if let Err(e) = self.oms.register(id, strategy.clone(), order.clone(), self.now) {
            let r = Rejection::new(RejectCode::DuplicateClientId, e.to_string());
            self.reject(idx, order.client_id, None, r, depth);
            return;
        }
        let now = self.now;
        self.emit(|| EngineEvent::OrderSubmitted {
            order_id: id,
            strategy: strategy.clone(),
            order: order.clone(),
            ts: now,
        });
        if !self.journal_intent(id, depth) {
            return;
        }
        // Counted once journaled (backtest and live alike), so later intents
        // of the same batch see it.
        self.risk.on_order_sent(&strategy, instrument, &order, &exposure);
        self.unsent.push(crate::journal::Unsent {
            id,
            strategy,
            approved,
        });
        if self.batching == 0 {
            self.send_unsent(depth);
        }
    }

    pub(crate) fn cancel(&mut self, idx: usize, client_id: ClientOrderId, depth: u32) {
        self.send_unsent(depth);
        let strategy = self.strategies[idx].id.clone();
        let Some(order_id) = self
            .oms
            .working_order_by_client(&strategy, &client_id)
            .map(|o| o.id)
        else {
            let r = Rejection::new(
                RejectCode::UnknownClientId,
                format!("no working order with client id `{client_id}` to cancel"),
            );
            self.reject(idx, client_id, None, r, depth);
            return;
        };
        if let Err(e) = self.oms.request_cancel(order_id, self.now) {
            tracing::debug!(order = %order_id, "cancel not recorded by the oms: {e}");
        }
        if let Err(e) = self.broker.cancel(order_id, self.now) {
            let r = Rejection::new(RejectCode::Broker, format!("cancel of `{client_id}` failed: {e}"));
            self.reject(idx, client_id, Some(order_id), r, depth);
        } else if let Some(instrument) = self
            .oms
            .order(order_id)
            .and_then(|o| self.instruments.get(o.request.instrument))
        {
            self.risk.on_cancel_sent(&strategy, instrument, self.now);
        }
    }

    pub(crate) fn amend(
        &mut self,
        idx: usize,
        client_id: ClientOrderId,
        quantity: Option<wasmtrade_model::Quantity>,
        limit_price: Option<wasmtrade_model::Price>,
        depth: u32,
    ) {
        self.send_unsent(depth);
        let strategy = self.strategies[idx].id.clone();
        let Some(order) = self.oms.working_order_by_client(&strategy, &client_id).cloned() else {
            let r = Rejection::new(
                RejectCode::UnknownClientId,
                format!("no working order with client id `{client_id}` to amend"),
            );
            self.reject(idx, client_id, None, r, depth);
            return;
        };
        let Some(instrument) = self.instruments.get(order.request.instrument) else {
            return;
        };
        let exposure = crate::exposure::exposure(
            &self.oms,
            &self.risk,
            &strategy,
            order.request.instrument,
            self.now,
        );
        let change = wasmtrade_risk::Amendment {
            quantity,
            limit_price,
        };
        let approved = match self
            .risk
            .check_amend(&strategy, instrument, &order, &change, &exposure)
        {
            Ok(a) => a,
            Err(r) => {
                self.reject(idx, client_id, Some(order.id), r, depth);
                return;
            }
        };
        match self.broker.amend(order.id, &approved, self.now) {
            Ok(()) => {
                self.risk.on_amend_sent(&strategy, instrument, self.now);
                let change = approved.get();
                if let Err(e) =
                    self.oms
                        .apply_amendment(order.id, change.quantity, change.limit_price, self.now)
                {
                    tracing::warn!(order = %order.id, "amendment accepted by the broker but refused by the oms: {e}");
                }
            }
            Err(e) => {
                let r = Rejection::new(RejectCode::Broker, format!("amend of `{client_id}` failed: {e}"));
                self.reject(idx, client_id, Some(order.id), r, depth);
            }
        }
    }

    /// Tells the guest (and observers) that an intent or order was refused.
    pub(crate) fn reject(
        &mut self,
        idx: usize,
        client_id: ClientOrderId,
        order_id: Option<OrderId>,
        r: Rejection,
        depth: u32,
    ) {
        self.stats.rejected += 1;
        *self.rejections.entry(r.code).or_insert(0) += 1;
        let notice = RejectNotice {
            strategy: self.strategies[idx].id.clone(),
            client_id,
            order_id,
            rejection: r,
            ts: self.now,
        };
        tracing::debug!(strategy = %notice.strategy, code = %notice.rejection.code, "rejected: {}", notice.rejection.message);
        self.emit(|| EngineEvent::Rejected(notice.clone()));
        self.strategies[idx].counters.rejects += 1;
        if !self.charge(idx, 0, 1) || depth >= MAX_REJECT_CHAIN {
            return;
        }
        let result = self.call(idx, |g| g.on_reject(&notice));
        self.handle_result(idx, result, depth + 1);
    }
}
