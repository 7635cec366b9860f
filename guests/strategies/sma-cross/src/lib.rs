//! sma-cross
