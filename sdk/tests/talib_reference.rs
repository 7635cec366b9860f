//! Cross-check of `wasmtrade_sdk::ta` against the TA-Lib Python package.
//!
//! Runs `tests/python/talib_reference.py` with the interpreter named by
//! `WASMTRADE_PYTHON` (one with `TA-Lib` and `numpy` installed; `make test`
//! sets it up). The script writes a deterministic 500-bar OHLC series
//! (`ohlc.csv`) and TA-Lib's outputs for it (`talib_reference.json`); this
//! test feeds the same CSV through the streaming `ta` types and compares
//! every index of every series:
//!
//! - **Warm-up:** `None` from a `ta` type ⇔ `null` (NaN) from TA-Lib.
//! - **Values:** equal within **1e-9 absolute or 1e-9 relative**
//!   (`|a - b| <= 1e-9 * max(1, |b|)`). The `ta` types perform TA-Lib's C
//!   source operations in its order. SMA, EMA, the MACD line and the
//!   Bollinger middle band come out bit-identical. RSI, ATR, the MACD signal
//!   and the Bollinger bands differ from the PyPI wheel by a few ulps: the
//!   wheel's C library is built with fast-math-style flags (RSI's
//!   `/= period` is compiled to `*= 1/period`, which reproduces the wheel
//!   exactly) and CPU-dispatched (IFUNC/FMA) variants of ATR and BBANDS. The
//!   Bollinger bands amplify that to ~1.5e-11 through `E[x²] - mean²`.
//!
//! The test fails, rather than skipping, when `WASMTRADE_PYTHON` is unset.

#![allow(
    clippy::unwrap_used,
    missing_docs,
    reason = "a test fails loudly on an unexpected error"
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use wasmtrade_sdk::ta::{Atr, Bollinger, Ema, Macd, Rsi, Sma};

const TOLERANCE: f64 = 1e-9;

struct Ohlc {
    high: Vec<f64>,
    low: Vec<f64>,
    close: Vec<f64>,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Runs the reference script into a fresh directory and returns it.
fn run_reference_script() -> PathBuf {
    let python = std::env::var_os("WASMTRADE_PYTHON").unwrap_or_else(|| {
        panic!("set WASMTRADE_PYTHON to a python with TA-Lib, or run `make test`");
    });
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("talib_reference");
    let script = workspace_root().join("tests/python/talib_reference.py");
    let status = Command::new(&python)
        .arg(&script)
        .arg(&out)
        .status()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} {}: {e}",
                python.to_string_lossy(),
                script.display()
            )
        });
    assert!(
        status.success(),
        "{} failed ({status}); is TA-Lib installed in that python?",
        script.display()
    );
    out
}

fn read_csv(path: &Path) -> Ohlc {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (h, l, c) = (col("high"), col("low"), col("close"));
    let mut ohlc = Ohlc {
        high: vec![],
        low: vec![],
        close: vec![],
    };
    for (n, line) in lines.enumerate() {
        let fields: Vec<f64> = line
            .split(',')
            .map(|f| {
                f.parse()
                    .unwrap_or_else(|e| panic!("{}:{}: {e}", path.display(), n + 2))
            })
            .collect();
        ohlc.high.push(fields[h]);
        ohlc.low.push(fields[l]);
        ohlc.close.push(fields[c]);
    }
    ohlc
}

fn read_reference(path: &Path) -> BTreeMap<String, Vec<Option<f64>>> {
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    eprintln!(
        "reference: TA-Lib python {} / C {}",
        json["talib"], json["ta_lib_c"]
    );
    serde_json::from_value(json["series"].clone()).unwrap()
}

/// Compares one series; returns the largest absolute difference.
fn compare(name: &str, ours: &[Option<f64>], talib: &[Option<f64>]) -> f64 {
    assert_eq!(ours.len(), talib.len(), "{name}: length");
    let mut max_diff = 0.0f64;
    for (i, (a, b)) in ours.iter().zip(talib).enumerate() {
        match (a, b) {
            (None, None) => {}
            (Some(a), Some(b)) => {
                let diff = (a - b).abs();
                assert!(
                    diff <= TOLERANCE * b.abs().max(1.0),
                    "{name}[{i}]: ours {a:e}, TA-Lib {b:e}"
                );
                max_diff = max_diff.max(diff);
            }
            _ => panic!("{name}[{i}]: ours {a:?}, TA-Lib {b:?} (lookback differs)"),
        }
    }
    max_diff
}

fn series<T>(xs: &[f64], mut f: impl FnMut(f64) -> Option<T>) -> Vec<Option<T>> {
    xs.iter().map(|&x| f(x)).collect()
}

fn pick<T: Copy>(v: &[Option<T>], f: impl Fn(T) -> f64) -> Vec<Option<f64>> {
    v.iter().map(|o| o.map(&f)).collect()
}

#[test]
fn ta_matches_talib_on_500_bars() {
    let dir = run_reference_script();
    let bars = read_csv(&dir.join("ohlc.csv"));
    let reference = read_reference(&dir.join("talib_reference.json"));
    let close = &bars.close;
    assert_eq!(close.len(), 500);

    let mut ours: BTreeMap<&str, Vec<Option<f64>>> = BTreeMap::new();
    for p in [10, 30] {
        let mut sma = Sma::new(p).unwrap();
        let mut ema = Ema::new(p).unwrap();
        ours.insert(
            if p == 10 { "sma_10" } else { "sma_30" },
            series(close, |x| sma.update(x)),
        );
        ours.insert(
            if p == 10 { "ema_10" } else { "ema_30" },
            series(close, |x| ema.update(x)),
        );
    }
    let mut rsi = Rsi::new(14).unwrap();
    ours.insert("rsi_14", series(close, |x| rsi.update(x)));

    let mut macd = Macd::new(12, 26, 9).unwrap();
    let m = series(close, |x| macd.update(x));
    ours.insert("macd_12_26_9.macd", pick(&m, |v| v.macd));
    ours.insert("macd_12_26_9.signal", pick(&m, |v| v.signal));
    ours.insert("macd_12_26_9.hist", pick(&m, |v| v.histogram));

    let mut bb = Bollinger::new(20, 2.0, 2.0).unwrap();
    let b = series(close, |x| bb.update(x));
    ours.insert("bbands_20_2_2.upper", pick(&b, |v| v.upper));
    ours.insert("bbands_20_2_2.middle", pick(&b, |v| v.middle));
    ours.insert("bbands_20_2_2.lower", pick(&b, |v| v.lower));

    let mut atr = Atr::new(14).unwrap();
    let mut i = 0;
    ours.insert(
        "atr_14",
        series(close, |c| {
            let v = atr.update(bars.high[i], bars.low[i], c);
            i += 1;
            v
        }),
    );

    assert_eq!(
        ours.keys().copied().collect::<Vec<_>>(),
        reference.keys().map(String::as_str).collect::<Vec<_>>(),
        "series compared must be exactly the series TA-Lib produced"
    );
    for (name, values) in &ours {
        let max_diff = compare(name, values, &reference[*name]);
        let first = values.iter().position(Option::is_some).unwrap();
        eprintln!("{name:<22} first output at index {first:>3}, max |ours - TA-Lib| = {max_diff:e}");
    }
}
