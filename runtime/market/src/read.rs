//! Streaming CSV OHLCV replay (format in the crate docs).

use std::fs::File;
use std::io::Read;
use std::path::Path;

use chrono_tz::Tz;
use wasmtrade_model::{Bar, FixedError, InstrumentId, Instruments, Price, Quantity, Timestamp};

use crate::MarketError;
use crate::bounded::{Bounded, Exceeded};
use crate::time::{TimeError, parse_timestamp};

/// How to read a CSV file of bars.
#[derive(Clone, Debug, PartialEq)]
pub struct CsvOptions {
    /// Symbol of rows when the file has no `symbol` column. Default `SYMBOL`.
    pub default_symbol: String,
    /// Time zone of naive timestamps (`2024-01-02 09:30`, `2024-01-02`).
    /// Default UTC. Timestamps with an offset and unix seconds ignore it.
    pub time_zone: Tz,
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self {
            default_symbol: "SYMBOL".to_string(),
            time_zone: Tz::UTC,
        }
    }
}

impl CsvOptions {
    /// Options for files without a symbol column, naive times in UTC.
    pub fn with_symbol(symbol: impl Into<String>) -> Self {
        Self {
            default_symbol: symbol.into(),
            ..Self::default()
        }
    }

    /// Sets the time zone of naive timestamps from an IANA name (`America/New_York`).
    pub fn time_zone_named(mut self, name: &str) -> Result<Self, MarketError> {
        self.time_zone = name.parse::<Tz>().map_err(|_| MarketError::UnknownTimeZone {
            name: name.to_string(),
        })?;
        Ok(self)
    }
}

/// Column positions resolved from the header.
#[derive(Clone, Debug)]
struct Columns {
    timestamp: usize,
    timestamp_name: String,
    open: usize,
    high: usize,
    low: usize,
    close: usize,
    volume: Option<usize>,
    symbol: Option<usize>,
    width: usize,
}

/// Canonical column name of a header cell, if it is one we read.
pub(crate) fn canonical(name: &str) -> Option<&'static str> {
    let lower = name.trim().trim_start_matches('\u{feff}').to_ascii_lowercase();
    Some(match lower.as_str() {
        "timestamp" | "date" | "datetime" | "time" => "timestamp",
        "open" => "open",
        "high" => "high",
        "low" => "low",
        "close" => "close",
        "volume" => "volume",
        "symbol" => "symbol",
        _ => return None,
    })
}

impl Columns {
    fn resolve(file: &str, header: &csv::StringRecord) -> Result<Self, MarketError> {
        let mut found: [Option<usize>; 7] = [None; 7];
        const NAMES: [&str; 7] = ["timestamp", "open", "high", "low", "close", "volume", "symbol"];
        for (i, cell) in header.iter().enumerate() {
            let Some(name) = canonical(cell) else { continue };
            let slot = NAMES.iter().position(|n| *n == name).unwrap_or(0);
            if found[slot].is_some() {
                return Err(MarketError::DuplicateColumn {
                    file: file.to_string(),
                    column: name,
                });
            }
            found[slot] = Some(i);
        }
        let missing: Vec<String> = NAMES[..5]
            .iter()
            .zip(&found[..5])
            .filter(|(_, f)| f.is_none())
            .map(|(n, _)| format!("`{n}`"))
            .collect();
        match found {
            [
                Some(timestamp),
                Some(open),
                Some(high),
                Some(low),
                Some(close),
                volume,
                symbol,
            ] => Ok(Self {
                timestamp,
                timestamp_name: header.get(timestamp).unwrap_or("timestamp").trim().to_string(),
                open,
                high,
                low,
                close,
                volume,
                symbol,
                width: header.len(),
            }),
            _ => Err(MarketError::MissingColumns {
                file: file.to_string(),
                missing,
            }),
        }
    }
}

/// A streaming reader of bars from CSV: yields one validated [`Bar`] per row,
/// or the first error (after which it yields nothing).
pub struct CsvBars<'a, R: Read = File> {
    file: String,
    reader: csv::Reader<Bounded<R>>,
    record: csv::StringRecord,
    columns: Option<Columns>,
    /// The header row, for messages.
    header: Option<csv::StringRecord>,
    tz: Tz,
    default_symbol: String,
    instruments: &'a mut Instruments,
    /// Cache of the last symbol seen and its id.
    last_symbol: Option<(String, InstrumentId)>,
    /// Last timestamp per instrument (indexed by id).
    last_ts: Vec<Option<Timestamp>>,
    last_any: Option<Timestamp>,
    done: bool,
}

