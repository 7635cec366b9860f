//! Unit tests of prices, greeks and implied volatility on a wide grid.

use super::*;

const STRIKE_RATIOS: &[f64] = &[0.3, 0.5, 0.7, 0.9, 0.97, 1.0, 1.03, 1.1, 1.5, 2.0, 3.0];
const VOLS: &[f64] = &[0.01, 0.05, 0.1, 0.2, 0.4, 0.8, 1.5, 3.0];
const RATES: &[f64] = &[-0.02, 0.0, 0.05, 0.25];
const DIVIDENDS: &[f64] = &[-0.01, 0.0, 0.03];
const TIMES: &[f64] = &[1.0 / 365.0, 7.0 / 365.0, 30.0 / 365.0, 0.25, 1.0, 5.0, 30.0];
const SPOT: f64 = 100.0;

/// Every combination of the grid, calls and puts.
fn grid() -> Vec<BsmInputs> {
    let mut out = Vec::new();
    for &k in STRIKE_RATIOS {
        for &vol in VOLS {
            for &rate in RATES {
                for &dividend in DIVIDENDS {
                    for &time in TIMES {
                        for right in [Right::Call, Right::Put] {
                            out.push(BsmInputs {
                                spot: SPOT,
                                strike: SPOT * k,
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
    out
}

fn all_finite(g: &Greeks) -> bool {
    [g.price, g.delta, g.gamma, g.theta, g.vega, g.rho, g.dividend_rho]
        .iter()
        .all(|v| v.is_finite())
}

fn with_right(i: &BsmInputs, right: Right) -> BsmInputs {
    BsmInputs { right, ..*i }
}

#[test]
fn grid_has_no_nan_and_respects_the_bounds() {
    for i in grid() {
        let g = i.greeks().unwrap();
        assert!(all_finite(&g), "{i:?}: {g:?}");
        let c = Contract::new(&i);
        assert!(
            g.price >= c.intrinsic() && g.price <= c.upper_bound(),
            "{i:?}: {g:?}"
        );
        assert!(g.gamma >= 0.0 && g.vega >= 0.0, "{i:?}: {g:?}");
        assert_eq!(g.price, i.price().unwrap());
    }
}

#[test]
fn put_call_parity() {
    for i in grid().into_iter().filter(|i| i.right == Right::Call) {
        let call = i.greeks().unwrap();
        let put = with_right(&i, Right::Put).greeks().unwrap();
        let c = Contract::new(&i);
        let scale = c.spot_pv.max(c.strike_pv);
        let forward = c.spot_pv - c.strike_pv;
        let tol = 8.0 * f64::EPSILON * scale;
        assert!((call.price - put.price - forward).abs() <= tol, "{i:?}");
        assert!(
            (call.delta - put.delta - c.df_div).abs() <= 4.0 * f64::EPSILON,
            "{i:?}"
        );
        assert_eq!(call.gamma, put.gamma);
        assert_eq!(call.vega, put.vega);
        let t = i.time;
        assert!((call.rho - put.rho - c.strike_pv * t).abs() <= tol * t, "{i:?}");
        assert!(
            (call.dividend_rho - put.dividend_rho + c.spot_pv * t).abs() <= tol * t,
            "{i:?}"
        );
        // −∂/∂t of S·e^(−qt) − K·e^(−rt)
        let theta_forward = i.dividend * c.spot_pv - i.rate * c.strike_pv;
        let theta_tol = 16.0 * f64::EPSILON * (scale * (i.rate.abs() + i.dividend.abs()) + put.theta.abs());
        assert!(
            (call.theta - put.theta - theta_forward).abs() <= theta_tol,
            "{i:?}"
        );
    }
}

#[test]
fn monotone_in_spot_strike_and_vol() {
    for i in grid() {
        let p = i.price().unwrap();
        let up_spot = BsmInputs {
            spot: i.spot * 1.01,
            ..i
        }
        .price()
        .unwrap();
        let up_strike = BsmInputs {
            strike: i.strike * 1.01,
            ..i
        }
        .price()
        .unwrap();
        let up_vol = BsmInputs {
            vol: i.vol * 1.01,
            ..i
        }
        .price()
        .unwrap();
        // to the rounding of the intrinsic value (a few ulps of the bound)
        let c = Contract::new(&i);
        let ulps = 8.0 * f64::EPSILON * c.spot_pv.max(c.strike_pv);
        match i.right {
            Right::Call => assert!(up_spot >= p - ulps && up_strike <= p + ulps, "{i:?}"),
            Right::Put => assert!(up_spot <= p + ulps && up_strike >= p - ulps, "{i:?}"),
        }
        assert!(up_vol >= p - ulps, "{i:?}");
    }
    // strictly, where the time value is not lost to rounding
    let atm = BsmInputs {
        spot: 100.0,
        strike: 100.0,
        rate: 0.01,
        dividend: 0.0,
        vol: 0.2,
        time: 1.0,
        right: Right::Call,
    };
    let mut prev = 0.0;
    for v in 1..=300 {
        let p = BsmInputs {
            vol: f64::from(v) * 0.01,
            ..atm
        }
        .price()
        .unwrap();
        assert!(p > prev);
        prev = p;
    }
}

/// `f'(x)` by the five-point stencil.
fn derivative(f: impl Fn(f64) -> f64, x: f64, h: f64) -> f64 {
    (-f(x + 2.0 * h) + 8.0 * f(x + h) - 8.0 * f(x - h) + f(x - 2.0 * h)) / (12.0 * h)
}

#[test]
fn greeks_match_finite_differences() {
    let mut checked = 0;
    let mut worst = [0.0_f64; 6];
    for i in grid() {
        let g = i.greeks().unwrap();
        let c = Contract::new(&i);
        let p = c.point(i.vol);
        let (s, x, t) = (p.std_dev, c.log_moneyness, i.time);
        // Steps: a small change of d1 and d2, relative to how fast φ moves
        // there, and small against the parameter itself. The arguments are
        // ∂d1/∂p and ∂d2/∂p.
        let d = 1.0 + p.d1.abs().max(p.d2.abs());
        let step = |dd1: f64, dd2: f64, cap: f64| (2e-3 / (dd1.abs().max(dd2.abs()) * d)).min(cap);
        let h_spot = step(1.0 / (i.spot * s), 0.0, 0.01 * i.spot);
        let h_vol = step(
            (0.5 * s - x / s) / i.vol,
            (-0.5 * s - x / s) / i.vol,
            0.01 * i.vol,
        );
        let h_rate = step(t / s, t / s, 1e-3);
        let dd1_dt = (i.rate - i.dividend) / s - x / (2.0 * s * t) + s / (4.0 * t);
        let h_time = step(dd1_dt, dd1_dt - s / (2.0 * t), 0.01 * t);
        let price_at = |j: BsmInputs| j.price().unwrap();
        let fd = [
            derivative(|v| price_at(BsmInputs { spot: v, ..i }), i.spot, h_spot),
            derivative(
                |v| BsmInputs { spot: v, ..i }.greeks().unwrap().delta,
                i.spot,
                h_spot,
            ),
            -derivative(|v| price_at(BsmInputs { time: v, ..i }), t, h_time),
            derivative(|v| price_at(BsmInputs { vol: v, ..i }), i.vol, h_vol),
            derivative(|v| price_at(BsmInputs { rate: v, ..i }), i.rate, h_rate),
            derivative(|v| price_at(BsmInputs { dividend: v, ..i }), i.dividend, h_rate),
        ];
        let analytic = [g.delta, g.gamma, g.theta, g.vega, g.rho, g.dividend_rho];
        // rounding of the differenced values: prices to ~4 ulps of the
        // larger of S·e^(−qt), K·e^(−rt); deltas to ~4 ulps of 1
        let value_noise = 4.0 * f64::EPSILON * c.spot_pv.max(c.strike_pv);
        let noise = [
            value_noise / h_spot,
            4.0 * f64::EPSILON / h_spot,
            value_noise / h_time,
            value_noise / h_vol,
            value_noise / h_rate,
            value_noise / h_rate,
        ];
        for k in 0..6 {
            let err = (fd[k] - analytic[k]).abs();
            let tol = 1e-6 * analytic[k].abs() + 10.0 * noise[k];
            assert!(
                err <= tol,
                "greek {k} of {i:?}: analytic {} vs finite difference {} (tolerance {tol:e})",
                analytic[k],
                fd[k]
            );
            // the worst relative error where rounding is not the issue
            if analytic[k].abs() > 1e6 * noise[k] {
                worst[k] = worst[k].max(err / analytic[k].abs());
            }
        }
        checked += 1;
    }
    let worst: Vec<String> = worst.iter().map(|w| format!("{w:.1e}")).collect();
    println!(
        "{checked} points; worst relative error of delta, gamma, theta, vega, rho, dividend rho: {worst:?}"
    );
}

#[test]
fn implied_vol_round_trips_on_the_grid() {
    let mut solved = 0;
    let mut zero = 0;
    let mut at_upper = 0;
    let mut worst_price = 0.0_f64;
    let mut worst_vol = 0.0_f64;
    for i in grid() {
        let price = i.price().unwrap();
        let c = Contract::new(&i);
        let iv = match i.implied_vol(price) {
            Ok(iv) => iv,
            // only when the distance to the bound is lost in its rounding
            Err(ImpliedVolError::AboveUpperBound { bound, .. })
                if price >= bound * (1.0 - 4.0 * f64::EPSILON) =>
            {
                at_upper += 1;
                continue;
            }
            Err(e) => panic!("{i:?} at {price}: {e}"),
        };
        let again = BsmInputs { vol: iv, ..i }.price().unwrap();
        // the time value, computed without the intrinsic value's rounding
        let time_value = c.time_value(&c.point(i.vol));
        // (and below ~1e-290 the tails are subnormal, with few bits left)
        let noise = 8.0 * f64::EPSILON * c.intrinsic() + 1e-290;
        let err = (again - price).abs();
        // Deep out of the money the value formula itself is only good to
        // ~ε·|d|³/σ√t relative: the rounding of d (ε·|d|) moves a tail N(d)
        // by |d| times as much, relative, and the difference of the two
        // tails S·N(d1) − K·N(d2) amplifies that by |d|/σ√t (up to 1e-8 for
        // values below 1e-100 of the spot at 1 % vol and one day; 1e-14 at
        // the money). The round trip is as good as that, no better.
        let p = c.point(i.vol);
        let d = 1.0 + p.d1.abs().max(p.d2.abs());
        let conditioning = 1e-13 + 8.0 * f64::EPSILON * d * d * d / p.std_dev;
        assert!(
            err <= conditioning * price + noise,
            "{i:?}: price {price}, implied vol {iv}, price again {again}"
        );
        if iv == 0.0 {
            // only when the time value is lost in the intrinsic value's rounding
            assert!(
                time_value <= 4.0 * f64::EPSILON * c.upper_bound(),
                "{i:?}: {time_value}"
            );
            zero += 1;
            continue;
        }
        solved += 1;
        if d < 5.0 {
            worst_price = worst_price.max(err / price);
        }
        // σ itself where a relative change of 1e-10 in it moves the price
        // by over 100 times its rounding
        let vega = c.vega(&c.point(i.vol));
        if vega * i.vol * 1e-10 > 100.0 * (noise + 1e-14 * time_value) {
            let rel = (iv - i.vol).abs() / i.vol;
            assert!(rel <= 1e-9, "{i:?}: implied vol {iv}");
            worst_vol = worst_vol.max(rel);
        }
    }
    println!(
        "{solved} solved, {zero} without time value at f64 precision, {at_upper} at the upper bound; \
         worst relative price error {worst_price:.1e} (|d| < 4), vol error {worst_vol:.1e}"
    );
}

#[test]
fn implied_vol_of_deep_and_short_options_is_exact() {
    // one day, deep out of the money both ways, a few vols
    for &k in &[0.3, 0.5, 0.8, 1.25, 2.0, 3.0] {
        for &vol in &[0.3, 1.0, 3.0] {
            for right in [Right::Call, Right::Put] {
                let i = BsmInputs {
                    spot: 100.0,
                    strike: 100.0 * k,
                    rate: 0.03,
                    dividend: 0.01,
                    vol,
                    time: 1.0 / 365.0,
                    right,
                };
                let c = Contract::new(&i);
                let otm = (right == Right::Call) == (c.spot_pv < c.strike_pv);
                let price = i.price().unwrap();
                if otm && price > 0.0 {
                    let iv = i.implied_vol(price).unwrap();
                    assert!((iv - vol).abs() <= 1e-12 * vol, "{i:?}: {price:e} -> {iv}");
                }
            }
        }
    }
}

#[test]
fn expiry_and_zero_vol_are_the_limits() {
    let base = BsmInputs {
        spot: 100.0,
        strike: 90.0,
        rate: 0.05,
        dividend: 0.02,
        vol: 0.0,
        time: 0.5,
        right: Right::Call,
    };
    // zero vol: the discounted forward intrinsic value, delta e^(−qt)
    let g = base.greeks().unwrap();
    let (sq, kr) = (100.0 * (-0.01_f64).exp(), 90.0 * (-0.025_f64).exp());
    assert_eq!(g.price, sq - kr);
    assert_eq!(g.delta, (-0.01_f64).exp());
    assert_eq!((g.gamma, g.vega), (0.0, 0.0));
    assert!((g.theta - (0.02 * sq - 0.05 * kr)).abs() < 1e-12);
    // and the same as a tiny vol
    let tiny = BsmInputs { vol: 1e-9, ..base }.greeks().unwrap();
    assert!((tiny.price - g.price).abs() < 1e-12 && (tiny.delta - g.delta).abs() < 1e-12);
    let put = with_right(&base, Right::Put).greeks().unwrap();
    assert_eq!((put.price, put.delta, put.rho), (0.0, 0.0, 0.0));

    // expiry: intrinsic value, delta 0/½/1, no NaN
    for (k, call, delta) in [(90.0, 10.0, 1.0), (100.0, 0.0, 0.5), (110.0, 0.0, 0.0)] {
        let i = BsmInputs {
            strike: k,
            time: 0.0,
            vol: 0.3,
            ..base
        };
        let g = i.greeks().unwrap();
        assert!(all_finite(&g));
        assert_eq!((g.price, g.delta, g.gamma, g.vega), (call, delta, 0.0, 0.0));
        // the forward's drift: −∂/∂t of S·e^(−qt)·N(d1) − K·e^(−rt)·N(d2)
        assert!(
            (g.theta - delta * (0.02 * 100.0 - 0.05 * k)).abs() < 1e-12,
            "{g:?}"
        );
        let p = with_right(&i, Right::Put).greeks().unwrap();
        assert_eq!((p.price, p.delta), ((k - 100.0_f64).max(0.0), delta - 1.0));
    }

    // at the money forward with zero vol: vega is its limit S·e^(−qt)·√t·φ(0)
    let atmf = BsmInputs {
        strike: 100.0,
        rate: 0.0,
        dividend: 0.0,
        ..base
    };
    let g = atmf.greeks().unwrap();
    assert_eq!(g.price, 0.0);
    assert!((g.vega - 100.0 * 0.5_f64.sqrt() * norm_pdf(0.0)).abs() < 1e-12);
}

#[test]
fn extreme_valid_inputs_give_no_nan() {
    let spots = [1e-300, 1e-8, 1.0, 1e15];
    let vols = [0.0, 1e-300, 1e-8, 0.5, 100.0];
    let rates = [-5.0, 0.0, 5.0];
    let times = [0.0, 1e-300, 1e-8, 1.0, 100.0];
    for &spot in &spots {
        for &strike in &spots {
            for &vol in &vols {
                for &rate in &rates {
                    for &dividend in &rates {
                        for &time in &times {
                            for right in [Right::Call, Right::Put] {
                                let i = BsmInputs {
                                    spot,
                                    strike,
                                    rate,
                                    dividend,
                                    vol,
                                    time,
                                    right,
                                };
                                let g = i.greeks().unwrap();
                                assert!(
                                    [g.price, g.delta, g.theta, g.vega, g.rho, g.dividend_rho]
                                        .iter()
                                        .all(|v| v.is_finite()),
                                    "{i:?}: {g:?}"
                                );
                                // gamma may overflow to +∞ when S·σ√t underflows, never NaN
                                assert!(!g.gamma.is_nan() && g.gamma >= 0.0, "{i:?}: {g:?}");
                                match i.implied_vol(g.price) {
                                    Ok(v) => assert!((0.0..=MAX_IMPLIED_VOL).contains(&v), "{i:?}"),
                                    Err(e) => assert!(
                                        matches!(
                                            e,
                                            ImpliedVolError::AboveMaxVol { .. }
                                                | ImpliedVolError::AboveUpperBound { .. }
                                        ),
                                        "{i:?}: {e}"
                                    ),
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn invalid_inputs_name_the_field() {
    let ok = BsmInputs {
        spot: 100.0,
        strike: 100.0,
        rate: 0.01,
        dividend: 0.0,
        vol: 0.2,
        time: 1.0,
        right: Right::Call,
    };
    let cases = [
        (BsmInputs { spot: -1.0, ..ok }, Field::Spot),
        (BsmInputs { spot: 0.0, ..ok }, Field::Spot),
        (BsmInputs { spot: f64::NAN, ..ok }, Field::Spot),
        (
            BsmInputs {
                spot: f64::INFINITY,
                ..ok
            },
            Field::Spot,
        ),
        (BsmInputs { strike: -5.0, ..ok }, Field::Strike),
        (BsmInputs { strike: 2e15, ..ok }, Field::Strike),
        (BsmInputs { rate: f64::NAN, ..ok }, Field::Rate),
        (BsmInputs { rate: 6.0, ..ok }, Field::Rate),
        (BsmInputs { dividend: -7.0, ..ok }, Field::Dividend),
        (BsmInputs { vol: -0.1, ..ok }, Field::Vol),
        (BsmInputs { vol: f64::NAN, ..ok }, Field::Vol),
        (BsmInputs { vol: 101.0, ..ok }, Field::Vol),
        (BsmInputs { time: -1e-9, ..ok }, Field::Time),
        (
            BsmInputs {
                time: f64::INFINITY,
                ..ok
            },
            Field::Time,
        ),
    ];
    for (i, field) in cases {
        for result in [i.price().map(|_| ()), i.greeks().map(|_| ())] {
            let Err(PricingError::Invalid { field: got, .. }) = result else {
                panic!("{i:?} accepted");
            };
            assert_eq!(got, field, "{i:?}");
        }
        let err = i.greeks().unwrap_err().to_string();
        assert!(err.starts_with(&format!("invalid {field} ")), "{err}");
    }
    // implied vol ignores vol, checks the rest and the price
    let no_vol = BsmInputs { vol: f64::NAN, ..ok };
    assert!(no_vol.implied_vol(8.0).is_ok());
    let err = no_vol.implied_vol(f64::NAN).unwrap_err();
    assert!(
        matches!(
            err,
            ImpliedVolError::Input(PricingError::Invalid {
                field: Field::Price,
                ..
            })
        ),
        "{err}"
    );
    assert_eq!(err.to_string(), "invalid price NaN: must be finite");
    assert!(matches!(
        BsmInputs { spot: -1.0, ..no_vol }.implied_vol(8.0),
        Err(ImpliedVolError::Input(PricingError::Invalid {
            field: Field::Spot,
            ..
        }))
    ));
}

#[test]
fn implied_vol_errors_say_which_bound() {
    let call = BsmInputs {
        spot: 120.0,
        strike: 100.0,
        rate: 0.0,
        dividend: 0.0,
        vol: 0.2,
        time: 0.25,
        right: Right::Call,
    };
    // below the intrinsic value 20
    let err = call.implied_vol(19.0).unwrap_err();
    assert_eq!(
        err,
        ImpliedVolError::BelowLowerBound {
            price: 19.0,
            bound: 20.0,
            right: Right::Call
        }
    );
    assert!(
        err.to_string().contains("below the no-arbitrage lower bound 20"),
        "{err}"
    );
    // negative price of an out-of-the-money option: the bound is 0
    let otm = BsmInputs {
        strike: 150.0,
        ..call
    };
    assert!(matches!(
        otm.implied_vol(-0.01),
        Err(ImpliedVolError::BelowLowerBound { bound: 0.0, .. })
    ));
    // at and above the spot
    for price in [120.0, 130.0] {
        let err = call.implied_vol(price).unwrap_err();
        assert_eq!(
            err,
            ImpliedVolError::AboveUpperBound {
                price,
                bound: 120.0,
                right: Right::Call,
                at_expiry: false
            }
        );
        assert!(
            err.to_string()
                .contains("not below the no-arbitrage upper bound 120, the discounted forward"),
            "{err}"
        );
    }
    // a put: the discounted strike
    let put = with_right(&call, Right::Put);
    let err = put.implied_vol(100.0).unwrap_err();
    assert!(
        err.to_string().contains("the discounted strike K·e^(−rt)"),
        "{err}"
    );
    // at expiry only the intrinsic value has an implied vol (0)
    let expired = BsmInputs { time: 0.0, ..call };
    assert_eq!(expired.implied_vol(20.0), Ok(0.0));
    let err = expired.implied_vol(20.5).unwrap_err();
    assert!(matches!(
        err,
        ImpliedVolError::AboveUpperBound { at_expiry: true, .. }
    ));
    assert!(err.to_string().contains("intrinsic value at expiry"), "{err}");
    // within the bounds, but needing more than MAX_IMPLIED_VOL
    let long = BsmInputs { time: 0.01, ..otm };
    let at_max = BsmInputs {
        vol: MAX_IMPLIED_VOL,
        ..long
    }
    .price()
    .unwrap();
    let err = long.implied_vol(at_max * 1.01).unwrap_err();
    assert!(matches!(err, ImpliedVolError::AboveMaxVol { .. }), "{err}");
    assert!(err.to_string().contains("above the solver's maximum 10"), "{err}");
    // exactly the intrinsic value: 0
    assert_eq!(call.implied_vol(20.0), Ok(0.0));
}
