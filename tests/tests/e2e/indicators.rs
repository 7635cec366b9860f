//! The indicator guests, run as wasm components by the host, reproduce
//! TA-Lib (its Python package, run here) on the same bars.
//!
//! Tolerance: 1e-9 absolute or relative, the same as the SDK's native
//! cross-check (`sdk/tests/talib_reference.rs`, which explains the last-bit
//! differences of TA-Lib's fast-math build).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is a test failure with a location"
)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use wasmtrade_e2e::{guest_bytes, python, workspace_root};
use wasmtrade_host::{GuestEngine, HostConfig};
use wasmtrade_model::{
    Bar, GuestContext, IndicatorGuest, InstrumentId, Instruments, Price, Quantity, Timestamp,
};

fn reference() -> (Vec<Bar>, BTreeMap<String, Vec<Option<f64>>>) {
    let dir = tempfile::tempdir().unwrap();
    let script = workspace_root().join("tests/python/talib_reference.py");
    let out = Command::new(python().unwrap())
        .arg(&script)
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bars = read_ohlc(&dir.path().join("ohlc.csv"));
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("talib_reference.json")).unwrap()).unwrap();
    (bars, serde_json::from_value(json["series"].clone()).unwrap())
}

fn read_ohlc(path: &Path) -> Vec<Bar> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .skip(1)
        .enumerate()
        .map(|(i, line)| {
            let v: Vec<Price> = line.split(',').map(|x| x.parse().unwrap()).collect();
            Bar {
                instrument: InstrumentId(0),
                ts: Timestamp::from_secs(i as i64 * 86_400),
                open: v[0],
                high: v[1],
                low: v[2],
                close: v[3],
                volume: Quantity::from_int(1),
            }
        })
        .collect()
}

fn run(guest: &str, config: &str, bars: &[Bar]) -> (Vec<String>, Vec<Option<Vec<f64>>>) {
    let mut instruments = Instruments::new();
    instruments.intern("X");
    let host = GuestEngine::new(HostConfig::default()).unwrap();
    let module = host.load_indicator(&guest_bytes(guest).unwrap()).unwrap();
    let mut ind = module
        .instantiate(GuestContext::new(Arc::new(instruments), 1), config)
        .unwrap();
    let outputs = ind.outputs().to_vec();
    (outputs, bars.iter().map(|b| ind.update(b).unwrap()).collect())
}

fn assert_close(name: &str, ours: Vec<Option<f64>>, talib: &[Option<f64>]) {
    assert_eq!(ours.len(), talib.len(), "{name}: length");
    for (i, (a, b)) in ours.iter().zip(talib).enumerate() {
        match (a, b) {
            (None, None) => {}
            (Some(a), Some(b)) => {
                let tol = 1e-9 * b.abs().max(1.0);
                assert!((a - b).abs() <= tol, "{name}[{i}]: wasm {a} vs TA-Lib {b}");
            }
            _ => panic!("{name}[{i}]: warm-up differs: wasm {a:?} vs TA-Lib {b:?}"),
        }
    }
}

fn column(values: &[Option<Vec<f64>>], k: usize) -> Vec<Option<f64>> {
    values.iter().map(|v| v.as_ref().map(|v| v[k])).collect()
}

#[test]
fn wasm_indicator_guests_match_talib() {
    let (bars, series) = reference();
    assert_eq!(bars.len(), 500);
    for (guest, config, key) in [
        ("sma", r#"{"period":10}"#, "sma_10"),
        ("sma", r#"{"period":30}"#, "sma_30"),
        ("ema", r#"{"period":10}"#, "ema_10"),
        ("ema", r#"{"period":30}"#, "ema_30"),
        ("rsi", r#"{"period":14}"#, "rsi_14"),
        ("atr", r#"{"period":14}"#, "atr_14"),
    ] {
        let (outputs, values) = run(guest, config, &bars);
        assert_eq!(outputs.len(), 1, "{guest} outputs");
        assert_close(key, column(&values, 0), &series[key]);
    }
    let (outputs, values) = run("macd", r#"{"fast":12,"slow":26,"signal":9}"#, &bars);
    assert_eq!(outputs, ["macd", "signal", "histogram"]);
    for (k, key) in ["macd_12_26_9.macd", "macd_12_26_9.signal", "macd_12_26_9.hist"]
        .iter()
        .enumerate()
    {
        assert_close(key, column(&values, k), &series[*key]);
    }
    let (outputs, values) = run(
        "bollinger",
        r#"{"period":20,"nbdev_up":2.0,"nbdev_down":2.0}"#,
        &bars,
    );
    assert_eq!(outputs, ["upper", "middle", "lower"]);
    for (k, key) in [
        "bbands_20_2_2.upper",
        "bbands_20_2_2.middle",
        "bbands_20_2_2.lower",
    ]
    .iter()
    .enumerate()
    {
        assert_close(key, column(&values, k), &series[*key]);
    }
}

#[test]
fn indicator_values_reach_a_strategy_through_the_engine() {
    // The engine stores each indicator's latest values in every strategy's
    // context under the indicator's name.
    let mut instruments = Instruments::new();
    instruments.intern("X");
    let instruments = Arc::new(instruments);
    let host = GuestEngine::new(HostConfig::default()).unwrap();
    let module = host.load_indicator(&guest_bytes("sma").unwrap()).unwrap();
    let ind = module
        .instantiate(GuestContext::new(instruments.clone(), 1), r#"{"period":3}"#)
        .unwrap();
    let strategy = host.load_strategy(&guest_bytes("sma_cross").unwrap()).unwrap();
    let guest = strategy
        .instantiate(
            GuestContext::new(instruments.clone(), 1),
            r#"{"fast":2,"slow":3}"#,
        )
        .unwrap();
    let mut engine = wasmtrade_engine::Engine::new(
        instruments,
        wasmtrade_risk::Engine::new(wasmtrade_risk::RiskConfig::default()),
        wasmtrade_oms::Oms::new(wasmtrade_model::Money::from_int(1000)),
        wasmtrade_broker::paper::PaperBroker::new(wasmtrade_broker::paper::PaperConfig::default()),
        wasmtrade_engine::EngineConfig::default(),
    );
    engine.add_indicator("sma3".into(), Box::new(ind)).unwrap();
    engine
        .add_strategy(wasmtrade_model::StrategyId::new("s"), Box::new(guest))
        .unwrap();
    for (i, c) in [10, 11, 12, 13].into_iter().enumerate() {
        let p = Price::from_int(c);
        let bar = Bar {
            instrument: InstrumentId(0),
            ts: Timestamp::from_secs(i as i64 * 60),
            open: p,
            high: p,
            low: p,
            close: p,
            volume: Quantity::from_int(1),
        };
        engine.on_bar(&bar).unwrap();
    }
    let slot = engine
        .strategy_mut(&wasmtrade_model::StrategyId::new("s"))
        .unwrap();
    assert_eq!(
        slot.guest.context().indicator("sma3", InstrumentId(0)),
        Some(&[12.0][..])
    );
}
