//! Parquet input and output of bars, with CSV's column rules and errors.
//!
//! Reading: the columns are found by the same names as in CSV (`timestamp`
//! or `date`/`datetime`/`time`, `open`, `high`, `low`, `close`, optional
//! `volume` and `symbol`, case-insensitive; other columns are not read).
//! Each row's cells become text — numbers in their shortest exact decimal
//! form, timestamps as RFC 3339 (UTC-adjusted Parquet timestamps) or naive
//! local times read in `--tz` (timestamps without a zone), dates as
//! `YYYY-MM-DD`, strings as they are — and go through the CSV reader's
//! validation, so a Parquet file and its CSV export give identical bars and
//! the same errors. Line numbers in errors count the header as line 1: data
//! row *n* is line *n + 1*, as in the CSV export of the file.
//!
//! Writing (`data synth --out bars.parquet`): `timestamp` as
//! `TIMESTAMP(NANOS, UTC)`, `symbol` as UTF-8, prices and volume as
//! `DOUBLE` (the synthetic prices are whole cents, exact in a double), Snappy
//! compressed.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use parquet::basic::{Compression, LogicalType, TimeUnit};
use parquet::column::writer::ColumnWriter;
use parquet::data_type::ByteArray;
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::SerializedFileWriter;
use parquet::record::Field;
use parquet::schema::parser::parse_message_type;
use parquet::schema::types::Type;
use wasmtrade_model::{Bar, Instruments, Timestamp};

use crate::MarketError;
use crate::read::{CsvBars, CsvOptions, canonical};

/// Whether `path` names a Parquet file (`.parquet` or `.pq`).
pub fn is_parquet(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet") || e.eq_ignore_ascii_case("pq"))
}

/// How the timestamp column's integers are to be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TimeColumn {
    /// A Parquet timestamp: nanoseconds per unit, UTC-adjusted or naive.
    Instant { nanos_per_unit: i64, utc: bool },
    /// Anything else: as the value reads (unix seconds, a date, a string).
    Plain,
}

fn parquet_error(file: &str, e: parquet::errors::ParquetError) -> MarketError {
    MarketError::Parquet {
        file: file.to_string(),
        reason: e.to_string(),
    }
}

