//! Writing bars in the replay format.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use wasmtrade_model::{Bar, Instruments};

use crate::MarketError;

/// The header [`write_csv`] writes.
pub const CSV_HEADER: [&str; 7] = ["timestamp", "symbol", "open", "high", "low", "close", "volume"];

/// Writes `bars` as CSV (`timestamp,symbol,open,high,low,close,volume`, RFC
/// 3339 UTC timestamps, exact decimals) to `writer`, so that reading the
/// output back yields identical bars. `name` stands for the destination in errors.
pub fn write_csv<W: Write>(
    writer: W,
    name: &Path,
    bars: &[Bar],
    instruments: &Instruments,
) -> Result<(), MarketError> {
    let err = |source: csv::Error| MarketError::Write {
        path: PathBuf::from(name),
        source,
    };
    let mut w = csv::WriterBuilder::new().from_writer(writer);
    w.write_record(CSV_HEADER).map_err(err)?;
    let mut cells: [String; 7] = Default::default();
    for (index, bar) in bars.iter().enumerate() {
        let Some(instrument) = instruments.get(bar.instrument) else {
            return Err(MarketError::UnknownInstrument {
                index,
                instrument: bar.instrument,
            });
        };
        for c in &mut cells {
            c.clear();
        }
        use std::fmt::Write as _;
        // Writing into a String cannot fail.
        let _ = write!(cells[0], "{}", bar.ts);
        cells[1].push_str(&instrument.symbol);
        let _ = write!(cells[2], "{}", bar.open);
        let _ = write!(cells[3], "{}", bar.high);
        let _ = write!(cells[4], "{}", bar.low);
        let _ = write!(cells[5], "{}", bar.close);
        let _ = write!(cells[6], "{}", bar.volume);
        w.write_record(&cells).map_err(err)?;
    }
    w.flush().map_err(|e| err(csv::Error::from(e)))
}

/// Writes `bars` to the file at `path` (created or truncated); see [`write_csv`].
pub fn write_csv_file(path: &Path, bars: &[Bar], instruments: &Instruments) -> Result<(), MarketError> {
    let file = File::create(path).map_err(|e| MarketError::Write {
        path: path.to_path_buf(),
        source: csv::Error::from(e),
    })?;
    write_csv(std::io::BufWriter::new(file), path, bars, instruments)
}
