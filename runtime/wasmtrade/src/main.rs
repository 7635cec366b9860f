//! `wasmtrade`: the command line of the wasmtrade runtime.
//!
//! The composition root: parses the command line, sets up logging, wires
//! the library crates together and turns errors into one line and an exit
//! code (0 success, 1 failure, 2 usage error).

// Printing reports and tables to stdout is this binary's job.
#![allow(clippy::print_stdout)]

mod cli;
mod commands;
mod compile_cache;
mod guest_config;
mod sweep;
mod table;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_tracing(cli.verbose);
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr: human-readable text, or one JSON object per line with
/// `WASMTRADE_LOG_FORMAT=json` (for log collectors in a cluster).
/// `WASMTRADE_LOG` is the filter (`info`, `wasmtrade_live=debug,warn`, ...).
fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("WASMTRADE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colours only for a terminal: piped logs (a pod, a test) stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = if json_logs(std::env::var("WASMTRADE_LOG_FORMAT").ok().as_deref()) {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init()
    } else {
        builder.try_init()
    };
}

/// True for `WASMTRADE_LOG_FORMAT=json`; `text` or unset is text, anything
/// else is text with a warning.
fn json_logs(format: Option<&str>) -> bool {
    match format.map(|f| f.trim().to_ascii_lowercase()) {
        Some(f) if f == "json" => true,
        None => false,
        Some(f) if f.is_empty() || f == "text" => false,
        Some(f) => {
            eprintln!("warning: WASMTRADE_LOG_FORMAT={f:?} is neither `json` nor `text`: logging text");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::json_logs;

    #[test]
    fn log_format_json_is_recognised_and_anything_else_is_text() {
        assert!(json_logs(Some("json")));
        assert!(json_logs(Some(" JSON ")));
        assert!(!json_logs(None));
        assert!(!json_logs(Some("")));
        assert!(!json_logs(Some("text")));
        assert!(!json_logs(Some("yaml")));
    }
}
