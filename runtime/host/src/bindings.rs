//! Host-side bindings of the `wasmtrade:guest@0.1.0` worlds, generated from
//! `sdk/wit` (never edited by hand).
//!
//! The `strategy` world owns the generated `types` and `host` interfaces; the
//! `indicator` and `policy` worlds reuse them so that all worlds share one `Host` impl.

#![allow(missing_docs, clippy::all)]

/// The `strategy` world.
pub mod strategy {
    wasmtime::component::bindgen!({
        path: "../../sdk/wit",
        world: "wasmtrade:guest/strategy",
    });
}

/// The `indicator` world.
pub mod indicator {
    wasmtime::component::bindgen!({
        path: "../../sdk/wit",
        world: "wasmtrade:guest/indicator",
        with: {
            "wasmtrade:guest/types": super::strategy::wasmtrade::guest::types,
            "wasmtrade:guest/host": super::strategy::wasmtrade::guest::host,
        },
    });
}

/// The `policy` world.
pub mod policy {
    wasmtime::component::bindgen!({
        path: "../../sdk/wit",
        world: "wasmtrade:guest/policy",
        with: {
            "wasmtrade:guest/types": super::strategy::wasmtrade::guest::types,
            "wasmtrade:guest/host": super::strategy::wasmtrade::guest::host,
        },
    });
}

pub use strategy::wasmtrade::guest::{host, types};
