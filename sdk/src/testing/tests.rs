use serde::{Deserialize, Serialize};

use super::*;
use crate::{
    Bar, Context, Error, Fill, InstrumentId, Intents, OrderIntent, Reject, Side, Strategy, Timestamp, state,
};

const X: InstrumentId = InstrumentId(0);

/// Follows a script: on bar `n` it returns `script[n]`; counts callbacks.
#[derive(Serialize, Deserialize)]
struct Scripted {
    bars: usize,
    fills: usize,
    rejects: usize,
    timers: Vec<String>,
    #[serde(skip)]
    script: Vec<Vec<OrderIntent>>,
}

#[derive(Deserialize)]
struct ScriptedConfig {
    #[serde(default)]
    timer_at: Option<Timestamp>,
}

impl Strategy for Scripted {
    type Config = ScriptedConfig;
    const NAME: &'static str = "scripted";
    const VERSION: &'static str = "0.0.1";
    fn new(config: ScriptedConfig, ctx: &mut dyn Context) -> Result<Self, Error> {
        if let Some(at) = config.timer_at {
            ctx.set_timer("wake", at);
        }
        Ok(Self {
            bars: 0,
            fills: 0,
            rejects: 0,
            timers: Vec::new(),
            script: Vec::new(),
        })
    }
    fn on_bar(&mut self, _: &mut dyn Context, _: &Bar) -> Intents {
        self.bars += 1;
        Ok(self.script.get(self.bars - 1).cloned().unwrap_or_default())
    }
    fn on_fill(&mut self, _: &mut dyn Context, _: &Fill) -> Intents {
        self.fills += 1;
        Ok(vec![])
    }
    fn on_reject(&mut self, ctx: &mut dyn Context, r: &Reject) -> Intents {
        self.rejects += 1;
        ctx.warn(&r.code);
        Ok(vec![])
    }
    fn on_timer(&mut self, _: &mut dyn Context, name: &str, _: Timestamp) -> Intents {
        self.timers.push(name.to_string());
        Ok(vec![])
    }
    fn snapshot(&self) -> Result<Vec<u8>, Error> {
        state::encode(self)
    }
    fn restore(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let script = std::mem::take(&mut self.script);
        *self = state::decode(bytes)?;
        self.script = script;
        Ok(())
    }
}

fn harness(script: Vec<Vec<OrderIntent>>) -> Harness<Scripted> {
    let mut h = Harness::<Scripted>::new("{}").unwrap();
    h.strategy_mut().script = script;
    h
}

#[test]
fn market_orders_fill_at_the_next_open_and_move_cash_and_position() {
    let mut h = harness(vec![
        vec![OrderIntent::market("b", X, Side::Buy, 10.0)],
        vec![],
        vec![OrderIntent::market("s", X, Side::Sell, 10.0)],
    ]);
    h.run(bars_from_closes(X, &[100.0, 101.0, 105.0, 110.0])).unwrap();
    let fills: Vec<(f64, Side)> = h.fills().iter().map(|f| (f.price, f.side)).collect();
    assert_eq!(fills, vec![(100.0, Side::Buy), (105.0, Side::Sell)]);
    assert_eq!(h.strategy().fills, 2);
    let ctx = h.context();
    assert!(ctx.position(X).is_flat());
    assert_eq!(ctx.account.cash, DEFAULT_CASH + 50.0);
    assert_eq!(ctx.account.realized_pnl, 50.0);
    assert_eq!(ctx.account.equity, DEFAULT_CASH + 50.0);
}

#[test]
fn open_positions_are_marked_to_the_last_close() {
    let mut h = harness(vec![vec![OrderIntent::market("b", X, Side::Buy, 2.0)]]).with_commission(1.0);
    h.run(bars_from_closes(X, &[100.0, 103.0, 107.0])).unwrap();
    let ctx = h.context();
    assert_eq!(ctx.position(X).average_price, 100.0);
    assert_eq!(ctx.position(X).unrealized_pnl, 14.0);
    assert_eq!(ctx.account.equity, DEFAULT_CASH - 1.0 + 14.0);
}

#[test]
fn limit_orders_wait_until_the_market_trades_through() {
    let mut h = harness(vec![vec![OrderIntent::limit("l", X, Side::Buy, 1.0, 95.0)]]);
    h.run(bars_from_closes(X, &[100.0, 98.0, 96.0])).unwrap();
    assert!(h.fills().is_empty());
    assert_eq!(h.working().len(), 1);
    h.run(bars_from_closes(X, &[94.0])).unwrap();
    assert_eq!(h.fills()[0].price, 94.0);
}

#[test]
fn cancels_remove_working_orders() {
    let mut h = harness(vec![
        vec![OrderIntent::limit("l", X, Side::Buy, 1.0, 50.0)],
        vec![OrderIntent::cancel("l")],
    ]);
    h.run(bars_from_closes(X, &[100.0, 100.0, 40.0])).unwrap();
    assert!(h.fills().is_empty() && h.working().is_empty());
}

#[test]
fn timers_fire_at_the_first_bar_at_or_after_their_time() {
    let mut h = Harness::<Scripted>::new(r#"{"timer_at": 60000000000}"#).unwrap();
    h.bar(bars_from_closes(X, &[1.0])[0]).unwrap();
    assert!(h.strategy().timers.is_empty());
    h.run(bars_from_closes(X, &[1.0, 1.0])).unwrap();
    assert_eq!(h.strategy().timers, vec!["wake"]);
    assert!(h.context().timers.is_empty());
}

#[test]
fn rejects_drop_the_working_order_and_reach_the_strategy() {
    let mut h = harness(vec![vec![OrderIntent::limit("l", X, Side::Buy, 1.0, 50.0)]]);
    h.run(bars_from_closes(X, &[100.0])).unwrap();
    let reject = Reject {
        client_id: "l".into(),
        code: "max-position".into(),
        message: "too big".into(),
        ts: 0,
    };
    h.reject(&reject).unwrap();
    assert!(h.working().is_empty());
    assert_eq!(h.strategy().rejects, 1);
    assert_eq!(h.context().logged(crate::LogLevel::Warn), vec!["max-position"]);
}

#[test]
fn reload_keeps_state_and_working_orders() {
    let mut h = harness(vec![vec![OrderIntent::limit("l", X, Side::Buy, 1.0, 50.0)]]);
    h.run(bars_from_closes(X, &[100.0, 100.0])).unwrap();
    h.reload().unwrap();
    assert_eq!(h.strategy().bars, 2);
    assert_eq!(h.working().len(), 1);
}

#[test]
fn bad_config_fails_construction_with_a_config_error() {
    let Err(err) = Harness::<Scripted>::new(r#"{"timer_at": "soon"}"#) else {
        panic!("config accepted")
    };
    assert!(
        err.to_string().starts_with("invalid config: invalid type"),
        "{err}"
    );
}

#[test]
fn bars_from_closes_open_at_the_previous_close() {
    let bars = bars_from_closes(X, &[10.0, 12.0, 11.0]);
    assert_eq!((bars[0].open, bars[1].open, bars[2].open), (10.0, 10.0, 12.0));
    assert_eq!((bars[1].high, bars[2].low), (12.0, 11.0));
    assert_eq!(bars[2].ts, 2 * BAR_NANOS);
}
