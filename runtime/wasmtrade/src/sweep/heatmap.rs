//! The heatmap of a sweep over two parameters: the best metric for each
//! pair of their values (over every value of the other parameters), as a
//! text table for the terminal and as an SVG chart (plotters) for the HTML
//! page.

use anyhow::{Context, bail};
use plotters::prelude::*;

use super::grid::{Grid, plain};
use super::rank::{Metric, Row, align};

/// The best metric per (x, y) pair of values.
#[derive(Clone, Debug, PartialEq)]
pub struct Heatmap {
    /// Name of the x parameter.
    pub x_name: String,
    /// Name of the y parameter.
    pub y_name: String,
    /// x values as text, in grid order.
    pub xs: Vec<String>,
    /// y values as text, in grid order.
    pub ys: Vec<String>,
    /// `cells[y][x]`: the best metric there, `None` when no run gave one
    /// (a constraint excluded the pair, or every run there failed).
    pub cells: Vec<Vec<Option<f64>>>,
    /// The metric.
    pub metric: Metric,
}

impl Heatmap {
    /// Builds the heatmap of `spec` (`x,y`, two `--grid` keys) from the
    /// in-sample results.
    pub fn build(grid: &Grid, rows: &[Row], metric: Metric, spec: &str) -> anyhow::Result<Heatmap> {
        let Some((x, y)) = spec.split_once(',') else {
            bail!("--heatmap `{spec}` is not two --grid keys as X,Y");
        };
        let index = |name: &str| {
            grid.index_of(name.trim()).with_context(|| {
                let names: Vec<&str> = grid.params.iter().map(|p| p.name.as_str()).collect();
                format!(
                    "--heatmap `{spec}`: `{}` is not a --grid key ({})",
                    name.trim(),
                    names.join(", ")
                )
            })
        };
        let (xi, yi) = (index(x)?, index(y)?);
        if xi == yi {
            bail!("--heatmap `{spec}` names the same key twice");
        }
        let (xp, yp) = (&grid.params[xi], &grid.params[yi]);
        let mut cells = vec![vec![None::<f64>; xp.values.len()]; yp.values.len()];
        for row in rows {
            let Ok(report) = &row.in_sample else { continue };
            let value = metric.of(report);
            if value.is_nan() {
                continue;
            }
            let (Some(cx), Some(cy)) = (
                xp.values.iter().position(|v| *v == row.combo[xi]),
                yp.values.iter().position(|v| *v == row.combo[yi]),
            ) else {
                continue;
            };
            let cell = &mut cells[cy][cx];
            *cell = Some(cell.map_or(value, |c: f64| c.max(value)));
        }
        Ok(Heatmap {
            x_name: xp.name.clone(),
            y_name: yp.name.clone(),
            xs: xp.values.iter().map(plain).collect(),
            ys: yp.values.iter().map(plain).collect(),
            cells,
            metric,
        })
    }

    /// A text table: one line per y value, one column per x value.
    pub fn text(&self) -> String {
        let mut lines = vec![{
            let mut h = vec![format!("{} \\ {}", self.y_name, self.x_name)];
            h.extend(self.xs.iter().cloned());
            h
        }];
        for (y, row) in self.ys.iter().zip(&self.cells) {
            let mut line = vec![y.clone()];
            line.extend(
                row.iter()
                    .map(|c| c.map_or("·".to_string(), |v| format!("{v:.2}"))),
            );
            lines.push(line);
        }
        format!(
            "Best {} per {} × {} (in-sample):\n{}",
            self.metric.as_str(),
            self.x_name,
            self.y_name,
            align(&lines)
        )
    }

