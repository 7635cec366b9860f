#!/usr/bin/env python3
"""`make bench-peers`: wasmtrade beside backtesting.py and vectorbt.

One generated file, the same SMA-cross rules everywhere (long/flat, buy on
the bar after the fast SMA of closes crosses above the slow one, at its open,
with 95 % of equity; sell everything on the bar after it crosses back below;
no commission), and one table of bars/s and ratios. The trades are checked to
agree (entry and exit times of every closed round trip) before any figure is
printed, so the speeds compare the same work.

Then the sweep: the same 100-combination grid through `wasmtrade sweep` and
through vectorbt's broadcast (one column per combination), with the ratio.

Not part of `make test` (it installs its own venv and takes minutes).
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd


def sh(cmd):
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return out.stdout, time.perf_counter() - t0


def load(path):
    df = pd.read_csv(path, parse_dates=["timestamp"])
    df = df.set_index("timestamp")
    df.index = df.index.tz_localize(None)
    return df.rename(columns=str.capitalize)[["Open", "High", "Low", "Close", "Volume"]]


def wasmtrade_trades(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return [(r["entry_time"], r["exit_time"]) for r in rows]


def _running_sma(close, n):
    """The guest's SMA bit for bit: a running sum (old value out, then the
    new one in) divided by n. Closes are cents, so two SMAs are often equal;
    a rolling mean computed another way breaks such ties differently and
    moves a trade by a bar."""
    out = np.full(close.shape[0], np.nan)
    s = 0.0
    for i in range(close.shape[0]):
        if i >= n:
            s -= close[i - n]
        s += close[i]
        if i >= n - 1:
            out[i] = s / n
    return out


try:
    from numba import njit

    running_sma = njit(cache=False)(_running_sma)
except ImportError:  # backtesting.py alone still works, slowly
    running_sma = _running_sma


def run_backtesting_py(df, fast, slow):
    from backtesting import Backtest, Strategy

    def sma(values, n):
        return running_sma(np.asarray(values, dtype=np.float64), n)

    class SmaCross(Strategy):
        def init(self):
            self.fast = self.I(sma, self.data.Close, fast)
            self.slow = self.I(sma, self.data.Close, slow)

        def next(self):
            # The guest's rule: a cross includes touching on the bar before.
            pf, ps, f, s = self.fast[-2], self.slow[-2], self.fast[-1], self.slow[-1]
            if pf <= ps and f > s and not self.position:
                self.buy(size=int(0.95 * self.equity / self.data.Close[-1]))
            elif pf >= ps and f < s and self.position:
                self.position.close()

    bt = Backtest(df, SmaCross, cash=10_000, commission=0.0, finalize_trades=False)
    import warnings

    warnings.filterwarnings("ignore", message="Some trades remain open")
    t0 = time.perf_counter()
    stats = bt.run()
    secs = time.perf_counter() - t0
    trades = stats["_trades"]
    pairs = [(str(e), str(x)) for e, x in zip(trades["EntryTime"], trades["ExitTime"])]
    return pairs, secs


def vbt_signals(close, fast_w, slow_w):
    """Entry/exit masks, one column per (fast, slow) pair, shifted one bar so
    orders fill at the next bar's open as in the other two."""
    # The SMA per distinct window with the guest's arithmetic (see
    # _running_sma), then one column per combination.
    x = close.to_numpy(dtype=np.float64)
    cache = {w: running_sma(x, w) for w in set(fast_w) | set(slow_w)}
    fast = np.column_stack([cache[w] for w in fast_w])
    slow = np.column_stack([cache[w] for w in slow_w])
    # The windows come back in the order given; the slow SMA starts the
    # signals (the guest waits for `slow` bars), so mask the fast one too.
    fast = np.where(np.isnan(slow), np.nan, fast)
    prev_f, prev_s = np.roll(fast, 1, axis=0), np.roll(slow, 1, axis=0)
    prev_f[0], prev_s[0] = np.nan, np.nan
    with np.errstate(invalid="ignore"):
        up = (prev_f <= prev_s) & (fast > slow)
        down = (prev_f >= prev_s) & (fast < slow)
    # Signal on bar t, order at bar t+1's open.
    up = np.vstack([np.zeros((1, up.shape[1]), bool), up[:-1]])
    down = np.vstack([np.zeros((1, down.shape[1]), bool), down[:-1]])
    return up, down


