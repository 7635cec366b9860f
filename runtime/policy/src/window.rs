//! The state a [`PolicyStrategy`](crate::PolicyStrategy) keeps between
//! events: the feature windows, its working orders and its counters.

use std::collections::{BTreeMap, VecDeque};

use wasmtrade_model::{Bar, FEATURES, GuestContext, InstrumentId, PolicyStats, Transition};

/// Per-instrument rolling state.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Window {
    pub(crate) rows: VecDeque<[f32; FEATURES]>,
    pub(crate) last_close: Option<f64>,
    pub(crate) last_volume: Option<f64>,
}

/// The state that survives a weight swap and a guest restart.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct State {
    pub(crate) windows: BTreeMap<InstrumentId, Window>,
    /// Working orders of ours: client id → remaining quantity.
    pub(crate) working: BTreeMap<String, f64>,
    /// Bars the working orders have waited.
    pub(crate) waited: u32,
    pub(crate) orders: u64,
    pub(crate) stats: PolicyStats,
    /// The last decision, waiting for its reward.
    pub(crate) pending: Option<Transition>,
}

fn ln_ratio(a: f64, b: f64) -> f64 {
    if a > 0.0 && b > 0.0 { (a / b).ln() } else { 0.0 }
}

impl Window {
    /// Appends the feature row of `bar` (the account as `ctx` sees it),
    /// keeping the newest `rows` rows.
    pub(crate) fn push(&mut self, bar: &Bar, ctx: &GuestContext, rows: usize) {
        let close = bar.close.to_f64();
        let equity = ctx.account.equity;
        let position_value = ctx.position(bar.instrument).quantity * close;
        let (pos, cash) = if equity.abs() > f64::EPSILON {
            (position_value / equity, ctx.account.cash / equity)
        } else {
            (0.0, 1.0)
        };
        let volume = bar.volume.to_f64();
        let row = [
            self.last_close.map_or(0.0, |p| ln_ratio(close, p)),
            if close > 0.0 {
                (bar.high.to_f64() - bar.low.to_f64()) / close
            } else {
                0.0
            },
            if close > 0.0 {
                (close - bar.open.to_f64()) / close
            } else {
                0.0
            },
            self.last_volume
                .map_or(0.0, |v| ln_ratio(volume, v).clamp(-5.0, 5.0)),
            pos,
            cash,
        ]
        .map(|v| if v.is_finite() { v as f32 } else { 0.0 });
        self.last_close = Some(close);
        self.last_volume = Some(volume);
        self.rows.push_back(row);
        while self.rows.len() > rows {
            self.rows.pop_front();
        }
    }
}
