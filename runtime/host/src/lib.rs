//! The only owner of wasmtime: loads, validates, sandboxes and runs strategy and indicator guests.
