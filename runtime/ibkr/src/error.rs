//! The crate's error type.

/// Why connecting, resolving or asking IB Gateway failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IbkrError {
    /// The configuration is invalid; the message names the field.
    #[error("invalid [broker.ibkr] config: {field}: {reason}")]
    Config {
        /// Field path, e.g. `port`.
        field: &'static str,
        /// What is wrong and what to do.
        reason: String,
    },
    /// Live trading was requested without the explicit opt-in.
    #[error(
        "refusing to connect to a live IB account ({what}): set allow_live = true in [broker.ibkr] \
         if you really mean to trade real money, or use mode = \"paper\" and port 4002"
    )]
    LiveNotAllowed {
        /// What looked live (the mode or the port).
        what: String,
    },
    /// The gateway accepted the socket but dropped the session before
    /// `nextValidId`: IB does this with error 326 when the client id is in use.
    #[error(
        "IB Gateway at {address} refused client id {client_id} (error 326: client id already in use); \
         tried {tried} id(s): stop the other session, pick another client_id or raise client_id_fallbacks"
    )]
    ClientIdInUse {
        /// Gateway address.
        address: String,
        /// The last client id tried.
        client_id: i32,
        /// How many ids were tried.
        tried: u32,
    },
    /// The gateway could not be reached or the handshake failed.
    #[error(
        "cannot connect to IB Gateway at {address} with client id {client_id}: {reason}; check that the gateway runs, is logged in and allows API connections from this host"
    )]
    Connect {
        /// Gateway address.
        address: String,
        /// Client id.
        client_id: i32,
        /// What the client library said.
        reason: String,
    },
    /// The adapter is not connected right now.
    #[error("not connected to IB Gateway: retry after it reconnects")]
    Disconnected,
    /// IB does not know the symbol.
    #[error(
        "IB has no stock contract for symbol {symbol:?} (SMART/USD): check the ticker or configure it out of the universe"
    )]
    UnknownSymbol {
        /// The symbol.
        symbol: String,
    },
    /// The symbol is not one of the run's instruments.
    #[error(
        "symbol {symbol:?} is not an instrument of this run: add it to the instruments before subscribing"
    )]
    NotAnInstrument {
        /// The symbol.
        symbol: String,
    },
    /// A request to the gateway failed.
    #[error("IB request {request} failed: {reason}")]
    Request {
        /// Which request.
        request: &'static str,
        /// What the client library or gateway said.
        reason: String,
    },
    /// A request got no complete answer in time.
    #[error("IB request {request} timed out after {timeout_ms} ms")]
    Timeout {
        /// Which request.
        request: &'static str,
        /// The limit.
        timeout_ms: u64,
    },
    /// Historical-data pacing forbids the request now.
    #[error("historical data request for {symbol} paced: IB allows it again in {retry_after_ms} ms")]
    HistoricalPaced {
        /// Symbol.
        symbol: String,
        /// Wait before retrying.
        retry_after_ms: u64,
    },
}

impl IbkrError {
    /// True if the same call may succeed later (connection or pacing problems).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            IbkrError::Disconnected
                | IbkrError::Connect { .. }
                | IbkrError::Timeout { .. }
                | IbkrError::HistoricalPaced { .. }
        )
    }
}
