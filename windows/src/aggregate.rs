//! Aggregates over the samples of one trailing window `(at − span, at]`: count, min, max, avg,
//! sum, last, population stddev, exact percentiles, least-squares slope, and counter rate.
//!
//! Percentiles interpolate linearly between closest ranks (numpy's default). `rate` and
//! `increase` follow Prometheus's `rate()`/`increase()`: resets add the value before the reset,
//! and the result is extrapolated towards the window's edges.

use crate::WindowError;
use model::{LabelSet, Sample};
use serde::{Serialize, Serializer};

/// A window length, such as `1m`, `5m` or `15m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WindowSpan {
    pub ms: i64,
}

impl WindowSpan {
    pub const ONE_MINUTE: WindowSpan = WindowSpan { ms: 60_000 };
    pub const FIVE_MINUTES: WindowSpan = WindowSpan { ms: 300_000 };
    pub const FIFTEEN_MINUTES: WindowSpan = WindowSpan { ms: 900_000 };

    /// Parses `30s`, `5m`, `1h` (Prometheus duration units ms, s, m, h, d).
    pub fn parse(text: &str) -> Result<Self, WindowError> {
        let fail = |reason| WindowError::Span {
            text: text.to_owned(),
            reason,
        };
        let t = text.trim();
        let split = t
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| fail("needs a unit: ms, s, m, h or d"))?;
        let n: i64 = t[..split]
            .parse()
            .map_err(|_| fail("must start with a whole number"))?;
        let unit = match &t[split..] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(fail("unknown unit: use ms, s, m, h or d")),
        };
        let ms = n.checked_mul(unit).ok_or_else(|| fail("too long"))?;
        if ms <= 0 {
            return Err(fail("must be longer than zero"));
        }
        Ok(Self { ms })
    }

    /// `5m`, `90s`, `250ms`.
    pub fn label(self) -> String {
        if self.ms % 3_600_000 == 0 {
            format!("{}h", self.ms / 3_600_000)
        } else if self.ms % 60_000 == 0 {
            format!("{}m", self.ms / 60_000)
        } else if self.ms % 1000 == 0 {
            format!("{}s", self.ms / 1000)
        } else {
            format!("{}ms", self.ms)
        }
    }
}

fn finite<S: Serializer>(value: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) if v.is_finite() => s.serialize_f64(*v),
        _ => s.serialize_none(),
    }
}

/// The aggregates of one series (or group) over one window; `None` (JSON `null`) where a
/// value is undefined (an empty window, NaN samples) or does not apply (`rate` of a gauge).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Aggregates {
    pub count: usize,
    #[serde(serialize_with = "finite")]
    pub min: Option<f64>,
    #[serde(serialize_with = "finite")]
    pub max: Option<f64>,
    #[serde(serialize_with = "finite")]
    pub avg: Option<f64>,
    #[serde(serialize_with = "finite")]
    pub sum: Option<f64>,
    #[serde(serialize_with = "finite")]
    pub last: Option<f64>,
    #[serde(serialize_with = "finite")]
    pub stddev: Option<f64>,
    #[serde(serialize_with = "finite")]
    pub p50: Option<f64>,
    #[serde(serialize_with = "finite")]
    pub p95: Option<f64>,
    #[serde(serialize_with = "finite")]
    pub p99: Option<f64>,
    /// Least-squares slope, per second.
    #[serde(serialize_with = "finite")]
    pub slope: Option<f64>,
    #[serde(serialize_with = "finite")]
    pub rate: Option<f64>,
    #[serde(serialize_with = "finite")]
    pub increase: Option<f64>,
}

/// One series (or group) in a window answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowRow {
    pub labels: LabelSet,
    /// The source the series belongs to, where a query spans several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(flatten)]
    pub aggregates: Aggregates,
}

/// The answer of a window query: what `/api/v1/windows` returns inside `data`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowResult {
    pub watermark: Option<i64>,
    pub window: String,
    /// Where the window ends (the watermark unless the query named a time); not serialised,
    /// as the API answers `watermark`, `window` and `series` only.
    #[serde(skip)]
    pub at: Option<i64>,
    pub series: Vec<WindowRow>,
}

/// Linear interpolation between closest ranks of sorted values.
pub(crate) fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = q * (sorted.len() - 1) as f64;
    let low = rank.floor() as usize;
    let high = rank.ceil() as usize;
    let frac = rank - low as f64;
    Some(sorted[low] + (sorted[high] - sorted[low]) * frac)
}

/// Slope per second of a least-squares line through `(t, v)` points.
pub(crate) fn slope(points: impl Iterator<Item = (i64, f64)> + Clone) -> Option<f64> {
    let n = points.clone().count();
    if n < 2 {
        return None;
    }
    let t0 = points.clone().next().map(|p| p.0).unwrap_or(0);
    let (mut sx, mut sy, mut sxx, mut sxy) = (0.0, 0.0, 0.0, 0.0);
    for (t, v) in points {
        let x = (t - t0) as f64 / 1000.0;
        sx += x;
        sy += v;
        sxx += x * x;
        sxy += x * v;
    }
    let nf = n as f64;
    let denominator = nf * sxx - sx * sx;
    (denominator != 0.0).then(|| (nf * sxy - sx * sy) / denominator)
}

