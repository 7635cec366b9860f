//! Pre-trade risk checks: turns orders into [`RiskApproved`] values or named
//! [`Rejection`](wasmtrade_model::Rejection)s.
//!
//! The [`Engine`] is pure and deterministic: the caller passes what it knows
//! about positions, working orders, the reference price (with its time),
//! the market state and cash as an [`Exposure`] (built from the OMS with an
//! [`ExposureBuilder`]), so risk never depends on the OMS, never reads a
//! clock (`Exposure::now` and the `now` arguments are event time) and never
//! iterates a hash map. Limits ([`Limits`]) are configured at account,
//! strategy and instrument level in a [`RiskConfig`]; every applicable level
//! must hold, so the strictest wins.
//!
//! `check_new`/`check_amend` take `&self`. The caller then reports what it
//! did — [`Engine::on_order_sent`], [`Engine::on_amend_sent`],
//! [`Engine::on_cancel_sent`], [`Engine::on_fill`], [`Engine::on_pnl`],
//! [`Engine::start_of_day`] — which feeds the flow checks (rates, windows,
//! duplicates, order-to-trade) and the automatic halts (daily loss,
//! drawdown, repeated executions). Every change of limits, kill switches,
//! halts or the trading gate returns a [`ChangeRecord`] to journal.
//!
//! [`RiskApproved`] can only be created inside this crate, and the broker
//! only accepts `&RiskApproved<NewOrder>` / `&RiskApproved<Amendment>`, so the
//! type system guarantees every order reaching a broker went through risk.
//! Cancels need no approval (they only reduce risk).
//!
//! # Checklist (reliability notes §1.4)
//!
//! | # | Control | Code | Rejection / effect |
//! |---|---|---|---|
//! | R1 | well-formedness: quantity and prices > 0, lot and tick size | `checks::order::well_formed` | `non-positive-quantity`, `non-positive-price`, `off-lot`, `off-tick` (NaN/∞ never reach risk: fixed point) |
//! | R2 | allow-list per level, restricted list | `checks::order::allowed` | `instrument-not-allowed`, `restricted-instrument` |
//! | R3 | market state (open / auction / halted / closed) and trading hours, holidays, blackouts in the exchange's time zone | `checks::order::session`, `calendar` | `market-halted`, `market-closed`, `outside-trading-hours`, `blackout` |
//! | R4 | price collar: % and ticks from the reference, exact | `checks::order::collar` | `price-collar` |
//! | R5 | stale or missing reference price, fail closed | `checks::order::reference` | `stale-reference-price`, `no-reference-price` |
//! | R6 | max order quantity | `checks::order::max_order_quantity` | `max-order-quantity` |
//! | R7 | max order notional `qty × max(limit, ref)` | `checks::order::max_order_notional` | `max-order-notional` |
//! | R8 | quantity / notional per rolling window, per level | `checks::flow::window`, `window` | `max-window-quantity`, `max-window-notional` |
//! | R9 | open (working) order notional | `checks::book::open_exposure` | `max-open-exposure` |
//! | R10 | position (long/short) incl. pending; gross and net exposure across instruments, worst case | `checks::book::position`, `checks::book::gross_net` | `max-position`, `max-gross-exposure`, `max-net-exposure` |
//! | R11 | buying power = cash after the closing leg × multiplier ≥ opening notional + open buys + commission (a reversal is funded by what it closes) | `checks::book::buying_power` | `insufficient-buying-power` |
//! | R12 | daily loss (realised + unrealised) and drawdown from the day's peak → latched halt of the strategy or account | `Engine::on_pnl`, `pnl` | halt; orders then `max-daily-loss` / `max-drawdown` |
//! | R13 | orders/s, orders/min, messages/s (orders, amendments, cancels), cancels/min; sliding windows on event time; cancels never refused | `checks::flow::rates`, `throttle` | `order-rate`, `message-rate`, `cancel-rate` |
//! | R14 | order-to-trade ratio per day, after a minimum | `checks::flow::order_to_trade` | `order-to-trade-ratio` (throttle) |
//! | R15 | N executions within a window → disabled until a person re-enables | `Engine::on_fill`, `Engine::reenable` | halt; orders then `repeated-executions` |
//! | R16 | duplicate (instrument, side, qty, type, prices) within a window | `checks::flow::duplicate` | `duplicate-order` |
//! | R17 | self-cross against the account's resting opposite orders | `checks::book::self_cross` | `self-cross` |
//! | R18 | working orders per level; per instrument and side (IB: 20) | `checks::book::working_orders` | `max-working-orders`, `max-working-orders-per-side` |
//! | R19 | kill switch global / account / strategy, latched, persisted as [`KillSwitchState`]; only risk-reducing orders pass; [`KillPolicy`] tells the caller to cancel/flatten | `killswitch`, `Engine::engage_kill_switch` | `kill-switch` |
//! | R20 | cancel-on-disconnect policy | — (broker / serve mode) | |
//! | R21 | reconciliation gate | `Engine::set_trading_gate` | `reconciliation-pending` |
//! | R22 | drop-copy reconciliation | — (serve mode) | |
//! | R23 | audited limit changes; `loosens` flags where a second approver is due | `audit`, `Engine::set_limits` | [`ChangeRecord`] |
//! | R24 | alerts | `on_fill` / `on_pnl` return the [`Halt`] to alert on | |
//!
//! Orders that close a position: R10 and R11 judge what the order leaves
//! behind, so a reversal (+100 to −100 in one sell of 200) is measured by
//! its resulting position (100 short) and its opening leg is funded by what
//! its closing leg brings. R6–R9 measure what is sent to the market, so they
//! count a reversal's whole quantity and notional.
//!
//! Checks run in the order of [`Engine`]'s docs; the first failure wins.
//! Every message names the values and the level of the limit, e.g.:
//!
//! ```
//! use wasmtrade_model::*;
//! use wasmtrade_risk::{Engine, Exposure, Limits, RiskConfig};
//!
//! let strategy = StrategyId::new("sma-cross");
//! let config = RiskConfig::default()
//!     .with_strategy(&strategy, Limits { max_order_quantity: Some(Quantity::from_int(100)), ..Limits::default() })
//!     .unwrap();
//! let risk = Engine::new(config);
//! let aapl = Instrument::equity(InstrumentId(0), "AAPL");
//! let mut order = NewOrder {
//!     client_id: ClientOrderId::new("b1"),
//!     instrument: aapl.id,
//!     side: Side::Buy,
//!     quantity: Quantity::from_int(100),
//!     order_type: OrderType::Limit { limit: Price::from_int(50) },
//!     tif: TimeInForce::Gtc,
//! };
//! let exposure = Exposure { available_cash: Money::from_int(10_000), ..Exposure::default() };
//! let approved = risk.check_new(&strategy, &aapl, &order, &exposure).unwrap();
//! assert_eq!(approved.get().quantity, Quantity::from_int(100));
//!
//! order.quantity = Quantity::from_int(500);
//! let rejection = risk.check_new(&strategy, &aapl, &order, &exposure).unwrap_err();
//! assert_eq!(rejection.code, RejectCode::MaxOrderQuantity);
//! assert_eq!(
//!     rejection.message,
//!     "quantity 500 exceeds max order quantity 100 (strategy limit) for strategy sma-cross on AAPL"
//! );
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod audit;
mod calendar;
mod checks;
mod config;
mod control;
mod engine;
mod exposure;
mod killswitch;
mod limits;
mod pnl;
mod throttle;
mod window;

pub use audit::ChangeRecord;
pub use calendar::{Calendar, RawBlackout, RawCalendar};
pub use config::{ConfigProblem, KillPolicy, Limits, RawRiskConfig, RiskConfig, RiskConfigError};
pub use control::LimitScope;
pub use engine::{Amendment, Engine};
pub use exposure::{BookExposure, Exposure, ExposureBuilder, Resting, SessionState};
pub use killswitch::{Halt, HaltReason, HaltScope, KillScope, KillSwitchState, Latch};

/// A value the risk engine approved. Only this crate can create one, so
/// holding a `RiskApproved<T>` proves the checks ran:
///
/// ```compile_fail
/// use wasmtrade_risk::{Amendment, RiskApproved};
/// let forged = RiskApproved(Amendment::default());
/// ```
///
/// ```compile_fail
/// use wasmtrade_risk::{Amendment, RiskApproved};
/// let forged = RiskApproved::new(Amendment::default());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RiskApproved<T>(T);

impl<T> RiskApproved<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(value)
    }
    /// The approved value.
    pub fn get(&self) -> &T {
        &self.0
    }
    /// Unwraps the approved value (it is no longer marked as approved).
    pub fn into_inner(self) -> T {
        self.0
    }
}
