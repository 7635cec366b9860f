//! The binary's own front door: `--version` and `--help` as a newcomer
//! first sees them.
//!
//! (Being an integration test of this package also makes `cargo test
//! --workspace` build the `wasmtrade` binary with the workspace's features,
//! the very binary the end-to-end tests in `tests/` and the container image
//! use, so CI compiles it once.)
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::process::Command;

fn run(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_wasmtrade"))
        .args(args)
        .output()
        .expect("run the wasmtrade binary");
    assert!(
        out.status.success(),
        "wasmtrade {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 help")
}

#[test]
fn version_names_the_crate_version() {
    assert_eq!(
        run(&["--version"]).trim(),
        format!("wasmtrade {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn help_lists_serve_and_the_client_commands_as_available_today() {
    let help = run(&["--help"]);
    for command in ["backtest", "serve", "strategy", "orders", "kill", "risk"] {
        assert!(
            help.contains(command),
            "`wasmtrade --help` does not list {command}:\n{help}"
        );
    }
    for stale in ["(later)", "coming", "comes with"] {
        assert!(
            !help.contains(stale),
            "`wasmtrade --help` still says {stale:?}:\n{help}"
        );
    }
}

#[test]
fn serve_help_names_the_real_data_dir_key() {
    let help = run(&["serve", "--help"]);
    assert!(help.contains("data_dir"), "{help}");
    assert!(
        !help.contains("store.data_dir"),
        "`serve --help` names a key that does not exist:\n{help}"
    );
}
