//! Owned prost messages of remote_write 1.0 (`prometheus.WriteRequest`) and 2.0
//! (`io.prometheus.write.v2.Request`): the sender side for tests, benches and the load generator.
//!
//! Field numbers follow `prompb/types.proto`, `prompb/remote.proto` and
//! `prompb/io/prometheus/write/v2/types.proto` of prometheus/prometheus (2.0 as of rc.3, with
//! `created_timestamp` on the series). Metric types are the shared enum of both versions:
//! 0 unknown, 1 counter, 2 gauge, 3 histogram, 4 gaugehistogram, 5 summary, 6 info, 7 stateset.

use model::MetricType;

/// The wire code of a metric type (the same in 1.0 `MetricMetadata` and 2.0 `Metadata`).
pub fn metric_type_code(metric_type: MetricType) -> i32 {
    match metric_type {
        MetricType::Unknown => 0,
        MetricType::Counter => 1,
        MetricType::Gauge => 2,
        MetricType::Histogram => 3,
        MetricType::GaugeHistogram => 4,
        MetricType::Summary => 5,
        MetricType::Info => 6,
        MetricType::StateSet => 7,
    }
}

/// The metric type of a wire code; unknown codes read as [`MetricType::Unknown`].
pub fn metric_type_of(code: u64) -> MetricType {
    match code {
        1 => MetricType::Counter,
        2 => MetricType::Gauge,
        3 => MetricType::Histogram,
        4 => MetricType::GaugeHistogram,
        5 => MetricType::Summary,
        6 => MetricType::Info,
        7 => MetricType::StateSet,
        _ => MetricType::Unknown,
    }
}

/// `prometheus.WriteRequest` (field 2 is reserved).
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// Sorted by name, names unique, `__name__` among them.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    #[prost(message, repeated, tag = "3")]
    pub exemplars: Vec<Exemplar>,
    #[prost(message, repeated, tag = "4")]
    pub histograms: Vec<Histogram>,
}

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// A float sample; shared by 1.0 and 2.0, which encode it identically.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Unix milliseconds.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Exemplar {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(double, tag = "2")]
    pub value: f64,
    #[prost(int64, tag = "3")]
    pub timestamp: i64,
}

/// A native histogram; shared by 1.0 and 2.0, which encode it identically.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Histogram {
    #[prost(oneof = "histogram::Count", tags = "1, 2")]
    pub count: Option<histogram::Count>,
    #[prost(double, tag = "3")]
    pub sum: f64,
    #[prost(sint32, tag = "4")]
    pub schema: i32,
    #[prost(double, tag = "5")]
    pub zero_threshold: f64,
    #[prost(oneof = "histogram::ZeroCount", tags = "6, 7")]
    pub zero_count: Option<histogram::ZeroCount>,
    #[prost(message, repeated, tag = "8")]
    pub negative_spans: Vec<BucketSpan>,
    #[prost(sint64, repeated, tag = "9")]
    pub negative_deltas: Vec<i64>,
    #[prost(double, repeated, tag = "10")]
    pub negative_counts: Vec<f64>,
    #[prost(message, repeated, tag = "11")]
    pub positive_spans: Vec<BucketSpan>,
    #[prost(sint64, repeated, tag = "12")]
    pub positive_deltas: Vec<i64>,
    #[prost(double, repeated, tag = "13")]
    pub positive_counts: Vec<f64>,
    /// 0 unknown, 1 yes, 2 no, 3 gauge (a gauge histogram).
    #[prost(int32, tag = "14")]
    pub reset_hint: i32,
    /// Unix milliseconds.
    #[prost(int64, tag = "15")]
    pub timestamp: i64,
    #[prost(double, repeated, tag = "16")]
    pub custom_values: Vec<f64>,
}

/// The oneofs of [`Histogram`].
pub mod histogram {
    /// Count of observations: integer histograms send `Int`, float histograms `Float`.
    #[derive(Clone, Copy, PartialEq, prost::Oneof)]
    pub enum Count {
        #[prost(uint64, tag = "1")]
        Int(u64),
        #[prost(double, tag = "2")]
        Float(f64),
    }

