//! Shared helpers: an owning visitor, request builders and error text as the server shows it.

use ingest::proto::{self, v2};
use ingest::{DecodeStats, Decoder, IngestError, Protocol};
use model::{MetricType, SeriesRef, SeriesVisitor};
use std::convert::Infallible;

/// Enough room for any test body.
pub(crate) const MAX: usize = 16 << 20;

/// One series as the visitor saw it, owned; sample values compared bit for bit (NaN-safe).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Seen {
    pub(crate) labels: Vec<(String, String)>,
    pub(crate) samples: Vec<(i64, u64)>,
    pub(crate) metric_type: MetricType,
    pub(crate) unit: String,
    pub(crate) help: String,
    pub(crate) created_ms: i64,
}

impl Seen {
    pub(crate) fn new(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> Self {
        Self {
            labels: labels
                .iter()
                .map(|&(n, v)| (n.to_owned(), v.to_owned()))
                .collect(),
            samples: samples.iter().map(|&(t, v)| (t, v.to_bits())).collect(),
            metric_type: MetricType::Unknown,
            unit: String::new(),
            help: String::new(),
            created_ms: 0,
        }
    }

    pub(crate) fn typed(mut self, metric_type: MetricType) -> Self {
        self.metric_type = metric_type;
        self
    }

    pub(crate) fn name(&self) -> &str {
        self.labels
            .iter()
            .find(|(n, _)| n == "__name__")
            .map_or("", |(_, v)| v.as_str())
    }
}

/// Metadata as `SeriesVisitor::metadata` received it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Family {
    pub(crate) name: String,
    pub(crate) metric_type: MetricType,
    pub(crate) unit: String,
    pub(crate) help: String,
}

/// Keeps everything it is handed.
#[derive(Debug, Default)]
pub(crate) struct Collect {
    pub(crate) series: Vec<Seen>,
    pub(crate) families: Vec<Family>,
}

impl SeriesVisitor for Collect {
    type Error = Infallible;

    fn series(&mut self, series: SeriesRef<'_>) -> Result<(), Infallible> {
        self.series.push(Seen {
            labels: series
                .labels
                .iter()
                .map(|&(n, v)| (n.to_owned(), v.to_owned()))
                .collect(),
            samples: series
                .samples
                .iter()
                .map(|s| (s.timestamp_ms, s.value.to_bits()))
                .collect(),
            metric_type: series.metric_type,
            unit: series.unit.to_owned(),
            help: series.help.to_owned(),
            created_ms: series.created_timestamp_ms,
        });
        Ok(())
    }

    fn metadata(
        &mut self,
        family: &str,
        metric_type: MetricType,
        unit: &str,
        help: &str,
    ) -> Result<(), Infallible> {
        self.families.push(Family {
            name: family.to_owned(),
            metric_type,
            unit: unit.to_owned(),
            help: help.to_owned(),
        });
        Ok(())
    }
}

/// Decodes with a fresh decoder into a [`Collect`].
pub(crate) fn decode(
    protocol: Protocol,
    body: &[u8],
) -> Result<(DecodeStats, Collect), IngestError<Infallible>> {
    let mut collect = Collect::default();
    let stats = Decoder::default().decode(protocol, body, MAX, &mut collect)?;
    Ok((stats, collect))
}

/// The error and its sources joined by ": ", as the server answers them.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Decodes a body that must be refused; returns the collected visitor (which must be empty)
/// and the error text.
pub(crate) fn refuse(protocol: Protocol, body: &[u8]) -> (IngestError<Infallible>, String) {
    let mut collect = Collect::default();
    let error = Decoder::default()
        .decode(protocol, body, MAX, &mut collect)
        .expect_err("the body must be refused");
    assert!(
        collect.series.is_empty(),
        "a refused request reached the visitor"
    );
    assert!(
        collect.families.is_empty(),
        "a refused request reached the visitor"
    );
    let text = chain(&error);
    (error, text)
}

pub(crate) fn label(name: &str, value: &str) -> proto::Label {
    proto::Label {
        name: name.to_owned(),
        value: value.to_owned(),
    }
}

pub(crate) fn sample(timestamp: i64, value: f64) -> proto::Sample {
    proto::Sample { value, timestamp }
}

/// A 1.0 series of `labels` (sent in the given order) with `samples`.
pub(crate) fn series_v1(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> proto::TimeSeries {
    proto::TimeSeries {
        labels: labels.iter().map(|&(n, v)| label(n, v)).collect(),
        samples: samples.iter().map(|&(t, v)| sample(t, v)).collect(),
        ..Default::default()
    }
}

pub(crate) fn request_v1(timeseries: Vec<proto::TimeSeries>) -> proto::WriteRequest {
    proto::WriteRequest {
        timeseries,
        metadata: Vec::new(),
    }
}

/// A 2.0 series of `labels` (sent in the given order) with `samples`, interned in `symbols`.
pub(crate) fn series_v2(
    symbols: &mut v2::SymbolTable,
    labels: &[(&str, &str)],
    samples: &[(i64, f64)],
) -> v2::TimeSeries {
    v2::TimeSeries {
        labels_refs: symbols.label_refs(labels.iter().copied()),
        samples: samples.iter().map(|&(t, v)| sample(t, v)).collect(),
        ..Default::default()
    }
}

pub(crate) fn request_v2(symbols: v2::SymbolTable, timeseries: Vec<v2::TimeSeries>) -> v2::Request {
    v2::Request {
        symbols: symbols.into_symbols(),
        timeseries,
    }
}

/// Snappy-compresses a hand-made protobuf body.
pub(crate) fn snappy(raw: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(raw).unwrap()
}

/// A length-delimited protobuf field: key, length, bytes.
pub(crate) fn len_field(field: u32, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    prost::encoding::encode_key(field, prost::encoding::WireType::LengthDelimited, &mut out);
    prost::encoding::encode_varint(bytes.len() as u64, &mut out);
    out.extend_from_slice(bytes);
    out
}
