//! Walk-forward sweeps: optimise on each window's first part, run its best
//! on the rest; the windows' table and CSV.

use std::io::Write;

use anyhow::{Context, bail};
use wasmtrade_model::Bar;

use super::{all_failed, progress};
use crate::cli::SweepArgs;
use crate::sweep::grid::{Combo, Grid};
use crate::sweep::rank::{Metric, ranking};
use crate::sweep::{Outcome, Setup, Span, split, windows};

/// One walk-forward window: where it optimised, its best combination and
/// how that did out-of-sample.
pub(crate) struct Fold {
    pub(super) in_sample: Span,
    pub(super) out_of_sample: Span,
    pub(super) best: Option<Combo>,
    pub(super) best_in_sample: Outcome,
    pub(super) out_of_sample_outcome: Option<Outcome>,
}

pub(super) fn walk_forward(
    setup: &Setup,
    combos: &[Combo],
    bars: &[Bar],
    args: &SweepArgs,
    jobs: usize,
    k: usize,
) -> anyhow::Result<Vec<Fold>> {
    if args.train >= 1.0 {
        bail!("--walk-forward needs --train below 1 (each window's rest is its out-of-sample part)");
    }
    let spans = windows(bars, k)?;
    let mut cuts = Vec::with_capacity(spans.len());
    for w in &spans {
        let (is, oos) = split(bars, *w, args.train)
            .with_context(|| format!("walk-forward window of bars {}..{}", w.start, w.end))?;
        cuts.push((is, oos.unwrap_or(is)));
    }
    let pb = progress(args, spans.len() * (combos.len() + 1));
    let tick = || {
        if let Some(pb) = &pb {
            pb.inc(1);
        }
    };
    let mut folds = Vec::with_capacity(cuts.len());
    for (is, oos) in cuts {
        let outcomes = setup.run_all(combos, is.of(bars), jobs, &tick);
        all_failed(&setup.grid, combos, &outcomes)?;
        let order = ranking(&outcomes, args.metric);
        let best_i = order
            .first()
            .copied()
            .filter(|&i| !args.metric.of_outcome(&outcomes[i]).is_nan());
        let (best, best_in_sample, oos_outcome) = match best_i {
            Some(i) => {
                let combo = combos[i].clone();
                let o = setup.run_one(&combo, oos.of(bars));
                tick();
                (Some(combo), outcomes[i].clone(), Some(o))
            }
            None => (
                None,
                Err("no combination gave a defined metric in-sample".to_string()),
                None,
            ),
        };
        folds.push(Fold {
            in_sample: is,
            out_of_sample: oos,
            best,
            best_in_sample,
            out_of_sample_outcome: oos_outcome,
        });
    }
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    Ok(folds)
}

pub(super) fn write_folds_csv(
    out: impl Write,
    grid: &Grid,
    folds: &[Fold],
    bars: &[Bar],
    metric: Metric,
) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    let mut header: Vec<String> = ["window", "is_start", "is_end", "oos_start", "oos_end"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    header.extend(grid.params.iter().map(|p| p.name.clone()));
    header.extend([
        metric.as_str().to_string(),
        format!("oos_{}", metric.as_str()),
        "oos_total_return_pct".into(),
        "oos_max_drawdown_pct".into(),
        "oos_trades".into(),
        "error".into(),
    ]);
    w.write_record(&header)?;
    for (n, f) in folds.iter().enumerate() {
        let ts = |s: &Span, last: bool| {
            let part = s.of(bars);
            (if last { part.last() } else { part.first() }).map_or(String::new(), |b| b.ts.to_string())
        };
        let mut record = vec![
            (n + 1).to_string(),
            ts(&f.in_sample, false),
            ts(&f.in_sample, true),
            ts(&f.out_of_sample, false),
            ts(&f.out_of_sample, true),
        ];
        match &f.best {
            Some(c) => record.extend(c.iter().map(crate::sweep::grid::plain)),
            None => record.extend(grid.params.iter().map(|_| String::new())),
        }
        let num = |v: f64| {
            if v.is_finite() {
                v.to_string()
            } else {
                String::new()
            }
        };
        record.push(
            f.best_in_sample
                .as_ref()
                .map_or(String::new(), |r| num(metric.of(r))),
        );
        match &f.out_of_sample_outcome {
            Some(Ok(r)) => record.extend([
                num(metric.of(r)),
                r.total_return_pct.to_string(),
                r.max_drawdown_pct.to_string(),
                r.trades.to_string(),
                String::new(),
            ]),
            Some(Err(e)) => record.extend([
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                e.clone(),
            ]),
            None => record.extend([
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                f.best_in_sample.as_ref().err().cloned().unwrap_or_default(),
            ]),
        }
        w.write_record(&record)?;
    }
    w.flush().context("cannot write the walk-forward CSV")
}

/// The walk-forward windows' out-of-sample figures together: the mean
/// metric and the compounded return.
pub(super) fn walk_forward_totals(folds: &[Fold], metric: Metric) -> (Option<f64>, f64) {
    let oos: Vec<&wasmtrade_engine::Report> = folds
        .iter()
        .filter_map(|f| f.out_of_sample_outcome.as_ref()?.as_ref().ok())
        .collect();
    let values: Vec<f64> = oos
        .iter()
        .map(|r| metric.of(r))
        .filter(|v| v.is_finite())
        .collect();
    let mean = (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64);
    let compounded = oos
        .iter()
        .fold(1.0, |acc, r| acc * (1.0 + r.total_return_pct / 100.0));
    (mean, (compounded - 1.0) * 100.0)
}

pub(super) fn folds_table(grid: &Grid, folds: &[Fold], bars: &[Bar], metric: Metric) -> String {
    let mut header: Vec<String> = vec!["window".into(), "out-of-sample".into()];
    header.extend(grid.params.iter().map(|p| p.name.clone()));
    header.extend([
        format!("is {}", metric.as_str()),
        format!("oos {}", metric.as_str()),
        "oos return%".into(),
        "oos maxdd%".into(),
        "oos trades".into(),
    ]);
    let mut lines = vec![header];
    for (n, f) in folds.iter().enumerate() {
        let part = f.out_of_sample.of(bars);
        let mut line = vec![
            (n + 1).to_string(),
            match (part.first(), part.last()) {
                (Some(a), Some(b)) => format!("{}..{}", a.ts, b.ts),
                _ => String::new(),
            },
        ];
        match &f.best {
            Some(c) => line.extend(c.iter().map(crate::sweep::grid::plain)),
            None => line.extend(grid.params.iter().map(|_| "-".to_string())),
        }
        line.push(
            f.best_in_sample
                .as_ref()
                .map_or("failed".into(), |r| format!("{:.3}", metric.of(r))),
        );
        match &f.out_of_sample_outcome {
            Some(Ok(r)) => line.extend([
                format!("{:.3}", metric.of(r)),
                format!("{:.2}", r.total_return_pct),
                format!("{:.2}", r.max_drawdown_pct),
                r.trades.to_string(),
            ]),
            _ => line.extend(["failed".to_string(), String::new(), String::new(), String::new()]),
        }
        lines.push(line);
    }
    crate::sweep::rank::align(&lines)
}
