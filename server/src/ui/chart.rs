//! Server-rendered SVG charts of the windows: the series over its baseline window and the
//! incident window (shaded), the baseline mean and the threshold or expected value as dashed
//! lines, the incident's start marked. Only numbers are computed here; the template escapes
//! every text.

use app::views::Chart;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 190.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 24.0;

/// A horizontal reference line.
#[derive(Debug, Clone)]
pub struct Line {
    pub y: String,
    pub label: String,
}

/// What the chart template draws.
#[derive(Debug, Clone)]
pub struct ChartSvg {
    pub title: String,
    pub series_labels: String,
    /// `evidence-<id>` for evidence charts, so chips can jump to them.
    pub anchor: String,
    pub width: String,
    pub height: String,
    pub plot_left: String,
    pub plot_right: String,
    pub plot_top: String,
    pub plot_bottom: String,
    /// The series as SVG polyline points.
    pub points: String,
    pub baseline_x: String,
    pub baseline_w: String,
    pub incident_x: String,
    pub incident_w: String,
    pub start_x: String,
    pub y_ticks: Vec<Line>,
    /// `(x, label, text-anchor)`.
    pub x_ticks: Vec<(String, String, String)>,
    /// The evidence id, for evidence charts.
    pub evidence_id: String,
    pub baseline: Option<Line>,
    pub expected: Option<Line>,
    /// One sentence: baseline, during, expected.
    pub summary: String,
    pub empty: bool,
}

fn n(v: f64) -> String {
    format!("{v:.1}")
}

fn hhmm(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%H:%M").to_string())
        .unwrap_or_default()
}

/// Lays a chart out.
pub fn render(chart: &Chart) -> ChartSvg {
    let (from, to) = (chart.from_ms, chart.to_ms.max(chart.from_ms + 1));
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |ms: i64| LEFT + (ms - from) as f64 / (to - from) as f64 * plot_w;
    let mut values: Vec<f64> = chart.points.iter().map(|(_, v)| *v).collect();
    values.extend(chart.baseline);
    values.extend(chart.expected);
    values.retain(|v| v.is_finite());
    let (mut lo, mut hi) = values
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
    if values.is_empty() {
        (lo, hi) = (0.0, 1.0);
    }
    // Non-negative quantities are drawn from zero, so a flat series reads as flat.
    if lo >= 0.0 {
        lo = 0.0;
    }
    if (hi - lo).abs() < f64::EPSILON {
        hi = lo + lo.abs().max(1.0);
    }
    let pad = (hi - lo) * 0.08;
    let (lo, hi) = (if lo == 0.0 { 0.0 } else { lo - pad }, hi + pad);
    let y = |v: f64| TOP + (1.0 - (v - lo) / (hi - lo)) * plot_h;
    let points = chart
        .points
        .iter()
        .filter(|(_, v)| v.is_finite())
        .map(|(t, v)| format!("{},{}", n(x(*t)), n(y(*v))))
        .collect::<Vec<_>>()
        .join(" ");
    let start = chart.incident_start_ms.clamp(from, to);
    let y_ticks = [lo, (lo + hi) / 2.0, hi]
        .into_iter()
        .map(|v| Line {
            y: n(y(v)),
            label: chart.unit.format(v),
        })
        .collect();
    let x_ticks = [(from, "start"), (start, "middle"), (to, "end")]
        .into_iter()
        .map(|(t, anchor)| (n(x(t)), hhmm(t), anchor.to_owned()))
        .collect();
    let f = |v: Option<f64>| v.map(|v| chart.unit.format(v));
    let mut summary = Vec::new();
    if let Some(b) = f(chart.baseline) {
        summary.push(format!("baseline {b}"));
    }
    if let Some(d) = f(chart.during) {
        summary.push(format!("during the incident {d}"));
    }
    if let Some(e) = f(chart.expected) {
        summary.push(format!("threshold {e}"));
    }
    ChartSvg {
        evidence_id: String::new(),
        title: chart.title.clone(),
        series_labels: chart.series_labels.clone(),
        anchor: chart
            .evidence_id
            .as_deref()
            .map(super::pages::evidence_anchor)
            .unwrap_or_default(),
        width: n(WIDTH),
        height: n(HEIGHT),
        plot_left: n(LEFT),
        plot_right: n(WIDTH - RIGHT),
        plot_top: n(TOP),
        plot_bottom: n(HEIGHT - BOTTOM),
        points,
        baseline_x: n(x(from)),
        baseline_w: n(x(start) - x(from)),
        incident_x: n(x(start)),
        incident_w: n(x(to) - x(start)),
        start_x: n(x(start)),
        y_ticks,
        x_ticks,
        baseline: chart.baseline.filter(|v| v.is_finite()).map(|v| Line {
            y: n(y(v)),
            label: format!("baseline {}", chart.unit.format(v)),
        }),
        expected: chart.expected.filter(|v| v.is_finite()).map(|v| Line {
            y: n(y(v)),
            label: format!("threshold {}", chart.unit.format(v)),
        }),
        summary: summary.join(", "),
        empty: chart.points.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::views::Unit;

    #[test]
    fn a_chart_is_laid_out_inside_its_box() {
        let chart = Chart {
            title: "Error ratio".into(),
            series_labels: "x".into(),
            unit: Unit::Ratio,
            points: (0..90)
                .map(|i| (i * 60_000, if i < 30 { 0.01 } else { 0.2 }))
                .collect(),
            from_ms: 0,
            to_ms: 89 * 60_000,
            incident_start_ms: 30 * 60_000,
            baseline: Some(0.01),
            during: Some(0.2),
            expected: Some(0.05),
            evidence_id: None,
        };
        let svg = render(&chart);
        assert!(!svg.empty);
        for pair in svg.points.split(' ') {
            let (px, py) = pair.split_once(',').unwrap();
            let (px, py): (f64, f64) = (px.parse().unwrap(), py.parse().unwrap());
            assert!((LEFT..=WIDTH - RIGHT + 0.1).contains(&px), "{px}");
            assert!((TOP - 0.1..=HEIGHT - BOTTOM + 0.1).contains(&py), "{py}");
        }
        assert_eq!(svg.expected.unwrap().label, "threshold 5.0%");
        assert!(svg.summary.contains("during the incident 20.0%"));
    }
}
