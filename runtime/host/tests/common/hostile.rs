//! The hostile guests of `guests/hostile` and a well-behaved neighbour:
//! loading them, driving them like the engine, and the neighbour's
//! reference transcript (shared by hostile.rs and hostile_refusals.rs).

#![allow(
    dead_code,
    unused_imports,
    reason = "each test binary uses a subset of the helpers and re-exports"
)]
#![allow(
    clippy::disallowed_methods,
    reason = "the deadline tests measure wall-clock time"
)]

pub use std::collections::BTreeMap;
pub use std::path::PathBuf;
pub use std::sync::{Mutex, OnceLock};
pub use std::time::{Duration, Instant};

pub use super::context;
pub use wasmtrade_host::{GuestEngine, HostConfig, HostError, StrategyModule, WasmStrategy};
pub use wasmtrade_model::{
    Bar, ClientOrderId, Fill, GuestFault, InstrumentId, Money, OrderId, PositionView, Price, Quantity,
    RawIntent, Side, StrategyGuest, StrategyId, Timestamp,
};

/// Directory of the built guests: `$WASMTRADE_GUEST_DIR`, else the workspace's
/// `target/wasm32-wasip2/guest`.
pub fn guest_dir() -> PathBuf {
    match std::env::var_os("WASMTRADE_GUEST_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/wasm32-wasip2/guest"),
    }
}

/// Bytes of a built guest, e.g. `hostile_infinite_loop`.
pub fn guest(name: &str) -> Vec<u8> {
    let path = guest_dir().join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "guest {} is not built ({e}): run `make guests` (or set WASMTRADE_GUEST_DIR)",
            path.display()
        )
    })
}

/// The default engine, shared by the tests that need no special limits.
pub fn default_engine() -> &'static GuestEngine {
    static ENGINE: OnceLock<GuestEngine> = OnceLock::new();
    ENGINE.get_or_init(|| engine(HostConfig::default()))
}

/// Loads a guest; modules of the shared default engine are compiled once.
pub fn load(engine: &GuestEngine, name: &str) -> StrategyModule {
    static CACHE: Mutex<BTreeMap<String, StrategyModule>> = Mutex::new(BTreeMap::new());
    if !std::ptr::eq(engine, default_engine()) {
        return engine.load_strategy(&guest(name)).unwrap();
    }
    let mut cache = CACHE.lock().unwrap();
    cache
        .entry(name.to_string())
        .or_insert_with(|| engine.load_strategy(&guest(name)).unwrap())
        .clone()
}

pub fn hostile(engine: &GuestEngine, name: &str, config: &str) -> WasmStrategy {
    let module = load(engine, &format!("hostile_{}", name.replace('-', "_")));
    module.instantiate(context(), config).unwrap()
}

pub fn engine(config: HostConfig) -> GuestEngine {
    GuestEngine::new(config).unwrap()
}

/// Bar `n` of a wavy AAPL series with several moving-average crosses.
pub fn bar(n: i64) -> Bar {
    let x = n as f64;
    let close = Price::from_f64(100.0 + 8.0 * (x / 9.0).sin() + 0.02 * x).unwrap();
    Bar {
        instrument: InstrumentId(0),
        ts: Timestamp::from_secs(n * 60),
        open: close,
        high: close,
        low: close,
        close,
        volume: Quantity::from_int(1000),
    }
}

pub const BARS: i64 = 240;
pub const SMA_CONFIG: &str = r#"{"fast": 5, "slow": 20, "quantity": 3}"#;

/// `sma-cross` driven like the engine would: clock, fills at the close for
/// every order, positions; its transcript is every intent and log line.
pub struct Neighbour {
    pub guest: WasmStrategy,
    pub transcript: Vec<String>,
    pub fills: u64,
}

impl Neighbour {
    pub fn start(engine: &GuestEngine) -> Self {
        let module = load(engine, "sma_cross");
        Self {
            guest: module.instantiate(context(), SMA_CONFIG).unwrap(),
            transcript: Vec::new(),
            fills: 0,
        }
    }

    pub fn step(&mut self, n: i64) {
        let bar = bar(n);
        self.guest.context().now = bar.ts;
        let intents = self.guest.on_bar(&bar).unwrap();
        for intent in intents {
            self.transcript.push(format!("{n}: {intent:?}"));
            if let RawIntent::Submit {
                client_id,
                side,
                quantity,
                ..
            } = intent
            {
                self.fill(&bar, &client_id, side, quantity);
            }
        }
        let ctx = self.guest.context();
        for line in ctx.logs.drain(..) {
            self.transcript
                .push(format!("{n}: {:?} {}", line.level, line.message));
        }
    }

    fn fill(&mut self, bar: &Bar, client_id: &str, side: Side, quantity: f64) {
        self.fills += 1;
        let ctx = self.guest.context();
        let signed = if side == Side::Buy { quantity } else { -quantity };
        let held = ctx.position(bar.instrument).quantity + signed;
        if held == 0.0 {
            ctx.positions.remove(&bar.instrument);
        } else {
            ctx.positions.insert(
                bar.instrument,
                PositionView {
                    quantity: held,
                    ..PositionView::default()
                },
            );
        }
        let fill = Fill {
            order_id: OrderId(self.fills),
            strategy: StrategyId::new("sma"),
            client_id: ClientOrderId::new(client_id),
            instrument: bar.instrument,
            side,
            quantity: Quantity::from_f64(quantity).unwrap(),
            price: bar.close,
            commission: Money::from_f64(0.0).unwrap(),
            ts: bar.ts,
            exec_id: format!("e{}", self.fills),
        };
        let out = self.guest.on_fill(&fill).unwrap();
        self.transcript.push(format!("fill {client_id}: {out:?}"));
    }
}

/// `sma-cross` alone in a default engine: what every neighbour must reproduce.
pub fn reference() -> &'static [String] {
    static REFERENCE: OnceLock<Vec<String>> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let mut n = Neighbour::start(default_engine());
        (1..=BARS).for_each(|i| n.step(i));
        assert!(n.fills >= 4, "the reference run should trade: {:?}", n.transcript);
        n.transcript
    })
}

/// Runs `sma-cross` bar by bar in `engine`, calling `hostile(bar)` after each
/// of its bars, and checks its transcript against the reference.
pub fn beside(engine: &GuestEngine, mut hostile: impl FnMut(i64)) {
    let mut n = Neighbour::start(engine);
    for i in 1..=BARS {
        n.step(i);
        hostile(i);
    }
    assert_eq!(
        n.transcript,
        reference(),
        "sma-cross changed beside a hostile guest"
    );
}
