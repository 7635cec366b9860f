//! `wasmtrade orders`, `positions`, `account`, `events` and `kill ...`:
//! the book, the event stream and the kill switch of a running server.

use tonic::Request;
use wasmtrade_proto::v1::{
    Event, GetAccountRequest, GetKillSwitchRequest, KillScope, KillSwitchState, ListOrdersRequest,
    ListPositionsRequest, SetKillSwitchRequest, StreamEventsRequest, event,
};

use super::args::{
    AccountArgs, ClientArgs, EventsArgs, KillCommand, KillScopeArgs, OrdersArgs, PositionsArgs,
};
use super::connect::Connection;
use super::output::{duration_ns, emit_line, or_dash, side_name, table, timestamp_ns};
use super::{json, output};
use crate::table::two_columns;

/// `wasmtrade orders`.
pub async fn orders(args: OrdersArgs) -> anyhow::Result<()> {
    let conn = Connection::open(&args.client).await?;
    let request = conn.request(ListOrdersRequest {
        open_only: args.open,
        strategy: args.strategy.unwrap_or_default(),
        limit: args.limit,
    });
    let orders = conn
        .unary("TradingService/ListOrders", conn.trading().list_orders(request))
        .await?
        .orders;
    if args.client.json {
        let orders: Vec<_> = orders.iter().map(json::order).collect();
        json::print_document(&serde_json::json!({ "orders": orders }))?;
    } else if orders.is_empty() {
        output::print("no orders\n")?;
    } else {
        let rows: Vec<Vec<String>> = orders
            .iter()
            .map(|o| {
                vec![
                    o.order_id.to_string(),
                    o.strategy.clone(),
                    o.symbol.clone(),
                    side_name(o.side),
                    o.order_type.clone(),
                    o.quantity.clone(),
                    o.filled.clone(),
                    or_dash(&o.limit_price).to_string(),
                    o.status.clone(),
                    timestamp_ns(o.created_ns),
                ]
            })
            .collect();
        let headers = [
            "ID", "STRATEGY", "SYMBOL", "SIDE", "TYPE", "QTY", "FILLED", "LIMIT", "STATUS", "CREATED",
        ];
        output::print(&table(&headers, &rows))?;
    }
    Ok(())
}

/// `wasmtrade positions`.
pub async fn positions(args: PositionsArgs) -> anyhow::Result<()> {
    let conn = Connection::open(&args.client).await?;
    let request = conn.request(ListPositionsRequest {
        strategy: args.strategy.unwrap_or_default(),
    });
    let positions = conn
        .unary(
            "TradingService/ListPositions",
            conn.trading().list_positions(request),
        )
        .await?
        .positions;
    if args.client.json {
        let positions: Vec<_> = positions.iter().map(json::position).collect();
        json::print_document(&serde_json::json!({ "positions": positions }))?;
    } else if positions.is_empty() {
        output::print("no positions\n")?;
    } else {
        let rows: Vec<Vec<String>> = positions
            .iter()
            .map(|p| {
                vec![
                    p.strategy.clone(),
                    p.symbol.clone(),
                    p.quantity.clone(),
                    p.avg_price.clone(),
                    or_dash(&p.last_price).to_string(),
                    p.realized_pnl.clone(),
                    p.unrealized_pnl.clone(),
                ]
            })
            .collect();
        let headers = [
            "STRATEGY",
            "SYMBOL",
            "QTY",
            "AVG PRICE",
            "LAST",
            "REALIZED",
            "UNREALIZED",
        ];
        output::print(&table(&headers, &rows))?;
    }
    Ok(())
}

/// `wasmtrade account`.
pub async fn account(args: AccountArgs) -> anyhow::Result<()> {
    let conn = Connection::open(&args.client).await?;
    let request = conn.request(GetAccountRequest {});
    let a = conn
        .unary("TradingService/GetAccount", conn.trading().get_account(request))
        .await?;
    if args.client.json {
        json::print_document(&json::account(&a))?;
        return Ok(());
    }
    output::print(&two_columns(&[
        ("cash", or_dash(&a.cash).to_string()),
        ("equity", or_dash(&a.equity).to_string()),
        ("realized pnl", or_dash(&a.realized_pnl).to_string()),
        ("unrealized pnl", or_dash(&a.unrealized_pnl).to_string()),
        ("gross exposure", or_dash(&a.gross_exposure).to_string()),
        ("net exposure", or_dash(&a.net_exposure).to_string()),
        ("orders sent", a.orders_sent.to_string()),
        ("fills", a.fills.to_string()),
        ("rejected", a.rejected.to_string()),
        ("bars", a.bars.to_string()),
    ]))?;
    Ok(())
}

