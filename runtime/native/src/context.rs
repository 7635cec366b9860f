//! The SDK [`Context`] over the engine's [`GuestContext`], answering every
//! call exactly as the wasm host answers the matching import: both go
//! through the context's `lookup_*`/`request_*` rules.

use wasmtrade_model::{GuestContext, InstrumentId, Timestamp};
use wasmtrade_sdk as sdk;
use wasmtrade_sdk::Context;

use crate::convert;

/// Borrows a [`GuestContext`] as an SDK [`Context`] for one callback.
pub(crate) struct ContextAdapter<'a>(pub(crate) &'a mut GuestContext);

impl Context for ContextAdapter<'_> {
    fn now(&self) -> sdk::Timestamp {
        self.0.now.nanos()
    }
    fn log(&mut self, level: sdk::LogLevel, message: &str) {
        self.0.log(convert::log_level(level), message);
    }
    fn random_u64(&mut self) -> u64 {
        self.0.rng.next_u64()
    }
    fn position(&self, instrument: sdk::InstrumentId) -> sdk::Position {
        let id = InstrumentId(instrument.0);
        convert::position(id, self.0.position(id))
    }
    fn positions(&self) -> Vec<sdk::Position> {
        self.0
            .positions
            .iter()
            .map(|(id, p)| convert::position(*id, *p))
            .collect()
    }
    fn account(&self) -> sdk::Account {
        convert::account(&self.0.account)
    }
    fn indicator(&self, name: &str, instrument: sdk::InstrumentId) -> Option<Vec<f64>> {
        self.0
            .lookup_indicator(name, InstrumentId(instrument.0))
            .map(<[f64]>::to_vec)
    }
    fn symbol(&self, instrument: sdk::InstrumentId) -> Option<String> {
        self.0
            .instruments
            .get(InstrumentId(instrument.0))
            .map(|i| i.symbol.clone())
    }
    fn instrument(&self, symbol: &str) -> Option<sdk::InstrumentId> {
        self.0.lookup_instrument(symbol).map(|id| sdk::InstrumentId(id.0))
    }
    fn set_timer(&mut self, name: &str, at: sdk::Timestamp) {
        self.0.request_timer(name, Timestamp::from_nanos(at));
    }
    fn kv_get(&self, key: &str) -> Option<Vec<u8>> {
        self.0.kv.get(key).map(<[u8]>::to_vec)
    }
    fn kv_set(&mut self, key: &str, value: &[u8]) {
        self.0.request_kv_set(key, value);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use wasmtrade_model::{ContextLimits, Instruments, LogLevel, PositionView};

    use super::*;

    fn ctx() -> GuestContext {
        let mut instruments = Instruments::new();
        instruments.intern("AAPL");
        instruments.intern("MSFT");
        GuestContext::new(Arc::new(instruments), 7)
    }

    #[test]
    fn answers_views_from_the_guest_context() {
        let mut g = ctx();
        g.now = Timestamp::from_secs(3);
        g.positions.insert(
            InstrumentId(1),
            PositionView {
                quantity: 4.0,
                average_price: 10.0,
                ..PositionView::default()
            },
        );
        g.account.equity = 99.0;
        g.set_indicator("sma", InstrumentId(1), Some(vec![1.5]));
        let c = ContextAdapter(&mut g);
        assert_eq!(c.now(), 3_000_000_000);
        assert_eq!(c.position(sdk::InstrumentId(1)).quantity, 4.0);
        assert!(c.position(sdk::InstrumentId(0)).is_flat());
        assert_eq!(c.positions().len(), 1);
        assert_eq!(c.account().equity, 99.0);
        assert_eq!(c.indicator("sma", sdk::InstrumentId(1)), Some(vec![1.5]));
        assert_eq!(c.indicator("sma", sdk::InstrumentId(0)), None);
        assert_eq!(c.symbol(sdk::InstrumentId(1)).as_deref(), Some("MSFT"));
        assert_eq!(c.instrument("AAPL"), Some(sdk::InstrumentId(0)));
        assert_eq!(c.instrument("NOPE"), None);
    }

    #[test]
    fn rng_is_the_guest_rng() {
        let mut g = ctx();
        let mut expected = g.rng.clone();
        let mut c = ContextAdapter(&mut g);
        assert_eq!(c.random_u64(), expected.next_u64());
    }

    #[test]
    fn refused_timers_and_kv_writes_log_a_host_warning() {
        let mut g = ctx();
        g.limits = ContextLimits {
            max_timers: 1,
            max_kv_bytes: 4,
            ..ContextLimits::default()
        };
        let mut c = ContextAdapter(&mut g);
        c.set_timer("a", 5);
        c.set_timer("b", 6);
        c.kv_set("k", b"123");
        c.kv_set("k", b"123456");
        c.info("hello");
        assert_eq!(c.kv_get("k"), Some(b"123".to_vec()));
        let logs: Vec<_> = g.logs.iter().map(|l| (l.level, l.message.as_str())).collect();
        assert_eq!(
            logs,
            vec![
                (
                    LogLevel::Warn,
                    "host: timer refused (too many timers or name too long)"
                ),
                (
                    LogLevel::Warn,
                    "host: kv-set refused: key-value space full: 7 bytes of keys and values needed, the limit is 4 (`max_kv_bytes`); overwrite or shrink existing entries"
                ),
                (LogLevel::Info, "hello"),
            ]
        );
        assert_eq!(g.timers.get("a"), Some(&Timestamp::from_nanos(5)));
    }
}
