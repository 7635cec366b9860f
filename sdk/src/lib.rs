//! wasmtrade SDK
pub mod ta;
