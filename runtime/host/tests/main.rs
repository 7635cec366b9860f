//! Integration tests of wasmtrade-host, built as one test binary (one
//! link instead of one per file); each file is a module.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "integration tests: a failed unwrap is a failed test"
)]

mod common;

mod event_time;
mod fuzz_corpus;
mod guests;
mod host_call_storm;
mod hostile;
mod hostile_refusals;
