//! Stateful checks against the test plan (reliability §8.1): stale
//! references (RT2), duplicates (RT3), throttles (RT4), repeated executions
//! (RT5), self-cross (RT6), the Knight drill (RT8), daily loss and
//! drawdown halts, kill-switch latches and audit records.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use std::collections::BTreeMap;

use common::*;
use wasmtrade_model::{OrderType, RejectCode, Side, StrategyId};
use wasmtrade_risk::{HaltReason, HaltScope, KillScope, KillSwitchState, LimitScope, Limits, RiskConfig};

const MS: i64 = 1_000_000;
const SEC: i64 = 1_000 * MS;

fn a() -> StrategyId {
    sid("alpha")
}
fn b() -> StrategyId {
    sid("beta")
}

fn with(limits: Limits) -> Sim {
    Sim::new(RiskConfig::permissive().with_strategy(&a(), limits).unwrap())
}

/// Tallies results by rejection code (`None` = accepted).
fn tally(results: impl IntoIterator<Item = Option<RejectCode>>) -> BTreeMap<Option<RejectCode>, u32> {
    let mut t = BTreeMap::new();
    for r in results {
        *t.entry(r).or_default() += 1;
    }
    t
}

#[test]
fn rt2_a_stale_reference_rejects_every_order() {
    let mut sim = with(Limits {
        max_reference_age_ms: Some(500),
        ..Limits::default()
    });
    sim.price_time = Some(sim.now);
    let feed_stopped = sim.now;
    let mut codes = Vec::new();
    for i in 0..1_000 {
        sim.now = feed_stopped.add_nanos(500 * MS + 1 + i * MS);
        let t = if i % 2 == 0 {
            OrderType::Market
        } else {
            OrderType::Limit { limit: p("10") }
        };
        codes.push(
            sim.submit(&a(), new_order(0, Side::Buy, q(1), t))
                .err()
                .map(|r| r.code),
        );
    }
    assert_eq!(
        tally(codes),
        BTreeMap::from([(Some(RejectCode::StaleReferencePrice), 1_000)])
    );
    assert_eq!(sim.sent, 0);
}

#[test]
fn rt3_identical_orders_within_the_window_are_duplicates() {
    let mut sim = with(Limits {
        duplicate_window_ms: Some(1_000),
        ..Limits::default()
    });
    let results: Vec<_> = (0..10)
        .map(|_| {
            sim.advance(50 * MS);
            sim.submit(&a(), limit(0, Side::Buy, 5, "10"))
                .err()
                .map(|r| r.code)
        })
        .collect();
    assert_eq!(
        tally(results),
        BTreeMap::from([(None, 1), (Some(RejectCode::DuplicateOrder), 9)])
    );
    // A different price, side or quantity is not a duplicate; the same order after the window is not either.
    sim.submit(&a(), limit(0, Side::Buy, 5, "10.01")).unwrap();
    sim.submit(&a(), limit(0, Side::Sell, 5, "10")).unwrap();
    sim.submit(&a(), limit(0, Side::Buy, 6, "10")).unwrap();
    sim.submit(&b(), limit(0, Side::Buy, 5, "10")).unwrap();
    sim.advance(1_000 * MS);
    sim.submit(&a(), limit(0, Side::Buy, 5, "10")).unwrap();
}

