//! ema
