//! `wasmtrade`: the command line of the wasmtrade runtime.
//!
//! The composition root: parses the command line, sets up logging, wires
//! the library crates together and turns errors into one line and an exit
//! code (0 success, 1 failure, 2 usage error).

// Printing reports and tables to stdout is this binary's job.
#![allow(clippy::print_stdout)]

mod cli;
mod commands;
mod guest_config;
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

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("WASMTRADE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