/// `wasmtrade events`: one line per event until the stream ends, `--count`
/// events were shown or stdout is closed.
pub async fn events(args: EventsArgs) -> anyhow::Result<()> {
    const RPC: &str = "TradingService/StreamEvents";
    if args.count == Some(0) {
        return Ok(());
    }
    let conn = Connection::open(&args.client).await?;
    let request = Request::new(StreamEventsRequest {
        include_bars: args.bars,
    });
    let mut stream = conn
        .trading()
        .stream_events(request)
        .await
        .map_err(|s| conn.status_error(RPC, &s))?
        .into_inner();
    let mut seen = 0u64;
    while let Some(event) = stream.message().await.map_err(|s| conn.status_error(RPC, &s))? {
        let line = if args.client.json {
            json::event(&event).to_string()
        } else {
            event_line(&event)
        };
        seen += 1;
        if !emit_line(&line)? || args.count.is_some_and(|n| seen >= n) {
            break;
        }
    }
    Ok(())
}

/// `wasmtrade kill on|off|status`.
pub async fn kill(command: KillCommand) -> anyhow::Result<()> {
    let (client, state) = match command {
        KillCommand::On {
            reason,
            scope,
            client,
        } => {
            let state = set_kill_switch(&client, true, reason, scope).await?;
            (client, state)
        }
        KillCommand::Off {
            reason,
            scope,
            client,
        } => {
            let state = set_kill_switch(&client, false, reason, scope).await?;
            (client, state)
        }
        KillCommand::Status { client } => {
            let conn = Connection::open(&client).await?;
            let request = conn.request(GetKillSwitchRequest {});
            let state = conn
                .unary(
                    "TradingService/GetKillSwitch",
                    conn.trading().get_kill_switch(request),
                )
                .await?;
            (client, state)
        }
    };
    if client.json {
        json::print_document(&json::kill_switch(&state))?;
    } else {
        output::print(&kill_text(&state))?;
    }
    Ok(())
}

/// Every switch and halt for people.
pub fn kill_text(state: &KillSwitchState) -> String {
    let mut out = two_columns(&[
        (
            "global kill switch",
            if state.on { "ON: new orders blocked" } else { "off" }.to_string(),
        ),
        ("since", timestamp_ns(state.since_ns)),
        ("by", or_dash(&state.who).to_string()),
        ("reason", or_dash(&state.reason).to_string()),
        (
            "trading gate",
            if state.trading_gate_open {
                "open"
            } else {
                "closed (reconciliation pending)"
            }
            .to_string(),
        ),
    ]);
    let mut rows: Vec<Vec<String>> = state
        .latches
        .iter()
        .map(|l| {
            vec![
                "kill switch".to_string(),
                l.scope.clone(),
                timestamp_ns(l.since_ns),
                or_dash(&l.who).to_string(),
                or_dash(&l.reason).to_string(),
            ]
        })
        .collect();
    rows.extend(state.halts.iter().map(|h| {
        vec![
            format!("halt: {}", h.reason),
            h.scope.clone(),
            timestamp_ns(h.since_ns),
            "risk".to_string(),
            h.detail.clone(),
        ]
    }));
    if !rows.is_empty() {
        out.push('\n');
        out.push_str(&table(&["latch", "scope", "since", "by", "reason"], &rows));
    }
    out
}

async fn set_kill_switch(
    client: &ClientArgs,
    on: bool,
    reason: String,
    scope: KillScopeArgs,
) -> anyhow::Result<KillSwitchState> {
    let conn = Connection::open(client).await?;
    let (scope, strategy) = match (scope.account, scope.strategy) {
        (_, Some(s)) => (KillScope::Strategy, s),
        (true, None) => (KillScope::Account, String::new()),
        (false, None) => (KillScope::Global, String::new()),
    };
    let request = conn.request(SetKillSwitchRequest {
        on,
        reason,
        scope: scope as i32,
        strategy,
    });
    conn.unary(
        "TradingService/SetKillSwitch",
        conn.trading().set_kill_switch(request),
    )
    .await
}