#[test]
fn rt4_a_burst_never_exceeds_the_rate_in_any_sliding_second() {
    let mut sim = Sim::new(
        RiskConfig::permissive()
            .with_account(Limits {
                max_messages_per_second: Some(40),
                ..Limits::default()
            })
            .unwrap()
            .with_strategy(
                &a(),
                Limits {
                    max_orders_per_second: Some(10),
                    max_orders_per_minute: Some(100),
                    ..Limits::default()
                },
            )
            .unwrap(),
    );
    let start = sim.now;
    let mut sent_at = Vec::new();
    // 1,000 orders per second from alpha and 1,000 from beta, for 3 s.
    for i in 0..6_000i64 {
        sim.now = start.add_nanos(i * SEC / 2_000);
        let who = if i % 2 == 0 { a() } else { b() };
        let price = format!("{}", 5 + (i % 500) / 100);
        if sim.submit(&who, limit(0, Side::Buy, 1, &price)).is_ok() {
            sent_at.push((sim.now, who));
        }
        if i % 20 == 0 && !sim.working.is_empty() {
            sim.cancel(0); // cancels always pass but count as messages
            sent_at.push((sim.now, sid("cancel")));
        }
    }
    let orders: Vec<_> = sent_at.iter().filter(|(_, w)| w != &sid("cancel")).collect();
    for (i, (t, _)) in orders.iter().enumerate() {
        let window = || orders[i..].iter().take_while(|(u, _)| u.since(*t) < SEC);
        // Orders are admitted only while the account's messages (cancels included) are under 40.
        assert!(
            window().count() <= 40,
            "{} orders within 1 s of {t}",
            window().count()
        );
        let alpha = window().filter(|(_, w)| w == &a()).count();
        assert!(alpha <= 10, "{alpha} alpha orders within 1 s of {t}");
    }
    assert!(orders.len() <= 3 * 40, "{} orders in 3 s", orders.len());
    assert!(
        orders.len() >= 3 * 20,
        "the cap is used, not starved: {}",
        orders.len()
    );
}

#[test]
fn rt4_message_rate_counts_cancels_but_never_refuses_them() {
    let mut sim = with(Limits {
        max_messages_per_second: Some(3),
        ..Limits::default()
    });
    sim.submit(&a(), limit(0, Side::Buy, 1, "9")).unwrap();
    sim.submit(&a(), limit(0, Side::Buy, 1, "8")).unwrap();
    sim.cancel(0); // the third message
    let r = sim.submit(&a(), limit(0, Side::Buy, 1, "7")).unwrap_err();
    assert_eq!(r.code, RejectCode::MessageRate);
    assert_eq!(
        r.message,
        "3 sent in the last 1 s already, max 3 messages per second (strategy limit) for strategy alpha on AAPL"
    );
    sim.advance(SEC);
    sim.submit(&a(), limit(0, Side::Buy, 1, "7")).unwrap();
}

#[test]
fn cancel_storms_pause_new_orders() {
    let mut sim = with(Limits {
        max_cancels_per_minute: Some(2),
        ..Limits::default()
    });
    for _ in 0..2 {
        sim.submit(&a(), limit(0, Side::Buy, 1, "9")).unwrap();
        sim.cancel(0);
    }
    assert_eq!(
        sim.submit(&a(), limit(0, Side::Buy, 1, "9")).unwrap_err().code,
        RejectCode::CancelRate
    );
    sim.advance(60 * SEC);
    sim.submit(&a(), limit(0, Side::Buy, 1, "9")).unwrap();
}

#[test]
fn order_to_trade_ratio_applies_after_the_minimum() {
    let config = RiskConfig::permissive()
        .edit(|raw| raw.order_to_trade_min_orders = 4)
        .unwrap()
        .with_strategy(
            &a(),
            Limits {
                max_order_to_trade_ratio: Some(2),
                ..Limits::default()
            },
        )
        .unwrap();
    let mut sim = Sim::new(config);
    for i in 0..4 {
        sim.submit(&a(), limit(0, Side::Buy, 1, &format!("{}", 5 + i)))
            .unwrap();
    }
    // 5 orders for 0 executions > 2 per execution.
    let r = sim.submit(&a(), limit(0, Side::Buy, 1, "9.5")).unwrap_err();
    assert_eq!(r.code, RejectCode::OrderToTradeRatio);
    sim.fill(0, q(1));
    sim.fill(0, q(1));
    sim.fill(0, q(1)); // 3 executions: up to 6 orders
    sim.submit(&a(), limit(0, Side::Buy, 1, "9.5")).unwrap();
    sim.submit(&a(), limit(0, Side::Buy, 1, "9.6")).unwrap();
    assert_eq!(
        sim.submit(&a(), limit(0, Side::Buy, 1, "9.7")).unwrap_err().code,
        RejectCode::OrderToTradeRatio
    );
    // A new day starts the count again.
    sim.advance(86_400 * SEC);
    sim.submit(&a(), limit(0, Side::Buy, 1, "9.7")).unwrap();
}

