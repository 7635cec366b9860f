//! Checks a guest passes before it may run: size, header, import allow-list
//! and the exports of its world.

use wasmtime::Engine;
use wasmtime::component::__internal::InstanceType;
use wasmtime::component::Component;
use wasmtime::component::types::{ComponentFunc, ComponentItem};

use crate::HostError;
use crate::bindings::types as wit;

/// Size limit, then header: wasm at all, and a component rather than a core module.
pub(crate) fn check_bytes(bytes: &[u8], max_module_bytes: usize) -> Result<(), HostError> {
    if bytes.len() > max_module_bytes {
        return Err(HostError::ModuleTooLarge {
            size: bytes.len(),
            limit: max_module_bytes,
        });
    }
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(HostError::NotWasm);
    }
    // Bytes 4..8: version (u16) and layer (u16); layer 1 is a component.
    match bytes[4..8] {
        [_, _, 1, 0] => Ok(()),
        [_, _, 0, 0] => Err(HostError::CoreModule),
        _ => Err(HostError::NotWasm),
    }
}

/// Interfaces a guest may import. Everything else (filesystem, sockets,
/// clocks, http, unknown packages) is refused: guests are pure functions of
/// the events and context the host gives them.
pub(crate) fn is_allowed_import(name: &str) -> bool {
    let (path, version) = name.split_once('@').unwrap_or((name, ""));
    let Some((package, interface)) = path.split_once('/') else {
        return false;
    };
    let wasi_02 = version.starts_with("0.2.");
    match package {
        "wasmtrade:guest" => version == "0.1.0" && matches!(interface, "host" | "types" | "policy-types"),
        "wasi:io" => wasi_02 && matches!(interface, "error" | "poll" | "streams"),
        "wasi:cli" => {
            wasi_02
                && matches!(
                    interface,
                    "environment"
                        | "exit"
                        | "stdin"
                        | "stdout"
                        | "stderr"
                        | "terminal-input"
                        | "terminal-output"
                        | "terminal-stdin"
                        | "terminal-stdout"
                        | "terminal-stderr"
                )
        }
        "wasi:random" => wasi_02 && matches!(interface, "random" | "insecure" | "insecure-seed"),
        _ => false,
    }
}

/// Imports a policy guest may have that are linked as functions that trap
/// (no capability is granted): Rust's std and tract reference the WASI
/// clocks and filesystem on paths a policy never takes (profiling timers,
/// ONNX external-data files). A call traps and quarantines the guest; there
/// is no preopened directory and no clock reading to be had.
pub(crate) fn is_trapped_policy_import(name: &str) -> bool {
    let (path, version) = name.split_once('@').unwrap_or((name, ""));
    version.starts_with("0.2.")
        && matches!(
            path,
            "wasi:clocks/wall-clock"
                | "wasi:clocks/monotonic-clock"
                | "wasi:filesystem/types"
                | "wasi:filesystem/preopens"
        )
}

/// Refuses a component importing anything outside the allow-list (plus
/// what `also_allowed` admits), naming every offending import.
pub(crate) fn check_imports(
    engine: &Engine,
    component: &Component,
    also_allowed: fn(&str) -> bool,
) -> Result<(), HostError> {
    let ty = component.component_type();
    let mut imports: Vec<String> = ty
        .imports(engine)
        .map(|(name, _)| name)
        .filter(|name| !is_allowed_import(name) && !also_allowed(name))
        .map(str::to_owned)
        .collect();
    if imports.is_empty() {
        return Ok(());
    }
    imports.sort();
    Err(HostError::ForbiddenImports { imports })
}

