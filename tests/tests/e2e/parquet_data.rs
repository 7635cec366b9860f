//! Parquet input on the real binary: the same backtest from CSV and from
//! Parquet gives identical results, in serve-free backtests, sweeps and
//! indicator runs alike; bad Parquet fails with the file, the column and
//! what is wrong.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is a test failure with a location"
)]

use std::path::Path;
use std::sync::Arc;

use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use serde_json::Value;
use wasmtrade_e2e::{guest_path, run_cli};

fn ok(args: &[&str]) -> Vec<u8> {
    let out = run_cli(args).unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn err(args: &[&str]) -> String {
    let out = run_cli(args).unwrap();
    assert!(!out.status.success(), "{args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn backtest(data: &Path, extra: &[&str]) -> Value {
    let strategy = guest_path("sma_cross").unwrap().display().to_string();
    let data = data.display().to_string();
    let mut args = vec![
        "backtest",
        "--strategy",
        &strategy,
        "--config",
        "fast=10,slow=30",
        "--data",
        &data,
        "--json",
    ];
    args.extend_from_slice(extra);
    let mut v: Value = serde_json::from_slice(&ok(&args)).unwrap();
    v["timings"] = Value::Null;
    v["data"] = Value::Null;
    v
}

#[test]
fn a_backtest_from_parquet_equals_the_same_backtest_from_csv() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, pq) = (dir.path().join("bars.csv"), dir.path().join("bars.parquet"));
    for out in [&csv, &pq] {
        ok(&[
            "data",
            "synth",
            "--bars",
            "3000",
            "--seed",
            "5",
            "--out",
            &out.display().to_string(),
        ]);
    }
    assert_eq!(&std::fs::read(&pq).unwrap()[..4], b"PAR1");
    let (a, b) = (backtest(&csv, &[]), backtest(&pq, &[]));
    assert_eq!(a, b);
    assert!(a["report"]["trades"].as_u64().unwrap() > 10);
    // The trades CSVs are byte-identical too.
    let (ta, tb) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
    backtest(&csv, &["--trades-csv", &ta.display().to_string()]);
    backtest(&pq, &["--trades-csv", &tb.display().to_string()]);
    assert_eq!(std::fs::read(&ta).unwrap(), std::fs::read(&tb).unwrap());
}

