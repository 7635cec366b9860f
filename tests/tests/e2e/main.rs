//! End-to-end tests: the real `wasmtrade` binary and runtime, on loopback,
//! with real guests built from `guests/` (`make guests`).
//!
//! One test binary for every scenario: each module below used to be a test
//! binary of its own, and linking ~two dozen release binaries that each carry
//! wasmtime, tonic and the whole runtime was a large part of CI's build time.
//! Run one scenario with `cargo test --workspace --release --test e2e
//! serve_swap::` (the module name is the old binary's name; `--workspace`
//! resolves features as `make test` does, so nothing is rebuilt, while
//! `-p wasmtrade-e2e` would compile the dependencies a second time).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a test failure with a location"
)]

mod common;
mod recovery;

mod backtest;
mod backtest_html;
mod backtest_rate_limits;
mod backtest_report;
mod cli_errors;
mod crash_recovery;
mod data_synth;
mod indicators;
mod learner;
mod parquet_data;
mod policy;
mod python_client;
mod quantlib_greeks;
mod reversal;
mod rollout;
mod scaffold;
mod sdk_out_of_tree;
mod serve_api;
mod serve_api_error_details;
mod serve_api_errors;
mod serve_broker_config;
mod serve_host_call_storm;
mod serve_hostile;
mod serve_learning_loop;
mod serve_memory;
mod serve_model_upload;
mod serve_ops;
mod serve_policy;
mod serve_principals;
mod serve_reject_storm;
mod serve_restart_paper;
mod serve_risk;
mod serve_shadow_gate;
mod serve_soak;
mod serve_store_refusals;
mod serve_swap;
mod serve_swap_refusals;
mod serve_upload_errors;
mod serve_upload_precheck;
mod serve_version_config;
mod sweep;
