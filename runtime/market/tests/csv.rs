//! CSV replay: formats, validation messages, time zones and round trips.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::Write;

use rstest::rstest;
use wasmtrade_market::{
    CsvBars, CsvOptions, MAX_FIELD_BYTES, MAX_LINE_BYTES, MarketError, Synth, SynthConfig, generate,
    load_csv, write_csv, write_csv_file,
};
use wasmtrade_model::{Bar, Instruments, Price, Quantity, Timestamp};

fn read(text: &str, options: &CsvOptions) -> (Result<Vec<Bar>, MarketError>, Instruments) {
    let mut instruments = Instruments::new();
    let result = CsvBars::from_reader(text.as_bytes(), "bars.csv", options, &mut instruments)
        .and_then(|r| r.collect::<Result<Vec<_>, _>>());
    (result, instruments)
}

fn read_utc(text: &str) -> Result<Vec<Bar>, MarketError> {
    read(text, &CsvOptions::with_symbol("AAPL")).0
}

fn err(text: &str) -> String {
    read_utc(text).unwrap_err().to_string()
}

#[test]
fn reads_a_minimal_file_with_default_symbol() {
    let (bars, instruments) = read(
        "Date,Open,High,Low,Close,Volume\n2024-01-02,100.5,101,99.75,100.25,1200\n2024-01-03,100,100,100,100,\n",
        &CsvOptions::with_symbol("AAPL"),
    );
    let bars = bars.unwrap();
    assert_eq!(bars.len(), 2);
    let id = instruments.by_symbol("AAPL").unwrap().id;
    assert_eq!(
        bars[0],
        Bar {
            instrument: id,
            ts: Timestamp::from_secs(1_704_153_600),
            open: "100.5".parse().unwrap(),
            high: Price::from_int(101),
            low: "99.75".parse().unwrap(),
            close: "100.25".parse().unwrap(),
            volume: Quantity::from_int(1200),
        }
    );
    assert_eq!(bars[1].volume, Quantity::ZERO);
}

#[test]
fn reads_symbol_column_columns_in_any_order_and_ignores_extra_columns() {
    let text = "symbol,close,Adj Close,low,high,open,timestamp\n\
                MSFT, 10 ,9,9,11,10,2024-01-02T14:30:00Z\n\
                AAPL,20,19,19,21,20,2024-01-02T14:30:00Z\n\
                MSFT,10,9,9,11,10,2024-01-02T14:31:00Z\n";
    let (bars, instruments) = read(text, &CsvOptions::default());
    let bars = bars.unwrap();
    assert_eq!(bars.len(), 3);
    assert_eq!(instruments.len(), 2);
    assert_eq!(instruments.get(bars[1].instrument).unwrap().symbol, "AAPL");
    assert_eq!(bars[0].instrument, bars[2].instrument);
    assert_eq!(bars[0].volume, Quantity::ZERO);
}

#[test]
fn prices_are_parsed_exactly_without_floats() {
    let bars = read_utc("time,open,high,low,close\n1704205800,0.1,0.300000001,0.1,0.2\n").unwrap();
    assert_eq!(bars[0].high.raw(), 300_000_001);
    assert_eq!(bars[0].open.raw(), 100_000_000);
}

const H: &str = "timestamp,open,high,low,close,volume\n";

