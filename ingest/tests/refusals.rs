//! Every class of bad input is refused with a message naming what is wrong and where, the
//! right HTTP class, and nothing handed to the visitor.

use crate::common::*;
use ingest::proto::v2;
use ingest::{DecodeError, Decoder, IngestError, Protocol};
use model::{Classify, ErrorClass, SeriesRef, SeriesVisitor};

fn good_series(i: usize) -> ingest::proto::TimeSeries {
    let instance = format!("host-{i}:9100");
    series_v1(
        &[("__name__", "up"), ("instance", &instance), ("job", "node")],
        &[(1_000, 1.0)],
    )
}

/// A request of `count` good series with `bad` at index `at`.
fn with_bad_series(count: usize, at: usize, bad: ingest::proto::TimeSeries) -> Vec<u8> {
    let mut timeseries: Vec<_> = (0..count).map(good_series).collect();
    timeseries[at] = bad;
    ingest::encode_v1(&request_v1(timeseries))
}

fn assert_invalid(error: &IngestError, text: &str, expected: &str) {
    assert_eq!(error.class(), ErrorClass::InvalidInput, "{text}");
    assert_eq!(text, expected);
}

#[test]
fn garbage_is_not_snappy() {
    let (error, text) = refuse(Protocol::V1, b"\xff\xff\xff\xff\x7fthis is not snappy");
    assert!(matches!(
        error.as_decode(),
        Some(DecodeError::Snappy { .. })
    ));
    assert_eq!(error.class(), ErrorClass::InvalidInput);
    assert!(
        text.starts_with("body is not valid snappy block format: snappy: "),
        "{text}"
    );
    let (_, text) = refuse(Protocol::V1, b"");
    assert!(text.contains("snappy: corrupt input (empty)"), "{text}");
}

#[test]
fn truncated_snappy_is_refused() {
    let body = with_bad_series(50, 0, good_series(0));
    let (error, text) = refuse(Protocol::V1, &body[..body.len() - 7]);
    assert!(
        matches!(error.as_decode(), Some(DecodeError::Snappy { .. })),
        "{text}"
    );
    assert!(text.contains("snappy: corrupt input"), "{text}");
}

#[test]
fn snappy_bomb_is_refused_before_decompressing() {
    // Declares 4 GiB - 1 decoded bytes in a 5-byte body.
    let bomb = [0xff, 0xff, 0xff, 0xff, 0x0f];
    let mut collect = Collect::default();
    let error = Decoder::default()
        .decode(Protocol::V1, &bomb, 32 << 20, &mut collect)
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::TooLarge);
    assert_eq!(
        error.to_string(),
        "snappy body declares 4294967295 decoded bytes, over the limit of 33554432 bytes"
    );
    // A real body one byte over the cap is refused the same way.
    let body = with_bad_series(10, 0, good_series(0));
    let decoded = snap::raw::decompress_len(&body).unwrap();
    let error = Decoder::default()
        .decode(Protocol::V1, &body, decoded - 1, &mut collect)
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::TooLarge);
    assert!(
        Decoder::default()
            .decode(Protocol::V1, &body, decoded, &mut collect)
            .is_ok()
    );
}

