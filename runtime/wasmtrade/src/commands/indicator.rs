//! `wasmtrade indicator run`: an indicator guest over bars, its values per
//! bar, so an author can check them (and plot them) without a strategy.
//!
//! The guest sees the bars exactly as in `wasmtrade backtest --indicator`:
//! one instance, every bar in time order, the same data options and the
//! same compiled-guest cache.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use wasmtrade_engine::GuestLogSummary;
use wasmtrade_host::{GuestEngine, GuestWorld, HostConfig, HostError, IndicatorModule};
use wasmtrade_model::{Bar, GuestContext, IndicatorGuest, Instruments};

use crate::cli::IndicatorRunArgs;
use crate::commands::backtest::{compile, load_bars_from, load_guest_bytes};
use crate::compile_cache::{CacheUse, CompileCache};
use crate::guest_config;
use crate::table::two_columns;

/// Rows the table shows from each end of the series.
const SHOWN: usize = 5;

/// One bar and what the indicator said about it.
struct Row {
    bar: Bar,
    /// `None` while the indicator warms up.
    values: Option<Vec<f64>>,
}

/// Everything a run produced.
struct Series {
    outputs: Vec<String>,
    rows: Vec<Row>,
    logs: GuestLogSummary,
    instruments: Arc<Instruments>,
}

impl Series {
    fn symbol(&self, bar: &Bar) -> &str {
        self.instruments
            .get(bar.instrument)
            .map_or("?", |i| i.symbol.as_str())
    }

    /// The row as text cells: timestamp, symbol, close, one per output
    /// (empty while warming up; shortest text that reads back exactly).
    fn cells(&self, row: &Row) -> Vec<String> {
        let mut cells = vec![
            row.bar.ts.to_string(),
            self.symbol(&row.bar).to_string(),
            row.bar.close.to_string(),
        ];
        match &row.values {
            Some(v) => cells.extend(v.iter().map(f64::to_string)),
            None => cells.extend(self.outputs.iter().map(|_| String::new())),
        }
        cells
    }

    fn header(&self) -> Vec<String> {
        let mut h = vec!["timestamp".to_string(), "symbol".into(), "close".into()];
        h.extend(self.outputs.iter().cloned());
        h
    }

    fn with_values(&self) -> usize {
        self.rows.iter().filter(|r| r.values.is_some()).count()
    }
}

/// Runs an indicator guest over the bars and reports its values.
pub fn run(args: IndicatorRunArgs) -> anyhow::Result<()> {
    let (bars, instruments, data) = load_bars_from(&args.data, &args.symbol, &args.tz)?;
    let instruments = Arc::new(instruments);
    let host = GuestEngine::new(HostConfig::default()).context("cannot start the wasm engine")?;
    let json = guest_config::build(&args.config, None)?;
    let cache = CompileCache::from_env(args.no_cache);
    let mut used = CacheUse::Off;
    let path = &args.guest;
    let module: IndicatorModule = load_guest_bytes(path)
        .and_then(|bytes| compile(&host, cache.as_ref(), &bytes, &mut used))
        .map_err(|e| explain_load_error(e, path))?;
    let mut guest = module
        .instantiate(GuestContext::new(instruments.clone(), args.seed), &json)
        .map_err(|e| explain_start_error(e, path, &args.config))?;
    let series = feed(&mut guest, &bars, instruments, path)?;

    let module_text = format!(
        "{} (sha256 {})",
        path.display(),
        &module.sha256()[..module.sha256().len().min(16)]
    );
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if let Some(csv) = &args.csv {
        if csv.as_os_str() == "-" {
            write_csv(&series, &mut out).context("cannot write to stdout")?;
            return Ok(());
        }
        let file = std::fs::File::create(csv).with_context(|| format!("cannot create {}", csv.display()))?;
        let mut w = std::io::BufWriter::new(file);
        write_csv(&series, &mut w)
            .and_then(|()| w.flush().map_err(csv::Error::from))
            .with_context(|| format!("cannot write {}", csv.display()))?;
    }
    if args.json {
        let v = json_report(&series, guest.info(), &module_text, &data);
        writeln!(out, "{v}").context("cannot write to stdout")?;
        return Ok(());
    }
    let mut rows = vec![
        ("Indicator", format!("{} from {module_text}", guest.info())),
        ("Data", data),
        ("Outputs", series.outputs.join(", ")),
        ("Bars", series.rows.len().to_string()),
        (
            "With values",
            format!(
                "{} (warm-up {})",
                series.with_values(),
                series.rows.len() - series.with_values()
            ),
        ),
    ];
    rows.extend(series.logs.rows());
    write!(out, "{}", two_columns(&rows)).context("cannot write to stdout")?;
    match &args.csv {
        Some(csv) => writeln!(out, "Values written to {}", csv.display()),
        None => write!(out, "\n{}", preview(&series)),
    }
    .context("cannot write to stdout")
}

/// Feeds every bar to the guest, in order.
fn feed(
    guest: &mut dyn IndicatorGuest,
    bars: &[Bar],
    instruments: Arc<Instruments>,
    path: &Path,
) -> anyhow::Result<Series> {
    let outputs = guest.outputs().to_vec();
    let mut logs = GuestLogSummary::default();
    let source = guest.info().name.clone();
    let mut rows = Vec::with_capacity(bars.len());
    for bar in bars {
        guest.context().now = bar.ts;
        let values = guest
            .update(bar)
            .with_context(|| format!("indicator {} faulted on the bar at {}", path.display(), bar.ts))?;
        for line in std::mem::take(&mut guest.context().logs) {
            logs.record(&source, &line);
        }
        if let Some(v) = &values
            && v.len() != outputs.len()
        {
            bail!(
                "indicator {} returned {} values on the bar at {} but declares {} outputs ({})",
                path.display(),
                v.len(),
                bar.ts,
                outputs.len(),
                outputs.join(", ")
            );
        }
        rows.push(Row { bar: *bar, values });
    }
    logs.dropped = guest.context().dropped_logs;
    Ok(Series {
        outputs,
        rows,
        logs,
        instruments,
    })
}

