//! Why the host refused or failed to run a guest.

use wasmtrade_model::GuestFault;

/// Why loading, compiling or starting a guest failed. Faults during event
/// callbacks are [`GuestFault`]s instead: they are the guest's problem and the
/// engine applies its quarantine policy to them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// The host configuration is invalid.
    #[error("invalid host config: `{field}` {reason}")]
    Config {
        /// Field path, e.g. `max_wasm_stack`.
        field: &'static str,
        /// What is wrong and what to use instead.
        reason: String,
    },
    /// wasmtime refused the engine configuration.
    #[error("cannot create the wasm engine: {reason}")]
    Engine {
        /// wasmtime's explanation.
        reason: String,
    },
    /// The module is larger than `max_module_bytes`.
    #[error("guest is {size} bytes, above the limit of {limit} bytes (`max_module_bytes`)")]
    ModuleTooLarge {
        /// Size of the module.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The bytes are not WebAssembly at all.
    #[error("not a wasm file (no `\\0asm` header): build the guest for wasm32-wasip2 and upload the `.wasm`")]
    NotWasm,
    /// The bytes are a core wasm module, not a component.
    #[error("is a core wasm module, not a component: build the guest for wasm32-wasip2")]
    CoreModule,
    /// Compilation failed (invalid wasm or an unsupported proposal).
    #[error("cannot compile the guest: {reason}")]
    Compile {
        /// wasmtime's explanation.
        reason: String,
    },
    /// The component imports interfaces guests may not use.
    #[error(
        "guest imports {} which guests may not use (allowed: wasmtrade:guest/host, wasi:io, wasi:cli stdio/environment/exit, wasi:random): remove the code that uses them (files, sockets, clocks, http)",
        list(imports)
    )]
    ForbiddenImports {
        /// The refused imports, e.g. `wasi:filesystem/types@0.2.6`.
        imports: Vec<String>,
    },
    /// The component does not implement the world it was loaded as.
    #[error("{}", world_mismatch(world, missing, mismatched, *looks_like))]
    WorldMismatch {
        /// The expected world, e.g. `strategy@0.1.0`.
        world: &'static str,
        /// Exports the world requires that the component lacks.
        missing: Vec<String>,
        /// Exports present with the wrong kind or type.
        mismatched: Vec<String>,
        /// The world the component does implement, when its exports say so
        /// (e.g. a policy uploaded as a strategy).
        looks_like: Option<&'static str>,
    },
    /// Linking the component against the host failed.
    #[error("cannot link the guest against the host: {reason}")]
    Link {
        /// wasmtime's explanation.
        reason: String,
    },
    /// Instantiating the component failed (resource limits, pool exhausted).
    #[error("cannot instantiate the guest: {reason}")]
    Instantiate {
        /// wasmtime's explanation.
        reason: String,
    },
    /// The engine already runs `max_live_guests` guests.
    #[error(
        "cannot start another guest: {live} guests are alive, the limit is {limit} (`max_live_guests`); stop a guest or raise the limit"
    )]
    TooManyGuests {
        /// Guests alive when the new one was refused.
        live: usize,
        /// The limit.
        limit: usize,
    },
    /// The guest's `init` returned an error.
    #[error("guest refused its configuration: {message}")]
    Init {
        /// The guest's message, verbatim.
        message: String,
    },
    /// A policy refused its first model, or the model does not fit.
    #[error("policy cannot start with this model")]
    Model(#[source] wasmtrade_model::ModelError),
    /// The guest faulted (trap, budget, limit) while starting.
    #[error("guest faulted in `{call}` while starting")]
    Startup {
        /// The export that faulted: `info`, `init` or `outputs`.
        call: &'static str,
        /// The fault.
        #[source]
        fault: GuestFault,
    },
    /// Serialising a compiled guest failed.
    #[error("cannot serialise the compiled guest: {reason}")]
    Serialize {
        /// wasmtime's explanation.
        reason: String,
    },
    /// Loading a precompiled artifact failed (corrupt, or from another engine config).
    #[error("cannot load the precompiled guest (recompile it from its wasm): {reason}")]
    Deserialize {
        /// wasmtime's explanation.
        reason: String,
    },
}

fn list(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn world_mismatch(
    world: &str,
    missing: &[String],
    mismatched: &[String],
    looks_like: Option<&str>,
) -> String {
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!(
            "component does not export {} required by world {world}",
            list(missing)
        ));
    }
    if !mismatched.is_empty() {
        parts.push(format!(
            "exports {} do not match the types of world {world}",
            list(mismatched)
        ));
    }
    let hint = match world {
        w if w.starts_with("strategy") => {
            "; is it an indicator, or built against another wasmtrade:guest version?"
        }
        w if w.starts_with("policy") => {
            "; is it a strategy or an indicator, or built against another wasmtrade:guest version?"
        }
        _ => "; is it a strategy, or built against another wasmtrade:guest version?",
    };
    match looks_like {
        Some(other) => format!(
            "{}{hint} (it exports world {other}: load it as that kind)",
            parts.join("; ")
        ),
        None => format!("{}{hint}", parts.join("; ")),
    }
}

impl HostError {
    /// True if the problem is in the guest's bytes (the caller should report
    /// it to the author), false if it is the host's configuration or state.
    pub fn is_guest_problem(&self) -> bool {
        !matches!(
            self,
            HostError::Config { .. }
                | HostError::Engine { .. }
                | HostError::Serialize { .. }
                | HostError::TooManyGuests { .. }
        )
    }
}
