//! Native histograms reach the visitor as `<name>_count` and `<name>_sum` series, integer and
//! float forms alike, gauge histograms as gauges; exemplars are counted, never dropped silently.

use crate::common::*;
use ingest::Protocol;
use ingest::proto::{self, histogram, v2};
use model::MetricType;

fn histogram_int(timestamp: i64, count: u64, sum: f64) -> proto::Histogram {
    proto::Histogram {
        count: Some(histogram::Count::Int(count)),
        sum,
        schema: 3,
        zero_threshold: 1e-128,
        zero_count: Some(histogram::ZeroCount::Int(1)),
        positive_spans: vec![
            proto::BucketSpan {
                offset: -2,
                length: 2,
            },
            proto::BucketSpan {
                offset: 1,
                length: 1,
            },
        ],
        positive_deltas: vec![2, -1, 3],
        negative_spans: vec![proto::BucketSpan {
            offset: 0,
            length: 1,
        }],
        negative_deltas: vec![1],
        timestamp,
        ..Default::default()
    }
}

fn histogram_float(timestamp: i64, count: f64, sum: f64, gauge: bool) -> proto::Histogram {
    proto::Histogram {
        count: Some(histogram::Count::Float(count)),
        sum,
        schema: -53,
        custom_values: vec![0.1, 0.5, 1.0],
        positive_spans: vec![proto::BucketSpan {
            offset: 0,
            length: 3,
        }],
        positive_counts: vec![1.5, 2.0, 0.5],
        reset_hint: if gauge {
            histogram::RESET_HINT_GAUGE
        } else {
            2
        },
        timestamp,
        ..Default::default()
    }
}

const LABELS: &[(&str, &str)] = &[("__name__", "rpc_seconds"), ("job", "api")];

fn derived(suffix: &str, points: &[(i64, f64)], metric_type: MetricType) -> Seen {
    let name = format!("rpc_seconds{suffix}");
    Seen::new(&[("__name__", &name), ("job", "api")], points).typed(metric_type)
}

#[test]
fn v1_integer_and_float_histograms_become_count_and_sum_counters() {
    let mut series = series_v1(LABELS, &[]);
    series.histograms = vec![
        histogram_int(1_000, 7, 3.5),
        histogram_float(2_000, 9.5, 4.25, false),
    ];
    series.exemplars = vec![proto::Exemplar {
        labels: vec![label("trace_id", "abc")],
        value: 0.2,
        timestamp: 1_000,
    }];
    let body = ingest::encode_v1(&request_v1(vec![series]));
    let (stats, seen) = decode(Protocol::V1, &body).unwrap();
    assert_eq!(stats.histograms, 2);
    assert_eq!(stats.exemplars, 1);
    assert_eq!(stats.samples, 0);
    assert_eq!(
        seen.series,
        vec![
            derived("_count", &[(1_000, 7.0), (2_000, 9.5)], MetricType::Counter),
            derived("_sum", &[(1_000, 3.5), (2_000, 4.25)], MetricType::Counter),
        ]
    );
}

#[test]
fn gauge_histograms_become_gauges() {
    // 1.0 carries the gauge kind in the reset hint.
    let mut series = series_v1(LABELS, &[]);
    series.histograms = vec![histogram_float(5, 1.0, 2.0, true)];
    let (_, seen) = decode(Protocol::V1, &ingest::encode_v1(&request_v1(vec![series]))).unwrap();
    assert!(
        seen.series
            .iter()
            .all(|s| s.metric_type == MetricType::Gauge)
    );
    assert_eq!(seen.series.len(), 2);

    // 2.0 also in the series metadata.
    let mut symbols = v2::SymbolTable::default();
    let mut series = series_v2(&mut symbols, LABELS, &[]);
    series.histograms = vec![histogram_int(5, 3, 1.0)];
    series.metadata = Some(v2::Metadata {
        r#type: proto::metric_type_code(MetricType::GaugeHistogram),
        help_ref: symbols.add("Latency of RPCs."),
        unit_ref: symbols.add("seconds"),
    });
    series.created_timestamp = 4;
    let body = ingest::encode_v2(&request_v2(symbols, vec![series]));
    let (stats, seen) = decode(Protocol::V2, &body).unwrap();
    assert_eq!(stats.histograms, 1);
    let mut expected = vec![
        derived("_count", &[(5, 3.0)], MetricType::Gauge),
        derived("_sum", &[(5, 1.0)], MetricType::Gauge),
    ];
    for e in &mut expected {
        e.unit = "seconds".into();
        e.help = "Latency of RPCs.".into();
        e.created_ms = 4;
    }
    assert_eq!(seen.series, expected);
}

#[test]
fn a_series_with_samples_and_histograms_keeps_both() {
    let mut symbols = v2::SymbolTable::default();
    let mut series = series_v2(&mut symbols, LABELS, &[(1, 0.5)]);
    series.histograms = vec![histogram_int(1, 2, 0.75)];
    series.exemplars = vec![v2::Exemplar {
        labels_refs: symbols.label_refs([("trace_id", "t1")]),
        value: 0.3,
        timestamp: 1,
    }];
    let body = ingest::encode_v2(&request_v2(symbols, vec![series]));
    let (stats, seen) = decode(Protocol::V2, &body).unwrap();
    assert_eq!(
        (stats.samples, stats.histograms, stats.exemplars),
        (1, 1, 1)
    );
    let names: Vec<&str> = seen.series.iter().map(Seen::name).collect();
    assert_eq!(
        names,
        ["rpc_seconds", "rpc_seconds_count", "rpc_seconds_sum"]
    );
}

#[test]
fn malformed_bucket_layouts_and_exemplars_are_refused() {
    // Histogram field 8 (negative_spans) must be a message, not a varint.
    let mut histogram = prost::Message::encode_to_vec(&histogram_int(1, 1, 1.0));
    histogram.extend([0x40, 0x01]);
    let mut series = prost::Message::encode_to_vec(&series_v1(LABELS, &[]));
    series.extend(len_field(4, &histogram));
    let (_, text) = refuse(Protocol::V1, &snappy(&len_field(1, &series)));
    assert!(
        text.starts_with(
            "protobuf: wire type varint, expected length-delimited in field 8 of Histogram (series 0, byte "
        ),
        "{text}"
    );

    // An exemplar label that is not UTF-8.
    let mut label_bytes = len_field(1, b"trace_id");
    label_bytes.extend(len_field(2, b"\xff"));
    let exemplar = len_field(1, &label_bytes);
    let mut series = prost::Message::encode_to_vec(&series_v1(LABELS, &[(1, 1.0)]));
    series.extend(len_field(3, &exemplar));
    let (_, text) = refuse(Protocol::V1, &snappy(&len_field(1, &series)));
    assert!(
        text.starts_with("field 2 of Label is not valid UTF-8 (series 0, byte "),
        "{text}"
    );
}
