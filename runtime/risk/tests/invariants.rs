//! RT1: property tests that no sequence of intents, fills, cancels and P&L
//! marks — including malformed ones — pushes a position, gross or net
//! exposure, open-order exposure or the day's loss beyond its limit,
//! counting pending orders as filled (worst case).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use common::*;
use proptest::prelude::*;
use wasmtrade_model::{InstrumentId, Money, OrderType, Price, Quantity, Side, StrategyId};
use wasmtrade_risk::{HaltScope, Limits, RiskConfig};

#[derive(Clone, Debug)]
enum Step {
    Submit {
        strategy: u8,
        instrument: u32,
        buy: bool,
        qty_tenths: i64,
        ticks: i64,
        market: bool,
    },
    Fill {
        pick: prop::sample::Index,
        percent: i64,
    },
    Cancel(prop::sample::Index),
    Advance(i64),
    Pnl(i64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0u8..2, 0u32..3, any::<bool>(), -20i64..800, -30i64..30, prop::bool::weighted(0.2)).prop_map(
            |(strategy, instrument, buy, qty_tenths, ticks, market)| Step::Submit { strategy, instrument, buy, qty_tenths, ticks, market }
        ),
        3 => (any::<prop::sample::Index>(), 1i64..=100).prop_map(|(pick, percent)| Step::Fill { pick, percent }),
        1 => any::<prop::sample::Index>().prop_map(Step::Cancel),
        1 => (0i64..3_000).prop_map(Step::Advance),
        1 => (-400i64..400).prop_map(Step::Pnl),
    ]
}

#[derive(Clone, Debug)]
struct Caps {
    position: i64,
    long: i64,
    aapl_position: i64,
    strategy_gross: i64,
    account_gross: i64,
    account_net: i64,
    open_notional: i64,
    daily_loss: i64,
}

fn caps() -> impl Strategy<Value = Caps> {
    (
        1i64..300,
        1i64..300,
        1i64..300,
        100i64..5_000,
        100i64..8_000,
        100i64..4_000,
        100i64..6_000,
        1i64..1_000,
    )
        .prop_map(
            |(
                position,
                long,
                aapl_position,
                strategy_gross,
                account_gross,
                account_net,
                open_notional,
                daily_loss,
            )| Caps {
                position,
                long,
                aapl_position,
                strategy_gross,
                account_gross,
                account_net,
                open_notional,
                daily_loss,
            },
        )
}

fn config(c: &Caps) -> RiskConfig {
    RiskConfig::permissive()
        .with_account(Limits {
            max_gross_exposure: Some(Money::from_int(c.account_gross)),
            max_net_exposure: Some(Money::from_int(c.account_net)),
            max_open_notional: Some(Money::from_int(c.open_notional)),
            ..Limits::default()
        })
        .unwrap()
        .with_strategy(
            &sid("alpha"),
            Limits {
                max_position: Some(q(c.position)),
                max_long_position: Some(q(c.long)),
                max_gross_exposure: Some(Money::from_int(c.strategy_gross)),
                max_daily_loss: Some(Money::from_int(c.daily_loss)),
                ..Limits::default()
            },
        )
        .unwrap()
        .with_instrument(
            "AAPL",
            Limits {
                max_position: Some(q(c.aapl_position)),
                ..Limits::default()
            },
        )
        .unwrap()
}

/// Worst-case (position + open buys, position − open sells) of a set of orders and positions.
fn legs(sim: &Sim, strategy: Option<&StrategyId>, instrument: u32) -> (Quantity, Quantity) {
    let id = InstrumentId(instrument);
    let mine = |s: &StrategyId| strategy.is_none_or(|x| x == s);
    let position = sim
        .positions
        .iter()
        .filter(|((s, i), _)| mine(s) && *i == id)
        .fold(Quantity::ZERO, |a, (_, q)| a + *q);
    let open = |side| {
        sim.working
            .iter()
            .filter(|o| mine(&o.strategy) && o.request.instrument == id && o.request.side == side)
            .fold(Quantity::ZERO, |a, o| a + o.remaining())
    };
    (position + open(Side::Buy), position - open(Side::Sell))
}

fn book(sim: &Sim, strategy: Option<&StrategyId>) -> (Money, Money) {
    let price = Price::from_int(10);
    let (mut gross, mut long, mut short) = (Money::ZERO, Money::ZERO, Money::ZERO);
    for i in 0..3 {
        let (l, s) = legs(sim, strategy, i);
        gross += price.notional(l.abs().max(s.abs()));
        long += price.notional(l);
        short += price.notional(s);
    }
    (gross, long.abs().max(short.abs()))
}

