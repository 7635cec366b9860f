//! The Broker trait and the built-in paper broker (simulated fills, commissions, no look-ahead).
