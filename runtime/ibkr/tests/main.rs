//! Integration tests of wasmtrade-ibkr, built as one test binary (one
//! link instead of one per file); each file is a module.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "integration tests: a failed unwrap is a failed test"
)]

#[allow(
    clippy::disallowed_methods,
    reason = "the scripted peer bounds its waits with real time"
)]
mod support;

mod reconnects;
mod sessions;
