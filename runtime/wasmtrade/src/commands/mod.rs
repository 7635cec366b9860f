//! One module per subcommand.

mod backtest;
mod backtest_html;
pub(crate) mod client;
mod data;
mod guest;
mod indicator;
mod new;
mod serve;
mod sweep;
mod token;
mod venue;

use crate::cli::{Cli, Command, DataCommand, GuestCommand, IndicatorCommand};

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Backtest(args) => backtest::run(*args),
        Command::Sweep(args) => sweep::run(*args),
        Command::New(args) => new::run(&args),
        Command::Data(DataCommand::Synth(args)) => data::synth(args),
        Command::Guest(GuestCommand::Inspect(args)) => guest::inspect(args),
        Command::Indicator(IndicatorCommand::Run(args)) => indicator::run(args),
        Command::Serve(args) => serve::run(*args),
        Command::Strategy(command) => client::strategy(command),
        Command::Model(command) => client::model(command),
        Command::Orders(args) => client::orders(args),
        Command::Positions(args) => client::positions(args),
        Command::Account(args) => client::account(args),
        Command::Events(args) => client::events(args),
        Command::Kill(command) => client::kill(command),
        Command::Risk(command) => client::risk(command),
        Command::Token(command) => token::run(command),
        Command::PaperVenue(args) => venue::run(args),
    }
}
