//! Builds the risk engine's view of a strategy's exposure from the OMS.

use wasmtrade_model::{InstrumentId, StrategyId};
use wasmtrade_oms::Oms;
use wasmtrade_risk::Exposure;

/// What risk needs to know about `strategy` in `instrument`.
pub fn exposure(oms: &Oms, strategy: &StrategyId, instrument: InstrumentId) -> Exposure {
    let position = oms.position(strategy, instrument);
    let (open_buy, open_sell, _) = oms.open_exposure(strategy, instrument);
    // Cash is the account's: every strategy's open buys count against it.
    let open_buy_notional = oms.open_buy_notional();
    Exposure {
        position: position.quantity,
        open_buy,
        open_sell,
        open_buy_notional,
        reference_price: oms.last_price(instrument),
        available_cash: oms.cash(),
    }
}
