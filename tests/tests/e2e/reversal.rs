//! Issue 19: a strategy that reverses between a full long and a full short
//! position in ONE order trades every reversal. Risk funds the opening leg
//! of a reversal with what its closing leg brings (before the fix every
//! reversal was refused with `insufficient-buying-power`), and the OMS books
//! each reversal fill as one closed trade plus one new position.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is a test failure with a location"
)]

use std::sync::Arc;

use wasmtrade_engine::{Backtest, BacktestConfig, BacktestResult};
use wasmtrade_market::{SynthConfig, generate};
use wasmtrade_model::{GuestContext, Money, Quantity, Rate, Side, StrategyGuest, StrategyId};
use wasmtrade_native::NativeStrategy;
use wasmtrade_sdk::{Bar, Context, Error, Intents, OrderIntent, Side as SdkSide, Strategy};

/// Every `every` bars, targets `fraction` of equity long, then short, then
/// long... and gets there with one market order from wherever it is.
struct Reverser {
    every: u64,
    fraction: f64,
    bars: u64,
    orders: u64,
}

impl Strategy for Reverser {
    type Config = serde_json::Value;
    const NAME: &'static str = "reverser";
    const VERSION: &'static str = "1.0.0";

    fn new(c: serde_json::Value, _: &mut dyn Context) -> Result<Self, Error> {
        Ok(Self {
            every: c["every"].as_u64().unwrap_or(5).max(1),
            fraction: c["fraction"].as_f64().unwrap_or(1.0),
            bars: 0,
            orders: 0,
        })
    }

    fn on_bar(&mut self, ctx: &mut dyn Context, bar: &Bar) -> Intents {
        self.bars += 1;
        if !self.bars.is_multiple_of(self.every) {
            return Ok(vec![]);
        }
        let sign = if (self.bars / self.every).is_multiple_of(2) {
            -1.0
        } else {
            1.0
        };
        let equity = ctx.account().equity;
        let want = (sign * self.fraction * equity / bar.close).trunc();
        let delta = want - ctx.position(bar.instrument).quantity;
        if delta.abs() < 1.0 {
            return Ok(vec![]);
        }
        self.orders += 1;
        let side = if delta > 0.0 { SdkSide::Buy } else { SdkSide::Sell };
        Ok(vec![OrderIntent::market(
            format!("r{}", self.orders),
            bar.instrument,
            side,
            delta.abs(),
        )])
    }
}

fn run(commission: &str, fraction: f64) -> BacktestResult {
    let mut instruments = wasmtrade_model::Instruments::new();
    let bars = generate(
        &SynthConfig {
            bars: 2_000,
            seed: 19,
            ..SynthConfig::default()
        },
        &mut instruments,
    )
    .unwrap();
    let instruments = Arc::new(instruments);
    let mut config = BacktestConfig {
        starting_cash: Money::from_int(100_000),
        ..BacktestConfig::default()
    };
    config.paper.commission.rate = commission.parse::<Rate>().unwrap();
    let guest: Box<dyn StrategyGuest> = Box::new(
        NativeStrategy::<Reverser>::new(
            GuestContext::new(instruments.clone(), 42),
            &format!(r#"{{"every": 5, "fraction": {fraction}}}"#),
        )
        .unwrap(),
    );
    let mut bt = Backtest::new(instruments, config).unwrap();
    bt.add_strategy(StrategyId::new("reverser"), guest).unwrap();
    bt.run(bars.iter(), &mut |_| {}).unwrap()
}

fn assert_every_reversal_trades(r: &BacktestResult) {
    assert_eq!(r.stats.rejected, 0, "no order may be refused: {:?}", r.stats);
    // 2000 bars, a decision every 5: the first opens, every later one reverses.
    let fills = &r.fills;
    assert!(fills.len() >= 390, "{} fills", fills.len());
    // One fill per order; an order sent on the last bar has no next open to fill at.
    let sent = r.stats.orders_sent;
    assert!(
        sent == fills.len() as u64 || sent == fills.len() as u64 + 1,
        "{sent} orders, {} fills",
        fills.len()
    );
    let mut position = Quantity::ZERO;
    for (i, f) in fills.iter().enumerate() {
        let before = position;
        position += match f.side {
            Side::Buy => f.quantity,
            Side::Sell => -f.quantity,
        };
        if i > 0 {
            assert!(
                before.is_positive() != position.is_positive() && !position.is_zero(),
                "fill {i} ({} {}) must reverse {before} in one go, left {position}",
                f.side,
                f.quantity
            );
        }
    }
    // Each reversal fill closes the previous lot (one trade) and opens the next.
    assert_eq!(r.trades.len(), fills.len() - 1);
}

#[test]
fn full_long_to_full_short_and_back_in_one_order_every_time() {
    assert_every_reversal_trades(&run("0", 1.0));
}

#[test]
fn reversals_with_commission_trade_when_sized_for_it() {
    // 99 % of equity leaves room for the commission on both legs.
    let r = run("0.001", 0.99);
    assert_every_reversal_trades(&r);
    assert!(r.fills.iter().all(|f| f.commission > Money::ZERO));
}
