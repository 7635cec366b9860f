//! The page's charts as SVG documents drawn by plotters: the equity curve,
//! the drawdown and the traded instrument's close with the trades marked.
//!
//! The x axis is days since the first bar, labelled with dates. Long
//! curves are downsampled to at most [`MAX_POINTS`] points per series,
//! keeping each bucket's lowest and highest point so spikes survive, and at
//! most [`MAX_MARKED`] trades are marked: a million-bar run still gives a
//! page of a few hundred kilobytes.

use std::ops::Range;

use plotters::coord::types::RangedCoordf64;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use wasmtrade_engine::BacktestResult;
use wasmtrade_model::{Bar, Timestamp};
use wasmtrade_oms::{ClosedTrade, Direction};

/// Points of one drawn series at most.
pub(super) const MAX_POINTS: usize = 2000;
/// Trades marked on the price chart at most (evenly spread over the run).
pub(super) const MAX_MARKED: usize = 500;

const WIDTH: u32 = 1100;
const NANOS_PER_DAY: f64 = 86_400e9;
const LINE: RGBColor = RGBColor(31, 119, 180);
const PRICE: RGBColor = RGBColor(90, 90, 90);
const LONG: RGBColor = RGBColor(26, 127, 55);
const SHORT: RGBColor = RGBColor(198, 40, 40);
const GRID: RGBColor = RGBColor(232, 232, 232);
/// A triangle marker's size: positive points up (long entries), negative
/// down (short entries).
const TRIANGLE: i32 = 6;

type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The charts' x axis: days since the run's first time, labelled as dates
/// (with the time of day when the run spans less than three days).
#[derive(Clone, Copy, Debug)]
pub(super) struct TimeAxis {
    t0: i64,
    days: f64,
}

impl TimeAxis {
    /// The span of the bars and the equity curve.
    pub(super) fn of(bars: &[Bar], result: &BacktestResult) -> Self {
        let times = [
            bars.first().map(|b| b.ts),
            bars.last().map(|b| b.ts),
            result.equity_curve.first().map(|p| p.ts),
            result.equity_curve.last().map(|p| p.ts),
        ];
        let first = times.iter().flatten().min().copied().unwrap_or(Timestamp::EPOCH);
        let last = times.iter().flatten().max().copied().unwrap_or(Timestamp::EPOCH);
        Self {
            t0: first.nanos(),
            days: last.nanos().saturating_sub(first.nanos()) as f64 / NANOS_PER_DAY,
        }
    }

    fn x(&self, ts: Timestamp) -> f64 {
        ts.nanos().saturating_sub(self.t0) as f64 / NANOS_PER_DAY
    }

    fn range(&self) -> Range<f64> {
        let pad = (self.days * 0.01).max(1e-6);
        -pad..self.days + pad
    }

    fn label(&self, x: f64) -> String {
        let nanos = self.t0.saturating_add((x * NANOS_PER_DAY).round() as i64);
        let format = if self.days >= 3.0 {
            "%Y-%m-%d"
        } else {
            "%m-%d %H:%M"
        };
        chrono::DateTime::from_timestamp_nanos(nanos)
            .format(format)
            .to_string()
    }
}

/// The trades marked on the price chart: one in `every` of `total`.
pub(super) struct Marked<'a> {
    pub(super) trades: Vec<&'a ClosedTrade>,
    pub(super) every: usize,
    pub(super) total: usize,
}

impl<'a> Marked<'a> {
    /// At most [`MAX_MARKED`] of `trades`, evenly spread.
    pub(super) fn of(trades: &[&'a ClosedTrade]) -> Self {
        let every = trades.len().div_ceil(MAX_MARKED).max(1);
        Self {
            trades: trades.iter().step_by(every).copied().collect(),
            every,
            total: trades.len(),
        }
    }
}

/// At most `max` of `points` (in x order) for drawing: the first and the
/// last, and between them the lowest and highest point of each of
/// `(max - 2) / 2` equal buckets, in x order. Shorter series come back whole.
pub(super) fn downsample(points: &[(f64, f64)], max: usize) -> Vec<(f64, f64)> {
    let n = points.len();
    if n <= max || max < 4 {
        return points.to_vec();
    }
    let inner = &points[1..n - 1];
    let size = inner.len().div_ceil((max - 2) / 2);
    let mut out = Vec::with_capacity(max);
    out.push(points[0]);
    for bucket in inner.chunks(size) {
        let (mut lo, mut hi) = (0, 0);
        for (i, p) in bucket.iter().enumerate() {
            if p.1 < bucket[lo].1 {
                lo = i;
            }
            if p.1 > bucket[hi].1 {
                hi = i;
            }
        }
        out.push(bucket[lo.min(hi)]);
        if lo != hi {
            out.push(bucket[lo.max(hi)]);
        }
    }
    out.push(points[n - 1]);
    out
}

/// The equity curve, with the starting cash as a dashed line.
pub(super) fn equity(axis: &TimeAxis, result: &BacktestResult) -> anyhow::Result<String> {
    let points: Vec<(f64, f64)> = result
        .equity_curve
        .iter()
        .map(|p| (axis.x(p.ts), p.equity.to_f64()))
        .collect();
    let points = downsample(&points, MAX_POINTS);
    let initial = result.initial_equity.to_f64();
    let y = y_range(points.iter().map(|p| p.1).chain([initial]));
    let x = axis.range();
    frame(axis, 360, "equity", y, &|v| format!("{v:.0}"), true, |chart| {
        chart
            .draw_series(std::iter::once(DashedPathElement::new(
                [(x.start, initial), (x.end, initial)],
                6,
                4,
                PRICE.mix(0.6).stroke_width(1),
            )))
            .map_err(plot_error)?
            .label("starting cash")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], PRICE.mix(0.6)));
        chart
            .draw_series(std::iter::once(PathElement::new(points, LINE.stroke_width(2))))
            .map_err(plot_error)?
            .label("equity")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], LINE.stroke_width(2)));
        Ok(())
    })
}

