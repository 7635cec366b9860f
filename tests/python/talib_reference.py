#!/usr/bin/env python3
"""Reference outputs from TA-Lib for the wasmtrade `ta` module.

Usage: talib_reference.py OUT_DIR [--csv OHLC_CSV]

Without --csv, writes a deterministic OHLC series to OUT_DIR/ohlc.csv: a
geometric Brownian motion from numpy's default_rng(7), 500 bars, prices rounded
to 0.01. Then reads the CSV back (so TA-Lib sees exactly the doubles a CSV
reader parses) and writes OUT_DIR/talib_reference.json with TA-Lib's outputs,
NaN (lookback) as null:

    {"talib": "<py version>", "ta_lib_c": "<C version>", "bars": 500,
     "series": {"sma_10": [...], ...}}

Series: sma_10, sma_30, ema_10, ema_30, rsi_14, macd_12_26_9.{macd,signal,hist},
bbands_20_2_2.{upper,middle,lower} (SMA middle band), atr_14.

Needs `numpy` and `TA-Lib` (pip install TA-Lib numpy; the 0.6+ wheels bundle
the C library).
"""

import argparse
import csv
import json
import math
import pathlib
import sys

import numpy as np
import talib

BARS = 500
SEED = 7


def generate(path: pathlib.Path) -> None:
    """Writes a GBM OHLC series (daily drift 0.0002, volatility 1.5%)."""
    rng = np.random.default_rng(SEED)
    close = 100.0
    rows = []
    for _ in range(BARS):
        open_ = close
        close = open_ * math.exp(0.0002 - 0.5 * 0.015**2 + 0.015 * rng.standard_normal())
        wick_up, wick_down = np.abs(rng.standard_normal(2)) * 0.006
        high = max(open_, close) * (1.0 + wick_up)
        low = min(open_, close) * (1.0 - wick_down)
        o, h, l, c = (round(v, 2) for v in (open_, high, low, close))
        rows.append((o, max(h, o, c), min(l, o, c), c))
        close = c
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["open", "high", "low", "close"])
        for row in rows:
            w.writerow([f"{v:.2f}" for v in row])


def read(path: pathlib.Path) -> dict:
    """Reads the CSV into float64 arrays keyed by column."""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return {k: np.array([float(r[k]) for r in rows], dtype=np.float64) for k in ("open", "high", "low", "close")}


def nulls(a) -> list:
    return [None if math.isnan(v) else float(v) for v in a]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", type=pathlib.Path)
    ap.add_argument("--csv", type=pathlib.Path, help="use this OHLC CSV instead of generating one")
    args = ap.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = args.csv or args.out_dir / "ohlc.csv"
    if args.csv is None:
        generate(csv_path)
    d = read(csv_path)
    close, high, low = d["close"], d["high"], d["low"]

    series = {
        "sma_10": talib.SMA(close, timeperiod=10),
        "sma_30": talib.SMA(close, timeperiod=30),
        "ema_10": talib.EMA(close, timeperiod=10),
        "ema_30": talib.EMA(close, timeperiod=30),
        "rsi_14": talib.RSI(close, timeperiod=14),
        "atr_14": talib.ATR(high, low, close, timeperiod=14),
    }
    macd, signal, hist = talib.MACD(close, fastperiod=12, slowperiod=26, signalperiod=9)
    series.update({"macd_12_26_9.macd": macd, "macd_12_26_9.signal": signal, "macd_12_26_9.hist": hist})
    upper, middle, lower = talib.BBANDS(close, timeperiod=20, nbdevup=2.0, nbdevdn=2.0, matype=talib.MA_Type.SMA)
    series.update({"bbands_20_2_2.upper": upper, "bbands_20_2_2.middle": middle, "bbands_20_2_2.lower": lower})

    out = {
        "talib": str(talib.__version__),
        "ta_lib_c": talib.__ta_version__.decode(errors="replace") if isinstance(talib.__ta_version__, bytes) else str(talib.__ta_version__),
        "bars": len(close),
        "series": {k: nulls(v) for k, v in series.items()},
    }
    (args.out_dir / "talib_reference.json").write_text(json.dumps(out) + "\n")
    print(f"wrote {csv_path} and {args.out_dir / 'talib_reference.json'} ({len(close)} bars)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
