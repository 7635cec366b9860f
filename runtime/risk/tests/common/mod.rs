//! A tiny account simulator for risk tests: working orders, positions and
//! prices, with the `check_*` → `on_*` protocol the engine follows.
#![allow(dead_code)]

use std::collections::BTreeMap;

use wasmtrade_model::{
    ClientOrderId, Fill, Instrument, InstrumentId, Money, NewOrder, Order, OrderId, OrderStatus, OrderType,
    Price, Quantity, Rejection, Side, StrategyId, TimeInForce, Timestamp,
};
use wasmtrade_risk::{Engine, Exposure, ExposureBuilder, Halt, RiskConfig};

pub fn sid(s: &str) -> StrategyId {
    StrategyId::new(s)
}

pub fn q(n: i64) -> Quantity {
    Quantity::from_int(n)
}

pub fn p(s: &str) -> Price {
    s.parse().unwrap()
}

pub fn m(n: i64) -> Money {
    Money::from_int(n)
}

pub fn secs(s: i64) -> Timestamp {
    Timestamp::from_secs(s)
}

pub fn new_order(instrument: u32, side: Side, qty: Quantity, order_type: OrderType) -> NewOrder {
    NewOrder {
        client_id: ClientOrderId::new("c"),
        instrument: InstrumentId(instrument),
        side,
        quantity: qty,
        order_type,
        tif: TimeInForce::Gtc,
    }
}

pub fn limit(instrument: u32, side: Side, qty: i64, price: &str) -> NewOrder {
    new_order(instrument, side, q(qty), OrderType::Limit { limit: p(price) })
}

/// The account as the engine would see it.
pub struct Sim {
    pub risk: Engine,
    pub instruments: Vec<Instrument>,
    pub working: Vec<Order>,
    pub positions: BTreeMap<(StrategyId, InstrumentId), Quantity>,
    pub prices: BTreeMap<InstrumentId, Price>,
    pub price_time: Option<Timestamp>,
    pub cash: Money,
    pub now: Timestamp,
    pub sent: u64,
    next_id: u64,
    exec: u64,
}

impl Sim {
    /// Instruments `#0 AAPL`, `#1 MSFT`, `#2 SPY`, all priced 10, ample cash, at 2024-06-11 14:00 UTC.
    pub fn new(config: RiskConfig) -> Self {
        let instruments = ["AAPL", "MSFT", "SPY"]
            .iter()
            .enumerate()
            .map(|(i, s)| Instrument::equity(InstrumentId(i as u32), *s))
            .collect::<Vec<_>>();
        let prices = instruments.iter().map(|i| (i.id, p("10"))).collect();
        let now = Timestamp::from_secs(1_718_114_400);
        Self {
            risk: Engine::new(config),
            instruments,
            working: Vec::new(),
            positions: BTreeMap::new(),
            prices,
            price_time: Some(now),
            cash: m(1_000_000_000),
            now,
            sent: 0,
            next_id: 1,
            exec: 0,
        }
    }

    pub fn advance(&mut self, nanos: i64) {
        self.now = self.now.add_nanos(nanos);
        self.price_time = Some(self.now);
    }

    pub fn exposure(&self, strategy: &StrategyId, instrument: InstrumentId) -> Exposure {
        let mut b = ExposureBuilder::new(strategy, instrument, self.now);
        for o in &self.working {
            b.working_order(o, self.prices.get(&o.request.instrument).copied());
        }
        for ((s, i), qty) in &self.positions {
            b.position(s, *i, *qty, self.prices.get(i).copied());
        }
        b.finish(self.prices.get(&instrument).copied(), self.price_time, self.cash)
    }

    pub fn position(&self, strategy: &StrategyId, instrument: u32) -> Quantity {
        self.positions
            .get(&(strategy.clone(), InstrumentId(instrument)))
            .copied()
            .unwrap_or_default()
    }

    /// Checks and, if approved, "sends" the order.
    pub fn submit(&mut self, strategy: &StrategyId, order: NewOrder) -> Result<OrderId, Rejection> {
        let instrument = self.instruments[order.instrument.0 as usize].clone();
        let e = self.exposure(strategy, order.instrument);
        let approved = self.risk.check_new(strategy, &instrument, &order, &e)?;
        self.risk.on_order_sent(strategy, &instrument, approved.get(), &e);
        let id = OrderId(self.next_id);
        self.next_id += 1;
        self.sent += 1;
        self.working.push(Order {
            id,
            strategy: strategy.clone(),
            request: approved.into_inner(),
            status: OrderStatus::Accepted,
            filled: Quantity::ZERO,
            filled_notional: Money::ZERO,
            created: self.now,
            updated: self.now,
        });
        Ok(id)
    }

    /// Fills `qty` (capped at the remainder) of the working order at index `idx`,
    /// at its limit or the instrument's price.
    pub fn fill(&mut self, idx: usize, qty: Quantity) -> Option<Halt> {
        let o = &mut self.working[idx];
        let qty = qty.min(o.remaining());
        let price = o
            .request
            .order_type
            .limit_price()
            .unwrap_or(self.prices[&o.request.instrument]);
        o.filled += qty;
        let fill = Fill {
            order_id: o.id,
            strategy: o.strategy.clone(),
            client_id: o.request.client_id.clone(),
            instrument: o.request.instrument,
            side: o.request.side,
            quantity: qty,
            price,
            commission: Money::ZERO,
            ts: self.now,
            exec_id: format!("e{}", self.exec),
        };
        self.exec += 1;
        *self
            .positions
            .entry((fill.strategy.clone(), fill.instrument))
            .or_default() += fill.side.signed(qty);
        match fill.side {
            Side::Buy => self.cash -= price.notional(qty),
            Side::Sell => self.cash += price.notional(qty),
        }
        if self.working[idx].remaining().is_zero() {
            self.working.remove(idx);
        }
        let instrument = self.instruments[fill.instrument.0 as usize].clone();
        self.risk.on_fill(&fill, &instrument)
    }

    pub fn cancel(&mut self, idx: usize) {
        let o = self.working.remove(idx);
        let instrument = self.instruments[o.request.instrument.0 as usize].clone();
        self.risk.on_cancel_sent(&o.strategy, &instrument, self.now);
    }
}
