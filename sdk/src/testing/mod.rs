//! Native testing: a [`MockContext`] and a [`Harness`] that runs a strategy
//! over bars with a simulated broker, so authors assert on orders without wasm.
//!
//! Nothing here touches the host; it compiles on every target but is meant
//! for `cargo test` on the build machine.

mod harness;
mod mock;

pub use harness::{BAR_NANOS, Harness, bars_from_closes};
pub use mock::{DEFAULT_CASH, MockContext};

#[cfg(test)]
mod tests;