#[test]
fn rt5_repeated_executions_disable_until_a_person_reenables() {
    let mut sim = with(Limits {
        max_executions: Some(3),
        ..Limits::default()
    });
    sim.submit(&a(), limit(0, Side::Buy, 10, "10")).unwrap();
    for _ in 0..3 {
        sim.advance(MS);
        assert!(sim.fill(0, q(1)).is_none(), "three executions are allowed");
    }
    sim.advance(MS);
    let halt = sim
        .fill(0, q(1))
        .expect("the fourth execution within the window halts");
    assert_eq!(halt.scope, HaltScope::Strategy(a()));
    assert_eq!(halt.reason, HaltReason::RepeatedExecutions);
    assert_eq!(
        halt.detail,
        "4 executions within 60000 ms, max 3 (strategy limit, last on AAPL)"
    );
    // Risk-increasing orders are refused, risk-reducing ones pass, other strategies trade.
    let r = sim.submit(&a(), limit(0, Side::Buy, 1, "10")).unwrap_err();
    assert_eq!(r.code, RejectCode::RepeatedExecutions);
    sim.submit(&a(), limit(0, Side::Sell, 4, "10")).unwrap();
    sim.submit(&b(), limit(0, Side::Buy, 1, "10")).unwrap();
    // Time alone does not lift it ...
    sim.advance(3_600 * SEC);
    assert!(sim.submit(&a(), limit(0, Side::Buy, 1, "9")).is_err());
    // ... a person does, with an audit record.
    let rec = sim.risk.reenable(&HaltScope::Strategy(a()), "ops@desk", sim.now);
    assert_eq!(rec.what, "halt.strategy.alpha");
    assert!(rec.loosens);
    assert!(rec.old.contains("repeated-executions"), "{}", rec.old);
    sim.submit(&a(), limit(0, Side::Buy, 1, "9")).unwrap();
}

#[test]
fn rt6_self_cross_between_strategies_is_blocked() {
    let mut sim = Sim::new(
        RiskConfig::permissive()
            .with_account(Limits {
                prevent_self_cross: Some(true),
                ..Limits::default()
            })
            .unwrap(),
    );
    sim.submit(&b(), limit(0, Side::Sell, 10, "10.05")).unwrap();
    sim.submit(&b(), limit(0, Side::Sell, 10, "10.10")).unwrap();
    sim.submit(&a(), limit(0, Side::Buy, 10, "10.04")).unwrap(); // below the best resting sell
    let r = sim.submit(&a(), limit(0, Side::Buy, 10, "10.05")).unwrap_err();
    assert_eq!(r.code, RejectCode::SelfCross);
    assert_eq!(
        r.message,
        "buy at 10.05 would cross the account's resting sell O-1 at 10.05 for strategy alpha on AAPL"
    );
    assert_eq!(
        sim.submit(&a(), new_order(0, Side::Buy, q(1), OrderType::Market))
            .unwrap_err()
            .code,
        RejectCode::SelfCross
    );
    // A sell into alpha's own resting buy is blocked too; other instruments are not affected.
    assert_eq!(
        sim.submit(&b(), limit(0, Side::Sell, 1, "10.04"))
            .unwrap_err()
            .code,
        RejectCode::SelfCross
    );
    sim.submit(&a(), limit(1, Side::Buy, 10, "11")).unwrap();
}

/// RT8: a strategy that sends a buy on every event, whatever happens, and
/// whose orders all fill (as Knight's did), is contained and ends halted.
#[test]
fn rt8_knight_drill_is_contained_and_ends_halted() {
    let limits = Limits {
        max_orders_per_second: Some(5),
        max_executions: Some(20),
        max_position: Some(q(1_000)),
        max_window_quantity: Some(q(500)),
        ..Limits::default()
    };
    let mut sim = with(limits);
    let mut codes = Vec::new();
    let mut halts = Vec::new();
    for _event in 0..100_000 {
        sim.advance(10 * MS); // 100 events per second
        let r = sim.submit(&a(), limit(0, Side::Buy, 10, "10"));
        codes.push(r.as_ref().err().map(|r| r.code));
        if r.is_ok() {
            let idx = sim.working.len() - 1;
            halts.extend(sim.fill(idx, q(10)));
        }
    }
    let t = tally(codes);
    // 20 executions are allowed, the 21st halts: 21 orders in all.
    assert_eq!(t.get(&None), Some(&21), "{t:?}");
    assert_eq!(sim.sent, 21);
    assert_eq!(halts.len(), 1, "one halt (the alert), not one per event");
    assert_eq!(halts[0].reason, HaltReason::RepeatedExecutions);
    assert!(sim.position(&a(), 0) <= q(210));
    assert!(sim.risk.kill_switches().strategy_halts.contains_key(&a()));
    assert!(t.contains_key(&Some(RejectCode::RepeatedExecutions)));
}

