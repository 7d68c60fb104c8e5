//! Loki push decoding: a `POST /loki/api/v1/push` body (JSON, or protobuf in snappy, as
//! Promtail, Grafana Alloy and Loki client libraries send it) into an owned [`LogBatch`].
//!
//! Invariants:
//! - The body is capped before and after every decompression stage (gzip, deflate, snappy), so
//!   a small body cannot make the receiver allocate more than `max_bytes` at a time.
//! - A request is read and validated whole (labels, timestamps, UTF-8) before a batch is
//!   returned, so a refused request yields nothing; every refusal is a [`LokiError`] naming what
//!   is wrong and where, classed for HTTP (400 bad body, 413 too large, 415 media type).
//! - No input panics; streams and entries keep the order they were sent in.

/// The JSON shapes of Loki's push body, which its query answers share (`[ts, line, {meta}]`).
pub mod json;
mod labels;
pub mod proto;

pub use labels::{
    LabelStringError, LabelStringIssue, is_label_name, parse_label_string, quote, write_quoted,
};

use crate::error::DecodeError;
use model::{Classify, ErrorClass, LabelError, LabelSet};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::Read;

/// Log streams as received or queried: the log counterpart of a remote_write request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogBatch {
    pub streams: Vec<LogStream>,
}

/// One stream: a label set and its entries, in the order they came.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogStream {
    pub labels: LabelSet,
    pub entries: Vec<LogEntry>,
}

/// One log line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Event time, nanoseconds since the Unix epoch.
    pub timestamp_ns: i64,
    pub line: String,
    /// Structured metadata (Loki 3), in the order sent.
    pub metadata: Vec<(String, String)>,
}

impl LogBatch {
    /// Number of entries over all streams.
    pub fn entry_count(&self) -> usize {
        self.streams.iter().map(|s| s.entries.len()).sum()
    }

    /// Whether there is no entry at all.
    pub fn is_empty(&self) -> bool {
        self.entry_count() == 0
    }
}

/// The body formats a push may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushFormat {
    /// `application/json`.
    Json,
    /// `application/x-protobuf`: a snappy-compressed `logproto.PushRequest`.
    Protobuf,
}

/// What is wrong with a timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampIssue {
    /// Not a decimal integer of nanoseconds.
    NotInteger,
    /// Outside what nanoseconds in an `i64` can hold (years 1677 to 2262).
    OutOfRange,
    /// Not an RFC 3339 date-time (legacy entries).
    NotRfc3339,
    /// A JSON value of the wrong type.
    WrongType(&'static str),
    /// A protobuf entry without a timestamp.
    Missing,
    /// Protobuf `nanos` outside `[0, 999999999]`.
    NanosOutOfRange,
}

impl fmt::Display for TimestampIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimestampIssue::NotInteger => f.write_str("not an integer count of nanoseconds"),
            TimestampIssue::OutOfRange => f.write_str("out of range (years 1677 to 2262)"),
            TimestampIssue::NotRfc3339 => f.write_str("not an RFC 3339 date-time"),
            TimestampIssue::WrongType(found) => {
                write!(f, "expected a string of nanoseconds, found {found}")
            }
            TimestampIssue::Missing => f.write_str("missing"),
            TimestampIssue::NanosOutOfRange => f.write_str("nanos outside [0, 999999999]"),
        }
    }
}

