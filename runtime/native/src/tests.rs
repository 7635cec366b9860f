use std::sync::Arc;

use serde::{Deserialize, Serialize};
use wasmtrade_model::{
    ClientOrderId, Instruments, Money, OrderId, Price, Quantity, RawIntent, RawOrderType, RejectCode,
    Rejection, Side, StrategyId, TimeInForce,
};
use wasmtrade_sdk as sdk;
use wasmtrade_sdk::{Context, Error as SdkError, Intents as SdkIntents, OrderIntent, state};

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    above: f64,
}

#[derive(Serialize, Deserialize)]
struct Threshold {
    above: f64,
    orders: u32,
    fills: u32,
}

impl Strategy for Threshold {
    type Config = Config;
    const NAME: &'static str = "threshold";
    const VERSION: &'static str = "2.0.0";
    fn new(config: Config, ctx: &mut dyn Context) -> Result<Self, SdkError> {
        if config.above <= 0.0 {
            return Err(SdkError::config("`above` must be positive"));
        }
        ctx.info("started");
        Ok(Self {
            above: config.above,
            orders: 0,
            fills: 0,
        })
    }
    fn on_bar(&mut self, ctx: &mut dyn Context, bar: &sdk::Bar) -> SdkIntents {
        if bar.close == 666.0 {
            panic!("cursed close");
        }
        if bar.close < 0.0 {
            return Err(SdkError::new("negative close"));
        }
        if bar.close <= self.above || !ctx.position(bar.instrument).is_flat() {
            return Ok(vec![]);
        }
        self.orders += 1;
        Ok(vec![OrderIntent::market(
            format!("t-{}", self.orders),
            bar.instrument,
            sdk::Side::Buy,
            2.0,
        )])
    }
    fn on_fill(&mut self, _: &mut dyn Context, fill: &sdk::Fill) -> SdkIntents {
        self.fills += 1;
        Ok(vec![OrderIntent::cancel(fill.client_id.clone())])
    }
    fn on_reject(&mut self, ctx: &mut dyn Context, r: &sdk::Reject) -> SdkIntents {
        ctx.warn(&format!("{}: {}", r.code, r.message));
        Ok(vec![])
    }
    fn snapshot(&self) -> Result<Vec<u8>, SdkError> {
        state::encode(self)
    }
    fn restore(&mut self, bytes: &[u8]) -> Result<(), SdkError> {
        *self = state::decode(bytes)?;
        Ok(())
    }
}

fn ctx() -> GuestContext {
    let mut instruments = Instruments::new();
    instruments.intern("AAPL");
    GuestContext::new(Arc::new(instruments), 1)
}

fn bar(close: &str) -> Bar {
    let p: Price = close.parse().unwrap();
    Bar {
        instrument: wasmtrade_model::InstrumentId(0),
        ts: Timestamp::from_secs(60),
        open: p,
        high: p,
        low: p,
        close: p,
        volume: Quantity::from_int(10),
    }
}

