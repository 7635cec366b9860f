//! Runtime types → `wasmtrade.v1` messages. Decimal values become strings
//! so that no client rounds them; times become Unix nanoseconds.

use wasmtrade_live::{
    AccountInfo, AuditRecord, Event, EventKind, Installed, KillScope, ModuleInfo, ModuleKind, RiskLimits,
    RiskState, RunState, ShadowInfo, VersionStatus,
};
use wasmtrade_model::{Instruments, LogLevel, OrderType, Side};
use wasmtrade_proto::v1 as pb;

fn store_kind(k: ModuleKind) -> pb::GuestKind {
    match k {
        ModuleKind::Strategy => pb::GuestKind::Strategy,
        ModuleKind::Indicator => pb::GuestKind::Indicator,
        ModuleKind::Policy => pb::GuestKind::Policy,
    }
}

fn version_status(s: VersionStatus) -> pb::VersionStatus {
    match s {
        VersionStatus::Staged => pb::VersionStatus::Staged,
        VersionStatus::Released => pb::VersionStatus::Released,
        VersionStatus::Quarantined => pb::VersionStatus::Quarantined,
        VersionStatus::Removed => pb::VersionStatus::Removed,
    }
}

/// A shadow run.
pub fn shadow(s: &ShadowInfo) -> pb::ShadowStatus {
    pb::ShadowStatus {
        version: s.version,
        events: s.stats.events,
        matching: s.stats.matching,
        diverging: s.stats.diverging,
        intents: s.stats.intents,
        fault: s.stats.fault.clone().unwrap_or_default(),
    }
}

/// A module with its versions and what runs of it.
pub fn module(info: &ModuleInfo) -> pb::Module {
    let m = &info.module;
    let (state, fault, counters, shadow_status) = match &info.running {
        None => (pb::RunState::Stopped, String::new(), None, None),
        Some(r) => {
            let (state, fault) = match &r.state {
                RunState::Running => (pb::RunState::Running, String::new()),
                RunState::Stopped => (pb::RunState::Stopped, String::new()),
                RunState::Quarantined(reason) => (pb::RunState::Quarantined, reason.clone()),
            };
            let c = r.counters;
            let counters = pb::Counters {
                bars: c.bars,
                ticks: c.ticks,
                fills: c.fills,
                timers: c.timers,
                rejects: c.rejects,
                intents: c.intents,
            };
            (state, fault, Some(counters), r.shadow.as_ref().map(shadow))
        }
    };
    pb::Module {
        name: m.name.clone(),
        kind: store_kind(m.kind) as i32,
        active_version: info.running.as_ref().map_or(m.active.unwrap_or(0), |r| r.version),
        state: state as i32,
        fault,
        versions: m
            .versions
            .iter()
            .map(|v| pb::Version {
                version: v.version,
                sha256: v.sha256.to_string(),
                size: v.size,
                label: v.label.clone(),
                uploaded_by: v.uploaded_by.clone(),
                uploaded_at_ns: v.uploaded_at.nanos(),
                status: version_status(v.status) as i32,
                config_json: m.config_of(v.version).unwrap_or_default().to_string(),
            })
            .collect(),
        counters,
        // What the running guest was started with (the store's active pair
        // has the same one); the stored one when nothing runs.
        config_json: info
            .running
            .as_ref()
            .map_or_else(|| m.config.clone(), |r| r.config.clone()),
        shadow: shadow_status,
    }
}

/// An activation, rollback, promotion or config update.
pub fn installed(i: &Installed) -> pb::ActivateResponse {
    pb::ActivateResponse {
        name: i.name.clone(),
        version: i.version,
        previous_version: i.previous.unwrap_or(0),
        pause_ns: i.pause_ns,
        state_bytes: i.state_bytes,
    }
}

/// An audit record.
pub fn audit(r: &AuditRecord) -> pb::AuditRecord {
    pb::AuditRecord {
        ts_ns: r.ts.nanos(),
        who: r.who.clone(),
        action: r.action.clone(),
        name: r.name.clone(),
        version: r.version,
        sha256: r.sha256.clone(),
        detail: r.detail.clone(),
    }
}

fn side(s: Side) -> pb::Side {
    match s {
        Side::Buy => pb::Side::Buy,
        Side::Sell => pb::Side::Sell,
    }
}

