//! Venues: where orders go and bars come from. The in-process paper broker
//! ([`paper`]), the paper venue process ([`paper_venue`]) and Interactive
//! Brokers through IB Gateway ([`ibkr`]) each implement [`Venue`]; the
//! runtime's start is the same sequence for all of them:
//!
//! 1. validate the configuration and open the store;
//! 2. **connect the venue** ([`Venue::connect`]): intern its instruments,
//!    build its broker, its health probes and its [`BarSource`];
//! 3. start the event loop with that broker;
//! 4. restore the active guests from their snapshots;
//! 5. reconcile the journal's orders with the venue (what it remembers is
//!    [`VenueMemory`]) and tell each guest what the restart changed;
//! 6. open the trading gate and start the one feed pump, [`BarSink`].
//!
//! Adding a venue is a new module here implementing [`Venue`] and a
//! [`BrokerKind`] in the config: nothing in the event loop changes.

pub(crate) mod ibkr;
pub(crate) mod paper;
pub(crate) mod paper_venue;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use tokio::sync::mpsc;
use wasmtrade_broker::Broker;
use wasmtrade_model::{Instruments, Money};

use crate::checkpoint::Start;
use crate::config::{BrokerKind, LiveConfig};
use crate::core::Input;
use crate::error::LiveError;
use crate::feed::FeedStats;
use crate::gate::{FigureProbe, ReadinessCheck};
use crate::reconcile::VenueMemory;

/// A venue before it is connected: built from the configuration alone, so
/// a bad configuration fails before anything is opened.
pub(crate) trait Venue: Send {
    /// What the venue is, for logs and errors.
    fn name(&self) -> &'static str;

    /// Connects (blocking: run it off the async threads), interns the
    /// venue's instruments and builds its broker. `start` is what the store
    /// holds: the in-process paper broker resumes its books from it, and a
    /// paper market resumes after its last time.
    fn connect(self: Box<Self>, start: &Start) -> Result<Connected, LiveError>;
}

/// A connected venue, handed to the runtime.
pub(crate) struct Connected {
    /// Every instrument the venue trades, interned.
    pub(crate) instruments: Arc<Instruments>,
    /// Where orders go (owned by the event loop).
    pub(crate) broker: Box<dyn Broker + Send>,
    /// Where bars come from, started once trading is open.
    pub(crate) bars: Box<dyn BarSource>,
    /// What the venue remembers of orders sent before a restart.
    pub(crate) memory: VenueMemory,
    /// The account's starting cash (a venue process has its own).
    pub(crate) starting_cash: Money,
    /// `Some(reason)` while the venue's link is down (readiness).
    pub(crate) connection_probe: ReadinessCheck,
    /// The venue's own health figures for `/status`.
    pub(crate) figures: FigureProbe,
    /// What must live as long as the runtime (e.g. IB market data
    /// subscriptions); dropped at shutdown.
    pub(crate) keep_alive: Option<Box<dyn std::any::Any + Send>>,
}

/// A source of market bars, started once after reconciliation.
pub(crate) trait BarSource: Send {
    /// Starts handing bars to `sink` until it refuses one; returns the
    /// thread to join at shutdown when the source owns one.
    fn start(self: Box<Self>, sink: BarSink) -> Result<Option<JoinHandle<()>>, LiveError>;
}

/// The one feed pump: every venue's bars reach the event loop through it,
/// with back-pressure (the loop's queue is bounded; no bar is dropped).
pub(crate) struct BarSink {
    tx: mpsc::Sender<Input>,
    stop: Arc<AtomicBool>,
    stats: Arc<FeedStats>,
}

impl BarSink {
    pub(crate) fn new(tx: mpsc::Sender<Input>, stop: Arc<AtomicBool>, stats: Arc<FeedStats>) -> Self {
        Self { tx, stop, stats }
    }

    /// Hands a bar to the event loop, waiting while its queue is full.
    /// False once the runtime is stopping or the loop is gone: the source
    /// stops then.
    pub(crate) fn send(&mut self, bar: wasmtrade_model::Bar) -> bool {
        if self.stopping() || self.tx.blocking_send(Input::Bar(bar)).is_err() {
            return false;
        }
        self.stats.bars.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// True once the runtime is stopping.
    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// The runtime's stop flag (for a source that waits between bars).
    pub(crate) fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// Bars sent so far (by every sink of this runtime).
    pub(crate) fn sent(&self) -> u64 {
        self.stats.bars.load(Ordering::Relaxed)
    }

    /// Marks the feed as having nothing more to play.
    pub(crate) fn finished(&self) {
        self.stats.finished.store(true, Ordering::Relaxed);
    }
}

/// The venue the configuration names.
pub(crate) fn from_config(config: &LiveConfig) -> Result<Box<dyn Venue>, LiveError> {
    Ok(match config.broker.kind {
        BrokerKind::Paper => Box::new(paper::InProcessPaper::new(config)),
        BrokerKind::Venue => Box::new(paper_venue::PaperVenue::new(config)?),
        BrokerKind::Ibkr => Box::new(ibkr::Ibkr::new(config)?),
    })
}

/// Spawns a named thread.
pub(crate) fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, LiveError> {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(f)
        .map_err(|e| LiveError::Internal(format!("cannot start the {name} thread: {e}")))
}

/// Readiness of a venue with no link of its own.
pub(crate) fn always_connected() -> ReadinessCheck {
    Arc::new(|| None)
}

/// Health figures of a venue with none of its own.
pub(crate) fn no_figures() -> FigureProbe {
    Arc::new(Vec::new)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use wasmtrade_model::{Bar, InstrumentId, Price, Quantity, Timestamp};

    fn bar() -> Bar {
        let p = Price::from_int(1);
        Bar {
            instrument: InstrumentId(0),
            ts: Timestamp::EPOCH,
            open: p,
            high: p,
            low: p,
            close: p,
            volume: Quantity::from_int(1),
        }
    }

    #[test]
    fn the_pump_counts_bars_and_stops_when_the_runtime_stops_or_the_loop_is_gone() {
        let (tx, mut rx) = mpsc::channel(4);
        let (stop, stats) = (Arc::new(AtomicBool::new(false)), Arc::new(FeedStats::default()));
        let mut sink = BarSink::new(tx, stop.clone(), stats.clone());
        assert!(sink.send(bar()) && sink.send(bar()));
        assert_eq!(sink.sent(), 2);
        assert!(matches!(rx.try_recv(), Ok(Input::Bar(_))));
        stop.store(true, Ordering::Relaxed);
        assert!(!sink.send(bar()), "a stopping runtime takes no more bars");
        assert_eq!(stats.bars.load(Ordering::Relaxed), 2);
        stop.store(false, Ordering::Relaxed);
        drop(rx);
        assert!(!sink.send(bar()), "a gone event loop takes no more bars");
    }

    #[test]
    fn each_broker_kind_has_its_venue_and_a_bad_address_is_refused_before_connecting() {
        let mut config = LiveConfig::default();
        assert_eq!(from_config(&config).unwrap().name(), "in-process paper broker");
        config.broker.kind = BrokerKind::Venue;
        config.broker.venue_address = "127.0.0.1:7".into();
        assert_eq!(from_config(&config).unwrap().name(), "paper venue");
        config.broker.venue_address = "not an address".into();
        let Err(e) = from_config(&config) else {
            panic!("a bad address was accepted")
        };
        assert!(e.to_string().contains("broker.venue_address"), "{e}");
    }
}