    /// The heatmap as an SVG document.
    pub fn svg(&self) -> anyhow::Result<String> {
        let (nx, ny) = (self.xs.len() as i32, self.ys.len() as i32);
        let width = (160 + 48 * nx).clamp(480, 1600) as u32;
        let height = (140 + 32 * ny).clamp(320, 1200) as u32;
        let values: Vec<f64> = self.cells.iter().flatten().flatten().copied().collect();
        let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
            root.fill(&WHITE).map_err(plot_error)?;
            let caption = format!(
                "best {} by {} × {} (in-sample; grey: no run)",
                self.metric.as_str(),
                self.x_name,
                self.y_name
            );
            let mut chart = ChartBuilder::on(&root)
                .caption(caption, ("sans-serif", 18))
                .margin(12)
                .x_label_area_size(44)
                .y_label_area_size(64)
                .build_cartesian_2d((0..nx).into_segmented(), (0..ny).into_segmented())
                .map_err(plot_error)?;
            let label = |names: &[String], v: &SegmentValue<i32>| match v {
                SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                    names.get(*i as usize).cloned().unwrap_or_default()
                }
                SegmentValue::Last => String::new(),
            };
            chart
                .configure_mesh()
                .disable_mesh()
                .x_desc(self.x_name.as_str())
                .y_desc(self.y_name.as_str())
                .x_labels(self.xs.len().min(40))
                .y_labels(self.ys.len().min(40))
                .x_label_formatter(&|v| label(&self.xs, v))
                .y_label_formatter(&|v| label(&self.ys, v))
                .draw()
                .map_err(plot_error)?;
            let cell_color = |v: Option<f64>| match v {
                None => RGBColor(220, 220, 220),
                Some(v) => {
                    let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
                    // Red (worst) through yellow to green (best).
                    let hue = 120.0 * t / 360.0;
                    let (r, g, b) = hsl_to_rgb(hue, 0.65, 0.55);
                    RGBColor(r, g, b)
                }
            };
            let rects = self.cells.iter().enumerate().flat_map(|(y, row)| {
                row.iter().enumerate().map(move |(x, v)| {
                    let (x, y) = (x as i32, y as i32);
                    Rectangle::new(
                        [
                            (SegmentValue::Exact(x), SegmentValue::Exact(y)),
                            (SegmentValue::Exact(x + 1), SegmentValue::Exact(y + 1)),
                        ],
                        cell_color(*v).filled(),
                    )
                })
            });
            chart.draw_series(rects).map_err(plot_error)?;
            if nx <= 20 && ny <= 30 {
                let texts = self.cells.iter().enumerate().flat_map(|(y, row)| {
                    row.iter().enumerate().filter_map(move |(x, v)| {
                        v.map(|v| {
                            Text::new(
                                format!("{v:.2}"),
                                (SegmentValue::CenterOf(x as i32), SegmentValue::CenterOf(y as i32)),
                                ("sans-serif", 11).into_font().color(&BLACK),
                            )
                        })
                    })
                });
                chart.draw_series(texts).map_err(plot_error)?;
            }
            root.present().map_err(plot_error)?;
        }
        Ok(svg)
    }
}

fn plot_error<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow::anyhow!("cannot draw the heatmap: {e:?}")
}

/// HSL (all in 0..=1) to 8-bit RGB.
fn hsl_to_rgb(h: f64, s: f64, l: f64) -> (u8, u8, u8) {
    let c = (1.0 - (2.0 * l - 1.0).abs()) * s;
    let hp = (h * 6.0).rem_euclid(6.0);
    let x = c * (1.0 - (hp % 2.0 - 1.0).abs());
    let (r, g, b) = match hp as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = l - c / 2.0;
    let to = |v: f64| ((v + m) * 255.0).round().clamp(0.0, 255.0) as u8;
    (to(r), to(g), to(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::grid::Grid;

    #[test]
    fn cells_hold_the_best_metric_over_the_other_keys() {
        let grid = Grid::parse(&["a=1|2,b=10|20,c=0|1".to_string()]).unwrap();
        let combos = grid.combos(&[]);
        let rows: Vec<Row> = combos
            .iter()
            .map(|c| {
                let (a, b, k) = (
                    c[0].as_i64().unwrap(),
                    c[1].as_i64().unwrap(),
                    c[2].as_i64().unwrap(),
                );
                let r = crate::sweep::rank::fixture_report((a * 100 + b + k) as f64, 0.0);
                Row {
                    combo: c.clone(),
                    in_sample: if a == 2 && b == 20 {
                        Err("refused".into())
                    } else {
                        Ok(r)
                    },
                    out_of_sample: None,
                }
            })
            .collect();
        let h = Heatmap::build(&grid, &rows, Metric::Sharpe, "a,b").unwrap();
        assert_eq!(
            h.cells,
            vec![vec![Some(111.0), Some(211.0)], vec![Some(121.0), None]]
        );
        let text = h.text();
        assert!(text.contains("211.00") && text.contains('·'), "{text}");
        let svg = h.svg().unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("211.00"), "{svg}");
        assert!(Heatmap::build(&grid, &rows, Metric::Sharpe, "a,zz").is_err());
        assert!(Heatmap::build(&grid, &rows, Metric::Sharpe, "a").is_err());
        assert!(Heatmap::build(&grid, &rows, Metric::Sharpe, "a,a").is_err());
    }
}
