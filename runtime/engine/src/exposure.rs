//! Builds the risk engine's view of a strategy's exposure from the OMS, and
//! reports P&L to risk.

use wasmtrade_model::{InstrumentId, Money, StrategyId, Timestamp};
use wasmtrade_oms::Oms;
use wasmtrade_risk::{Engine as RiskEngine, Exposure, ExposureBuilder, HaltScope};

/// What risk needs to know about `strategy` in `instrument` at `now`. The
/// account-wide part (every working order and position) is only built when
/// a configured limit needs it.
pub fn exposure(
    oms: &Oms,
    risk: &RiskEngine,
    strategy: &StrategyId,
    instrument: InstrumentId,
    now: Timestamp,
) -> Exposure {
    let reference_price = oms.last_price(instrument);
    let reference_time = oms.last_price_time(instrument);
    if risk.config().needs_account_view() {
        let mut b = ExposureBuilder::new(strategy, instrument, now);
        for o in oms.working_orders() {
            b.working_order(o, oms.last_price(o.request.instrument));
        }
        for (s, p) in oms.positions() {
            b.position(s, p.instrument, p.quantity, p.last_price);
        }
        return b.finish(reference_price, reference_time, oms.cash());
    }
    let position = oms.position(strategy, instrument);
    let (open_buy, open_sell, _) = oms.open_exposure(strategy, instrument);
    // Cash is the account's: every strategy's open buys count against it.
    let open_buy_notional = oms.open_buy_notional();
    Exposure {
        position: position.quantity,
        open_buy,
        open_sell,
        open_buy_notional,
        reference_price,
        reference_time,
        available_cash: oms.cash(),
        now,
        ..Exposure::default()
    }
}

/// Reports the account's and each strategy's cumulative P&L (realised +
/// unrealised − commissions) to risk when a daily-loss or drawdown limit is
/// configured; logs any halt it causes.
pub fn report_pnl(oms: &Oms, risk: &mut RiskEngine, now: Timestamp) {
    if !risk.config().tracks_pnl() {
        return;
    }
    let mut halts = Vec::new();
    halts.extend(risk.on_pnl(&HaltScope::Account, oms.equity() - oms.starting_cash(), now));
    let mut current: Option<(StrategyId, Money)> = None;
    for (s, p) in oms.positions() {
        let pnl = p.realized_pnl + p.unrealized_pnl - p.commissions;
        match &mut current {
            Some((id, total)) if id == s => *total += pnl,
            _ => {
                if let Some((id, total)) = current.take() {
                    halts.extend(risk.on_pnl(&HaltScope::Strategy(id), total, now));
                }
                current = Some((s.clone(), pnl));
            }
        }
    }
    if let Some((id, total)) = current {
        halts.extend(risk.on_pnl(&HaltScope::Strategy(id), total, now));
    }
    for h in halts {
        tracing::warn!(scope = ?h.scope, reason = ?h.reason, "risk halt: {}", h.detail);
    }
}