/// Why a push was refused. Stream and entry indices count from 0 in request order.
#[derive(Debug, thiserror::Error)]
pub enum LokiError {
    #[error(
        "unsupported content type {content_type:?}: send application/json or application/x-protobuf (snappy-compressed logproto.PushRequest)"
    )]
    ContentType { content_type: String },
    #[error("unsupported content encoding {encoding:?}: accepted are gzip, deflate and identity")]
    ContentEncoding { encoding: String },
    #[error("body of {size} bytes is over the limit of {limit} bytes")]
    BodyTooLarge { size: usize, limit: usize },
    #[error("{stage} body decompresses to more than the limit of {limit} bytes")]
    DecompressedTooLarge { stage: &'static str, limit: usize },
    #[error("body is not valid {stage}")]
    Decompress {
        stage: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("body is not valid snappy block format")]
    Snappy {
        #[source]
        source: snap::Error,
    },
    #[error("snappy body refused")]
    SnappyBody {
        #[source]
        source: DecodeError,
    },
    #[error("body is not a valid logproto.PushRequest protobuf")]
    Protobuf {
        #[source]
        source: prost::DecodeError,
    },
    #[error("body is not a valid Loki push JSON document")]
    Json {
        #[source]
        source: serde_json::Error,
    },
    #[error("stream {stream}: bad label string {labels:?}")]
    LabelString {
        stream: usize,
        labels: String,
        #[source]
        source: LabelStringError,
    },
    #[error("stream {stream}: invalid label set")]
    Labels {
        stream: usize,
        #[source]
        source: LabelError,
    },
    #[error("stream {stream}: label name {name:?} is not [a-zA-Z_][a-zA-Z0-9_]*")]
    LabelName { stream: usize, name: String },
    #[error("stream {stream} has no labels: a Loki stream needs at least one")]
    NoLabels { stream: usize },
    #[error("stream {stream}: {issue}")]
    StreamShape { stream: usize, issue: &'static str },
    #[error("stream {stream}, entry {entry}: bad timestamp {value:?}: {issue}")]
    Timestamp {
        stream: usize,
        entry: usize,
        value: String,
        issue: TimestampIssue,
    },
}

impl Classify for LokiError {
    fn class(&self) -> ErrorClass {
        match self {
            LokiError::ContentType { .. } | LokiError::ContentEncoding { .. } => {
                ErrorClass::UnsupportedMediaType
            }
            LokiError::BodyTooLarge { .. } | LokiError::DecompressedTooLarge { .. } => {
                ErrorClass::TooLarge
            }
            LokiError::SnappyBody { source } => source.class(),
            LokiError::Decompress { .. }
            | LokiError::Snappy { .. }
            | LokiError::Protobuf { .. }
            | LokiError::Json { .. }
            | LokiError::LabelString { .. }
            | LokiError::Labels { .. }
            | LokiError::LabelName { .. }
            | LokiError::NoLabels { .. }
            | LokiError::StreamShape { .. }
            | LokiError::Timestamp { .. } => ErrorClass::InvalidInput,
        }
    }
}

/// Chooses the body format from a `Content-Type` header. No header means protobuf, as Loki
/// itself assumes; parameters (`; charset=utf-8`) are ignored.
pub fn push_format(content_type: Option<&str>) -> Result<PushFormat, LokiError> {
    let Some(header) = content_type else {
        return Ok(PushFormat::Protobuf);
    };
    let media = header.split(';').next().unwrap_or("").trim();
    if media.is_empty()
        || media.eq_ignore_ascii_case("application/x-protobuf")
        || media.eq_ignore_ascii_case("application/protobuf")
    {
        Ok(PushFormat::Protobuf)
    } else if media.eq_ignore_ascii_case("application/json") {
        Ok(PushFormat::Json)
    } else {
        Err(LokiError::ContentType {
            content_type: header.to_owned(),
        })
    }
}

/// Decodes a Loki push request body.
///
/// `content_type` and `content_encoding` are the request's headers. JSON and protobuf bodies
/// may be gzip- or deflate-encoded; protobuf bodies are snappy block format inside that.
/// `max_bytes` caps the body as received and after each decompression.
pub fn decode_push(
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    body: &[u8],
    max_bytes: usize,
) -> Result<LogBatch, LokiError> {
    let format = push_format(content_type)?;
    if body.len() > max_bytes {
        return Err(LokiError::BodyTooLarge {
            size: body.len(),
            limit: max_bytes,
        });
    }
    let inflated = content_decode(content_encoding, body, max_bytes)?;
    let body = inflated.as_deref().unwrap_or(body);
    match format {
        PushFormat::Json => decode_json(body),
        PushFormat::Protobuf => {
            let mut buffer = Vec::new();
            let raw = crate::snappy::decompress_capped(body, max_bytes, &mut buffer).map_err(
                |error| match error {
                    DecodeError::Snappy { source } => LokiError::Snappy { source },
                    DecodeError::TooLarge { limit, .. } => LokiError::DecompressedTooLarge {
                        stage: "snappy",
                        limit,
                    },
                    other => LokiError::SnappyBody { source: other },
                },
            )?;
            decode_protobuf(raw)
        }
    }
}

/// Protobuf-encodes and snappy-compresses a push request, as Promtail sends it.
///
/// Snappy refuses inputs over 4 GiB; such a request encodes as an empty body.
pub fn encode_push(request: &proto::PushRequest) -> Vec<u8> {
    snap::raw::Encoder::new()
        .compress_vec(&prost::Message::encode_to_vec(request))
        .unwrap_or_default()
}

/// Undoes `Content-Encoding`; `None` when the body is used as is.
pub(crate) fn content_decode(
    encoding: Option<&str>,
    body: &[u8],
    max_bytes: usize,
) -> Result<Option<Vec<u8>>, LokiError> {
    let encoding = encoding.map(str::trim).unwrap_or("");
    if encoding.is_empty() || encoding.eq_ignore_ascii_case("identity") {
        return Ok(None);
    }
    if encoding.eq_ignore_ascii_case("gzip") || encoding.eq_ignore_ascii_case("x-gzip") {
        return inflate(flate2::read::MultiGzDecoder::new(body), "gzip", max_bytes).map(Some);
    }
    if encoding.eq_ignore_ascii_case("deflate") {
        // HTTP says zlib-wrapped; Loki reads raw DEFLATE. Accept both: a zlib header is two
        // bytes with CM = 8 whose big-endian value is a multiple of 31.
        let zlib = matches!(body, [cmf, flg, ..]
            if cmf & 0x0f == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0);
        return if zlib {
            inflate(flate2::read::ZlibDecoder::new(body), "deflate", max_bytes)
        } else {
            inflate(
                flate2::read::DeflateDecoder::new(body),
                "deflate",
                max_bytes,
            )
        }
        .map(Some);
    }
    Err(LokiError::ContentEncoding {
        encoding: encoding.to_owned(),
    })
}

/// Reads a decompressor to the end, refusing more than `max_bytes` of output.
fn inflate(reader: impl Read, stage: &'static str, max_bytes: usize) -> Result<Vec<u8>, LokiError> {
    let mut out = Vec::new();
    let cap = u64::try_from(max_bytes)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|source| LokiError::Decompress { stage, source })?;
    if out.len() > max_bytes {
        return Err(LokiError::DecompressedTooLarge {
            stage,
            limit: max_bytes,
        });
    }
    Ok(out)
}

