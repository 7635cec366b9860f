//! What the three module types ([`StrategyModule`](crate::StrategyModule),
//! [`IndicatorModule`](crate::IndicatorModule),
//! [`PolicyModule`](crate::PolicyModule)) share: a validated, compiled and
//! linked component of one world ([`Loaded`]), its identity, its artifact,
//! and how an instance starts (a fresh sandbox, then `info()` and
//! `init(config_json)`).

use std::sync::Arc;

use wasmtime::Store;
use wasmtime::component::Component;
use wasmtrade_model::{GuestContext, GuestFault, GuestInfo};

use crate::bindings::{indicator, policy, strategy, types as wit};
use crate::engine::Shared;
use crate::sandbox::Sandbox;
use crate::state::GuestState;
use crate::{HostConfig, HostError, convert, engine};

/// One world's generated bindings, as [`Loaded`] drives them.
pub(crate) trait World: Sized {
    /// The linked, not yet instantiated component.
    type Pre: Clone;
    /// The world's name in logs: `strategy`, `indicator`, `policy`.
    const KIND: &'static str;
    /// The engine the component was compiled for.
    fn engine(pre: &Self::Pre) -> &wasmtime::Engine;
    /// The compiled component.
    fn component(pre: &Self::Pre) -> &Component;
    /// A new instance in `store`.
    fn instantiate(pre: &Self::Pre, store: &mut Store<GuestState>) -> wasmtime::Result<Self>;
    /// The guest's `info()` export.
    fn call_info(&self, store: &mut Store<GuestState>) -> wasmtime::Result<wit::GuestInfo>;
    /// The guest's `init(config)` export.
    fn call_init(
        &self,
        store: &mut Store<GuestState>,
        config: &str,
    ) -> wasmtime::Result<Result<(), wit::GuestError>>;
}

macro_rules! world {
    ($bindings:ty, $pre:ty, $kind:literal) => {
        impl World for $bindings {
            type Pre = $pre;
            const KIND: &'static str = $kind;
            fn engine(pre: &Self::Pre) -> &wasmtime::Engine {
                pre.engine()
            }
            fn component(pre: &Self::Pre) -> &Component {
                pre.instance_pre().component()
            }
            fn instantiate(pre: &Self::Pre, store: &mut Store<GuestState>) -> wasmtime::Result<Self> {
                pre.instantiate(store)
            }
            fn call_info(&self, store: &mut Store<GuestState>) -> wasmtime::Result<wit::GuestInfo> {
                <$bindings>::call_info(self, store)
            }
            fn call_init(
                &self,
                store: &mut Store<GuestState>,
                config: &str,
            ) -> wasmtime::Result<Result<(), wit::GuestError>> {
                <$bindings>::call_init(self, store, config)
            }
        }
    };
}

world!(strategy::Strategy, strategy::StrategyPre<GuestState>, "strategy");
world!(
    indicator::Indicator,
    indicator::IndicatorPre<GuestState>,
    "indicator"
);
world!(policy::Policy, policy::PolicyPre<GuestState>, "policy");

/// A validated, compiled and linked component of world `W`, ready to
/// instantiate any number of times.
pub(crate) struct Loaded<W: World> {
    pre: W::Pre,
    sha256: Arc<str>,
    shared: Arc<Shared>,
}

impl<W: World> Clone for Loaded<W> {
    fn clone(&self) -> Self {
        Self {
            pre: self.pre.clone(),
            sha256: self.sha256.clone(),
            shared: self.shared.clone(),
        }
    }
}

/// An instance that answered `info()` and `init`.
pub(crate) struct Started<W> {
    /// Its store and limits.
    pub(crate) sandbox: Sandbox,
    /// Its exports.
    pub(crate) bindings: W,
    /// What it says about itself.
    pub(crate) info: GuestInfo,
}

impl<W: World> Loaded<W> {
    pub(crate) fn new(pre: W::Pre, sha256: String, shared: Arc<Shared>) -> Self {
        Self {
            pre,
            sha256: sha256.into(),
            shared,
        }
    }

    /// Hex sha256 of the guest's wasm bytes.
    pub(crate) fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The same, shared with the instances.
    pub(crate) fn sha256_shared(&self) -> Arc<str> {
        self.sha256.clone()
    }

    /// The engine's configuration.
    pub(crate) fn config(&self) -> &HostConfig {
        &self.shared.config
    }

    /// The compiled component as an artifact for the engine's
    /// `load_precompiled_*`.
    pub(crate) fn precompiled(&self) -> Result<Vec<u8>, HostError> {
        engine::precompiled(W::component(&self.pre), &self.sha256)
    }

    /// Starts an instance: a fresh store around `ctx`, then `info()` and
    /// `init(config_json)`. An `init` error is [`HostError::Init`] with the
    /// guest's message verbatim; a trap is [`HostError::Startup`]; an engine
    /// already running `max_live_guests` guests refuses with
    /// [`HostError::TooManyGuests`].
    pub(crate) fn start(&self, ctx: GuestContext, config_json: &str) -> Result<Started<W>, HostError> {
        let mut sandbox = Sandbox::new(W::engine(&self.pre), ctx, &self.shared)?;
        let bindings = W::instantiate(&self.pre, &mut sandbox.store).map_err(|e| HostError::Instantiate {
            reason: format!("{e:#}"),
        })?;
        let info = sandbox
            .run(|s| bindings.call_info(s).map(Ok))
            .map_err(|fault| HostError::Startup { call: "info", fault })?;
        match sandbox.run(|s| bindings.call_init(s, config_json)) {
            Ok(()) => {}
            Err(GuestFault::Returned { message }) => return Err(HostError::Init { message }),
            Err(fault) => return Err(HostError::Startup { call: "init", fault }),
        }
        let info = convert::guest_info(info);
        tracing::debug!(guest = %info, sha256 = %self.sha256, "{} started", W::KIND);
        Ok(Started {
            sandbox,
            bindings,
            info,
        })
    }

    /// The module's `Debug` output, under the public type's `name`.
    pub(crate) fn debug(&self, name: &str, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(name)
            .field("sha256", &self.sha256)
            .finish_non_exhaustive()
    }
}
