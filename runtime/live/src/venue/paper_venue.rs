//! The paper venue: a separate `wasmtrade paper-venue` process that keeps
//! its books, working orders and market across restarts of the runtime.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtrade_model::{Instruments, Money};
use wasmtrade_venue::{StreamStarter, VenueBroker};

use super::{BarSink, BarSource, Connected, Venue};
use crate::checkpoint::Start;
use crate::config::LiveConfig;
use crate::error::LiveError;
use crate::reconcile::VenueMemory;

/// The paper venue at `broker.venue_address`.
pub(crate) struct PaperVenue {
    addr: SocketAddr,
    timeout: Duration,
    starting_cash: Money,
}

impl PaperVenue {
    pub(crate) fn new(config: &LiveConfig) -> Result<Self, LiveError> {
        let broker = &config.broker;
        let addr = broker.venue_address.parse().map_err(|e| {
            LiveError::InvalidArgument(format!("broker.venue_address ({:?}): {e}", broker.venue_address))
        })?;
        Ok(Self {
            addr,
            timeout: Duration::from_millis(broker.connect_timeout_ms),
            starting_cash: config.account.starting_cash,
        })
    }
}

impl Venue for PaperVenue {
    fn name(&self) -> &'static str {
        "paper venue"
    }

    fn connect(self: Box<Self>, _start: &Start) -> Result<Connected, LiveError> {
        let addr = self.addr;
        let venue = VenueBroker::connect(addr, self.timeout).map_err(|e| {
            LiveError::Unavailable(format!(
                "{e}: start it with `wasmtrade paper-venue --listen {addr}`"
            ))
        })?;
        // The venue's symbols are the market, in its instrument-id order.
        let mut instruments = Instruments::new();
        for symbol in &venue.hello().symbols {
            instruments.intern(symbol);
        }
        let mut starting_cash = self.starting_cash;
        if venue.hello().starting_cash != starting_cash {
            tracing::info!(
                venue = %venue.hello().starting_cash,
                config = %starting_cash,
                "the account's starting cash is the venue's"
            );
            starting_cash = venue.hello().starting_cash;
        }
        let starter = venue.stream_starter();
        let probe = venue.connection_probe();
        Ok(Connected {
            instruments: Arc::new(instruments),
            broker: Box::new(venue),
            bars: Box::new(VenueStream(starter)),
            memory: VenueMemory::Kept,
            starting_cash,
            connection_probe: Arc::new(move || match probe() {
                wasmtrade_broker::Connection::Connected => None,
                other => Some(format!("the paper venue is not connected: {other:?}")),
            }),
            figures: super::no_figures(),
            keep_alive: None,
        })
    }
}

/// The venue's event stream: its bars, after the events before them.
struct VenueStream(StreamStarter);

impl BarSource for VenueStream {
    fn start(self: Box<Self>, mut sink: BarSink) -> Result<Option<JoinHandle<()>>, LiveError> {
        // The stream's thread ends when the sink refuses a bar.
        self.0
            .start(move |bar| sink.send(bar))
            .map_err(|e| LiveError::Unavailable(e.to_string()))?;
        Ok(None)
    }
}
