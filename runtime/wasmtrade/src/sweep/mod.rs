//! Parameter sweeps: one compiled strategy run over many configurations in
//! parallel, ranked by a metric, with an in-sample/out-of-sample split or
//! walk-forward windows so the ranking is not only a measure of overfitting.
//!
//! Every run is an ordinary [`Backtest`] with a fresh guest instance made
//! from the one compiled module, so a row of a sweep equals `wasmtrade
//! backtest` of the same configuration on the same bars.

pub mod grid;
pub mod heatmap;
pub mod rank;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, bail};
use serde_json::{Map, Value};
use wasmtrade_engine::{Backtest, BacktestConfig, Report};
use wasmtrade_host::{IndicatorModule, StrategyModule};
use wasmtrade_model::{Bar, GuestContext, Instruments, StrategyId};

use grid::{Combo, Grid};

/// An indicator every run gets: its name, compiled module and config JSON.
#[derive(Clone)]
pub struct IndicatorSpec {
    /// Name the strategy reads it by.
    pub name: String,
    /// Compiled once.
    pub module: IndicatorModule,
    /// Its configuration.
    pub config_json: String,
}

/// What every run of a sweep shares.
pub struct Setup {
    /// The strategy, compiled once.
    pub module: StrategyModule,
    /// Indicators, compiled once.
    pub indicators: Vec<IndicatorSpec>,
    /// Instruments of the bars.
    pub instruments: Arc<Instruments>,
    /// Cash, commissions, fills, risk.
    pub config: BacktestConfig,
    /// The configuration every combination starts from (`--config`,
    /// `--config-file`); the grid's keys are set on top.
    pub base: Map<String, Value>,
    /// The swept keys.
    pub grid: Grid,
    /// Seed of the guests' random number generators (as `backtest --seed`).
    pub seed: u64,
}

/// The outcome of one run: its report, or why it failed (a guest that
/// refuses a combination in `init`, a fault), which ranks it last.
pub type Outcome = Result<Report, String>;

impl Setup {
    /// The guest configuration JSON of one combination.
    pub fn config_json(&self, combo: &Combo) -> anyhow::Result<String> {
        let mut map = self.base.clone();
        for (param, value) in self.grid.params.iter().zip(combo) {
            crate::guest_config::insert_path(&mut map, &param.name, value.clone())?;
        }
        Ok(Value::Object(map).to_string())
    }

    /// Runs one combination over `bars`, exactly as `wasmtrade backtest`
    /// would.
    pub fn run_one(&self, combo: &Combo, bars: &[Bar]) -> Outcome {
        self.try_run_one(combo, bars).map_err(|e| format!("{e:#}"))
    }

    fn try_run_one(&self, combo: &Combo, bars: &[Bar]) -> anyhow::Result<Report> {
        let json = self.config_json(combo)?;
        let ctx = GuestContext::new(self.instruments.clone(), self.seed);
        let guest = self
            .module
            .instantiate(ctx, &json)
            .context("the strategy refused to start")?;
        let id = StrategyId::new(wasmtrade_model::StrategyGuest::info(&guest).name.clone());
        let mut backtest = Backtest::new(self.instruments.clone(), self.config.clone())?;
        for (n, spec) in self.indicators.iter().enumerate() {
            let ctx = GuestContext::new(self.instruments.clone(), self.seed.wrapping_add(n as u64 + 1));
            let guest = spec
                .module
                .instantiate(ctx, &spec.config_json)
                .with_context(|| format!("indicator {} failed to start", spec.name))?;
            backtest.add_indicator(spec.name.clone(), Box::new(guest))?;
        }
        backtest.add_strategy(id, Box::new(guest))?;
        let result = backtest.run(bars.iter(), &mut |_| {})?;
        Ok(result.report)
    }

    /// Runs every combination over `bars` on `jobs` threads; outcomes come
    /// back in `combos` order whatever the scheduling. `done` is called
    /// after each run (for a progress bar).
    pub fn run_all(
        &self,
        combos: &[Combo],
        bars: &[Bar],
        jobs: usize,
        done: &(dyn Fn() + Sync),
    ) -> Vec<Outcome> {
        let next = AtomicUsize::new(0);
        let jobs = jobs.clamp(1, combos.len().max(1));
        let mut outcomes: Vec<Option<Outcome>> = vec![None; combos.len()];
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..jobs)
                .map(|_| {
                    scope.spawn(|| {
                        let mut mine = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(combo) = combos.get(i) else { break };
                            mine.push((i, self.run_one(combo, bars)));
                            done();
                        }
                        mine
                    })
                })
                .collect();
            for worker in workers {
                match worker.join() {
                    Ok(mine) => {
                        for (i, outcome) in mine {
                            outcomes[i] = Some(outcome);
                        }
                    }
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
        });
        outcomes
            .into_iter()
            .map(|o| o.unwrap_or_else(|| Err("the run did not finish".to_string())))
            .collect()
    }
}

/// A contiguous part of the bars: in-sample or out-of-sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// First bar (index into the whole series).
    pub start: usize,
    /// One past the last bar.
    pub end: usize,
}