/// The fall from the running peak (starting cash included) in percent, as
/// `--equity-csv`'s drawdown column and the report's max drawdown.
pub(super) fn drawdown(axis: &TimeAxis, result: &BacktestResult) -> anyhow::Result<String> {
    let mut peak = result.initial_equity;
    let points: Vec<(f64, f64)> = result
        .equity_curve
        .iter()
        .map(|p| {
            peak = peak.max(p.equity);
            let dd = if peak.is_positive() {
                (p.equity.to_f64() / peak.to_f64() - 1.0) * 100.0
            } else {
                0.0
            };
            (axis.x(p.ts), dd)
        })
        .collect();
    let points = downsample(&points, MAX_POINTS);
    let y = y_range(points.iter().map(|p| p.1).chain([0.0]));
    frame(
        axis,
        240,
        "drawdown from the running peak [%]",
        y,
        &|v| format!("{v:.1}"),
        false,
        |chart| {
            let (first, last) = (
                points.first().map_or(0.0, |p| p.0),
                points.last().map_or(0.0, |p| p.0),
            );
            let area: Vec<(f64, f64)> = points
                .iter()
                .copied()
                .chain([(last, 0.0), (first, 0.0)])
                .collect();
            chart
                .draw_series(std::iter::once(Polygon::new(area, SHORT.mix(0.25).filled())))
                .map_err(plot_error)?;
            chart
                .draw_series(std::iter::once(PathElement::new(points, SHORT.stroke_width(1))))
                .map_err(plot_error)?;
            Ok(())
        },
    )
}

/// The close of `bars` (one instrument's) with `marked`'s entries and exits
/// at their fill prices.
pub(super) fn price(
    axis: &TimeAxis,
    symbol: &str,
    bars: &[&Bar],
    marked: &Marked<'_>,
) -> anyhow::Result<String> {
    let points: Vec<(f64, f64)> = bars.iter().map(|b| (axis.x(b.ts), b.close.to_f64())).collect();
    let points = downsample(&points, MAX_POINTS);
    let fills = marked
        .trades
        .iter()
        .flat_map(|t| [t.entry_price.to_f64(), t.exit_price.to_f64()]);
    let y = y_range(points.iter().map(|p| p.1).chain(fills));
    let caption = format!("{symbol} close and trades");
    let (longs, shorts): (Vec<&ClosedTrade>, Vec<&ClosedTrade>) =
        marked.trades.iter().partition(|t| t.direction == Direction::Long);
    let entry = |t: &ClosedTrade| (axis.x(t.entry_ts), t.entry_price.to_f64());
    let exit = |t: &ClosedTrade| (axis.x(t.exit_ts), t.exit_price.to_f64());
    frame(axis, 420, &caption, y, &|v| format!("{v:.2}"), true, |chart| {
        chart
            .draw_series(std::iter::once(PathElement::new(points, PRICE.stroke_width(1))))
            .map_err(plot_error)?
            .label("close")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], PRICE));
        if !longs.is_empty() {
            chart
                .draw_series(
                    longs
                        .iter()
                        .map(|t| TriangleMarker::new(entry(t), TRIANGLE, LONG.filled())),
                )
                .map_err(plot_error)?
                .label("long entry")
                .legend(|c| TriangleMarker::new(c, TRIANGLE, LONG.filled()));
            chart
                .draw_series(longs.iter().map(|t| Cross::new(exit(t), 5, LONG.stroke_width(2))))
                .map_err(plot_error)?
                .label("long exit")
                .legend(|c| Cross::new(c, 5, LONG.stroke_width(2)));
        }
        if !shorts.is_empty() {
            chart
                .draw_series(
                    shorts
                        .iter()
                        .map(|t| TriangleMarker::new(entry(t), -TRIANGLE, SHORT.filled())),
                )
                .map_err(plot_error)?
                .label("short entry")
                .legend(|c| TriangleMarker::new(c, -TRIANGLE, SHORT.filled()));
            chart
                .draw_series(
                    shorts
                        .iter()
                        .map(|t| Cross::new(exit(t), 5, SHORT.stroke_width(2))),
                )
                .map_err(plot_error)?
                .label("short exit")
                .legend(|c| Cross::new(c, 5, SHORT.stroke_width(2)));
        }
        Ok(())
    })
}

