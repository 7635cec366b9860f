//! The `csv_bars` fuzz entry point, shared by the libFuzzer target
//! (`fuzz_targets/csv_bars.rs`, nightly, `make fuzz`) and the stable replay
//! test (`runtime/host/tests/fuzz_corpus.rs`, part of `make test`):
//! `CsvBars::from_reader` over arbitrary bytes, with and without a time
//! zone. Every row must yield a validated bar or an error, never a panic.

use wasmtrade_market::{CsvBars, CsvOptions};
use wasmtrade_model::Instruments;

/// Rows read per input at most (keeps one input fast).
const MAX_ROWS: usize = 10_000;

/// Parses `data` as a bar CSV; an odd first byte selects a DST time zone.
pub fn run(data: &[u8]) {
    let (tz, csv) = match data.split_first() {
        Some((b, rest)) if b % 2 == 1 => (Some("America/New_York"), rest),
        _ => (None, data),
    };
    let mut options = CsvOptions::with_symbol("FUZZ");
    if let Some(tz) = tz {
        options = match options.time_zone_named(tz) {
            Ok(o) => o,
            Err(e) => panic!("a valid time zone was refused: {e}"),
        };
    }
    let mut instruments = Instruments::new();
    let Ok(bars) = CsvBars::from_reader(csv, "fuzz.csv", &options, &mut instruments) else {
        return;
    };
    for row in bars.take(MAX_ROWS) {
        if row.is_err() {
            break;
        }
    }
}
