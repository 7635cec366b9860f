//! Kubernetes integration (skeleton; being written).
