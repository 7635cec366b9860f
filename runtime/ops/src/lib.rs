//! The operations endpoints of `wasmtrade serve`: liveness, readiness, a
//! JSON status page and Prometheus metrics, on their own HTTP port.
//!
//! | path       | answers                                                             |
//! |------------|---------------------------------------------------------------------|
//! | `/healthz` | 200 while the process and its event loop are alive, else 503        |
//! | `/readyz`  | 200 `{"ready":true}` once started and until SIGTERM, else 503 + why |
//! | `/status`  | version, uptime, data dir, market, modules, kill switch, account    |
//! | `/metrics` | OpenMetrics text, every name prefixed `wasmtrade_`                  |
//!
//! Counters of what happens (orders, fills, rejections by reason, swaps,
//! faults) come from the runtime's event bus; gauges (account, guests, kill
//! switch) from a poll of the runtime on each scrape, so a scrape costs
//! three round trips through the event loop and nothing happens between
//! scrapes but the watchdog's ping. `serve` wires it like this:
//!
//! ```text
//!  Ops::new ─► Ops::serve(listener)   starting: /healthz 200, /readyz 503
//!  Runtime::start ─► Ops::attach(handle)   /readyz 200 while the runtime is ready
//!  SIGTERM ─► Ops::drain()            /readyz 503 (with the gRPC health flip)
//!  Runtime::shutdown ─► Ops::shutdown()
//! ```
//!
//! ```
//! use wasmtrade_ops::Metrics;
//!
//! let metrics = Metrics::new("0.1.0", 0.0);
//! metrics.set_health(true, false);
//! let text = metrics.render();
//! assert!(text.contains("wasmtrade_up 1"));
//! assert!(text.contains("wasmtrade_build_info{version=\"0.1.0\"} 1"));
//! assert!(text.ends_with("# EOF\n"));
//! ```

mod health;
mod metrics;
mod policy_metrics;
mod server;
mod source;

pub use health::{Health, LoopState, Phase, Verdict};
pub use metrics::{CONTENT_TYPE, Metrics};
pub use policy_metrics::{PolicyMetrics, Timed};
pub use server::{Ops, OpsOptions};
pub use source::{
    AccountStatus, BoxFuture, Counters, Latched, ModuleStatus, RiskStatus, Sample, ShadowStatus, Source,
};