#[rstest]
#[case::empty_file("", "bars.csv: the file is empty")]
#[case::missing_columns("timestamp,open,close\n", "bars.csv:1: missing column(s) `high`, `low`")]
#[case::missing_timestamp("open,high,low,close\n", "bars.csv:1: missing column(s) `timestamp`")]
#[case::duplicate_column(
    "date,time,open,high,low,close\n",
    "bars.csv:1: column `timestamp` appears more than once"
)]
#[case::duplicate_plain(
    "timestamp,open,high,low,close,Close\n",
    "bars.csv:1: column `close` appears more than once"
)]
#[case::ragged_short("2024-01-02,1,2,1,1\n", "bars.csv:2: row has 5 field(s) but the header has 6")]
#[case::ragged_long(
    "2024-01-02,1,2,1,1,5,9\n",
    "bars.csv:2: row has 7 field(s) but the header has 6"
)]
#[case::bad_timestamp(
    "02/01/2024,1,2,1,1,5\n",
    "bars.csv:2: column `timestamp`: `02/01/2024` is not a timestamp"
)]
#[case::bad_price(
    "2024-01-02,1,abc,1,1,5\n",
    "bars.csv:2: column `high`: `abc` is not a valid decimal"
)]
#[case::float_notation(
    "2024-01-02,1e2,2,1,1,5\n",
    "bars.csv:2: column `open`: `1e2` is not a valid decimal"
)]
#[case::too_precise(
    "2024-01-02,1.0000000001,2,1,1,5\n",
    "bars.csv:2: column `open`: `1.0000000001` is not a valid decimal"
)]
#[case::empty_price(
    "2024-01-02,1,2,,1,5\n",
    "bars.csv:2: column `low`: `` is not a valid decimal"
)]
#[case::zero_price("2024-01-02,0,2,1,1,5\n", "bars.csv:2: column `open`: 0 is not positive")]
#[case::negative_price("2024-01-02,1,2,-1,1,5\n", "bars.csv:2: column `low`: -1 is not positive")]
#[case::negative_volume("2024-01-02,1,2,1,1,-5\n", "bars.csv:2: column `volume`: -5 is negative")]
#[case::bad_volume(
    "2024-01-02,1,2,1,1,many\n",
    "bars.csv:2: column `volume`: `many` is not a valid decimal"
)]
#[case::high_below_low(
    "2024-01-02,100.3,99.5,100.2,100.3,1\n",
    "bars.csv:2: column `high`: 99.5 is below low 100.2"
)]
#[case::high_below_open("2024-01-02,3,2,1,1.5,1\n", "bars.csv:2: column `high`: 2 is below open 3")]
#[case::high_below_close("2024-01-02,1.5,2,1,3,1\n", "bars.csv:2: column `high`: 2 is below close 3")]
#[case::low_above_open("2024-01-02,1,3,1.5,2,1\n", "bars.csv:2: column `low`: 1.5 is above open 1")]
#[case::low_above_close("2024-01-02,2,3,1.5,1,1\n", "bars.csv:2: column `low`: 1.5 is above close 1")]
#[case::duplicate_ts(
    "2024-01-02,1,2,1,1,1\n2024-01-02,1,2,1,1,1\n",
    "bars.csv:3: column `timestamp`: 2024-01-02T00:00:00Z is not after the previous AAPL bar at 2024-01-02T00:00:00Z"
)]
#[case::backwards_ts(
    "2024-01-03,1,2,1,1,1\n2024-01-02,1,2,1,1,1\n",
    "bars.csv:3: column `timestamp`: 2024-01-02T00:00:00Z is before the previous row at 2024-01-03T00:00:00Z"
)]
#[case::error_line_counts_rows(
    "2024-01-02,1,2,1,1,1\n2024-01-03,1,2,1,1,1\n2024-01-04,1,2,1,1,x\n",
    "bars.csv:4: column `volume`: `x` is not a valid decimal"
)]
fn malformed_input_names_file_line_column_and_value(#[case] body: &str, #[case] expected: &str) {
    let text = if body.is_empty() || body.contains("open") {
        body.to_string()
    } else {
        format!("{H}{body}")
    };
    let message = err(&text);
    assert!(
        message.starts_with(expected),
        "got: {message}\nwant prefix: {expected}"
    );
    assert!(!message.contains('\n'), "message must be one line: {message}");
}

#[test]
fn symbol_cell_must_not_be_empty() {
    let message = err("symbol,timestamp,open,high,low,close\n,2024-01-02,1,1,1,1\n");
    assert!(
        message.starts_with("bars.csv:2: column `symbol`: the symbol is empty"),
        "{message}"
    );
}

#[test]
fn symbols_may_share_a_timestamp_but_not_repeat_their_own() {
    let ok = "symbol,timestamp,open,high,low,close\nA,2024-01-02,1,1,1,1\nB,2024-01-02,1,1,1,1\n";
    assert_eq!(read(ok, &CsvOptions::default()).0.unwrap().len(), 2);
}

#[test]
fn header_only_file_has_no_bars() {
    assert_eq!(read_utc(H).unwrap(), Vec::new());
}

