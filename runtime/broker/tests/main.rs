//! Integration tests of wasmtrade-broker, built as one test binary (one
//! link instead of one per file); each file is a module.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "integration tests: a failed unwrap is a failed test"
)]

mod paper;
mod paper_resume;
