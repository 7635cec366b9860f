//! `wasmtrade.v1.TradingService`: orders, positions, the account, the event
//! stream and the kill switch.

use std::pin::Pin;

use tokio::sync::{broadcast, mpsc};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use wasmtrade_live::Handle;
use wasmtrade_proto::v1 as pb;
use wasmtrade_proto::v1::trading_service_server::TradingService;

use crate::auth::who;
use crate::convert;
use crate::status::{invalid_field, to_status};

/// The trading service over a runtime handle.
pub struct Trading {
    handle: Handle,
}

impl Trading {
    /// The service.
    pub fn new(handle: Handle) -> Self {
        Self { handle }
    }
}

/// Orders returned when the request sets no limit.
const DEFAULT_ORDER_LIMIT: usize = 1000;

fn filter(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::Event, Status>> + Send>>;

#[tonic::async_trait]
impl TradingService for Trading {
    async fn list_orders(
        &self,
        request: Request<pb::ListOrdersRequest>,
    ) -> Result<Response<pb::ListOrdersResponse>, Status> {
        let r = request.into_inner();
        let limit = if r.limit == 0 {
            DEFAULT_ORDER_LIMIT
        } else {
            r.limit as usize
        };
        let orders = self
            .handle
            .orders(r.open_only, filter(r.strategy), limit)
            .await
            .map_err(to_status)?;
        let instruments = self.handle.instruments();
        Ok(Response::new(pb::ListOrdersResponse {
            orders: orders.iter().map(|o| convert::order(o, instruments)).collect(),
        }))
    }

    async fn list_positions(
        &self,
        request: Request<pb::ListPositionsRequest>,
    ) -> Result<Response<pb::ListPositionsResponse>, Status> {
        let r = request.into_inner();
        let positions = self
            .handle
            .positions(filter(r.strategy))
            .await
            .map_err(to_status)?;
        let instruments = self.handle.instruments();
        Ok(Response::new(pb::ListPositionsResponse {
            positions: positions
                .iter()
                .map(|(id, p)| convert::position(id, p, instruments))
                .collect(),
        }))
    }

    async fn get_account(
        &self,
        _request: Request<pb::GetAccountRequest>,
    ) -> Result<Response<pb::Account>, Status> {
        let account = self.handle.account().await.map_err(to_status)?;
        Ok(Response::new(convert::account(&account)))
    }

    type StreamEventsStream = EventStream;

    async fn stream_events(
        &self,
        request: Request<pb::StreamEventsRequest>,
    ) -> Result<Response<Self::StreamEventsStream>, Status> {
        let include_bars = request.into_inner().include_bars;
        let (mut rx, interest) = self.handle.subscribe(include_bars);
        let (tx, out) = mpsc::channel::<Result<pb::Event, Status>>(4096);
        tokio::spawn(async move {
            // Bars flow while this stream lives.
            let _interest = interest;
            loop {
                match rx.recv().await {
                    Ok(e) => {
                        if e.kind.is_bar() && !include_bars {
                            continue;
                        }
                        let Some(event) = convert::event(&e) else { continue };
                        if tx.send(Ok(event)).await.is_err() {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        let _ = tx
                            .send(Err(Status::data_loss(format!(
                                "event stream fell {n} events behind and was cut: reconnect and re-read state (raise events.buffer or read faster)"
                            ))))
                            .await;
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => {
                        let _ = tx
                            .send(Err(Status::unavailable("the runtime is shutting down")))
                            .await;
                        return;
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(out))))
    }

    async fn set_kill_switch(
        &self,
        request: Request<pb::SetKillSwitchRequest>,
    ) -> Result<Response<pb::KillSwitchState>, Status> {
        let who = who(&request);
        let r = request.into_inner();
        if r.on && r.reason.trim().is_empty() {
            return Err(invalid_field(
                "reason",
                "kill switch on: give a reason (it goes into the audit trail)",
            ));
        }
        let account = match pb::KillScope::try_from(r.scope) {
            Ok(pb::KillScope::Global) => false,
            Ok(pb::KillScope::Account) => true,
            Ok(pb::KillScope::Strategy) => {
                if r.strategy.trim().is_empty() {
                    return Err(invalid_field(
                        "strategy",
                        "kill switch scope STRATEGY: name the strategy in `strategy`",
                    ));
                }
                false
            }
            Err(_) => {
                return Err(invalid_field(
                    "scope",
                    format!(
                        "unknown kill switch scope {}: use GLOBAL, ACCOUNT or STRATEGY",
                        r.scope
                    ),
                ));
            }
        };
        let strategy = (r.scope == pb::KillScope::Strategy as i32).then_some(r.strategy.trim());
        let state = self
            .handle
            .set_kill_switch(r.on, strategy, account, &r.reason, &who)
            .await
            .map_err(to_status)?;
        Ok(Response::new(convert::kill(&state)))
    }

    async fn get_kill_switch(
        &self,
        _request: Request<pb::GetKillSwitchRequest>,
    ) -> Result<Response<pb::KillSwitchState>, Status> {
        let state = self.handle.risk_state().await.map_err(to_status)?;
        Ok(Response::new(convert::kill(&state)))
    }
}
