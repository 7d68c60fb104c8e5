//! Remote-write 2.0 specifics (metadata, created timestamp, symbols anywhere, packed or
//! unpacked refs), 1.0 metadata, and unknown fields of every wire type being skipped.

use crate::common::*;
use ingest::Protocol;
use ingest::proto::{self, v2};
use model::MetricType;

#[test]
fn metadata_and_created_timestamp_reach_the_series() {
    let mut symbols = v2::SymbolTable::default();
    let mut requests = series_v2(
        &mut symbols,
        &[
            ("__name__", "http_requests_total"),
            ("code", "200"),
            ("job", "api"),
        ],
        &[
            (10_000, 41.0),
            (25_000, f64::from_bits(0x7ff0_0000_0000_0002)),
        ],
    );
    requests.metadata = Some(v2::Metadata {
        r#type: proto::metric_type_code(MetricType::Counter),
        help_ref: symbols.add("Requests served."),
        unit_ref: 0,
    });
    requests.created_timestamp = 9_000;
    let mut temperature = series_v2(
        &mut symbols,
        &[("__name__", "room_temperature"), ("room", "b")],
        &[(-5, -3.25)],
    );
    temperature.metadata = Some(v2::Metadata {
        r#type: proto::metric_type_code(MetricType::Gauge),
        help_ref: 0,
        unit_ref: symbols.add("celsius"),
    });
    let empty = series_v2(&mut symbols, &[("__name__", "nothing_yet")], &[]);
    let body = ingest::encode_v2(&request_v2(symbols, vec![requests, temperature, empty]));
    let (stats, seen) = decode(Protocol::V2, &body).unwrap();
    assert_eq!(stats.series, 3);
    assert_eq!(stats.samples, 3);
    assert_eq!(stats.metadata, 2);
    assert_eq!(seen.series.len(), 2);
    let first = &seen.series[0];
    assert_eq!(first.metric_type, MetricType::Counter);
    assert_eq!(first.help, "Requests served.");
    assert_eq!(first.unit, "");
    assert_eq!(first.created_ms, 9_000);
    assert_eq!(
        first.samples[1].1, 0x7ff0_0000_0000_0002,
        "staleness NaN kept bit for bit"
    );
    let second = &seen.series[1];
    assert_eq!(
        (second.metric_type, second.unit.as_str(), second.created_ms),
        (MetricType::Gauge, "celsius", 0)
    );
    assert_eq!(second.samples, vec![(-5, (-3.25f64).to_bits())]);
}

/// A 2.0 body built by hand: series before symbols, refs unpacked and split across fields.
#[test]
fn symbols_after_series_and_unpacked_refs_decode_the_same() {
    let symbols = ["", "__name__", "up", "job", "node"];
    let mut series = Vec::new();
    for reference in [1u64, 2] {
        prost::encoding::encode_key(1, prost::encoding::WireType::Varint, &mut series);
        prost::encoding::encode_varint(reference, &mut series);
    }
    series.extend(len_field(1, &[3, 4])); // the rest packed
    series.extend(prost::Message::encode_to_vec(&v2::TimeSeries {
        samples: vec![sample(7, 1.0)],
        ..Default::default()
    }));
    let mut raw = len_field(5, &series);
    for symbol in symbols {
        raw.extend(len_field(4, symbol.as_bytes()));
    }
    let (stats, seen) = decode(Protocol::V2, &snappy(&raw)).unwrap();
    assert_eq!(stats.series, 1);
    assert_eq!(
        seen.series,
        vec![Seen::new(
            &[("__name__", "up"), ("job", "node")],
            &[(7, 1.0)]
        )]
    );
}

/// Appends an unknown field of every wire type (and a group holding one) to a message.
fn with_unknown_fields(mut message: Vec<u8>) -> Vec<u8> {
    message.extend([0xb8, 0x06, 0x96, 0x01]); // field 103 varint
    message.extend([0xc1, 0x06, 1, 2, 3, 4, 5, 6, 7, 8]); // field 104 fixed64
    message.extend([0xca, 0x06, 0x02, b'h', b'i']); // field 105 bytes
    message.extend([0xd5, 0x06, 1, 2, 3, 4]); // field 106 fixed32
    message.extend([0xdb, 0x06, 0x08, 0x01, 0xdc, 0x06]); // field 107 group { 1: 1 }
    message
}

#[test]
fn unknown_fields_of_every_wire_type_are_skipped() {
    let mut label = with_unknown_fields(len_field(1, b"__name__"));
    label.extend(len_field(2, b"up"));
    let sample_bytes = with_unknown_fields(prost::Message::encode_to_vec(&sample(3, 2.5)));
    let mut series = len_field(1, &label);
    series.extend(len_field(2, &sample_bytes));
    let series = with_unknown_fields(series);
    let raw = with_unknown_fields(len_field(1, &series));
    let (stats, seen) = decode(Protocol::V1, &snappy(&raw)).unwrap();
    assert_eq!(stats.samples, 1);
    assert_eq!(
        seen.series,
        vec![Seen::new(&[("__name__", "up")], &[(3, 2.5)])]
    );
    // prost, the reference, reads the same body the same way.
    let reference: proto::WriteRequest = prost::Message::decode(raw.as_slice()).unwrap();
    assert_eq!(reference.timeseries[0].samples, vec![sample(3, 2.5)]);
}

#[test]
fn v1_metadata_goes_to_the_visitor() {
    let request = proto::WriteRequest {
        timeseries: Vec::new(),
        metadata: vec![
            proto::MetricMetadata {
                r#type: 1,
                metric_family_name: "http_requests_total".into(),
                help: "Requests served.".into(),
                unit: String::new(),
            },
            proto::MetricMetadata {
                r#type: 4,
                metric_family_name: "queue_wait".into(),
                help: String::new(),
                unit: "seconds".into(),
            },
        ],
    };
    let (stats, seen) = decode(Protocol::V1, &ingest::encode_v1(&request)).unwrap();
    assert_eq!(stats.metadata, 2);
    assert_eq!(seen.families.len(), 2);
    assert_eq!(seen.families[0].name, "http_requests_total");
    assert_eq!(seen.families[0].metric_type, MetricType::Counter);
    assert_eq!(seen.families[0].help, "Requests served.");
    assert_eq!(
        (seen.families[1].metric_type, seen.families[1].unit.as_str()),
        (MetricType::GaugeHistogram, "seconds")
    );
}

#[test]
fn the_wrong_protocol_reads_as_an_empty_request() {
    // The 2.0 message reserves 1.0's field numbers so a mix-up decodes as empty, not garbage.
    let v1 = ingest::encode_v1(&request_v1(vec![series_v1(
        &[("__name__", "up")],
        &[(1, 1.0)],
    )]));
    let (stats, seen) = decode(Protocol::V2, &v1).unwrap();
    assert_eq!((stats.series, seen.series.len()), (0, 0));
    let mut symbols = v2::SymbolTable::default();
    let series = series_v2(&mut symbols, &[("__name__", "up")], &[(1, 1.0)]);
    let v2 = ingest::encode_v2(&request_v2(symbols, vec![series]));
    let (stats, _) = decode(Protocol::V1, &v2).unwrap();
    assert_eq!(stats.series, 0);
}
