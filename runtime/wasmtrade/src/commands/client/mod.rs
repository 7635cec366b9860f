//! The gRPC client: subcommands that talk to a running `wasmtrade serve`.
//!
//! Every subcommand takes the same [`ClientArgs`] (`--server`, `--token`,
//! `--token-file`, `--json`, `--timeout`), opens one channel whose calls
//! carry `authorization: Bearer <token>`, and turns a failed call into one
//! line naming the server and the RPC. The binary stays synchronous: each
//! command runs on a small current-thread tokio runtime.
//!
//! ```text
//! wasmtrade strategy upload target/wasm32-wasip2/guest/sma_cross.wasm --name sma --activate
//! wasmtrade strategy list
//! wasmtrade events --count 10 --json
//! ```

mod args;
mod connect;
mod json;
mod model;
mod output;
mod risk;
mod strategy;
mod trading;
mod upload;

use std::future::Future;

use anyhow::Context as _;

pub use args::{
    AccountArgs, EventsArgs, KillCommand, OrdersArgs, PositionsArgs, RiskCommand, StrategyCommand,
};
pub use model::ModelCommand;

/// `wasmtrade strategy ...`.
pub fn strategy(command: StrategyCommand) -> anyhow::Result<()> {
    block_on(strategy::run(command))
}

/// `wasmtrade model ...`.
pub fn model(command: ModelCommand) -> anyhow::Result<()> {
    block_on(model::run(command))
}

/// `wasmtrade orders`.
pub fn orders(args: OrdersArgs) -> anyhow::Result<()> {
    block_on(trading::orders(args))
}

/// `wasmtrade positions`.
pub fn positions(args: PositionsArgs) -> anyhow::Result<()> {
    block_on(trading::positions(args))
}

/// `wasmtrade account`.
pub fn account(args: AccountArgs) -> anyhow::Result<()> {
    block_on(trading::account(args))
}

/// `wasmtrade events`.
pub fn events(args: EventsArgs) -> anyhow::Result<()> {
    block_on(trading::events(args))
}

/// `wasmtrade kill ...`.
pub fn kill(command: KillCommand) -> anyhow::Result<()> {
    block_on(trading::kill(command))
}

/// `wasmtrade risk ...`.
pub fn risk(command: RiskCommand) -> anyhow::Result<()> {
    block_on(risk::run(command))
}

/// Runs one client command on a current-thread runtime.
fn block_on(command: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime of the client")?
        .block_on(command)
}
