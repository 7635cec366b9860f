//! `--json` output: the proto messages as JSON built by hand (the generated
//! code carries no serde). Field names are the proto field names, enums
//! their short lowercase names, decimals stay strings.

use serde_json::{Value, json};
use wasmtrade_proto::v1::{
    Account, ActivateResponse, AuditRecord, Event, KillSwitchState, LogLine, Module, Order, Position,
    RemoveResponse, ShadowResponse, ShadowStatus, UploadResponse, event,
};

use super::output::{kind_name, level_name, side_name, state_name, version_status_name};

/// Prints one JSON document (pretty) on stdout.
pub fn print_document(value: &Value) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    super::output::print(&format!("{text}\n"))
}

/// An [`UploadResponse`].
pub fn upload(r: &UploadResponse) -> Value {
    json!({
        "name": r.name, "version": r.version, "sha256": r.sha256, "size": r.size,
        "created": r.created, "compile_ns": r.compile_ns,
    })
}

/// An [`ActivateResponse`] (activate, rollback, promote, config).
pub fn activation(r: &ActivateResponse) -> Value {
    json!({
        "name": r.name, "version": r.version, "previous_version": r.previous_version,
        "pause_ns": r.pause_ns, "state_bytes": r.state_bytes,
    })
}

/// A [`ShadowStatus`].
pub fn shadow(s: &ShadowStatus) -> Value {
    json!({
        "version": s.version, "events": s.events, "matching": s.matching,
        "diverging": s.diverging, "intents": s.intents, "fault": s.fault,
    })
}

/// A [`Module`] with its versions, counters and shadow run.
pub fn module(m: &Module) -> Value {
    let versions: Vec<Value> = m
        .versions
        .iter()
        .map(|v| {
            json!({
                "version": v.version, "sha256": v.sha256, "size": v.size, "label": v.label,
                "uploaded_by": v.uploaded_by, "uploaded_at_ns": v.uploaded_at_ns,
                "status": version_status_name(v.status), "config_json": v.config_json,
            })
        })
        .collect();
    let c = m.counters.unwrap_or_default();
    json!({
        "name": m.name,
        "kind": kind_name(m.kind),
        "active_version": m.active_version,
        "state": state_name(m.state),
        "fault": m.fault,
        "versions": versions,
        "counters": {
            "bars": c.bars, "ticks": c.ticks, "fills": c.fills, "timers": c.timers,
            "rejects": c.rejects, "intents": c.intents,
        },
        "config_json": m.config_json,
        "shadow": m.shadow.as_ref().map(shadow),
    })
}

/// A [`RemoveResponse`].
pub fn removal(r: &RemoveResponse) -> Value {
    json!({ "name": r.name, "removed": r.removed })
}

/// A [`ShadowResponse`].
pub fn shadow_response(r: &ShadowResponse) -> Value {
    json!({ "name": r.name, "shadow": r.shadow.as_ref().map(shadow) })
}

/// A [`LogLine`].
pub fn log_line(l: &LogLine) -> Value {
    json!({
        "name": l.name, "version": l.version, "level": level_name(l.level),
        "message": l.message, "ts_ns": l.ts_ns,
    })
}

/// An [`AuditRecord`].
pub fn audit(r: &AuditRecord) -> Value {
    json!({
        "ts_ns": r.ts_ns, "who": r.who, "action": r.action, "name": r.name,
        "version": r.version, "sha256": r.sha256, "detail": r.detail,
    })
}

/// An [`Order`].
pub fn order(o: &Order) -> Value {
    json!({
        "order_id": o.order_id, "strategy": o.strategy, "client_id": o.client_id,
        "symbol": o.symbol, "side": side_name(o.side), "order_type": o.order_type,
        "quantity": o.quantity, "filled": o.filled, "limit_price": o.limit_price,
        "status": o.status, "created_ns": o.created_ns,
    })
}

/// A [`Position`].
pub fn position(p: &Position) -> Value {
    json!({
        "strategy": p.strategy, "symbol": p.symbol, "quantity": p.quantity,
        "avg_price": p.avg_price, "realized_pnl": p.realized_pnl,
        "unrealized_pnl": p.unrealized_pnl, "last_price": p.last_price,
    })
}

/// The [`Account`].
pub fn account(a: &Account) -> Value {
    json!({
        "cash": a.cash, "equity": a.equity, "realized_pnl": a.realized_pnl,
        "unrealized_pnl": a.unrealized_pnl, "gross_exposure": a.gross_exposure,
        "net_exposure": a.net_exposure, "orders_sent": a.orders_sent, "fills": a.fills,
        "rejected": a.rejected, "bars": a.bars,
    })
}

