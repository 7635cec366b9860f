//! The host's option pricing (`wasmtrade-pricing`) agrees with QuantLib
//! (its Python package, run here by `tests/python/quantlib_greeks.py`) on
//! the price and every greek, over a grid of spot, strike, volatility,
//! rate, dividend yield and time (one day to five years), calls and puts:
//! 15 552 options.
//!
//! Tolerance: `|ours − QuantLib| ≤ 1e-6·|QuantLib| + floor`, with the
//! floor 1e-12 in the greek's natural unit (spot for price, theta and the
//! rhos, vega; 1 for delta; 1/spot for gamma; times the larger of spot and
//! strike where the value is a multiple of them). Why a floor: far from the
//! money a value is a difference of two nearly equal terms (`S·N(d1)` and
//! `K·N(d2)`, or theta's three terms in QuantLib, which computes it from
//! the Black-Scholes equation), and QuantLib's normal distribution is
//! `(1 + erf(x/√2))/2`, exact to ~1e-16 absolute, not relative, above
//! 1e-8. So a value near zero is known to ~1e-16 of its scale at best; 1e-12
//! of the scale is four orders of magnitude above that and eight below
//! anything that matters. Away from zero the 1e-6 relative bound is what
//! is checked: the measured worst relative errors are printed (run with
//! `--nocapture`).

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use wasmtrade_e2e::{python, workspace_root};
use wasmtrade_pricing::{BsmInputs, Greeks, Right};

const SPOTS: &[f64] = &[100.0, 42.0];
const STRIKE_RATIOS: &[f64] = &[0.3, 0.5, 0.8, 0.95, 1.0, 1.05, 1.25, 2.0, 3.0];
const VOLS: &[f64] = &[0.01, 0.05, 0.2, 0.5, 1.0, 3.0];
const RATES: &[f64] = &[-0.01, 0.0, 0.03, 0.1];
const DIVIDENDS: &[f64] = &[-0.01, 0.0, 0.02];
const TIMES: &[f64] = &[1.0 / 365.0, 7.0 / 365.0, 30.0 / 365.0, 0.25, 1.0, 5.0];

const RELATIVE: f64 = 1e-6;
const FLOOR: f64 = 1e-12;

const NAMES: [&str; 7] = ["price", "delta", "gamma", "theta", "vega", "rho", "dividend_rho"];

fn grid() -> Vec<BsmInputs> {
    let mut out = Vec::new();
    for &spot in SPOTS {
        for &k in STRIKE_RATIOS {
            for &vol in VOLS {
                for &rate in RATES {
                    for &dividend in DIVIDENDS {
                        for &time in TIMES {
                            for right in [Right::Call, Right::Put] {
                                out.push(BsmInputs {
                                    spot,
                                    strike: spot * k,
                                    rate,
                                    dividend,
                                    vol,
                                    time,
                                    right,
                                });
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

fn values(g: &Greeks) -> [f64; 7] {
    [g.price, g.delta, g.gamma, g.theta, g.vega, g.rho, g.dividend_rho]
}

/// The natural unit of each greek (see the module's doc).
fn scales(i: &BsmInputs) -> [f64; 7] {
    let money = i.spot.max(i.strike);
    [money, 1.0, 1.0 / i.spot, money, money, money, money]
}

fn quantlib(grid: &[BsmInputs]) -> (String, Vec<[f64; 7]>) {
    let options: Vec<Value> = grid
        .iter()
        .map(|i| {
            json!({
                "right": match i.right { Right::Call => "call", Right::Put => "put" },
                "spot": i.spot,
                "strike": i.strike,
                "rate": i.rate,
                "dividend": i.dividend,
                "vol": i.vol,
                "time": i.time,
            })
        })
        .collect();
    let script = workspace_root().join("tests/python/quantlib_greeks.py");
    let mut child = Command::new(python().unwrap())
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = serde_json::to_vec(&options).unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "{} failed (is QuantLib installed? `make python`): {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| NAMES.map(|n| r[n].as_f64().unwrap_or_else(|| panic!("{n} of {r}"))))
        .collect();
    (doc["quantlib"].as_str().unwrap_or("?").to_owned(), results)
}

#[test]
fn greeks_match_quantlib() {
    let grid = grid();
    let (version, reference) = quantlib(&grid);
    assert_eq!(reference.len(), grid.len());
    let mut worst = [0.0_f64; 7];
    let (mut near_zero, mut worst_near_zero) = (0, 0.0_f64);
    let mut failures = Vec::new();
    for (i, theirs) in grid.iter().zip(&reference) {
        let ours = values(&i.greeks().unwrap());
        let scale = scales(i);
        for k in 0..7 {
            let (a, b) = (ours[k], theirs[k]);
            assert!(
                a.is_finite() && b.is_finite(),
                "{} of {i:?}: ours {a}, QuantLib {b}",
                NAMES[k]
            );
            let err = (a - b).abs();
            let floor = FLOOR * scale[k];
            if err > RELATIVE * b.abs() + floor {
                failures.push(format!("{} of {i:?}: ours {a:e}, QuantLib {b:e}", NAMES[k]));
            }
            if b.abs() > 1e6 * floor {
                worst[k] = worst[k].max(err / b.abs());
            } else {
                near_zero += 1;
                worst_near_zero = worst_near_zero.max(err / scale[k]);
            }
        }
    }
    let report: Vec<String> = NAMES
        .iter()
        .zip(worst)
        .map(|(n, w)| format!("{n} {w:.1e}"))
        .collect();
    println!(
        "QuantLib {version}, {} options: worst relative error (values above 1e6 × floor): {}; \
         {near_zero} values below that, worst error there {worst_near_zero:.1e} of the scale",
        grid.len(),
        report.join(", ")
    );
    assert!(
        failures.is_empty(),
        "{} disagreements with QuantLib {version}, first ones:\n{}",
        failures.len(),
        failures[..failures.len().min(20)].join("\n")
    );
}
