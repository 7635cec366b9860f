//! `wasmtrade paper-venue`: the paper broker and its market as a process of
//! their own, so a runtime (`[broker] kind = "venue"`) can crash and restart
//! against a counterparty that kept trading.

use std::io::Write;

use anyhow::{Context, bail};
use wasmtrade_venue::{PaperVenue, VenueConfig};

use crate::cli::PaperVenueArgs;

/// Runs the venue until the process is stopped.
pub fn run(args: PaperVenueArgs) -> anyhow::Result<()> {
    let mut config = VenueConfig::default();
    if let Some(listen) = &args.listen {
        config.listen = listen
            .parse()
            .with_context(|| format!("--listen {listen:?}: expected an address such as 127.0.0.1:7700"))?;
    }
    if let Some(symbols) = &args.symbols {
        config.symbols = symbols.split(',').map(|s| s.trim().to_string()).collect();
        if config.symbols.iter().any(String::is_empty) {
            bail!("--symbols {symbols:?}: empty symbol");
        }
    }
    if let Some(seed) = args.seed {
        config.seed = seed;
    }
    if let Some(speed) = args.speed {
        config.speed = speed;
    }
    if let Some(secs) = args.bar_interval_secs {
        config.bar_interval_secs = secs;
    }
    if let Some(cash) = &args.cash {
        config.starting_cash = cash
            .parse()
            .map_err(|e| anyhow::anyhow!("--cash {cash:?}: {e}"))?;
    }
    let venue = PaperVenue::start(&config).context("cannot start the paper venue")?;
    // One line on stdout with the address (tests and scripts read it).
    let mut out = std::io::stdout().lock();
    writeln!(out, "paper venue listening on {}", venue.local_addr()).context("stdout")?;
    out.flush().context("stdout")?;
    drop(out);
    loop {
        std::thread::park();
    }
}
