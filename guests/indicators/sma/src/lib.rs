//! sma
