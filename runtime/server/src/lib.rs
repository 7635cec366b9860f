//! The gRPC control plane of wasmtrade.
