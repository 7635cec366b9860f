//! Generated bindings of the WIT contract (`sdk/wit`), one module per world.
//!
//! Generated code, never edited. The `strategy` world owns the shared `types`
//! and `host` interfaces; the `indicator` world reuses them through `with:` so
//! both worlds speak the same Rust types and import the same host functions.
//! The export macros are public so that `export_strategy!`/`export_indicator!`
//! can expand them in a guest crate; each one carries its world's exports in
//! its own custom section, so a guest only ever exports the world it names.

/// Bindings of the `strategy` world (and of the shared `types`/`host` interfaces).
// The canonical ABI glue that wit-bindgen generates (lifting, lowering,
// `cabi_realloc`, `#[unsafe(export_name)]`) is unsafe by nature; it is
// generated, never edited, and confined to this module.
#[allow(unsafe_code, missing_docs, clippy::all)]
pub mod strategy {
    wit_bindgen::generate!({
        path: "wit",
        world: "wasmtrade:guest/strategy@0.1.0",
        pub_export_macro: true,
        export_macro_name: "__export_strategy_world",
        default_bindings_module: "::wasmtrade_sdk::__private::bindings::strategy",
        runtime_path: "::wasmtrade_sdk::__private::wit_bindgen::rt",
    });
}

/// Bindings of the `indicator` world; `types` and `host` come from [`strategy`].
// Same reason as above: generated canonical ABI glue.
#[allow(unsafe_code, missing_docs, clippy::all)]
pub mod indicator {
    wit_bindgen::generate!({
        path: "wit",
        world: "wasmtrade:guest/indicator@0.1.0",
        pub_export_macro: true,
        export_macro_name: "__export_indicator_world",
        default_bindings_module: "::wasmtrade_sdk::__private::bindings::indicator",
        runtime_path: "::wasmtrade_sdk::__private::wit_bindgen::rt",
        with: {
            "wasmtrade:guest/types@0.1.0": ::wasmtrade_sdk::__private::bindings::strategy::wasmtrade::guest::types,
            "wasmtrade:guest/host@0.1.0": ::wasmtrade_sdk::__private::bindings::strategy::wasmtrade::guest::host,
        },
    });
}

/// Bindings of the `policy` world; `types` and `host` come from [`strategy`].
// Same reason as above: generated canonical ABI glue.
#[allow(unsafe_code, missing_docs, clippy::all)]
pub mod policy {
    wit_bindgen::generate!({
        path: "wit",
        world: "wasmtrade:guest/policy@0.1.0",
        pub_export_macro: true,
        export_macro_name: "__export_policy_world",
        default_bindings_module: "::wasmtrade_sdk::__private::bindings::policy",
        runtime_path: "::wasmtrade_sdk::__private::wit_bindgen::rt",
        with: {
            "wasmtrade:guest/types@0.1.0": ::wasmtrade_sdk::__private::bindings::strategy::wasmtrade::guest::types,
            "wasmtrade:guest/host@0.1.0": ::wasmtrade_sdk::__private::bindings::strategy::wasmtrade::guest::host,
        },
    });
}
