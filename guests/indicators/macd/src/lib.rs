//! macd