#[test]
fn naive_timestamps_are_read_in_the_configured_zone_across_dst() {
    let options = CsvOptions::with_symbol("SPY")
        .time_zone_named("America/New_York")
        .unwrap();
    let text = "datetime,open,high,low,close\n\
                2024-03-08 09:30,1,1,1,1\n\
                2024-03-11 09:30,1,1,1,1\n\
                2024-03-11T10:00:00-04:00,1,1,1,1\n";
    let bars = read(text, &options).0.unwrap();
    assert_eq!(bars[0].ts.to_string(), "2024-03-08T14:30:00Z");
    assert_eq!(bars[1].ts.to_string(), "2024-03-11T13:30:00Z");
    assert_eq!(bars[2].ts.to_string(), "2024-03-11T14:00:00Z");
}

#[test]
fn local_time_in_a_dst_gap_is_an_error_naming_the_zone() {
    let options = CsvOptions::with_symbol("SPY")
        .time_zone_named("America/New_York")
        .unwrap();
    let message = read("time,open,high,low,close\n2024-03-10 02:30,1,1,1,1\n", &options)
        .0
        .unwrap_err()
        .to_string();
    assert!(
        message.starts_with(
            "bars.csv:2: column `time`: `2024-03-10 02:30` does not exist in time zone America/New_York"
        ),
        "{message}"
    );
}

#[test]
fn unknown_time_zone_is_refused() {
    let e = CsvOptions::default().time_zone_named("Mars/Olympus").unwrap_err();
    assert!(e.to_string().contains("unknown time zone `Mars/Olympus`"));
}

#[test]
fn missing_file_names_the_path() {
    let mut instruments = Instruments::new();
    let e = load_csv(
        "/nonexistent/bars.csv".as_ref(),
        &CsvOptions::default(),
        &mut instruments,
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("/nonexistent/bars.csv: cannot read the file"),
        "{e}"
    );
}

/// An endless stream: the header, one good row, then a field that never
/// ends. Reading it whole would never finish: the test finishing is the proof.
fn endless_field() -> impl std::io::Read {
    use std::io::Read;
    std::io::Cursor::new(format!("{H}2024-01-02,1,2,1,1,1\n2024-01-03,1,2,1,1,")).chain(std::io::repeat(b'7'))
}

#[test]
fn an_endless_field_is_refused_at_the_limit_without_reading_on() {
    let mut instruments = Instruments::new();
    let mut it = CsvBars::from_reader(
        endless_field(),
        "big.csv",
        &CsvOptions::default(),
        &mut instruments,
    )
    .unwrap();
    assert!(it.next().unwrap().is_ok(), "the row before it is read");
    let e = it.next().unwrap().unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "big.csv:3: field 6 (column `volume`) is longer than {MAX_FIELD_BYTES} bytes, the limit of a CSV field: remove the column or shorten the value"
        )
    );
    assert!(it.next().is_none());
}

#[test]
fn a_row_over_the_line_limit_names_file_line_and_limit() {
    // Many short fields: no field is too long, the row is.
    let row = "1,".repeat(MAX_LINE_BYTES / 2 + 1);
    let text = format!("{H}2024-01-02,1,2,1,1,1\n{row}\n");
    assert_eq!(
        err(&text),
        format!(
            "bars.csv:3: the row is longer than {MAX_LINE_BYTES} bytes, the limit of a CSV row: this is not a file of OHLCV bars, or a row lost its line ending"
        )
    );
}

#[test]
fn a_header_over_the_field_limit_is_refused() {
    let text = format!("{}\n", "x".repeat(MAX_FIELD_BYTES + 1));
    assert!(
        err(&text).starts_with("bars.csv:1: field 1 is longer than"),
        "{}",
        err(&text)
    );
}

#[test]
fn rows_at_the_limits_are_read() {
    // A field of exactly the limit in an ignored column.
    let text = format!(
        "timestamp,open,high,low,close,notes\n2024-01-02,1,2,1,1,{}\n",
        "n".repeat(MAX_FIELD_BYTES)
    );
    assert_eq!(read_utc(&text).unwrap().len(), 1);
}

#[test]
fn iterator_stops_after_the_first_error() {
    let mut instruments = Instruments::new();
    let text = format!("{H}2024-01-02,1,2,1,1,x\n2024-01-03,1,2,1,1,1\n");
    let mut it = CsvBars::from_reader(
        text.as_bytes(),
        "bars.csv",
        &CsvOptions::default(),
        &mut instruments,
    )
    .unwrap();
    assert!(it.next().unwrap().is_err());
    assert!(it.next().is_none());
}