/// Reads every bar of a Parquet file (see the module documentation).
pub fn load_parquet(
    path: &Path,
    options: &CsvOptions,
    instruments: &mut Instruments,
) -> Result<Vec<Bar>, MarketError> {
    let name = path.display().to_string();
    let file = File::open(path).map_err(|e| MarketError::Parquet {
        file: name.clone(),
        reason: format!("cannot open the file ({e}): check that it exists and is readable"),
    })?;
    let reader = SerializedFileReader::new(file).map_err(|e| parquet_error(&name, e))?;
    let schema = reader.metadata().file_metadata().schema();
    // The columns we read, in file order, with their CSV names.
    let mut picked: Vec<(Arc<Type>, &'static str)> = Vec::new();
    for field in schema.get_fields() {
        let Some(column) = canonical(field.name()) else {
            continue;
        };
        if !field.is_primitive() {
            return Err(MarketError::ParquetType {
                file: name,
                column: field.name().to_string(),
                found: "a nested group".to_string(),
            });
        }
        picked.push((field.clone(), column));
    }
    let time = picked
        .iter()
        .find(|(_, c)| *c == "timestamp")
        .map_or(TimeColumn::Plain, |(t, _)| time_column(t));
    let projection = Type::group_type_builder(schema.name())
        .with_fields(picked.iter().map(|(t, _)| t.clone()).collect())
        .build()
        .map_err(|e| parquet_error(&name, e))?;
    // The rows as CSV text, through the CSV reader's rules.
    let mut text = csv::Writer::from_writer(Vec::new());
    let header: Vec<&str> = picked.iter().map(|(t, _)| t.name()).collect();
    text.write_record(&header).map_err(|e| MarketError::Parquet {
        file: name.clone(),
        reason: e.to_string(),
    })?;
    let rows = reader
        .get_row_iter(Some(projection))
        .map_err(|e| parquet_error(&name, e))?;
    let mut record: Vec<String> = Vec::with_capacity(picked.len());
    for row in rows {
        let row = row.map_err(|e| parquet_error(&name, e))?;
        record.clear();
        for ((_, field), (_, column)) in row.get_column_iter().zip(&picked) {
            let cell = cell_text(
                field,
                if *column == "timestamp" {
                    time
                } else {
                    TimeColumn::Plain
                },
            )
            .ok_or_else(|| MarketError::ParquetType {
                file: name.clone(),
                column: column.to_string(),
                found: field_type(field),
            })?;
            record.push(cell);
        }
        text.write_record(&record).map_err(|e| MarketError::Parquet {
            file: name.clone(),
            reason: e.to_string(),
        })?;
    }
    let bytes = text.into_inner().map_err(|e| MarketError::Parquet {
        file: name.clone(),
        reason: e.to_string(),
    })?;
    CsvBars::from_reader(std::io::Cursor::new(bytes), &name, options, instruments)?.collect()
}

fn time_column(t: &Type) -> TimeColumn {
    match t.get_basic_info().logical_type_ref() {
        Some(LogicalType::Timestamp(t)) => TimeColumn::Instant {
            nanos_per_unit: match t.unit {
                TimeUnit::MILLIS => 1_000_000,
                TimeUnit::MICROS => 1_000,
                TimeUnit::NANOS => 1,
            },
            utc: t.is_adjusted_to_u_t_c,
        },
        _ => TimeColumn::Plain,
    }
}

/// A timestamp as text: RFC 3339 in UTC, or naive (read in `--tz`).
fn instant_text(nanos: i64, utc: bool) -> String {
    let rfc = Timestamp::from_nanos(nanos).to_string();
    if utc {
        rfc
    } else {
        rfc.trim_end_matches('Z').replacen('T', " ", 1)
    }
}

/// One cell as text, or `None` for a type bars cannot hold.
fn cell_text(field: &Field, time: TimeColumn) -> Option<String> {
    Some(match field {
        Field::Null => String::new(),
        Field::Byte(v) => v.to_string(),
        Field::Short(v) => v.to_string(),
        Field::Int(v) => v.to_string(),
        Field::Long(v) => match time {
            TimeColumn::Instant { nanos_per_unit, utc } => instant_text(v.checked_mul(nanos_per_unit)?, utc),
            TimeColumn::Plain => v.to_string(),
        },
        Field::UByte(v) => v.to_string(),
        Field::UShort(v) => v.to_string(),
        Field::UInt(v) => v.to_string(),
        Field::ULong(v) => v.to_string(),
        // Rust prints the shortest text that reads back as the same
        // double: 100.04, not 100.040000000000006.
        Field::Float(v) => float_text(f64::from(*v))?,
        Field::Double(v) => float_text(*v)?,
        Field::Float16(v) => float_text(v.to_f64())?,
        Field::Decimal(d) => decimal_text(d)?,
        Field::Str(s) => s.clone(),
        Field::Date(days) => {
            let ts = Timestamp::from_secs(i64::from(*days) * 86_400).to_string();
            ts[..10].to_string()
        }
        Field::TimestampMillis(v) => {
            let utc = !matches!(time, TimeColumn::Instant { utc: false, .. });
            instant_text(v.checked_mul(1_000_000)?, utc)
        }
        Field::TimestampMicros(v) => {
            let utc = !matches!(time, TimeColumn::Instant { utc: false, .. });
            instant_text(v.checked_mul(1_000)?, utc)
        }
        Field::Bool(_)
        | Field::Bytes(_)
        | Field::TimeMillis(_)
        | Field::TimeMicros(_)
        | Field::Group(_)
        | Field::ListInternal(_)
        | Field::MapInternal(_) => return None,
    })
}

fn float_text(v: f64) -> Option<String> {
    // NaN and infinities read as "NaN"/"inf" and fail as numbers with the
    // CSV reader's message, which names the column and the value.
    Some(if v.is_finite() && v == v.trunc() && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    })
}

/// A Parquet DECIMAL as exact decimal text (unscaled big-endian integer and
/// a scale).
fn decimal_text(d: &parquet::data_type::Decimal) -> Option<String> {
    let bytes = d.data();
    if bytes.is_empty() || bytes.len() > 16 {
        return None;
    }
    let mut unscaled: i128 = if bytes[0] & 0x80 != 0 { -1 } else { 0 };
    for b in bytes {
        unscaled = (unscaled << 8) | i128::from(*b);
    }
    let scale = usize::try_from(d.scale()).ok()?;
    let negative = unscaled < 0;
    let digits = unscaled.unsigned_abs().to_string();
    let digits = if digits.len() <= scale {
        format!("{}{digits}", "0".repeat(scale + 1 - digits.len()))
    } else {
        digits
    };
    let (int, frac) = digits.split_at(digits.len() - scale);
    let sign = if negative { "-" } else { "" };
    Some(if frac.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    })
}