/// A [`KillSwitchState`].
pub fn kill_switch(k: &KillSwitchState) -> Value {
    let latches: Vec<Value> = k
        .latches
        .iter()
        .map(|l| json!({ "scope": l.scope, "who": l.who, "reason": l.reason, "since_ns": l.since_ns }))
        .collect();
    let halts: Vec<Value> = k
        .halts
        .iter()
        .map(|h| json!({ "scope": h.scope, "reason": h.reason, "detail": h.detail, "since_ns": h.since_ns }))
        .collect();
    json!({
        "on": k.on, "who": k.who, "reason": k.reason, "since_ns": k.since_ns,
        "latches": latches, "halts": halts, "trading_gate_open": k.trading_gate_open,
    })
}

/// An [`Event`]: `seq`, `ts_ns`, `kind` (its name) and the kind's fields
/// under that name.
pub fn event(e: &Event) -> Value {
    let (kind, body) = match &e.kind {
        None => ("unknown", Value::Null),
        Some(event::Kind::Order(o)) => (
            "order",
            json!({
                "order_id": o.order_id, "strategy": o.strategy, "client_id": o.client_id,
                "symbol": o.symbol, "side": side_name(o.side), "quantity": o.quantity,
                "status": o.status, "reason": o.reason,
            }),
        ),
        Some(event::Kind::Fill(f)) => (
            "fill",
            json!({
                "order_id": f.order_id, "strategy": f.strategy, "symbol": f.symbol,
                "side": side_name(f.side), "quantity": f.quantity, "price": f.price,
                "commission": f.commission,
            }),
        ),
        Some(event::Kind::ModelVerdict(v)) => (
            "model_verdict",
            json!({
                "policy": v.policy, "model": v.model, "version": v.version, "verdict": v.verdict,
                "reason": v.reason, "against_version": v.against_version, "decisions": v.decisions,
                "candidate_score": v.candidate_score, "active_score": v.active_score,
            }),
        ),
        Some(event::Kind::Rejection(r)) => (
            "rejection",
            json!({
                "strategy": r.strategy, "client_id": r.client_id, "code": r.code, "message": r.message,
            }),
        ),
        Some(event::Kind::Swap(s)) => (
            "swap",
            json!({
                "name": s.name, "action": s.action, "from_version": s.from_version,
                "to_version": s.to_version, "pause_ns": s.pause_ns, "error": s.error,
            }),
        ),
        Some(event::Kind::Fault(f)) => (
            "fault",
            json!({
                "name": f.name, "version": f.version, "kind": f.kind, "message": f.message,
            }),
        ),
        Some(event::Kind::KillSwitch(k)) => (
            "kill_switch",
            json!({
                "scope": k.scope, "on": k.on, "who": k.who, "reason": k.reason,
            }),
        ),
        Some(event::Kind::Halt(h)) => (
            "halt",
            json!({
                "scope": h.scope, "reason": h.reason, "detail": h.detail, "lifted": h.lifted, "who": h.who,
            }),
        ),
        Some(event::Kind::RiskLimits(r)) => (
            "risk_limits",
            json!({ "revision": r.revision, "who": r.who, "loosens": r.loosens }),
        ),
        Some(event::Kind::Reconciliation(r)) => ("reconciliation", json!({ "detail": r.detail })),
        Some(event::Kind::BrokerConnection(b)) => (
            "broker_connection",
            json!({ "connected": b.connected, "detail": b.detail }),
        ),
        Some(event::Kind::Bar(b)) => (
            "bar",
            json!({
                "symbol": b.symbol, "open": b.open, "high": b.high, "low": b.low,
                "close": b.close, "volume": b.volume,
            }),
        ),
    };
    let mut out = json!({ "seq": e.seq, "ts_ns": e.ts_ns, "kind": kind });
    if let Value::Object(map) = &mut out
        && !body.is_null()
    {
        map.insert(kind.to_string(), body);
    }
    out
}

#[cfg(test)]
mod tests {
    use wasmtrade_proto::v1::{FillEvent, Side};

    use super::*;

    #[test]
    fn events_carry_their_kind_and_fields() {
        let e = Event {
            seq: 7,
            ts_ns: 1,
            kind: Some(event::Kind::Fill(FillEvent {
                side: Side::Buy as i32,
                price: "101.25".into(),
                ..Default::default()
            })),
        };
        let v = event(&e);
        assert_eq!(v["seq"], 7);
        assert_eq!(v["kind"], "fill");
        assert_eq!(v["fill"]["side"], "buy");
        assert_eq!(v["fill"]["price"], "101.25");
        assert_eq!(event(&Event::default())["kind"], "unknown");
    }
}
