//! The wasm side of the SDK: a [`Context`] over the host imports and the
//! adapters that connect a user's [`Strategy`]/[`Indicator`] to the generated
//! exports. Used only through `export_strategy!`/`export_indicator!`/`export_policy!`.

use std::marker::PhantomData;

use crate::Policy as _;
use crate::bindings::indicator as iw;
use crate::bindings::policy as policy_world;
use crate::bindings::policy::wasmtrade::guest::policy_types as pw;
use crate::bindings::strategy as sw;
use crate::bindings::strategy::wasmtrade::guest::host;
use crate::bindings::strategy::wasmtrade::guest::types as wit;
use crate::{
    Account, Bar, Context, Error, Fill, GuestInfo, Indicator, InstrumentId, LogLevel, NewOrder, OrderIntent,
    OrderType, Position, Reject, Side, Strategy, Tick, TickData, TimeInForce, Timestamp, parse_config,
};

/// [`Context`] answered by the `wasmtrade:guest/host` imports.
#[derive(Debug, Default)]
pub struct HostContext;

impl Context for HostContext {
    fn now(&self) -> Timestamp {
        host::now()
    }
    fn log(&mut self, level: LogLevel, message: &str) {
        let level = match level {
            LogLevel::Trace => wit::LogLevel::Trace,
            LogLevel::Debug => wit::LogLevel::Debug,
            LogLevel::Info => wit::LogLevel::Info,
            LogLevel::Warn => wit::LogLevel::Warn,
            LogLevel::Error => wit::LogLevel::Error,
        };
        host::log(level, message);
    }
    fn random_u64(&mut self) -> u64 {
        host::random_u64()
    }
    fn position(&self, instrument: InstrumentId) -> Position {
        position(host::position_of(instrument.0))
    }
    fn positions(&self) -> Vec<Position> {
        host::positions().into_iter().map(position).collect()
    }
    fn account(&self) -> Account {
        let a = host::account_view();
        Account {
            cash: a.cash,
            equity: a.equity,
            buying_power: a.buying_power,
            realized_pnl: a.realized_pnl,
            unrealized_pnl: a.unrealized_pnl,
        }
    }
    fn indicator(&self, name: &str, instrument: InstrumentId) -> Option<Vec<f64>> {
        host::indicator(name, instrument.0)
    }
    fn symbol(&self, instrument: InstrumentId) -> Option<String> {
        host::instrument_symbol(instrument.0)
    }
    fn instrument(&self, symbol: &str) -> Option<InstrumentId> {
        host::instrument_by_symbol(symbol).map(InstrumentId)
    }
    fn set_timer(&mut self, name: &str, at: Timestamp) {
        host::set_timer(name, at);
    }
    fn kv_get(&self, key: &str) -> Option<Vec<u8>> {
        host::kv_get(key)
    }
    fn kv_set(&mut self, key: &str, value: &[u8]) {
        host::kv_set(key, value);
    }
}

fn position(p: wit::Position) -> Position {
    Position {
        instrument: InstrumentId(p.instrument),
        quantity: p.quantity,
        average_price: p.average_price,
        realized_pnl: p.realized_pnl,
        unrealized_pnl: p.unrealized_pnl,
    }
}

fn bar(b: wit::Bar) -> Bar {
    Bar {
        instrument: InstrumentId(b.instrument),
        ts: b.ts,
        open: b.open,
        high: b.high,
        low: b.low,
        close: b.close,
        volume: b.volume,
    }
}

fn tick(t: wit::Tick) -> Tick {
    let data = match t.data {
        wit::TickData::Trade(x) => TickData::Trade {
            price: x.price,
            size: x.size,
        },
        wit::TickData::Quote(q) => TickData::Quote {
            bid: q.bid,
            bid_size: q.bid_size,
            ask: q.ask,
            ask_size: q.ask_size,
        },
    };
    Tick {
        instrument: InstrumentId(t.instrument),
        ts: t.ts,
        data,
    }
}

fn side_from(s: wit::Side) -> Side {
    match s {
        wit::Side::Buy => Side::Buy,
        wit::Side::Sell => Side::Sell,
    }
}

fn fill(f: wit::Fill) -> Fill {
    Fill {
        client_id: f.client_id,
        instrument: InstrumentId(f.instrument),
        side: side_from(f.side),
        quantity: f.quantity,
        price: f.price,
        commission: f.commission,
        ts: f.ts,
    }
}