fn field_type(field: &Field) -> String {
    let name = match field {
        Field::Bool(_) => "a boolean",
        Field::Bytes(_) => "binary bytes (not UTF-8 text)",
        Field::TimeMillis(_) | Field::TimeMicros(_) => "a time of day without a date",
        Field::Group(_) => "a nested group",
        Field::ListInternal(_) => "a list",
        Field::MapInternal(_) => "a map",
        Field::Long(_) | Field::TimestampMillis(_) | Field::TimestampMicros(_) => {
            "a timestamp out of range (after 2262)"
        }
        _ => "an unsupported value",
    };
    format!(
        "{name}; bars need numbers (or decimal text) for prices and a timestamp, date, unix seconds or text for time"
    )
}

const SCHEMA: &str = "
message bars {
  REQUIRED INT64 timestamp (TIMESTAMP(NANOS,true));
  REQUIRED BYTE_ARRAY symbol (UTF8);
  REQUIRED DOUBLE open;
  REQUIRED DOUBLE high;
  REQUIRED DOUBLE low;
  REQUIRED DOUBLE close;
  REQUIRED DOUBLE volume;
}
";

/// Rows per row group.
const ROW_GROUP: usize = 65_536;

/// Writes bars as Parquet (see the module documentation).
pub fn write_parquet(path: &Path, bars: &[Bar], instruments: &Instruments) -> Result<(), MarketError> {
    let name = path.display().to_string();
    let err = |e: parquet::errors::ParquetError| parquet_error(&name, e);
    let schema = Arc::new(parse_message_type(SCHEMA).map_err(err)?);
    let props = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build(),
    );
    let file = File::create(path).map_err(|e| MarketError::Parquet {
        file: name.clone(),
        reason: format!("cannot create the file ({e})"),
    })?;
    let mut writer = SerializedFileWriter::new(file, schema, props).map_err(err)?;
    for chunk in bars.chunks(ROW_GROUP) {
        let mut group = writer.next_row_group().map_err(err)?;
        let mut index = 0;
        while let Some(mut column) = group.next_column().map_err(err)? {
            let doubles = |f: fn(&Bar) -> f64| chunk.iter().map(f).collect::<Vec<f64>>();
            match (index, column.untyped()) {
                (0, ColumnWriter::Int64ColumnWriter(w)) => {
                    let ts: Vec<i64> = chunk.iter().map(|b| b.ts.nanos()).collect();
                    w.write_batch(&ts, None, None).map_err(err)?;
                }
                (1, ColumnWriter::ByteArrayColumnWriter(w)) => {
                    let symbols: Vec<ByteArray> = chunk
                        .iter()
                        .map(|b| {
                            ByteArray::from(instruments.get(b.instrument).map_or("", |i| i.symbol.as_str()))
                        })
                        .collect();
                    w.write_batch(&symbols, None, None).map_err(err)?;
                }
                (2..=6, ColumnWriter::DoubleColumnWriter(w)) => {
                    let values = match index {
                        2 => doubles(|b| b.open.to_f64()),
                        3 => doubles(|b| b.high.to_f64()),
                        4 => doubles(|b| b.low.to_f64()),
                        5 => doubles(|b| b.close.to_f64()),
                        _ => doubles(|b| b.volume.to_f64()),
                    };
                    w.write_batch(&values, None, None).map_err(err)?;
                }
                _ => {
                    return Err(MarketError::Parquet {
                        file: name,
                        reason: format!("internal: unexpected column {index} in the bars schema"),
                    });
                }
            }
            column.close().map_err(err)?;
            index += 1;
        }
        group.close().map_err(err)?;
    }
    writer.close().map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SynthConfig, generate};

    #[test]
    fn decimals_read_exactly() {
        let d =
            |v: i64, scale: i32| decimal_text(&parquet::data_type::Decimal::from_i64(v, 18, scale)).unwrap();
        assert_eq!(d(10004, 2), "100.04");
        assert_eq!(d(-5, 3), "-0.005");
        assert_eq!(d(7, 0), "7");
    }

    #[test]
    fn floats_print_their_shortest_exact_text() {
        assert_eq!(float_text(100.04).unwrap(), "100.04");
        assert_eq!(float_text(871977.0).unwrap(), "871977");
        assert_eq!(float_text(f64::NAN).unwrap(), "NaN");
    }

    #[test]
    fn written_bars_read_back_identically() {
        let mut instruments = Instruments::new();
        let bars = generate(
            &SynthConfig {
                // More than one row group.
                bars: 70_000,
                interval_secs: 3_600,
                ..SynthConfig::default()
            },
            &mut instruments,
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bars.parquet");
        write_parquet(&path, &bars, &instruments).unwrap();
        let mut again = Instruments::new();
        let read = load_parquet(&path, &CsvOptions::default(), &mut again).unwrap();
        assert_eq!(read, bars);
    }
}
