//! atr