fn reject(r: wit::Reject) -> Reject {
    Reject {
        client_id: r.client_id,
        code: r.code,
        message: r.message,
        ts: r.ts,
    }
}

fn intent(i: OrderIntent) -> wit::OrderIntent {
    match i {
        OrderIntent::Submit(o) => wit::OrderIntent::Submit(new_order(o)),
        OrderIntent::Cancel(id) => wit::OrderIntent::Cancel(id),
        OrderIntent::Amend {
            client_id,
            quantity,
            limit_price,
        } => wit::OrderIntent::Amend(wit::Amend {
            client_id,
            quantity,
            limit_price,
        }),
    }
}

fn new_order(o: NewOrder) -> wit::NewOrder {
    wit::NewOrder {
        client_id: o.client_id,
        instrument: o.instrument.0,
        side: match o.side {
            Side::Buy => wit::Side::Buy,
            Side::Sell => wit::Side::Sell,
        },
        quantity: o.quantity,
        order_type: match o.order_type {
            OrderType::Market => wit::OrderType::Market,
            OrderType::Limit(p) => wit::OrderType::Limit(p),
            OrderType::Stop(p) => wit::OrderType::Stop(p),
            OrderType::StopLimit { stop, limit } => wit::OrderType::StopLimit(wit::StopLimit { stop, limit }),
        },
        tif: match o.tif {
            TimeInForce::Day => wit::TimeInForce::Day,
            TimeInForce::Gtc => wit::TimeInForce::Gtc,
            TimeInForce::Ioc => wit::TimeInForce::Ioc,
            TimeInForce::Fok => wit::TimeInForce::Fok,
        },
    }
}

fn info(i: GuestInfo) -> wit::GuestInfo {
    wit::GuestInfo {
        name: i.name,
        version: i.version,
        sdk_version: i.sdk_version,
        contract_version: i.contract_version,
    }
}

fn guest_error(e: Error) -> wit::GuestError {
    wit::GuestError {
        message: e.to_string(),
    }
}

fn not_initialised(callback: &str) -> wit::GuestError {
    guest_error(Error::new(format!(
        "guest is not initialised: the host must call init before {callback}"
    )))
}

/// The slot holding a guest's single instance, defined by the export macros
/// in the guest crate (a `thread_local!` cell: wasm guests are single-threaded).
pub trait Slot {
    /// The guest type.
    type Guest;
    /// Runs `f` with the slot (`None` until `init` succeeded).
    fn with<R>(f: impl FnOnce(&mut Option<Self::Guest>) -> R) -> R;
}

/// Connects a [`Strategy`] kept in a [`Slot`] to the `strategy` world's exports.
pub struct StrategyExport<C>(PhantomData<C>);

type WitIntents = Result<Vec<wit::OrderIntent>, wit::GuestError>;

fn strategy_call<C: Slot>(
    callback: &str,
    f: impl FnOnce(&mut C::Guest, &mut HostContext) -> crate::Intents,
) -> WitIntents
where
    C::Guest: Strategy,
{
    C::with(|slot| match slot {
        Some(s) => f(s, &mut HostContext)
            .map(|v| v.into_iter().map(intent).collect())
            .map_err(guest_error),
        None => Err(not_initialised(callback)),
    })
}

impl<C: Slot> sw::Guest for StrategyExport<C>
where
    C::Guest: Strategy,
{
    fn info() -> wit::GuestInfo {
        info(crate::strategy_info::<C::Guest>())
    }
    fn init(config: String) -> Result<(), wit::GuestError> {
        let config = parse_config(&config).map_err(guest_error)?;
        let strategy = C::Guest::new(config, &mut HostContext).map_err(guest_error)?;
        C::with(|slot| *slot = Some(strategy));
        Ok(())
    }
    fn on_bar(b: wit::Bar) -> WitIntents {
        strategy_call::<C>("on-bar", |s, ctx| s.on_bar(ctx, &bar(b)))
    }
    fn on_tick(t: wit::Tick) -> WitIntents {
        strategy_call::<C>("on-tick", |s, ctx| s.on_tick(ctx, &tick(t)))
    }
    fn on_fill(f: wit::Fill) -> WitIntents {
        strategy_call::<C>("on-fill", |s, ctx| s.on_fill(ctx, &fill(f)))
    }
    fn on_timer(name: String, ts: wit::Timestamp) -> WitIntents {
        strategy_call::<C>("on-timer", |s, ctx| s.on_timer(ctx, &name, ts))
    }
    fn on_reject(r: wit::Reject) -> WitIntents {
        strategy_call::<C>("on-reject", |s, ctx| s.on_reject(ctx, &reject(r)))
    }
    fn snapshot() -> Result<Vec<u8>, wit::GuestError> {
        C::with(|slot| match slot {
            Some(s) => s.snapshot().map_err(guest_error),
            None => Err(not_initialised("snapshot")),
        })
    }
    fn restore(state: Vec<u8>) -> Result<(), wit::GuestError> {
        C::with(|slot| match slot {
            Some(s) => s.restore(&state).map_err(guest_error),
            None => Err(not_initialised("restore")),
        })
    }
}

