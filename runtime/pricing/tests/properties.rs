//! Properties on random valid inputs: no NaN, the no-arbitrage bounds,
//! put-call parity and the implied-volatility round trip.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a test failure with a location"
)]

use proptest::prelude::*;
use wasmtrade_pricing::{BsmInputs, ImpliedVolError, Right};

fn inputs() -> impl Strategy<Value = BsmInputs> {
    (
        -3.0..3.0_f64,  // log10 spot
        -1.2..1.2_f64,  // ln(strike/spot): 0.3× to 3.3×
        -0.05..0.3_f64, // rate
        -0.05..0.1_f64, // dividend
        0.0..3.0_f64,   // vol
        -2.6..1.5_f64,  // log10 time: ~1 day to ~30 years
        any::<bool>(),
    )
        .prop_map(|(s, k, rate, dividend, vol, t, call)| {
            let spot = 10f64.powf(s);
            BsmInputs {
                spot,
                strike: spot * k.exp(),
                rate,
                dividend,
                vol,
                time: 10f64.powf(t),
                right: if call { Right::Call } else { Right::Put },
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn finite_and_within_bounds(i in inputs()) {
        let g = i.greeks().unwrap();
        for v in [g.price, g.delta, g.gamma, g.theta, g.vega, g.rho, g.dividend_rho] {
            prop_assert!(v.is_finite(), "{i:?}: {g:?}");
        }
        let sq = i.spot * (-i.dividend * i.time).exp();
        let kr = i.strike * (-i.rate * i.time).exp();
        let (lower, upper) = match i.right {
            Right::Call => ((sq - kr).max(0.0), sq),
            Right::Put => ((kr - sq).max(0.0), kr),
        };
        let ulps = 8.0 * f64::EPSILON * sq.max(kr);
        prop_assert!(g.price >= lower - ulps && g.price <= upper + ulps, "{i:?}: {g:?}");
        prop_assert!(g.gamma >= 0.0 && g.vega >= 0.0);
        // |delta| ≤ e^(−qt), which exceeds 1 for a negative yield
        let df = (-i.dividend * i.time).exp() * (1.0 + 4.0 * f64::EPSILON);
        match i.right {
            Right::Call => prop_assert!((0.0..=df).contains(&g.delta), "{i:?}: {g:?}"),
            Right::Put => prop_assert!((-df..=0.0).contains(&g.delta), "{i:?}: {g:?}"),
        }
    }

    #[test]
    fn put_call_parity(i in inputs()) {
        let call = BsmInputs { right: Right::Call, ..i }.price().unwrap();
        let put = BsmInputs { right: Right::Put, ..i }.price().unwrap();
        let sq = i.spot * (-i.dividend * i.time).exp();
        let kr = i.strike * (-i.rate * i.time).exp();
        prop_assert!((call - put - (sq - kr)).abs() <= 8.0 * f64::EPSILON * sq.max(kr), "{i:?}");
    }

    #[test]
    fn implied_vol_round_trips(i in inputs()) {
        let price = i.price().unwrap();
        let sq = i.spot * (-i.dividend * i.time).exp();
        let kr = i.strike * (-i.rate * i.time).exp();
        match i.implied_vol(price) {
            Ok(iv) => {
                let again = BsmInputs { vol: iv, ..i }.price().unwrap();
                // ~1e-8 relative is the value formula's own accuracy for the
                // deepest out-of-the-money values (see the unit tests)
                let tol = 1e-8 * price + 8.0 * f64::EPSILON * sq.max(kr) + 1e-290;
                prop_assert!((again - price).abs() <= tol, "{i:?}: {price:e} -> {iv} -> {again:e}");
            }
            // only when the distance to the bound is lost in its rounding
            Err(ImpliedVolError::AboveUpperBound { bound, .. }) => {
                prop_assert!(price >= bound * (1.0 - 4.0 * f64::EPSILON), "{i:?}");
            }
            Err(e) => prop_assert!(false, "{i:?}: {e}"),
        }
    }
}
