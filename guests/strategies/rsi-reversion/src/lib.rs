//! rsi-reversion
