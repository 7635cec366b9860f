//! Interactive Brokers through IB Gateway (see docs/ibkr.md): the gateway
//! keeps the account's orders across restarts of the runtime; bars are
//! built from its market data.

use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::mpsc;
use wasmtrade_ibkr::{IbkrBroker, IbkrConfig, LinkState};
use wasmtrade_model::{Bar, Instruments, Money};

use super::{BarSink, BarSource, Connected, Venue};
use crate::checkpoint::Start;
use crate::config::LiveConfig;
use crate::error::LiveError;
use crate::reconcile::VenueMemory;

/// The IB Gateway of `broker.ibkr`.
pub(crate) struct Ibkr {
    config: IbkrConfig,
    starting_cash: Money,
}

impl Ibkr {
    pub(crate) fn new(config: &LiveConfig) -> Result<Self, LiveError> {
        let ib = IbkrConfig::try_from(config.broker.ibkr.clone())
            .map_err(|e| LiveError::InvalidArgument(format!("broker.ibkr: {e}")))?;
        Ok(Self {
            config: ib,
            starting_cash: config.account.starting_cash,
        })
    }
}

impl Venue for Ibkr {
    fn name(&self) -> &'static str {
        "IB Gateway"
    }

    fn connect(self: Box<Self>, _start: &Start) -> Result<Connected, LiveError> {
        let mut instruments = Instruments::new();
        for symbol in &self.config.symbols {
            instruments.intern(symbol);
        }
        let instruments = Arc::new(instruments);
        let (broker, mut market) = IbkrBroker::connect(self.config, instruments.clone()).map_err(|e| {
            LiveError::Unavailable(format!("cannot connect to IB Gateway: {e} (see docs/ibkr.md)"))
        })?;
        let probe = Arc::new(broker.health_probe());
        let link = probe.clone();
        let bars = market.take_bars();
        Ok(Connected {
            instruments,
            broker: Box::new(broker),
            bars: Box::new(GatewayBars(bars)),
            memory: VenueMemory::Kept,
            starting_cash: self.starting_cash,
            connection_probe: Arc::new(move || match link().link {
                LinkState::Up => None,
                other => Some(format!("IB Gateway link: {other:?}")),
            }),
            figures: Arc::new(move || crate::gate::ibkr_figures(&probe())),
            // Market data subscriptions live as long as the runtime.
            keep_alive: Some(Box::new(market)),
        })
    }
}

/// Bars aggregated from the gateway's market data.
struct GatewayBars(Option<mpsc::Receiver<Bar>>);

impl BarSource for GatewayBars {
    fn start(self: Box<Self>, mut sink: BarSink) -> Result<Option<JoinHandle<()>>, LiveError> {
        let Some(mut bars) = self.0 else {
            return Ok(None);
        };
        super::spawn("ibkr-bars", move || {
            while let Some(bar) = bars.blocking_recv() {
                if !sink.send(bar) {
                    return;
                }
            }
        })
        .map(Some)
    }
}
