//! The one error type of the crate.

use std::path::PathBuf;

/// Everything that can go wrong reading, writing or generating bars.
///
/// Every message is one line that names the file and line (`bars.csv:17`),
/// the column, the offending value and what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MarketError {
    /// A Parquet file could not be opened, is not Parquet, or is damaged.
    #[error("{file}: cannot read it as Parquet: {reason}")]
    Parquet {
        /// File name.
        file: String,
        /// What the Parquet reader said.
        reason: String,
    },
    /// A Parquet column that bars read holds a type they cannot.
    #[error("{file}: column `{column}` holds {found}")]
    ParquetType {
        /// File name.
        file: String,
        /// The column.
        column: String,
        /// What it holds, and what is needed.
        found: String,
    },
    /// The file could not be opened or read.
    #[error("{file}: cannot read the file: check that it exists and is readable")]
    Read {
        /// File name as given.
        file: String,
        /// The I/O or CSV error.
        #[source]
        source: csv::Error,
    },
    /// A row is not valid CSV or not UTF-8.
    #[error("{file}:{line}: the row is not valid CSV text: save the file as UTF-8 CSV")]
    Malformed {
        /// File name.
        file: String,
        /// 1-based line.
        line: u64,
        /// The CSV error.
        #[source]
        source: csv::Error,
    },
    /// A record (row) is longer than the limit: the rest of the file is not read.
    #[error(
        "{file}:{line}: the row is longer than {limit} bytes, the limit of a CSV row: this is not a file of OHLCV bars, or a row lost its line ending"
    )]
    LineTooLong {
        /// File name.
        file: String,
        /// 1-based line the row starts on.
        line: u64,
        /// The limit in bytes ([`MAX_LINE_BYTES`](crate::MAX_LINE_BYTES)).
        limit: usize,
    },
    /// A field is longer than the limit: the rest of the file is not read.
    #[error(
        "{file}:{line}: field {field}{} is longer than {limit} bytes, the limit of a CSV field: remove the column or shorten the value",
        column.as_ref().map_or_else(String::new, |c| format!(" (column `{c}`)"))
    )]
    FieldTooLong {
        /// File name.
        file: String,
        /// 1-based line the row starts on.
        line: u64,
        /// 1-based field number.
        field: usize,
        /// Its header name, when the header was read.
        column: Option<String>,
        /// The limit in bytes ([`MAX_FIELD_BYTES`](crate::MAX_FIELD_BYTES)).
        limit: usize,
    },
    /// The file could not be created or written.
    #[error("{path}: cannot write the file: check the directory exists and is writable", path = path.display())]
    Write {
        /// Destination.
        path: PathBuf,
        /// The I/O or CSV error.
        #[source]
        source: csv::Error,
    },
    /// The file has no header row.
    #[error(
        "{file}: the file is empty: expected a header row such as `timestamp,open,high,low,close,volume`"
    )]
    Empty {
        /// File name.
        file: String,
    },
    /// Required columns are missing from the header.
    #[error("{file}:1: missing column(s) {}: the header must name timestamp (or date/datetime/time), open, high, low and close", .missing.join(", "))]
    MissingColumns {
        /// File name.
        file: String,
        /// The missing column names, each in backticks.
        missing: Vec<String>,
    },
    /// A column appears twice in the header (aliases count as the same column).
    #[error("{file}:1: column `{column}` appears more than once: keep only one")]
    DuplicateColumn {
        /// File name.
        file: String,
        /// Canonical column name.
        column: &'static str,
    },
    /// A row has a different number of fields than the header.
    #[error("{file}:{line}: row has {found} field(s) but the header has {expected}: fix the row")]
    Ragged {
        /// File name.
        file: String,
        /// 1-based line.
        line: u64,
        /// Fields in the header.
        expected: usize,
        /// Fields in the row.
        found: usize,
    },
    /// A timestamp could not be read.
    #[error(
        "{file}:{line}: column `{column}`: `{value}` is not a timestamp: use RFC 3339 (2024-01-02T14:30:00Z), `YYYY-MM-DD[ HH:MM[:SS]]` or unix seconds"
    )]
    BadTimestamp {
        /// File name.
        file: String,
        /// 1-based line.
        line: u64,
        /// Column name as written in the header.
        column: String,
        /// The text.
        value: String,
    },
    /// A naive local time that does not exist in the time zone (a DST gap).
    #[error(
        "{file}:{line}: column `{column}`: `{value}` does not exist in time zone {tz} (clocks skip it): correct the time or give an explicit offset"
    )]
    NonexistentLocalTime {
        /// File name.
        file: String,
        /// 1-based line.
        line: u64,
        /// Column name as written in the header.
        column: String,
        /// The text.
        value: String,
        /// The configured zone.
        tz: chrono_tz::Tz,
    },
    /// A price or volume is not an exact decimal.
    #[error(
        "{file}:{line}: column `{column}`: `{value}` is not a valid decimal ({reason}): write a plain decimal such as 101.25"
    )]
    BadNumber {
        /// File name.
        file: String,
        /// 1-based line.
        line: u64,
        /// Column name.
        column: &'static str,
        /// The text.
        value: String,
        /// Why it failed.
        reason: wasmtrade_model::FixedError,
    },
    /// A price is zero or negative.
    #[error("{file}:{line}: column `{column}`: {value} is not positive: prices must be > 0")]
    NonPositivePrice {
        /// File name.
        file: String,
        /// 1-based line.
        line: u64,
        /// Column name.
        column: &'static str,
        /// The value.
        value: wasmtrade_model::Price,
    },
    /// The volume is negative.
    #[error("{file}:{line}: column `volume`: {value} is negative: volume must be >= 0")]
    NegativeVolume {
        /// File name.
        file: String,
        /// 1-based line.
        line: u64,
        /// The value.
        value: wasmtrade_model::Quantity,
    },
    /// OHLC values are inconsistent (`high` below another price or `low` above one).
    #[error(
        "{file}:{line}: column `{column}`: {value} is {relation} {other_column} {other_value}: fix the bar's high/low"
    )]
    InconsistentBar {
        /// File name.
        file: String,
        /// 1-based line.
        line: u64,
        /// `high` or `low`.
        column: &'static str,
        /// Its value.
        value: wasmtrade_model::Price,
        /// `below` or `above`.
        relation: &'static str,
        /// The column it was compared with.
        other_column: &'static str,
        /// That column's value.
        other_value: wasmtrade_model::Price,
    },
    /// The symbol cell is empty.
    #[error("{file}:{line}: column `symbol`: the symbol is empty: give every row a symbol")]
    EmptySymbol {
        /// File name.
        file: String,
        /// 1-based line.
        line: u64,
    },
    /// Timestamps of one symbol are not strictly increasing.
    #[error(
        "{file}:{line}: column `{column}`: {value} is not after the previous {symbol} bar at {previous}: sort the file and remove duplicates"
    )]
    NotIncreasing {
        /// File name.
        file: String,
        /// 1-based line.
        line: u64,
        /// Timestamp column name.
        column: String,
        /// Symbol.
        symbol: String,
        /// This timestamp.
        value: wasmtrade_model::Timestamp,
        /// The previous one.
        previous: wasmtrade_model::Timestamp,
    },
    /// Timestamps across symbols go backwards.
    #[error(
        "{file}:{line}: column `{column}`: {value} is before the previous row at {previous}: sort the file by time"
    )]
    OutOfOrder {
        /// File name.
        file: String,
        /// 1-based line.
        line: u64,
        /// Timestamp column name.
        column: String,
        /// This timestamp.
        value: wasmtrade_model::Timestamp,
        /// The previous row's.
        previous: wasmtrade_model::Timestamp,
    },
    /// An IANA time zone name is unknown.
    #[error("unknown time zone `{name}`: use an IANA name such as `UTC` or `America/New_York`")]
    UnknownTimeZone {
        /// The name.
        name: String,
    },
    /// A bar refers to an instrument that is not registered (writing).
    #[error(
        "bar {index}: instrument {instrument} is not in the instrument registry: intern its symbol first"
    )]
    UnknownInstrument {
        /// Index of the bar.
        index: usize,
        /// Its instrument handle.
        instrument: wasmtrade_model::InstrumentId,
    },
    /// A synthetic data setting is invalid.
    #[error("synth config: `{field}` = {value} is invalid: {expected}")]
    InvalidSynthConfig {
        /// Field name.
        field: &'static str,
        /// The value.
        value: String,
        /// What is expected.
        expected: &'static str,
    },
}
