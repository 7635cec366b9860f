#!/usr/bin/env python3
"""QuantLib's Black-Scholes-Merton prices and greeks, the reference for
wasmtrade-pricing (tests/tests/e2e/quantlib_greeks.rs).

Usage: quantlib_greeks.py [GRID_JSON]   (the grid on stdin without an argument)

The grid is a JSON array of options:

    [{"right": "call"|"put", "spot": S, "strike": K, "rate": r,
      "dividend": q, "vol": sigma, "time": t}, ...]

with t in years (> 0) and r, q continuously compounded. Prints one JSON
object to stdout:

    {"quantlib": "<version>",
     "results": [{"price": ..., "delta": ..., "gamma": ..., "theta": ...,
                  "vega": ..., "rho": ..., "dividend_rho": ...}, ...]}

in the grid's order. Floats are printed with repr, so they round-trip.

Why BlackCalculator and not AnalyticEuropeanEngine on a
BlackScholesMertonProcess: the engine takes dates and a day counter, so the
time to expiry would be a whole number of days (to the rounding of
Actual365Fixed); BlackCalculator is the engine's own kernel and takes the
time directly. It is fed exactly what the engine feeds it:

    forward  = spot * exp(-q t) / exp(-r t)   (the engine's dividend and
    discount = exp(-r t)                       risk-free discount factors)
    stdDev   = sqrt(vol * vol * t)           (sqrt of the black variance)

and its greeks are the engine's: delta(spot), gamma(spot),
theta(spot, t) (per year), vega(t), rho(t), dividendRho(t) (per unit of
vol / rate / yield).

Needs `QuantLib` (pip install QuantLib; the wheels bundle the C++ library).
"""

import json
import math
import sys

import QuantLib as ql


def greeks(option: dict) -> dict:
    """QuantLib's value and greeks of one European option."""
    right = {"call": ql.Option.Call, "put": ql.Option.Put}[option["right"]]
    spot = float(option["spot"])
    strike = float(option["strike"])
    rate = float(option["rate"])
    dividend = float(option["dividend"])
    vol = float(option["vol"])
    t = float(option["time"])
    if not t > 0.0:
        raise ValueError(f"time must be positive: {option}")
    discount = math.exp(-rate * t)
    dividend_discount = math.exp(-dividend * t)
    forward = spot * dividend_discount / discount
    std_dev = math.sqrt(vol * vol * t)
    black = ql.BlackCalculator(ql.PlainVanillaPayoff(right, strike), forward, std_dev, discount)
    return {
        "price": black.value(),
        "delta": black.delta(spot),
        "gamma": black.gamma(spot),
        "theta": black.theta(spot, t),
        "vega": black.vega(t),
        "rho": black.rho(t),
        "dividend_rho": black.dividendRho(t),
    }


def main() -> None:
    if len(sys.argv) > 2:
        sys.exit("usage: quantlib_greeks.py [GRID_JSON]")
    if len(sys.argv) == 2:
        with open(sys.argv[1], encoding="utf-8") as f:
            grid = json.load(f)
    else:
        grid = json.load(sys.stdin)
    results = [greeks(option) for option in grid]
    json.dump({"quantlib": ql.__version__, "results": results}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