#[test]
fn wrong_protobuf_is_refused() {
    // Field 1 of WriteRequest sent as a varint instead of a TimeSeries message.
    let (error, text) = refuse(Protocol::V1, &snappy(&[0x08, 0x01]));
    assert_invalid(
        &error,
        &text,
        "protobuf: wire type varint, expected length-delimited in field 1 of WriteRequest (byte 1)",
    );
    // Plain text is not a protobuf message.
    let (error, text) = refuse(Protocol::V1, &snappy(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    assert_eq!(error.class(), ErrorClass::InvalidInput);
    assert!(text.starts_with("protobuf: "), "{text}");
    // A wire type that does not exist.
    let (error, text) = refuse(Protocol::V2, &snappy(&[0x0f]));
    assert_invalid(
        &error,
        &text,
        "protobuf: invalid wire type 7 in a field key of Request (byte 0)",
    );
}

#[test]
fn truncated_varints_name_field_and_message() {
    // TimeSeries { field 2 (samples), length varint cut short }.
    let series = [0x12, 0x80];
    let (error, text) = refuse(Protocol::V1, &snappy(&len_field(1, &series)));
    assert_invalid(
        &error,
        &text,
        "protobuf: truncated varint in field 2 of TimeSeries (series 0, byte 3)",
    );
    // Series 1's Sample { timestamp varint cut short }.
    let mut raw = ingest::proto::WriteRequest {
        timeseries: vec![good_series(0)],
        metadata: Vec::new(),
    };
    raw.timeseries[0].samples.clear();
    let mut body = prost::Message::encode_to_vec(&raw);
    let labels = prost::Message::encode_to_vec(&ingest::proto::TimeSeries {
        labels: good_series(1).labels,
        ..Default::default()
    });
    let mut series = labels.clone();
    series.extend(len_field(2, &[0x10, 0xff]));
    body.extend(len_field(1, &series));
    let (error, text) = refuse(Protocol::V1, &snappy(&body));
    assert_eq!(error.class(), ErrorClass::InvalidInput);
    assert!(
        text.starts_with("protobuf: truncated varint in field 2 of Sample (series 1, byte "),
        "{text}"
    );
    // A length running past the end of the body.
    let (error, text) = refuse(Protocol::V1, &snappy(&[0x0a, 0x20, 0x0a]));
    assert_invalid(
        &error,
        &text,
        "protobuf: length 32 runs past the end of the message (1 bytes left) in field 1 of WriteRequest (byte 1)",
    );
}

#[test]
fn bad_utf8_in_a_label_is_refused() {
    let mut bad = good_series(3);
    bad.labels[1].value = String::from("host-3");
    let mut raw = prost::Message::encode_to_vec(&request_v1(vec![bad]));
    let at = raw
        .windows(6)
        .position(|w| w == b"host-3")
        .expect("value in body");
    raw[at + 5] = 0xff;
    let (error, text) = refuse(Protocol::V1, &snappy(&raw));
    assert_invalid(
        &error,
        &text,
        "series 0: label 1 value is not valid UTF-8: invalid utf-8 sequence of 1 bytes from index 5",
    );
}

#[test]
fn label_set_problems_are_refused_naming_the_series() {
    let cases: [(&[(&str, &str)], &str); 4] = [
        (
            &[("", "x"), ("__name__", "up")],
            "series 2: invalid label set: label name is empty (value \"x\")",
        ),
        (
            &[("__name__", "up"), ("job", "a"), ("job", "b")],
            "series 2: invalid label set: duplicate label name \"job\"",
        ),
        (
            &[("instance", "a"), ("job", "b")],
            "series 2: invalid label set: series has no __name__ label",
        ),
        (&[], "series 2: invalid label set: label set is empty"),
    ];
    for (labels, expected) in cases {
        let body = with_bad_series(5, 2, series_v1(labels, &[(1, 1.0)]));
        let (error, text) = refuse(Protocol::V1, &body);
        assert_invalid(&error, &text, expected);
    }
}

#[test]
fn unsorted_labels_are_refused_even_after_good_series() {
    let bad = series_v1(
        &[("__name__", "up"), ("job", "node"), ("instance", "a:1")],
        &[(1, 1.0)],
    );
    let (error, text) = refuse(Protocol::V1, &with_bad_series(20, 12, bad));
    assert_invalid(
        &error,
        &text,
        "series 12: invalid label set: labels not sorted by name: \"job\" comes before \"instance\"",
    );
}

#[test]
fn series_without_samples_are_validated_too() {
    let bad = series_v1(&[("job", "x")], &[]);
    let (_, text) = refuse(Protocol::V1, &with_bad_series(3, 1, bad));
    assert_eq!(
        text,
        "series 1: invalid label set: series has no __name__ label"
    );
}

#[test]
fn v2_symbol_problems_are_refused() {
    let mut symbols = v2::SymbolTable::default();
    let good = series_v2(
        &mut symbols,
        &[("__name__", "up"), ("job", "a")],
        &[(1, 1.0)],
    );
    let table = symbols.clone().into_symbols();
    assert_eq!(table.len(), 5);

    let mut bad = good.clone();
    bad.labels_refs[3] = 17;
    let body = ingest::encode_v2(&request_v2(symbols.clone(), vec![good.clone(), bad]));
    let (error, text) = refuse(Protocol::V2, &body);
    assert_invalid(
        &error,
        &text,
        "series 1: labels_refs symbol ref 17 out of range (symbols table has 5)",
    );

    let mut odd = good.clone();
    odd.labels_refs.push(1);
    let body = ingest::encode_v2(&request_v2(symbols.clone(), vec![odd]));
    let (error, text) = refuse(Protocol::V2, &body);
    assert_invalid(
        &error,
        &text,
        "series 0: labels_refs has an odd number of entries (5)",
    );

    let mut help = good.clone();
    help.metadata = Some(v2::Metadata {
        r#type: 1,
        help_ref: 9,
        unit_ref: 0,
    });
    let body = ingest::encode_v2(&request_v2(symbols.clone(), vec![help]));
    let (_, text) = refuse(Protocol::V2, &body);
    assert_eq!(
        text,
        "series 0: metadata help_ref symbol ref 9 out of range (symbols table has 5)"
    );

    let mut first = request_v2(symbols.clone(), vec![good.clone()]);
    first.symbols[0] = "oops".to_owned();
    let (_, text) = refuse(Protocol::V2, &ingest::encode_v2(&first));
    assert_eq!(
        text,
        "symbols table must start with the empty string, found \"oops\""
    );

    let mut unsorted = good.clone();
    unsorted.labels_refs = vec![3, 4, 1, 2];
    let body = ingest::encode_v2(&request_v2(symbols.clone(), vec![unsorted]));
    let (_, text) = refuse(Protocol::V2, &body);
    assert_eq!(
        text,
        "series 0: invalid label set: labels not sorted by name: \"job\" comes before \"__name__\""
    );

    let mut raw = prost::Message::encode_to_vec(&request_v2(symbols, vec![good]));
    let at = raw.windows(2).position(|w| w == b"up").expect("symbol");
    raw[at] = 0xc3;
    let (_, text) = refuse(Protocol::V2, &snappy(&raw));
    assert_eq!(
        text,
        "symbol 2 is not valid UTF-8: invalid utf-8 sequence of 1 bytes from index 0"
    );
}

#[test]
fn ref_over_32_bits_is_refused() {
    let mut series = Vec::new();
    prost::encoding::encode_key(1, prost::encoding::WireType::Varint, &mut series);
    prost::encoding::encode_varint(1 << 33, &mut series);
    let mut raw = len_field(4, b"");
    raw.extend(len_field(5, &series));
    let (_, text) = refuse(Protocol::V2, &snappy(&raw));
    assert_eq!(
        text,
        "protobuf: value 8589934592 does not fit in 32 bits in field 1 of TimeSeries (series 0, byte 5)"
    );
}

#[derive(Debug, thiserror::Error)]
#[error("store is full after {accepted} series")]
struct Full {
    accepted: usize,
}

impl Classify for Full {
    fn class(&self) -> ErrorClass {
        ErrorClass::Unavailable {
            retry_after_secs: 5,
        }
    }
}

/// Accepts `room` series, then refuses.
struct Limited {
    room: usize,
    seen: usize,
}

impl SeriesVisitor for Limited {
    type Error = Full;

    fn series(&mut self, _series: SeriesRef<'_>) -> Result<(), Full> {
        if self.seen == self.room {
            return Err(Full {
                accepted: self.seen,
            });
        }
        self.seen += 1;
        Ok(())
    }
}

#[test]
fn the_visitor_error_passes_through_unchanged() {
    let body = with_bad_series(10, 0, good_series(0));
    let mut visitor = Limited { room: 4, seen: 0 };
    let error = Decoder::default()
        .decode(Protocol::V1, &body, MAX, &mut visitor)
        .unwrap_err();
    assert_eq!(
        error.class(),
        ErrorClass::Unavailable {
            retry_after_secs: 5
        }
    );
    assert_eq!(error.to_string(), "store is full after 4 series");
    assert!(matches!(error, IngestError::Visitor(Full { accepted: 4 })));
}

#[test]
fn a_decoder_recovers_after_a_refusal() {
    let mut decoder = Decoder::default();
    let mut collect = Collect::default();
    let bad = series_v1(&[("job", "x")], &[(1, 1.0)]);
    assert!(
        decoder
            .decode(
                Protocol::V1,
                &with_bad_series(30, 29, bad),
                MAX,
                &mut collect
            )
            .is_err()
    );
    assert!(collect.series.is_empty());
    let body = with_bad_series(2, 0, good_series(7));
    let stats = decoder
        .decode(Protocol::V1, &body, MAX, &mut collect)
        .unwrap();
    assert_eq!(stats.series, 2);
    assert_eq!(collect.series.len(), 2);
    assert_eq!(collect.series[0].labels[1].1, "host-7:9100");
}
