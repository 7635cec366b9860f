//! The event loop: source, indicators, strategies, risk, OMS and broker behind a Clock; the backtest driver and report.
