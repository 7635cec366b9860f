//! rsi
