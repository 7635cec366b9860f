//! The `wasmtrade:guest/host` imports, answered from the guest's
//! [`GuestContext`](wasmtrade_model::GuestContext). Strings arrive as valid
//! UTF-8 (the component model checks); the context bounds what is stored.

use wasmtrade_model::{InstrumentId, Timestamp};

use crate::bindings::{host, types};
use crate::convert;
use crate::state::GuestState;

impl types::Host for GuestState {}

impl GuestState {
    /// Numbers [`host::Host::indicator`] would return (what it is charged for).
    pub(crate) fn indicator_len(&self, name: &str, instrument: types::InstrumentId) -> usize {
        self.ctx
            .lookup_indicator(name, InstrumentId(instrument))
            .map_or(0, <[f64]>::len)
    }

    /// Bytes of the symbol [`host::Host::instrument_symbol`] would return.
    pub(crate) fn symbol_len(&self, instrument: types::InstrumentId) -> usize {
        self.ctx
            .instruments
            .get(InstrumentId(instrument))
            .map_or(0, |i| i.symbol.len())
    }
}

impl host::Host for GuestState {
    fn now(&mut self) -> types::Timestamp {
        self.ctx.now.nanos()
    }

    fn log(&mut self, level: types::LogLevel, message: String) {
        self.ctx.log(convert::log_level(level), &message);
    }

    fn random_u64(&mut self) -> u64 {
        self.ctx.rng.next_u64()
    }

    fn position_of(&mut self, instrument: types::InstrumentId) -> types::Position {
        let id = InstrumentId(instrument);
        convert::position(id, self.ctx.position(id))
    }

    fn positions(&mut self) -> Vec<types::Position> {
        self.ctx
            .positions
            .iter()
            .map(|(id, p)| convert::position(*id, *p))
            .collect()
    }

    fn account_view(&mut self) -> types::Account {
        convert::account(&self.ctx.account)
    }

    fn indicator(&mut self, name: String, instrument: types::InstrumentId) -> Option<Vec<f64>> {
        self.ctx
            .lookup_indicator(&name, InstrumentId(instrument))
            .map(<[f64]>::to_vec)
    }

    fn instrument_symbol(&mut self, instrument: types::InstrumentId) -> Option<String> {
        self.ctx
            .instruments
            .get(InstrumentId(instrument))
            .map(|i| i.symbol.clone())
    }

    fn instrument_by_symbol(&mut self, symbol: String) -> Option<types::InstrumentId> {
        self.ctx.lookup_instrument(&symbol).map(|id| id.0)
    }

    fn set_timer(&mut self, name: String, at: types::Timestamp) {
        self.ctx.request_timer(&name, Timestamp::from_nanos(at));
    }

    fn kv_get(&mut self, key: String) -> Option<Vec<u8>> {
        self.ctx.kv.get(&key).map(<[u8]>::to_vec)
    }

    fn kv_set(&mut self, key: String, value: Vec<u8>) {
        self.ctx.request_kv_set(&key, &value);
    }
}