    #[derive(Clone, Copy, PartialEq, prost::Oneof)]
    pub enum ZeroCount {
        #[prost(uint64, tag = "6")]
        Int(u64),
        #[prost(double, tag = "7")]
        Float(f64),
    }

    /// `reset_hint` of a gauge histogram.
    pub const RESET_HINT_GAUGE: i32 = 3;
}

#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct BucketSpan {
    #[prost(sint32, tag = "1")]
    pub offset: i32,
    #[prost(uint32, tag = "2")]
    pub length: u32,
}

/// 1.0 metadata of a metric family (Prometheus sends it in its own requests).
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricMetadata {
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    #[prost(string, tag = "4")]
    pub help: String,
    #[prost(string, tag = "5")]
    pub unit: String,
}

/// Remote-Write 2.0 messages (`io.prometheus.write.v2`); `Sample` and `Histogram` are shared.
pub mod v2 {
    pub use super::{BucketSpan, Histogram, Sample, histogram};

    /// `io.prometheus.write.v2.Request` (fields 1 to 3 are reserved).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Request {
        /// Every string of the request once; `symbols[0]` must be `""`.
        #[prost(string, repeated, tag = "4")]
        pub symbols: Vec<String>,
        #[prost(message, repeated, tag = "5")]
        pub timeseries: Vec<TimeSeries>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TimeSeries {
        /// Name/value pairs of indices into `symbols`, sorted by name (packed).
        #[prost(uint32, repeated, tag = "1")]
        pub labels_refs: Vec<u32>,
        #[prost(message, repeated, tag = "2")]
        pub samples: Vec<Sample>,
        #[prost(message, repeated, tag = "3")]
        pub histograms: Vec<Histogram>,
        #[prost(message, repeated, tag = "4")]
        pub exemplars: Vec<Exemplar>,
        #[prost(message, optional, tag = "5")]
        pub metadata: Option<Metadata>,
        /// Unix milliseconds when the counter started, 0 when unknown.
        #[prost(int64, tag = "6")]
        pub created_timestamp: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Exemplar {
        #[prost(uint32, repeated, tag = "1")]
        pub labels_refs: Vec<u32>,
        #[prost(double, tag = "2")]
        pub value: f64,
        #[prost(int64, tag = "3")]
        pub timestamp: i64,
    }

    #[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
    pub struct Metadata {
        #[prost(int32, tag = "1")]
        pub r#type: i32,
        #[prost(uint32, tag = "3")]
        pub help_ref: u32,
        #[prost(uint32, tag = "4")]
        pub unit_ref: u32,
    }

    /// Builds a symbols table (starting with `""`) while series are added.
    #[derive(Debug, Clone)]
    pub struct SymbolTable {
        symbols: Vec<String>,
        index: std::collections::HashMap<String, u32>,
    }

    impl Default for SymbolTable {
        fn default() -> Self {
            let mut table = Self {
                symbols: Vec::new(),
                index: std::collections::HashMap::new(),
            };
            table.add("");
            table
        }
    }

    impl SymbolTable {
        /// The index of `symbol`, adding it on first use.
        pub fn add(&mut self, symbol: &str) -> u32 {
            if let Some(&index) = self.index.get(symbol) {
                return index;
            }
            let index = self.symbols.len() as u32;
            self.symbols.push(symbol.to_owned());
            self.index.insert(symbol.to_owned(), index);
            index
        }

        /// `labels_refs` for name/value pairs (which the caller keeps sorted by name).
        pub fn label_refs<'a>(
            &mut self,
            labels: impl IntoIterator<Item = (&'a str, &'a str)>,
        ) -> Vec<u32> {
            labels
                .into_iter()
                .flat_map(|(name, value)| [self.add(name), self.add(value)])
                .collect()
        }

        pub fn into_symbols(self) -> Vec<String> {
            self.symbols
        }
    }
}