/// One event for people: `#seq time kind details`.
fn event_line(e: &Event) -> String {
    let details = match &e.kind {
        None => "unknown event (a newer server?)".to_string(),
        Some(event::Kind::Order(o)) => {
            let reason = if o.reason.is_empty() {
                String::new()
            } else {
                format!(": {}", o.reason)
            };
            let (side, qty) = (side_name(o.side), &o.quantity);
            format!(
                "order {} #{} {} {side} {qty} {}{reason}",
                o.strategy, o.order_id, o.status, o.symbol
            )
        }
        Some(event::Kind::ModelVerdict(v)) => format!(
            "model_verdict {} model {} v{} {} against v{} over {} decisions: score {:.3} vs {:.3}{}",
            v.policy,
            v.model,
            v.version,
            v.verdict,
            v.against_version,
            v.decisions,
            v.candidate_score,
            v.active_score,
            if v.reason.is_empty() {
                String::new()
            } else {
                format!(": {}", v.reason)
            }
        ),
        Some(event::Kind::Fill(f)) => format!(
            "fill {} #{} {} {} {} @ {} (commission {})",
            f.strategy,
            f.order_id,
            side_name(f.side),
            f.quantity,
            f.symbol,
            f.price,
            or_dash(&f.commission)
        ),
        Some(event::Kind::Rejection(r)) => {
            format!(
                "rejection {} {} {}: {}",
                r.strategy,
                or_dash(&r.client_id),
                r.code,
                r.message
            )
        }
        Some(event::Kind::Swap(s)) => {
            let outcome = if s.error.is_empty() {
                String::new()
            } else {
                format!(" failed: {}", s.error)
            };
            format!(
                "swap {} {} v{} -> v{} pause {}{outcome}",
                s.name,
                s.action,
                s.from_version,
                s.to_version,
                duration_ns(s.pause_ns)
            )
        }
        Some(event::Kind::Fault(f)) => format!("fault {} v{} {}: {}", f.name, f.version, f.kind, f.message),
        Some(event::Kind::KillSwitch(k)) => {
            let state = if k.on { "on" } else { "off" };
            format!(
                "kill switch {} {state} by {}: {}",
                or_dash(&k.scope),
                or_dash(&k.who),
                or_dash(&k.reason)
            )
        }
        Some(event::Kind::Halt(h)) => {
            if h.lifted {
                format!("halt lifted {} ({}) by {}", h.scope, h.reason, or_dash(&h.who))
            } else {
                format!("halt {} {}: {}", h.scope, h.reason, h.detail)
            }
        }
        Some(event::Kind::RiskLimits(r)) => format!(
            "risk limits revision {} by {}{}",
            r.revision,
            or_dash(&r.who),
            if r.loosens { " (loosens)" } else { "" }
        ),
        Some(event::Kind::Reconciliation(r)) => format!("reconciliation: {}", r.detail),
        Some(event::Kind::BrokerConnection(b)) => {
            if b.connected {
                "broker connected".to_string()
            } else {
                format!("broker DISCONNECTED: {}", b.detail)
            }
        }
        Some(event::Kind::Bar(b)) => format!(
            "bar {} o {} h {} l {} c {} v {}",
            b.symbol, b.open, b.high, b.low, b.close, b.volume
        ),
    };
    format!("#{} {} {details}", e.seq, timestamp_ns(e.ts_ns))
}

#[cfg(test)]
mod tests {
    use wasmtrade_proto::v1::{BarEvent, FillEvent, Side, SwapEvent};

    use super::*;

    #[test]
    fn events_read_as_one_line_each() {
        let fill = Event {
            seq: 3,
            ts_ns: 1_700_000_000_000_000_000,
            kind: Some(event::Kind::Fill(FillEvent {
                order_id: 9,
                strategy: "sma".into(),
                symbol: "SYNTH".into(),
                side: Side::Buy as i32,
                quantity: "10".into(),
                price: "101.25".into(),
                commission: "0.1".into(),
            })),
        };
        assert_eq!(
            event_line(&fill),
            "#3 2023-11-14T22:13:20.000Z fill sma #9 buy 10 SYNTH @ 101.25 (commission 0.1)"
        );
        let swap = Event {
            seq: 4,
            ts_ns: 0,
            kind: Some(event::Kind::Swap(SwapEvent {
                name: "sma".into(),
                action: "activate".into(),
                from_version: 1,
                to_version: 2,
                pause_ns: 1_500_000,
                error: "init failed".into(),
            })),
        };
        assert_eq!(
            event_line(&swap),
            "#4 - swap sma activate v1 -> v2 pause 1.50 ms failed: init failed"
        );
        let bar = Event {
            seq: 5,
            ts_ns: 0,
            kind: Some(event::Kind::Bar(BarEvent::default())),
        };
        assert!(event_line(&bar).starts_with("#5 - bar "));
    }
}
