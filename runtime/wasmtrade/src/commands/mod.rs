//! One module per subcommand.

mod backtest;
mod data;
mod guest;
mod serve;

use crate::cli::{Cli, Command, DataCommand, GuestCommand};

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Backtest(args) => backtest::run(*args),
        Command::Data(DataCommand::Synth(args)) => data::synth(args),
        Command::Guest(GuestCommand::Inspect(args)) => guest::inspect(args),
        Command::Serve(args) => serve::run(*args),
    }
}
