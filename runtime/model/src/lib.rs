//! Domain types of wasmtrade: the vocabulary every other crate speaks.
//!
//! Layer 0 of the runtime: instruments, fixed-point [`Price`]/[`Quantity`]/
//! [`Money`], bars and ticks, order intents, the order lifecycle, fills,
//! broker events, rejections and the engine-facing guest contract
//! ([`StrategyGuest`], [`IndicatorGuest`], [`PolicyGuest`], [`GuestContext`]). No I/O, no
//! clock, no randomness: everything here is a pure value.
//!
//! Money is exact: `Price × Quantity` is computed without rounding into a
//! 10⁻¹⁸ `i128` [`Money`]; `f64` appears only in views handed to guests.
//!
//! ```
//! use wasmtrade_model::{Price, Quantity, Side};
//! let fill_cost = "187.31".parse::<Price>().unwrap().notional(Quantity::from_int(100));
//! assert_eq!(fill_cost.to_string(), "18731");
//! assert_eq!(Side::Sell.signed(Quantity::from_int(3)), Quantity::from_int(-3));
//! ```

mod collections;
mod context;
mod event;
mod fixed;
mod guest;
mod instrument;
mod intent;
mod kv;
mod market;
mod money;
mod name;
mod order;
mod policy;
mod time;

pub use collections::CollectionSize;
pub use context::{
    AccountView, ContextLimits, GuestContext, GuestRng, LogLevel, LogLine, MAX_LOOKUP_LEN, PositionView,
};
pub use event::{BrokerEvent, RejectCode, RejectNotice, Rejection};
pub use fixed::{DECIMALS, FixedError, MONEY_DECIMALS, MONEY_SCALE, Price, Quantity, Rate, SCALE};
pub use guest::{GuestFault, GuestInfo, IndicatorGuest, Intents, StrategyGuest};
pub use instrument::{Instrument, InstrumentId, Instruments};
pub use intent::{MAX_CLIENT_ID_LEN, RawIntent, RawOrderType};
pub use kv::{KvFull, KvSpace};
pub use market::{Bar, Tick, TickData};
pub use money::Money;
pub use name::{InvalidModuleName, MAX_MODULE_NAME_LEN, MODULE_NAME_RULE, check_module_name};
pub use order::{
    ClientOrderId, Fill, NewOrder, Order, OrderId, OrderIntent, OrderStatus, OrderType, Side, StrategyId,
    TimeInForce,
};
pub use policy::{
    FEATURE_NAMES, FEATURES, ModelError, ModelInfo, Observation, PolicyAction, PolicyDecision, PolicyGuest,
    PolicyObserver, PolicyStats, Transition,
};
pub use time::{Timestamp, civil_from_days, days_from_civil};
