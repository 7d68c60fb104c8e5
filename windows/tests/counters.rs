//! Counters: resets and extrapolation as Prometheus's `increase()`/`rate()`, and how a series
//! is known to be a counter (its own type, family metadata, the `_total` convention).

use crate::support::{append, query, s, store};
use model::{MetricMetadata, MetricType};

#[test]
fn reset_adds_the_value_before_it_and_extrapolates_to_the_edges() {
    let store = store(0, 3_600_000);
    let samples = [
        s(10_000, 10.0),
        s(25_000, 20.0),
        s(40_000, 5.0),
        s(55_000, 15.0),
    ];
    append(
        &store,
        &[("__name__", "requests_total")],
        &samples,
        MetricType::Counter,
    );
    let result = store.window(&query(&["requests_total"], "1m", Some(60_000)));
    let a = &result.series[0].aggregates;
    // Raw increase 15 − 10 + 20 (the reset) = 25 over 45 s of samples; 10 s to the start
    // and 5 s to the end are under 1.1 × the 15 s interval, so both are extrapolated.
    let increase = 25.0 * (45.0 + 10.0 + 5.0) / 45.0;
    assert!((a.increase.unwrap() - increase).abs() < 1e-9, "{a:?}");
    assert!((a.rate.unwrap() - increase / 60.0).abs() < 1e-12);
}

#[test]
fn extrapolation_stops_where_the_counter_would_be_zero() {
    let store = store(0, 3_600_000);
    // Starts at 1 and rises by 10 a step: extrapolating 14 s back would pass zero.
    let samples = [
        s(14_000, 1.0),
        s(29_000, 11.0),
        s(44_000, 21.0),
        s(59_000, 31.0),
    ];
    append(
        &store,
        &[("__name__", "jobs_total")],
        &samples,
        MetricType::Counter,
    );
    let a = store
        .window(&query(&["jobs_total"], "1m", Some(60_000)))
        .series[0]
        .aggregates
        .clone();
    let to_zero = 45.0 * (1.0 / 30.0);
    let want = 30.0 * (45.0 + to_zero + 1.0) / 45.0;
    assert!((a.increase.unwrap() - want).abs() < 1e-9, "{a:?} vs {want}");
}

#[test]
fn gauges_have_no_rate() {
    let store = store(0, 3_600_000);
    append(
        &store,
        &[("__name__", "temperature")],
        &[s(1_000, 1.0), s(2_000, 3.0)],
        MetricType::Gauge,
    );
    let json =
        serde_json::to_value(store.window(&query(&["temperature"], "1m", Some(60_000)))).unwrap();
    let row = &json["series"][0];
    assert!(row["rate"].is_null() && row["increase"].is_null(), "{row}");
    assert_eq!(row["count"], 2);
}

#[test]
fn counter_ness_comes_from_type_then_family_metadata_then_suffix() {
    let store = store(0, 3_600_000);
    store.set_metadata(
        "plain",
        MetricMetadata {
            metric_type: MetricType::Counter,
            ..MetricMetadata::default()
        },
    );
    store.set_metadata(
        "latency",
        MetricMetadata {
            metric_type: MetricType::Histogram,
            ..MetricMetadata::default()
        },
    );
    store.set_metadata(
        "bytes_total",
        MetricMetadata {
            metric_type: MetricType::Gauge,
            ..MetricMetadata::default()
        },
    );
    let cases = [
        ("plain", MetricType::Unknown, true),
        ("latency_count", MetricType::Unknown, true),
        ("latency_bucket", MetricType::Unknown, true),
        ("latency", MetricType::Unknown, false),
        ("bytes_total", MetricType::Unknown, false),
        ("errors_total", MetricType::Unknown, true),
        ("errors_total", MetricType::Gauge, false),
        ("queue_depth", MetricType::Unknown, false),
        ("queue_depth", MetricType::Counter, true),
    ];
    for (name, metric_type, counter) in cases {
        assert_eq!(
            store.is_counter(name, metric_type),
            counter,
            "{name} {metric_type:?}"
        );
    }
    // Through the store: a 2.0 per-series type wins over the name.
    append(
        &store,
        &[("__name__", "errors_total")],
        &[s(1_000, 1.0), s(2_000, 2.0)],
        MetricType::Gauge,
    );
    let info = store.select(&windows::Selector::parse("errors_total").unwrap());
    assert!(!info[0].counter);
}