fn decode_protobuf(raw: &[u8]) -> Result<LogBatch, LokiError> {
    let request = <proto::PushRequest as prost::Message>::decode(raw)
        .map_err(|source| LokiError::Protobuf { source })?;
    let mut streams = Vec::with_capacity(request.streams.len());
    for (index, stream) in request.streams.into_iter().enumerate() {
        let labels = label_string_set(index, &stream.labels)?;
        let mut entries = Vec::with_capacity(stream.entries.len());
        for (entry, e) in stream.entries.into_iter().enumerate() {
            let timestamp_ns =
                proto_timestamp(e.timestamp).map_err(|(value, issue)| LokiError::Timestamp {
                    stream: index,
                    entry,
                    value,
                    issue,
                })?;
            entries.push(LogEntry {
                timestamp_ns,
                line: e.line,
                metadata: e
                    .structured_metadata
                    .into_iter()
                    .map(|p| (p.name, p.value))
                    .collect(),
            });
        }
        streams.push(LogStream { labels, entries });
    }
    Ok(LogBatch { streams })
}

fn proto_timestamp(ts: Option<proto::Timestamp>) -> Result<i64, (String, TimestampIssue)> {
    let Some(ts) = ts else {
        return Err((String::new(), TimestampIssue::Missing));
    };
    let shown = || format!("{}s {}ns", ts.seconds, ts.nanos);
    if !(0..1_000_000_000).contains(&ts.nanos) {
        return Err((shown(), TimestampIssue::NanosOutOfRange));
    }
    let ns = i128::from(ts.seconds) * 1_000_000_000 + i128::from(ts.nanos);
    i64::try_from(ns).map_err(|_| (shown(), TimestampIssue::OutOfRange))
}

