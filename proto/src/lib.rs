//! The public gRPC API of wasmtrade, package `wasmtrade.v1` (placeholder until build.rs lands).