impl<'a> CsvBars<'a, File> {
    /// Opens `path`. Symbols are interned into `instruments` as they appear.
    pub fn open(
        path: &Path,
        options: &CsvOptions,
        instruments: &'a mut Instruments,
    ) -> Result<Self, MarketError> {
        let file = path.display().to_string();
        let f = File::open(path).map_err(|e| MarketError::Read {
            file: file.clone(),
            source: csv::Error::from(e),
        })?;
        Self::from_reader(f, &file, options, instruments)
    }
}

impl<'a, R: Read> CsvBars<'a, R> {
    /// Reads CSV from any reader; `name` stands for the file in messages.
    /// A record longer than [`MAX_LINE_BYTES`](crate::MAX_LINE_BYTES) or a
    /// field longer than [`MAX_FIELD_BYTES`](crate::MAX_FIELD_BYTES) stops
    /// the read with an error before more of it is buffered.
    pub fn from_reader(
        reader: R,
        name: &str,
        options: &CsvOptions,
        instruments: &'a mut Instruments,
    ) -> Result<Self, MarketError> {
        let reader = Bounded::new(reader);
        let reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(reader);
        let mut this = Self {
            file: name.to_string(),
            reader,
            record: csv::StringRecord::new(),
            columns: None,
            header: None,
            tz: options.time_zone,
            default_symbol: options.default_symbol.clone(),
            instruments,
            last_symbol: None,
            last_ts: Vec::new(),
            last_any: None,
            done: false,
        };
        let header = match this.reader.headers() {
            Ok(h) => h.clone(),
            Err(e) => return Err(this.csv_error(e, 1)),
        };
        if header.is_empty() || (header.len() == 1 && header.get(0).is_some_and(str::is_empty)) {
            return Err(MarketError::Empty { file: this.file });
        }
        this.columns = Some(Columns::resolve(&this.file, &header)?);
        this.header = Some(header);
        Ok(this)
    }

    fn csv_error(&self, e: csv::Error, line: u64) -> MarketError {
        let line = e.position().map_or(line, csv::Position::line);
        let (max_line, max_field) = self.reader.get_ref().limits();
        match self.reader.get_ref().exceeded() {
            Some(Exceeded::Line { line }) => {
                return MarketError::LineTooLong {
                    file: self.file.clone(),
                    line,
                    limit: max_line,
                };
            }
            Some(Exceeded::Field { line, index }) => {
                let column = self
                    .header
                    .as_ref()
                    .and_then(|h| h.get(index))
                    .map(|c| c.trim().to_string());
                return MarketError::FieldTooLong {
                    file: self.file.clone(),
                    line,
                    field: index + 1,
                    column,
                    limit: max_field,
                };
            }
            None => {}
        }
        if e.is_io_error() {
            MarketError::Read {
                file: self.file.clone(),
                source: e,
            }
        } else {
            MarketError::Malformed {
                file: self.file.clone(),
                line,
                source: e,
            }
        }
    }

    fn next_bar(&mut self) -> Result<Option<Bar>, MarketError> {
        let read = self.reader.read_record(&mut self.record);
        let line = self.record.position().map_or(0, csv::Position::line);
        match read {
            Ok(true) => {}
            Ok(false) => return Ok(None),
            Err(e) => return Err(self.csv_error(e, line)),
        }
        let Some(cols) = self.columns.as_ref() else {
            return Ok(None);
        };
        let rec = &self.record;
        if rec.len() != cols.width {
            return Err(MarketError::Ragged {
                file: self.file.clone(),
                line,
                expected: cols.width,
                found: rec.len(),
            });
        }
        let row = Row {
            file: &self.file,
            line,
            rec,
        };
        let ts_text = rec.get(cols.timestamp).unwrap_or("");
        let ts = parse_timestamp(ts_text, self.tz).map_err(|e| match e {
            TimeError::Unparsable => MarketError::BadTimestamp {
                file: self.file.clone(),
                line,
                column: cols.timestamp_name.clone(),
                value: ts_text.to_string(),
            },
            TimeError::Nonexistent => MarketError::NonexistentLocalTime {
                file: self.file.clone(),
                line,
                column: cols.timestamp_name.clone(),
                value: ts_text.to_string(),
                tz: self.tz,
            },
        })?;
        let open = row.price(cols.open, "open")?;
        let high = row.price(cols.high, "high")?;
        let low = row.price(cols.low, "low")?;
        let close = row.price(cols.close, "close")?;
        row.check_ohlc(open, high, low, close)?;
        let volume = match cols.volume {
            Some(i) => row.volume(i)?,
            None => Quantity::ZERO,
        };
        let symbol = match cols.symbol {
            Some(i) => rec.get(i).unwrap_or(""),
            None => self.default_symbol.as_str(),
        };
        if symbol.is_empty() {
            return Err(MarketError::EmptySymbol {
                file: self.file.clone(),
                line,
            });
        }
        let instrument = match &self.last_symbol {
            Some((s, id)) if s == symbol => *id,
            _ => {
                let id = self.instruments.intern(symbol);
                self.last_symbol = Some((symbol.to_string(), id));
                id
            }
        };
        self.check_order(line, instrument, symbol.to_string(), ts)?;
        Ok(Some(Bar {
            instrument,
            ts,
            open,
            high,
            low,
            close,
            volume,
        }))
    }

