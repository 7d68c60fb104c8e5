//! Owned prost messages mirroring Loki's `pkg/push/push.proto` (package `logproto`), the
//! protobuf push body; used to decode pushes and, on the sender side, by tests and benches.

/// `logproto.PushRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PushRequest {
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<StreamAdapter>,
    /// Format the streams were ingested in (`loki` or `otlp`); informational.
    #[prost(string, tag = "2")]
    pub format: String,
}

/// `logproto.StreamAdapter`: one stream, its labels as a LogQL label string.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StreamAdapter {
    /// E.g. `{app="api", pod="api-1"}`.
    #[prost(string, tag = "1")]
    pub labels: String,
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<EntryAdapter>,
    /// The sender's hash of the labels; not trusted, not used.
    #[prost(uint64, tag = "3")]
    pub hash: u64,
}

/// `logproto.LabelPairAdapter`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct LabelPairAdapter {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `logproto.EntryAdapter`: one log line.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EntryAdapter {
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<Timestamp>,
    #[prost(string, tag = "2")]
    pub line: String,
    #[prost(message, repeated, tag = "3")]
    pub structured_metadata: Vec<LabelPairAdapter>,
    /// Filled by Loki in query answers only; ignored on push.
    #[prost(message, repeated, tag = "4")]
    pub parsed: Vec<LabelPairAdapter>,
}

/// `google.protobuf.Timestamp`.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Timestamp {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// In `[0, 999_999_999]`.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl Timestamp {
    /// Splits nanoseconds since the epoch into seconds and non-negative nanos.
    pub fn from_nanos(ns: i64) -> Self {
        Self {
            seconds: ns.div_euclid(1_000_000_000),
            // In [0, 1e9), so it fits an i32.
            nanos: i32::try_from(ns.rem_euclid(1_000_000_000)).unwrap_or_default(),
        }
    }
}