impl Span {
    /// The bars of the span.
    pub fn of<'a>(&self, bars: &'a [Bar]) -> &'a [Bar] {
        &bars[self.start..self.end]
    }

    /// Its bars, its first and last timestamps, for reports.
    pub fn json(&self, bars: &[Bar]) -> Value {
        let part = self.of(bars);
        serde_json::json!({
            "bars": part.len(),
            "start": part.first().map(|b| b.ts.to_string()),
            "end": part.last().map(|b| b.ts.to_string()),
        })
    }
}

/// Fewest bars a span may hold: a smaller window says nothing.
pub const MIN_SPAN_BARS: usize = 10;

/// Splits `span` at `train` (a fraction in (0, 1]) into in-sample and
/// out-of-sample spans, moving the cut forward past bars of equal time so
/// no timestamp is on both sides. `train == 1` gives no out-of-sample span.
pub fn split(bars: &[Bar], span: Span, train: f64) -> anyhow::Result<(Span, Option<Span>)> {
    if !(train > 0.0 && train <= 1.0) {
        bail!("--train must be in (0, 1], got {train}");
    }
    let len = span.end - span.start;
    if train >= 1.0 {
        if len < MIN_SPAN_BARS {
            bail!("{len} bars are too few to sweep (at least {MIN_SPAN_BARS})");
        }
        return Ok((span, None));
    }
    let mut cut = span.start + (len as f64 * train).floor() as usize;
    while cut > span.start && cut < span.end && bars[cut].ts == bars[cut - 1].ts {
        cut += 1;
    }
    let (is, oos) = (
        Span {
            start: span.start,
            end: cut,
        },
        Span {
            start: cut,
            end: span.end,
        },
    );
    for (what, s) in [("in-sample", is), ("out-of-sample", oos)] {
        if s.end - s.start < MIN_SPAN_BARS {
            bail!(
                "--train {train} leaves {} {what} bars of {len} (at least {MIN_SPAN_BARS}); use more data or another --train",
                s.end - s.start
            );
        }
    }
    Ok((is, Some(oos)))
}

/// `folds` consecutive windows of (nearly) equal length covering the bars,
/// each cut on a timestamp boundary.
pub fn windows(bars: &[Bar], folds: usize) -> anyhow::Result<Vec<Span>> {
    if folds < 2 {
        bail!("--walk-forward needs at least 2 windows, got {folds}");
    }
    let mut out = Vec::with_capacity(folds);
    let mut start = 0;
    for k in 1..=folds {
        let mut end = bars.len() * k / folds;
        while end > start && end < bars.len() && bars[end].ts == bars[end - 1].ts {
            end += 1;
        }
        if end - start < MIN_SPAN_BARS * 2 {
            bail!(
                "--walk-forward {folds} makes windows of {} bars (at least {}); use fewer windows or more data",
                end - start,
                MIN_SPAN_BARS * 2
            );
        }
        out.push(Span { start, end });
        start = end;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtrade_model::{InstrumentId, Price, Quantity, Timestamp};

    fn bars(ts: &[i64]) -> Vec<Bar> {
        ts.iter()
            .map(|&t| Bar {
                instrument: InstrumentId(0),
                ts: Timestamp::from_secs(t),
                open: Price::from_int(1),
                high: Price::from_int(1),
                low: Price::from_int(1),
                close: Price::from_int(1),
                volume: Quantity::from_int(1),
            })
            .collect()
    }

    #[test]
    fn split_cuts_at_the_fraction_and_never_inside_a_timestamp() {
        let b = bars(&(0..100).collect::<Vec<_>>());
        let whole = Span { start: 0, end: 100 };
        let (is, oos) = split(&b, whole, 0.7).unwrap();
        assert_eq!((is.start, is.end), (0, 70));
        assert_eq!(oos, Some(Span { start: 70, end: 100 }));
        let mut same: Vec<i64> = (0..100).collect();
        same[70] = 69; // two bars at t=69 (two symbols)
        let b = bars(&same);
        let (is, oos) = split(&b, whole, 0.7).unwrap();
        assert_eq!(is.end, 71);
        assert_eq!(oos.unwrap().start, 71);
        assert_eq!(split(&b, whole, 1.0).unwrap(), (whole, None));
    }

    #[test]
    fn split_refuses_fractions_and_tiny_sides() {
        let b = bars(&(0..100).collect::<Vec<_>>());
        let whole = Span { start: 0, end: 100 };
        for bad in [0.0, -0.5, 1.5, f64::NAN] {
            assert!(split(&b, whole, bad).is_err(), "{bad}");
        }
        let e = split(&b, whole, 0.95).unwrap_err().to_string();
        assert!(e.contains("5 out-of-sample bars"), "{e}");
    }

    #[test]
    fn windows_cover_every_bar_once() {
        let b = bars(&(0..103).collect::<Vec<_>>());
        let w = windows(&b, 4).unwrap();
        assert_eq!(w.len(), 4);
        assert_eq!(w[0].start, 0);
        assert_eq!(w[3].end, 103);
        assert!(w.windows(2).all(|p| p[0].end == p[1].start));
        assert!(windows(&b, 1).is_err());
        assert!(windows(&b, 10).unwrap_err().to_string().contains("fewer windows"));
    }
}