/// Writes a Parquet file with `schema` and one column per closure.
fn write(
    path: &Path,
    schema: &str,
    write_columns: impl FnOnce(&mut parquet::file::writer::SerializedRowGroupWriter<'_, std::fs::File>),
) {
    let schema = Arc::new(parse_message_type(schema).unwrap());
    let file = std::fs::File::create(path).unwrap();
    let mut writer = SerializedFileWriter::new(file, schema, Default::default()).unwrap();
    let mut group = writer.next_row_group().unwrap();
    write_columns(&mut group);
    group.close().unwrap();
    writer.close().unwrap();
}

fn doubles(group: &mut parquet::file::writer::SerializedRowGroupWriter<'_, std::fs::File>, v: &[f64]) {
    let mut c = group.next_column().unwrap().unwrap();
    c.typed::<DoubleType>().write_batch(v, None, None).unwrap();
    c.close().unwrap();
}

#[test]
fn naive_parquet_timestamps_are_read_in_the_given_time_zone_like_csv() {
    let dir = tempfile::tempdir().unwrap();
    let pq = dir.path().join("ny.parquet");
    let csv = dir.path().join("ny.csv");
    let n = 60usize;
    // 2024-03-01 09:30 naive, one bar a day, as milliseconds without a zone.
    let start_ms = 1_709_285_400_000i64;
    let ts: Vec<i64> = (0..n as i64).map(|i| start_ms + i * 86_400_000).collect();
    let close: Vec<f64> = (0..n).map(|i| 100.0 + ((i * 7) % 11) as f64 - 5.0).collect();
    write(
        &pq,
        "message m { REQUIRED INT64 Date (TIMESTAMP(MILLIS,false)); REQUIRED DOUBLE Open; REQUIRED DOUBLE High; REQUIRED DOUBLE Low; REQUIRED DOUBLE Close; REQUIRED BYTE_ARRAY note (UTF8); }",
        |g| {
            let mut c = g.next_column().unwrap().unwrap();
            c.typed::<Int64Type>().write_batch(&ts, None, None).unwrap();
            c.close().unwrap();
            doubles(g, &close);
            doubles(g, &close.iter().map(|c| c + 1.0).collect::<Vec<_>>());
            doubles(g, &close.iter().map(|c| c - 1.0).collect::<Vec<_>>());
            doubles(g, &close);
            let mut c = g.next_column().unwrap().unwrap();
            let notes: Vec<ByteArray> = (0..n).map(|_| ByteArray::from("ignored")).collect();
            c.typed::<ByteArrayType>()
                .write_batch(&notes, None, None)
                .unwrap();
            c.close().unwrap();
        },
    );
    let mut text = String::from("Date,Open,High,Low,Close\n");
    for (i, c) in close.iter().enumerate() {
        let day = chrono_day(i);
        text.push_str(&format!("{day} 09:30:00,{c},{},{},{c}\n", c + 1.0, c - 1.0));
    }
    std::fs::write(&csv, text).unwrap();
    let tz = ["--tz", "America/New_York", "--symbol", "SPY"];
    let (a, b) = (backtest(&csv, &tz), backtest(&pq, &tz));
    assert_eq!(a, b);
    assert_eq!(
        a["report"]["start"], "2024-03-01T14:30:00Z",
        "09:30 New York in winter"
    );
}

/// `YYYY-MM-DD` of 2024-03-01 plus `i` days.
fn chrono_day(i: usize) -> String {
    let days_in = [31, 30, 31, 30, 31]; // March..July
    let (mut m, mut d) = (3usize, 1 + i);
    for len in days_in {
        if d <= len {
            break;
        }
        d -= len;
        m += 1;
    }
    format!("2024-{m:02}-{d:02}")
}

#[test]
fn bad_parquet_fails_with_the_file_the_column_and_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let strategy = guest_path("sma_cross").unwrap().display().to_string();
    let run = |path: &Path| {
        err(&[
            "backtest",
            "--strategy",
            &strategy,
            "--config",
            "fast=2,slow=3",
            "--data",
            &path.display().to_string(),
        ])
    };
    // A boolean where a price belongs.
    let wrong_type = dir.path().join("wrong_type.parquet");
    write(
        &wrong_type,
        "message m { REQUIRED INT64 timestamp (TIMESTAMP(NANOS,true)); REQUIRED BOOLEAN open; REQUIRED DOUBLE high; REQUIRED DOUBLE low; REQUIRED DOUBLE close; }",
        |g| {
            let mut c = g.next_column().unwrap().unwrap();
            c.typed::<Int64Type>()
                .write_batch(&[0, 86_400_000_000_000], None, None)
                .unwrap();
            c.close().unwrap();
            let mut c = g.next_column().unwrap().unwrap();
            c.typed::<BoolType>()
                .write_batch(&[true, false], None, None)
                .unwrap();
            c.close().unwrap();
            for _ in 0..3 {
                doubles(g, &[1.0, 2.0]);
            }
        },
    );
    let e = run(&wrong_type);
    assert!(
        e.contains("wrong_type.parquet") && e.contains("column `open` holds a boolean"),
        "{e}"
    );
    // No close column.
    let missing = dir.path().join("missing.parquet");
    write(
        &missing,
        "message m { REQUIRED INT64 timestamp (TIMESTAMP(NANOS,true)); REQUIRED DOUBLE open; REQUIRED DOUBLE high; REQUIRED DOUBLE low; }",
        |g| {
            let mut c = g.next_column().unwrap().unwrap();
            c.typed::<Int64Type>().write_batch(&[0], None, None).unwrap();
            c.close().unwrap();
            for _ in 0..3 {
                doubles(g, &[1.0]);
            }
        },
    );
    let e = run(&missing);
    assert!(
        e.contains("missing.parquet") && e.contains("missing column(s) `close`"),
        "{e}"
    );
    // A high below the low: the CSV rule, with the data row's line.
    let inconsistent = dir.path().join("inconsistent.parquet");
    write(
        &inconsistent,
        "message m { REQUIRED INT64 timestamp (TIMESTAMP(NANOS,true)); REQUIRED DOUBLE open; REQUIRED DOUBLE high; REQUIRED DOUBLE low; REQUIRED DOUBLE close; }",
        |g| {
            let mut c = g.next_column().unwrap().unwrap();
            c.typed::<Int64Type>()
                .write_batch(&[0, 86_400_000_000_000], None, None)
                .unwrap();
            c.close().unwrap();
            doubles(g, &[10.0, 10.0]);
            doubles(g, &[11.0, 9.0]);
            doubles(g, &[9.0, 9.5]);
            doubles(g, &[10.0, 9.5]);
        },
    );
    let e = run(&inconsistent);
    assert!(e.contains("inconsistent.parquet:3") && e.contains("high"), "{e}");
    // Not Parquet at all, and a truncated file.
    let garbage = dir.path().join("garbage.parquet");
    std::fs::write(&garbage, "timestamp,open\n").unwrap();
    let e = run(&garbage);
    assert!(e.contains("garbage.parquet: cannot read it as Parquet"), "{e}");
    let truncated = dir.path().join("truncated.parquet");
    let bytes = std::fs::read(&wrong_type).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let e = run(&truncated);
    assert!(e.contains("truncated.parquet: cannot read it as Parquet"), "{e}");
}
