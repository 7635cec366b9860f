//! Outbound pacing: a token bucket below IB's 50 messages/s, a priority
//! queue where cancels go first, and IB's historical-data rules.
//!
//! Both limiters take the time as an argument (a [`Duration`] since an
//! arbitrary origin) so tests drive them with a fake clock.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// A token bucket: `rate` tokens per second, at most `burst` saved up.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    rate: u32,
    burst: u32,
    /// Tokens in micro-tokens (1e-6) to avoid floating point.
    micro: u64,
    last: Duration,
}

impl TokenBucket {
    /// A full bucket at time `now`. A `burst` of 1 spaces messages evenly.
    pub fn new(rate: u32, burst: u32, now: Duration) -> Self {
        let rate = rate.max(1);
        let burst = burst.max(1);
        Self {
            rate,
            burst,
            micro: u64::from(burst) * 1_000_000,
            last: now,
        }
    }

    fn refill(&mut self, now: Duration) {
        let elapsed = now.saturating_sub(self.last);
        self.last = self.last.max(now);
        let add = elapsed.as_micros().saturating_mul(u128::from(self.rate));
        let cap = u64::from(self.burst) * 1_000_000;
        self.micro = (u128::from(self.micro) + add).min(u128::from(cap)) as u64;
    }

    /// Takes one token at `now`, or says how long to wait for one.
    pub fn try_take(&mut self, now: Duration) -> Result<(), Duration> {
        self.refill(now);
        if self.micro >= 1_000_000 {
            self.micro -= 1_000_000;
            Ok(())
        } else {
            let missing = 1_000_000 - self.micro;
            Err(Duration::from_micros(missing.div_ceil(u64::from(self.rate))))
        }
    }
}

/// How urgent an outbound request is. Lower sends first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    /// Cancels: a way out must never wait behind new risk.
    Cancel = 0,
    /// New orders and modifications.
    Order = 1,
    /// Subscriptions, reconciliation and other requests.
    Data = 2,
}

/// A FIFO per priority; `pop` takes from the most urgent non-empty one.
#[derive(Debug)]
pub struct PriorityQueue<T> {
    queues: BTreeMap<Priority, VecDeque<T>>,
}

impl<T> Default for PriorityQueue<T> {
    fn default() -> Self {
        Self {
            queues: BTreeMap::new(),
        }
    }
}

impl<T> PriorityQueue<T> {
    /// Adds `item` at `priority`.
    pub fn push(&mut self, priority: Priority, item: T) {
        self.queues.entry(priority).or_default().push_back(item);
    }
    /// The most urgent item.
    pub fn pop(&mut self) -> Option<(Priority, T)> {
        self.queues
            .iter_mut()
            .find_map(|(p, q)| q.pop_front().map(|item| (*p, item)))
    }
    /// Number of queued items.
    pub fn len(&self) -> usize {
        self.queues.values().map(VecDeque::len).sum()
    }
    /// True if nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// IB's historical-data pacing rules (as documented by IB): at most 60
/// requests in any 10 minutes, no identical request within 15 s, and at most
/// 5 requests for the same contract within 2 s.
#[derive(Debug, Default)]
pub struct HistoricalPacer {
    /// (time, contract, request key) of recent requests, oldest first.
    recent: VecDeque<(Duration, String, String)>,
}

impl HistoricalPacer {
    /// Requests allowed per ten minutes.
    pub const PER_TEN_MINUTES: usize = 60;
    const TEN_MINUTES: Duration = Duration::from_secs(600);
    const IDENTICAL: Duration = Duration::from_secs(15);
    const SAME_CONTRACT: Duration = Duration::from_secs(2);
    const SAME_CONTRACT_MAX: usize = 5;

    /// Records the request at `now` if the rules allow it, else says how long
    /// to wait. `key` identifies the request (contract + end + duration + bar size + what).
    pub fn try_request(&mut self, contract: &str, key: &str, now: Duration) -> Result<(), Duration> {
        while let Some((t, _, _)) = self.recent.front() {
            if now.saturating_sub(*t) >= Self::TEN_MINUTES {
                self.recent.pop_front();
            } else {
                break;
            }
        }
        let mut wait = Duration::ZERO;
        if self.recent.len() >= Self::PER_TEN_MINUTES
            && let Some((t, _, _)) = self.recent.front()
        {
            wait = wait.max(Self::TEN_MINUTES - now.saturating_sub(*t));
        }
        for (t, _, k) in self.recent.iter().filter(|(_, _, k)| k == key) {
            let age = now.saturating_sub(*t);
            if age < Self::IDENTICAL {
                wait = wait.max(Self::IDENTICAL - age);
            }
            let _ = k;
        }
        let same: Vec<Duration> = self
            .recent
            .iter()
            .filter(|(t, c, _)| c == contract && now.saturating_sub(*t) < Self::SAME_CONTRACT)
            .map(|(t, _, _)| *t)
            .collect();
        if same.len() >= Self::SAME_CONTRACT_MAX {
            wait = wait.max(Self::SAME_CONTRACT - now.saturating_sub(same[0]));
        }
        if wait > Duration::ZERO {
            return Err(wait);
        }
        self.recent
            .push_back((now, contract.to_string(), key.to_string()));
        Ok(())
    }
}

/// Outbound delay statistics (how long requests waited for a token).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacingStats {
    /// Messages sent.
    pub sent: u64,
    /// Messages that had to wait for a token.
    pub delayed: u64,
    /// Sum of waits, in microseconds.
    pub total_delay_us: u64,
    /// Longest single wait, in microseconds.
    pub max_delay_us: u64,
    /// Historical requests refused by the historical pacer.
    pub historical_paced: u64,
}