/// RT8 without fills: the same runaway loop is held by the working-order,
/// open-exposure and rate limits within the configured number of orders.
#[test]
fn rt8_knight_drill_without_fills_is_held_by_the_limits() {
    let mut sim = with(Limits {
        max_orders_per_second: Some(5),
        max_working_orders: Some(50),
        max_open_notional: Some(m(100_000)),
        ..Limits::default()
    });
    for _event in 0..100_000 {
        sim.advance(10 * MS);
        let _ = sim.submit(&a(), limit(0, Side::Buy, 10, "10"));
    }
    assert_eq!(sim.sent, 50);
}

#[test]
fn daily_loss_halts_the_strategy_and_is_latched() {
    let mut sim = with(Limits {
        max_daily_loss: Some(m(500)),
        max_drawdown: Some(m(800)),
        ..Limits::default()
    });
    let scope = HaltScope::Strategy(a());
    assert!(sim.risk.on_pnl(&scope, m(0), sim.now).is_none());
    assert!(
        sim.risk.on_pnl(&scope, m(-500), sim.now).is_none(),
        "exactly the limit passes"
    );
    let halt = sim.risk.on_pnl(&scope, m(-501), sim.now).unwrap();
    assert_eq!(halt.reason, HaltReason::DailyLoss);
    assert_eq!(halt.detail, "day's P&L -501 is a loss beyond max daily loss 500");
    assert!(
        sim.risk.on_pnl(&scope, m(-600), sim.now).is_none(),
        "already halted"
    );
    assert_eq!(
        sim.submit(&a(), limit(0, Side::Buy, 1, "10")).unwrap_err().code,
        RejectCode::MaxDailyLoss
    );
    // Recovering does not lift it; the account-level and other strategies are unaffected.
    sim.risk.on_pnl(&scope, m(100), sim.now);
    assert!(sim.submit(&a(), limit(0, Side::Buy, 1, "10")).is_err());
    sim.submit(&b(), limit(0, Side::Buy, 1, "10")).unwrap();
}

#[test]
fn drawdown_from_the_days_peak_halts() {
    let mut sim = Sim::new(
        RiskConfig::permissive()
            .with_account(Limits {
                max_drawdown: Some(m(300)),
                ..Limits::default()
            })
            .unwrap(),
    );
    let acct = HaltScope::Account;
    sim.risk.on_pnl(&acct, m(10_000), sim.now); // baseline
    sim.risk.on_pnl(&acct, m(10_700), sim.now); // peak +700
    assert!(
        sim.risk.on_pnl(&acct, m(10_400), sim.now).is_none(),
        "300 down passes"
    );
    let h = sim.risk.on_pnl(&acct, m(10_399), sim.now).unwrap();
    assert_eq!((h.scope, h.reason), (HaltScope::Account, HaltReason::Drawdown));
    for s in [a(), b()] {
        assert_eq!(
            sim.submit(&s, limit(0, Side::Buy, 1, "10")).unwrap_err().code,
            RejectCode::MaxDrawdown
        );
    }
    sim.risk.reenable(&acct, "ops", sim.now);
    sim.submit(&a(), limit(0, Side::Buy, 1, "10")).unwrap();
}

#[test]
fn the_day_rolls_at_local_midnight() {
    let config = RiskConfig::permissive()
        .edit(|raw| raw.day_timezone = "America/New_York".into())
        .unwrap()
        .with_strategy(
            &a(),
            Limits {
                max_daily_loss: Some(m(500)),
                ..Limits::default()
            },
        )
        .unwrap();
    let mut sim = Sim::new(config); // 10:00 New York
    let s = HaltScope::Strategy(a());
    sim.risk.on_pnl(&s, m(0), sim.now);
    sim.risk.on_pnl(&s, m(-400), sim.now);
    sim.advance(14 * 3_600 * SEC); // 00:00 New York the next day
    assert!(sim.risk.on_pnl(&s, m(-800), sim.now).is_none(), "-400 today");
    assert!(sim.risk.on_pnl(&s, m(-901), sim.now).is_some());
}