fn level(l: LogLevel) -> pb::LogLevel {
    match l {
        LogLevel::Trace => pb::LogLevel::Trace,
        LogLevel::Debug => pb::LogLevel::Debug,
        LogLevel::Info => pb::LogLevel::Info,
        LogLevel::Warn => pb::LogLevel::Warn,
        LogLevel::Error => pb::LogLevel::Error,
    }
}

/// A guest log line event, if it is one.
pub fn log_line(e: &Event) -> Option<pb::LogLine> {
    match &e.kind {
        EventKind::Log {
            name, version, line, ..
        } => Some(pb::LogLine {
            name: name.clone(),
            version: *version,
            level: level(line.level) as i32,
            message: line.message.clone(),
            ts_ns: line.ts.nanos(),
        }),
        _ => None,
    }
}

/// An event for the event stream (`None` for log lines, which `Logs` serves).
pub fn event(e: &Event) -> Option<pb::Event> {
    use pb::event::Kind;
    let kind = match &e.kind {
        EventKind::Order(o) => Kind::Order(pb::OrderEvent {
            order_id: o.order_id.0,
            strategy: o.strategy.to_string(),
            client_id: o.client_id.clone(),
            symbol: o.symbol.to_string(),
            side: side(o.side) as i32,
            quantity: o.quantity.to_string(),
            status: o.status.to_string(),
            reason: o.reason.clone(),
        }),
        EventKind::Fill { fill, symbol } => Kind::Fill(pb::FillEvent {
            order_id: fill.order_id.0,
            strategy: fill.strategy.to_string(),
            symbol: symbol.to_string(),
            side: side(fill.side) as i32,
            quantity: fill.quantity.to_string(),
            price: fill.price.to_string(),
            commission: fill.commission.to_string(),
        }),
        EventKind::Rejection(n) => Kind::Rejection(pb::RejectionEvent {
            strategy: n.strategy.to_string(),
            client_id: n.client_id.to_string(),
            code: n.rejection.code.to_string(),
            message: n.rejection.message.clone(),
        }),
        EventKind::Swap(s) => Kind::Swap(pb::SwapEvent {
            name: s.name.clone(),
            action: s.action.to_string(),
            from_version: s.from,
            to_version: s.to,
            pause_ns: s.pause_ns,
            error: s.error.clone().unwrap_or_default(),
        }),
        EventKind::Fault {
            name,
            version,
            kind,
            message,
            shadow,
            ..
        } => Kind::Fault(pb::GuestFaultEvent {
            name: name.clone(),
            version: *version,
            kind: if *shadow {
                format!("shadow_{kind}")
            } else {
                kind.to_string()
            },
            message: message.clone(),
        }),
        EventKind::ModelVerdict(r) => {
            let o = &r.outcome;
            Kind::ModelVerdict(pb::ModelVerdictEvent {
                policy: r.policy.clone(),
                model: r.model.clone(),
                version: o.version,
                verdict: o.verdict.as_str().to_string(),
                reason: match &o.verdict {
                    wasmtrade_policy::Verdict::Refuse { reason } => reason.clone(),
                    _ => String::new(),
                },
                against_version: r.active_version,
                decisions: o.candidate.decisions,
                candidate_score: o.candidate.composite,
                active_score: o.active.composite,
            })
        }
        EventKind::KillSwitch {
            scope,
            on,
            who,
            reason,
        } => Kind::KillSwitch(pb::KillSwitchEvent {
            on: *on,
            who: who.clone(),
            reason: reason.clone(),
            scope: scope.clone(),
        }),
        EventKind::Halt {
            scope,
            reason,
            detail,
            lifted,
            who,
        } => Kind::Halt(pb::HaltEvent {
            scope: scope.clone(),
            reason: reason.clone(),
            detail: detail.clone(),
            lifted: *lifted,
            who: who.clone(),
        }),
        EventKind::RiskLimits {
            revision,
            who,
            loosens,
        } => Kind::RiskLimits(pb::RiskLimitsEvent {
            revision: *revision,
            who: who.clone(),
            loosens: *loosens,
        }),
        EventKind::BrokerConnection { connected, detail } => {
            Kind::BrokerConnection(pb::BrokerConnectionEvent {
                connected: *connected,
                detail: detail.clone(),
            })
        }
        EventKind::Reconciliation { detail } => Kind::Reconciliation(pb::ReconciliationEvent {
            detail: detail.clone(),
        }),
        EventKind::Bar { bar, symbol } => Kind::Bar(pb::BarEvent {
            symbol: symbol.to_string(),
            open: bar.open.to_string(),
            high: bar.high.to_string(),
            low: bar.low.to_string(),
            close: bar.close.to_string(),
            volume: bar.volume.to_string(),
        }),
        EventKind::Log { .. } => return None,
    };
    Some(pb::Event {
        seq: e.seq,
        ts_ns: e.ts.nanos(),
        kind: Some(kind),
    })
}

