//! TEST FIXTURE, never deploy: a strategy that floods its log.
//!
//! Every `on_bar` writes `lines` log lines of `line_bytes` bytes through
//! `ctx.log`, and `stdout_kib` KiB each to stdout (`println!`) and stderr
//! (`eprintln!`). The host must keep what it stores bounded (lines truncated,
//! surplus lines and writes counted as dropped) and keep running the guest.
//!
//! Configuration: `{"lines": 10000, "line_bytes": 10000, "stdout_kib": 1024}`
//! (these are the defaults).

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "flooding stdout and stderr is the point of this fixture"
)]

use serde::Deserialize;
use wasmtrade_sdk::{Bar, Context, Error, Intents, Strategy, export_strategy};

/// Configuration.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `ctx.log` lines per bar.
    pub lines: u32,
    /// Bytes per `ctx.log` line.
    pub line_bytes: usize,
    /// KiB written to each of stdout and stderr per bar.
    pub stdout_kib: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            lines: 10_000,
            line_bytes: 10_000,
            stdout_kib: 1024,
        }
    }
}

/// Floods every channel it has.
#[derive(Debug)]
pub struct LogFlood {
    lines: u32,
    line: String,
    print_line: String,
    prints: usize,
}

impl Strategy for LogFlood {
    type Config = Config;
    const NAME: &'static str = "hostile-log-flood";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn new(config: Config, _ctx: &mut dyn Context) -> Result<Self, Error> {
        let print_line = "x".repeat(1023);
        Ok(Self {
            lines: config.lines,
            line: "L".repeat(config.line_bytes),
            print_line,
            prints: config.stdout_kib,
        })
    }

    fn on_bar(&mut self, ctx: &mut dyn Context, _bar: &Bar) -> Intents {
        for _ in 0..self.lines {
            ctx.info(&self.line);
        }
        for _ in 0..self.prints {
            println!("{}", self.print_line);
            eprintln!("{}", self.print_line);
        }
        Ok(Vec::new())
    }
}

export_strategy!(LogFlood);
