//! The adapter's snapshot: a small self-describing binary form of
//! [`State`]. The state has only numbers, strings and nested lists, so
//! serde's data model is not needed; one version byte lets a later layout
//! take this one over.

use std::collections::VecDeque;

use wasmtrade_model::{FEATURES, InstrumentId};

use crate::window::{State, Window};

/// The layout written by [`encode`].
const VERSION: u8 = 1;

/// `state` as snapshot bytes (the pending transition is not kept: a restored
/// adapter waits for its next decision).
pub(crate) fn encode(state: &State) -> Vec<u8> {
    let mut out = vec![VERSION];
    put_u64(&mut out, state.windows.len() as u64);
    for (id, w) in &state.windows {
        put_u64(&mut out, u64::from(id.0));
        put_opt(&mut out, w.last_close);
        put_opt(&mut out, w.last_volume);
        put_u64(&mut out, w.rows.len() as u64);
        for row in &w.rows {
            for v in row {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
    }
    put_u64(&mut out, state.working.len() as u64);
    for (id, q) in &state.working {
        put_u64(&mut out, id.len() as u64);
        out.extend_from_slice(id.as_bytes());
        out.extend_from_slice(&q.to_le_bytes());
    }
    put_u64(&mut out, state.orders);
    put_u64(&mut out, state.stats.steps);
    out.extend_from_slice(&state.stats.cumulative_reward.to_le_bytes());
    out.extend_from_slice(&state.stats.portfolio_value.to_le_bytes());
    out
}

/// The state in `bytes`, if they are a snapshot of this layout whose
/// windows hold at most `max_rows` rows.
pub(crate) fn decode(bytes: &[u8], max_rows: usize) -> Option<State> {
    let mut r = Reader(bytes);
    if r.take(1)? != [VERSION] {
        return None;
    }
    let mut state = State::default();
    for _ in 0..r.u64()? {
        let id = InstrumentId(u32::try_from(r.u64()?).ok()?);
        let last_close = r.opt()?;
        let last_volume = r.opt()?;
        let n = usize::try_from(r.u64()?).ok()?;
        if n > max_rows {
            return None;
        }
        let mut rows = VecDeque::with_capacity(n);
        for _ in 0..n {
            let mut row = [0f32; FEATURES];
            for v in &mut row {
                *v = f32::from_le_bytes(r.take(4)?.try_into().ok()?);
            }
            rows.push_back(row);
        }
        state.windows.insert(
            id,
            Window {
                rows,
                last_close,
                last_volume,
            },
        );
    }
    for _ in 0..r.u64()? {
        let len = usize::try_from(r.u64()?).ok()?;
        let id = String::from_utf8(r.take(len)?.to_vec()).ok()?;
        let q = r.f64()?;
        state.working.insert(id, q);
    }
    state.orders = r.u64()?;
    state.stats.steps = r.u64()?;
    state.stats.cumulative_reward = r.f64()?;
    state.stats.portfolio_value = r.f64()?;
    r.0.is_empty().then_some(state)
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_opt(out: &mut Vec<u8>, v: Option<f64>) {
    match v {
        Some(v) => {
            out.push(1);
            out.extend_from_slice(&v.to_le_bytes());
        }
        None => out.push(0),
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn f64(&mut self) -> Option<f64> {
        Some(f64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn opt(&mut self) -> Option<Option<f64>> {
        match self.take(1)? {
            [0] => Some(None),
            [1] => Some(Some(self.f64()?)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_decodes_to_the_state_it_was_taken_of() {
        let mut state = State::default();
        let mut w = Window {
            last_close: Some(101.5),
            last_volume: None,
            ..Window::default()
        };
        w.rows.push_back([0.5; FEATURES]);
        w.rows.push_back([-1.0; FEATURES]);
        state.windows.insert(InstrumentId(3), w);
        state.working.insert("policy-7".into(), 12.0);
        state.orders = 7;
        state.stats.steps = 9;
        state.stats.cumulative_reward = -2.5;
        state.stats.portfolio_value = 1e6;
        let bytes = encode(&state);
        assert_eq!(decode(&bytes, 2), Some(state));
        assert_eq!(
            decode(&bytes, 1),
            None,
            "a window longer than the model's is refused"
        );
        assert_eq!(decode(&bytes[..bytes.len() - 1], 2), None);
        let mut other = bytes.clone();
        other[0] = 2;
        assert_eq!(decode(&other, 2), None, "another layout");
    }
}
