//! The embedded default: the in-process paper broker and the paper market
//! (a seeded random walk or a replayed file) in this process. Both restart
//! with the runtime: the broker's books (positions, cash, execution ids)
//! resume from the checkpoint and the journal after it, like the OMS's; its
//! working orders are gone, and reconciliation tells their strategies.

use std::thread::JoinHandle;

use wasmtrade_broker::paper::PaperBroker;
use wasmtrade_model::{Instruments, Money};

use super::{BarSink, BarSource, Connected, Venue};
use crate::checkpoint::Start;
use crate::config::{AccountConfig, LiveConfig, MarketConfig};
use crate::error::LiveError;
use crate::feed::{self, Plan};
use crate::reconcile::VenueMemory;

/// The in-process paper broker and market.
pub(crate) struct InProcessPaper {
    market: MarketConfig,
    account: AccountConfig,
}

impl InProcessPaper {
    pub(crate) fn new(config: &LiveConfig) -> Self {
        Self {
            market: config.market.clone(),
            account: config.account.clone(),
        }
    }
}

impl Venue for InProcessPaper {
    fn name(&self) -> &'static str {
        "in-process paper broker"
    }

    fn connect(self: Box<Self>, start: &Start) -> Result<Connected, LiveError> {
        let mut instruments = Instruments::new();
        // The market resumes after the last journaled time, so engine time
        // never goes back across a restart (an accelerated market runs
        // ahead of the wall clock).
        let plan = feed::plan(&self.market, &mut instruments, start.last_time())?;
        let (orders, fills) = crate::journal::paper_books(&start.journal);
        let starting_cash: Money = self.account.starting_cash;
        let mut paper = PaperBroker::try_new(self.account.paper, &instruments)
            .map_err(|e| LiveError::InvalidArgument(format!("account.paper: {e}")))?
            .with_starting_cash(starting_cash);
        if let Some((_, c)) = &start.checkpoint {
            let (positions, cash) = c.oms.holdings();
            paper = paper.resume_from_checkpoint(positions, cash, c.paper_exec, c.released_through);
        }
        let paper = paper.resume(orders, &fills);
        Ok(Connected {
            instruments: std::sync::Arc::new(instruments),
            broker: Box::new(paper),
            bars: Box::new(PaperMarket {
                plan,
                config: self.market,
            }),
            memory: VenueMemory::Restarted,
            starting_cash,
            connection_probe: super::always_connected(),
            figures: super::no_figures(),
            keep_alive: None,
        })
    }
}

/// The paper market's bars, played on their own thread.
struct PaperMarket {
    plan: Plan,
    config: MarketConfig,
}

impl BarSource for PaperMarket {
    fn start(self: Box<Self>, sink: BarSink) -> Result<Option<JoinHandle<()>>, LiveError> {
        let PaperMarket { plan, config } = *self;
        super::spawn("paper-market", move || feed::play(plan, &config, sink)).map(Some)
    }
}
