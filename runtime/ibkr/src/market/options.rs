//! Option chains from IB: every expiry and strike, and IB's model
//! computation (IV and greeks) for the strikes nearest a price.

use ibapi::contracts::{Contract, Currency, Exchange, SecurityType, Symbol};
use ibapi::market_data::realtime::TickTypes;

use super::IbkrMarket;
use crate::IbkrError;
use crate::session::{drain, now};

/// Call or put.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptionRight {
    /// Call.
    Call,
    /// Put.
    Put,
}

/// One option with IB's model computation (`None` where IB sent nothing).
#[derive(Clone, Debug, PartialEq)]
pub struct OptionQuote {
    /// Expiry, `YYYYMMDD`.
    pub expiry: String,
    /// Strike.
    pub strike: f64,
    /// Call or put.
    pub right: OptionRight,
    /// Implied volatility.
    pub implied_volatility: Option<f64>,
    /// Delta.
    pub delta: Option<f64>,
    /// Gamma.
    pub gamma: Option<f64>,
    /// Vega.
    pub vega: Option<f64>,
    /// Theta.
    pub theta: Option<f64>,
    /// Model option price.
    pub option_price: Option<f64>,
    /// Underlying price used by the model.
    pub underlying_price: Option<f64>,
}

/// An option chain slice: all expiries and strikes IB lists, and quotes
/// with greeks for one expiry and the strikes nearest a reference price.
#[derive(Clone, Debug, PartialEq)]
pub struct OptionChain {
    /// Underlying symbol.
    pub underlying: String,
    /// Trading class.
    pub trading_class: String,
    /// Contract multiplier.
    pub multiplier: String,
    /// Every expiry, sorted.
    pub expirations: Vec<String>,
    /// Every strike, sorted.
    pub strikes: Vec<f64>,
    /// Calls and puts for the chosen expiry and strikes.
    pub quotes: Vec<OptionQuote>,
}

impl IbkrMarket {
    /// The option chain of `symbol`: every expiry and strike, and IV and
    /// greeks (IB's model computation, snapshot) for `expiry` (or the
    /// nearest) at the `strikes` strikes nearest `around`.
    pub fn option_chain(
        &self,
        symbol: &str,
        expiry: Option<&str>,
        around: f64,
        strikes: usize,
    ) -> Result<OptionChain, IbkrError> {
        let info = self.resolve(symbol)?;
        let timeout = self.shared.cfg.request_timeout;
        let deadline = now() + timeout;
        let client = self.shared.permit("reqSecDefOptParams", deadline)?;
        let sub = client
            .option_chain(symbol, "", SecurityType::Stock, info.contract_id)
            .map_err(|e| IbkrError::Request {
                request: "reqSecDefOptParams",
                reason: e.to_string(),
            })?;
        let (chains, _) = drain(|d| sub.next_timeout(d), deadline, |_| false);
        drop(sub);
        let chain = chains
            .iter()
            .find(|c| c.exchange == "SMART")
            .or_else(|| chains.first())
            .ok_or_else(|| IbkrError::Request {
                request: "reqSecDefOptParams",
                reason: format!("IB lists no options for {symbol}"),
            })?;
        let mut expirations = chain.expirations.clone();
        expirations.sort();
        let mut all_strikes = chain.strikes.clone();
        all_strikes.sort_by(f64::total_cmp);
        let expiry = expiry
            .map(str::to_string)
            .or_else(|| expirations.first().cloned())
            .ok_or_else(|| IbkrError::Request {
                request: "reqSecDefOptParams",
                reason: format!("IB lists no expiries for {symbol}"),
            })?;
        let mut near = all_strikes.clone();
        near.sort_by(|a, b| (a - around).abs().total_cmp(&(b - around).abs()));
        near.truncate(strikes);
        near.sort_by(f64::total_cmp);
        let mut quotes = Vec::new();
        for strike in near {
            for right in [OptionRight::Call, OptionRight::Put] {
                let contract = Contract {
                    symbol: Symbol::from(symbol),
                    security_type: SecurityType::Option,
                    last_trade_date_or_contract_month: expiry.clone(),
                    strike,
                    right: if right == OptionRight::Call { "C" } else { "P" }.into(),
                    exchange: Exchange::from("SMART"),
                    currency: Currency::from("USD"),
                    multiplier: chain.multiplier.clone(),
                    trading_class: chain.trading_class.clone(),
                    ..Contract::default()
                };
                quotes.push(self.option_quote(&contract, &expiry, strike, right)?);
            }
        }
        Ok(OptionChain {
            underlying: symbol.into(),
            trading_class: chain.trading_class.clone(),
            multiplier: chain.multiplier.clone(),
            expirations,
            strikes: all_strikes,
            quotes,
        })
    }

    fn option_quote(
        &self,
        contract: &Contract,
        expiry: &str,
        strike: f64,
        right: OptionRight,
    ) -> Result<OptionQuote, IbkrError> {
        let deadline = now() + self.shared.cfg.request_timeout;
        let client = self.shared.permit("reqMktData", deadline)?;
        let sub = client
            .market_data(contract)
            .snapshot()
            .subscribe()
            .map_err(|e| IbkrError::Request {
                request: "reqMktData",
                reason: e.to_string(),
            })?;
        let (ticks, _) = drain(
            |d| sub.next_timeout(d),
            deadline,
            |t: &TickTypes| matches!(t, TickTypes::SnapshotEnd),
        );
        let mut q = OptionQuote {
            expiry: expiry.into(),
            strike,
            right,
            implied_volatility: None,
            delta: None,
            gamma: None,
            vega: None,
            theta: None,
            option_price: None,
            underlying_price: None,
        };
        // Prefer IB's model computation (tick 13) over bid/ask/last ones.
        let mut best_rank = u8::MAX;
        for t in ticks {
            if let TickTypes::OptionComputation(c) = t {
                let rank = if c.field == ibapi::contracts::tick_types::TickType::ModelOption {
                    0
                } else {
                    1
                };
                if rank <= best_rank {
                    best_rank = rank;
                    q.implied_volatility = c.implied_volatility;
                    q.delta = c.delta;
                    q.gamma = c.gamma;
                    q.vega = c.vega;
                    q.theta = c.theta;
                    q.option_price = c.option_price;
                    q.underlying_price = c.underlying_price;
                }
            }
        }
        Ok(q)
    }
}
