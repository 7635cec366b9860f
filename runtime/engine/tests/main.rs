//! Integration tests of wasmtrade-engine, built as one test binary (one
//! link instead of one per file); each file is a module.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "integration tests: a failed unwrap is a failed test"
)]

mod event_budget;
mod event_loop;
mod journal;
mod kill;
mod rate_limits;
mod swap;