/// A load error with what to do when the component is another kind of guest.
fn explain_load_error(e: anyhow::Error, path: &Path) -> anyhow::Error {
    let other = e.chain().find_map(|c| match c.downcast_ref::<HostError>() {
        Some(HostError::WorldMismatch {
            looks_like: Some(w), ..
        }) => Some(*w),
        _ => None,
    });
    let p = path.display();
    match other {
        Some(w) if w == GuestWorld::Strategy.name() => e.context(format!(
            "{p} is a strategy (world {w}), not an indicator: backtest it with \
             `wasmtrade backtest --strategy {p}`, or pass an indicator component to --guest"
        )),
        Some(w) if w == GuestWorld::Policy.name() => e.context(format!(
            "{p} is a policy (world {w}), not an indicator: backtest it with \
             `wasmtrade backtest --strategy {p} --model MODEL.onnx`, or pass an indicator component to --guest"
        )),
        Some(w) => e.context(format!(
            "{p} implements world {w}, not indicator: pass an indicator component to --guest"
        )),
        None => e.context(format!("cannot load indicator {p}")),
    }
}

/// A start error that names the configuration the guest refused.
fn explain_start_error(e: HostError, path: &Path, config: &str) -> anyhow::Error {
    let p = path.display();
    let msg = match &e {
        HostError::Init { .. } if config.trim().is_empty() => {
            format!("indicator {p} needs a configuration: pass --config key=value,... (e.g. period=20)")
        }
        HostError::Init { .. } => {
            format!("indicator {p} refused --config `{config}`: fix the keys or values the guest names")
        }
        _ => format!("indicator {p} failed to start"),
    };
    anyhow::Error::new(e).context(msg)
}

fn write_csv(series: &Series, out: impl Write) -> Result<(), csv::Error> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(series.header())?;
    for row in &series.rows {
        w.write_record(series.cells(row))?;
    }
    w.flush()?;
    Ok(())
}

/// The first and last [`SHOWN`] rows as an aligned table.
fn preview(series: &Series) -> String {
    let n = series.rows.len();
    let mut table = vec![series.header()];
    let mut gap_at = None;
    for (i, row) in series.rows.iter().enumerate() {
        if i < SHOWN || i + SHOWN >= n {
            table.push(series.cells(row));
        } else if gap_at.is_none() {
            gap_at = Some(table.len());
        }
    }
    let cols = table[0].len();
    let widths: Vec<usize> = (0..cols)
        .map(|c| table.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut text = String::new();
    for (i, row) in table.iter().enumerate() {
        if gap_at == Some(i) {
            text.push_str(&format!("... {} more rows ...\n", n - 2 * SHOWN));
        }
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:>w$}"))
            .collect();
        text.push_str(line.join("  ").trim_end());
        text.push('\n');
    }
    text
}

fn json_report(
    series: &Series,
    info: &wasmtrade_model::GuestInfo,
    module: &str,
    data: &str,
) -> serde_json::Value {
    let rows: Vec<serde_json::Value> = series
        .rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "timestamp": r.bar.ts.to_string(),
                "symbol": series.symbol(&r.bar),
                "close": r.bar.close.to_string(),
                "values": r.values,
            })
        })
        .collect();
    serde_json::json!({
        "indicator": {
            "name": info.name,
            "version": info.version,
            "sdk_version": info.sdk_version,
            "contract_version": info.contract_version,
        },
        "module": module,
        "data": data,
        "outputs": series.outputs,
        "bars": series.rows.len(),
        "with_values": series.with_values(),
        "guest_logs": series.logs,
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use wasmtrade_model::{InstrumentId, Price, Quantity, Timestamp};

    use super::*;

    fn series(n: usize) -> Series {
        let mut instruments = Instruments::new();
        instruments.intern("ABC");
        let rows = (0..n)
            .map(|i| Row {
                bar: Bar {
                    instrument: InstrumentId(0),
                    ts: Timestamp::from_secs(i as i64 * 86_400),
                    open: Price::from_int(10),
                    high: Price::from_int(11),
                    low: Price::from_int(9),
                    close: Price::from_int(10 + i as i64),
                    volume: Quantity::from_int(1),
                },
                values: (i >= 2).then(|| vec![i as f64 + 0.5]),
            })
            .collect();
        Series {
            outputs: vec!["sma".into()],
            rows,
            logs: GuestLogSummary::default(),
            instruments: Arc::new(instruments),
        }
    }

    #[test]
    fn csv_has_every_row_and_empty_cells_while_warming_up() {
        let mut out = Vec::new();
        write_csv(&series(4), &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "timestamp,symbol,close,sma\n\
             1970-01-01T00:00:00Z,ABC,10,\n\
             1970-01-02T00:00:00Z,ABC,11,\n\
             1970-01-03T00:00:00Z,ABC,12,2.5\n\
             1970-01-04T00:00:00Z,ABC,13,3.5\n"
        );
    }

    #[test]
    fn the_preview_shows_both_ends_and_counts_the_rest() {
        let text = preview(&series(20));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1 + 2 * SHOWN + 1, "{text}");
        assert!(lines[0].ends_with("sma"), "{text}");
        assert_eq!(lines[1 + SHOWN], "... 10 more rows ...");
        assert!(lines.last().unwrap().ends_with("19.5"), "{text}");
        // Short series: every row, no gap.
        assert_eq!(preview(&series(3)).lines().count(), 4);
    }
}
