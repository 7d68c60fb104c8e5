//! Window math against a naive reference: random samples in, every aggregate equal to the
//! straightforward computation within 1e-9 relative.

use crate::support::{append, s, store};
use model::{MetricType, Sample};
use proptest::prelude::*;
use windows::{Aggregates, WindowQuery, WindowSpan};

fn close(name: &str, got: Option<f64>, want: Option<f64>) -> Result<(), TestCaseError> {
    match (got, want) {
        (None, None) => Ok(()),
        (Some(a), Some(b)) => {
            let tolerance = 1e-9 * a.abs().max(b.abs()).max(1.0);
            prop_assert!((a - b).abs() <= tolerance, "{name}: got {a}, want {b}");
            Ok(())
        }
        _ => Err(TestCaseError::fail(format!(
            "{name}: got {got:?}, want {want:?}"
        ))),
    }
}

/// numpy's default percentile: linear interpolation at rank q·(n−1).
fn naive_percentile(sorted: &[f64], q: f64) -> f64 {
    let position = q * (sorted.len() as f64 - 1.0);
    let below = position.floor() as usize;
    let above = (below + 1).min(sorted.len() - 1);
    sorted[below] + (sorted[above] - sorted[below]) * (position - below as f64)
}

/// Prometheus 3's `extrapolatedRate` for `increase`, transcribed.
fn naive_increase(samples: &[Sample], range_start: i64, range_end: i64) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let first = samples[0];
    let last = samples[samples.len() - 1];
    let mut result = last.value - first.value;
    let mut previous = first.value;
    for sample in &samples[1..] {
        if sample.value < previous {
            result += previous;
        }
        previous = sample.value;
    }
    let mut duration_to_start = (first.timestamp_ms - range_start) as f64 / 1000.0;
    let mut duration_to_end = (range_end - last.timestamp_ms) as f64 / 1000.0;
    let sampled_interval = (last.timestamp_ms - first.timestamp_ms) as f64 / 1000.0;
    let average = sampled_interval / (samples.len() - 1) as f64;
    let threshold = average * 1.1;
    if duration_to_start >= threshold {
        duration_to_start = average / 2.0;
    }
    if result > 0.0 && first.value >= 0.0 {
        let duration_to_zero = sampled_interval * (first.value / result);
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }
    if duration_to_end >= threshold {
        duration_to_end = average / 2.0;
    }
    let factor = (sampled_interval + duration_to_start + duration_to_end) / sampled_interval;
    Some(result * factor)
}

fn naive(all: &[Sample], span: WindowSpan, at: i64, counter: bool) -> Aggregates {
    let inside: Vec<Sample> = all
        .iter()
        .copied()
        .filter(|x| x.timestamp_ms > at - span.ms && x.timestamp_ms <= at && !x.value.is_nan())
        .collect();
    let mut out = Aggregates {
        count: inside.len(),
        ..Aggregates::default()
    };
    if inside.is_empty() {
        return out;
    }
    let values: Vec<f64> = inside.iter().map(|x| x.value).collect();
    let n = values.len() as f64;
    let sum: f64 = values.iter().sum();
    let mean = sum / n;
    let mut sorted = values.clone();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    out.min = Some(sorted[0]);
    out.max = Some(sorted[sorted.len() - 1]);
    out.sum = Some(sum);
    out.avg = Some(mean);
    out.last = Some(values[values.len() - 1]);
    out.stddev = Some((values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt());
    out.p50 = Some(naive_percentile(&sorted, 0.50));
    out.p95 = Some(naive_percentile(&sorted, 0.95));
    out.p99 = Some(naive_percentile(&sorted, 0.99));
    if inside.len() >= 2 {
        // Covariance over variance, with time in seconds from the window's start.
        let xs: Vec<f64> = inside
            .iter()
            .map(|x| (x.timestamp_ms - (at - span.ms)) as f64 / 1000.0)
            .collect();
        let mean_x = xs.iter().sum::<f64>() / n;
        let cov: f64 = xs
            .iter()
            .zip(&values)
            .map(|(x, y)| (x - mean_x) * (y - mean))
            .sum();
        let var: f64 = xs.iter().map(|x| (x - mean_x) * (x - mean_x)).sum();
        out.slope = (var > 0.0).then(|| cov / var);
    }
    if counter {
        out.increase = naive_increase(&inside, at - span.ms, at);
        out.rate = out.increase.map(|i| i / (span.ms as f64 / 1000.0));
    }
    out
}

fn check(got: &Aggregates, want: &Aggregates) -> Result<(), TestCaseError> {
    prop_assert_eq!(got.count, want.count);
    for (name, a, b) in [
        ("min", got.min, want.min),
        ("max", got.max, want.max),
        ("sum", got.sum, want.sum),
        ("avg", got.avg, want.avg),
        ("last", got.last, want.last),
        ("stddev", got.stddev, want.stddev),
        ("p50", got.p50, want.p50),
        ("p95", got.p95, want.p95),
        ("p99", got.p99, want.p99),
        ("slope", got.slope, want.slope),
        ("rate", got.rate, want.rate),
        ("increase", got.increase, want.increase),
    ] {
        close(name, a, b)?;
    }
    Ok(())
}

const START: i64 = 1_700_000_000_000;

/// Samples at increasing timestamps (gaps 1 ms – 40 s), values either a gauge or a counter
/// with occasional resets, with a few NaNs.
fn series(counter: bool) -> impl Strategy<Value = Vec<Sample>> {
    prop::collection::vec(
        (
            prop_oneof![Just(15_000i64), 1i64..40_000],
            -1000.0f64..1000.0,
            0u8..20,
        ),
        0..150,
    )
    .prop_map(move |steps| {
        let mut t = START;
        let mut total = 0.0f64;
        steps
            .into_iter()
            .map(|(gap, v, dice)| {
                t += gap;
                let value = if dice == 0 {
                    f64::NAN
                } else if counter {
                    total = if dice == 1 { v.abs() } else { total + v.abs() };
                    total
                } else {
                    v
                };
                s(t, value)
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn every_aggregate_matches_the_naive_computation(
        (counter, samples) in any::<bool>().prop_flat_map(|c| (Just(c), series(c))),
        span_s in prop_oneof![Just(60i64), Just(300), Just(900), 1i64..2000],
        at_offset in 0i64..2_400_000,
    ) {
        let store = store(3_600_000, 7_200_000);
        let (name, metric_type) = if counter {
            ("requests_total", MetricType::Counter)
        } else {
            ("temperature", MetricType::Gauge)
        };
        append(&store, &[("__name__", name)], &samples, metric_type);
        let span = WindowSpan { ms: span_s * 1000 };
        let at = START + at_offset;
        let result = store.window(&WindowQuery {
            selectors: vec![windows::Selector::parse(name).unwrap()],
            window: span,
            at_ms: Some(at),
            by: None,
        });
        let want = naive(&samples, span, at, counter);
        match result.series.first() {
            Some(row) => check(&row.aggregates, &want)?,
            None => prop_assert!(samples.is_empty()),
        }
    }
}
