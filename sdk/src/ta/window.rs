//! A fixed-capacity ring buffer of the most recent values, and serde helpers
//! that store `f64` as its IEEE-754 bits so snapshots restore bit-exactly.

use serde::{Deserialize, Serialize};

use super::error::TaError;

/// The last `capacity` values pushed. Allocates once, at construction.
///
/// TA-Lib's running sums subtract, at index `i`, the value that entered
/// `period - 1` steps earlier; a window of capacity `period - 1` hands exactly
/// that value back from [`Window::push`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "WindowState")]
pub(crate) struct Window {
    #[serde(with = "vec_f64_bits")]
    buf: Vec<f64>,
    /// Slot the next value is written to.
    pos: usize,
    /// Whether every slot holds a pushed value.
    full: bool,
}

impl Window {
    /// An empty window holding up to `capacity` values.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            buf: vec![0.0; capacity],
            pos: 0,
            full: capacity == 0,
        }
    }

    /// How many values the window holds when full.
    pub(crate) fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Pushes `x`; returns the value it displaces once the window is full
    /// (`x` itself when the capacity is zero), `None` while filling.
    pub(crate) fn push(&mut self, x: f64) -> Option<f64> {
        let Some(slot) = self.buf.get_mut(self.pos) else {
            return Some(x);
        };
        let old = std::mem::replace(slot, x);
        let evicted = self.full.then_some(old);
        self.pos += 1;
        if self.pos == self.buf.len() {
            self.pos = 0;
            self.full = true;
        }
        evicted
    }

    /// Empties the window, keeping its capacity.
    pub(crate) fn clear(&mut self) {
        self.buf.fill(0.0);
        self.pos = 0;
        self.full = self.buf.is_empty();
    }
}

/// The unvalidated form of [`Window`] as read from a snapshot.
#[derive(Deserialize)]
struct WindowState {
    #[serde(with = "vec_f64_bits")]
    buf: Vec<f64>,
    pos: usize,
    full: bool,
}

impl TryFrom<WindowState> for Window {
    type Error = TaError;

    fn try_from(s: WindowState) -> Result<Self, TaError> {
        let ok = if s.buf.is_empty() {
            s.pos == 0 && s.full
        } else {
            s.pos < s.buf.len()
        };
        super::error::ensure(ok, "window", "write position outside the buffer")?;
        Ok(Self {
            buf: s.buf,
            pos: s.pos,
            full: s.full,
        })
    }
}

/// `f64` stored as its bits (`u64`): exact in any format, NaN included.
pub(crate) mod f64_bits {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(v.to_bits())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        u64::deserialize(d).map(f64::from_bits)
    }
}

/// `Option<f64>` stored as optional bits.
pub(crate) mod opt_f64_bits {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(x) => s.serialize_some(&x.to_bits()),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        Option::<u64>::deserialize(d).map(|v| v.map(f64::from_bits))
    }
}

/// `Option<T>` of a three-value output (MACD, Bollinger) stored as optional bits.
pub(crate) mod opt_triple_bits {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<T, S>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error>
    where
        T: Copy + Into<[f64; 3]>,
        S: Serializer,
    {
        match v {
            Some(x) => s.serialize_some(&Into::<[f64; 3]>::into(*x).map(f64::to_bits)),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, T, D>(d: D) -> Result<Option<T>, D::Error>
    where
        T: From<[f64; 3]>,
        D: Deserializer<'de>,
    {
        Option::<[u64; 3]>::deserialize(d).map(|v| v.map(|bits| T::from(bits.map(f64::from_bits))))
    }
}

/// `Vec<f64>` stored as a sequence of bits.
pub(crate) mod vec_f64_bits {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|x| x.to_bits()))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        Vec::<u64>::deserialize(d).map(|v| v.into_iter().map(f64::from_bits).collect())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails loudly on an unexpected error")]
mod tests {
    use super::*;

    #[test]
    fn push_returns_value_from_capacity_steps_back() {
        let mut w = Window::new(2);
        assert_eq!(w.push(1.0), None);
        assert_eq!(w.push(2.0), None);
        assert_eq!(w.push(3.0), Some(1.0));
        assert_eq!(w.push(4.0), Some(2.0));
        assert_eq!(w.push(5.0), Some(3.0));
    }

    #[test]
    fn zero_capacity_hands_back_the_pushed_value() {
        let mut w = Window::new(0);
        assert_eq!(w.push(7.0), Some(7.0));
        w.clear();
        assert_eq!(w.push(8.0), Some(8.0));
    }

    #[test]
    fn snapshot_round_trips_and_rejects_bad_position() {
        let mut w = Window::new(3);
        w.push(0.1);
        w.push(f64::NAN);
        let json = serde_json::to_string(&w).unwrap();
        let back: Window = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), json);
        let bad = r#"{"buf":[0,0],"pos":2,"full":false}"#;
        let err = serde_json::from_str::<Window>(bad).unwrap_err().to_string();
        assert!(err.contains("write position"), "{err}");
    }
}