/// Connects an [`Indicator`] kept in a [`Slot`] to the `indicator` world's exports.
pub struct IndicatorExport<C>(PhantomData<C>);

impl<C: Slot> iw::Guest for IndicatorExport<C>
where
    C::Guest: Indicator,
{
    fn info() -> wit::GuestInfo {
        info(crate::indicator_info::<C::Guest>())
    }
    fn init(config: String) -> Result<(), wit::GuestError> {
        let config = parse_config(&config).map_err(guest_error)?;
        let indicator = C::Guest::new(config).map_err(guest_error)?;
        C::with(|slot| *slot = Some(indicator));
        Ok(())
    }
    fn outputs() -> Vec<String> {
        C::with(|slot| slot.as_ref().map(Indicator::outputs).unwrap_or_default())
    }
    fn update(b: wit::Bar) -> Result<Option<Vec<f64>>, wit::GuestError> {
        C::with(|slot| match slot {
            Some(i) => Ok(i.update(&bar(b))),
            None => Err(not_initialised("update")),
        })
    }
    fn snapshot() -> Result<Vec<u8>, wit::GuestError> {
        C::with(|slot| match slot {
            Some(i) => i.snapshot().map_err(guest_error),
            None => Err(not_initialised("snapshot")),
        })
    }
    fn restore(state: Vec<u8>) -> Result<(), wit::GuestError> {
        C::with(|slot| match slot {
            Some(i) => i.restore(&state).map_err(guest_error),
            None => Err(not_initialised("restore")),
        })
    }
}

/// Connects a [`Policy`](crate::Policy) kept in a [`Slot`] to the `policy` world's exports.
pub struct PolicyExport<C>(PhantomData<C>);

fn observation(o: pw::Observation) -> crate::Observation {
    crate::Observation {
        instrument: InstrumentId(o.instrument),
        ts: o.ts,
        rows: o.rows,
        columns: o.columns,
        features: o.features,
    }
}

fn action(a: crate::Action) -> pw::Action {
    pw::Action {
        decision: match a.decision {
            crate::Decision::Hold => pw::Decision::Hold,
            crate::Decision::Target(t) => pw::Decision::Target(t),
            crate::Decision::Orders(v) => pw::Decision::Orders(v.into_iter().map(intent).collect()),
        },
        index: a.index,
        probabilities: a.probabilities,
        value: a.value,
    }
}

impl<C: Slot> policy_world::Guest for PolicyExport<C>
where
    C::Guest: crate::Policy,
{
    fn info() -> wit::GuestInfo {
        info(crate::policy_info::<C::Guest>())
    }
    fn init(config: String) -> Result<(), wit::GuestError> {
        let config = parse_config(&config).map_err(guest_error)?;
        let policy = <C::Guest as crate::Policy>::new(config, &mut HostContext).map_err(guest_error)?;
        C::with(|slot| *slot = Some(policy));
        Ok(())
    }
    fn load(model: Vec<u8>) -> Result<pw::ModelInfo, wit::GuestError> {
        C::with(|slot| match slot {
            Some(p) => p
                .load(&mut HostContext, &model)
                .map(|m| pw::ModelInfo {
                    input_shape: m.input_shape,
                    actions: m.actions,
                })
                .map_err(guest_error),
            None => Err(not_initialised("load")),
        })
    }
    fn act(o: pw::Observation) -> Result<pw::Action, wit::GuestError> {
        C::with(|slot| match slot {
            Some(p) => {
                let o = observation(o);
                o.check().map_err(guest_error)?;
                p.act(&mut HostContext, &o).map(action).map_err(guest_error)
            }
            None => Err(not_initialised("act")),
        })
    }
}