    fn check_order(
        &mut self,
        line: u64,
        id: InstrumentId,
        symbol: String,
        ts: Timestamp,
    ) -> Result<(), MarketError> {
        let column = || {
            self.columns
                .as_ref()
                .map_or_else(String::new, |c| c.timestamp_name.clone())
        };
        if let Some(prev) = self.last_any
            && ts < prev
        {
            return Err(MarketError::OutOfOrder {
                file: self.file.clone(),
                line,
                column: column(),
                value: ts,
                previous: prev,
            });
        }
        let idx = id.0 as usize;
        if self.last_ts.len() <= idx {
            self.last_ts.resize(idx + 1, None);
        }
        if let Some(prev) = self.last_ts[idx]
            && ts <= prev
        {
            return Err(MarketError::NotIncreasing {
                file: self.file.clone(),
                line,
                column: column(),
                symbol,
                value: ts,
                previous: prev,
            });
        }
        self.last_ts[idx] = Some(ts);
        self.last_any = Some(ts);
        Ok(())
    }
}

impl<R: Read> Iterator for CsvBars<'_, R> {
    type Item = Result<Bar, MarketError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_bar() {
            Ok(Some(bar)) => Some(Ok(bar)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// One data row being validated.
struct Row<'r> {
    file: &'r str,
    line: u64,
    rec: &'r csv::StringRecord,
}

impl Row<'_> {
    fn decimal<T: std::str::FromStr<Err = FixedError>>(
        &self,
        idx: usize,
        column: &'static str,
    ) -> Result<T, MarketError> {
        let text = self.rec.get(idx).unwrap_or("");
        text.parse::<T>().map_err(|reason| MarketError::BadNumber {
            file: self.file.to_string(),
            line: self.line,
            column,
            value: text.to_string(),
            reason,
        })
    }

    fn price(&self, idx: usize, column: &'static str) -> Result<Price, MarketError> {
        let p: Price = self.decimal(idx, column)?;
        if !p.is_positive() {
            return Err(MarketError::NonPositivePrice {
                file: self.file.to_string(),
                line: self.line,
                column,
                value: p,
            });
        }
        Ok(p)
    }

    /// An empty volume cell reads as zero.
    fn volume(&self, idx: usize) -> Result<Quantity, MarketError> {
        if self.rec.get(idx).is_none_or(str::is_empty) {
            return Ok(Quantity::ZERO);
        }
        let v: Quantity = self.decimal(idx, "volume")?;
        if v.is_negative() {
            return Err(MarketError::NegativeVolume {
                file: self.file.to_string(),
                line: self.line,
                value: v,
            });
        }
        Ok(v)
    }

    fn check_ohlc(&self, open: Price, high: Price, low: Price, close: Price) -> Result<(), MarketError> {
        let bad = |column, value: Price, relation, other_column, other: Price| MarketError::InconsistentBar {
            file: self.file.to_string(),
            line: self.line,
            column,
            value,
            relation,
            other_column,
            other_value: other,
        };
        if high < low {
            return Err(bad("high", high, "below", "low", low));
        }
        if high < open {
            return Err(bad("high", high, "below", "open", open));
        }
        if high < close {
            return Err(bad("high", high, "below", "close", close));
        }
        if low > open {
            return Err(bad("low", low, "above", "open", open));
        }
        if low > close {
            return Err(bad("low", low, "above", "close", close));
        }
        Ok(())
    }
}

/// Reads a whole CSV file of bars into memory (see [`CsvBars`]).
pub fn load_csv(
    path: &Path,
    options: &CsvOptions,
    instruments: &mut Instruments,
) -> Result<Vec<Bar>, MarketError> {
    CsvBars::open(path, options, instruments)?.collect()
}
