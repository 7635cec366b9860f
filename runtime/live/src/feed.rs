//! The paper market (of the in-process paper venue): a thread that plays bars into the event loop's queue,
//! from a seeded random walk or a replay file, at real or accelerated speed.
//!
//! Bars are sent with back-pressure (the queue is bounded): when the loop is
//! slower than the market, the market waits; no bar is ever dropped.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use wasmtrade_market::{Calendar, CsvOptions, Synth, SynthConfig, load_bars};
use wasmtrade_model::{Bar, Instruments, Price, Timestamp};

use crate::clock::{Stopwatch, unix_now};
use crate::config::{MarketConfig, SourceKind};
use crate::error::LiveError;
use crate::venue::BarSink;

/// The bars a feed will play, prepared before the event loop starts (so
/// every instrument is known to the engine).
pub(crate) enum Plan {
    /// One generator per symbol, interleaved bar by bar.
    Walk(Vec<Synth>),
    /// A file's bars in order.
    Replay(Vec<Bar>),
}

/// Counters shared with the runtime.
#[derive(Debug, Default)]
pub struct FeedStats {
    /// Bars handed to the event loop.
    pub bars: AtomicU64,
    /// True once the feed has nothing more to play.
    pub finished: AtomicBool,
}

/// Interns the market's instruments and prepares its bars. A random walk
/// starts at the current wall-clock interval, or after `resume_after` (the
/// last journaled time) when that is later: an accelerated market runs ahead
/// of the wall clock, and after a restart its bars must not go back in time.
pub(crate) fn plan(
    config: &MarketConfig,
    instruments: &mut Instruments,
    resume_after: Timestamp,
) -> Result<Plan, LiveError> {
    match config.source {
        SourceKind::RandomWalk => {
            let step = i64::try_from(config.bar_interval_secs).unwrap_or(i64::MAX);
            let step_nanos = step.saturating_mul(Timestamp::NANOS_PER_SEC);
            let start = walk_start(unix_now(), resume_after, step_nanos);
            let room = (i64::MAX - start.nanos()) / step_nanos.max(1) - 1;
            let bars = usize::try_from(room.max(1)).unwrap_or(usize::MAX);
            let start_price = Price::from_f64(config.start_price).map_err(|e| {
                LiveError::InvalidArgument(format!("market.start_price ({}): {e}", config.start_price))
            })?;
            let mut walks = Vec::new();
            for (i, symbol) in config.symbols.iter().enumerate() {
                let synth = SynthConfig {
                    symbol: symbol.clone(),
                    bars,
                    seed: config.seed.wrapping_add(i as u64),
                    start,
                    interval_secs: step,
                    start_price,
                    annual_drift: config.annual_drift,
                    annual_volatility: config.annual_volatility,
                    // Paced by the clock: this market never closes.
                    calendar: Calendar::Continuous,
                };
                let id = instruments.intern(symbol);
                walks.push(
                    Synth::new(&synth, id).map_err(|e| LiveError::InvalidArgument(format!("market: {e}")))?,
                );
            }
            Ok(Plan::Walk(walks))
        }
        SourceKind::Replay => {
            let Some(path) = &config.replay_file else {
                return Err(LiveError::InvalidArgument(
                    "market.source is `replay` but market.replay_file is not set".into(),
                ));
            };
            let options = CsvOptions::with_symbol(config.replay_symbol.clone())
                .time_zone_named(&config.replay_tz)
                .map_err(|e| LiveError::InvalidArgument(format!("market.replay_tz: {e}")))?;
            let bars = load_bars(path, &options, instruments)
                .map_err(|e| LiveError::InvalidArgument(format!("market.replay_file: {e}")))?;
            Ok(Plan::Replay(bars))
        }
    }
}

/// The first bar's time: the wall-clock interval `now` is in, or the first
/// interval after `resume_after` if that is later.
fn walk_start(now: Timestamp, resume_after: Timestamp, step_nanos: i64) -> Timestamp {
    let step = step_nanos.max(1);
    let now = now.nanos() - now.nanos().rem_euclid(step);
    let after = resume_after.nanos() - resume_after.nanos().rem_euclid(step);
    let after = after.saturating_add(step);
    Timestamp::from_nanos(if resume_after.nanos() > 0 {
        now.max(after)
    } else {
        now
    })
}

/// Plays `plan` into `sink` until it ends, `max_bars` are played, the
/// runtime stops or the event loop is gone.
pub(crate) fn play(plan: Plan, config: &MarketConfig, mut sink: BarSink) {
    let speed = config.speed;
    let limit = config.max_bars;
    let watch = Stopwatch::start();
    let stop = sink.stop_flag();
    let mut send = |bar: Bar| -> bool { sink.send(bar) && (limit == 0 || sink.sent() < limit) };
    match plan {
        Plan::Walk(mut walks) => {
            let step = Duration::from_secs(config.bar_interval_secs);
            let mut round: u32 = 0;
            'play: loop {
                for walk in &mut walks {
                    let Some(bar) = walk.next() else { break 'play };
                    if !send(bar) {
                        break 'play;
                    }
                }
                round = round.saturating_add(1);
                if speed > 0.0 && !wait_until(&watch, step.mul_f64(f64::from(round) / speed), &stop) {
                    break;
                }
            }
        }
        Plan::Replay(bars) => {
            let first = bars.first().map_or(0, |b| b.ts.nanos());
            for bar in bars {
                if speed > 0.0 {
                    let offset = u64::try_from(bar.ts.nanos().saturating_sub(first)).unwrap_or(0);
                    let due = Duration::from_nanos(offset).div_f64(speed);
                    if !wait_until(&watch, due, &stop) {
                        break;
                    }
                }
                if !send(bar) {
                    break;
                }
            }
        }
    }
    sink.finished();
    tracing::info!(bars = sink.sent(), "paper market finished");
}

/// Sleeps until `due` after the watch started; false if `stop` was set.
fn wait_until(watch: &Stopwatch, due: Duration, stop: &AtomicBool) -> bool {
    loop {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        let elapsed = watch.elapsed();
        if elapsed >= due {
            return true;
        }
        std::thread::sleep((due - elapsed).min(Duration::from_millis(50)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_walk_starts_at_the_wall_clock_interval_on_a_fresh_data_dir() {
        let now = Timestamp::from_nanos(1_000 * Timestamp::NANOS_PER_SEC + 500_000_000);
        assert_eq!(
            walk_start(now, Timestamp::EPOCH, Timestamp::NANOS_PER_SEC),
            Timestamp::from_secs(1_000)
        );
    }

    #[test]
    fn a_walk_resumes_after_the_last_journaled_time_when_that_is_ahead_of_the_clock() {
        let now = Timestamp::from_secs(1_000);
        let step = 60 * Timestamp::NANOS_PER_SEC;
        assert_eq!(
            walk_start(now, Timestamp::from_secs(9_030), step),
            Timestamp::from_secs(9_060)
        );
        // Behind the clock: the clock wins.
        assert_eq!(
            walk_start(now, Timestamp::from_secs(30), step),
            Timestamp::from_secs(960)
        );
    }
}
