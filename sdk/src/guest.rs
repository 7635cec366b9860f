//! The traits a guest implements: [`Strategy`] and [`Indicator`].

use serde::de::DeserializeOwned;

use crate::{Bar, Context, Error, Fill, GuestInfo, OrderIntent, Reject, Tick, Timestamp};

/// What a strategy callback returns: order intents, or an error the host records.
pub type Intents = Result<Vec<OrderIntent>, Error>;

/// A trading strategy: events in, order intents out.
///
/// Implement it on a plain struct and export it with
/// [`export_strategy!`](crate::export_strategy). The host calls
/// [`Strategy::new`] once with the configuration parsed from JSON, then one
/// callback per event. Callbacks other than [`Strategy::on_bar`] default to
/// returning no intents.
pub trait Strategy: Sized {
    /// The configuration, deserialised from the JSON the host sends to `init`.
    type Config: DeserializeOwned;
    /// Guest name, e.g. `sma-cross`.
    const NAME: &'static str;
    /// Guest version, e.g. `1.2.0` (usually `env!("CARGO_PKG_VERSION")`).
    const VERSION: &'static str;

    /// Builds the strategy; validate the configuration here and return
    /// [`Error::config`] naming the field that is wrong.
    fn new(config: Self::Config, ctx: &mut dyn Context) -> Result<Self, Error>;
    /// A closed bar.
    fn on_bar(&mut self, ctx: &mut dyn Context, bar: &Bar) -> Intents;
    /// A market data tick.
    fn on_tick(&mut self, ctx: &mut dyn Context, tick: &Tick) -> Intents {
        let _ = (ctx, tick);
        Ok(Vec::new())
    }
    /// An execution of one of the strategy's orders.
    fn on_fill(&mut self, ctx: &mut dyn Context, fill: &Fill) -> Intents {
        let _ = (ctx, fill);
        Ok(Vec::new())
    }
    /// A timer set with [`Context::set_timer`] is due.
    fn on_timer(&mut self, ctx: &mut dyn Context, name: &str, ts: Timestamp) -> Intents {
        let _ = (ctx, name, ts);
        Ok(Vec::new())
    }
    /// One of the strategy's intents or orders was refused.
    fn on_reject(&mut self, ctx: &mut dyn Context, reject: &Reject) -> Intents {
        let _ = (ctx, reject);
        Ok(Vec::new())
    }
    /// Serialises the strategy's state for a hot swap or a restart
    /// (see [`state::encode`](crate::state::encode)).
    fn snapshot(&self) -> Result<Vec<u8>, Error> {
        Err(Error::unsupported("snapshot"))
    }
    /// Takes over state produced by [`Strategy::snapshot`], possibly by an
    /// older version of the guest.
    fn restore(&mut self, state: &[u8]) -> Result<(), Error> {
        let _ = state;
        Err(Error::unsupported("restore"))
    }
}

/// A technical indicator: bars in, values out.
///
/// Export it with [`export_indicator!`](crate::export_indicator). The host
/// feeds it every bar of the instruments it is configured on and hands the
/// values to strategies through [`Context::indicator`].
pub trait Indicator: Sized {
    /// The configuration, deserialised from the JSON the host sends to `init`.
    type Config: DeserializeOwned;
    /// Indicator name, e.g. `sma`.
    const NAME: &'static str;
    /// Indicator version.
    const VERSION: &'static str;

    /// Builds the indicator; validate the configuration here.
    fn new(config: Self::Config) -> Result<Self, Error>;
    /// Names of the output series, in the order [`Indicator::update`] returns them.
    fn outputs(&self) -> Vec<String>;
    /// Feeds one bar; returns the values after it, or `None` while warming up.
    fn update(&mut self, bar: &Bar) -> Option<Vec<f64>>;
    /// Serialises the indicator's state.
    fn snapshot(&self) -> Result<Vec<u8>, Error> {
        Err(Error::unsupported("snapshot"))
    }
    /// Takes over state produced by [`Indicator::snapshot`].
    fn restore(&mut self, state: &[u8]) -> Result<(), Error> {
        let _ = state;
        Err(Error::unsupported("restore"))
    }
}

/// The [`GuestInfo`] of a strategy type.
pub fn strategy_info<S: Strategy>() -> GuestInfo {
    GuestInfo::new(S::NAME, S::VERSION)
}

/// The [`GuestInfo`] of an indicator type.
pub fn indicator_info<I: Indicator>() -> GuestInfo {
    GuestInfo::new(I::NAME, I::VERSION)
}
