"""Command line: `python -m wasmtrade_learner` (or the `wasmtrade-learner` script)."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
