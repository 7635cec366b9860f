//! The risk engine: runs the checks in order and mints [`RiskApproved`] values.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use wasmtrade_model::{
    Instrument, Money, NewOrder, Order, OrderType, Price, Quantity, RejectCode, Rejection, Side, StrategyId,
};

use crate::RiskApproved;
use crate::checks::{self, Applicable, Subject};
use crate::config::RiskConfig;

/// What the engine knows about one (strategy, instrument) when an order is
/// checked, built from the OMS so that risk stays pure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Exposure {
    /// Signed position (negative is short).
    pub position: Quantity,
    /// Remaining quantity of working buy orders.
    pub open_buy: Quantity,
    /// Remaining quantity of working sell orders.
    pub open_sell: Quantity,
    /// Cash committed to working buy orders (the account's, for the cash check).
    pub open_buy_notional: Money,
    /// A fresh reference price (last trade, mid or close), if known.
    pub reference_price: Option<Price>,
    /// Cash available to the account.
    pub available_cash: Money,
}

/// A change to a working order: a new total quantity and/or a new limit price.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Amendment {
    /// New total quantity (filled + remaining).
    pub quantity: Option<Quantity>,
    /// New limit price (limit and stop-limit orders only).
    pub limit_price: Option<Price>,
}

/// Where a kill switch applies.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KillScope {
    /// Every order of the runtime.
    Global,
    /// Every order of the account.
    Account,
    /// One strategy's orders.
    Strategy(StrategyId),
}

/// The pre-trade risk engine.
///
/// Checks run in this order, the first failure wins: well-formedness
/// (quantity > 0, prices > 0, lot, tick), kill switch, max order quantity,
/// max order notional, max position (worst case), cash. Cancels need no
/// approval: they only ever reduce risk, so the broker accepts a bare
/// [`OrderId`](wasmtrade_model::OrderId) for them.
#[derive(Clone, Debug, Default)]
pub struct Engine {
    config: RiskConfig,
    kill_global: bool,
    kill_account: bool,
    kill_strategies: BTreeSet<StrategyId>,
}

impl Engine {
    /// An engine with `config` and every kill switch off.
    pub fn new(config: RiskConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &RiskConfig {
        &self.config
    }

    /// Replaces the configuration (kill switches are kept).
    pub fn set_config(&mut self, config: RiskConfig) {
        self.config = config;
    }

    /// Turns a kill switch on or off. While one applies, only risk-reducing
    /// orders (shrinking |position| without flipping, counting open orders) pass.
    pub fn set_kill_switch(&mut self, scope: &KillScope, on: bool) {
        match scope {
            KillScope::Global => self.kill_global = on,
            KillScope::Account => self.kill_account = on,
            KillScope::Strategy(id) => {
                if on {
                    self.kill_strategies.insert(id.clone());
                } else {
                    self.kill_strategies.remove(id);
                }
            }
        }
    }

    /// Whether the kill switch of exactly this scope is on.
    pub fn kill_switch(&self, scope: &KillScope) -> bool {
        match scope {
            KillScope::Global => self.kill_global,
            KillScope::Account => self.kill_account,
            KillScope::Strategy(id) => self.kill_strategies.contains(id),
        }
    }

    /// The scope of the kill switch that blocks `strategy`, if any.
    fn kill_scope(&self, strategy: &StrategyId) -> Option<&'static str> {
        if self.kill_global {
            Some("global")
        } else if self.kill_account {
            Some("account")
        } else if self.kill_strategies.contains(strategy) {
            Some("strategy")
        } else {
            None
        }
    }

    /// Checks a new order. `exposure` describes the strategy's position and
    /// working orders in `instrument` before this order.
    pub fn check_new(
        &self,
        strategy: &StrategyId,
        instrument: &Instrument,
        order: &NewOrder,
        exposure: &Exposure,
    ) -> Result<RiskApproved<NewOrder>, Rejection> {
        self.run(strategy, instrument, order, exposure, false)?;
        Ok(RiskApproved::new(order.clone()))
    }

    fn run(
        &self,
        strategy: &StrategyId,
        instrument: &Instrument,
        order: &NewOrder,
        exposure: &Exposure,
        kill_exempt: bool,
    ) -> Result<(), Rejection> {
        let s = Subject { strategy, instrument };
        checks::well_formed(&s, order)?;
        if !kill_exempt
            && let Some(scope) = self.kill_scope(strategy)
            && !checks::reduces_risk(order, exposure)
        {
            return Err(Rejection::new(
                RejectCode::KillSwitch,
                format!(
                    "the {scope} kill switch is on and this {} {} does not reduce the position {} for strategy {strategy} on {}",
                    order.side, order.quantity, exposure.position, instrument.symbol
                ),
            ));
        }
        let applicable = Applicable::new(&self.config, strategy, instrument);
        checks::max_order_quantity(&s, &applicable, order)?;
        checks::max_order_notional(&s, &applicable, order, exposure)?;
        checks::max_position(&s, &applicable, order, exposure)?;
        checks::cash(&s, &self.config, order, exposure)
    }

    /// Checks an amendment of a working `order` as if the amended remainder
    /// were a new order: `exposure` includes `order`'s own remaining quantity,
    /// which is taken out first. Under a kill switch an amendment passes if
    /// it only lowers the quantity, or if the amended order reduces risk.
    pub fn check_amend(
        &self,
        strategy: &StrategyId,
        instrument: &Instrument,
        order: &Order,
        change: &Amendment,
        exposure: &Exposure,
    ) -> Result<RiskApproved<Amendment>, Rejection> {
        let subject = || format!("for strategy {strategy} on {}", instrument.symbol);
        let new_type = match (order.request.order_type, change.limit_price) {
            (t, None) => t,
            (OrderType::Limit { .. }, Some(limit)) => OrderType::Limit { limit },
            (OrderType::StopLimit { stop, .. }, Some(limit)) => OrderType::StopLimit { stop, limit },
            (t, Some(p)) => {
                return Err(Rejection::new(
                    RejectCode::InvalidAmendment,
                    format!("cannot set limit price {p} on a {} order {}", t.name(), subject()),
                ));
            }
        };
        let total = change.quantity.unwrap_or(order.request.quantity);
        if change.quantity.is_some() && total <= order.filled && total.is_positive() {
            return Err(Rejection::new(
                RejectCode::InvalidAmendment,
                format!(
                    "new quantity {total} is not above the filled {}: cancel the order instead {}",
                    order.filled,
                    subject()
                ),
            ));
        }
        let remaining = total - order.filled;
        let old_remaining = order.remaining();
        let mut e = *exposure;
        match order.request.side {
            Side::Buy => {
                e.open_buy = (e.open_buy - old_remaining).max(Quantity::ZERO);
                if let Some(p) = order
                    .request
                    .order_type
                    .limit_price()
                    .or(order.request.order_type.stop_price())
                {
                    e.open_buy_notional = (e.open_buy_notional - p.notional(old_remaining)).max(Money::ZERO);
                }
            }
            Side::Sell => e.open_sell = (e.open_sell - old_remaining).max(Quantity::ZERO),
        }
        let mut resulting = order.request.clone();
        resulting.order_type = new_type;
        resulting.quantity = if change.quantity.is_some() {
            remaining
        } else {
            old_remaining
        };
        let only_shrinks = change.limit_price.is_none() && resulting.quantity <= old_remaining;
        self.run(strategy, instrument, &resulting, &e, only_shrinks)?;
        Ok(RiskApproved::new(*change))
    }
}