#[test]
fn kill_switch_scopes_latch_and_survive_a_restart() {
    let mut sim = Sim::new(RiskConfig::permissive());
    sim.positions
        .insert((a(), wasmtrade_model::InstrumentId(0)), q(100));
    let rec = sim
        .risk
        .engage_kill_switch(&KillScope::Strategy(a()), "ops@desk", "runaway", sim.now);
    assert_eq!(rec.what, "kill_switch.strategy.alpha");
    assert!(!rec.loosens);
    assert_eq!(
        sim.submit(&a(), limit(0, Side::Buy, 1, "10")).unwrap_err().code,
        RejectCode::KillSwitch
    );
    sim.submit(&a(), limit(0, Side::Sell, 100, "10")).unwrap(); // flattening passes
    assert_eq!(
        sim.submit(&a(), limit(0, Side::Sell, 1, "10")).unwrap_err().code,
        RejectCode::KillSwitch,
        "but not beyond flat, counting the open sell"
    );
    sim.submit(&b(), limit(0, Side::Buy, 1, "10")).unwrap();

    // Persist, "restart", restore: still latched.
    let saved = serde_json::to_string(sim.risk.kill_switches()).unwrap();
    let mut restarted = Sim::new(RiskConfig::permissive());
    restarted
        .risk
        .restore_kill_switches(serde_json::from_str::<KillSwitchState>(&saved).unwrap());
    assert!(restarted.risk.kill_switch(&KillScope::Strategy(a())));
    assert!(restarted.submit(&a(), limit(0, Side::Buy, 1, "10")).is_err());
    let rec = restarted
        .risk
        .reset_kill_switch(&KillScope::Strategy(a()), "ops@desk", restarted.now);
    assert!(rec.loosens);
    assert!(rec.old.contains("runaway"));
    restarted.submit(&a(), limit(0, Side::Buy, 1, "10")).unwrap();

    restarted
        .risk
        .engage_kill_switch(&KillScope::Global, "ops", "drill", restarted.now);
    assert_eq!(
        restarted
            .submit(&b(), limit(0, Side::Buy, 1, "10"))
            .unwrap_err()
            .code,
        RejectCode::KillSwitch
    );
}

#[test]
fn limit_changes_return_audit_records() {
    let mut sim = with(Limits {
        max_order_quantity: Some(q(100)),
        ..Limits::default()
    });
    let rec = sim
        .risk
        .set_limits(
            &LimitScope::Strategy(a()),
            Limits {
                max_order_quantity: Some(q(200)),
                ..Limits::default()
            },
            "alice",
            sim.now,
        )
        .unwrap();
    assert_eq!(rec.who, "alice");
    assert_eq!(rec.when, sim.now);
    assert_eq!(rec.what, "strategies.alpha");
    assert!(rec.old.contains(r#""max_order_quantity":"100""#), "{}", rec.old);
    assert!(rec.new.contains(r#""max_order_quantity":"200""#), "{}", rec.new);
    assert!(rec.loosens);
    sim.submit(&a(), limit(0, Side::Buy, 150, "10")).unwrap();
    // Invalid limits are refused and change nothing.
    let err = sim
        .risk
        .set_limits(
            &LimitScope::Account,
            Limits {
                max_orders_per_second: Some(0),
                ..Limits::default()
            },
            "alice",
            sim.now,
        )
        .unwrap_err();
    assert!(err.to_string().contains("account.max_orders_per_second"));
    let tighter = sim
        .risk
        .set_limits(
            &LimitScope::Instrument("AAPL".into()),
            Limits {
                max_order_quantity: Some(q(10)),
                ..Limits::default()
            },
            "bob",
            sim.now,
        )
        .unwrap();
    assert!(!tighter.loosens);
    assert_eq!(tighter.old, "null");
    assert_eq!(
        sim.submit(&a(), limit(0, Side::Buy, 11, "10")).unwrap_err().code,
        RejectCode::MaxOrderQuantity
    );
}
