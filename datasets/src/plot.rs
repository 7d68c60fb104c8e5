//! Small SVG plotting helpers shared by the evaluations: a series with shaded bands and markers,
//! and a horizontal bar chart of named figures.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

/// Why a plot could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("cannot draw plot {path}: {message}")]
    Draw { path: PathBuf, message: String },
}

impl model::Classify for PlotError {
    fn class(&self) -> model::ErrorClass {
        model::ErrorClass::Internal
    }
}

/// A series over its row index, with shaded index bands (e.g. label windows), marked rows
/// (e.g. detections) and an optional second series in `[0, 1]` (e.g. scores) drawn below.
#[derive(Debug, Clone, Copy)]
pub struct SeriesPlot<'a> {
    pub title: &'a str,
    pub values: &'a [f64],
    pub bands: &'a [(usize, usize)],
    pub marks: &'a [usize],
    pub unit_series: Option<&'a [f64]>,
}

fn draw_err(path: &Path, e: impl std::fmt::Display) -> PlotError {
    PlotError::Draw {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

/// Writes `plot` as an SVG at `path`.
pub fn series_svg(path: &Path, plot: &SeriesPlot<'_>) -> Result<(), PlotError> {
    let root = SVGBackend::new(path, (1200, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| draw_err(path, e))?;
    let (top, bottom) = match plot.unit_series {
        Some(_) => root.split_vertically(300),
        None => (root.clone(), root.clone().shrink((0, 0), (0, 0))),
    };
    let n = plot.values.len().max(2);
    let finite = plot.values.iter().copied().filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let (lo, hi) = if lo.is_finite() && hi > lo {
        (lo, hi)
    } else {
        (lo.min(0.0) - 1.0, hi.max(0.0) + 1.0)
    };
    let pad = (hi - lo) * 0.05;
    let mut chart = ChartBuilder::on(&top)
        .caption(plot.title, ("sans-serif", 18))
        .margin(8)
        .x_label_area_size(24)
        .y_label_area_size(60)
        .build_cartesian_2d(0usize..n, (lo - pad)..(hi + pad))
        .map_err(|e| draw_err(path, e))?;
    chart
        .configure_mesh()
        .disable_mesh()
        .draw()
        .map_err(|e| draw_err(path, e))?;
    for &(a, b) in plot.bands {
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(a, lo - pad), (b, hi + pad)],
                RGBColor(255, 200, 200).filled(),
            )))
            .map_err(|e| draw_err(path, e))?;
    }
    chart
        .draw_series(LineSeries::new(
            plot.values.iter().enumerate().map(|(i, v)| (i, *v)),
            &BLUE,
        ))
        .map_err(|e| draw_err(path, e))?;
    chart
        .draw_series(plot.marks.iter().filter_map(|&i| {
            plot.values
                .get(i)
                .map(|v| Circle::new((i, *v), 4, RED.filled()))
        }))
        .map_err(|e| draw_err(path, e))?;
    if let Some(unit) = plot.unit_series {
        let mut chart = ChartBuilder::on(&bottom)
            .margin(8)
            .x_label_area_size(20)
            .y_label_area_size(60)
            .build_cartesian_2d(0usize..n, 0f64..1f64)
            .map_err(|e| draw_err(path, e))?;
        chart
            .configure_mesh()
            .disable_mesh()
            .y_desc("score")
            .draw()
            .map_err(|e| draw_err(path, e))?;
        chart
            .draw_series(LineSeries::new(
                unit.iter().enumerate().map(|(i, v)| (i, v.clamp(0.0, 1.0))),
                &BLACK,
            ))
            .map_err(|e| draw_err(path, e))?;
    }
    root.present().map_err(|e| draw_err(path, e))?;
    Ok(())
}

/// Writes a horizontal bar chart of `(name, value)` as an SVG at `path`.
pub fn bars_svg(path: &Path, title: &str, bars: &[(String, f64)]) -> Result<(), PlotError> {
    let height = 80 + 22 * bars.len() as u32;
    let root = SVGBackend::new(path, (900, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| draw_err(path, e))?;
    let lo = bars.iter().map(|b| b.1).fold(0.0f64, f64::min);
    let hi = bars
        .iter()
        .map(|b| b.1)
        .fold(0.0f64, f64::max)
        .max(lo + 1.0);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(8)
        .x_label_area_size(24)
        .y_label_area_size(260)
        .build_cartesian_2d(lo..hi, 0..bars.len().max(1))
        .map_err(|e| draw_err(path, e))?;
    chart
        .configure_mesh()
        .disable_mesh()
        .y_labels(bars.len().max(1))
        .y_label_formatter(&|i| bars.get(*i).map(|b| b.0.clone()).unwrap_or_default())
        .draw()
        .map_err(|e| draw_err(path, e))?;
    chart
        .draw_series(
            bars.iter()
                .enumerate()
                .map(|(i, (_, v))| Rectangle::new([(0.0, i), (*v, i + 1)], BLUE.mix(0.6).filled())),
        )
        .map_err(|e| draw_err(path, e))?;
    root.present().map_err(|e| draw_err(path, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_svgs() {
        let dir = tempfile::tempdir().unwrap();
        let values: Vec<f64> = (0..100).map(|i| (i as f64 / 10.0).sin()).collect();
        let scores: Vec<f64> = (0..100).map(|i| if i == 50 { 0.9 } else { 0.1 }).collect();
        let path = dir.path().join("s.svg");
        series_svg(
            &path,
            &SeriesPlot {
                title: "t",
                values: &values,
                bands: &[(40, 60)],
                marks: &[50],
                unit_series: Some(&scores),
            },
        )
        .unwrap();
        assert!(std::fs::read_to_string(&path).unwrap().contains("<svg"));
        let path = dir.path().join("b.svg");
        bars_svg(&path, "bars", &[("a".into(), 1.0), ("b".into(), -0.5)]).unwrap();
        assert!(std::fs::read_to_string(&path).unwrap().contains("<svg"));
    }
}
