//! wasmtrade SDK
