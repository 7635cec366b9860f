//! Technical indicators with TA-Lib's exact definitions (streaming, f64).
