//! `wasmtrade sweep`: load the bars and compile the guests once, run the
//! grid in parallel, rank, and write the table, CSV, JSON, heatmap and HTML.

mod html;
mod walk_forward;

use walk_forward::{Fold, folds_table, walk_forward, walk_forward_totals, write_folds_csv};

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Map, Value, json};
use wasmtrade_host::{GuestEngine, StrategyModule};
use wasmtrade_model::Bar;

use super::backtest::{
    backtest_config, compile, compile_indicator, host_config, load_bars, load_guest_bytes, now,
};
use crate::cli::SweepArgs;
use crate::compile_cache::{CacheUse, CompileCache};
use crate::guest_config;
use crate::sweep::grid::{Combo, Constraint, Grid, sample};
use crate::sweep::heatmap::Heatmap;
use crate::sweep::rank::{Row, outcome_json, params_json, ranking, row_json, table, write_csv};
use crate::sweep::{IndicatorSpec, Outcome, Setup, Span, split};
use crate::table::two_columns;

/// Runs a sweep from the command line.
pub fn run(args: SweepArgs) -> anyhow::Result<()> {
    let started = now();
    let bt = &args.backtest;
    for (given, flag) in [
        (bt.model.is_some(), "--model"),
        (bt.id.is_some(), "--id"),
        (bt.trades_csv.is_some(), "--trades-csv"),
        (bt.equity_csv.is_some(), "--equity-csv"),
    ] {
        if given {
            bail!(
                "sweep does not take {flag}: it writes one run's output; run `wasmtrade backtest` with the best combination for it"
            );
        }
    }
    let grid = Grid::parse(&args.grid)?;
    let constraints = Constraint::parse_all(&args.constraints, &grid)?;
    let all = grid.combos(&constraints);
    if all.is_empty() {
        bail!(
            "no combination of --grid satisfies --constraint {}; widen the grid or relax the constraints",
            constraints
                .iter()
                .map(Constraint::text)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let combos = match args.random {
        Some(0) => bail!("--random must be at least 1"),
        Some(n) => sample(all, n, args.search_seed),
        None => all,
    };
    let heatmap_spec = args.heatmap.clone().or_else(|| match grid.params.as_slice() {
        [x, y, ..] => Some(format!("{},{}", x.name, y.name)),
        _ => None,
    });
    if let Some(spec) = &heatmap_spec {
        // Check the keys before hours of runs, not after.
        Heatmap::build(&grid, &[], args.metric, spec)?;
    }
    let jobs = match args.jobs {
        Some(0) => bail!("--jobs must be at least 1"),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };

    let config = backtest_config(bt)?;
    let (bars, instruments, data_source) = load_bars(bt)?;
    let instruments = std::sync::Arc::new(instruments);
    let host = GuestEngine::new(host_config(bt)?).context("cannot start the wasm engine")?;
    let cache = CompileCache::from_env(bt.no_cache);
    let cache = cache.as_ref();
    let mut cache_use = CacheUse::Off;
    let module: StrategyModule = load_guest_bytes(&bt.strategy)
        .and_then(|bytes| compile(&host, cache, &bytes, &mut cache_use))
        .with_context(|| format!("cannot load strategy {}", bt.strategy.display()))?;
    let mut indicators = Vec::new();
    for spec in &bt.indicators {
        let (name, _, module, config_json) = compile_indicator(&host, (cache, &mut cache_use), spec)?;
        indicators.push(IndicatorSpec {
            name,
            module,
            config_json,
        });
    }
    let base: Map<String, Value> =
        serde_json::from_str(&guest_config::build(&bt.config, bt.config_file.as_deref())?)
            .context("the base configuration is not a JSON object")?;
    let setup = Setup {
        module,
        indicators,
        instruments,
        config,
        base,
        grid,
        seed: bt.seed,
    };
    let loaded = started.elapsed();

    let started = now();
    let sweep = match args.walk_forward {
        Some(k) => Sweep::WalkForward(walk_forward(&setup, &combos, &bars, &args, jobs, k)?),
        None => Sweep::Split(split_sweep(&setup, &combos, &bars, &args, jobs)?),
    };
    let ran = started.elapsed();
    let runs = match &sweep {
        Sweep::Split(s) => s.rows.len() + s.rows.iter().filter(|r| r.out_of_sample.is_some()).count(),
        Sweep::WalkForward(folds) => folds.len() * (combos.len() + 1),
    };
    let timing = json!({
        "load_compile_secs": loaded.as_secs_f64(),
        "compile_cache": cache_use.as_str(),
        "run_secs": ran.as_secs_f64(),
        "runs": runs,
        "runs_per_sec": rate(runs as f64, ran),
        "jobs": jobs,
    });
    let heatmap = match (&sweep, &heatmap_spec) {
        (Sweep::Split(s), Some(spec)) => Some(Heatmap::build(&setup.grid, &s.rows, args.metric, spec)?),
        _ => None,
    };
    if let Some(path) = &args.csv {
        let file =
            std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        match &sweep {
            Sweep::Split(s) => write_csv(file, &setup.grid, &s.rows, &s.order, args.metric),
            Sweep::WalkForward(folds) => write_folds_csv(file, &setup.grid, folds, &bars, args.metric),
        }
        .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let summary = Summary {
        args: &args,
        setup: &setup,
        bars: &bars,
        combos: combos.len(),
        data: &data_source,
        timing,
        heatmap: heatmap.as_ref(),
    };
    if let Some(path) = &args.backtest.html {
        let page = html::page(&summary, &sweep)?;
        std::fs::write(path, page).with_context(|| format!("cannot write {}", path.display()))?;
    }
    print(&summary, &sweep)
}

/// The result of a sweep, by mode.
pub(crate) enum Sweep {
    /// One in-sample ranking, its best rows run out-of-sample.
    Split(SplitSweep),
    /// One in-sample ranking per window.
    WalkForward(Vec<Fold>),
}

/// A train/test sweep.
pub(crate) struct SplitSweep {
    pub(super) in_sample: Span,
    pub(super) out_of_sample: Option<Span>,
    pub(super) rows: Vec<Row>,
    pub(super) order: Vec<usize>,
}

/// What every output of a sweep shows besides its results.
pub(crate) struct Summary<'a> {
    pub(super) args: &'a SweepArgs,
    pub(super) setup: &'a Setup,
    pub(super) bars: &'a [Bar],
    pub(super) combos: usize,
    pub(super) data: &'a str,
    pub(super) timing: Value,
    pub(super) heatmap: Option<&'a Heatmap>,
}

fn rate(n: f64, d: Duration) -> f64 {
    let s = d.as_secs_f64();
    if s > 0.0 { n / s } else { 0.0 }
}

pub(super) fn progress(args: &SweepArgs, total: usize) -> Option<ProgressBar> {
    use std::io::IsTerminal;
    if args.backtest.no_progress || args.backtest.json || !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = ProgressBar::new(total as u64);
    if let Ok(style) = ProgressStyle::with_template("{spinner} {bar:40} {pos}/{len} runs {per_sec} eta {eta}")
    {
        pb.set_style(style);
    }
    Some(pb)
}

fn split_sweep(
    setup: &Setup,
    combos: &[Combo],
    bars: &[Bar],
    args: &SweepArgs,
    jobs: usize,
) -> anyhow::Result<SplitSweep> {
    let (in_sample, out_of_sample) = split(
        bars,
        Span {
            start: 0,
            end: bars.len(),
        },
        args.train,
    )?;
    let top = args.top.min(combos.len());
    let pb = progress(args, combos.len() + out_of_sample.map_or(0, |_| top));
    let tick = || {
        if let Some(pb) = &pb {
            pb.inc(1);
        }
    };
    let outcomes = setup.run_all(combos, in_sample.of(bars), jobs, &tick);
    all_failed(&setup.grid, combos, &outcomes)?;
    let order = ranking(&outcomes, args.metric);
    let mut rows: Vec<Row> = combos
        .iter()
        .zip(outcomes)
        .map(|(combo, in_sample)| Row {
            combo: combo.clone(),
            in_sample,
            out_of_sample: None,
        })
        .collect();
    if let Some(oos) = out_of_sample {
        let best: Vec<usize> = order
            .iter()
            .copied()
            .take(top)
            .filter(|&i| rows[i].in_sample.is_ok())
            .collect();
        let best_combos: Vec<Combo> = best.iter().map(|&i| rows[i].combo.clone()).collect();
        let outcomes = setup.run_all(&best_combos, oos.of(bars), jobs, &tick);
        for (i, outcome) in best.into_iter().zip(outcomes) {
            rows[i].out_of_sample = Some(outcome);
        }
    }
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    Ok(SplitSweep {
        in_sample,
        out_of_sample,
        rows,
        order,
    })
}

/// A sweep where no run worked says why instead of ranking failures.
pub(super) fn all_failed(grid: &Grid, combos: &[Combo], outcomes: &[Outcome]) -> anyhow::Result<()> {
    if outcomes.iter().any(Result::is_ok) {
        return Ok(());
    }
    let first = outcomes
        .first()
        .and_then(|o| o.as_ref().err())
        .cloned()
        .unwrap_or_default();
    let params = combos
        .first()
        .map(|c| params_json(grid, c))
        .unwrap_or(Value::Null);
    bail!(
        "every one of the {} combinations failed; the first ({params}): {first}",
        combos.len()
    )
}

impl Sweep {
    /// The sweep as one JSON document.
    fn json(&self, s: &Summary<'_>) -> Value {
        let metric = s.args.metric;
        let mut v = json!({
            "strategy": s.args.backtest.strategy.display().to_string(),
            "sha256": s.setup.module.sha256(),
            "data": s.data,
            "bars": s.bars.len(),
            "metric": metric.as_str(),
            "params": s.setup.grid.params.iter().map(|p| p.name.clone()).collect::<Vec<_>>(),
            "grid_size": s.setup.grid.size(),
            "combinations": s.combos,
            "constraints": s.args.constraints,
            "random": s.args.random,
            "search_seed": s.args.search_seed,
            "train": s.args.train,
            "timings": s.timing,
        });
        match self {
            Sweep::Split(sw) => {
                v["in_sample"] = sw.in_sample.json(s.bars);
                v["out_of_sample"] = sw.out_of_sample.map_or(Value::Null, |o| o.json(s.bars));
                v["rows"] = sw
                    .order
                    .iter()
                    .enumerate()
                    .map(|(rank, &i)| row_json(&s.setup.grid, rank + 1, &sw.rows[i], metric))
                    .collect();
                v["best"] = sw
                    .order
                    .first()
                    .map_or(Value::Null, |&i| row_json(&s.setup.grid, 1, &sw.rows[i], metric));
                if let Some(h) = s.heatmap {
                    v["heatmap"] = json!({
                        "x": h.x_name, "y": h.y_name, "xs": h.xs, "ys": h.ys, "cells": h.cells,
                    });
                }
            }
            Sweep::WalkForward(folds) => {
                let (mean, compounded) = walk_forward_totals(folds, metric);
                v["walk_forward"] = json!({
                    "windows": folds.len(),
                    "out_of_sample_mean_metric": mean,
                    "out_of_sample_compounded_return_pct": compounded,
                });
                v["folds"] = folds
                    .iter()
                    .enumerate()
                    .map(|(n, f)| {
                        json!({
                            "window": n + 1,
                            "in_sample": f.in_sample.json(s.bars),
                            "out_of_sample": f.out_of_sample.json(s.bars),
                            "best": f.best.as_ref().map(|c| params_json(&s.setup.grid, c)),
                            "best_in_sample": outcome_json(&f.best_in_sample),
                            "out_of_sample_result": f.out_of_sample_outcome.as_ref().map(outcome_json),
                        })
                    })
                    .collect();
            }
        }
        v
    }
}

fn print(s: &Summary<'_>, sweep: &Sweep) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if s.args.backtest.json {
        writeln!(out, "{}", sweep.json(s)).context("cannot write to stdout")?;
        return Ok(());
    }
    let metric = s.args.metric;
    let constraints = if s.args.constraints.is_empty() {
        String::new()
    } else {
        format!(", constraints {}", s.args.constraints.join(", "))
    };
    let mut rows = vec![
        (
            "Strategy",
            format!(
                "{} (sha256 {})",
                s.args.backtest.strategy.display(),
                &s.setup.module.sha256()[..16]
            ),
        ),
        ("Data", format!("{} ({} bars)", s.data, s.bars.len())),
        (
            "Search",
            format!(
                "{} of {} grid combinations{}{}, ranked by {}",
                s.combos,
                s.setup.grid.size(),
                constraints,
                s.args.random.map_or(String::new(), |n| format!(
                    ", random {n} (seed {})",
                    s.args.search_seed
                )),
                metric.as_str()
            ),
        ),
    ];
    match sweep {
        Sweep::Split(sw) => {
            rows.push(("In-sample", span_text(sw.in_sample, s.bars)));
            rows.push((
                "Out-of-sample",
                sw.out_of_sample.map_or("none (--train 1)".to_string(), |o| {
                    format!("{} (the top {} rows)", span_text(o, s.bars), s.args.top)
                }),
            ));
        }
        Sweep::WalkForward(folds) => {
            let (mean, compounded) = walk_forward_totals(folds, metric);
            rows.push((
                "Walk-forward",
                format!("{} windows, in-sample fraction {}", folds.len(), s.args.train),
            ));
            rows.push((
                "Out-of-sample",
                format!(
                    "mean {} {}, compounded return {:.2} %",
                    metric.as_str(),
                    mean.map_or("n/a".to_string(), |m| format!("{m:.3}")),
                    compounded
                ),
            ));
        }
    }
    rows.push((
        "Time [s]",
        format!(
            "load+compile {:.3} (cache {}), runs {:.3} ({} runs on {} threads, {:.1} runs/s)",
            s.timing["load_compile_secs"].as_f64().unwrap_or(0.0),
            s.timing["compile_cache"].as_str().unwrap_or(""),
            s.timing["run_secs"].as_f64().unwrap_or(0.0),
            s.timing["runs"],
            s.timing["jobs"],
            s.timing["runs_per_sec"].as_f64().unwrap_or(0.0),
        ),
    ));
    write!(out, "{}", two_columns(&rows)).context("cannot write to stdout")?;
    writeln!(out).context("cannot write to stdout")?;
    match sweep {
        Sweep::Split(sw) => {
            write!(
                out,
                "{}",
                table(&s.setup.grid, &sw.rows, &sw.order, metric, s.args.top)
            )
            .context("cannot write to stdout")?;
            if let Some(h) = s.heatmap {
                writeln!(out, "\n{}", h.text().trim_end()).context("cannot write to stdout")?;
            }
        }
        Sweep::WalkForward(folds) => {
            write!(out, "{}", folds_table(&s.setup.grid, folds, s.bars, metric))
                .context("cannot write to stdout")?;
        }
    }
    for (path, what) in [(&s.args.csv, "Results"), (&s.args.backtest.html, "Report")] {
        if let Some(p) = path {
            writeln!(out, "{what} written to {}", p.display()).context("cannot write to stdout")?;
        }
    }
    Ok(())
}

pub(super) fn span_text(span: Span, bars: &[Bar]) -> String {
    let part = span.of(bars);
    match (part.first(), part.last()) {
        (Some(a), Some(b)) => format!("{} bars, {} .. {}", part.len(), a.ts, b.ts),
        _ => "no bars".to_string(),
    }
}
