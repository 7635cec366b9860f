//! The long-running wasmtrade runtime.