/// One chart over the time axis: the frame, the mesh with dates on x, and
/// what `draw` adds.
fn frame(
    axis: &TimeAxis,
    height: u32,
    caption: &str,
    y: Range<f64>,
    y_label: &dyn Fn(&f64) -> String,
    with_legend: bool,
    draw: impl FnOnce(&mut Chart<'_, '_>) -> anyhow::Result<()>,
) -> anyhow::Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(80)
            .build_cartesian_2d(axis.range(), y)
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .light_line_style(WHITE)
            .bold_line_style(GRID)
            .x_labels(8)
            .y_labels(6)
            .x_label_formatter(&|x| axis.label(*x))
            .y_label_formatter(y_label)
            .draw()
            .map_err(plot_error)?;
        draw(&mut chart)?;
        if with_legend {
            legend(&mut chart)?;
        }
        root.present().map_err(plot_error)?;
    }
    // Inline in HTML the parser puts <svg> in the SVG namespace: without the
    // attribute the page names no URL at all.
    Ok(svg.replacen(SVG_NAMESPACE, "", 1))
}

const SVG_NAMESPACE: &str = " xmlns=\"http://www.w3.org/2000/svg\"";

fn legend<'a, 'b: 'a>(chart: &mut Chart<'a, 'b>) -> anyhow::Result<()> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(GRID)
        .draw()
        .map_err(plot_error)
}

/// The values' span with a 5 % margin (a unit around a single value).
fn y_range(values: impl Iterator<Item = f64>) -> Range<f64> {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if lo > hi {
        return 0.0..1.0;
    }
    let pad = if hi > lo { (hi - lo) * 0.05 } else { 1.0 };
    lo - pad..hi + pad
}

fn plot_error<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow::anyhow!("cannot draw a chart of the HTML report: {e:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(n: usize) -> Vec<(f64, f64)> {
        (0..n).map(|i| (i as f64, (i as f64 / 50.0).sin())).collect()
    }

    #[test]
    fn downsampling_keeps_the_ends_and_the_extremes_within_the_limit() {
        let mut points = series(1_000_000);
        points[123_457] = (123_457.0, 1e6);
        points[876_543] = (876_543.0, -1e6);
        let drawn = downsample(&points, MAX_POINTS);
        assert!(drawn.len() <= MAX_POINTS, "{} points", drawn.len());
        assert!(drawn.len() > MAX_POINTS / 2, "{} points", drawn.len());
        assert_eq!(drawn.first(), points.first());
        assert_eq!(drawn.last(), points.last());
        assert!(drawn.contains(&(123_457.0, 1e6)), "the spike survives");
        assert!(drawn.contains(&(876_543.0, -1e6)), "the dip survives");
        assert!(drawn.windows(2).all(|w| w[0].0 < w[1].0), "in x order");
    }

    #[test]
    fn short_series_are_drawn_whole() {
        let points = series(MAX_POINTS);
        assert_eq!(downsample(&points, MAX_POINTS), points);
        assert_eq!(downsample(&[], MAX_POINTS), vec![]);
        let flat = vec![(0.0, 1.0); 5000];
        assert!(downsample(&flat, 100).len() <= 100);
    }

    #[test]
    fn marks_at_most_the_limit_evenly() {
        assert_eq!(Marked::of(&[]).trades.len(), 0);
        let t = ClosedTrade {
            strategy: wasmtrade_model::StrategyId::new("s"),
            instrument: wasmtrade_model::InstrumentId(0),
            direction: Direction::Long,
            quantity: wasmtrade_model::Quantity::from_int(1),
            entry_ts: Timestamp::EPOCH,
            entry_price: wasmtrade_model::Price::from_int(1),
            exit_ts: Timestamp::EPOCH,
            exit_price: wasmtrade_model::Price::from_int(1),
            gross_pnl: wasmtrade_model::Money::ZERO,
            commission: wasmtrade_model::Money::ZERO,
            net_pnl: wasmtrade_model::Money::ZERO,
        };
        let many = vec![&t; 1234];
        let m = Marked::of(&many);
        assert_eq!((m.every, m.total, m.trades.len()), (3, 1234, 412));
        let few = vec![&t; 12];
        assert_eq!(Marked::of(&few).trades.len(), 12);
    }

    #[test]
    fn the_time_axis_labels_dates() {
        let axis = TimeAxis {
            t0: Timestamp::from_secs(1_704_067_200).nanos(), // 2024-01-01
            days: 30.0,
        };
        assert_eq!(axis.label(31.0), "2024-02-01");
        let intraday = TimeAxis { days: 0.5, ..axis };
        assert_eq!(intraday.label(0.25), "01-01 06:00");
    }
}
