//! A fixed-bucket histogram of durations, cheap enough to record on every
//! guest callback and read by the metrics endpoint.

/// Upper bounds of the [`Durations`] buckets in nanoseconds: 1 µs to 100 ms
/// (a compiled strategy's callback takes about a microsecond, a durable
/// journal commit a few hundred; 100 ms is far beyond any sensible one).
pub const DURATION_BOUNDS_NS: [u64; 11] = [
    1_000,
    5_000,
    10_000,
    50_000,
    100_000,
    500_000,
    1_000_000,
    5_000_000,
    10_000_000,
    50_000_000,
    100_000_000,
];

/// A histogram of durations (guest callbacks, journal commits) with the fixed bounds
/// [`DURATION_BOUNDS_NS`]; `counts` are per bucket (not cumulative), the last
/// one counting everything above the largest bound.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Durations {
    /// Operations per bucket.
    pub counts: [u64; DURATION_BOUNDS_NS.len() + 1],
    /// Sum of all durations, nanoseconds.
    pub sum_ns: u64,
}

impl Durations {
    /// Adds one operation that took `ns` nanoseconds.
    #[inline]
    pub fn record(&mut self, ns: u64) {
        let bucket = DURATION_BOUNDS_NS
            .iter()
            .position(|&bound| ns <= bound)
            .unwrap_or(DURATION_BOUNDS_NS.len());
        self.counts[bucket] += 1;
        self.sum_ns = self.sum_ns.saturating_add(ns);
    }

    /// Operations recorded.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_fall_into_the_first_bucket_whose_bound_they_do_not_exceed() {
        let mut t = Durations::default();
        t.record(0);
        t.record(1_000);
        t.record(1_001);
        t.record(100_000_000);
        t.record(100_000_001);
        assert_eq!(t.counts[0], 2);
        assert_eq!(t.counts[1], 1);
        assert_eq!(t.counts[DURATION_BOUNDS_NS.len() - 1], 1);
        assert_eq!(t.counts[DURATION_BOUNDS_NS.len()], 1);
        assert_eq!(t.count(), 5);
        assert_eq!(t.sum_ns, 200_002_002);
    }
}