fn guest() -> NativeStrategy<Threshold> {
    NativeStrategy::new(ctx(), r#"{"above": 100}"#).unwrap()
}

#[test]
fn config_that_does_not_parse_is_a_typed_config_error() {
    let Err(err) = NativeStrategy::<Threshold>::new(ctx(), r#"{"abov": 1}"#) else {
        panic!("accepted")
    };
    assert!(matches!(
        err,
        Error::Config {
            guest: "threshold",
            ..
        }
    ));
    assert!(
        err.to_string()
            .starts_with("guest threshold: invalid config: unknown field `abov`"),
        "{err}"
    );
}

#[test]
fn a_guest_refusing_its_config_is_an_init_error() {
    let Err(err) = NativeStrategy::<Threshold>::new(ctx(), r#"{"above": -1}"#) else {
        panic!("accepted")
    };
    assert_eq!(
        err,
        Error::Init {
            guest: "threshold",
            message: "invalid config: `above` must be positive".into()
        }
    );
}

#[test]
fn info_reports_name_version_sdk_and_contract() {
    let g = guest();
    let info = g.info();
    assert_eq!(
        (info.name.as_str(), info.version.as_str()),
        ("threshold", "2.0.0")
    );
    assert_eq!(info.sdk_version, sdk::SDK_VERSION);
    assert_eq!(info.contract_version, "0.1.0");
}

#[test]
fn bars_produce_raw_intents_and_construction_logs_reach_the_context() {
    let mut g = guest();
    assert!(g.on_bar(&bar("99.5")).unwrap().is_empty());
    let intents = g.on_bar(&bar("100.25")).unwrap();
    assert_eq!(
        intents,
        vec![RawIntent::Submit {
            client_id: "t-1".into(),
            instrument: 0,
            side: Side::Buy,
            quantity: 2.0,
            order_type: RawOrderType::Market,
            tif: TimeInForce::Gtc,
        }]
    );
    assert_eq!(g.context().logs[0].message, "started");
}

#[test]
fn strategies_read_positions_from_the_engine_context() {
    let mut g = guest();
    g.context().positions.insert(
        wasmtrade_model::InstrumentId(0),
        wasmtrade_model::PositionView {
            quantity: 2.0,
            ..Default::default()
        },
    );
    assert!(g.on_bar(&bar("150")).unwrap().is_empty());
}

#[test]
fn fills_and_rejects_reach_the_strategy() {
    let mut g = guest();
    let fill = Fill {
        order_id: OrderId(3),
        strategy: StrategyId::new("s"),
        client_id: ClientOrderId::new("t-1"),
        instrument: wasmtrade_model::InstrumentId(0),
        side: Side::Buy,
        quantity: Quantity::from_int(2),
        price: Price::from_int(101),
        commission: Money::ZERO,
        ts: Timestamp::from_secs(61),
        exec_id: "x".into(),
    };
    assert_eq!(
        g.on_fill(&fill).unwrap(),
        vec![RawIntent::Cancel {
            client_id: "t-1".into()
        }]
    );
    assert_eq!(g.strategy().fills, 1);
    let notice = RejectNotice {
        strategy: StrategyId::new("s"),
        client_id: ClientOrderId::new("t-2"),
        order_id: None,
        rejection: Rejection::new(RejectCode::MaxPosition, "limit 10"),
        ts: Timestamp::from_secs(62),
    };
    g.on_reject(&notice).unwrap();
    assert_eq!(g.context().logs.last().unwrap().message, "max-position: limit 10");
}

#[test]
fn returned_errors_and_panics_become_guest_faults() {
    let mut g = guest();
    assert_eq!(
        g.on_bar(&bar("-1")).unwrap_err(),
        GuestFault::Returned {
            message: "negative close".into()
        }
    );
    let fault = g.on_bar(&bar("666")).unwrap_err();
    assert_eq!(fault.kind(), "trap");
    assert!(fault.to_string().contains("cursed close"), "{fault}");
}

#[test]
fn snapshot_restores_into_a_fresh_instance() {
    let mut g = guest();
    g.on_bar(&bar("101")).unwrap();
    let state = g.snapshot().unwrap();
    let mut fresh = guest();
    fresh.restore(&state).unwrap();
    assert_eq!(fresh.strategy().orders, 1);
    assert_eq!(fresh.restore(b"nope").unwrap_err().kind(), "returned");
}

#[derive(Deserialize)]
struct RangeConfig {
    #[serde(default = "one")]
    scale: f64,
}

fn one() -> f64 {
    1.0
}

struct Range {
    scale: f64,
    seen: u32,
}

impl Indicator for Range {
    type Config = RangeConfig;
    const NAME: &'static str = "range";
    const VERSION: &'static str = "0.3.0";
    fn new(config: RangeConfig) -> Result<Self, SdkError> {
        Ok(Self {
            scale: config.scale,
            seen: 0,
        })
    }
    fn outputs(&self) -> Vec<String> {
        vec!["range".into()]
    }
    fn update(&mut self, bar: &sdk::Bar) -> Option<Vec<f64>> {
        self.seen += 1;
        (self.seen > 1).then(|| vec![(bar.high - bar.low) * self.scale])
    }
}

#[test]
fn indicators_warm_up_then_return_values() {
    let mut ind = NativeIndicator::<Range>::new(ctx(), "").unwrap();
    assert_eq!(ind.outputs(), ["range"]);
    assert_eq!(ind.info().name, "range");
    let mut b = bar("10");
    b.high = Price::from_int(12);
    assert_eq!(ind.update(&b).unwrap(), None);
    assert_eq!(ind.update(&b).unwrap(), Some(vec![2.0]));
    assert_eq!(ind.snapshot().unwrap_err().kind(), "returned");
    assert_eq!(ind.indicator().seen, 2);
}
