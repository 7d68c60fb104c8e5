//! Samples and the borrowed hand-off from a decoder to a store.
//! Decoders call a [`SeriesVisitor`] with [`SeriesRef`]s that borrow from the request buffer,
//! so the hot path allocates nothing per series until the store interns a new one.

use serde::{Deserialize, Serialize};

/// One float sample at a Unix-millisecond timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub timestamp_ms: i64,
    pub value: f64,
}

/// The metric types Prometheus metadata can declare.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricType {
    #[default]
    Unknown,
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
}

impl MetricType {
    /// Whether `rate`/`increase` apply (monotonic with resets).
    pub fn is_counter(self) -> bool {
        matches!(self, MetricType::Counter)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Unknown => "unknown",
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
        }
    }
}

/// Type, unit and help of a metric family, as remote_write metadata carries them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricMetadata {
    pub metric_type: MetricType,
    pub unit: String,
    pub help: String,
}

/// One decoded series, borrowed from the request being decoded.
///
/// `labels` are validated and sorted by name. `metadata` is what the request said about this
/// series (remote_write 2.0 carries it per series, 1.0 per metric family).
#[derive(Debug, Clone, Copy)]
pub struct SeriesRef<'a> {
    pub labels: &'a [(&'a str, &'a str)],
    pub samples: &'a [Sample],
    pub metric_type: MetricType,
    pub unit: &'a str,
    pub help: &'a str,
    /// Remote-write 2.0 created timestamp (ms), 0 when unknown.
    pub created_timestamp_ms: i64,
}

/// Receives decoded series one at a time. An error stops the decode and is returned by it.
pub trait SeriesVisitor {
    type Error;

    fn series(&mut self, series: SeriesRef<'_>) -> Result<(), Self::Error>;

    /// Metadata for a metric family, as remote_write 1.0 sends it apart from the series
    /// (Prometheus sends it in its own requests, about once a minute).
    fn metadata(
        &mut self,
        _family: &str,
        _metric_type: MetricType,
        _unit: &str,
        _help: &str,
    ) -> Result<(), Self::Error> {
        Ok(())
    }
}