fn check_invariants(sim: &Sim, c: &Caps) -> Result<(), TestCaseError> {
    let alpha = sid("alpha");
    for i in 0..3 {
        let (l, s) = legs(sim, Some(&alpha), i);
        prop_assert!(
            l.abs().max(s.abs()) <= q(c.position),
            "alpha #{i} worst position {l}/{s} beyond {}",
            c.position
        );
        prop_assert!(
            l <= q(c.long) || !l.is_positive(),
            "alpha #{i} worst long {l} beyond {}",
            c.long
        );
    }
    for s in [sid("alpha"), sid("beta")] {
        let (l, sh) = legs(sim, Some(&s), 0);
        prop_assert!(
            l.abs().max(sh.abs()) <= q(c.aapl_position),
            "{s} AAPL worst {l}/{sh} beyond {}",
            c.aapl_position
        );
    }
    let (g, _) = book(sim, Some(&alpha));
    prop_assert!(
        g <= Money::from_int(c.strategy_gross),
        "alpha gross {g} beyond {}",
        c.strategy_gross
    );
    let (g, n) = book(sim, None);
    prop_assert!(
        g <= Money::from_int(c.account_gross),
        "account gross {g} beyond {}",
        c.account_gross
    );
    prop_assert!(
        n <= Money::from_int(c.account_net),
        "account net {n} beyond {}",
        c.account_net
    );
    let open: Money = sim
        .working
        .iter()
        .map(|o| {
            o.request
                .order_type
                .limit_price()
                .unwrap_or(Price::from_int(10))
                .notional(o.remaining())
        })
        .sum();
    prop_assert!(
        open <= Money::from_int(c.open_notional),
        "open notional {open} beyond {}",
        c.open_notional
    );
    Ok(())
}

proptest! {
    // 512 cases by default; `PROPTEST_CASES=1000000` for the full RT1 run.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512)
    ))]

    #[test]
    fn no_sequence_breaches_a_limit(c in caps(), steps in prop::collection::vec(step(), 1..150)) {
        let mut sim = Sim::new(config(&c));
        let alpha = sid("alpha");
        let mut pnl = 0i64;
        let mut baseline: Option<i64> = None; // the day starts at the first report
        let mut loss_breached = false;
        for st in steps {
            match st {
                Step::Submit { strategy, instrument, buy, qty_tenths, ticks, market } => {
                    let who = if strategy == 0 { alpha.clone() } else { sid("beta") };
                    let side = if buy { Side::Buy } else { Side::Sell };
                    // Tenths of a share: 9 in 10 are off the lot size of 1 unless whole.
                    let qty = Quantity::from_raw(qty_tenths * 100_000_000);
                    let t = if market {
                        OrderType::Market
                    } else {
                        OrderType::Limit { limit: Price::from_raw(10_000_000_000 + ticks * 5_000_000) }
                    };
                    let before = legs(&sim, Some(&who), instrument);
                    let position = sim.position(&who, instrument);
                    let accepted = sim.submit(&who, new_order(instrument, side, qty, t)).is_ok();
                    if accepted {
                        prop_assert!(qty.is_positive() && qty.raw() % 1_000_000_000 == 0, "malformed quantity {qty} accepted");
                        if loss_breached && who == alpha {
                            // Halted: only orders that shrink |position| without flipping pass.
                            let reduces = match side {
                                Side::Sell => position.is_positive() && before.1 - qty >= Quantity::ZERO,
                                Side::Buy => position.is_negative() && before.0 + qty <= Quantity::ZERO,
                            };
                            prop_assert!(reduces, "halted alpha sent a risk-increasing {side} {qty}");
                        }
                    }
                }
                Step::Fill { pick, percent } => {
                    if !sim.working.is_empty() {
                        let idx = pick.index(sim.working.len());
                        let rest = sim.working[idx].remaining();
                        let part = Quantity::from_raw((rest.raw() * percent / 100 / 1_000_000_000).max(1) * 1_000_000_000);
                        sim.fill(idx, part);
                    }
                }
                Step::Cancel(pick) => {
                    if !sim.working.is_empty() {
                        let idx = pick.index(sim.working.len());
                        sim.cancel(idx);
                    }
                }
                Step::Advance(ms) => sim.advance(ms * 1_000_000),
                Step::Pnl(delta) => {
                    pnl += delta;
                    sim.risk.on_pnl(&HaltScope::Strategy(alpha.clone()), Money::from_int(pnl), sim.now);
                    let base = *baseline.get_or_insert(pnl);
                    loss_breached |= base - pnl > c.daily_loss;
                }
            }
            check_invariants(&sim, &c)?;
        }
    }
}