#[test]
fn synth_round_trips_through_a_file_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("synth.csv");
    let mut instruments = Instruments::new();
    let config = SynthConfig {
        bars: 2_000,
        interval_secs: 37,
        ..SynthConfig::default()
    };
    let bars = generate(&config, &mut instruments).unwrap();
    write_csv_file(&path, &bars, &instruments).unwrap();
    let mut replayed = Instruments::new();
    let back = load_csv(&path, &CsvOptions::default(), &mut replayed).unwrap();
    assert_eq!(back, bars);
    assert_eq!(replayed.get(back[0].instrument).unwrap().symbol, "SYNTH");
}

#[test]
fn written_file_starts_with_the_documented_header() {
    let mut instruments = Instruments::new();
    let bars = generate(
        &SynthConfig {
            bars: 1,
            ..SynthConfig::default()
        },
        &mut instruments,
    )
    .unwrap();
    let mut out = Vec::new();
    write_csv(&mut out, "x.csv".as_ref(), &bars, &instruments).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.starts_with("timestamp,symbol,open,high,low,close,volume\n2015-01-02T00:00:00Z,SYNTH,"),
        "{text}"
    );
}

#[test]
fn writing_a_bar_of_an_unknown_instrument_fails() {
    let bars = generate(
        &SynthConfig {
            bars: 1,
            ..SynthConfig::default()
        },
        &mut Instruments::new(),
    )
    .unwrap();
    let mut sink = std::io::sink();
    let e = write_csv(&mut sink, "x.csv".as_ref(), &bars, &Instruments::new()).unwrap_err();
    assert!(matches!(e, MarketError::UnknownInstrument { index: 0, .. }));
}

#[test]
fn reads_files_from_disk_with_a_byte_order_mark() {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all("\u{feff}Timestamp,Open,High,Low,Close\n2024-01-02,1,2,1,1\n".as_bytes())
        .unwrap();
    let bars = load_csv(f.path(), &CsvOptions::default(), &mut Instruments::new()).unwrap();
    assert_eq!(bars.len(), 1);
}

#[test]
fn generates_a_million_bars() {
    let config = SynthConfig {
        bars: 1_000_000,
        interval_secs: 60,
        // Every minute: the last bar is exactly 999,999 steps on.
        calendar: wasmtrade_market::Calendar::Continuous,
        ..SynthConfig::default()
    };
    let synth = Synth::new(&config, wasmtrade_model::InstrumentId(0)).unwrap();
    assert_eq!(synth.len(), 1_000_000);
    let last = synth.last().unwrap();
    assert_eq!(
        last.ts.since(config.start),
        999_999 * 60 * Timestamp::NANOS_PER_SEC
    );
}

/// Rough timing of the generator; run with
/// `cargo test --release -p wasmtrade-market -- --ignored --nocapture`.
#[test]
#[ignore = "timing, run in release"]
#[allow(clippy::disallowed_methods, clippy::print_stdout)] // a benchmark may read the wall clock
fn generates_a_million_bars_quickly() {
    let config = SynthConfig {
        bars: 1_000_000,
        interval_secs: 60,
        // Every minute: the last bar is exactly 999,999 steps on.
        calendar: wasmtrade_market::Calendar::Continuous,
        ..SynthConfig::default()
    };
    let start = std::time::Instant::now();
    let bars = generate(&config, &mut Instruments::new()).unwrap();
    let elapsed = start.elapsed();
    println!("synth: 1,000,000 bars in {elapsed:?}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.csv");
    let start = std::time::Instant::now();
    write_csv_file(&path, &bars, &Instruments::new().tap_intern("SYNTH")).unwrap();
    println!("write: {:?}", start.elapsed());
    let start = std::time::Instant::now();
    let back = load_csv(&path, &CsvOptions::default(), &mut Instruments::new()).unwrap();
    println!("load: {:?}", start.elapsed());
    assert_eq!(back.len(), bars.len());
    assert!(elapsed < std::time::Duration::from_secs(2));
}

trait TapIntern {
    fn tap_intern(self, symbol: &str) -> Self;
}
impl TapIntern for Instruments {
    fn tap_intern(mut self, symbol: &str) -> Self {
        self.intern(symbol);
        self
    }
}