fn decode_json(body: &[u8]) -> Result<LogBatch, LokiError> {
    let push = json::parse(body).map_err(|source| LokiError::Json { source })?;
    let mut streams = Vec::with_capacity(push.streams.len());
    for (index, raw) in push.streams.into_iter().enumerate() {
        let stream = match raw {
            json::RawStream {
                stream: Some(pairs),
                values,
                labels: None,
                entries: None,
            } => {
                if pairs.is_empty() {
                    return Err(LokiError::NoLabels { stream: index });
                }
                if let Some(name) = pairs.keys().find(|n| !is_label_name(n)) {
                    return Err(LokiError::LabelName {
                        stream: index,
                        name: name.clone(),
                    });
                }
                let labels = LabelSet::from_pairs(pairs).map_err(|source| LokiError::Labels {
                    stream: index,
                    source,
                })?;
                let values = values.unwrap_or_default();
                let mut entries = Vec::with_capacity(values.len());
                for (entry, value) in values.into_iter().enumerate() {
                    let timestamp_ns = nanos_timestamp(&value.ts)
                        .map_err(|issue| timestamp_error(index, entry, &value.ts, issue))?;
                    entries.push(LogEntry {
                        timestamp_ns,
                        line: value.line,
                        metadata: value.metadata,
                    });
                }
                LogStream { labels, entries }
            }
            json::RawStream {
                stream: None,
                values: None,
                labels: Some(text),
                entries,
            } => {
                let labels = label_string_set(index, &text)?;
                let raw_entries = entries.unwrap_or_default();
                let mut entries = Vec::with_capacity(raw_entries.len());
                for (entry, raw) in raw_entries.into_iter().enumerate() {
                    let timestamp_ns = rfc3339_timestamp(&raw.ts)
                        .map_err(|issue| timestamp_error(index, entry, &raw.ts, issue))?;
                    entries.push(LogEntry {
                        timestamp_ns,
                        line: raw.line,
                        metadata: Vec::new(),
                    });
                }
                LogStream { labels, entries }
            }
            json::RawStream {
                stream: None,
                labels: None,
                ..
            } => {
                return Err(LokiError::StreamShape {
                    stream: index,
                    issue: "has neither \"stream\" labels nor a \"labels\" string",
                });
            }
            _ => {
                return Err(LokiError::StreamShape {
                    stream: index,
                    issue: "mixes \"stream\"/\"values\" with legacy \"labels\"/\"entries\"",
                });
            }
        };
        streams.push(stream);
    }
    Ok(LogBatch { streams })
}

fn label_string_set(stream: usize, text: &str) -> Result<LabelSet, LokiError> {
    let pairs = parse_label_string(text).map_err(|source| LokiError::LabelString {
        stream,
        labels: text.to_owned(),
        source,
    })?;
    if pairs.is_empty() {
        return Err(LokiError::NoLabels { stream });
    }
    LabelSet::from_pairs(pairs).map_err(|source| LokiError::Labels { stream, source })
}

fn timestamp_error(
    stream: usize,
    entry: usize,
    ts: &json::RawTs,
    issue: TimestampIssue,
) -> LokiError {
    let value = match ts {
        json::RawTs::Text(text) => text.chars().take(64).collect(),
        json::RawTs::Int(n) => n.to_string(),
        json::RawTs::Other(kind) => (*kind).to_owned(),
    };
    LokiError::Timestamp {
        stream,
        entry,
        value,
        issue,
    }
}

/// A v1 timestamp: nanoseconds as a decimal string (or, leniently, a JSON integer).
pub fn nanos_timestamp(ts: &json::RawTs) -> Result<i64, TimestampIssue> {
    match ts {
        json::RawTs::Text(text) => {
            let digits = text.strip_prefix('-').unwrap_or(text);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(TimestampIssue::NotInteger);
            }
            text.parse::<i64>().map_err(|_| TimestampIssue::OutOfRange)
        }
        json::RawTs::Int(n) => i64::try_from(*n).map_err(|_| TimestampIssue::OutOfRange),
        json::RawTs::Other(kind) => Err(TimestampIssue::WrongType(kind)),
    }
}