/// Type-checks one export against the host's bindings of it.
pub(crate) type ExportCheck = fn(&ComponentFunc, &InstanceType<'_>) -> wasmtime::Result<()>;

type Intents = Result<Vec<wit::OrderIntent>, wit::GuestError>;
type Unit = Result<(), wit::GuestError>;

// The signatures are the ones `bindgen!` generates for the worlds (see
// `bindings.rs`); `ComponentFunc::typecheck` is the check the generated
// `*Indices::new` runs, done here per export to name every mismatch at once.
pub(crate) const STRATEGY_EXPORTS: &[(&str, ExportCheck)] = &[
    ("info", |f, t| f.typecheck::<(), (wit::GuestInfo,)>(t)),
    ("init", |f, t| f.typecheck::<(&str,), (Unit,)>(t)),
    ("on-bar", |f, t| f.typecheck::<(wit::Bar,), (Intents,)>(t)),
    ("on-tick", |f, t| f.typecheck::<(wit::Tick,), (Intents,)>(t)),
    ("on-fill", |f, t| f.typecheck::<(&wit::Fill,), (Intents,)>(t)),
    ("on-timer", |f, t| {
        f.typecheck::<(&str, wit::Timestamp), (Intents,)>(t)
    }),
    ("on-reject", |f, t| f.typecheck::<(&wit::Reject,), (Intents,)>(t)),
    ("snapshot", |f, t| {
        f.typecheck::<(), (Result<Vec<u8>, wit::GuestError>,)>(t)
    }),
    ("restore", |f, t| f.typecheck::<(&[u8],), (Unit,)>(t)),
];

pub(crate) const INDICATOR_EXPORTS: &[(&str, ExportCheck)] = &[
    ("info", |f, t| f.typecheck::<(), (wit::GuestInfo,)>(t)),
    ("init", |f, t| f.typecheck::<(&str,), (Unit,)>(t)),
    ("outputs", |f, t| f.typecheck::<(), (Vec<String>,)>(t)),
    ("update", |f, t| {
        f.typecheck::<(wit::Bar,), (Result<Option<Vec<f64>>, wit::GuestError>,)>(t)
    }),
    ("snapshot", |f, t| {
        f.typecheck::<(), (Result<Vec<u8>, wit::GuestError>,)>(t)
    }),
    ("restore", |f, t| f.typecheck::<(&[u8],), (Unit,)>(t)),
];

use crate::bindings::policy::wasmtrade::guest::policy_types as pt;

pub(crate) const POLICY_EXPORTS: &[(&str, ExportCheck)] = &[
    ("info", |f, t| f.typecheck::<(), (wit::GuestInfo,)>(t)),
    ("init", |f, t| f.typecheck::<(&str,), (Unit,)>(t)),
    ("load", |f, t| {
        f.typecheck::<(&[u8],), (Result<pt::ModelInfo, wit::GuestError>,)>(t)
    }),
    ("act", |f, t| {
        f.typecheck::<(&pt::Observation,), (Result<pt::Action, wit::GuestError>,)>(t)
    }),
];

/// Verifies every export of `world` exists as a function of the right type.
pub(crate) fn check_world(
    component: &Component,
    world: &'static str,
    exports: &[(&str, ExportCheck)],
) -> Result<(), HostError> {
    let ty = component.component_type();
    let instance_type = ty.instance_type();
    let mut missing = Vec::new();
    let mut mismatched = Vec::new();
    for (name, check) in exports {
        match component.get_export(None, *name) {
            None => missing.push((*name).to_owned()),
            Some((ComponentItem::ComponentFunc(func), _)) => {
                if check(&func, &instance_type).is_err() {
                    mismatched.push((*name).to_owned());
                }
            }
            Some(_) => mismatched.push(format!("{name} (not a function)")),
        }
    }
    if missing.is_empty() && mismatched.is_empty() {
        return Ok(());
    }
    Err(HostError::WorldMismatch {
        world,
        missing,
        mismatched,
        looks_like: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_checks_name_the_problem() {
        assert!(matches!(
            check_bytes(&[0; 10], 4),
            Err(HostError::ModuleTooLarge { size: 10, limit: 4 })
        ));
        assert!(matches!(
            check_bytes(b"PK\x03\x04zipfile", 100),
            Err(HostError::NotWasm)
        ));
        assert!(matches!(
            check_bytes(b"\0asm\x01\0\0\0", 100),
            Err(HostError::CoreModule)
        ));
        assert!(check_bytes(b"\0asm\x0d\0\x01\0", 100).is_ok());
    }

    #[test]
    fn allow_list_admits_stdio_and_refuses_ambient_authority() {
        for ok in [
            "wasmtrade:guest/host@0.1.0",
            "wasmtrade:guest/types@0.1.0",
            "wasmtrade:guest/policy-types@0.1.0",
            "wasi:io/streams@0.2.6",
            "wasi:cli/stdout@0.2.0",
            "wasi:cli/terminal-stderr@0.2.3",
            "wasi:random/insecure-seed@0.2.6",
        ] {
            assert!(is_allowed_import(ok), "{ok}");
        }
        assert!(is_trapped_policy_import("wasi:clocks/wall-clock@0.2.6"));
        assert!(is_trapped_policy_import("wasi:filesystem/preopens@0.2.6"));
        assert!(!is_trapped_policy_import("wasi:sockets/tcp@0.2.6"));
        for bad in [
            "wasi:filesystem/types@0.2.6",
            "wasi:filesystem/preopens@0.2.6",
            "wasi:sockets/tcp@0.2.6",
            "wasi:clocks/wall-clock@0.2.6",
            "wasi:http/outgoing-handler@0.2.6",
            "wasmtrade:guest/host@0.2.0",
            "wasi:io/streams@0.3.0",
            "wasi:cli/run@0.2.6",
            "evil",
        ] {
            assert!(!is_allowed_import(bad), "{bad}");
        }
    }
}
