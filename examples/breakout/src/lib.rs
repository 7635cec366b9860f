//! The strategy from the README: buy once the close breaks above a
//! threshold, then hold. A walkthrough of writing, testing and backtesting a
//! guest; see `examples/README.md`.

use serde::Deserialize;
use wasmtrade_sdk::{Bar, Context, Error, Intents, OrderIntent, Side, Strategy, export_strategy};

/// Configuration, from the JSON the host passes to `init`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Buy when the close is above this price.
    pub threshold: f64,
    /// How many units to buy.
    pub quantity: f64,
}

/// Buys `quantity` the first time the close exceeds `threshold` while flat.
pub struct Breakout {
    cfg: Config,
}

impl Strategy for Breakout {
    type Config = Config;
    const NAME: &'static str = "breakout";
    const VERSION: &'static str = "0.1.0";

    fn new(cfg: Config, _ctx: &mut dyn Context) -> Result<Self, Error> {
        if !cfg.quantity.is_finite() || cfg.quantity <= 0.0 {
            return Err(Error::config("`quantity` must be positive"));
        }
        Ok(Self { cfg })
    }

    fn on_bar(&mut self, ctx: &mut dyn Context, bar: &Bar) -> Intents {
        let flat = ctx.position(bar.instrument).quantity == 0.0;
        Ok(if flat && bar.close > self.cfg.threshold {
            vec![OrderIntent::market(
                "breakout-1",
                bar.instrument,
                Side::Buy,
                self.cfg.quantity,
            )]
        } else {
            vec![]
        })
    }
}

export_strategy!(Breakout);

#[cfg(test)]
mod tests {
    use wasmtrade_sdk::InstrumentId;
    use wasmtrade_sdk::testing::{Harness, bars_from_closes};

    use super::*;

    #[test]
    fn buys_once_when_the_close_breaks_above_the_threshold() {
        let mut h = Harness::<Breakout>::new(r#"{"threshold": 105, "quantity": 10}"#).unwrap();
        h.run(bars_from_closes(
            InstrumentId(0),
            &[100.0, 104.0, 106.0, 107.0, 108.0],
        ))
        .unwrap();
        let orders = h.orders();
        assert_eq!(orders.len(), 1, "{orders:?}");
        assert_eq!(h.context().position(InstrumentId(0)).quantity, 10.0);
    }

    #[test]
    fn refuses_a_non_positive_quantity() {
        let err = Harness::<Breakout>::new(r#"{"threshold": 1, "quantity": 0}"#)
            .err()
            .unwrap();
        assert!(err.to_string().contains("quantity"), "{err}");
    }
}