impl PacingStats {
    /// Records one sent message that waited `delay`.
    pub fn record(&mut self, delay: Duration) {
        self.sent += 1;
        if delay > Duration::ZERO {
            let us = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
            self.delayed += 1;
            self.total_delay_us = self.total_delay_us.saturating_add(us);
            self.max_delay_us = self.max_delay_us.max(us);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn bucket_sends_the_burst_then_spaces_messages_at_the_rate() {
        let mut b = TokenBucket::new(40, 40, MS(0));
        for _ in 0..40 {
            assert!(b.try_take(MS(0)).is_ok());
        }
        assert_eq!(b.try_take(MS(0)), Err(MS(25)));
        assert_eq!(b.try_take(MS(10)), Err(MS(15)));
        assert!(b.try_take(MS(25)).is_ok());
        assert!(b.try_take(MS(25)).is_err());
    }

    #[test]
    fn a_burst_of_200_never_exceeds_the_rate_in_any_second() {
        // Drive 200 sends with a fake clock that only advances by the waits
        // the bucket asks for; count sends per sliding 1 s window.
        let mut b = TokenBucket::new(40, 40, MS(0));
        let mut now = MS(0);
        let mut sent = Vec::new();
        while sent.len() < 200 {
            match b.try_take(now) {
                Ok(()) => sent.push(now),
                Err(wait) => now += wait,
            }
        }
        for (i, t) in sent.iter().enumerate() {
            let in_window = sent[i..].iter().take_while(|u| **u < *t + MS(1000)).count();
            assert!(in_window <= 80, "{in_window} sends within 1 s from {t:?}");
        }
        // After the initial burst the steady rate is 40/s: the last send is at 4 s.
        assert_eq!(*sent.last().unwrap(), MS(4000));
    }

    #[test]
    fn bucket_never_saves_more_than_the_burst() {
        let mut b = TokenBucket::new(10, 2, MS(0));
        let later = Duration::from_secs(3600);
        assert!(b.try_take(later).is_ok());
        assert!(b.try_take(later).is_ok());
        assert!(b.try_take(later).is_err());
    }

    #[test]
    fn cancels_jump_ahead_of_queued_orders_and_data() {
        let mut q = PriorityQueue::default();
        q.push(Priority::Data, "sub");
        q.push(Priority::Order, "o1");
        q.push(Priority::Order, "o2");
        q.push(Priority::Cancel, "c1");
        let order: Vec<_> = std::iter::from_fn(|| q.pop().map(|(_, s)| s)).collect();
        assert_eq!(order, vec!["c1", "o1", "o2", "sub"]);
    }

    #[test]
    fn historical_pacer_refuses_an_identical_request_within_15_s() {
        let mut p = HistoricalPacer::default();
        assert!(p.try_request("AAPL", "AAPL 1d 1m", MS(0)).is_ok());
        assert_eq!(p.try_request("AAPL", "AAPL 1d 1m", MS(5_000)), Err(MS(10_000)));
        assert!(p.try_request("AAPL", "AAPL 1d 1m", MS(15_000)).is_ok());
    }

    #[test]
    fn historical_pacer_allows_five_requests_per_contract_in_two_seconds() {
        let mut p = HistoricalPacer::default();
        for i in 0..5 {
            assert!(p.try_request("SPY", &format!("k{i}"), MS(i * 100)).is_ok());
        }
        assert_eq!(p.try_request("SPY", "k5", MS(500)), Err(MS(1_500)));
        assert!(p.try_request("QQQ", "q", MS(500)).is_ok());
    }

    #[test]
    fn historical_pacer_caps_sixty_requests_per_ten_minutes() {
        let mut p = HistoricalPacer::default();
        for i in 0..60u64 {
            let c = format!("S{i}");
            assert!(p.try_request(&c, &c, Duration::from_secs(i * 3)).is_ok());
        }
        assert_eq!(
            p.try_request("X", "X", Duration::from_secs(180)),
            Err(Duration::from_secs(420))
        );
        assert!(p.try_request("X", "X", Duration::from_secs(600)).is_ok());
    }

    #[test]
    fn stats_count_only_real_waits() {
        let mut s = PacingStats::default();
        s.record(Duration::ZERO);
        s.record(MS(3));
        s.record(MS(1));
        assert_eq!(
            (s.sent, s.delayed, s.total_delay_us, s.max_delay_us),
            (3, 2, 4_000, 3_000)
        );
    }
}