/// Prometheus's `increase()` over `(start, end]`: the last value minus the first, plus the
/// value before each reset (a drop), extrapolated towards the window's edges: to an edge
/// closer than 1.1 average sample intervals fully, else half an interval; towards the start no
/// further than the counter would have taken to rise from zero. `None` under two samples.
pub(crate) fn increase(samples: &[Sample], start_ms: i64, end_ms: i64) -> Option<f64> {
    let (first, last) = (samples.first()?, samples.last()?);
    if samples.len() < 2 || last.timestamp_ms <= first.timestamp_ms {
        return None;
    }
    let mut result = last.value - first.value;
    for pair in samples.windows(2) {
        if pair[1].value < pair[0].value {
            result += pair[0].value;
        }
    }
    let sampled = (last.timestamp_ms - first.timestamp_ms) as f64 / 1000.0;
    let average = sampled / (samples.len() - 1) as f64;
    let threshold = average * 1.1;
    let mut to_start = (first.timestamp_ms - start_ms) as f64 / 1000.0;
    let mut to_end = (end_ms - last.timestamp_ms) as f64 / 1000.0;
    if to_start >= threshold {
        to_start = average / 2.0;
    }
    if result > 0.0 && first.value >= 0.0 {
        let to_zero = sampled * (first.value / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = average / 2.0;
    }
    Some(result * (sampled + to_start + to_end) / sampled)
}

/// Buffers [`aggregate_with`] reuses from one series to the next.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    present: Vec<Sample>,
    values: Vec<f64>,
}

/// Aggregates of time-ordered `samples` in the window `(end − span, end]`.
///
/// NaN samples (Prometheus stale markers among them) are not values: every aggregate,
/// `count` and `last` included, is over the other samples. Infinities are values; aggregates
/// they make undefined serialise as `null`.
pub fn aggregate(samples: &[Sample], span: WindowSpan, end_ms: i64, counter: bool) -> Aggregates {
    aggregate_with(samples, span, end_ms, counter, &mut Scratch::default())
}

/// [`aggregate`] with buffers kept across calls.
pub(crate) fn aggregate_with(
    samples: &[Sample],
    span: WindowSpan,
    end_ms: i64,
    counter: bool,
    scratch: &mut Scratch,
) -> Aggregates {
    let start_ms = end_ms.saturating_sub(span.ms);
    let Scratch { present, values } = scratch;
    let present: &[Sample] = if samples.iter().any(|s| s.value.is_nan()) {
        present.clear();
        present.extend(samples.iter().copied().filter(|s| !s.value.is_nan()));
        present
    } else {
        samples
    };
    let mut out = Aggregates {
        count: present.len(),
        last: present.last().map(|s| s.value),
        ..Aggregates::default()
    };
    if present.is_empty() {
        return out;
    }
    values.clear();
    values.extend(present.iter().map(|s| s.value));
    let n = values.len() as f64;
    let sum: f64 = values.iter().sum();
    let mean = sum / n;
    out.sum = Some(sum);
    out.avg = Some(mean);
    out.stddev = Some((values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt());
    values.sort_by(f64::total_cmp);
    out.min = values.first().copied();
    out.max = values.last().copied();
    out.p50 = percentile(values, 0.5);
    out.p95 = percentile(values, 0.95);
    out.p99 = percentile(values, 0.99);
    out.slope = slope(present.iter().map(|s| (s.timestamp_ms, s.value)));
    if counter {
        out.increase = increase(present, start_ms, end_ms);
        out.rate = out.increase.map(|i| i / (span.ms as f64 / 1000.0));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: i64, v: f64) -> Sample {
        Sample {
            timestamp_ms: t,
            value: v,
        }
    }

    #[test]
    fn spans() {
        assert_eq!(WindowSpan::parse("5m").unwrap(), WindowSpan::FIVE_MINUTES);
        assert_eq!(WindowSpan::parse("90s").unwrap().label(), "90s");
        assert!(WindowSpan::parse("fortnight").is_err());
        assert!(WindowSpan::parse("0m").is_err());
    }

    #[test]
    fn counter_reset_counts_the_value_before_it() {
        // 0,10,20 then reset to 5, 15 — increase 10+10+5+10 = 35 before extrapolation.
        let samples: Vec<Sample> = [0.0, 10.0, 20.0, 5.0, 15.0]
            .iter()
            .enumerate()
            .map(|(i, v)| s(i as i64 * 15_000, *v))
            .collect();
        let inc = increase(&samples, -15_000 + 1, 60_000).unwrap();
        assert!((35.0..45.0).contains(&inc), "{inc}");
    }

    #[test]
    fn percentiles_and_slope() {
        let sorted = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&sorted, 0.5), Some(2.5));
        assert_eq!(percentile(&sorted, 1.0), Some(4.0));
        let line = (0..10).map(|i| (i * 1000, 3.0 * i as f64 + 1.0));
        assert!((slope(line).unwrap() - 3.0).abs() < 1e-12);
    }
}
