//! Property tests: random requests encoded by prost (the reference) decode borrowed to exactly
//! what was sent, in both versions; corrupted bodies never panic, and whatever the borrowed
//! parser accepts, prost reads the same way.

use crate::common::*;
use ingest::proto::{self, v2};
use ingest::{Decoder, Protocol};
use model::MetricType;
use proptest::prelude::*;
use std::collections::BTreeMap;

/// A series as generated: sorted unique labels (with `__name__`) and samples.
#[derive(Debug, Clone)]
struct Gen {
    labels: Vec<(String, String)>,
    samples: Vec<(i64, f64)>,
    metric_type: MetricType,
    unit: String,
    help: String,
    created_ms: i64,
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::from_bits(0x7ff0_0000_0000_0002)), // Prometheus's staleness marker
        Just(0.0),
        Just(-0.0),
        -1e6..1e6f64,
    ]
}

fn metric_type() -> impl Strategy<Value = MetricType> {
    prop_oneof![
        Just(MetricType::Unknown),
        Just(MetricType::Counter),
        Just(MetricType::Gauge),
        Just(MetricType::Histogram),
        Just(MetricType::GaugeHistogram),
        Just(MetricType::Summary),
        Just(MetricType::Info),
        Just(MetricType::StateSet),
    ]
}

fn series() -> impl Strategy<Value = Gen> {
    let names = prop::collection::btree_map(
        prop_oneof!["[a-zA-Z_][a-zA-Z0-9_]{0,12}", "\\PC{1,8}"],
        "\\PC{0,16}",
        0..6,
    );
    (
        "\\PC{0,24}",
        names,
        prop::collection::vec((any::<i64>(), value()), 0..4),
        metric_type(),
        "\\PC{0,8}",
        "\\PC{0,32}",
        any::<i64>(),
    )
        .prop_map(
            |(name, mut labels, samples, metric_type, unit, help, created_ms)| {
                labels.insert("__name__".to_owned(), name);
                Gen {
                    labels: labels
                        .into_iter()
                        .collect::<BTreeMap<_, _>>()
                        .into_iter()
                        .collect(),
                    samples,
                    metric_type,
                    unit,
                    help,
                    created_ms,
                }
            },
        )
}

fn expected(series: &[Gen], v2: bool) -> Vec<Seen> {
    series
        .iter()
        .filter(|s| !s.samples.is_empty())
        .map(|s| {
            let labels: Vec<(&str, &str)> = s
                .labels
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            // prost, the reference encoder, omits a value equal to its default, and -0.0 is
            // equal to 0.0: what arrives is +0.0.
            let samples: Vec<(i64, f64)> = s
                .samples
                .iter()
                .map(|&(t, v)| (t, if v == 0.0 { 0.0 } else { v }))
                .collect();
            let mut seen = Seen::new(&labels, &samples);
            if v2 {
                seen.metric_type = s.metric_type;
                seen.unit = s.unit.clone();
                seen.help = s.help.clone();
                seen.created_ms = s.created_ms;
            }
            seen
        })
        .collect()
}

fn encode_v1(series: &[Gen]) -> proto::WriteRequest {
    request_v1(
        series
            .iter()
            .map(|s| proto::TimeSeries {
                labels: s.labels.iter().map(|(n, v)| label(n, v)).collect(),
                samples: s.samples.iter().map(|&(t, v)| sample(t, v)).collect(),
                ..Default::default()
            })
            .collect(),
    )
}

fn encode_v2(series: &[Gen]) -> v2::Request {
    let mut symbols = v2::SymbolTable::default();
    let timeseries = series
        .iter()
        .map(|s| v2::TimeSeries {
            labels_refs: symbols.label_refs(s.labels.iter().map(|(n, v)| (n.as_str(), v.as_str()))),
            samples: s.samples.iter().map(|&(t, v)| sample(t, v)).collect(),
            metadata: Some(v2::Metadata {
                r#type: proto::metric_type_code(s.metric_type),
                help_ref: symbols.add(&s.help),
                unit_ref: symbols.add(&s.unit),
            }),
            created_timestamp: s.created_ms,
            ..Default::default()
        })
        .collect();
    request_v2(symbols, timeseries)
}

