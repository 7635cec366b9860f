//! Pre-trade risk checks: turns orders into [`RiskApproved`] values or named
//! [`Rejection`](wasmtrade_model::Rejection)s.
//!
//! The [`Engine`] is pure: the caller passes what it knows about the
//! strategy's position, working orders, reference price and cash as an
//! [`Exposure`] (built from the OMS), so risk never depends on the OMS and
//! never reads a clock. Limits ([`Limits`]) are configured at account,
//! strategy and instrument level in a [`RiskConfig`]; the strictest applicable
//! one wins. A kill switch ([`KillScope`]) blocks everything but risk-reducing
//! orders.
//!
//! [`RiskApproved`] can only be created inside this crate, and the broker
//! only accepts `&RiskApproved<NewOrder>` / `&RiskApproved<Amendment>`, so the
//! type system guarantees every order reaching a broker went through risk.
//! Cancels need no approval (they only reduce risk).
//!
//! This is the first set of checks (reliability checklist R1, R5–R7, R10,
//! R11, R19); each check is one function in a private module, so further
//! checks slot into [`Engine`]'s sequence.
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

mod checks;
mod config;
mod engine;

pub use config::{ConfigProblem, Limits, RawRiskConfig, RiskConfig, RiskConfigError};
pub use engine::{Amendment, Engine, Exposure, KillScope};

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
