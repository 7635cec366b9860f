//! `wasmtrade data synth`.

use std::io::Write;

use anyhow::Context;
use wasmtrade_market::{Calendar, SynthConfig, generate};
use wasmtrade_model::{Instruments, Timestamp};

use crate::cli::SynthArgs;

/// The synthetic data set used when a backtest gets no `--data`.
pub fn default_config() -> SynthConfig {
    SynthConfig::default()
}

/// Builds a [`SynthConfig`] from the command line.
fn config(args: &SynthArgs) -> anyhow::Result<SynthConfig> {
    let start_price = args
        .price
        .parse::<wasmtrade_model::Price>()
        .with_context(|| format!("--price `{}` is not a decimal price", args.price))?;
    Ok(SynthConfig {
        symbol: args.symbol.clone(),
        bars: args.bars,
        seed: args.seed,
        interval_secs: args.interval_secs,
        start_price,
        annual_drift: args.drift,
        annual_volatility: args.volatility,
        calendar: match args.calendar {
            crate::cli::Calendar::Business => Calendar::Business,
            crate::cli::Calendar::Continuous => Calendar::Continuous,
        },
        ..SynthConfig::default()
    })
}

/// Writes a synthetic data set.
pub fn synth(args: SynthArgs) -> anyhow::Result<()> {
    let cfg = config(&args)?;
    let mut instruments = Instruments::new();
    let bars = generate(&cfg, &mut instruments).context("cannot generate synthetic bars")?;
    if args.out.as_os_str() == "-" {
        let stdout = std::io::stdout();
        let mut lock = stdout.lock();
        wasmtrade_market::write_csv(&mut lock, std::path::Path::new("stdout"), &bars, &instruments)
            .context("cannot write bars to stdout")?;
        lock.flush().context("cannot write bars to stdout")?;
    } else if wasmtrade_market::is_parquet(&args.out) {
        wasmtrade_market::write_parquet(&args.out, &bars, &instruments)?;
        report_written(&args, &bars);
    } else {
        let file = std::fs::File::create(&args.out)
            .with_context(|| format!("cannot create {}", args.out.display()))?;
        let mut w = std::io::BufWriter::new(file);
        wasmtrade_market::write_csv(&mut w, &args.out, &bars, &instruments)
            .with_context(|| format!("cannot write bars to {}", args.out.display()))?;
        w.flush()
            .with_context(|| format!("cannot write bars to {}", args.out.display()))?;
        report_written(&args, &bars);
    }
    Ok(())
}

fn report_written(args: &SynthArgs, bars: &[wasmtrade_model::Bar]) {
    let first = bars.first().map_or(Timestamp::EPOCH, |b| b.ts);
    let last = bars.last().map_or(Timestamp::EPOCH, |b| b.ts);
    eprintln!(
        "wrote {} bars of {} ({first} .. {last}) to {}",
        bars.len(),
        args.symbol,
        args.out.display()
    );
}