/// What prost reads from a 1.0 body, as the visitor would see it.
fn prost_view_v1(raw: &[u8]) -> Option<Vec<Seen>> {
    let request: proto::WriteRequest = prost::Message::decode(raw).ok()?;
    Some(
        request
            .timeseries
            .iter()
            .filter(|s| !s.samples.is_empty())
            .map(|s| {
                let labels: Vec<(&str, &str)> = s
                    .labels
                    .iter()
                    .map(|l| (l.name.as_str(), l.value.as_str()))
                    .collect();
                let samples: Vec<(i64, f64)> =
                    s.samples.iter().map(|x| (x.timestamp, x.value)).collect();
                Seen::new(&labels, &samples)
            })
            .collect(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn v1_round_trips(series in prop::collection::vec(series(), 0..12)) {
        let request = encode_v1(&series);
        let (stats, seen) = decode(Protocol::V1, &ingest::encode_v1(&request)).unwrap();
        prop_assert_eq!(&seen.series, &expected(&series, false));
        prop_assert_eq!(stats.series, series.len());
        prop_assert_eq!(stats.samples, series.iter().map(|s| s.samples.len()).sum::<usize>());
        prop_assert_eq!(prost_view_v1(&prost::Message::encode_to_vec(&request)), Some(seen.series));
    }

    #[test]
    fn v2_round_trips(series in prop::collection::vec(series(), 0..12)) {
        let (stats, seen) =
            decode(Protocol::V2, &ingest::encode_v2(&encode_v2(&series))).unwrap();
        prop_assert_eq!(&seen.series, &expected(&series, true));
        prop_assert_eq!(stats.series, series.len());
        prop_assert_eq!(stats.metadata, series.len());
    }

    #[test]
    fn one_decoder_reused_gives_the_same_answers(
        batches in prop::collection::vec(prop::collection::vec(series(), 0..8), 1..5)
    ) {
        let mut decoder = Decoder::default();
        for batch in &batches {
            for protocol in [Protocol::V1, Protocol::V2] {
                let body = match protocol {
                    Protocol::V1 => ingest::encode_v1(&encode_v1(batch)),
                    Protocol::V2 => ingest::encode_v2(&encode_v2(batch)),
                };
                let mut collect = Collect::default();
                decoder.decode(protocol, &body, MAX, &mut collect).unwrap();
                prop_assert_eq!(collect.series, expected(batch, protocol == Protocol::V2));
            }
        }
    }

    #[test]
    fn corrupted_v1_bodies_never_panic_and_agree_with_prost(
        series in prop::collection::vec(series(), 1..6),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut raw = prost::Message::encode_to_vec(&encode_v1(&series));
        for (at, byte) in edits {
            let i = at.index(raw.len());
            raw[i] = byte;
        }
        if truncate {
            raw.truncate(cut.index(raw.len()));
        }
        if let Ok((_, seen)) = decode(Protocol::V1, &snappy(&raw)) {
            let reference = prost_view_v1(&raw);
            prop_assert!(reference.is_some(), "accepted a body prost refuses");
            prop_assert_eq!(reference, Some(seen.series));
        }
    }

    #[test]
    fn corrupted_v2_bodies_never_panic(
        series in prop::collection::vec(series(), 1..6),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut raw = prost::Message::encode_to_vec(&encode_v2(&series));
        for (at, byte) in edits {
            let i = at.index(raw.len());
            raw[i] = byte;
        }
        if decode(Protocol::V2, &snappy(&raw)).is_ok() {
            prop_assert!(<v2::Request as prost::Message>::decode(raw.as_slice()).is_ok());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        for protocol in [Protocol::V1, Protocol::V2] {
            let _ = decode(protocol, &bytes);
            let _ = decode(protocol, &snappy(&bytes));
        }
    }
}