def run_vectorbt(df, fast_w, slow_w):
    import vectorbt as vbt

    close = df["Close"]
    t0 = time.perf_counter()
    up, down = vbt_signals(close, fast_w, slow_w)
    cols = pd.RangeIndex(len(fast_w))
    entries = pd.DataFrame(up, index=df.index, columns=cols)
    exits = pd.DataFrame(down, index=df.index, columns=cols)
    # Size: floor(0.95 × equity / previous close) shares, as the guest does.
    pf = vbt.Portfolio.from_signals(
        close=df["Close"],
        entries=entries,
        exits=exits,
        price=df["Open"],
        size=np.inf,
        init_cash=10_000,
        fees=0.0,
        size_granularity=1,
        accumulate=False,
        freq="1min",
    )
    closed = pf.trades.closed.records_readable
    secs = time.perf_counter() - t0
    return pf, closed, secs


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--wasmtrade", required=True)
    ap.add_argument("--guest", required=True)
    ap.add_argument("--bars", type=int, default=200_000)
    ap.add_argument("--fast", type=int, default=10)
    ap.add_argument("--slow", type=int, default=20)
    ap.add_argument("--out", help="write the figures as JSON here")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="bench-peers-")
    data = os.path.join(work, "bars.csv")
    sh([args.wasmtrade, "data", "synth", "--bars", str(args.bars), "--interval-secs", "60", "--seed", "7",
        "--out", data])
    df = load(data)
    n = len(df)
    print(f"data: {n} one-minute bars ({data})", flush=True)

    # wasmtrade: the whole process (parse, compile or cache, run, report),
    # the second of two runs so the compiled guest comes from the cache.
    trades_csv = os.path.join(work, "wt_trades.csv")
    cmd = [args.wasmtrade, "backtest", "--strategy", args.guest, "--data", data, "--config",
           f"fast={args.fast},slow={args.slow}", "--cash", "10000", "--json", "--no-progress",
           "--trades-csv", trades_csv]
    sh(cmd)
    out, wt_wall = sh(cmd)
    wt = json.loads(out)
    wt_run = wt["timings"]["run_secs"]
    wt_pairs = wasmtrade_trades(trades_csv)

    bt_pairs, bt_secs = run_backtesting_py(df, args.fast, args.slow)

    # vectorbt: the first call compiles its numba kernels; the second is warm.
    _, _, vbt_cold = run_vectorbt(df, [args.fast], [args.slow])
    _, closed, vbt_warm = run_vectorbt(df, [args.fast], [args.slow])
    vbt_pairs = [(str(e), str(x)) for e, x in zip(closed["Entry Timestamp"], closed["Exit Timestamp"])]

    def iso(t):
        return str(pd.Timestamp(t).tz_localize(None)) if pd.Timestamp(t).tzinfo else str(pd.Timestamp(t))

    wt_norm = [(iso(e), iso(x)) for e, x in wt_pairs]
    bt_norm = [(iso(e), iso(x)) for e, x in bt_pairs]
    vbt_norm = [(iso(e), iso(x)) for e, x in vbt_pairs]
    agree_bt = wt_norm == bt_norm
    agree_vbt = wt_norm == vbt_norm
    print(f"trades: wasmtrade {len(wt_norm)}, backtesting.py {len(bt_norm)}, vectorbt {len(vbt_norm)}; "
          f"entry/exit times equal: backtesting.py {agree_bt}, vectorbt {agree_vbt}")
    if not (agree_bt and agree_vbt):
        for name, other in (("backtesting.py", bt_norm), ("vectorbt", vbt_norm)):
            for i, (a, b) in enumerate(zip(wt_norm, other)):
                if a != b:
                    print(f"  first difference with {name}: trade {i}: wasmtrade {a} vs {b}")
                    break
        print("the trades disagree: the speeds below do not compare the same work", file=sys.stderr)
        return 1

    # The sweep: 10 fast × 10 slow windows, all fast < slow.
    fasts = list(range(5, 51, 5))
    slows = list(range(60, 241, 20))
    grid = [(f, s) for f in fasts for s in slows]
    sweep_cmd = [args.wasmtrade, "sweep", "--strategy", args.guest, "--data", data, "--grid",
                 "fast=5..50:5,slow=60..240:20", "--train", "1", "--cash", "10000", "--json", "--no-progress"]
    out, sweep_wall = sh(sweep_cmd)
    sweep = json.loads(out)
    wt_counts = {(r["params"]["fast"], r["params"]["slow"]): r["in_sample"]["trades"] for r in sweep["rows"]}
    fw, sw = [f for f, _ in grid], [s for _, s in grid]
    run_vectorbt(df, fw[:2], sw[:2])  # warm the kernels for this shape
    pf, closed, vbt_sweep = run_vectorbt(df, fw, sw)
    vbt_counts = closed.groupby("Column").size().reindex(range(len(grid)), fill_value=0).tolist()
    sweep_agree = all(wt_counts[g] == c for g, c in zip(grid, vbt_counts))
    print(f"sweep: {len(grid)} combinations; closed-trade counts equal per combination: {sweep_agree}")

    rows = [
        ("wasmtrade backtest (whole process, cached guest)", wt_wall),
        ("wasmtrade engine run only", wt_run),
        ("backtesting.py Backtest.run", bt_secs),
        ("vectorbt from_signals (first call, JIT)", vbt_cold),
        ("vectorbt from_signals (warm)", vbt_warm),
    ]
    print()
    print(f"{'one backtest, ' + str(n) + ' bars':<52} {'seconds':>9} {'bars/s':>12} {'vs wasmtrade':>13}")
    for name, secs in rows:
        print(f"{name:<52} {secs:>9.3f} {n / secs:>12,.0f} {secs / wt_wall:>12.2f}x")
    print()
    sweep_rows = [
        ("wasmtrade sweep (whole process)", sweep_wall),
        ("vectorbt broadcast, warm", vbt_sweep),
    ]
    print(f"{'sweep, ' + str(len(grid)) + ' combinations':<52} {'seconds':>9} {'bar-runs/s':>12} {'vs wasmtrade':>13}")
    for name, secs in sweep_rows:
        print(f"{name:<52} {secs:>9.3f} {n * len(grid) / secs:>12,.0f} {secs / sweep_wall:>12.2f}x")
    print(f"\nsweep ratio vectorbt / wasmtrade = {vbt_sweep / sweep_wall:.2f} "
          f"({'wasmtrade faster' if vbt_sweep > sweep_wall else 'vectorbt faster'})")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"bars": n, "single": dict(rows), "sweep": dict(sweep_rows),
                       "trades_agree": agree_bt and agree_vbt, "sweep_trades_agree": sweep_agree}, f, indent=1)
    return 0 if sweep_agree else 1


if __name__ == "__main__":
    sys.exit(main())
