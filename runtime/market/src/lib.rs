//! Market data sources: CSV OHLCV replay with time-zone-aware timestamps and
//! a seeded synthetic data generator.
//!
//! # CSV format
//!
//! - A **header row is required**. Column names are case-insensitive and
//!   trimmed; their order is free; unknown columns (`adj close`, …) are ignored.
//! - `timestamp` (aliases `date`, `datetime`, `time`), `open`, `high`, `low`,
//!   `close` are required; `volume` is optional (missing column or empty cell
//!   = 0); `symbol` is optional (without it every row belongs to
//!   [`CsvOptions::default_symbol`]). A column may appear only once.
//! - Timestamps (the bar's opening time) may be:
//!   - RFC 3339 with an offset: `2024-01-02T14:30:00Z`, `2024-01-02T09:30:00-05:00`;
//!   - naive `YYYY-MM-DD HH:MM[:SS[.fff]]` or `YYYY-MM-DDTHH:MM[:SS[.fff]]`,
//!     read in [`CsvOptions::time_zone`] (IANA, default UTC); a local time
//!     that happens twice (clocks going back) means the earlier instant, one
//!     that never happens (clocks going forward) is an error;
//!   - `YYYY-MM-DD`: midnight in that time zone;
//!   - an integer: unix seconds.
//! - Prices and volumes are plain decimals read exactly (never through
//!   `f64`), with at most nine decimals.
//! - Validation: prices > 0, volume ≥ 0, `low ≤ min(open, close)`,
//!   `high ≥ max(open, close)`, timestamps strictly increasing per symbol and
//!   non-decreasing across the file. Every row has as many fields as the header.
//!
//! - Size limits: a row may be at most [`MAX_LINE_BYTES`] (1 MiB) and a
//!   field at most [`MAX_FIELD_BYTES`] (64 KiB); the read stops at the
//!   first byte past a limit with an error naming `file:line`, so an
//!   oversized file costs no more memory than the limit.
//!
//! Every problem is a [`MarketError`] whose message is one line naming
//! `file:line`, the column and the value, e.g.
//! ``bars.csv:17: column `high`: 99.5 is below low 100.2: fix the bar's high/low``.
//!
//! [`write_csv`] writes the same format (`timestamp,symbol,open,high,low,close,volume`,
//! RFC 3339 UTC), so generated data round-trips exactly through a file.
//!
//! # Example
//!
//! ```
//! use wasmtrade_market::{CsvBars, CsvOptions, SynthConfig, generate, write_csv};
//! use wasmtrade_model::Instruments;
//!
//! let mut instruments = Instruments::new();
//! let bars = generate(&SynthConfig { bars: 5, ..SynthConfig::default() }, &mut instruments)?;
//! let mut file = Vec::new();
//! write_csv(&mut file, "synth.csv".as_ref(), &bars, &instruments)?;
//!
//! let mut replayed = Instruments::new();
//! let reader = CsvBars::from_reader(&file[..], "synth.csv", &CsvOptions::default(), &mut replayed)?;
//! let back = reader.collect::<Result<Vec<_>, _>>()?;
//! assert_eq!(back, bars);
//! # Ok::<(), wasmtrade_market::MarketError>(())
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod bounded;
mod error;
mod parquet;
mod read;
mod synth;
mod time;
mod write;

pub use bounded::{MAX_FIELD_BYTES, MAX_LINE_BYTES};
pub use error::MarketError;
pub use parquet::{is_parquet, load_parquet, write_parquet};
pub use read::{CsvBars, CsvOptions, load_csv};
pub use synth::{Calendar, Synth, SynthConfig, generate};
pub use write::{CSV_HEADER, write_csv, write_csv_file};

/// The IANA time zone type used by [`CsvOptions`] (re-exported from `chrono-tz`).
pub use chrono_tz::Tz;

/// Reads a whole file of bars: Parquet for `.parquet`/`.pq` (see
/// [`load_parquet`]), CSV otherwise (see [`load_csv`]); the same columns,
/// rules and errors either way.
pub fn load_bars(
    path: &std::path::Path,
    options: &CsvOptions,
    instruments: &mut wasmtrade_model::Instruments,
) -> Result<Vec<wasmtrade_model::Bar>, MarketError> {
    if is_parquet(path) {
        load_parquet(path, options, instruments)
    } else {
        load_csv(path, options, instruments)
    }
}