/// An order.
pub fn order(o: &wasmtrade_model::Order, instruments: &Instruments) -> pb::Order {
    let (order_type, limit) = match o.request.order_type {
        OrderType::Market => ("market", String::new()),
        OrderType::Limit { limit } => ("limit", limit.to_string()),
        OrderType::Stop { stop } => ("stop", stop.to_string()),
        OrderType::StopLimit { limit, .. } => ("stop_limit", limit.to_string()),
    };
    pb::Order {
        order_id: o.id.0,
        strategy: o.strategy.to_string(),
        client_id: o.request.client_id.to_string(),
        symbol: instruments
            .get(o.request.instrument)
            .map_or_else(|| o.request.instrument.to_string(), |i| i.symbol.clone()),
        side: side(o.request.side) as i32,
        order_type: order_type.to_string(),
        quantity: o.request.quantity.to_string(),
        filled: o.filled.to_string(),
        limit_price: limit,
        status: o.status.to_string(),
        created_ns: o.created.nanos(),
    }
}

/// A position.
pub fn position(
    strategy: &wasmtrade_model::StrategyId,
    p: &wasmtrade_live::Position,
    instruments: &Instruments,
) -> pb::Position {
    pb::Position {
        strategy: strategy.to_string(),
        symbol: instruments
            .get(p.instrument)
            .map_or_else(|| p.instrument.to_string(), |i| i.symbol.clone()),
        quantity: p.quantity.to_string(),
        avg_price: p.average_price.map(|x| x.to_string()).unwrap_or_default(),
        realized_pnl: p.realized_pnl.to_string(),
        unrealized_pnl: p.unrealized_pnl.to_string(),
        last_price: p.last_price.map(|x| x.to_string()).unwrap_or_default(),
    }
}

/// The account.
pub fn account(a: &AccountInfo) -> pb::Account {
    pb::Account {
        cash: a.cash.to_string(),
        equity: a.equity.to_string(),
        realized_pnl: a.realized.to_string(),
        unrealized_pnl: a.unrealized.to_string(),
        gross_exposure: a.gross_exposure.to_string(),
        net_exposure: a.net_exposure.to_string(),
        orders_sent: a.stats.orders_sent,
        fills: a.stats.fills,
        rejected: a.stats.rejected,
        bars: a.stats.bars,
    }
}

/// Kill switches, halts and the trading gate (the global switch first).
pub fn kill(state: &RiskState) -> pb::KillSwitchState {
    let k = &state.latches;
    let latch = |scope: &KillScope, l: &wasmtrade_live::Latch| pb::KillLatch {
        scope: scope.describe(),
        who: l.by.clone(),
        reason: l.reason.clone(),
        since_ns: l.at.nanos(),
    };
    let mut latches = Vec::new();
    if let Some(l) = &k.global {
        latches.push(latch(&KillScope::Global, l));
    }
    if let Some(l) = &k.account {
        latches.push(latch(&KillScope::Account, l));
    }
    for (id, l) in &k.strategies {
        latches.push(latch(&KillScope::Strategy(id.clone()), l));
    }
    let halt = |h: &wasmtrade_live::Halt| pb::Halt {
        scope: h.scope.describe(),
        reason: h.reason.code().as_str().to_string(),
        detail: h.detail.clone(),
        since_ns: h.at.nanos(),
    };
    let halts = k
        .account_halt
        .iter()
        .chain(k.strategy_halts.values())
        .map(halt)
        .collect();
    let global = k.global.as_ref();
    pb::KillSwitchState {
        on: global.is_some(),
        who: global.map(|l| l.by.clone()).unwrap_or_default(),
        reason: global.map(|l| l.reason.clone()).unwrap_or_default(),
        since_ns: global.map_or(0, |l| l.at.nanos()),
        latches,
        halts,
        trading_gate_open: state.gate_open,
    }
}

/// One revision of the risk limits.
pub fn risk_limits(r: &RiskLimits) -> pb::RiskLimits {
    pb::RiskLimits {
        revision: r.revision,
        changed_by: r.changed_by.clone(),
        changed_at_ns: r.changed_at.nanos(),
        note: r.note.clone(),
        document_json: r.document.to_string(),
    }
}
