//! Operations endpoints (skeleton; being written).