/// A legacy timestamp: an RFC 3339 date-time string.
fn rfc3339_timestamp(ts: &json::RawTs) -> Result<i64, TimestampIssue> {
    match ts {
        json::RawTs::Text(text) => chrono::DateTime::parse_from_rfc3339(text)
            .map_err(|_| TimestampIssue::NotRfc3339)?
            .timestamp_nanos_opt()
            .ok_or(TimestampIssue::OutOfRange),
        json::RawTs::Int(_) => Err(TimestampIssue::WrongType("a number")),
        json::RawTs::Other(kind) => Err(TimestampIssue::WrongType(kind)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 1 << 20;

    fn json(body: &str) -> Result<LogBatch, LokiError> {
        decode_push(Some("application/json"), None, body.as_bytes(), MAX)
    }

    #[test]
    fn json_v1_with_metadata() {
        let batch = json(
            r#"{"streams":[{"stream":{"pod":"api-1","app":"api"},"values":[
                ["1700000000000000001","GET /x 200"],
                ["1700000000000000002","boom",{"trace_id":"abc","user":"u1"}]]}]}"#,
        )
        .unwrap();
        assert_eq!(batch.streams.len(), 1);
        let stream = &batch.streams[0];
        assert_eq!(stream.labels.get("app"), Some("api"));
        assert_eq!(stream.labels.get("pod"), Some("api-1"));
        assert_eq!(stream.entries[0].timestamp_ns, 1_700_000_000_000_000_001);
        assert_eq!(stream.entries[1].line, "boom");
        assert_eq!(
            stream.entries[1].metadata,
            [
                ("trace_id".into(), "abc".into()),
                ("user".into(), "u1".into())
            ]
        );
        assert_eq!(batch.entry_count(), 2);
    }

    #[test]
    fn json_legacy_shape() {
        let batch = json(
            r#"{"streams":[{"labels":"{severity=\"info\", logger=\"x\"}","entries":[
                {"ts":"2023-11-14T22:13:20.000001+01:00","line":"hello"}]}]}"#,
        )
        .unwrap();
        let stream = &batch.streams[0];
        assert_eq!(stream.labels.get("logger"), Some("x"));
        assert_eq!(
            stream.entries[0].timestamp_ns,
            1_700_000_000_000_001_000 - 3_600_000_000_000
        );
    }

    #[test]
    fn json_refusals_name_stream_and_entry() {
        let e = json(r#"{"streams":[{"stream":{"a":"b"},"values":[["1","x"]]},{"stream":{"a":"b"},"values":[["1","x"],["12x","y"]]}]}"#)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"stream 1, entry 1: bad timestamp "12x": not an integer count of nanoseconds"#
        );
        let e = json(r#"{"streams":[{"stream":{"a":"b"},"values":[[1.5,"x"]]}]}"#).unwrap_err();
        assert!(matches!(
            e,
            LokiError::Timestamp {
                issue: TimestampIssue::WrongType(_),
                ..
            }
        ));
        let e =
            json(r#"{"streams":[{"stream":{"a":"b"},"values":[["99999999999999999999","x"]]}]}"#)
                .unwrap_err();
        assert!(matches!(
            e,
            LokiError::Timestamp {
                issue: TimestampIssue::OutOfRange,
                ..
            }
        ));
        assert!(matches!(
            json(r#"{"streams":[{"stream":{},"values":[]}]}"#),
            Err(LokiError::NoLabels { stream: 0 })
        ));
        assert!(matches!(
            json(r#"{"streams":[{"stream":{"":"x"},"values":[]}]}"#),
            Err(LokiError::LabelName { stream: 0, .. })
        ));
        assert_eq!(
            json(r#"{"streams":[{"stream":{"service.name":"x"},"values":[]}]}"#)
                .unwrap_err()
                .to_string(),
            r#"stream 0: label name "service.name" is not [a-zA-Z_][a-zA-Z0-9_]*"#
        );
        assert!(matches!(
            json(r#"{"streams":[{"stream":{"a":"b"},"values":[["1","x",{"k":1}]]}]}"#),
            Err(LokiError::Json { .. })
        ));
        assert!(matches!(
            json(r#"{"streams":[{"values":[]}]}"#),
            Err(LokiError::StreamShape { stream: 0, .. })
        ));
        assert!(matches!(
            json(r#"{"streams":[{"stream":{"a":"b"},"labels":"{a=\"b\"}"}]}"#),
            Err(LokiError::StreamShape { stream: 0, .. })
        ));
        assert!(matches!(
            json(r#"{"streams":[{"stream":{"a":"b"},"values":[["1"]]}]}"#),
            Err(LokiError::Json { .. })
        ));
        assert!(matches!(json("not json"), Err(LokiError::Json { .. })));
        let e = json(r#"{"streams":[{"labels":"{a=b}","entries":[]}]}"#).unwrap_err();
        assert_eq!(e.to_string(), r#"stream 0: bad label string "{a=b}""#);
        assert_eq!(e.class(), ErrorClass::InvalidInput);
    }

    #[test]
    fn protobuf_round_trip() {
        let request = proto::PushRequest {
            streams: vec![proto::StreamAdapter {
                labels: r#"{app="api", pod="api-\"1\""}"#.into(),
                entries: vec![proto::EntryAdapter {
                    timestamp: Some(proto::Timestamp::from_nanos(1_700_000_000_123_456_789)),
                    line: "line one".into(),
                    structured_metadata: vec![proto::LabelPairAdapter {
                        name: "trace_id".into(),
                        value: "t1".into(),
                    }],
                    parsed: Vec::new(),
                }],
                hash: 7,
            }],
            format: String::new(),
        };
        let body = encode_push(&request);
        let batch = decode_push(Some("application/x-protobuf"), None, &body, MAX).unwrap();
        let stream = &batch.streams[0];
        assert_eq!(stream.labels.get("pod"), Some("api-\"1\""));
        assert_eq!(stream.entries[0].timestamp_ns, 1_700_000_000_123_456_789);
        assert_eq!(
            stream.entries[0].metadata,
            [("trace_id".into(), "t1".into())]
        );
        // No content type means protobuf, as in Loki.
        assert_eq!(decode_push(None, None, &body, MAX).unwrap(), batch);
    }

    #[test]
    fn negative_timestamps_split_and_join() {
        for ns in [-1_500_000_000_i64, -1, 0, 1, i64::MAX, i64::MIN] {
            let ts = proto::Timestamp::from_nanos(ns);
            assert!((0..1_000_000_000).contains(&ts.nanos));
            assert_eq!(proto_timestamp(Some(ts)).unwrap(), ns);
        }
        let over = proto::Timestamp {
            seconds: i64::MAX / 1_000_000_000 + 1,
            nanos: 0,
        };
        assert_eq!(
            proto_timestamp(Some(over)).unwrap_err().1,
            TimestampIssue::OutOfRange
        );
        let bad = proto::Timestamp {
            seconds: 1,
            nanos: -1,
        };
        assert_eq!(
            proto_timestamp(Some(bad)).unwrap_err().1,
            TimestampIssue::NanosOutOfRange
        );
    }

    #[test]
    fn media_types_and_encodings() {
        assert_eq!(
            push_format(Some("application/json; charset=utf-8")).unwrap(),
            PushFormat::Json
        );
        let e = push_format(Some("text/plain")).unwrap_err();
        assert_eq!(e.class(), ErrorClass::UnsupportedMediaType);
        let e = decode_push(Some("application/json"), Some("br"), b"{}", MAX).unwrap_err();
        assert_eq!(e.class(), ErrorClass::UnsupportedMediaType);
        let e = decode_push(Some("application/json"), None, &[b' '; 11], 10).unwrap_err();
        assert_eq!(e.class(), ErrorClass::TooLarge);
    }
}
