//! Runs SDK strategies compiled natively through the engine's guest contract (tests and benchmarks).
