//! Errors of the engine.

use wasmtrade_model::GuestFault;

/// Why a run stopped or a setup step failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// Two strategies with the same id.
    #[error("strategy id `{id}` is used twice: give each strategy its own id")]
    DuplicateStrategy {
        /// The id.
        id: String,
    },
    /// Two indicators with the same name.
    #[error("indicator name `{name}` is used twice: give each indicator its own name")]
    DuplicateIndicator {
        /// The name.
        name: String,
    },
    /// A strategy faulted and the policy is to abort.
    #[error("strategy `{strategy}` faulted: {fault}")]
    StrategyFault {
        /// Which strategy.
        strategy: String,
        /// What happened.
        fault: GuestFault,
    },
    /// An indicator faulted.
    #[error("indicator `{name}` faulted: {fault}")]
    IndicatorFault {
        /// Which indicator.
        name: String,
        /// What happened.
        fault: GuestFault,
    },
    /// A setting is invalid.
    #[error("invalid {what} configuration: {reason}")]
    Config {
        /// Which part.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Market data could not be read.
    #[error(transparent)]
    Market(#[from] wasmtrade_market::MarketError),
    /// The trades file could not be written.
    #[error("cannot write trades to {path}: {reason}")]
    WriteTrades {
        /// Where.
        path: String,
        /// Why.
        reason: String,
    },
}
