//! The trading side of a [`Handle`]: orders, positions, the account and
//! the event stream.

use std::sync::Arc;

use tokio::sync::broadcast;
use wasmtrade_model::{CollectionSize, Order, StrategyId};
use wasmtrade_oms::Position;

use super::Handle;
use crate::bus::BarInterest;
use crate::core::Command;
use crate::error::LiveError;
use crate::event::Event;
use crate::view::AccountInfo;

impl Handle {
    /// Every event from now on; with `bars`, market bars too.
    pub fn subscribe(&self, bars: bool) -> (broadcast::Receiver<Arc<Event>>, Option<BarInterest>) {
        let interest = bars.then(|| self.inner.bus.want_bars());
        (self.inner.bus.subscribe(), interest)
    }

    /// The supervisor's lossless feed of faults and operator swaps (once).
    pub(crate) fn supervisor_feed(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<Arc<Event>>> {
        self.inner.bus.supervisor_feed()
    }

    /// The `limit` most recent orders (all or only open ones), optionally of one strategy.
    pub async fn orders(
        &self,
        open_only: bool,
        strategy: Option<String>,
        limit: usize,
    ) -> Result<Vec<Order>, LiveError> {
        self.command(|reply| Command::Orders {
            open_only,
            strategy,
            limit,
            reply,
        })
        .await
    }

    /// Positions, optionally of one strategy.
    pub async fn positions(
        &self,
        strategy: Option<String>,
    ) -> Result<Vec<(StrategyId, Position)>, LiveError> {
        self.command(|reply| Command::Positions { strategy, reply }).await
    }

    /// The account.
    pub async fn account(&self) -> Result<AccountInfo, LiveError> {
        self.command(|reply| Command::Account { reply }).await
    }

    /// The lengths of every per-order collection the loop keeps (the OMS's
    /// and the broker adapter's), for `/status` and soaks: they hold only
    /// working orders once finished ones are released.
    pub async fn collection_sizes(&self) -> Result<Vec<CollectionSize>, LiveError> {
        self.command(|reply| Command::Collections { reply }).await
    }
}
