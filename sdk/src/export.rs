//! The export macros: one line that turns a type into a guest component.

/// Exports a [`Strategy`](crate::Strategy) type as the guest's `strategy` world.
///
/// Write it once at the root of a guest crate (`crate-type = ["cdylib", "rlib"]`).
/// For `wasm32` it generates the component exports: `init` parses the JSON
/// configuration into `S::Config` and builds the single instance, which every
/// later callback uses; `info` reports `S::NAME`, `S::VERSION`, the SDK
/// version and the contract version. On native targets it only checks that
/// the type implements `Strategy`, so the same crate runs natively through
/// `wasmtrade-native` and [`testing::Harness`](crate::testing::Harness).
///
/// ```
/// # use wasmtrade_sdk::*;
/// struct Idle;
/// impl Strategy for Idle {
///     type Config = ();
///     const NAME: &'static str = "idle";
///     const VERSION: &'static str = "0.1.0";
///     fn new(_: (), _: &mut dyn Context) -> Result<Self, Error> { Ok(Idle) }
///     fn on_bar(&mut self, _: &mut dyn Context, _: &Bar) -> Intents { Ok(vec![]) }
/// }
/// export_strategy!(Idle);
/// ```
#[macro_export]
macro_rules! export_strategy {
    ($ty:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            ::std::thread_local! {
                static __WASMTRADE_GUEST: ::core::cell::RefCell<::core::option::Option<$ty>> =
                    const { ::core::cell::RefCell::new(::core::option::Option::None) };
            }
            struct __WasmtradeSlot;
            impl $crate::__private::Slot for __WasmtradeSlot {
                type Guest = $ty;
                fn with<R>(f: impl ::core::ops::FnOnce(&mut ::core::option::Option<$ty>) -> R) -> R {
                    __WASMTRADE_GUEST.with_borrow_mut(f)
                }
            }
            type __WasmtradeExport = $crate::__private::StrategyExport<__WasmtradeSlot>;
            $crate::__private::bindings::strategy::__export_strategy_world!(
                __WasmtradeExport with_types_in $crate::__private::bindings::strategy
            );
        };
        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            const fn __wasmtrade_is_a_strategy<S: $crate::Strategy>() {}
            __wasmtrade_is_a_strategy::<$ty>();
        };
    };
}

/// Exports an [`Indicator`](crate::Indicator) type as the guest's `indicator` world.
///
/// Same shape as [`export_strategy!`](crate::export_strategy): once per guest
/// crate; real exports on `wasm32`, a trait check elsewhere.
///
/// ```
/// # use wasmtrade_sdk::*;
/// struct Close;
/// impl Indicator for Close {
///     type Config = ();
///     const NAME: &'static str = "close";
///     const VERSION: &'static str = "0.1.0";
///     fn new(_: ()) -> Result<Self, Error> { Ok(Close) }
///     fn outputs(&self) -> Vec<String> { vec!["close".into()] }
///     fn update(&mut self, bar: &Bar) -> Option<Vec<f64>> { Some(vec![bar.close]) }
/// }
/// export_indicator!(Close);
/// ```
#[macro_export]
macro_rules! export_indicator {
    ($ty:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            ::std::thread_local! {
                static __WASMTRADE_GUEST: ::core::cell::RefCell<::core::option::Option<$ty>> =
                    const { ::core::cell::RefCell::new(::core::option::Option::None) };
            }
            struct __WasmtradeSlot;
            impl $crate::__private::Slot for __WasmtradeSlot {
                type Guest = $ty;
                fn with<R>(f: impl ::core::ops::FnOnce(&mut ::core::option::Option<$ty>) -> R) -> R {
                    __WASMTRADE_GUEST.with_borrow_mut(f)
                }
            }
            type __WasmtradeExport = $crate::__private::IndicatorExport<__WasmtradeSlot>;
            $crate::__private::bindings::indicator::__export_indicator_world!(
                __WasmtradeExport with_types_in $crate::__private::bindings::indicator
            );
        };
        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            const fn __wasmtrade_is_an_indicator<I: $crate::Indicator>() {}
            __wasmtrade_is_an_indicator::<$ty>();
        };
    };
}

/// Exports a [`Policy`](crate::Policy) type as the guest's `policy` world.
///
/// Same shape as [`export_strategy!`](crate::export_strategy): once per guest
/// crate; real exports on `wasm32`, a trait check elsewhere. `act` checks the
/// observation's size (`rows * columns`) before the policy sees it.
///
/// ```
/// # use wasmtrade_sdk::*;
/// struct Flat;
/// impl Policy for Flat {
///     type Config = ();
///     const NAME: &'static str = "flat";
///     const VERSION: &'static str = "0.1.0";
///     fn new(_: (), _: &mut dyn Context) -> Result<Self, Error> { Ok(Flat) }
///     fn load(&mut self, _: &mut dyn Context, _: &[u8]) -> Result<ModelInfo, Error> {
///         Ok(ModelInfo { input_shape: vec![], actions: 1 })
///     }
///     fn act(&mut self, _: &mut dyn Context, _: &Observation) -> Result<Action, Error> {
///         Ok(Action { decision: Decision::Target(0.0), index: 0, probabilities: vec![1.0], value: 0.0 })
///     }
/// }
/// export_policy!(Flat);
/// ```
#[macro_export]
macro_rules! export_policy {
    ($ty:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            ::std::thread_local! {
                static __WASMTRADE_GUEST: ::core::cell::RefCell<::core::option::Option<$ty>> =
                    const { ::core::cell::RefCell::new(::core::option::Option::None) };
            }
            struct __WasmtradeSlot;
            impl $crate::__private::Slot for __WasmtradeSlot {
                type Guest = $ty;
                fn with<R>(f: impl ::core::ops::FnOnce(&mut ::core::option::Option<$ty>) -> R) -> R {
                    __WASMTRADE_GUEST.with_borrow_mut(f)
                }
            }
            type __WasmtradeExport = $crate::__private::PolicyExport<__WasmtradeSlot>;
            $crate::__private::bindings::policy::__export_policy_world!(
                __WasmtradeExport with_types_in $crate::__private::bindings::policy
            );
        };
        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            const fn __wasmtrade_is_a_policy<P: $crate::Policy>() {}
            __wasmtrade_is_a_policy::<$ty>();
        };
    };
}
